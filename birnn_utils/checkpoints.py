"""Saving, loading and remapping the weights of recurrent models.

The everyday questions behind ``load_state_dict`` errors, answered with small helpers:

- ``diff_state_dicts``: which keys are missing, unexpected or of the wrong shape, *before*
  ``load_state_dict`` raises (the same three lists its error message prints).
- ``strip_prefix`` / ``add_prefix``: the ``"module."`` that ``nn.DataParallel`` and
  ``DistributedDataParallel`` put in front of every key.
- ``load_into_bidirectional``: start a bidirectional ``nn.RNN``/``nn.GRU``/``nn.LSTM``
  from the weights of a unidirectional one (the forward direction; the reverse direction
  either copies them or keeps its own).
- ``save_checkpoint`` / ``load_checkpoint``: model *and* optimizer state in one file that
  ``torch.load(..., weights_only=True)`` (the default since PyTorch 2.6) accepts.

Every function validates its arguments before it changes anything (see
``birnn_utils.validation``) and returns new dictionaries instead of editing its input.
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from birnn_utils.validation import check_choice, check_int, check_module, describe

__all__ = [
    "diff_state_dicts",
    "strip_prefix",
    "add_prefix",
    "load_into_bidirectional",
    "save_checkpoint",
    "load_checkpoint",
]


def _check_state_dict(name: str, value: Any) -> Mapping:
    """``value`` must be a mapping from ``str`` keys to tensors (a ``state_dict``)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a state_dict (a mapping of str to Tensor), "
                        f"got {describe(value)}")
    for key, tensor in value.items():
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be str, got {describe(key)}")
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name}[{key!r}] must be a torch.Tensor, got {describe(tensor)}")
    return value


def _check_prefix(prefix: Any) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {describe(prefix)}")
    if not prefix:
        raise ValueError("prefix must be a non-empty str, got ''")
    return prefix


def diff_state_dicts(expected: Mapping, given: Mapping) -> dict[str, list]:
    """Compare a model's ``state_dict()`` (``expected``) with one to load (``given``).

    Returns ``{"missing": [...], "unexpected": [...], "shape_mismatch": [...]}``: sorted
    keys of ``expected`` absent from ``given``, sorted keys of ``given`` absent from
    ``expected``, and ``(key, expected_shape, given_shape)`` for common keys whose shapes
    differ. All three empty means ``load_state_dict(given)`` will succeed.
    """
    _check_state_dict("expected", expected)
    _check_state_dict("given", given)
    missing = sorted(k for k in expected if k not in given)
    unexpected = sorted(k for k in given if k not in expected)
    mismatch = sorted(
        (k, tuple(expected[k].shape), tuple(given[k].shape))
        for k in expected
        if k in given and expected[k].shape != given[k].shape
    )
    return {"missing": missing, "unexpected": unexpected, "shape_mismatch": mismatch}


def strip_prefix(state_dict: Mapping, prefix: str = "module.") -> OrderedDict:
    """A new state dict with ``prefix`` removed from every key that starts with it.

    Keys without the prefix are kept as they are; tensors are not copied. Raises
    ``ValueError`` if removing the prefix makes two keys equal.
    """
    _check_state_dict("state_dict", state_dict)
    _check_prefix(prefix)
    out: OrderedDict = OrderedDict()
    for key, tensor in state_dict.items():
        new = key[len(prefix):] if key.startswith(prefix) else key
        if new in out:
            raise ValueError(f"stripping prefix {prefix!r} maps two keys to {new!r}")
        out[new] = tensor
    return out


def add_prefix(state_dict: Mapping, prefix: str = "module.") -> OrderedDict:
    """A new state dict with ``prefix`` put in front of every key (tensors not copied)."""
    _check_state_dict("state_dict", state_dict)
    _check_prefix(prefix)
    return OrderedDict((prefix + key, tensor) for key, tensor in state_dict.items())


