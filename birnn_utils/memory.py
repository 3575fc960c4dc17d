"""What autograd keeps for the backward pass: the tensors it saves, counted in bytes.

Every operation that autograd records saves the tensors its backward formula needs (a
linear layer saves its input to compute the weight gradient, ``tanh`` saves its output).
They stay in memory until ``backward()`` runs or the graph is dropped. :class:`SavedTensors`
records them with :func:`torch.autograd.graph.saved_tensors_hooks`::

    with SavedTensors(exclude=model.parameters()) as saved:
        loss = model(x).sum()
    saved.nbytes   # bytes of the distinct storages saved in the block, parameters excluded
    saved.count    # how many times a tensor was saved (the same tensor may be saved twice)

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


class SavedTensors:
    """Context manager recording every tensor autograd saves for backward inside the block.

    ``exclude``: tensors (e.g. ``model.parameters()``) whose storage is not counted in
    :attr:`nbytes`; they are still listed in :attr:`records`, marked ``excluded``. The
    saved tensors are passed through unchanged, so results and gradients are exactly what
    they would be without the meter. Inside ``torch.no_grad()`` nothing is saved.
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
        self._storages: dict[tuple[int, int], bool] = {}  # key -> excluded
        self._alive: list[Tensor] = []  # keeps storages alive, so addresses stay unique
        self._hooks = None

    def _pack(self, t: Tensor) -> Tensor:
        key = _storage_key(t)
        excluded = key in self._excluded
        self.records.append(SavedRecord(tuple(t.shape), t.dtype, key[1], excluded))
        self._storages.setdefault(key, excluded)
        self._alive.append(t)
        return t

    @staticmethod
    def _unpack(t: Tensor) -> Tensor:
        return t

    def __enter__(self) -> SavedTensors:
        if self._hooks is not None:
            raise RuntimeError("this SavedTensors is already active; use a new one")
        self.records, self._storages, self._alive = [], {}, []
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        hooks, self._hooks = self._hooks, None
        self._alive = []
        hooks.__exit__(*exc_info)

    @property
    def count(self) -> int:
        """How many tensors were saved, counting a tensor saved twice twice."""
        return len(self.records)

    @property
    def nbytes(self) -> int:
        """Bytes of the distinct storages saved, not counting the excluded ones."""
        return sum(key[1] for key, excluded in self._storages.items() if not excluded)

    @property
    def excluded_nbytes(self) -> int:
        """Bytes of the distinct excluded storages that were saved (e.g. parameters)."""
        return sum(key[1] for key, excluded in self._storages.items() if excluded)

    def __repr__(self) -> str:
        return (f"SavedTensors(count={self.count}, nbytes={self.nbytes:,}, "
                f"excluded_nbytes={self.excluded_nbytes:,})")
