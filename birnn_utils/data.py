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
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["IGNORE_INDEX", "SequenceTask", "shifted_copy", "local_peak", "random_lengths"]

IGNORE_INDEX = -100


class SequenceTask(NamedTuple):
    """A batch of tagged sequences.

    ``x``: (N, T, V) float32 one-hot of ``tokens``; ``y``: (N, T) int64 labels, ``-100``
    where there is none; ``tokens``: (N, T) int64 in ``[0, V)``.
    """

    x: Tensor
    y: Tensor
    tokens: Tensor


def _check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _random_tokens(n: int, seq_len: int, vocab: int, seed: int) -> Tensor:
    """(N, T) int64 tokens, uniform in ``[0, vocab)``, from a local generator."""
    _check_int("n", n, 1)
    _check_int("seq_len", seq_len, 1)
    _check_int("vocab", vocab, 2)
    _check_int("seed", seed, 0)
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(vocab, (n, seq_len), generator=generator)


def _task(tokens: Tensor, y: Tensor, vocab: int) -> SequenceTask:
    return SequenceTask(F.one_hot(tokens, vocab).float(), y, tokens)


def shifted_copy(n: int, seq_len: int, vocab: int, shift: int, seed: int = 0) -> SequenceTask:
    """Copy the token ``shift`` steps away: ``y[:, t] = tokens[:, t + shift]``.

    Steps whose source ``t + shift`` falls outside ``[0, T)`` are unlabelled (-100).
    ``V = vocab`` classes. Needs ``|shift| < seq_len`` so that some step has a label.
    """
    tokens = _random_tokens(n, seq_len, vocab, seed)
    if not isinstance(shift, int) or isinstance(shift, bool):
        raise TypeError(f"shift must be an int, got {type(shift).__name__}")
    if abs(shift) >= seq_len:
        raise ValueError(f"|shift| must be < seq_len={seq_len}, got shift={shift}")
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
    _check_int("radius", radius, 1)
    tokens = _random_tokens(n, seq_len, vocab, seed)
    width = 2 * radius + 1
    if seq_len < width:
        raise ValueError(
            f"seq_len must be >= 2 * radius + 1 = {width} for radius={radius}, got {seq_len}"
        )
    windows = tokens.unfold(1, width, 1)  # (N, T - 2r, 2r + 1), centred on t = r..T-r-1
    centre = windows[..., radius]  # (N, T - 2r)
    neighbours = torch.cat([windows[..., :radius], windows[..., radius + 1 :]], dim=-1)
    y = torch.full_like(tokens, IGNORE_INDEX)  # (N, T)
    y[:, radius : seq_len - radius] = (centre > neighbours.max(dim=-1).values).long()
    return _task(tokens, y, vocab)


def random_lengths(n: int, min_len: int, max_len: int, seed: int = 0) -> Tensor:
    """(N,) int64 sequence lengths, uniform in ``[min_len, max_len]`` (both included)."""
    _check_int("n", n, 1)
    _check_int("min_len", min_len, 1)
    _check_int("max_len", max_len, 1)
    _check_int("seed", seed, 0)
    if min_len > max_len:
        raise ValueError(f"min_len must be <= max_len, got min_len={min_len} > max_len={max_len}")
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(min_len, max_len + 1, (n,), generator=generator)
