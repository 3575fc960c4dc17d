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

import copy
import io
import os
import pickle
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
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
        if not source[key].is_floating_point():  # complex or integer: no real weights
            raise TypeError(f"source[{key!r}] must be a real floating-point tensor, got "
                            f"{describe(source[key])}")
        if source[key].is_meta:
            raise ValueError(f"source[{key!r}] must hold values, got a tensor on the meta "
                             f"device")
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


def _describe_file(file: Any) -> str:
    """``'runs/ckpt.pt'`` for a path, ``a BytesIO`` for a file object: for messages."""
    if isinstance(file, str | os.PathLike):
        return repr(os.fspath(file))
    name = getattr(file, "name", None)
    return f"a {type(file).__name__}" + (f" ({name!r})" if isinstance(name, str) else "")


_EXPECTED = ("expected a checkpoint written by save_checkpoint (a dict of the model's "
             "state_dict, the step and optionally the optimizer's state)")


def _check_file(name: str, value: Any, mode: str) -> None:
    """A path (in an existing directory for writing; an existing file for reading) or an
    open binary file object that can ``mode`` (``"w"``/``"r"``): TypeError for another
    type, ValueError for a closed or read-only object, OSError for a missing path."""
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        if path.is_dir():
            raise IsADirectoryError(f"{name} {os.fspath(value)!r} is a directory; expected "
                                    f"the path of a checkpoint file")
        if mode == "w" and not path.parent.is_dir():
            raise FileNotFoundError(f"{name} {os.fspath(value)!r}: its directory "
                                    f"{os.fspath(path.parent)!r} does not exist; expected a "
                                    f"path in an existing directory (create it first)")
        if mode == "r" and not path.exists():
            raise FileNotFoundError(f"{name} {os.fspath(value)!r} does not exist; {_EXPECTED}")
        return
    if isinstance(value, io.TextIOBase):
        raise TypeError(f"{name} must be a path or a binary file object, got a text-mode "
                        f"{describe(value)}; open it with mode '{mode}b'")
    if not isinstance(value, io.IOBase):
        raise TypeError(f"{name} must be a path or a binary file object, got {describe(value)}")
    if value.closed:
        raise ValueError(f"{name} must be an open file object, got a closed "
                         f"{type(value).__name__}")
    able = value.writable() if mode == "w" else value.readable()
    if not able:
        raise ValueError(f"{name} must be open for {'writing' if mode == 'w' else 'reading'}, "
                         f"got {_describe_file(value)} that is not")


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars (an lr given as ``np.float64``) made Python numbers,
    inside dicts, lists and tuples: what ``torch.load(weights_only=True)`` can read."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return type(value)((k, _plain(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value


def _readable_bytes(name: str, part: Any) -> bytes:
    """``part`` saved with torch.save; a TypeError naming ``name`` when
    ``torch.load(weights_only=True)`` could not read it back."""
    buffer = io.BytesIO()
    torch.save(part, buffer)
    try:
        torch.load(io.BytesIO(buffer.getvalue()), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any refusal means an unreadable checkpoint
        first = str(error).splitlines()[0][:200] if str(error) else ""
        raise TypeError(f"{name}'s state holds objects that torch.load(weights_only=True) "
                        f"refuses ({type(error).__name__}: {first}); expected tensors, "
                        f"numbers, strings and containers") from None
    return buffer.getvalue()


def save_checkpoint(file: Any, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    step: int = 0) -> None:
    """Save ``model.state_dict()``, the optimizer's state (if given) and ``step``.

    Only tensors, numbers, strings and containers are stored, so ``load_checkpoint`` can
    use ``torch.load(..., weights_only=True)``: NumPy scalars in the optimizer's state (an
    lr given as ``np.float64``) are saved as Python numbers, and anything else that such a
    load would refuse raises ``TypeError`` before the file is touched. ``file`` is a path in
    an existing directory or a binary file object open for writing.
    """
    _check_file("file", file, "w")
    check_module("model", model)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, "
                        f"got {describe(optimizer)}")
    step = check_int("step", step, minimum=0)
    state = model.state_dict()
    on_meta = [k for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_meta]
    if on_meta:
        raise ValueError(f"model must hold values to save, got {len(on_meta)} tensors on the "
                         f"meta device ({on_meta[0]!r}, ...)")
    payload = {"model": state, "step": step}
    _readable_bytes("model", state)
    if optimizer is not None:
        payload["optimizer"] = _plain(optimizer.state_dict())
        _readable_bytes("optimizer", payload["optimizer"])
    data = _readable_bytes("the checkpoint", payload)
    if isinstance(file, str | os.PathLike):
        Path(file).write_bytes(data)
    else:
        file.write(data)


def _read(file: Any, where: str) -> Any:
    """``torch.load(file, weights_only=True)`` onto the CPU; any failure to read a
    checkpoint becomes a ValueError that says what the file is and what was expected."""
    if isinstance(file, str | os.PathLike) and Path(file).stat().st_size == 0:
        raise ValueError(f"file {where} is empty (0 bytes); {_EXPECTED}")
    if not isinstance(file, str | os.PathLike) and file.seekable():
        position, size = file.tell(), file.seek(0, io.SEEK_END)
        file.seek(position)
        if position >= size:
            hint = " (after writing to it, rewind it: file.seek(0))" if size else ""
            raise ValueError(f"file {where} has nothing to read at its position {position} of "
                             f"{size} bytes{hint}; {_EXPECTED}")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except (PermissionError, FileNotFoundError, IsADirectoryError):
        raise  # the file system's own answer, with the path
    except pickle.UnpicklingError as error:
        if "Weights only load failed" in str(error):
            raise ValueError(
                f"file {where} holds objects that torch.load(weights_only=True) refuses (e.g. "
                f"a whole pickled nn.Module, from torch.save(model)); {_EXPECTED}") from None
        raise ValueError(f"file {where} is not a checkpoint: {error}; {_EXPECTED}") from None
    except Exception as error:  # noqa: BLE001 - EOFError, zip and seek errors: truncated
        first = str(error).splitlines()[0][:200] if str(error) else "no more data"
        raise ValueError(f"file {where} is not a checkpoint, or a truncated one "
                         f"({type(error).__name__}: {first}); {_EXPECTED}") from None


