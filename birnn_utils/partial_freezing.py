"""Freeze part of a tensor: some rows of a weight stay fixed while the other rows train.

``requires_grad`` belongs to a whole tensor, so it cannot freeze a slice. Two ways work:

- :func:`freeze_rows_by_mask` makes the weight a function of the parameter
  (:mod:`torch.nn.utils.parametrize`): ``weight = where(frozen, constant, original)``. The
  frozen rows are constants of the forward pass; the optimizer may do what it likes to the
  matching rows of ``original`` (weight decay, momentum), the weight the module uses does
  not change.
- :func:`freeze_rows_by_hook` registers a gradient hook that zeroes the frozen rows of
  ``.grad``. Cheap, but a zero gradient is not a zero step: weight decay and momentum still
  move those rows.

Rows are indices along dimension 0 (for ``nn.Linear`` one output unit; for ``nn.Embedding``
one token). Every argument is checked before anything is changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.utils.hooks import RemovableHandle

from birnn_utils.validation import (
    check_device,
    check_elements,
    check_int,
    check_module,
    check_tensor,
    describe,
)

__all__ = ["FrozenEntries", "freeze_rows_by_hook", "freeze_rows_by_mask", "row_mask"]


def _check_rows(rows: object, n_rows: int) -> list[int]:
    if isinstance(rows, (str, bytes, Tensor)) or not isinstance(rows, Sequence | range):
        raise TypeError(f"rows must be a list, tuple or range of ints, got {describe(rows)}")
    checked = [check_int(f"rows[{k}]", r, minimum=0, maximum=n_rows - 1)
               for k, r in enumerate(rows)]
    if not checked:
        raise ValueError("rows must name at least one row, got an empty sequence")
    if len(set(checked)) != len(checked):
        raise ValueError(f"rows must not repeat, got {list(rows)!r}")
    return checked


def row_mask(shape: Sequence[int] | torch.Size, rows: Sequence[int]) -> Tensor:
    """Boolean mask of ``shape``, True on every entry of the given rows (dimension 0)."""
    if not isinstance(shape, Sequence | torch.Size) or isinstance(shape, str) or not shape:
        raise TypeError(f"shape must be a non-empty tuple of ints, got {describe(shape)}")
    shape = tuple(check_int("each size in shape", s, minimum=1) for s in shape)
    check_elements("the mask", math.prod(shape), f"shape={shape}")
    rows = _check_rows(rows, shape[0])
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[rows] = True
    return mask


class FrozenEntries(nn.Module):
    """A parametrization: entries where ``frozen_mask`` is True come from ``frozen_values``.

    ``forward(original) = torch.where(frozen_mask, frozen_values, original)``: exact (no
    arithmetic), and the gradient with respect to ``original`` is exactly zero there.
    """

    def __init__(self, frozen_mask: Tensor, frozen_values: Tensor):
        super().__init__()
        check_tensor("frozen_mask", frozen_mask, dtype=torch.bool)
        check_tensor("frozen_values", frozen_values, floating=True)
        if frozen_mask.shape != frozen_values.shape:
            raise ValueError(
                f"frozen_mask and frozen_values must have the same shape, got "
                f"{describe(frozen_mask)} and {describe(frozen_values)}"
            )
        check_device("frozen_mask", frozen_mask, "frozen_values", frozen_values)
        if frozen_values.is_meta:
            raise ValueError("frozen_values must hold values, got a tensor on the meta device")
        self.register_buffer("frozen_mask", frozen_mask.clone())
        self.register_buffer("frozen_values", frozen_values.detach().clone())

    def forward(self, original: Tensor) -> Tensor:
        return torch.where(self.frozen_mask, self.frozen_values, original)


def _check_weight(module: object, name: object) -> Tensor:
    check_module("module", module)
    if not isinstance(name, str):
        raise TypeError(f"name must be a str naming a parameter, got {describe(name)}")
    if parametrize.is_parametrized(module, name):
        raise ValueError(f"module: {name!r} of {type(module).__name__} is already "
                         f"parametrized (parametrize.remove_parametrizations undoes it)")
    params = dict(module.named_parameters(recurse=False))
    if name not in params:
        raise ValueError(
            f"name must be a parameter of {type(module).__name__} itself, got {name!r}; "
            f"expected one of {sorted(params)}"
        )
    weight = params[name]
    if weight.dim() == 0:
        raise ValueError(f"{name} must have at least one dimension, got {describe(weight)}")
    return weight


def freeze_rows_by_mask(module: nn.Module, name: str, rows: Sequence[int]) -> FrozenEntries:
    """Freeze ``rows`` of ``module.<name>`` at their current values with a parametrization.

    Afterwards ``module.<name>`` is computed from ``module.parametrizations.<name>.original``,
    which is the same ``Parameter`` object as before, renamed: an optimizer built before this
    call keeps stepping it, with its state (momentum, moments) intact. Returns the
    :class:`FrozenEntries` registered; ``parametrize.remove_parametrizations`` undoes it.
    """
    weight = _check_weight(module, name)
    mask = row_mask(weight.shape, rows)
    frozen = FrozenEntries(mask.to(weight.device), weight.detach())
    parametrize.register_parametrization(module, name, frozen)
    return frozen


def freeze_rows_by_hook(param: Tensor, rows: Sequence[int]) -> RemovableHandle:
    """Zero ``rows`` of every gradient computed for ``param`` (a leaf that requires grad).

    Returns the hook's handle (``handle.remove()`` undoes it). Only the gradient is zeroed:
    an optimizer with weight decay or momentum still changes the frozen rows.
    """
    check_tensor("param", param)
    if not (param.is_leaf and param.requires_grad):
        raise ValueError(
            f"param must be a leaf tensor that requires grad, got {describe(param)} with "
            f"is_leaf={param.is_leaf}, requires_grad={param.requires_grad}"
        )
    if param.dim() == 0:
        raise ValueError(f"param must have at least one dimension, got {describe(param)}")
    mask = row_mask(param.shape, rows).to(param.device)

    def zero_rows(grad: Tensor) -> Tensor:
        return grad.masked_fill(mask, 0.0)

    return param.register_hook(zero_rows)
