"""Show an error or a warning a reader will meet, and check that it really happens.

Used by the "Readers ask" appendix: each entry runs the failing call inside
``expect_error`` (or ``expect_warning``), which prints the message's stable first line(s)
and fails loudly if nothing was raised. That keeps the stored outputs deterministic (no
tracebacks, no addresses, no terminal colour codes) and every shown error asserted::

    with expect_error(RuntimeError, match="sorted in decreasing order"):
        pack_padded_sequence(x, [2, 5])
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from birnn_utils.validation import check_int, describe

__all__ = ["expect_error", "expect_warning", "first_lines"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def first_lines(text: str, lines: int = 1) -> str:
    """The first ``lines`` non-empty lines of ``text``, without terminal colour codes."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {describe(text)}")
    check_int("lines", lines, minimum=1)
    kept = [line.rstrip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    return "\n".join(kept[:lines])


def _check_kind(kind: object, base: type) -> None:
    if not (isinstance(kind, type) and issubclass(kind, base)):
        raise TypeError(f"kind must be a subclass of {base.__name__}, got {describe(kind)}")


def _check_match(match: object) -> None:
    if match is not None and not isinstance(match, str):
        raise TypeError(f"match must be a str (a regular expression) or None, "
                        f"got {describe(match)}")
    if match is not None:
        try:
            re.compile(match)
        except re.error as error:
            raise ValueError(f"match must be a valid regular expression, got {match!r}: "
                             f"{error}") from None


@contextmanager
def expect_error(kind: type, match: str | None = None, lines: int = 1) -> Iterator[None]:
    """The block must raise ``kind``; print ``"Name: first line of the message"``.

    ``match`` (a regular expression) must be found in the full message. Raises
    ``AssertionError`` if nothing, or something else, was raised.
    """
    _check_kind(kind, BaseException)
    _check_match(match)
    check_int("lines", lines, minimum=1)
    try:
        yield
    except kind as err:
        text = str(err)
        if match is not None and not re.search(match, _ANSI.sub("", text)):
            raise AssertionError(f"{type(err).__name__} raised, but its message does not "
                                 f"match {match!r}: {first_lines(text)}") from err
        print(f"{type(err).__name__}: {first_lines(text, lines)}")
    else:
        raise AssertionError(f"expected a {kind.__name__}, but nothing was raised")


@contextmanager
def expect_warning(kind: type, match: str | None = None) -> Iterator[None]:
    """The block must warn with ``kind``; print ``"Name: message"``; nothing reaches stderr."""
    _check_kind(kind, Warning)
    _check_match(match)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    hits = [w for w in caught if issubclass(w.category, kind)
            and (match is None or re.search(match, str(w.message)))]
    if not hits:
        seen = [f"{w.category.__name__}: {w.message}" for w in caught]
        raise AssertionError(f"expected a {kind.__name__} matching {match!r}, got {seen}")
    for w in hits:
        print(f"{w.category.__name__}: {first_lines(str(w.message))}")
