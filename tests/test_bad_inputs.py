"""Generated bad inputs for every public function and class of ``birnn_utils`` (issue 18).

For each public signature the registry below holds *valid* example arguments (a factory
that builds fresh ones) and, per argument, a hypothesis strategy of *bad* values with the
exception they must raise. One test per (target, argument) replaces that argument by a
generated bad value and asserts the package's contract:

1. the exception is the expected one (``TypeError`` for a wrong type, ``ValueError`` for
   a wrong value; the documented ``OSError`` for a missing path and ``FloatingPointError``
   for a non-finite loss), never another (``AttributeError``, torch's ``RuntimeError``, a
   hang) and never none at all;
2. the message names the argument, and shows what was given (its type for a wrong type,
   the number for a wrong int);
3. nothing changed: parameters, buffers, ``requires_grad``, ``.grad``, the train/eval mode
   of every submodule, optimizer state, input tensors (bit for bit), the global RNGs of
   ``random``/NumPy/torch, torch's deterministic and thread settings, open figures.

Besides bad values, :data:`ODD_VALID` holds *odd but valid* calls (a window key past
int64, a call that must leave the global RNGs alone, a checkpoint whose optimizer holds a
NumPy lr): each must run and pass its own check of the result, with nothing changed that
the call does not document.

``tools/bad_input_census.py`` runs the same generators and prints how many distinct bad
inputs a run makes and how each one ended.

Registering a module (a few lines; see the sections below for examples)::

    from birnn_utils import mymodule
    MODULES.append(mymodule)  # every public name must be registered or exempted
    register(mymodule.my_func, lambda: {"n": 3, "x": torch.zeros(2, 3)},
             n=ints_outside(1, None) | NOT_INT, x=bad_tensors(shape=False))
    EXEMPT["mymodule.CONSTANT_LIKE_CALLABLE"] = "why it takes no input"
"""

from __future__ import annotations

import atexit
import inspect
import io
import math
import os
import random
import re
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib import _pylab_helpers  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import nn  # noqa: E402

from birnn_utils import (  # noqa: E402
    ablation,
    benchmarking,
    bptt,
    cells,
    checkpoints,
    corpus,
    data,
    delayed,
    display,
    expect,
    fast,
    fast_ext,
    freezing,
    gates,
    memory,
    memory_tasks,
    partial_freezing,
    plotting,
    recurrent,
    reproducibility,
    reverse,
    streams,
    sweep,
    training,
    validation,
    varlen,
)

F64 = torch.float64
CAP = getattr(validation, "MAX_ELEMENTS", 10**8)  # the cap on sizes (issue 30)
SCRATCH = Path(tempfile.mkdtemp(prefix="bad_inputs_"))  # files the checkpoint cases write
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
CALL_TIMEOUT_S = 60  # a call that runs longer hangs: a crash (``local_peak_ceiling(10**12)``)

# ----------------------------------------------------------------------------- machinery


@dataclass(frozen=True)
class Bad:
    """One bad value: a label (for messages and the census), how to make it from the
    valid arguments, and the exception it must raise."""

    label: str
    make: Callable[[dict], Any]
    error: type[Exception]

    def __repr__(self) -> str:
        return f"<{self.label} -> {self.error.__name__}>"


@dataclass
class Target:
    name: str
    call: Callable[..., Any]
    valid: Callable[[], dict]
    bad: dict[str, st.SearchStrategy]
    names: dict[str, str] = field(default_factory=dict)  # argument -> name in the message
    func: Callable | None = None  # the function whose parameters must all be tried


TARGETS: dict[str, Target] = {}
MODULES: list = []
EXEMPT: dict[str, str] = {}
ARGS_EXEMPT: dict[str, str] = {}  # "module.func:arg" -> why no bad value is generated


def register(func: Callable, valid: Callable[[], dict], *, _key: str | None = None,
             _call: Callable | None = None, _names: dict[str, str] | None = None,
             **bad: st.SearchStrategy) -> None:
    """Register ``func``: ``valid()`` builds fresh valid keyword arguments, and each other
    keyword is an argument with a strategy of :class:`Bad` values. ``_call`` (default
    ``func``) is called with the arguments; ``_key`` names a second registration of the same
    function (``"module.func:variant"``); ``_names`` maps an argument to the name its
    message must show, when that differs."""
    key = _key or f"{func.__module__.removeprefix('birnn_utils.')}.{func.__qualname__}"
    assert key not in TARGETS, key
    TARGETS[key] = Target(key, _call or func, valid, bad, _names or {}, func)


@dataclass(frozen=True)
class OddValid:
    """An odd but valid call: ``run()`` makes its inputs, calls, and returns None when the
    result is right, else what is wrong. ``changes`` lists what of the global state the call
    may change (documented): ``"torch_rng"``; nothing else may move."""

    label: str
    run: Callable[[], str | None]
    changes: tuple[str, ...] = ()


ODD_VALID: dict[str, list[OddValid]] = {}  # module -> its odd-but-valid calls


def odd_valid(module: str, label: str, *, changes: tuple[str, ...] = ()):
    """Decorator: register the function below as an odd-but-valid case of ``module``."""
    def add(run: Callable[[], str | None]) -> Callable[[], str | None]:
        ODD_VALID.setdefault(module, []).append(OddValid(label, run, changes))
        return run

    return add


def const(value: Any, error: type[Exception], label: str | None = None) -> Bad:
    return Bad(label or _label(value), lambda kw, v=value: v, error)


def _label(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)} {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"ndarray{value.shape}"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}"


def values(error: type[Exception], *items: Any) -> st.SearchStrategy:
    return st.sampled_from([const(v, error) for v in items])


def generated(strategy: st.SearchStrategy, error: type[Exception]) -> st.SearchStrategy:
    return strategy.map(lambda v: const(v, error))


def derived(error: type[Exception], **makers: Callable[[dict], Any]) -> st.SearchStrategy:
    return st.sampled_from([Bad(label, make, error) for label, make in makers.items()])


# Wrong types, generated: each must raise TypeError.
_SCALAR_JUNK = st.one_of(st.none(), st.text(max_size=3), st.binary(max_size=2),
                         st.complex_numbers(allow_nan=False, max_magnitude=10),
                         st.lists(st.integers(0, 3), max_size=2), st.just({"a": 1}),
                         st.just(torch.tensor(3)))
# NumPy scalars are refused everywhere with a TypeError (issue 30: they crashed deeper, or
# reached a checkpoint that weights_only loading cannot read).
_NUMPY_INTS = st.integers(-3, 3).flatmap(
    lambda v: st.sampled_from([np.int64(v), np.int32(v), np.int8(v)]))
_NUMPY_FLOATS = st.floats(-2, 2).flatmap(lambda v: st.sampled_from([np.float64(v),
                                                                      np.float32(v)]))
NOT_INT = generated(st.one_of(st.booleans(), st.floats(), _SCALAR_JUNK, _NUMPY_INTS,
                              _NUMPY_FLOATS), TypeError)
NOT_BOOL = generated(st.one_of(st.integers(-3, 3), st.floats(-1, 1),
                               st.sampled_from(["False", "True", "no", ""]), _SCALAR_JUNK),
                     TypeError)
NOT_REAL = generated(st.one_of(st.booleans(), _SCALAR_JUNK, _NUMPY_INTS, _NUMPY_FLOATS),
                     TypeError)
NOT_STR = generated(st.one_of(st.integers(), st.booleans(), st.none(), st.binary(max_size=2),
                              st.lists(st.text(max_size=2), max_size=2)), TypeError)
NOT_TENSOR = generated(st.one_of(st.floats(), st.integers(), st.text(max_size=3), st.none(),
                                 st.lists(st.floats(-1, 1), max_size=3),
                                 st.just(np.zeros((2, 3)))), TypeError)
NOT_TENSOR_OR_NONE = generated(st.one_of(st.floats(), st.text(max_size=3),
                                         st.lists(st.floats(-1, 1), max_size=3),
                                         st.just(np.zeros(3))), TypeError)
NOT_MODULE = generated(st.one_of(st.none(), st.integers(), st.text(max_size=3),
                                 st.just(torch.zeros(2)), st.just([nn.Linear(1, 1)])),
                       TypeError)
NOT_RECURRENT = NOT_MODULE | values(TypeError, nn.Linear(2, 3), nn.Sequential(nn.GRU(2, 3)))
NOT_SEQUENCE = generated(st.one_of(st.none(), st.integers(), st.text(max_size=3),
                                   st.just({1.0, 2.0})), TypeError)


def ints_outside(low: int | None, high: int | None) -> st.SearchStrategy:
    """Ints below ``low`` or above ``high`` (either may be None): ValueError."""
    parts = []
    if low is not None:
        parts.append(st.integers(max_value=low - 1))
    if high is not None:
        parts.append(st.integers(min_value=high + 1))
    return generated(st.one_of(*parts), ValueError)


def floats_outside(low: float | None, high: float | None, *, low_inclusive: bool = True
                   ) -> st.SearchStrategy:
    """Floats below ``low`` (or equal when exclusive), above ``high``, NaN, ±inf, and ints
    beyond float's range (``10**400``: no finite float)."""
    parts = [st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -(10**400)])]
    if low is not None:
        parts.append(st.floats(max_value=low, exclude_max=low_inclusive, allow_nan=False,
                               allow_infinity=False))
    if high is not None:
        parts.append(st.floats(min_value=high, exclude_min=True, allow_nan=False,
                               allow_infinity=False))
    return generated(st.one_of(*parts), ValueError)


def _other_float(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float32 if t.dtype == F64 else F64)


