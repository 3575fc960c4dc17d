"""Small synthetic sequence-tagging tasks, generated in code from a seed (no downloads).

Every task returns a :class:`SequenceTask` with ``N`` sequences of ``T`` tokens from a
vocabulary of ``V`` symbols. The label at step t is what a tagger should predict there;
steps with no label hold ``-100`` (``nn.CrossEntropyLoss``'s default ``ignore_index``).
Randomness comes from a local ``torch.Generator`` seeded with ``seed``: the global RNG is
neither used nor changed.

- :func:`shifted_copy`: label = the token ``shift`` steps away. ``shift > 0`` asks for a
  *future* token, which a forward-only RNN cannot know; ``shift <= 0`` only needs the past.
- :func:`local_peak`: label = 1 if the token is larger than all its neighbours within
  ``radius`` steps on *both* sides. A forward RNN sees only the left half of the window and
  must guess the right half; a bidirectional one sees both.
- :func:`next_symbol`: label = the next non-blank token after t. How far ahead it lies
  varies from step to step and has no bound: a model that reads a fixed ``d`` steps ahead
  misses it sometimes, a bidirectional one never.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from birnn_utils.validation import (
    MAX_ELEMENTS,
    check_elements,
    check_float,
    check_int,
    check_seed,
    describe,
)

__all__ = ["IGNORE_INDEX", "SequenceTask", "shifted_copy", "local_peak", "next_symbol",
           "random_lengths"]

IGNORE_INDEX = -100
# MAX_ELEMENTS (from birnn_utils.validation, the one cap on sizes) bounds the one-hot x
# (``n * seq_len * vocab`` entries, 400 MB of float32): a typo such as ``n=10**9`` is an
# error, not an attempt to allocate terabytes.


class _SequenceTaskFields(NamedTuple):
    x: Tensor
    y: Tensor
    tokens: Tensor


class SequenceTask(_SequenceTaskFields):
    """A batch of tagged sequences.

    ``x``: (N, T, V) float32 one-hot of ``tokens``; ``y``: (N, T) int64 labels, ``-100``
    where there is none; ``tokens``: (N, T) int64 in ``[0, V)``. Building one checks that
    the three are tensors of matching shapes (N, T).
    """

    __slots__ = ()

    def __new__(cls, x: Tensor, y: Tensor, tokens: Tensor) -> "SequenceTask":
        for name, value in (("x", x), ("y", y), ("tokens", tokens)):
            if not isinstance(value, Tensor):
                raise TypeError(f"SequenceTask: {name} must be a Tensor, got {describe(value)}")
        if x.dim() != 3 or y.dim() != 2 or tuple(x.shape[:2]) != tuple(y.shape) \
                or tuple(tokens.shape) != tuple(y.shape):
            raise ValueError(
                f"SequenceTask: expected x (N, T, V), y (N, T) and tokens (N, T), got x "
                f"{tuple(x.shape)}, y {tuple(y.shape)} and tokens {tuple(tokens.shape)}"
            )
        return super().__new__(cls, x, y, tokens)


def _check_sizes(n: object, seq_len: object, vocab: object, seed: object) -> None:
    n, seq_len = check_int("n", n, minimum=1), check_int("seq_len", seq_len, minimum=1)
    vocab = check_int("vocab", vocab, minimum=2)
    check_seed("seed", seed)
    check_elements("the one-hot x", n * seq_len * vocab,
                   f"n * seq_len * vocab with n={n}, seq_len={seq_len}, vocab={vocab}")


def _random_tokens(n: int, seq_len: int, vocab: int, seed: int) -> Tensor:
    """(N, T) int64 tokens, uniform in ``[0, vocab)``, from a local generator."""
    _check_sizes(n, seq_len, vocab, seed)
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(vocab, (n, seq_len), generator=generator)


def _task(tokens: Tensor, y: Tensor, vocab: int) -> SequenceTask:
    return SequenceTask(F.one_hot(tokens, vocab).float(), y, tokens)


def shifted_copy(n: int, seq_len: int, vocab: int, shift: int, seed: int = 0) -> SequenceTask:
    """Copy the token ``shift`` steps away: ``y[:, t] = tokens[:, t + shift]``.

    Steps whose source ``t + shift`` falls outside ``[0, T)`` are unlabelled (-100).
    ``V = vocab`` classes. Needs ``|shift| < seq_len`` so that some step has a label.
    """
    _check_sizes(n, seq_len, vocab, seed)
    check_int("shift", shift)
    if abs(shift) >= seq_len:
        raise ValueError(f"|shift| must be < seq_len={seq_len}, got shift={shift}")
    tokens = _random_tokens(n, seq_len, vocab, seed)
    y = torch.full_like(tokens, IGNORE_INDEX)  # (N, T)
    if shift >= 0:
        y[:, : seq_len - shift] = tokens[:, shift:]
    else:
        y[:, -shift:] = tokens[:, : seq_len + shift]
    return _task(tokens, y, vocab)


def local_peak(n: int, seq_len: int, vocab: int = 8, seed: int = 0,
               radius: int = 1) -> SequenceTask:
    """Is the token a strict local maximum? Two classes (0 = no, 1 = yes).

    ``y[:, t] = 1`` if ``tokens[:, t]`` is larger than every token at distance 1..``radius``
    on both sides, else 0; the first and last ``radius`` steps (incomplete windows) are
    unlabelled (-100). Needs ``seq_len >= 2 * radius + 1``.
    """
    check_int("radius", radius, minimum=1)
    _check_sizes(n, seq_len, vocab, seed)
    width = 2 * radius + 1
    if seq_len < width:
        raise ValueError(
            f"seq_len must be >= 2 * radius + 1 = {width} for radius={radius}, got {seq_len}"
        )
    tokens = _random_tokens(n, seq_len, vocab, seed)
    windows = tokens.unfold(1, width, 1)  # (N, T - 2r, 2r + 1), centred on t = r..T-r-1
    centre = windows[..., radius]  # (N, T - 2r)
    neighbours = torch.cat([windows[..., :radius], windows[..., radius + 1 :]], dim=-1)
    y = torch.full_like(tokens, IGNORE_INDEX)  # (N, T)
    y[:, radius : seq_len - radius] = (centre > neighbours.max(dim=-1).values).long()
    return _task(tokens, y, vocab)


def next_symbol(n: int, seq_len: int, symbols: int = 4, blank_prob: float = 0.7,
                seed: int = 0) -> SequenceTask:
    """The next symbol to come: ``y[:, t]`` is the first non-blank token strictly after t.

    Each token is, independently, the blank (token ``symbols``) with probability
    ``blank_prob``, else one of the ``K = symbols`` symbols ``0, ..., K - 1`` uniformly; so
    ``x`` has ``V = K + 1`` one-hot features and there are ``C = K`` classes.
    ``y[:, t] = tokens[:, s]`` for the smallest ``s > t`` with ``tokens[:, s] != K``; a
    step with no symbol after it (always the last one) is unlabelled (-100). The distance
    ``s - t`` is geometric: larger than ``d`` with probability ``blank_prob ** d`` (before
    the end of the sequence cuts it off), so the look-ahead a step needs varies from step to
    step, without bound. Needs ``seq_len >= 2`` and ``0 <= blank_prob < 1``.
    """
    n = check_int("n", n, minimum=1)
    seq_len = check_int("seq_len", seq_len, minimum=2)
    symbols = check_int("symbols", symbols, minimum=2)
    blank_prob = check_float("blank_prob", blank_prob, minimum=0.0, maximum=1.0,
                             max_inclusive=False)
    check_seed("seed", seed)
    if n * seq_len * (symbols + 1) > MAX_ELEMENTS:
        raise ValueError(
            f"n * seq_len * (symbols + 1) must be <= {MAX_ELEMENTS:.0e} (the one-hot x), got "
            f"n={n}, seq_len={seq_len}, symbols={symbols}: "
            f"{n * seq_len * (symbols + 1):.3g} entries"
        )
    generator = torch.Generator().manual_seed(seed)
    blank = torch.rand(n, seq_len, generator=generator, dtype=torch.float64) < blank_prob
    drawn = torch.randint(symbols, (n, seq_len), generator=generator)  # (N, T)
    tokens = torch.where(blank, symbols, drawn)  # (N, T), the blank is token K
    y = torch.full_like(tokens, IGNORE_INDEX)  # (N, T)
    upcoming = torch.full((n,), IGNORE_INDEX)  # (N,) the next symbol after step t
    for t in range(seq_len - 1, -1, -1):
        y[:, t] = upcoming
        upcoming = torch.where(blank[:, t], upcoming, tokens[:, t])
    return _task(tokens, y, symbols + 1)


def random_lengths(n: int, min_len: int, max_len: int, seed: int = 0) -> Tensor:
    """(N,) int64 sequence lengths, uniform in ``[min_len, max_len]`` (both included)."""
    check_int("n", n, minimum=1, maximum=MAX_ELEMENTS)
    check_int("min_len", min_len, minimum=1)
    check_int("max_len", max_len, minimum=1)
    check_seed("seed", seed)
    if min_len > max_len:
        raise ValueError(f"min_len must be <= max_len, got min_len={min_len} > max_len={max_len}")
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(min_len, max_len + 1, (n,), generator=generator)
