"""Tests of birnn_utils.expect: the error/warning display used by the "Readers ask" part."""

import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from birnn_utils.expect import expect_error, expect_warning, first_lines


def test_expect_error_prints_the_first_line_and_swallows_the_error(capsys):
    with expect_error(ValueError, match="second"):
        raise ValueError("first line\nsecond line")
    assert capsys.readouterr().out == "ValueError: first line\n"


def test_expect_error_catches_subclasses_and_prints_their_name(capsys):
    with expect_error(LookupError, lines=2):
        raise KeyError("k")
    assert capsys.readouterr().out == "KeyError: 'k'\n"


def test_expect_error_fails_when_nothing_or_the_wrong_message_is_raised():
    with pytest.raises(AssertionError, match="nothing was raised"):
        with expect_error(ValueError):
            pass
    with pytest.raises(AssertionError, match="does not match"):
        with expect_error(ValueError, match="absent"):
            raise ValueError("present")
    with pytest.raises(TypeError):  # another kind passes through untouched
        with expect_error(ValueError):
            raise TypeError("other")


def test_expect_warning_prints_and_keeps_stderr_clean(capsys):
    with expect_warning(UserWarning, match="careful"):
        warnings.warn("be careful\nmore", UserWarning, stacklevel=1)
        warnings.warn("unrelated", DeprecationWarning, stacklevel=1)
    out = capsys.readouterr()
    assert out.out == "UserWarning: be careful\n" and out.err == ""
    with pytest.raises(AssertionError, match="expected a UserWarning"):
        with expect_warning(UserWarning):
            warnings.warn("x", DeprecationWarning, stacklevel=1)


@given(st.lists(st.text(alphabet="ab \n", max_size=6), max_size=5), st.integers(1, 4))
def test_first_lines_keeps_at_most_n_non_empty_lines(parts, n):
    text = "\n".join(parts)
    kept = first_lines(text, n).splitlines()
    expected = [p.rstrip() for p in text.splitlines() if p.strip()][:n]
    assert kept == expected


def test_first_lines_removes_colour_codes():
    assert first_lines("\x1b[1mbold\x1b[0m text") == "bold text"


@given(st.one_of(st.none(), st.integers(), st.just("ValueError"), st.just(int)))
def test_bad_arguments_raise_type_errors(bad):
    with pytest.raises(TypeError, match="kind"):
        with expect_error(bad):
            pass
    with pytest.raises(TypeError, match="kind"):
        with expect_warning(bad):
            pass
    with pytest.raises(TypeError, match="match"):
        with expect_error(ValueError, match=1 if bad is None or isinstance(bad, str) else bad):
            pass
    with pytest.raises(TypeError, match="text"):
        first_lines(1 if isinstance(bad, str) else bad)
    with pytest.raises((TypeError, ValueError), match="lines"):
        first_lines("x", lines=0 if isinstance(bad, int) else bad)