def _check_optimizer_state(saved: Any, optimizer: torch.optim.Optimizer, where: str) -> None:
    """The saved optimizer state must be one that ``optimizer`` can load and step with: the
    same groups of the same sizes, the same hyperparameter names, per-parameter tensors of
    the parameter's shape (or single numbers such as Adam's step)."""
    bad = f"file {where} holds an optimizer state that does not fit optimizer"
    if not (isinstance(saved, dict) and isinstance(saved.get("state"), dict)
            and isinstance(saved.get("param_groups"), list)
            and all(isinstance(g, dict) and isinstance(g.get("params"), list)
                    for g in saved["param_groups"])):
        raise ValueError(f"{bad}: expected a dict with 'state' and 'param_groups', got "
                         f"{describe(saved)}")
    groups, saved_groups = optimizer.param_groups, saved["param_groups"]
    if len(groups) != len(saved_groups):
        raise ValueError(f"{bad}: {len(saved_groups)} parameter groups, expected "
                         f"{len(groups)}")
    for k, (group, saved_group) in enumerate(zip(groups, saved_groups, strict=True)):
        if len(group["params"]) != len(saved_group["params"]):
            raise ValueError(f"{bad}: group {k} has {len(saved_group['params'])} parameters, "
                             f"expected {len(group['params'])}")
        if set(group) != set(saved_group):
            raise ValueError(f"{bad}: group {k} has the settings {sorted(saved_group)}, "
                             f"expected {sorted(group)} (another kind of optimizer?)")
    params = {i: p for g, sg in zip(groups, saved_groups, strict=True)
              for i, p in zip(sg["params"], g["params"], strict=True)}
    for index, entry in saved["state"].items():
        if index not in params or not isinstance(entry, dict):
            raise ValueError(f"{bad}: a state entry {index!r} for no parameter")
        for key, value in entry.items():
            if isinstance(value, torch.Tensor) and value.numel() != 1 \
                    and value.shape != params[index].shape:
                raise ValueError(f"{bad}: state {key!r} of parameter {index} has shape "
                                 f"{tuple(value.shape)}, expected "
                                 f"{tuple(params[index].shape)}")


def _check_payload(payload: Any, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                   where: str) -> int:
    """Everything ``load_checkpoint`` will load, checked before it changes anything."""
    if not isinstance(payload, dict) or "model" not in payload or "step" not in payload:
        raise ValueError(f"file {where} is not a checkpoint written by save_checkpoint: it "
                         f"holds {describe(payload)}; {_EXPECTED}")
    state = payload["model"]
    if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"file {where}: its 'model' entry must map names to tensors (a "
                         f"state_dict), got {describe(state)}")
    diff = diff_state_dicts(model.state_dict(), state)
    if any(diff.values()):
        raise ValueError(f"file {where}: the checkpoint does not fit the model: {diff}")
    for key, tensor in model.state_dict().items():
        if state[key].is_complex() and not tensor.is_complex():
            raise ValueError(f"file {where}: {key!r} is complex, the model's is real")
    step = payload["step"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError(f"file {where} has step {describe(step)}; expected an int >= 0")
    if optimizer is not None:
        if "optimizer" not in payload:
            raise ValueError(f"file {where}: the checkpoint has no optimizer state, but an "
                             f"optimizer was given")
        _check_optimizer_state(payload["optimizer"], optimizer, where)
    return step


def load_checkpoint(file: Any, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> int:
    """Restore what ``save_checkpoint`` wrote into ``model`` (and ``optimizer``); return step.

    Reads with ``weights_only=True`` onto the CPU (``map_location="cpu"``). The whole
    checkpoint is checked first (keys and shapes with ``diff_state_dicts``, the step, the
    optimizer's groups and state), so a file that is not a fitting checkpoint (empty,
    truncated, text, a pickled module, a stream not rewound, another model's) raises
    ``ValueError`` (``OSError`` for a missing path) and leaves ``model``, ``optimizer``
    and the position of a file object unchanged.
    """
    _check_file("file", file, "r")
    check_module("model", model)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, "
                        f"got {describe(optimizer)}")
    where = _describe_file(file)
    seekable = not isinstance(file, str | os.PathLike) and file.seekable()
    position = file.tell() if seekable else None
    try:
        payload = _read(file, where)
        step = _check_payload(payload, model, optimizer, where)
    except BaseException:
        if seekable:
            file.seek(position)  # a failed load reads nothing, as far as the caller sees
        raise
    model_before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer_before = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
    try:
        if optimizer is not None:
            optimizer.load_state_dict(payload["optimizer"])
        model.load_state_dict(payload["model"])
    except Exception as error:  # noqa: BLE001 - undo, then say what did not fit
        model.load_state_dict(model_before)
        if optimizer is not None:
            optimizer.load_state_dict(optimizer_before)
        if seekable:
            file.seek(position)
        first = str(error).splitlines()[0][:200] if str(error) else ""
        raise ValueError(f"file {where}: the checkpoint does not fit the model or optimizer "
                         f"({type(error).__name__}: {first}); nothing was changed") from None
    return step
