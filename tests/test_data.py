"""Synthetic tasks: labels against plain-Python references, shapes, seeding, rates, bad inputs."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from birnn_utils.data import (
    IGNORE_INDEX,
    SequenceTask,
    local_peak,
    next_symbol,
    random_lengths,
    shifted_copy,
)


def check_encoding(task, n, seq_len, vocab):
    """x is the float32 one-hot of tokens; shapes and dtypes are as documented."""
    assert isinstance(task, SequenceTask)
    assert task.x.shape == (n, seq_len, vocab) and task.x.dtype == torch.float32
    assert task.y.shape == task.tokens.shape == (n, seq_len)
    assert task.y.dtype == task.tokens.dtype == torch.int64
    assert 0 <= task.tokens.min() and task.tokens.max() < vocab
    assert torch.equal(task.x.sum(-1), torch.ones(n, seq_len))
    assert torch.equal(task.x.argmax(-1), task.tokens)


@given(n=st.integers(1, 4), seq_len=st.integers(1, 9), vocab=st.integers(2, 6),
       data=st.data(), seed=st.integers(0, 1000))
def test_shifted_copy_labels_are_the_shifted_tokens(n, seq_len, vocab, data, seed):
    shift = data.draw(st.integers(-(seq_len - 1), seq_len - 1), label="shift")
    task = shifted_copy(n, seq_len, vocab, shift, seed)
    check_encoding(task, n, seq_len, vocab)
    tokens = task.tokens.tolist()
    for i in range(n):
        for t in range(seq_len):
            source = t + shift
            expected = tokens[i][source] if 0 <= source < seq_len else IGNORE_INDEX
            assert task.y[i, t].item() == expected


@given(n=st.integers(1, 4), seq_len=st.integers(3, 10), vocab=st.integers(2, 6),
       radius=st.integers(1, 3), seed=st.integers(0, 1000))
def test_local_peak_labels_match_a_loop(n, seq_len, vocab, radius, seed):
    if seq_len < 2 * radius + 1:
        radius = 1
    task = local_peak(n, seq_len, vocab, seed, radius=radius)
    check_encoding(task, n, seq_len, vocab)
    tokens = task.tokens.tolist()
    for i in range(n):
        for t in range(seq_len):
            if t < radius or t >= seq_len - radius:
                expected = IGNORE_INDEX
            else:
                others = tokens[i][t - radius : t] + tokens[i][t + 1 : t + radius + 1]
                expected = int(all(tokens[i][t] > other for other in others))
            assert task.y[i, t].item() == expected


@given(n=st.integers(1, 4), seq_len=st.integers(2, 12), symbols=st.integers(2, 5),
       blank_prob=st.floats(0.0, 0.95), seed=st.integers(0, 1000))
def test_next_symbol_labels_are_the_next_non_blank_token(n, seq_len, symbols, blank_prob,
                                                         seed):
    task = next_symbol(n, seq_len, symbols, blank_prob, seed)
    check_encoding(task, n, seq_len, symbols + 1)
    tokens = task.tokens.tolist()
    for i in range(n):
        for t in range(seq_len):
            later = [token for token in tokens[i][t + 1 :] if token != symbols]
            expected = later[0] if later else IGNORE_INDEX
            assert task.y[i, t].item() == expected


def test_next_symbol_draws_blanks_and_symbols_at_the_stated_rates():
    state = torch.get_rng_state()
    task = next_symbol(4000, 25, symbols=4, blank_prob=0.7, seed=0)
    counts = torch.bincount(task.tokens.flatten(), minlength=5).double() / task.tokens.numel()
    assert abs(counts[4].item() - 0.7) < 0.005  # 100 000 tokens: sd about 0.0015
    assert torch.allclose(counts[:4], torch.full((4,), 0.3 / 4, dtype=torch.float64),
                          atol=0.003)
    # A step with L steps after it is labelled with probability 1 - 0.7^L.
    labelled = (task.y != IGNORE_INDEX).double().mean(0)  # (T,)
    expected = 1 - 0.7 ** torch.arange(24, -1, -1, dtype=torch.float64)
    assert torch.allclose(labelled, expected, atol=0.03)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG was not used
    no_blanks = next_symbol(3, 6, symbols=3, blank_prob=0.0, seed=1)
    assert torch.equal(no_blanks.y[:, :-1], no_blanks.tokens[:, 1:])  # a shifted copy
    again = next_symbol(4000, 25, symbols=4, blank_prob=0.7, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(task, again, strict=True))


def test_tasks_are_seeded_locally():
    state = torch.get_rng_state()
    first, again = local_peak(64, 12, seed=3), local_peak(64, 12, seed=3)
    other = local_peak(64, 12, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first.tokens, other.tokens)
    assert torch.equal(shifted_copy(8, 5, 3, 1, 2).tokens, shifted_copy(8, 5, 3, -1, 2).tokens)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG was not used


def test_local_peak_rate_matches_the_formula():
    # P(peak) = sum_v (v/V)^2 / V for radius 1, which grows with V.
    small, large = local_peak(2000, 12, vocab=3, seed=0), local_peak(2000, 12, vocab=16, seed=0)
    for task, vocab in ((small, 3), (large, 16)):
        labelled = task.y[task.y != IGNORE_INDEX].double()
        expected = sum((v / vocab) ** 2 for v in range(vocab)) / vocab
        assert abs(labelled.mean().item() - expected) < 0.02


def test_random_lengths_cover_min_to_max_and_use_a_local_seed():
    state = torch.get_rng_state()
    lengths = random_lengths(500, 3, 7, seed=1)
    assert lengths.shape == (500,) and lengths.dtype == torch.int64
    assert set(lengths.tolist()) == {3, 4, 5, 6, 7}
    assert torch.equal(lengths, random_lengths(500, 3, 7, seed=1))
    assert torch.equal(random_lengths(4, 5, 5), torch.full((4,), 5))
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: shifted_copy(0, 5, 3, 1), ValueError, "n must be an int >= 1, got 0"),
        (lambda: shifted_copy(2, 0, 3, 0), ValueError, "seq_len must be an int >= 1, got 0"),
        (lambda: shifted_copy(2, 5, 1, 1), ValueError, "vocab must be an int >= 2, got 1"),
        (lambda: shifted_copy(2, 5, 3, 5), ValueError, "seq_len=5, got shift=5"),
        (lambda: shifted_copy(2, 5, 3, -5), ValueError, "seq_len=5, got shift=-5"),
        (lambda: shifted_copy(2, 5, 3, 1.0), TypeError, "shift must be an int, got float"),
        (lambda: shifted_copy(True, 5, 3, 1), TypeError, "n must be an int, got bool"),
        (lambda: shifted_copy(2, 5, 3, 1, seed=-1), ValueError,
         r"seed must be an int in \[0, 2\*\*32 - 1\]"),
        (lambda: local_peak(2, 4, radius=2), ValueError, r"seq_len must be >= 2 \* radius .* = 5"),
        (lambda: local_peak(2, 4, radius=0), ValueError, "radius must be an int >= 1, got 0"),
        (lambda: next_symbol(2, 1), ValueError, "seq_len must be an int >= 2, got 1"),
        (lambda: next_symbol(2, 5, symbols=1), ValueError, "symbols must be an int >= 2, got 1"),
        (lambda: next_symbol(2, 5, blank_prob=1.0), ValueError,
         "blank_prob must be a finite number >= 0.0 and < 1.0, got 1.0"),
        (lambda: next_symbol(2, 5, blank_prob="0.7"), TypeError,
         "blank_prob must be a real number, got str"),
        (lambda: next_symbol(10**6, 10**3, symbols=99), ValueError,
         r"n \* seq_len \* \(symbols \+ 1\) must be <= 1e\+08"),
        (lambda: next_symbol(2, 5, seed=-1), ValueError, "seed must be an int in"),
        (lambda: random_lengths(3, 6, 5), ValueError, "min_len=6 > max_len=5"),
        (lambda: random_lengths(3, 0, 5), ValueError, "min_len must be an int >= 1, got 0"),
        (lambda: random_lengths(3, 2, 5.0), TypeError, "max_len must be an int, got float"),
        (lambda: shifted_copy(2, 5, 3, 1, seed=2**32), ValueError, "seed must be an int in"),
        (lambda: shifted_copy(2, 5, 3, True), TypeError, "shift must be an int, got bool"),
        (lambda: shifted_copy(10**6, 10**3, 3, 1), ValueError,
         r"the one-hot x would hold 3e\+09 entries \(n \* seq_len \* vocab with n=1000000, "
         r"seq_len=1000, vocab=3\), above the cap of 1e\+08"),
        (lambda: local_peak(2, 5, radius="1"), TypeError, "radius must be an int, got str"),
        (lambda: random_lengths(3, 2, 5, seed=-1), ValueError, "seed must be an int in"),
        (lambda: SequenceTask([1], torch.zeros(1, 2), torch.zeros(1, 2)), TypeError,
         "SequenceTask: x must be a Tensor, got list"),
        (lambda: SequenceTask(torch.zeros(1, 2, 3), torch.zeros(1, 2), torch.zeros(2, 2)),
         ValueError, r"tokens \(2, 2\)"),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()
