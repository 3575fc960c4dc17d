"""Argument checks shared by every module of ``birnn_utils``.

The contract of the package: a bad argument raises *before anything changes*, with
``TypeError`` for a wrong type and ``ValueError`` for a wrong value, and the message names
the argument, shows what was given and says what was expected, e.g.::

    hidden_size must be an int >= 1, got -1
    bidirectional must be a bool, got str 'False'

Bools are not ints (``True`` is no size) and strings are not bools (``'False'`` is truthy).
NumPy scalars (``np.int64(3)``, ``np.float64(0.1)``) are refused everywhere, with a message
that says to pass ``int(...)`` or ``float(...)``: torch does not take them everywhere, and a
checkpoint holding one cannot be read back with ``weights_only=True``. Each check returns
the value, normalised (``int``, ``float``), so a caller can write
``n = check_int("n", n, minimum=1)``.

Sizes have one cap, :data:`MAX_ELEMENTS`: a helper that would allocate a tensor (or build
a model) with more entries refuses *before* allocating, with :func:`check_elements`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch

__all__ = [
    "describe",
    "check_bool",
    "check_int",
    "check_float",
    "check_choice",
    "check_tensor",
    "check_module",
    "check_callable",
    "check_str",
    "check_seed",
    "check_like",
    "check_device",
    "check_real_vector",
    "check_mapping",
    "check_elements",
    "SEED_MAX",
    "MAX_ELEMENTS",
]

SEED_MAX = 2**32 - 1
"""The largest seed that Python's ``random``, NumPy and torch all accept (NumPy's limit)."""


MAX_ELEMENTS = 10**8
"""The cap on sizes: the most entries one tensor (or one model's parameters) that a helper
allocates may hold, 800 MB of float64. The book's tensors are tiny: ``hidden_size=10**6``
is a typo to refuse, not a model to build (it would take the machine's memory, or fail
deep inside the allocator)."""


def _number(value: int | float) -> str:
    """``1e+08`` for a number too long to read, its digits when short; never overflows."""
    if isinstance(value, int) and abs(value) >= 10**300:
        return f"{'a negative' if value < 0 else 'an'} int of {len(str(abs(value)))} digits"
    return f"{value:.3g}" if abs(value) >= 10**7 else str(value)


def check_elements(what: str, count: int, given: str) -> int:
    """Refuse, before allocating, ``what`` of ``count`` entries above :data:`MAX_ELEMENTS`.

    ``given`` names the arguments it is made from and their values, e.g.
    ``"input_size=3, hidden_size=1000000"``: the message shows them and the cap.
    """
    if count > MAX_ELEMENTS:
        raise ValueError(f"{what} would hold {_number(count)} entries ({given}), above the "
                         f"cap of {MAX_ELEMENTS:.0e} entries "
                         f"(birnn_utils.validation.MAX_ELEMENTS); expected smaller sizes")
    return count


def _refuse_numpy(name: str, value: Any, expected: str, convert: str) -> None:
    if isinstance(value, np.generic):
        raise TypeError(f"{name} must be {expected}, got the NumPy scalar {describe(value)}; "
                        f"pass {convert}({name})")


def describe(value: Any) -> str:
    """``"str 'False'"``, ``"int 3"``, ``"Tensor of shape (2, 3) float32"``: for messages."""
    if isinstance(value, torch.Tensor):
        shape = ", ".join(str(s) for s in value.shape)
        if value.dim() == 1:
            shape += ","
        return f"Tensor of shape ({shape}) {str(value.dtype).removeprefix('torch.')}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def check_bool(name: str, value: Any) -> bool:
    """``value`` must be a real ``bool`` (not ``1``, not ``'False'``)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {describe(value)}")
    return value


def check_int(name: str, value: Any, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """``value`` must be an int (not a bool, not a NumPy integer) in ``[minimum, maximum]``
    (bounds optional)."""
    _refuse_numpy(name, value, "an int", "int")
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            expected = f">= {minimum}"
        elif minimum is None:
            expected = f"<= {maximum}"
        else:
            expected = f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an int {expected}, got {value}")
    return value


def check_float(name: str, value: Any, *, minimum: float | None = None,
                maximum: float | None = None, min_inclusive: bool = True,
                max_inclusive: bool = True) -> float:
    """``value`` must be a finite real number (an int or a float; not a bool, not a NumPy
    scalar) within the given bounds. An int too large for a float is a ValueError."""
    _refuse_numpy(name, value, "a real number (an int or a float)", "float")
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond float's range (10**400): no finite float
        raise ValueError(f"{name} must be a finite number (at most {sys.float_info.max:.3g}"
                         f" in size), got {_number(int(value))}") from None
    low_ok = minimum is None or (value >= minimum if min_inclusive else value > minimum)
    high_ok = maximum is None or (value <= maximum if max_inclusive else value < maximum)
    if not math.isfinite(value) or not low_ok or not high_ok:
        parts = []
        if minimum is not None:
            parts.append(f"{'>=' if min_inclusive else '>'} {minimum}")
        if maximum is not None:
            parts.append(f"{'<=' if max_inclusive else '<'} {maximum}")
        expected = "a finite number" + (" " + " and ".join(parts) if parts else "")
        raise ValueError(f"{name} must be {expected}, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` must be one of ``choices`` (compared with ``==``, types checked first)."""
    choices = list(choices)
    kinds = tuple({type(c) for c in choices})
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise TypeError(f"{name} must be one of {choices}, got {describe(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_tensor(name: str, value: Any, *, dim: int | Iterable[int] | None = None,
                 dtype: torch.dtype | Iterable[torch.dtype] | None = None,
                 floating: bool = False, finite: bool = False,
                 device: torch.device | str | None = None,
                 shape: tuple[int | None, ...] | None = None) -> torch.Tensor:
    """``value`` must be a Tensor with the given number of dims, dtype(s), device.

    ``floating=True`` asks for a floating-point dtype; ``finite=True`` rejects NaN and
    ±inf (checked last, since it reads every element). ``shape`` is the exact shape,
    ``None`` for a size that may be anything, e.g. ``(None, 4)``.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {describe(value)}")
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if value.dim() not in dims:
            want = " or ".join(str(d) for d in dims)
            raise ValueError(f"{name} must have {want} dimensions, got {describe(value)}")
    if dtype is not None:
        dtypes = (dtype,) if isinstance(dtype, torch.dtype) else tuple(dtype)
        if value.dtype not in dtypes:
            want = " or ".join(str(d).removeprefix("torch.") for d in dtypes)
            raise TypeError(f"{name} must have dtype {want}, got {describe(value)}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {describe(value)}")
    if device is not None:
        want = torch.device(device)  # "cuda" (no index) accepts any CUDA device
        if value.device.type != want.type or (want.index is not None
                                              and value.device.index != want.index):
            raise ValueError(f"{name} must be on device {want}, got {value.device}")
    if shape is not None and (
        value.dim() != len(shape)
        or any(w is not None and g != w for g, w in zip(value.shape, shape, strict=True))
    ):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + \
            ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want}, got {describe(value)}")
    if finite and value.is_floating_point() and value.device.type != "meta" \
            and not bool(torch.isfinite(value).all()):  # a meta tensor holds no values
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite entries "
                         f"in a {describe(value)}")
    return value


def check_module(name: str, value: Any, kinds: type | tuple[type, ...] = torch.nn.Module
                 ) -> torch.nn.Module:
    """``value`` must be an instance of ``kinds`` (``nn.Module`` by default)."""
    if not isinstance(value, kinds):
        kinds_t = kinds if isinstance(kinds, tuple) else (kinds,)
        want = " or ".join(k.__name__ for k in kinds_t)
        raise TypeError(f"{name} must be a {want}, got {describe(value)}")
    return value


def check_callable(name: str, value: Any) -> Any:
    """``value`` must be callable (a function, a module, a lambda)."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {describe(value)}")
    return value


def check_str(name: str, value: Any, *, nonempty: bool = True) -> str:
    """``value`` must be a ``str`` (non-empty unless ``nonempty=False``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {describe(value)}")
    if nonempty and not value:
        raise ValueError(f"{name} must be a non-empty str, got ''")
    return value


def check_seed(name: str, value: Any) -> int:
    """A seed valid for ``random``, NumPy and torch alike: an int in ``[0, 2**32 - 1]``."""
    _refuse_numpy(name, value, "an int", "int")
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    value = int(value)
    if not 0 <= value <= SEED_MAX:
        raise ValueError(f"{name} must be an int in [0, 2**32 - 1] (a seed that random, "
                         f"numpy and torch all accept), got {value}")
    return value


def check_like(name: str, value: torch.Tensor, other_name: str, other: torch.Tensor
               ) -> torch.Tensor:
    """``value`` must have the dtype (``TypeError``) and device (``ValueError``) of ``other``.

    Both must already be tensors (check them with :func:`check_tensor` first).
    """
    if value.dtype != other.dtype:
        raise TypeError(f"{name} must have the dtype of {other_name} "
                        f"({str(other.dtype).removeprefix('torch.')}), got {describe(value)}")
    return check_device(name, value, other_name, other)


def check_device(name: str, value: torch.Tensor, other_name: str, other: torch.Tensor
                 ) -> torch.Tensor:
    """``value`` must be on the device of ``other`` (``ValueError``): the one wording of a
    wrong-device input for every model of the package (``other`` is a parameter)."""
    if value.device != other.device:
        raise ValueError(f"{name} must be on the device of {other_name} ({other.device}), "
                         f"got {value.device}")
    return value


def check_real_vector(name: str, value: Any, *, finite: bool = True,
                      min_length: int = 0) -> np.ndarray:
    """``value`` as a 1-D float64 NumPy array: a sequence (list, tuple, range) of real
    numbers, or a 1-D array or tensor of a real (not bool, not complex) dtype. Bools and
    strings are refused; so are NaN and ±inf unless ``finite=False``."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name} must hold real numbers, got {describe(value)}")
        if value.device.type == "meta":
            raise ValueError(f"{name} must hold values, got a tensor on the meta device")
        array = value.detach().cpu().double().numpy()
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf":
            raise TypeError(f"{name} must hold real numbers, got ndarray of dtype {value.dtype}")
        array = value.astype(np.float64)
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if any(isinstance(v, Sequence) and not isinstance(v, str | bytes) for v in value):
            raise ValueError(f"{name} must be one-dimensional, got {describe(value)}")
        bad = [v for v in value if not isinstance(v, Real) or isinstance(v, bool)]
        if bad:
            raise TypeError(f"{name} must hold real numbers, got {describe(bad[0])} "
                            f"in {describe(value)}")
        array = np.asarray([float(v) for v in value], dtype=np.float64)
    else:
        raise TypeError(f"{name} must be a list, array or tensor of real numbers, "
                        f"got {describe(value)}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size < min_length:
        raise ValueError(f"{name} must have at least {min_length} values, got {array.size}")
    if finite and not np.all(np.isfinite(array)):
        bad = int((~np.isfinite(array)).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s) "
                         f"in {describe(value)}")
    return array


def check_mapping(name: str, value: Any, *, nonempty: bool = True) -> Mapping:
    """``value`` must be a mapping (a dict), non-empty unless ``nonempty=False``."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping (a dict), got {describe(value)}")
    if nonempty and not value:
        raise ValueError(f"{name} must not be empty, got {value!r}")
    return value