def load_into_bidirectional(target: nn.Module, source: Mapping, reverse: str = "copy"
                            ) -> list[str]:
    """Load a unidirectional RNN/GRU/LSTM ``source`` state dict into a bidirectional one.

    ``target`` is a bidirectional ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM``; ``source`` the
    ``state_dict()`` of the same kind of module with ``bidirectional=False``. The forward
    direction of ``target`` receives ``source``'s tensors. ``reverse="copy"`` also copies
    them into the ``*_reverse`` parameters (a symmetric start); ``reverse="keep"`` leaves
    the reverse direction as it is. Every key and shape is checked first, so on any error
    ``target`` is unchanged. Layers above the first read ``2 * hidden_size`` inputs in a
    bidirectional stack, so their ``weight_ih`` shapes differ and are reported as errors.

    Returns the sorted names of the parameters written.
    """
    check_module("target", target, nn.RNNBase)
    if not target.bidirectional:
        raise ValueError("target must be a bidirectional RNN/GRU/LSTM, got "
                         f"{type(target).__name__} with bidirectional=False")
    _check_state_dict("source", source)
    check_choice("reverse", reverse, ["copy", "keep"])
    current = target.state_dict()
    forward_keys = [k for k in current if not k.endswith("_reverse")]
    missing = sorted(k for k in forward_keys if k not in source)
    unexpected = sorted(k for k in source if k not in forward_keys)
    if missing or unexpected:
        raise ValueError(f"source does not match the forward direction of target: "
                         f"missing {missing}, unexpected {unexpected}")
    for key in forward_keys:
        if source[key].shape != current[key].shape:
            raise ValueError(f"source[{key!r}] has shape {tuple(source[key].shape)}, "
                             f"target expects {tuple(current[key].shape)}")
    new = OrderedDict(current)
    written = []
    for key in forward_keys:
        new[key] = source[key]
        written.append(key)
        if reverse == "copy":
            new[key + "_reverse"] = source[key].clone()
            written.append(key + "_reverse")
    target.load_state_dict(new)
    return sorted(written)


def _check_file(name: str, value: Any, mode: str) -> None:
    if isinstance(value, (str, os.PathLike)):
        return
    method = "write" if mode == "w" else "read"
    if not (isinstance(value, io.IOBase) and hasattr(value, method)):
        raise TypeError(f"{name} must be a path or a binary file object, got {describe(value)}")


def save_checkpoint(file: Any, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    step: int = 0) -> None:
    """Save ``model.state_dict()``, the optimizer's state (if given) and ``step``.

    Only tensors, numbers, strings and containers are stored, so ``load_checkpoint`` can
    use ``torch.load(..., weights_only=True)``.
    """
    _check_file("file", file, "w")
    check_module("model", model)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, "
                        f"got {describe(optimizer)}")
    check_int("step", step, minimum=0)
    payload = {"model": model.state_dict(), "step": step}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    torch.save(payload, file)


def load_checkpoint(file: Any, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> int:
    """Restore what ``save_checkpoint`` wrote into ``model`` (and ``optimizer``); return step.

    Reads with ``weights_only=True`` onto the CPU (``map_location="cpu"``). Checks the keys
    and shapes with ``diff_state_dicts`` before loading, so a mismatch raises ``ValueError``
    and leaves ``model`` unchanged.
    """
    _check_file("file", file, "r")
    check_module("model", model)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, "
                        f"got {describe(optimizer)}")
    payload = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "model" not in payload or "step" not in payload:
        raise ValueError("file is not a checkpoint written by save_checkpoint")
    if optimizer is not None and "optimizer" not in payload:
        raise ValueError("the checkpoint has no optimizer state, but an optimizer was given")
    diff = diff_state_dicts(model.state_dict(), payload["model"])
    if any(diff.values()):
        raise ValueError(f"the checkpoint does not fit the model: {diff}")
    if optimizer is not None:  # first: it may still refuse (parameter groups differ)
        optimizer.load_state_dict(payload["optimizer"])
    model.load_state_dict(payload["model"])
    return int(payload["step"])
