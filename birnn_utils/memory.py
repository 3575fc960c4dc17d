"""What autograd keeps for the backward pass: the tensors it saves, counted in bytes.

Every operation that autograd records saves the tensors its backward formula needs (a
linear layer saves its input to compute the weight gradient, ``tanh`` saves its output).
They stay in memory until ``backward()`` runs or the graph is dropped. :class:`SavedTensors`
records them with :func:`torch.autograd.graph.saved_tensors_hooks`::

    with SavedTensors(exclude=model.parameters()) as saved:
        loss = model(x).sum()
    saved.nbytes       # bytes of the distinct storages saved in the block, parameters excluded
    saved.live_nbytes  # of those, the bytes a graph still holds now (0 after backward())
    saved.count        # how many times a tensor was saved (the same one may be saved twice)

The counts are deterministic: they depend on the operations and the shapes, not on timing.
Parameters are usually excluded because they are in memory anyway; what freezing and
``no_grad`` can save is the rest, the activations.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import torch
from torch import Tensor

from birnn_utils.validation import describe

__all__ = ["SavedRecord", "SavedTensors"]


class SavedRecord(NamedTuple):
    """One tensor saved for backward: its shape, dtype, storage bytes, and whether excluded."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    storage_nbytes: int
    excluded: bool


def _storage_key(t: Tensor) -> tuple[int, int]:
    storage = t.untyped_storage()
    return storage.data_ptr(), storage.nbytes()


class _Held:
    """What autograd stores instead of a saved tensor: the tensor, and a note to the meter
    when autograd drops it (after ``backward()``, or when the graph is garbage)."""

    __slots__ = ("tensor", "key", "meter")

    def __init__(self, tensor: Tensor, key: tuple[int, int], meter: SavedTensors):
        self.tensor, self.key, self.meter = tensor, key, meter

    def __del__(self) -> None:
        self.meter._release(self.key)


class SavedTensors:
    """Context manager recording every tensor autograd saves for backward inside the block.

    ``exclude``: tensors (e.g. ``model.parameters()``) whose storage is not counted in the
    byte totals; they are still listed in :attr:`records`, marked ``excluded``. The saved
    tensors are handed back unchanged, so results and gradients are exactly what they
    would be without the meter. Inside ``torch.no_grad()`` nothing is saved.

    - :attr:`nbytes`: bytes of the distinct storages saved in the block;
    - :attr:`live_nbytes`: bytes of those still held by a graph *now*: a graph that nothing
      references any more is freed at once, and ``backward()`` frees what it used.
    """

    def __init__(self, exclude: Iterable[Tensor] = ()):
        if isinstance(exclude, Tensor | str | bytes) or not isinstance(exclude, Iterable):
            raise TypeError(
                "exclude must be an iterable of tensors (e.g. model.parameters()), got "
                f"{describe(exclude)}"
            )
        exclude = list(exclude)
        bad = [describe(t) for t in exclude if not isinstance(t, Tensor)]
        if bad:
            raise TypeError(f"exclude must contain only tensors, got {', '.join(bad)}")
        self._excluded = {_storage_key(t) for t in exclude}
        self.records: list[SavedRecord] = []
        self._live: dict[tuple[int, int], int] = {}  # storage -> saved copies still held
        self._nbytes = self._excluded_nbytes = 0
        self._hooks = None

    def _pack(self, t: Tensor) -> _Held:
        key = _storage_key(t)
        excluded = key in self._excluded
        self.records.append(SavedRecord(tuple(t.shape), t.dtype, key[1], excluded))
        if not self._live.get(key):  # a storage not held yet: new bytes
            if excluded:
                self._excluded_nbytes += key[1]
            else:
                self._nbytes += key[1]
        self._live[key] = self._live.get(key, 0) + 1
        # Hold a detached alias (same storage): holding ``t`` itself would tie a saved
        # output to its own grad_fn in a cycle that is never freed.
        return _Held(t.detach(), key, self)

    @staticmethod
    def _unpack(held: _Held) -> Tensor:
        return held.tensor

    def _release(self, key: tuple[int, int]) -> None:
        self._live[key] -= 1

    def __enter__(self) -> SavedTensors:
        if self._hooks is not None:
            raise RuntimeError("this SavedTensors is already active; use a new one")
        if self.records:
            raise RuntimeError("this SavedTensors was used already; use a new one")
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        hooks, self._hooks = self._hooks, None
        hooks.__exit__(*exc_info)

    @property
    def count(self) -> int:
        """How many tensors were saved, counting a tensor saved twice twice."""
        return len(self.records)

    @property
    def nbytes(self) -> int:
        """Bytes of the distinct storages saved in the block, not counting excluded ones.

        A storage saved again after every graph holding it was freed counts again."""
        return self._nbytes

    @property
    def excluded_nbytes(self) -> int:
        """Bytes of the distinct excluded storages that were saved (e.g. parameters)."""
        return self._excluded_nbytes

    @property
    def live_nbytes(self) -> int:
        """Bytes of the saved, not excluded storages that a graph still holds now."""
        return sum(key[1] for key, n in self._live.items() if n and key not in self._excluded)

    def __repr__(self) -> str:
        return (f"SavedTensors(count={self.count}, nbytes={self.nbytes:,}, "
                f"live_nbytes={self.live_nbytes:,}, excluded_nbytes={self.excluded_nbytes:,})")