def _with(t: torch.Tensor, value: float) -> torch.Tensor:
    t = t.detach().clone()
    t.view(-1)[t.numel() // 2] = value
    return t


def bad_tensors(arg: str, *, types: bool = True, dtype: bool = True, shape: bool = True,
                device: bool = True, finite: bool = False, integer: bool = False,
                grow_dim: int = 0, optional: bool = False) -> st.SearchStrategy:
    """Bad versions of the valid tensor ``kw[arg]``: not a tensor (``None`` too unless
    ``optional``), another dtype, another shape (one more dim; one more entry along
    ``grow_dim``), the meta device, NaN/inf."""
    out = []
    if types:
        out.append((NOT_TENSOR_OR_NONE if optional else NOT_TENSOR) | derived(
            TypeError, **{f"{arg}.tolist()": lambda kw: kw[arg].tolist(),
                          f"{arg}.numpy()": lambda kw: kw[arg].detach().numpy()}))
    if dtype:
        makers = ({f"{arg}.float()": lambda kw: kw[arg].float(),
                   f"{arg}.bool()": lambda kw: kw[arg].bool()} if integer else
                  {f"{arg} other float": lambda kw: _other_float(kw[arg]),
                   f"{arg}.long()": lambda kw: kw[arg].detach().long(),
                   f"{arg} complex": lambda kw: kw[arg].detach().to(torch.complex128)})
        out.append(derived(TypeError, **makers))
    if shape:
        def grow(kw):
            t = kw[arg].detach()
            return torch.cat([t, t.narrow(grow_dim, 0, 1)], dim=grow_dim)

        out.append(derived(ValueError, **{f"{arg}.unsqueeze(0)": lambda kw: kw[arg].unsqueeze(0),
                                          f"{arg} grown on dim {grow_dim}": grow}))
    if device:
        out.append(derived(ValueError, **{f"{arg} on meta": lambda kw: kw[arg].to("meta")}))
    if finite:
        out.append(derived(ValueError, **{f"{arg} with {v}": partial(
            lambda kw, v: _with(kw[arg], v), v=v) for v in (math.nan, math.inf, -math.inf)}))
    return st.one_of(*out)


# --- state: everything a call could change ---------------------------------------------


def _bits(t: torch.Tensor) -> bytes | str:
    if t.device.type == "meta":
        return f"meta{tuple(t.shape)}{t.dtype}"
    t = t.detach()
    if t.is_complex():
        t = torch.view_as_real(t)
    storage = t.untyped_storage()
    if t.numel() * t.element_size() > storage.nbytes():  # an expanded view: its storage once
        raw = torch.empty(0, dtype=torch.uint8).set_(storage)
        return (t.stride(), t.storage_offset(), raw.cpu().numpy().tobytes())
    return t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _tensor_state(t: torch.Tensor):
    hooks = len(t._backward_hooks or {}) if t.is_leaf else 0
    grad = t.grad if t.is_leaf or t.retains_grad else None  # a non-leaf has none to read
    return (tuple(t.shape), t.dtype, str(t.device), t.requires_grad, _bits(t),
            None if grad is None else _bits(grad), hooks)


def _state(obj: Any, seen: set[int]) -> Any:
    if id(obj) in seen:
        return "<seen>"
    if isinstance(obj, torch.Tensor):
        seen.add(id(obj))
        return _tensor_state(obj)
    if isinstance(obj, nn.Module):
        seen.add(id(obj))
        return ("module", [(n, m.training) for n, m in obj.named_modules()],
                [(n, _tensor_state(p)) for n, p in obj.named_parameters(remove_duplicate=False)],
                [(n, _tensor_state(b)) for n, b in obj.named_buffers()])
    if isinstance(obj, torch.optim.Optimizer):
        seen.add(id(obj))
        state = obj.state_dict()
        return ("optimizer", _state(state["state"], seen), repr(state["param_groups"]))
    if isinstance(obj, Axes):
        return ("axes", len(obj.get_children()), obj.get_title())
    if isinstance(obj, Figure):
        return ("figure", [len(ax.get_children()) for ax in obj.axes])
    if isinstance(obj, dict | list | tuple):
        seen.add(id(obj))
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        return (type(obj).__name__, [(repr(k), _state(v, seen)) for k, v in items])
    if isinstance(obj, np.ndarray):
        return ("ndarray", obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, os.PathLike):  # a file a call may write: its bytes, or a directory
        path = Path(obj)
        return ("path", str(path), path.read_bytes() if path.is_file() else path.is_dir())
    if isinstance(obj, io.BytesIO):
        return ("bytesio", obj.getvalue(), obj.tell()) if not obj.closed else "closed"
    if isinstance(obj, io.IOBase):
        return ("file", getattr(obj, "name", None), obj.closed,
                None if obj.closed or not obj.seekable() else obj.tell())
    ours = type(obj).__module__.startswith("birnn_utils") or type(obj).__module__ == __name__
    if ours and hasattr(obj, "__dict__") and not inspect.isroutine(obj):
        seen.add(id(obj))
        return (type(obj).__name__, _state(vars(obj), seen))
    return repr(obj)


def global_state() -> tuple:
    np_state = np.random.get_state()
    return (random.getstate(), (np_state[0], np_state[1].tobytes(), *np_state[2:]),
            _bits(torch.get_rng_state()), torch.are_deterministic_algorithms_enabled(),
            torch.get_num_threads(), tuple(plt.get_fignums()),
            tuple(_state(m.canvas.figure, set())
                  for m in _pylab_helpers.Gcf.get_all_fig_managers()))


def snapshot_state(kwargs: dict) -> tuple:
    return global_state(), _state(kwargs, set())


OUTCOMES = ("clear error", "wrong type", "unclear", "silent wrong result", "crash",
            "state changed")
VALID_OUTCOMES = ("right result", "silent wrong result", "crash", "state changed")


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang(f"no answer within {CALL_TIMEOUT_S} s (a hang)")


def _timed_call(call: Callable[..., Any], kwargs: dict) -> Any:
    """``call(**kwargs)``, stopped by a _Hang after CALL_TIMEOUT_S (main thread only)."""
    if not hasattr(signal, "setitimer") or not _main_thread():
        return call(**kwargs)
    previous = signal.signal(signal.SIGALRM, _alarm)
    # Again every second after the first: an alarm that lands in a callback whose
    # exceptions are ignored (a gc callback) must not let the hang go on.
    signal.setitimer(signal.ITIMER_REAL, CALL_TIMEOUT_S, 1.0)
    try:
        return call(**kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def names_argument(message: str, name: str) -> bool:
    """``name`` appears in ``message`` as a whole word (``x`` is not found in ``x_eval``)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) is not None


def _shows_given(message: str, value: Any, error: type[Exception]) -> bool:
    """Does the message show what was given? Its type for a TypeError, the int itself
    for a ValueError on an int; tensors and containers are not inspected."""
    if error is TypeError and not isinstance(value, torch.Tensor | list | tuple | dict):
        return type(value).__name__ in message
    if error is ValueError and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) >= 10**300:  # no float shows it: its number of digits must appear
            return str(value) in message or f"{len(str(abs(value)))} digits" in message
        return str(value) in message or f"{value:.3g}" in message
    return True


def classify(target: Target, arg: str, bad: Bad) -> tuple[str, str]:
    """Run ``target`` with ``arg`` made bad; return (outcome, detail)."""
    kwargs = target.valid()
    kwargs[arg] = bad.make(kwargs)
    before = snapshot_state(kwargs)
    try:
        _timed_call(target.call, kwargs)
    except Exception as e:  # noqa: BLE001 - an unexpected exception is what we look for
        if not isinstance(e, TypeError | ValueError | bad.error) or isinstance(e, _Hang):
            return "crash", f"{type(e).__name__}: {e}"
        raised: Exception = e
    else:
        plt.close("all")
        return "silent wrong result", "no exception"
    finally:
        after = snapshot_state(kwargs)
    message = f"{type(raised).__name__}: {raised}"
    if after != before:
        plt.close("all")
        return "state changed", message
    if not isinstance(raised, bad.error):
        return "wrong type", message
    expected_name = target.names.get(arg, arg)
    if not names_argument(str(raised), expected_name) or \
            not _shows_given(str(raised), kwargs[arg], bad.error):
        return "unclear", message
    return "clear error", message


def classify_valid(case: OddValid) -> tuple[str, str]:
    """Run an odd-but-valid case; return (outcome, detail)."""
    before = global_state()
    try:
        problem = _timed_call(case.run, {})
    except Exception as e:  # noqa: BLE001
        return "crash", f"{type(e).__name__}: {e}"
    finally:
        after = global_state()
        plt.close("all")
    if problem is not None:
        return "silent wrong result", problem
    allowed = {2} if "torch_rng" in case.changes else set()  # index of torch's RNG state
    moved = [i for i, (a, b) in enumerate(zip(before, after, strict=True))
             if a != b and i not in allowed]
    if moved:
        names = ["random", "numpy", "torch RNG", "deterministic flag", "threads", "figures",
                 "figure contents"]
        return "state changed", "moved: " + ", ".join(names[i] for i in moved)
    return "right result", "as expected"


def cases() -> list[tuple[str, str]]:
    return [(name, arg) for name, target in TARGETS.items() for arg in target.bad]


def valid_cases() -> list[tuple[str, str]]:
    return [(module, case.label) for module, found in ODD_VALID.items() for case in found]


# ----------------------------------------------------------------------- valid examples


def _seeded(factory: Callable[[], Any]) -> Any:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return factory()


def gru64(**kwargs) -> nn.GRU:
    return _seeded(lambda: nn.GRU(3, 4, dtype=F64, **kwargs))


def _cell_args(gates: int) -> dict:
    return {"x": torch.randn(2, 3, dtype=F64), "h": torch.randn(2, 4, dtype=F64),
            "w_ih": torch.randn(gates * 4, 3, dtype=F64),
            "w_hh": torch.randn(gates * 4, 4, dtype=F64),
            "b_ih": torch.randn(gates * 4, dtype=F64), "b_hh": torch.randn(gates * 4, dtype=F64)}


def _cell_bads(optional_bias: bool = True) -> dict:
    bads = {arg: bad_tensors(arg) for arg in ("x", "h", "w_ih", "w_hh")}
    for arg in ("b_ih", "b_hh"):
        bads[arg] = NOT_TENSOR_OR_NONE | bad_tensors(arg, types=False)
    return bads


def _lstm_args() -> dict:
    args = _cell_args(4)
    args["state"] = (args.pop("h"), torch.randn(2, 4, dtype=F64))
    return args


# --------------------------------------------------------------------------- validation

MODULES.append(validation)
EXEMPT["validation.describe"] = "takes any value (it describes it for a message)"
_named = {"value": "size"}
register(validation.check_bool, lambda: {"name": "size", "value": True}, _names=_named,
         value=NOT_BOOL)
register(validation.check_int, lambda: {"name": "size", "value": 3, "minimum": 1, "maximum": 9},
         _names=_named, value=NOT_INT | ints_outside(1, 9))
register(validation.check_float, lambda: {"name": "size", "value": 0.5, "minimum": 0.0,
                                          "maximum": 1.0},
         _names=_named, value=NOT_REAL | floats_outside(0.0, 1.0))
register(validation.check_choice, lambda: {"name": "size", "value": "a", "choices": ["a", "b"]},
         _names=_named, value=NOT_STR | values(ValueError, "c", "A", ""))
register(validation.check_tensor, lambda: {"name": "size", "value": torch.zeros(2, 3, dtype=F64),
                                           "dim": 2, "dtype": F64, "finite": True,
                                           "device": "cpu", "shape": (2, None)},
         _names=_named, value=bad_tensors("value", finite=True))
register(validation.check_module, lambda: {"name": "size", "value": nn.Linear(1, 1)},
         _names=_named, value=NOT_MODULE)
register(validation.check_callable, lambda: {"name": "size", "value": len}, _names=_named,
         value=generated(st.one_of(st.integers(), st.text(max_size=2), st.none()), TypeError))
register(validation.check_str, lambda: {"name": "size", "value": "a"}, _names=_named,
         value=NOT_STR | values(ValueError, ""))
register(validation.check_seed, lambda: {"name": "size", "value": 3}, _names=_named,
         value=NOT_INT | ints_outside(0, 2**32 - 1))
register(validation.check_like, lambda: {"name": "size", "value": torch.zeros(2),
                                         "other_name": "x", "other": torch.zeros(3)},
         _names=_named, value=bad_tensors("value", types=False, shape=False))
register(validation.check_real_vector, lambda: {"name": "size", "value": [1.0, 2.0],
                                                "min_length": 2},
         _names=_named, value=NOT_SEQUENCE | values(
             TypeError, ["a", "b"], [True, False], [1.0, None], torch.tensor([True]),
             np.array(["a"]), torch.tensor([1j, 2j])) | values(
             ValueError, [1.0], [1.0, math.nan], [[1.0, 2.0]], np.ones((2, 2)), [math.inf, 1.0],
             torch.ones(2, device="meta")))
register(validation.check_mapping, lambda: {"name": "size", "value": {"a": 1}}, _names=_named,
         value=NOT_SEQUENCE | values(TypeError, [("a", 1)]) | values(ValueError, {}))
if hasattr(validation, "check_device"):  # new in issue 30 (the census runs older code too)
    register(validation.check_device, lambda: {"name": "size", "value": torch.zeros(2),
                                               "other_name": "x", "other": torch.zeros(3)},
             _names=_named, value=derived(ValueError, **{"on meta": lambda kw: kw[
                 "value"].to("meta")}))
    register(validation.check_elements, lambda: {"what": "the x", "count": 6,
                                                 "given": "size=6"},
             _names={"count": "size"}, count=ints_outside(None, CAP))
for _key, _target in list(TARGETS.items()):
    if _key.startswith("validation."):
        for _arg in inspect.signature(_target.func).parameters:
            if _arg not in _target.bad:
                ARGS_EXEMPT[f"{_key}:{_arg}"] = (
                    "set by the package's own code (the name shown in messages, bounds, "
                    "options), never by a reader")

# -------------------------------------------------------------------------------- cells

MODULES.append(cells)
register(cells.CellWeights,
         lambda: {k: v for k, v in _cell_args(3).items() if k.startswith(("w", "b"))},
         w_ih=NOT_TENSOR, w_hh=NOT_TENSOR, b_ih=NOT_TENSOR_OR_NONE, b_hh=NOT_TENSOR_OR_NONE,
         w_hr=NOT_TENSOR_OR_NONE)
register(cells.check_recurrent_module, lambda: {"module": gru64()}, module=NOT_RECURRENT)
ARGS_EXEMPT["cells.check_recurrent_module:name"] = "the name its messages show, set by the caller"
register(cells.state_size, lambda: {"module": gru64()}, module=NOT_RECURRENT)
register(cells.cell_weights,
         lambda: {"module": _seeded(lambda: nn.GRU(3, 4, num_layers=2)), "layer": 1,
                  "reverse": False},
         module=NOT_RECURRENT, layer=NOT_INT | ints_outside(0, 1), reverse=NOT_BOOL)
register(cells.rnn_cell, lambda: {**_cell_args(1), "nonlinearity": "tanh"}, **_cell_bads(),
         nonlinearity=NOT_STR | values(ValueError, "sigmoid", "Tanh", ""))
register(cells.gru_cell, lambda: _cell_args(3), **_cell_bads())
register(cells.lstm_cell, lambda: {**_lstm_args(), "w_hr": None},
         **{k: v for k, v in _cell_bads().items() if k != "h"},
         _names={"state": "state"},
         state=NOT_TENSOR | derived(
             TypeError, **{"(h,)": lambda kw: kw["state"][:1],
                           "(h, c, c)": lambda kw: (*kw["state"], kw["state"][1]),
                           "(h, list)": lambda kw: (kw["state"][0], [0.0] * 8),
                           "(h, c.float())": lambda kw: (kw["state"][0], kw["state"][1].float())}
         ) | derived(ValueError, **{"(h, c[:1])": lambda kw: (kw["state"][0], kw["state"][1][:1]),
                                    "(h on meta, c)": lambda kw: (kw["state"][0].to("meta"),
                                                                  kw["state"][1])}),
         w_hr=values(TypeError, [[1.0] * 4] * 2, 1.0, "w") | derived(
             ValueError, **{"w_hr (2, 3)": lambda kw: torch.zeros(2, 3, dtype=F64),
                            "w_hr on meta": lambda kw: torch.zeros(4, 4, dtype=F64, device="meta")})
         | derived(TypeError, **{"w_hr float32": lambda kw: torch.zeros(4, 4)}))

# ---------------------------------------------------------------------------- recurrent

MODULES.append(recurrent)
register(recurrent.cell_for, lambda: {"module": gru64()}, module=NOT_RECURRENT)


def _run_cell_args() -> dict:
    module = gru64()
    return {"cell": cells.gru_cell, "x": torch.randn(5, 2, 3, dtype=F64),
            "h0": torch.zeros(2, 4, dtype=F64), "weights": cells.cell_weights(module),
            "reverse": False}


register(recurrent.run_cell, _run_cell_args,
         cell=generated(st.one_of(st.integers(), st.text(max_size=3), st.none()), TypeError),
         x=bad_tensors("x", grow_dim=1) | derived(ValueError, **{"x[:0]": lambda kw: kw["x"][:0],
                                                                 "x[0]": lambda kw: kw["x"][0]}),
         h0=bad_tensors("h0"), reverse=NOT_BOOL,
         weights=NOT_TENSOR | derived(TypeError, **{
             "weights[:3]": lambda kw: tuple(kw["weights"])[:3],
             "weights with a list": lambda kw: (kw["weights"][0].tolist(), *kw["weights"][1:]),
             "a dict": lambda kw: kw["weights"]._asdict()}))


def _scratch_args(kind: str = "gru") -> dict:
    cls = {"gru": nn.GRU, "lstm": nn.LSTM}[kind]
    module = _seeded(lambda: cls(3, 4, num_layers=2, bidirectional=True, dtype=F64))
    hx = torch.zeros(4, 2, 4, dtype=F64)
    return {"module": module, "x": torch.randn(5, 2, 3, dtype=F64),
            "hx": (hx, hx.clone()) if kind == "lstm" else hx}


register(recurrent.scratch_forward, _scratch_args, module=NOT_RECURRENT,
         x=bad_tensors("x", grow_dim=2) | derived(ValueError, **{"x[:0]": lambda kw: kw["x"][:0]}),
         hx=bad_tensors("hx", grow_dim=1, optional=True))
register(recurrent.scratch_forward, lambda: _scratch_args("lstm"),
         _key="recurrent.scratch_forward:lstm",
         hx=NOT_TENSOR_OR_NONE | derived(TypeError, **{
             "h0 alone": lambda kw: kw["hx"][0], "(h0,)": lambda kw: kw["hx"][:1],
             "(h0, None)": lambda kw: (kw["hx"][0], None),
             "(h0, c0.float())": lambda kw: (kw["hx"][0], kw["hx"][1].float())})
         | derived(ValueError, **{"(h0, c0[:1])": lambda kw: (kw["hx"][0], kw["hx"][1][:1]),
                                  "(h0 on meta, c0)": lambda kw: (kw["hx"][0].to("meta"),
                                                                  kw["hx"][1])}))

# --------------------------------------------------------------------------------- bptt

MODULES.append(bptt)
register(bptt.RNNGradients,
         lambda: {"w_ih": torch.zeros(4, 3), "w_hh": torch.zeros(4, 4), "b_ih": None,
                  "b_hh": torch.zeros(4), "h0": torch.zeros(2, 4)},
         w_ih=NOT_TENSOR, w_hh=NOT_TENSOR, h0=NOT_TENSOR, b_ih=NOT_TENSOR_OR_NONE,
         b_hh=NOT_TENSOR_OR_NONE)


def _bptt_args() -> dict:
    args = {"x": torch.randn(5, 2, 3, dtype=F64), "h0": torch.randn(2, 4, dtype=F64),
            "w_ih": torch.randn(4, 3, dtype=F64), "w_hh": torch.randn(4, 4, dtype=F64),
            "b_ih": torch.randn(4, dtype=F64), "b_hh": torch.randn(4, dtype=F64),
            "grad_outputs": torch.randn(5, 2, 4, dtype=F64)}
    return args


register(bptt.rnn_bptt_gradients, _bptt_args,
         **{arg: bad_tensors(arg, dtype=arg != "x") for arg in
            ("x", "h0", "w_ih", "w_hh", "grad_outputs")},
         b_ih=NOT_TENSOR_OR_NONE | bad_tensors("b_ih", types=False),
         b_hh=NOT_TENSOR_OR_NONE | bad_tensors("b_hh", types=False))
register(bptt.hidden_state_gradient_norms,
         lambda: {"module": gru64(), "x": torch.randn(5, 2, 3, dtype=F64),
                  "h0": torch.zeros(1, 2, 4, dtype=F64),
                  "grad_output": torch.ones(2, 4, dtype=F64)},
         module=NOT_RECURRENT | values(ValueError, nn.GRU(3, 4, num_layers=2),
                                       nn.GRU(3, 4, bidirectional=True)),
         x=bad_tensors("x", grow_dim=2), h0=bad_tensors("h0", grow_dim=1, optional=True),
         grad_output=bad_tensors("grad_output", dtype=False, finite=True, optional=True))
register(bptt.with_spectral_radius,
         lambda: {"matrix": torch.randn(4, 4, dtype=F64), "radius": 0.9},
         matrix=bad_tensors("matrix", dtype=False, device=False, finite=True) | derived(
             TypeError, **{"matrix.long()": lambda kw: kw["matrix"].long(),
                           "matrix float16": lambda kw: kw["matrix"].half()})
         | derived(ValueError, **{"float32 NaN": lambda kw: _with(kw["matrix"].float(), math.nan),
                                  "matrix on meta": lambda kw: kw["matrix"].to("meta"),
                                  "matrix (4, 3)": lambda kw: kw["matrix"][:, :3]}),
         radius=NOT_REAL | floats_outside(0.0, None, low_inclusive=False))
register(bptt.geometric_rate, lambda: {"distances": [0, 1, 2], "norms": [1.0, 0.5, 0.25]},
         distances=NOT_SEQUENCE | values(TypeError, ["a", "b", "c"], [True, False, True])
         | values(ValueError, [0], [0, 1], [1, 1, 1], [0, math.nan, 2]),
         norms=NOT_SEQUENCE | values(TypeError, ["a", "b", "c"], [1j, 2j, 3j])
         | values(ValueError, [1.0, 0.0, 1.0], [1.0, -1.0, 2.0], [1.0, math.inf, 2.0],
                  [1.0, 2.0]))

# ---------------------------------------------------------------------------- reverse

MODULES.append(reverse)


def _bi_gru(**kwargs) -> nn.GRU:
    return _seeded(lambda: nn.GRU(3, 4, num_layers=2, bidirectional=True, **kwargs))


register(reverse.reverse_direction, lambda: {"module": _bi_gru(), "layer": 1, "share": True},
         module=NOT_RECURRENT | values(ValueError, nn.GRU(3, 4)),
         layer=NOT_INT | ints_outside(0, 1), share=NOT_BOOL)
register(reverse.reverse_sequence,
         lambda: {"x": torch.randn(5, 3, 2), "lengths": [5, 2, 4], "batch_first": False},
         x=NOT_TENSOR | derived(ValueError, **{"x[0, 0]": lambda kw: kw["x"][0, 0]}),
         lengths=generated(st.one_of(st.integers(), st.text(max_size=3), st.just({5, 2, 4})),
                           TypeError)
         | values(TypeError, [5.0, 2, 4], [True, 2, 4], ["5", "2", "4"])
         | values(ValueError, [5, 2], [6, 2, 4], [0, 2, 4], [-1, 2, 4])
         | derived(TypeError, **{"float tensor": lambda kw: torch.tensor([5.0, 2.0, 4.0])})
         | derived(ValueError, **{"2-D tensor": lambda kw: torch.tensor([[5, 2, 4]])}),
         batch_first=NOT_BOOL)
register(reverse.merge_directions,
         lambda: {"forward": _seeded(lambda: nn.GRU(3, 4)),
                  "backward": _seeded(lambda: nn.GRU(3, 4))},
         forward=NOT_RECURRENT | values(ValueError, nn.GRU(3, 5), nn.GRU(3, 4, num_layers=2),
                                        nn.GRU(3, 4, bidirectional=True), nn.GRU(3, 4, bias=False))
         | values(TypeError, nn.LSTM(3, 4)),
         backward=NOT_RECURRENT | values(ValueError, nn.GRU(2, 4), nn.GRU(3, 4, dtype=F64),
                                         nn.GRU(3, 4, batch_first=True)))
register(reverse.first_layers, lambda: {"module": _bi_gru(), "num_layers": 1, "share": False},
         module=NOT_RECURRENT, num_layers=NOT_INT | ints_outside(1, 2), share=NOT_BOOL)

# ---------------------------------------------------------------------------- freezing

MODULES.append(freezing)


def _tagger() -> training.SequenceTagger:
    return _seeded(lambda: training.SequenceTagger(4, 5, 4, bidirectional=True))


def _half_frozen() -> training.SequenceTagger:
    model = _tagger()
    model.rnn.weight_ih_l0.requires_grad_(False)
    model.head.eval()  # a mixed mode must survive too
    return model


_PATTERN = NOT_STR | values(ValueError, "nope", "HEAD.*", "head", "")
register(freezing.freeze, lambda: {"module": _half_frozen(), "pattern": "rnn.*"},
         _call=lambda module, pattern: freezing.freeze(module, pattern),
         module=NOT_MODULE, pattern=_PATTERN, _names={"pattern": "patterns"})
register(freezing.unfreeze, lambda: {"module": _half_frozen(), "pattern": "rnn.*"},
         _call=lambda module, pattern: freezing.unfreeze(module, pattern),
         module=NOT_MODULE, pattern=_PATTERN, _names={"pattern": "patterns"})
register(freezing.trainable_parameters, lambda: {"module": _half_frozen()}, module=NOT_MODULE)
_NAMES = generated(st.one_of(st.integers(), st.text(max_size=3), st.just(b"head.bias")),
                   TypeError) | values(TypeError, [0], ["head.bias", None]) | values(
                       ValueError, ["nope"], ["head.bias", "head"])
register(freezing.snapshot, lambda: {"module": _half_frozen(), "names": ["head.bias"]},
         module=NOT_MODULE, names=_NAMES)
register(freezing.changed_parameters,
         lambda: (lambda m: {"before": freezing.snapshot(m), "module": m})(_half_frozen()),
         module=NOT_MODULE,
         before=NOT_SEQUENCE | values(TypeError, [1.0], {"rnn.weight_ih_l0": 1.0},
                                      {0: torch.zeros(1)}, {"head.bias": [0.0]}))


def _enter_assert_unchanged(module, names):
    with freezing.assert_unchanged(module, names):
        pass


register(freezing.assert_unchanged, lambda: {"module": _half_frozen(), "names": None},
         _call=_enter_assert_unchanged, module=NOT_MODULE, names=_NAMES)
register(freezing.ParameterRow, lambda: {"name": "w", "shape": (2, 3), "count": 6,
                                         "trainable": True},
         name=NOT_STR, shape=NOT_SEQUENCE | values(TypeError, [2, 3], (2.0, 3), (True, 3))
         | values(ValueError, (-2, -3)),
         count=NOT_INT | generated(st.integers().filter(lambda n: n != 6), ValueError),
         trainable=NOT_BOOL)
register(freezing.ParameterTable, lambda: {"rows": [freezing.ParameterRow("w", (2,), 2, True)]},
         rows=generated(st.one_of(st.integers(), st.none(), st.text(max_size=2)), TypeError)
         | values(TypeError, [("w", (2,), 2, True)], [None]))

# ---------------------------------------------------------------------------- data

MODULES.append(data)
_SIZE = NOT_INT | ints_outside(1, None)
register(data.shifted_copy, lambda: {"n": 3, "seq_len": 5, "vocab": 4, "shift": 1, "seed": 0},
         n=_SIZE, seq_len=_SIZE, vocab=NOT_INT | ints_outside(2, None),
         shift=NOT_INT | ints_outside(-4, 4), seed=NOT_INT | ints_outside(0, 2**32 - 1))
register(data.local_peak, lambda: {"n": 3, "seq_len": 5, "vocab": 4, "seed": 0, "radius": 1},
         n=_SIZE | ints_outside(None, 10**7), seq_len=NOT_INT | ints_outside(3, 10**8),
         vocab=NOT_INT | ints_outside(2, 10**7), seed=NOT_INT | ints_outside(0, 2**32 - 1),
         radius=NOT_INT | ints_outside(1, 2))
register(data.next_symbol,
         lambda: {"n": 3, "seq_len": 5, "symbols": 4, "blank_prob": 0.7, "seed": 0},
         n=_SIZE | ints_outside(None, 10**7), seq_len=NOT_INT | ints_outside(2, 10**8),
         symbols=NOT_INT | ints_outside(2, 10**7),
         blank_prob=NOT_REAL | floats_outside(0.0, 1.0) | values(ValueError, 1.0),
         seed=NOT_INT | ints_outside(0, 2**32 - 1))
register(data.random_lengths, lambda: {"n": 3, "min_len": 2, "max_len": 5, "seed": 0},
         n=_SIZE | ints_outside(None, 10**8), min_len=NOT_INT | ints_outside(1, 5),
         max_len=NOT_INT | ints_outside(2, None), seed=NOT_INT | ints_outside(0, 2**32 - 1))
register(data.SequenceTask,
         lambda: {"x": torch.zeros(2, 3, 4), "y": torch.zeros(2, 3, dtype=torch.long),
                  "tokens": torch.zeros(2, 3, dtype=torch.long)},
         x=NOT_TENSOR | derived(ValueError, **{"x[0]": lambda kw: kw["x"][0]}),
         y=NOT_TENSOR | derived(ValueError, **{"y[:1]": lambda kw: kw["y"][:1]}),
         tokens=NOT_TENSOR | derived(ValueError, **{"tokens.T": lambda kw: kw["tokens"].T}))

# ---------------------------------------------------------------------------- training

MODULES.append(training)
register(training.SequenceTagger,
         lambda: {"input_size": 4, "hidden_size": 5, "num_classes": 3, "bidirectional": True,
                  "cell": "gru", "num_layers": 1},
         input_size=_SIZE | ints_outside(None, 10**7),
         hidden_size=_SIZE | ints_outside(None, 10**5),
         num_classes=_SIZE | ints_outside(None, 10**8),
         num_layers=_SIZE | ints_outside(None, 10**6),
         bidirectional=NOT_BOOL, cell=NOT_STR | values(ValueError, "GRU", "transformer", ""))
register(training.SequenceTagger.forward,
         lambda: {"model": _half_frozen(), "x": torch.zeros(2, 3, 4)},
         _call=lambda model, x: model(x),
         x=bad_tensors("x", grow_dim=2, finite=False) | derived(
             ValueError, **{"x[0]": lambda kw: kw["x"][0]}))
_METRIC_LIST = values(TypeError, "abc", [1.0, "x"], [True], None, (1.0,))
register(training.History, lambda: {"loss": [1.0], "accuracy": [0.5], "eval_accuracy": []},
         loss=_METRIC_LIST, accuracy=_METRIC_LIST, eval_accuracy=_METRIC_LIST)


def _task(n: int = 6):
    task = data.shifted_copy(n, 5, 4, 0, seed=0)
    return task.x, task.y


def _fit_args() -> dict:
    model = _half_frozen()
    model.rnn.weight_hh_l0.grad = torch.zeros_like(model.rnn.weight_hh_l0)  # a .grad kept
    x, y = _task()
    x_eval, y_eval = _task(4)
    return {"model": model, "x": x, "y": y, "epochs": 1, "lr": 0.01, "batch_size": 4,
            "seed": 0, "eval_data": (x_eval, y_eval), "optimizer": None, "params": None,
            "progress": False}


def _with_label(y: torch.Tensor, label: int) -> torch.Tensor:
    y = y.clone()
    y[0, 0] = label
    return y


_Y = bad_tensors("y", integer=True, grow_dim=1) | derived(ValueError, **{
    "y with label 4 of C=4": lambda kw: _with_label(kw["y"], 4),
    "y with label -2": lambda kw: _with_label(kw["y"], -2),
    "y all -100": lambda kw: torch.full_like(kw["y"], -100)})
register(training.fit, _fit_args, model=NOT_MODULE,
         x=bad_tensors("x", grow_dim=2, finite=True) | derived(
             ValueError, **{"x[:0]": lambda kw: kw["x"][:0]}),
         y=_Y, epochs=_SIZE,
         lr=NOT_REAL.filter(lambda bad: bad.label != "NoneType None")  # None: the default
         | floats_outside(0.0, float(torch.finfo(torch.float32).max) / 10,
                                      low_inclusive=False),  # Adam's first step is 10 lr
         batch_size=_SIZE, seed=NOT_INT | ints_outside(0, 2**32 - 1), progress=NOT_BOOL,
         eval_data=generated(st.one_of(st.integers(), st.text(max_size=2)), TypeError) | derived(
             TypeError, **{"x_eval alone": lambda kw: kw["eval_data"][0],
                           "(x_eval,)": lambda kw: kw["eval_data"][:1],
                           "(x_eval, y_eval.float())": lambda kw: (kw["eval_data"][0],
                                                                   kw["eval_data"][1].float()),
                           "(x_eval.double(), y_eval)": lambda kw: (kw["eval_data"][0].double(),
                                                                    kw["eval_data"][1])})
         | derived(ValueError, **{
             "(x_eval[..., :3], y_eval)": lambda kw: (kw["eval_data"][0][..., :3],
                                                      kw["eval_data"][1]),
             "(x_eval, y_eval with 7)": lambda kw: (kw["eval_data"][0],
                                                    _with_label(kw["eval_data"][1], 7)),
             "(x_eval with NaN, y_eval)": lambda kw: (_with(kw["eval_data"][0], math.nan),
                                                      kw["eval_data"][1])}),
         optimizer=values(TypeError, "adam", 0.1) | derived(TypeError, **{
             "Adam class": lambda kw: torch.optim.Adam}),
         params=values(TypeError, 1.0, [1.0], [None]) | values(ValueError, [], ())
         | derived(TypeError, **{"one tensor": lambda kw: kw["model"].head.weight}))
register(training.fit, lambda: {**_fit_args(), "lr": None,
                                "optimizer": "placeholder"},
         _key="training.fit:optimizer",
         _call=lambda optimizer, **kw: training.fit(
             optimizer=torch.optim.SGD(kw["model"].parameters(), lr=0.1), **kw),
         params=derived(ValueError, **{"params with optimizer": lambda kw: list(
             kw["model"].head.parameters())}),
         lr=values(ValueError, 5.0, 1e-2))  # an lr the optimizer would silently ignore
register(training.accuracy, lambda: {"model": _half_frozen(), "x": _task()[0], "y": _task()[1]},
         model=NOT_MODULE, x=bad_tensors("x", grow_dim=2, finite=True), y=_Y)

# ---------------------------------------------------------------------------- varlen

MODULES.append(varlen)


def _varlen_batch() -> dict:
    return {"tokens": torch.tensor([[0, 1, 2, 3], [2, 1, 0, 0]]),
            "lengths": torch.tensor([4, 2]),
            "y": torch.tensor([[0, 1, 0, -100], [1, -100, -100, -100]])}


def _varlen_model(**kind) -> varlen.VarLenTagger:
    model = _seeded(lambda: varlen.VarLenTagger(4, 3, 2, **kind).double())
    model.head.eval()  # a mixed mode must survive too
    return model


_VL_TOKENS = bad_tensors("tokens", integer=True, shape=False) | derived(ValueError, **{
    "tokens.unsqueeze(0)": lambda kw: kw["tokens"].unsqueeze(0),
    "tokens[:, :0]": lambda kw: kw["tokens"][:, :0],
    "tokens + 4": lambda kw: kw["tokens"] + 4,
    "tokens - 1": lambda kw: kw["tokens"] - 1})
_VL_LENGTHS = bad_tensors("lengths", integer=True, grow_dim=0) | derived(ValueError, **{
    "lengths * 0": lambda kw: kw["lengths"] * 0,
    "lengths + 1": lambda kw: kw["lengths"] + 1})
_VL_MODEL = NOT_MODULE | values(TypeError, nn.GRU(4, 3))
register(varlen.check_lengths,
         lambda: {"lengths": torch.tensor([1, 3]), "steps": 3, "n": 2, "name": "lengths"},
         lengths=_VL_LENGTHS, steps=NOT_INT | ints_outside(1, None),
         n=NOT_INT | ints_outside(0, None), name=NOT_STR | values(ValueError, ""))
register(varlen.reverse_padded,
         lambda: {"x": torch.randn(2, 4, 3, dtype=F64), "lengths": torch.tensor([4, 2])},
         x=bad_tensors("x", dtype=False, shape=False, device=False) | derived(ValueError, **{
             "x.unsqueeze(0)": lambda kw: kw["x"].unsqueeze(0),
             "x[:, :0]": lambda kw: kw["x"][:, :0]}),
         lengths=_VL_LENGTHS)
register(varlen.VarLenTagger,
         lambda: {"vocab": 4, "hidden_size": 3, "num_classes": 2, "bidirectional": False,
                  "delay": 2},
         vocab=NOT_INT | ints_outside(1, 10**5), hidden_size=NOT_INT | ints_outside(1, 10**4),
         num_classes=NOT_INT | ints_outside(1, 10**5), delay=NOT_INT | ints_outside(0, 10**4),
         bidirectional=NOT_BOOL | values(ValueError, True))
register(varlen.VarLenTagger.forward,
         lambda: {"model": _varlen_model(bidirectional=True), **_varlen_batch()},
         _call=lambda model, tokens, lengths, y: model(tokens, lengths),
         tokens=_VL_TOKENS, lengths=_VL_LENGTHS)
for _vl in (varlen.packed_logits, varlen.predict):
    register(_vl, lambda: {"model": _varlen_model(delay=1), **_varlen_batch()},
             _call=lambda y, _f=_vl, **kw: _f(**kw),
             model=_VL_MODEL, tokens=_VL_TOKENS, lengths=_VL_LENGTHS)
register(varlen.History, lambda: {"loss": [1.0], "eval_score": []},
         loss=_METRIC_LIST, eval_score=_METRIC_LIST)


def _varlen_fit_args() -> dict:
    return {"model": _varlen_model(), **_varlen_batch(), "epochs": 1, "lr": 0.01,
            "batch_size": 2, "seed": 0, "eval_data": tuple(_varlen_batch().values()),
            "score": None, "schedule": "decay", "progress": False}


def _vl_eval(index: int, value: Callable[[torch.Tensor], torch.Tensor]):
    def make(kw):
        triple = list(kw["eval_data"])
        triple[index] = value(triple[index])
        return tuple(triple)
    return make


register(varlen.fit, _varlen_fit_args, model=_VL_MODEL, tokens=_VL_TOKENS,
         lengths=_VL_LENGTHS,
         y=bad_tensors("y", integer=True, grow_dim=1) | derived(ValueError, **{
             "y with label 2 of C=2": lambda kw: _with_label(kw["y"], 2),
             "y with label -2": lambda kw: _with_label(kw["y"], -2),
             "y all -100": lambda kw: torch.full_like(kw["y"], -100),
             "y labelled on padding": lambda kw: torch.zeros_like(kw["y"])}),
         epochs=NOT_INT | ints_outside(1, 10**6),
         lr=NOT_REAL | floats_outside(0.0, 1e3, low_inclusive=False),
         batch_size=_SIZE, seed=NOT_INT | ints_outside(0, 2**32 - 1), progress=NOT_BOOL,
         schedule=NOT_STR | values(ValueError, "linear", "Decay", ""),
         score=values(TypeError, 3, "f1"),
         eval_data=generated(st.one_of(st.integers(), st.text(max_size=2)), TypeError)
         | derived(TypeError, **{
             "(tokens, lengths)": lambda kw: kw["eval_data"][:2],
             "(tokens.float(), lengths, y)": _vl_eval(0, lambda t: t.float())})
         | derived(ValueError, **{
             "(tokens, lengths[:1], y)": _vl_eval(1, lambda t: t[:1]),
             "(tokens, lengths, y with 5)": _vl_eval(2, lambda t: _with_label(t, 5))}))

MODULES.append(corpus)
register(corpus.space_pieces, lambda: {"texts": ["ab cd. ef gh", "ijk"], "max_len": 3},
         texts=NOT_SEQUENCE | values(TypeError, "ab cd", ["ab", 3], [b"ab"])
         | values(ValueError, [], [""], [" "], ["Ab"], ["a\tb"]),
         max_len=NOT_INT | ints_outside(1, 10**5))
for _name in ("load_topics", "clean_prose", "split_topics", "encode", "space_tagging",
              "insert_spaces", "NgramSpacer", "space_scores"):
    EXEMPT[f"corpus.{_name}"] = "bad inputs tested in tests/test_corpus.py (before this suite)"
EXEMPT["corpus.SpaceScores"] = "a NamedTuple of four floats"
EXEMPT["corpus.SpacePieces"] = "a NamedTuple of three tensors (space_pieces builds it)"

# ----------------------------------------------------------------------------- delayed

register(delayed.next_symbol_ceiling,
         lambda: {"symbols": 4, "blank_prob": 0.7, "seq_len": 24, "lookahead": 2},
         symbols=NOT_INT | ints_outside(2, None),
         blank_prob=NOT_REAL | floats_outside(0.0, 1.0) | values(ValueError, 1.0),
         seq_len=NOT_INT | ints_outside(2, None), lookahead=NOT_INT | ints_outside(0, None))

# ------------------------------------------------------------------- plotting and display

MODULES.append(plotting)
for _draw in (plotting.draw_unrolled_rnn, plotting.draw_unrolled_birnn):
    register(_draw, lambda: {"steps": 3, "ax": None},
             steps=NOT_INT | ints_outside(1, plotting.MAX_STEPS),
             ax=generated(st.one_of(st.integers(), st.text(max_size=2)), TypeError)
             | values(TypeError, plt.figure))


class FakeHistory:
    def __init__(self, loss):
        self.loss = loss


register(plotting.plot_history,
         lambda: {"histories": {"a": FakeHistory([1.0, 0.5])}, "metric": "loss", "ax": None},
         histories=NOT_SEQUENCE | values(TypeError, [FakeHistory([1.0])], {"a": {"loss": [1.0]}},
                                         {"a": FakeHistory("ab")}, {"a": FakeHistory([True])})
         | values(ValueError, {}, {"a": FakeHistory([])}, {"a": FakeHistory([1.0, math.nan])},
                  {"a": FakeHistory([[1.0]])}),
         metric=NOT_STR | values(ValueError, "", "perplexity"),
         ax=generated(st.one_of(st.integers(), st.text(max_size=2)), TypeError))
register(plotting.plot_grad_norms,
         lambda: {"distances": [0, 1, 2], "norms": {"a": [1.0, 0.5, 0.25]}, "ax": None,
                  "log": True},
         distances=NOT_SEQUENCE | values(TypeError, ["a", "b", "c"], [True, False, True])
         | values(ValueError, [0, 1], [0, math.inf, 2]),
         norms=NOT_SEQUENCE | values(TypeError, [[1.0, 0.5, 0.25]], {"a": "abc"})
         | values(ValueError, {}, {"a": [1.0, 0.0, 1.0]}, {"a": [1.0, math.nan, 1.0]},
                  {"a": [1.0]}),
         ax=generated(st.one_of(st.integers(), st.text(max_size=2)), TypeError), log=NOT_BOOL)

MODULES.append(display)
register(display.figure_text, lambda: {"fig": Figure()},
         fig=generated(st.one_of(st.integers(), st.text(max_size=2), st.none()), TypeError))
EXEMPT["display.install_figure_text"] = "takes no argument"

MODULES.append(reproducibility)
register(reproducibility.make_deterministic, lambda: {"seed": 0, "threads": 1},
         seed=NOT_INT | ints_outside(0, 2**32 - 1),
         threads=NOT_INT | ints_outside(1, reproducibility.MAX_THREADS))

# ------------------------------------------------------------------- gates, memory_tasks

MODULES.append(memory_tasks)
register(memory_tasks.recall_first_token,
         lambda: {"n": 3, "seq_len": 5, "vocab": 4, "noise": 2, "min_lag": 1, "seed": 0},
         n=NOT_INT | ints_outside(1, None), seq_len=NOT_INT | ints_outside(2, None),
         vocab=NOT_INT | ints_outside(2, None), noise=NOT_INT | ints_outside(1, None),
         min_lag=NOT_INT | ints_outside(1, 4), seed=NOT_INT | ints_outside(0, 2**32 - 1))


def _gates_args():
    return {"x": torch.randn(2, 3, dtype=F64), "h": torch.randn(2, 4, dtype=F64),
            "weights": cells.cell_weights(gru64()), "variant": "cho"}


_W_BAD = NOT_TENSOR | values(TypeError, (1, 2)) | derived(
    ValueError, **{"lstm weights": lambda kw: cells.cell_weights(
        _seeded(lambda: nn.LSTM(3, 4, dtype=F64)))})
MODULES.append(gates)
for _f in (gates.gru_gates, gates.gru_step):
    register(_f, _gates_args, x=bad_tensors("x"), h=bad_tensors("h"), weights=_W_BAD,
             variant=NOT_STR | values(ValueError, "keras", "PyTorch", ""))
register(gates.cho_gru_cell, lambda: _cell_args(3), **_cell_bads())
register(gates.record_gru_gates,
         lambda: {"module": gru64(), "x": torch.randn(5, 2, 3, dtype=F64),
                  "h0": torch.randn(1, 2, 4, dtype=F64)},
         module=NOT_RECURRENT | values(TypeError, nn.LSTM(3, 4)),
         x=bad_tensors("x", grow_dim=2), h0=bad_tensors("h0", types=False))
EXEMPT["gates.GRUGates"] = "a NamedTuple of three tensors"

# ============================================================ modules added since (issue 30)
# Sizes: every size is refused above the cap (CAP = validation.MAX_ELEMENTS) before
# anything is allocated, so the strategies below try sizes just past it and far past it.


def sizes(low: int, high: int | None = CAP) -> st.SearchStrategy:
    """A size argument: not an int, below ``low``, or above ``high`` (the cap)."""
    return NOT_INT | ints_outside(low, high)


def _expanded(t: torch.Tensor, dim: int, length: int) -> torch.Tensor:
    """``t`` grown to ``length`` along ``dim`` as a stride-0 view: no memory, but a model
    that runs it would allocate ``length`` times its activations."""
    shape = list(t.shape)
    shape[dim] = length
    return t.narrow(dim, 0, 1).expand(*shape)


NOT_OPTIMIZER = values(TypeError, "adam", 0.1, torch.optim.Adam) | NOT_MODULE

# ---------------------------------------------------------------------------- streams

MODULES.append(streams)
EXEMPT["streams.EpochResult"] = "a NamedTuple of two lists"


def _stream_tagger(**kwargs) -> streams.StreamTagger:
    return _seeded(lambda: streams.StreamTagger(**({"vocab": 4, "hidden_size": 5,
                                                     "num_classes": 4, "dtype": F64} | kwargs)))


def _stream(steps: int = 12, batch: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(4, (steps, batch), generator=generator)
    return tokens, streams.delayed_labels(tokens, 2)


def _set_last(t: torch.Tensor, value: int) -> torch.Tensor:
    t = t.clone()
    t[-1, -1] = value  # the last chunk: earlier chunks would train before it is read
    return t


def _int_stream_bads(arg: str, top: int) -> st.SearchStrategy:
    return (NOT_TENSOR | derived(TypeError, **{f"{arg}.float()": lambda kw: kw[arg].float(),
                                               f"{arg}.int()": lambda kw: kw[arg].int()})
            | derived(ValueError, **{
                f"{arg}[0]": lambda kw: kw[arg][0],
                f"{arg}.unsqueeze(0)": lambda kw: kw[arg].unsqueeze(0),
                f"{arg} on meta": lambda kw: kw[arg].to("meta"),
                f"{arg} with {top} in its last chunk": lambda kw: _set_last(kw[arg], top),
                f"{arg} with -2 in its last chunk": lambda kw: _set_last(kw[arg], -2)}))


register(streams.stream_batches, lambda: {"tokens": torch.arange(10), "batch_size": 3},
         tokens=NOT_TENSOR | derived(ValueError, **{
             "tokens.view(2, 5)": lambda kw: kw["tokens"].view(2, 5)}),
         batch_size=NOT_INT | ints_outside(1, 10))
register(streams.delayed_labels,
         lambda: {"tokens": _stream()[0], "delay": 1, "fill": -100},
         tokens=NOT_TENSOR | derived(TypeError, **{"tokens.float()": lambda kw: kw[
             "tokens"].float()}) | derived(ValueError, **{"tokens[0]": lambda kw: kw[
                 "tokens"][0]}),
         delay=NOT_INT | ints_outside(0, 11), fill=NOT_INT | ints_outside(-(2**63), 2**63 - 1))
register(streams.detach_state, lambda: {"state": torch.zeros(1, 2, 3)},
         state=NOT_TENSOR | derived(TypeError, **{
             "(h,)": lambda kw: (kw["state"],),
             "(h, c, c)": lambda kw: (kw["state"],) * 3,
             "(h, list)": lambda kw: (kw["state"], [0.0]),
             "[h, c]": lambda kw: [kw["state"], kw["state"]]}))


def _step_args() -> dict:
    model = _seeded(lambda: nn.Linear(3, 2, dtype=F64))
    model.weight.grad = torch.ones_like(model.weight)  # a .grad that must survive
    loss = model(torch.ones(4, 3, dtype=F64)).pow(2).mean()
    return {"loss": loss, "optimizer": torch.optim.SGD(model.parameters(), lr=0.1,
                                                       momentum=0.9),
            "max_norm": 1.0, "model": model}


def _nonfinite(value: float):
    return lambda kw: kw["loss"] * value  # still a graph to the parameters


register(streams.clipped_step, _step_args,
         _call=lambda loss, optimizer, max_norm, model: streams.clipped_step(
             loss, optimizer, max_norm),
         loss=NOT_TENSOR | derived(TypeError, **{
             "loss.long()": lambda kw: kw["loss"].detach().long()})
         | derived(ValueError, **{
             "loss.detach()": lambda kw: kw["loss"].detach(),
             "loss twice": lambda kw: torch.stack([kw["loss"], kw["loss"]])})
         | derived(FloatingPointError, **{f"loss * {v}": _nonfinite(v)
                                          for v in (math.nan, math.inf, -math.inf)}),
         optimizer=NOT_OPTIMIZER,
         max_norm=NOT_REAL | floats_outside(0.0, None, low_inclusive=False))
register(streams.LearnedInitialState, lambda: {"rnn": nn.GRU(3, 4, dtype=F64)},
         rnn=NOT_RECURRENT)
register(streams.LearnedInitialState.forward,
         lambda: {"module": _seeded(lambda: streams.LearnedInitialState(nn.GRU(3, 4))),
                  "batch_size": 2},
         _call=lambda module, batch_size: module(batch_size),
         batch_size=sizes(1, None))  # no cap: expand makes a view, nothing is allocated
_INITIAL = ("zeros", "learned", "random")
register(streams.StreamTagger,
         lambda: {"vocab": 4, "hidden_size": 5, "num_classes": 4, "cell": "gru",
                  "initial_state": "learned", "dtype": F64},
         vocab=sizes(2), hidden_size=sizes(1), num_classes=sizes(2),
         cell=NOT_STR | values(ValueError, "GRU", "transformer", ""),
         initial_state=NOT_STR | values(ValueError, "Zeros", "learnt", ""),
         dtype=values(TypeError, torch.int64, torch.float16, "float64", None, np.float64, 3))
register(streams.StreamTagger.start_state,
         lambda: {"model": _stream_tagger(initial_state="random"), "batch_size": 3},
         _call=lambda model, batch_size: model.start_state(batch_size), batch_size=sizes(1))
register(streams.StreamTagger.start_state,
         lambda: {"model": _stream_tagger(initial_state="zeros"), "batch_size": 3},
         _key="streams.StreamTagger.start_state:zeros",
         _call=lambda model, batch_size: model.start_state(batch_size), batch_size=sizes(1))


def _tagger_forward_args() -> dict:
    model = _stream_tagger(initial_state="random")
    return {"model": model, "tokens": _stream(5, 2)[0], "state": None}


_STATE_BAD = NOT_TENSOR_OR_NONE | values(TypeError, [torch.zeros(1, 2, 5, dtype=F64)]) \
    | derived(TypeError, **{"(h, c) for a GRU": lambda kw: (torch.zeros(1, 2, 5, dtype=F64),) * 2,
                            "h float32": lambda kw: torch.zeros(1, 2, 5)}) \
    | derived(ValueError, **{"h on meta": lambda kw: torch.zeros(1, 2, 5, dtype=F64,
                                                                 device="meta")})
# A state of another shape is left to nn.RNN's own RuntimeError ("Expected hidden size"),
# raised before anything changes: chapter 1 shows it on purpose (a batch size changed).
register(streams.StreamTagger.forward, _tagger_forward_args,
         _call=lambda model, tokens, state: model(tokens, state),
         tokens=NOT_TENSOR | derived(TypeError, **{
             "tokens.float()": lambda kw: kw["tokens"].float(),
             "tokens.int()": lambda kw: kw["tokens"].int()})
         | derived(ValueError, **{
             "tokens[0]": lambda kw: kw["tokens"][0],
             "tokens on meta": lambda kw: kw["tokens"].to("meta"),
             "tokens with 4 of V=4": lambda kw: _set_last(kw["tokens"], 4),
             "tokens with -1": lambda kw: _set_last(kw["tokens"], -1),
             "tokens expanded to 10**8 steps": lambda kw: _expanded(kw["tokens"], 0, CAP)}),
         state=_STATE_BAD)


def _tbptt_args() -> dict:
    model = _stream_tagger(initial_state="random")  # its start draws from torch's RNG
    model.eval()  # a mode that a failed call must leave as it was
    tokens, labels = _stream()
    return {"model": model, "tokens": tokens, "labels": labels, "chunk": 4,
            "optimizer": torch.optim.Adam(model.parameters(), lr=0.05), "max_norm": 1.0,
            "carry": True}


register(streams.tbptt_epoch, _tbptt_args, model=NOT_MODULE,
         tokens=_int_stream_bads("tokens", 4), labels=_int_stream_bads("labels", 4),
         chunk=sizes(1, None), optimizer=NOT_OPTIMIZER,
         max_norm=NOT_REAL | floats_outside(0.0, None, low_inclusive=False), carry=NOT_BOOL)
register(streams.stream_accuracy,
         lambda: {k: v for k, v in _tbptt_args().items() if k not in ("optimizer",
                                                                       "max_norm")},
         model=NOT_MODULE, tokens=_int_stream_bads("tokens", 4),
         labels=_int_stream_bads("labels", 4), chunk=sizes(1, None), carry=NOT_BOOL)

# ---------------------------------------------------------------------------- checkpoints

MODULES.append(checkpoints)
_SD_BAD = NOT_SEQUENCE | values(TypeError, [("a", torch.zeros(1))], {1: torch.zeros(1)},
                                {"a": 1.0}, {"a": [0.0]})
register(checkpoints.diff_state_dicts,
         lambda: {"expected": nn.Linear(2, 3).state_dict(), "given": nn.Linear(2, 4).state_dict()},
         expected=_SD_BAD, given=_SD_BAD)
for _f in (checkpoints.strip_prefix, checkpoints.add_prefix):
    register(_f, lambda: {"state_dict": {"module.a": torch.zeros(1)}, "prefix": "module."},
             state_dict=_SD_BAD, prefix=NOT_STR | values(ValueError, ""))


def _uni_source() -> dict:
    return _seeded(lambda: nn.GRU(3, 4)).state_dict()


def _with_entry(sd: dict, key: str, value: Any) -> dict:
    sd = dict(sd)
    sd[key] = value
    return sd


register(checkpoints.load_into_bidirectional,
         lambda: {"target": _seeded(lambda: nn.GRU(3, 4, bidirectional=True)),
                  "source": _uni_source(), "reverse": "copy"},
         target=NOT_RECURRENT | values(ValueError, nn.GRU(3, 4)),
         source=_SD_BAD | derived(ValueError, **{
             "a GRU(3, 5)'s weights": lambda kw: _seeded(lambda: nn.GRU(3, 5)).state_dict(),
             "source on meta": lambda kw: {k: v.to("meta") for k, v in kw["source"].items()},
             "one tensor on meta": lambda kw: _with_entry(
                 kw["source"], "bias_hh_l0", kw["source"]["bias_hh_l0"].to("meta"))})
         | derived(TypeError, **{
             "complex source": lambda kw: {k: v.to(torch.complex64)
                                           for k, v in kw["source"].items()},
             "an int64 tensor": lambda kw: _with_entry(
                 kw["source"], "bias_hh_l0", kw["source"]["bias_hh_l0"].long())}),
         reverse=NOT_STR | values(ValueError, "swap", "Copy", ""))


def _small_model() -> nn.Module:
    return _seeded(lambda: nn.GRU(2, 3, dtype=F64))


def _trained_optimizer(model: nn.Module, lr: Any = 0.1) -> torch.optim.Optimizer:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model(torch.ones(2, 1, 2, dtype=F64))[0].sum().backward()
    optimizer.step()  # a state to save and restore
    return optimizer


def _fresh_dir() -> Path:
    return Path(tempfile.mkdtemp(dir=SCRATCH))


def _save_args() -> dict:
    model = _small_model()
    return {"file": _fresh_dir() / "ckpt.pt", "model": model,
            "optimizer": _trained_optimizer(model), "step": 5}


def _read_only(kw: dict) -> io.IOBase:
    path = _fresh_dir() / "exists.pt"
    path.write_bytes(b"")
    return open(path, "rb")  # noqa: SIM115 - the file object is the argument


register(checkpoints.save_checkpoint, _save_args,
         file=values(TypeError, 3, None, b"ckpt.pt", ["ckpt.pt"])
         | derived(TypeError, **{"a text-mode file": lambda kw: open(  # noqa: SIM115
             _fresh_dir() / "t.txt", "w")})
         | derived(ValueError, **{"a file open for reading": _read_only,
                                  "a closed BytesIO": lambda kw: _closed_bytesio()})
         | derived(OSError, **{"a missing directory": lambda kw: _fresh_dir() / "no" / "c.pt",
                               "a directory": lambda kw: _fresh_dir()}),
         model=NOT_MODULE, optimizer=values(TypeError, "adam", 0.1, torch.optim.Adam),
         step=sizes(0, None))


def _closed_bytesio() -> io.BytesIO:
    buffer = io.BytesIO()
    buffer.close()
    return buffer


def _checkpoint_bytes(payload: Any = None, *, model: nn.Module | None = None,
                      with_optimizer: bool = True, step: Any = 5) -> io.BytesIO:
    """A checkpoint in memory, rewound; ``payload`` (any object) replaces the whole of it."""
    buffer = io.BytesIO()
    if payload is None:
        model = model or _small_model()
        payload = {"model": model.state_dict(), "step": step}
        if with_optimizer:
            payload["optimizer"] = _trained_optimizer(model).state_dict()
    torch.save(payload, buffer)
    buffer.seek(0)
    return buffer


def _on_disk(content: bytes, name: str = "c.pt") -> Path:
    path = _fresh_dir() / name
    path.write_bytes(content)
    return path


def _load_args() -> dict:
    model = _seeded(lambda: nn.GRU(2, 3, dtype=F64))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # not the saved values: a failed load must leave these
    return {"file": _checkpoint_bytes(), "model": model,
            "optimizer": _trained_optimizer(model, lr=0.01)}


def _bytes_of(**kwargs) -> bytes:
    return _checkpoint_bytes(**kwargs).getvalue()


_BAD_FILES = derived(ValueError, **{
    "an empty file": lambda kw: _on_disk(b""),
    "a text file": lambda kw: _on_disk(b"step,5\\n", "c.txt"),
    "random bytes": lambda kw: _on_disk(bytes(range(256)) * 4),
    "a truncated checkpoint": lambda kw: _on_disk(_bytes_of()[:200]),
    "a checkpoint cut at 90 %": lambda kw: _on_disk(
        (lambda b: b[: len(b) * 9 // 10])(_bytes_of())),
    "a whole pickled nn.Module": lambda kw: _on_disk(_module_bytes()),
    "a stream not rewound": lambda kw: _not_rewound(),
    "an empty BytesIO": lambda kw: io.BytesIO(),
    "a tensor, not a dict": lambda kw: _checkpoint_bytes(torch.zeros(3)),
    "a dict without model": lambda kw: _checkpoint_bytes({"step": 5}),
    "another model's checkpoint": lambda kw: _checkpoint_bytes(
        model=_seeded(lambda: nn.GRU(2, 4, dtype=F64))),
    "no optimizer state": lambda kw: _checkpoint_bytes(with_optimizer=False),
    "step -1": lambda kw: _checkpoint_bytes(step=-1),
    "step '5'": lambda kw: _checkpoint_bytes(step="5"),
    "step 5.0": lambda kw: _checkpoint_bytes(step=5.0),
    "step True": lambda kw: _checkpoint_bytes(step=True),
    "model dict with a list": lambda kw: _checkpoint_bytes(
        {"model": {k: v.tolist() for k, v in _small_model().state_dict().items()}, "step": 5}),
    "optimizer state of SGD": lambda kw: _checkpoint_bytes(
        {"model": _small_model().state_dict(), "step": 5,
         "optimizer": torch.optim.SGD(_small_model().parameters(), lr=0.1).state_dict()}),
    "optimizer state of 2 groups": lambda kw: _checkpoint_bytes(
        {"model": _small_model().state_dict(), "step": 5,
         "optimizer": _two_groups().state_dict()}),
    "optimizer state of another size": lambda kw: _checkpoint_bytes(
        {"model": _small_model().state_dict(), "step": 5,
         "optimizer": _trained_optimizer(_seeded(lambda: nn.GRU(2, 3, dtype=F64,
                                                                bias=False))).state_dict()}),
    "optimizer state that is a list": lambda kw: _checkpoint_bytes(
        {"model": _small_model().state_dict(), "step": 5, "optimizer": [1, 2]}),
}) | derived(OSError, **{"a missing file": lambda kw: _fresh_dir() / "missing.pt",
                         "a directory": lambda kw: _fresh_dir()}) \
    | values(TypeError, 3, None, b"c.pt") | derived(TypeError, **{
        "a text-mode file": lambda kw: open(_on_disk(b"x", "t.txt"))})  # noqa: SIM115


def _module_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save(_small_model(), buffer)
    return buffer.getvalue()


def _not_rewound() -> io.BytesIO:
    buffer = _checkpoint_bytes()
    buffer.seek(0, io.SEEK_END)
    return buffer


def _two_groups() -> torch.optim.Optimizer:
    model = _small_model()
    params = list(model.parameters())
    return torch.optim.Adam([{"params": params[:2]}, {"params": params[2:]}], lr=0.1)


register(checkpoints.load_checkpoint, _load_args, file=_BAD_FILES, model=NOT_MODULE,
         optimizer=values(TypeError, "adam", 0.1, torch.optim.Adam))

# ---------------------------------------------------------------------------- corpus

MODULES.append(corpus)
EXEMPT["corpus.SpaceScores"] = "a NamedTuple of four floats"
register(corpus.load_topics, lambda: {"module": "pydoc_data.topics"},
         module=NOT_STR | values(ValueError, "", ".topics", "pydoc data", "math",
                                 "pydoc_data..topics"))
register(corpus.clean_prose, lambda: {"text": "Some prose.\\n\\n    code"}, text=NOT_STR)
register(corpus.split_topics, lambda: {"names": ["a", "b", "c"], "test_every": 2},
         names=values(TypeError, "abc", 3, None, [1, 2], ["a", None], b"ab")
         | values(ValueError, ["a"], [], ["a", "a", "b"]),
         test_every=sizes(2, None))
register(corpus.encode, lambda: {"chars": "abc"},
         chars=NOT_STR | values(ValueError, "ABC", "a b", "caf\\u00e9", "\\n"))
register(corpus.space_tagging, lambda: {"texts": ["ab cd ef", "gh ij"], "seq_len": 2},
         texts=values(TypeError, "ab cd", 3, None, ["ab", 1], ("ab", b"cd"))
         | values(ValueError, ["a"], [], ["AB CD"], ["ab\\tcd"], ["a" * (CAP // corpus.V + 1)]),
         seq_len=sizes(1, None))


def _spacing() -> dict:
    return {"tokens": corpus.encode("abcd"), "spaces": torch.tensor([0, 1, 0, -100])}


def _int_bads(arg: str, top: int, one_dim: bool = True) -> st.SearchStrategy:
    return NOT_TENSOR | derived(TypeError, **{
        f"{arg}.float()": lambda kw: kw[arg].float(), f"{arg}.int()": lambda kw: kw[arg].int()}
    ) | derived(ValueError, **{
        f"{arg}.unsqueeze(0)" if one_dim else f"{arg}[0]":
            (lambda kw: kw[arg].unsqueeze(0)) if one_dim else (lambda kw: kw[arg][0]),
        f"{arg} on meta": lambda kw: kw[arg].to("meta"),
        f"{arg} with {top}": lambda kw: _set_flat(kw[arg], top),
        f"{arg} grown": lambda kw: torch.cat([kw[arg], kw[arg]], dim=-1)})


def _set_flat(t: torch.Tensor, value: int) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[-1] = value
    return t


register(corpus.insert_spaces, _spacing, tokens=_int_bads("tokens", corpus.V),
         spaces=_int_bads("spaces", 2))
register(corpus.NgramSpacer, lambda: {"left": 3, "right": 2},
         left=NOT_INT | ints_outside(1, 6), right=NOT_INT | ints_outside(0, 6))


def _text_task() -> tuple[torch.Tensor, torch.Tensor]:
    task = corpus.space_tagging(["the cat sat on the mat", "a dog ran to a cat"], 6)
    return task.tokens, task.y


def _spacer_fit_args() -> dict:
    tokens, y = _text_task()
    return {"spacer": corpus.NgramSpacer(2, 1), "tokens": tokens, "y": y}


_TOKENS_2D = _int_bads("tokens", corpus.V, one_dim=False) | derived(ValueError, **{
    "tokens[:0]": lambda kw: kw["tokens"][:0]})


def _full_lengths(kw: dict) -> torch.Tensor:
    return torch.full((kw["tokens"].shape[0],), kw["tokens"].shape[1])


# lengths=None (every piece fills its row) is valid; the bad ones are built from tokens.
_LENGTHS = derived(TypeError, **{
    "lengths as a list": lambda kw: _full_lengths(kw).tolist(),
    "float lengths": lambda kw: _full_lengths(kw).double()}) | derived(ValueError, **{
    "lengths 2-D": lambda kw: _full_lengths(kw)[None],
    "a length of 0": lambda kw: _full_lengths(kw) * 0,
    "a length past T": lambda kw: _full_lengths(kw) + 1,
    "one length too few": lambda kw: _full_lengths(kw)[1:]})
register(corpus.NgramSpacer.fit, lambda: {**_spacer_fit_args(), "lengths": None},
         _call=lambda spacer, tokens, y, lengths: spacer.fit(tokens, y, lengths),
         tokens=_TOKENS_2D,
         y=_int_bads("y", 2, one_dim=False) | derived(ValueError, **{
             "y all -100": lambda kw: torch.full_like(kw["y"], -100)}),
         lengths=_LENGTHS)
register(corpus.NgramSpacer.predict,
         lambda: (lambda a: {"spacer": a["spacer"].fit(a["tokens"], a["y"]),
                             "tokens": a["tokens"], "lengths": None})(_spacer_fit_args()),
         _call=lambda spacer, tokens, lengths: spacer.predict(tokens, lengths),
         tokens=_TOKENS_2D.filter(lambda bad: "grown" not in bad.label),  # any (N, T) is fine
         lengths=_LENGTHS)

register(corpus.space_scores, lambda: {"prediction": _text_task()[1].clamp(min=0),
                                       "y": _text_task()[1]},
         prediction=_int_bads("prediction", 2, one_dim=False) | derived(ValueError, **{
             "prediction with -100": lambda kw: _set_flat(kw["prediction"], -100)}),
         y=_int_bads("y", 2, one_dim=False) | derived(ValueError, **{
             "y all -100": lambda kw: torch.full_like(kw["y"], -100)}))

# ---------------------------------------------------------------------------- delayed

MODULES.append(delayed)
register(delayed.DelayedTagger,
         lambda: {"input_size": 3, "hidden_size": 4, "num_classes": 2, "delay": 1,
                  "cell": "gru"},
         input_size=sizes(1), hidden_size=sizes(1), num_classes=sizes(1), delay=sizes(0),
         cell=NOT_STR | values(ValueError, "GRU", "lstm2", ""))
register(delayed.DelayedTagger.forward,
         lambda: {"model": _seeded(lambda: delayed.DelayedTagger(3, 4, 2, delay=2)),
                  "x": torch.randn(2, 5, 3)},
         _call=lambda model, x: model(x),
         x=bad_tensors("x", grow_dim=2) | derived(ValueError, **{
             "x[0]": lambda kw: kw["x"][0],
             "x expanded to 10**8 steps": lambda kw: _expanded(kw["x"], 1, CAP)}))
register(delayed.local_peak_ceiling, lambda: {"vocab": 8, "radius": 1, "lookahead": 0},
         vocab=sizes(2, 10**6), radius=sizes(1), lookahead=sizes(0, None))

# ------------------------------------------------------------------------------ sweep

MODULES.append(sweep)
register(sweep.make_bidirectional, lambda: {"kind": "gru", "input_size": 3, "hidden_size": 4},
         kind=NOT_STR | values(ValueError, "GRU", "lstm-proj", ""),
         input_size=sizes(1), hidden_size=sizes(1))
register(sweep.make_bidirectional,
         lambda: {"kind": "lstm_proj", "input_size": 3, "hidden_size": 4, "num_layers": 2,
                  "bias": False, "batch_first": True, "dtype": F64},
         _key="sweep.make_bidirectional:kwargs",
         hidden_size=values(ValueError, 1), num_layers=sizes(1),
         bias=NOT_BOOL, batch_first=NOT_BOOL,
         dtype=values(TypeError, torch.int64, "float64", np.float64, 3))
register(sweep.random_state,
         lambda: {"module": _seeded(lambda: nn.LSTM(3, 4, bidirectional=True)), "batch": 2,
                  "generator": torch.Generator().manual_seed(0)},
         module=NOT_RECURRENT, batch=sizes(1),
         generator=values(TypeError, 3, "g", np.random.default_rng(0), torch.zeros(1)))
register(sweep.draw_configuration, lambda: {"seed": 3}, seed=NOT_INT | ints_outside(0, 2**32 - 1))
register(sweep.check_configuration, lambda: {"seed": 3},
         seed=NOT_INT | ints_outside(0, 2**32 - 1))

# ----------------------------------------------------------------------- partial_freezing

MODULES.append(partial_freezing)
_ROWS = values(TypeError, "0", 0, None, [0.0], [True], torch.tensor([0]), {0}) \
    | values(ValueError, [], [2], [0, 0], [-1])
register(partial_freezing.row_mask, lambda: {"shape": (2, 3), "rows": [1]},
         shape=values(TypeError, "23", 2, None, (2.0, 3), (True, 3), ()) | values(
             ValueError, (0, 3), (-1, 3), (CAP, 2), (10**6, 10**6), (2, 10**400)),
         rows=_ROWS)
register(partial_freezing.FrozenEntries,
         lambda: {"frozen_mask": torch.tensor([[True, False]]),
                  "frozen_values": torch.zeros(1, 2, dtype=F64)},
         frozen_mask=NOT_TENSOR | derived(TypeError, **{
             "mask.float()": lambda kw: kw["frozen_mask"].float()}) | derived(ValueError, **{
                 "mask.T": lambda kw: kw["frozen_mask"].T,
                 "mask on meta": lambda kw: kw["frozen_mask"].to("meta")}),
         frozen_values=NOT_TENSOR | derived(TypeError, **{
             "values.long()": lambda kw: kw["frozen_values"].long()}) | derived(ValueError, **{
                 "values.T": lambda kw: kw["frozen_values"].T,
                 "values on meta": lambda kw: kw["frozen_values"].to("meta")}))


def _param() -> nn.Parameter:
    return nn.Parameter(torch.zeros(2, 3, dtype=F64))


register(partial_freezing.freeze_rows_by_hook, lambda: {"param": _param(), "rows": [1]},
         param=NOT_TENSOR | derived(ValueError, **{
             "no grad": lambda kw: kw["param"].detach(),
             "not a leaf": lambda kw: kw["param"] * 2,
             "0-dim": lambda kw: nn.Parameter(torch.zeros((), dtype=F64))}),
         rows=_ROWS)


def _parametrized() -> nn.Module:
    module = _seeded(lambda: nn.Linear(3, 2))
    partial_freezing.freeze_rows_by_mask(module, "bias", [0])
    return module


register(partial_freezing.freeze_rows_by_mask,
         lambda: {"module": _seeded(lambda: nn.Linear(3, 2)), "name": "weight", "rows": [1]},
         module=NOT_MODULE | derived(ValueError, **{"already parametrized": lambda kw: (
             lambda m: (partial_freezing.freeze_rows_by_mask(m, "weight", [0]), m)[1])(
                 _seeded(lambda: nn.Linear(3, 2)))}),
         name=NOT_STR | values(ValueError, "nope", "", "Weight", "weight.data"), rows=_ROWS)

# ----------------------------------------------------------------------------- memory

MODULES.append(memory)
EXEMPT["memory.SavedRecord"] = "a NamedTuple of four fields"
register(memory.SavedTensors, lambda: {"exclude": [torch.zeros(2)]},
         exclude=values(TypeError, 3, torch.zeros(2), "ab", [1.0], [torch.zeros(1), None],
                        None))

# ----------------------------------------------------------------------------- expect

MODULES.append(expect)


def _run_expect_error(kind, match, lines):
    with expect.expect_error(kind, match=match, lines=lines):
        raise ValueError("boom\\nsecond line")


def _run_expect_warning(kind, match):
    import warnings

    with expect.expect_warning(kind, match=match):
        warnings.warn("careful", UserWarning, stacklevel=1)


_MATCH = values(TypeError, 3, b"boom", ["boom"]) | values(ValueError, "(", "[a-", "*", "a{2,1}")
register(expect.expect_error, lambda: {"kind": ValueError, "match": "bo+m", "lines": 1},
         _call=_run_expect_error,
         kind=values(TypeError, "ValueError", 3, ValueError("x"), int, None), match=_MATCH,
         lines=sizes(1, None))
register(expect.expect_warning, lambda: {"kind": UserWarning, "match": "care"},
         _call=_run_expect_warning,
         kind=values(TypeError, "UserWarning", 3, ValueError, None), match=_MATCH)
register(expect.first_lines, lambda: {"text": "a\\n\\nb", "lines": 1}, text=NOT_STR,
         lines=sizes(1, None))

# ---------------------------------------------------------------------- fast, fast_ext

MODULES.append(fast)
_KERNEL_PIECE = ("a kernel piece of FastBiGRU's layer (chapter 8 times it): it takes the "
                 "tensors FastBiGRU.forward has checked, and is not checked again on the "
                 "hot path")
for _name in ("new_buffer", "project", "input_biases", "split_candidate", "forward_loop",
              "backward_factors", "backward_loop", "weight_grads", "layer_forward",
              "layer_backward", "Kernels", "BiGRULayerFunction"):
    EXEMPT[f"fast.{_name}"] = _KERNEL_PIECE
EXEMPT["fast.default_kernels"] = "takes no argument"
_GRU_ARGS = {"input_size": 3, "hidden_size": 4, "num_layers": 2, "bias": True,
             "batch_first": False, "dropout": 0.0, "bidirectional": True, "device": None,
             "dtype": F64}
for _cls in (fast.FastBiGRU, fast.LoopBiGRU, fast.BulkLoopBiGRU):
    register(_cls, lambda: dict(_GRU_ARGS),
             input_size=sizes(1), hidden_size=sizes(1), num_layers=sizes(1),
             bias=NOT_BOOL, batch_first=NOT_BOOL, bidirectional=NOT_BOOL | values(
                 ValueError, False), dropout=NOT_REAL | floats_outside(0.0, 1.0),
             device=values(TypeError, 3.0, [0], b"cpu") | values(ValueError, "gpu", "nope"),
             dtype=values(TypeError, torch.int64, "float64", np.float64, 3))


def _fast_forward_args() -> dict:
    return {"model": _seeded(lambda: fast.FastBiGRU(3, 4, num_layers=2, dtype=F64)),
            "input": torch.randn(5, 2, 3, dtype=F64),
            "hx": torch.zeros(4, 2, 4, dtype=F64)}


register(fast.FastBiGRU.forward, _fast_forward_args,
         _call=lambda model, input, hx: model(input, hx),
         input=bad_tensors("input", grow_dim=2) | derived(ValueError, **{
             "input[:0]": lambda kw: kw["input"][:0],
             "input expanded to 10**8 steps": lambda kw: _expanded(kw["input"], 0, CAP)}),
         hx=bad_tensors("hx", grow_dim=1, optional=True))
register(fast.FastBiGRU.from_gru, lambda: {"gru": _bi_gru(dtype=F64)},
         gru=NOT_MODULE | values(TypeError, nn.LSTM(3, 4, bidirectional=True))
         | values(ValueError, nn.GRU(3, 4)))

MODULES.append(fast_ext)
for _name in ("build_dir", "cflags", "status", "is_loaded"):
    EXEMPT[f"fast_ext.{_name}"] = "takes no argument"
EXEMPT["fast_ext.Compiled"] = _KERNEL_PIECE
register(fast_ext.load, lambda: {"build": False}, build=NOT_BOOL)
register(fast_ext.cpp_source, lambda: {"name": "gates_forward"},
         name=NOT_STR | values(ValueError, "", "no_such_function", "gates forward",
                               "gates_forward("))

# ---------------------------------------------------------------------------- ablation

MODULES.append(ablation)
EXEMPT["ablation.compiled_variants"] = "takes no argument"
for _name in ("StepByStepProjection", "OneDirectionAtATime", "PerStepGateFactors",
              "FreshTensors", "StridedSlices"):
    EXEMPT[f"ablation.{_name}"] = _KERNEL_PIECE
register(ablation.make, lambda: {"gru": _bi_gru(dtype=F64), "kernels": fast.Kernels},
         gru=NOT_MODULE | values(TypeError, nn.LSTM(3, 4, bidirectional=True), nn.Linear(2, 2))
         | values(ValueError, nn.GRU(3, 4)),
         kernels=values(TypeError, "pure", "compiled", None, 3, fast.Kernels(), int, nn.GRU,
                        fast.FastBiGRU))

# ------------------------------------------------------------------------ benchmarking

MODULES.append(benchmarking)
register(benchmarking.bigru_matmul_flops,
         lambda: {"steps": 3, "batch": 2, "input_size": 5, "hidden": 4, "backward": False},
         steps=sizes(1, None), batch=sizes(1, None), input_size=sizes(1, None),
         hidden=sizes(1, None), backward=NOT_BOOL)
_FN = values(TypeError, 3, None, "len")
register(benchmarking.time_interleaved,
         lambda: {"fns": {"a": lambda: None, "b": lambda: None}, "reps": 2, "threads": 1,
                  "target_s": 1e-4},
         fns=values(TypeError, {}, [len], {"a": 3}, None, len, {1: len}),
         reps=sizes(1, None) | values(ValueError, 10**9),
         threads=sizes(1, reproducibility.MAX_THREADS),
         target_s=NOT_REAL | floats_outside(0.0, 60.0, low_inclusive=False))
register(benchmarking.op_profile,
         lambda: {"fn": lambda: torch.ones(2, 2).mm(torch.ones(2, 2)), "threads": 1,
                  "calls": 1, "top": 2, "namespaces": ("aten",)},
         fn=_FN, threads=sizes(1, reproducibility.MAX_THREADS),
         calls=sizes(1, None) | values(ValueError, 10**9), top=sizes(1, None),
         namespaces=values(TypeError, "aten", (), ("aten::",), ("aten", 3), ["aten"], None))

# -------------------------------------------------------------- odd but valid (issue 30)


def _reference_spacer(left: int, right: int, train_tokens: torch.Tensor,
                      train_y: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """NgramSpacer's documented rule with tuple keys, in plain Python: an independent
    computation (no integer packing, so no key can wrap)."""
    def window(row: list[int], t: int, lt: int, rt: int) -> tuple:
        return tuple(row[i] if 0 <= i < len(row) else None for i in range(t - lt + 1, t + rt + 1))

    levels, lt, rt = [(left, right)], left, right
    while lt + rt > 0:
        if rt >= lt:
            rt -= 1
        else:
            lt -= 1
        levels.append((lt, rt))
    votes: dict[tuple, list[int]] = {}
    labels = []
    for row, ys in zip(train_tokens.tolist(), train_y.tolist(), strict=True):
        for t, label in enumerate(ys):
            if label == -100:
                continue
            labels.append(label)
            for level in levels:
                votes.setdefault((level, window(row, t, *level)), []).append(label)
    majority = int(2 * sum(labels) > len(labels))
    out = []
    for row in tokens.tolist():
        predicted = []
        for t in range(len(row)):
            guess = majority
            for level in levels:
                seen = votes.get((level, window(row, t, *level)))
                if seen is not None:
                    guess = int(2 * sum(seen) > len(seen))
                    break
            predicted.append(guess)
        out.append(predicted)
    return torch.tensor(out)


# Token ids whose window key in base V + 1 = 47 is exactly 2**64 (its digits, most
# significant first): an int64 key wraps to 0, the key of twelve token-0 characters.
_WRAPS_TO_ZERO = [7, 21, 33, 4, 41, 43, 23, 16, 26, 40, 3, 25]
assert sum(d * (corpus.V + 1) ** (11 - i) for i, d in enumerate(_WRAPS_TO_ZERO)) == 2**64


@odd_valid("corpus", "NgramSpacer(6, 6): a window whose int64 key would wrap onto a seen one")
def _ngram_wide_window() -> str | None:
    train = torch.tensor([[0] * 12, [1] * 12])
    y = torch.full((2, 12), -100)
    y[0, 5] = 1  # "aaaaaa aaaaaa": the one window of twelve a's is followed by a space
    y[1] = 0
    query = torch.tensor([_WRAPS_TO_ZERO, [0] * 12])
    got = corpus.NgramSpacer(6, 6).fit(train, y).predict(query)
    want = _reference_spacer(6, 6, train, y, query)
    if not torch.equal(got, want):
        return f"predicted {got.tolist()}, the rule gives {want.tolist()}"
    return None


@odd_valid("corpus", "NgramSpacer(3, 2) agrees with the rule on real text")
def _ngram_matches_reference() -> str | None:
    tokens, y = _text_task()
    query = corpus.space_tagging(["the dog sat on a mat", "cats ran"], 4).tokens
    got = corpus.NgramSpacer(3, 2).fit(tokens, y).predict(query)
    want = _reference_spacer(3, 2, tokens, y, query)
    return None if torch.equal(got, want) else f"{got.tolist()} != {want.tolist()}"


@odd_valid("sweep", "check_configuration(3) leaves the global RNGs as they were")
def _sweep_leaves_rng() -> str | None:
    config, largest = sweep.check_configuration(3)
    return None if largest <= 1e-12 else f"largest difference {largest}"


@odd_valid("checkpoints", "an optimizer built with a NumPy lr: save, then load")
def _checkpoint_numpy_lr() -> str | None:
    model = _small_model()
    optimizer = _trained_optimizer(model, lr=np.float64(0.1))
    buffer = io.BytesIO()
    checkpoints.save_checkpoint(buffer, model, optimizer, step=7)
    buffer.seek(0)
    other = _seeded(lambda: nn.GRU(2, 3, dtype=F64))
    other_optimizer = torch.optim.Adam(other.parameters(), lr=0.5)
    step = checkpoints.load_checkpoint(buffer, other, other_optimizer)
    lr = other_optimizer.param_groups[0]["lr"]
    same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 other.state_dict().values(), strict=True))
    if step != 7 or not same or lr != 0.1 or type(lr) is not float:
        return f"step {step}, weights equal {same}, lr {lr!r}"
    return None


@odd_valid("checkpoints", "a checkpoint on disk: save, then load, the file left as written")
def _checkpoint_path_round_trip() -> str | None:
    path = _fresh_dir() / "ckpt.pt"
    model = _small_model()
    checkpoints.save_checkpoint(path, model, None, step=3)
    written = path.read_bytes()
    other = _seeded(lambda: nn.GRU(2, 3, dtype=F64, bias=True))
    with torch.no_grad():
        for p in other.parameters():
            p.zero_()
    step = checkpoints.load_checkpoint(path, other)
    same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 other.state_dict().values(), strict=True))
    return None if step == 3 and same and path.read_bytes() == written else "round trip differs"


@odd_valid("streams", "LearnedInitialState of an RNN on the meta device lives there too")
def _learned_state_device() -> str | None:
    rnn = nn.LSTM(3, 4, num_layers=2, device="meta")
    state = streams.LearnedInitialState(rnn)
    devices = {p.device.type for p in state.parameters()}
    return None if devices == {"meta"} else f"its parameters are on {devices}"


@odd_valid("streams", "tbptt_epoch on a stream whose last chunk is short",
           changes=("torch_rng",))  # its model starts each chunk from a random state
def _tbptt_short_last_chunk() -> str | None:
    args = _tbptt_args()
    args["model"].train()
    result = streams.tbptt_epoch(**{**args, "chunk": 5})  # 12 steps: chunks 5, 5, 2
    return None if len(result.losses) == 3 and all(map(math.isfinite, result.losses)) \
        else f"losses {result.losses}"


_ = _ngram_wide_window, _ngram_matches_reference, _sweep_leaves_rng, _checkpoint_numpy_lr
_ = _checkpoint_path_round_trip, _learned_state_device, _tbptt_short_last_chunk


# -------------------------------------------------------------------------------- tests


def _public(module) -> list[str]:
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    short = module.__name__.removeprefix("birnn_utils.")
    found = []
    for n in names:
        obj = getattr(module, n)
        if not callable(obj) or getattr(obj, "__module__", None) != module.__name__:
            continue  # constants and imported names
        found.append(f"{short}.{n}")
    return found


def test_every_public_callable_is_registered_or_exempt():
    registered = {name.split(":")[0] for name in TARGETS}
    missing = [n for m in MODULES for n in _public(m)
               if n not in registered and n not in EXEMPT]
    assert missing == []


def test_every_parameter_of_a_registered_callable_is_tried():
    """No parameter goes untried: each one of every registered signature has bad values
    (in some registration of it) or a reason in ARGS_EXEMPT (new parameters of old
    functions are caught here)."""
    tried: dict[str, set[str]] = {}
    funcs = {}
    for name, target in TARGETS.items():
        base = name.split(":")[0]
        tried.setdefault(base, set()).update(target.bad)
        funcs[base] = target.func
    missing = []
    for base, func in funcs.items():
        for param in inspect.signature(func).parameters.values():
            if param.name in ("self", "cls") or param.kind in (param.VAR_POSITIONAL,
                                                                param.VAR_KEYWORD):
                continue
            if param.name not in tried[base] and f"{base}:{param.name}" not in ARGS_EXEMPT:
                missing.append(f"{base}:{param.name}")
    assert missing == []


@pytest.fixture
def restore_global_state():
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    settings = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    yield
    random.setstate(states[0])
    np.random.set_state(states[1])
    torch.set_rng_state(states[2])
    torch.use_deterministic_algorithms(settings[0])
    torch.set_num_threads(settings[1])


@pytest.mark.parametrize(("name", "arg"), cases())
def test_bad_input_is_refused_clearly_and_changes_nothing(name, arg):
    target = TARGETS[name]

    @given(bad=target.bad[arg])
    def check(bad):
        outcome, detail = classify(target, arg, bad)
        assert outcome == "clear error", f"{name}({arg}={bad.label}): {outcome}: {detail}"

    check()


@pytest.mark.parametrize(("module", "label"), valid_cases())
def test_odd_but_valid_input_gives_the_right_result(module, label):
    case = next(c for c in ODD_VALID[module] if c.label == label)
    outcome, detail = classify_valid(case)
    assert outcome == "right result", f"{module}: {label}: {outcome}: {detail}"


def test_the_valid_examples_are_valid(restore_global_state):
    """Each target's valid arguments run without error (else every bad case is moot)."""
    for target in TARGETS.values():
        target.call(**target.valid())
        plt.close("all")


def test_classify_tells_the_outcomes_apart():
    """The census's outcome labels are what they say (each one produced on purpose)."""
    def silent(value):
        return None

    def crash(value):
        return value.missing

    def wrong(value):
        raise ValueError("value must be an int")

    def vague(value):
        raise TypeError("bad input")

    def mutate(value):
        value.add_(1)
        raise ValueError(f"value must be positive, got {value}")

    def clear(value):
        raise TypeError(f"value must be an int, got {type(value).__name__}")

    made = {}
    for func in (silent, crash, wrong, vague, mutate, clear):
        target = Target(func.__name__, func, lambda: {"value": torch.zeros(1)}, {})
        made[func.__name__] = classify(target, "value", Bad("x", lambda kw: kw["value"],
                                                            TypeError))[0]
    assert made == {"silent": "silent wrong result", "crash": "crash", "wrong": "wrong type",
                    "vague": "unclear", "mutate": "state changed", "clear": "clear error"}
