"""Generated bad inputs for every public function and class of ``birnn_utils`` (issue 18).

For each public signature the registry below holds *valid* example arguments (a factory
that builds fresh ones) and, per argument, a hypothesis strategy of *bad* values with the
exception they must raise. One test per (target, argument) replaces that argument by a
generated bad value and asserts the package's contract:

1. the exception is the expected one (``TypeError`` for a wrong type, ``ValueError`` for
   a wrong value), never another (``AttributeError``, torch's ``RuntimeError``) and never
   none at all;
2. the message names the argument, and shows what was given (its type for a wrong type,
   the number for a wrong int);
3. nothing changed: parameters, buffers, ``requires_grad``, ``.grad``, the train/eval mode
   of every submodule, optimizer state, input tensors (bit for bit), the global RNGs of
   ``random``/NumPy/torch, torch's deterministic and thread settings, open figures.

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

import inspect
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
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
    bptt,
    cells,
    corpus,
    data,
    delayed,
    display,
    freezing,
    gates,
    memory_tasks,
    plotting,
    recurrent,
    reproducibility,
    reverse,
    training,
    validation,
    varlen,
)

F64 = torch.float64

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


TARGETS: dict[str, Target] = {}
MODULES: list = []
EXEMPT: dict[str, str] = {}


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
    TARGETS[key] = Target(key, _call or func, valid, bad, _names or {})


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
NOT_INT = generated(st.one_of(st.booleans(), st.floats(), _SCALAR_JUNK), TypeError)
NOT_BOOL = generated(st.one_of(st.integers(-3, 3), st.floats(-1, 1),
                               st.sampled_from(["False", "True", "no", ""]), _SCALAR_JUNK),
                     TypeError)
NOT_REAL = generated(st.one_of(st.booleans(), _SCALAR_JUNK), TypeError)
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
    """Floats below ``low`` (or equal when exclusive), above ``high``, NaN, ±inf."""
    parts = [st.sampled_from([math.nan, math.inf, -math.inf])]
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
    return t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _tensor_state(t: torch.Tensor):
    return (tuple(t.shape), t.dtype, str(t.device), t.requires_grad, _bits(t),
            None if t.grad is None else _bits(t.grad))


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


OUTCOMES = ("clear error", "wrong type", "unclear", "silent", "crash", "state changed")


def names_argument(message: str, name: str) -> bool:
    """``name`` appears in ``message`` as a whole word (``x`` is not found in ``x_eval``)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) is not None


def _shows_given(message: str, value: Any, error: type[Exception]) -> bool:
    """Does the message show what was given? Its type for a TypeError, the int itself
    for a ValueError on an int; tensors and containers are not inspected."""
    if error is TypeError and not isinstance(value, torch.Tensor | list | tuple | dict):
        return type(value).__name__ in message
    if error is ValueError and isinstance(value, int) and not isinstance(value, bool):
        return str(value) in message or f"{value:.3g}" in message
    return True


def classify(target: Target, arg: str, bad: Bad) -> tuple[str, str]:
    """Run ``target`` with ``arg`` made bad; return (outcome, detail)."""
    kwargs = target.valid()
    kwargs[arg] = bad.make(kwargs)
    before = snapshot_state(kwargs)
    try:
        target.call(**kwargs)
    except (TypeError, ValueError) as e:
        raised: Exception = e
    except Exception as e:  # noqa: BLE001 - an unexpected exception is what we look for
        return "crash", f"{type(e).__name__}: {e}"
    else:
        plt.close("all")
        return "silent", "no exception"
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


def cases() -> list[tuple[str, str]]:
    return [(name, arg) for name, target in TARGETS.items() for arg in target.bad]


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

# -------------------------------------------------------------------------------- cells

MODULES.append(cells)
register(cells.CellWeights,
         lambda: {k: v for k, v in _cell_args(3).items() if k.startswith(("w", "b"))},
         w_ih=NOT_TENSOR, w_hh=NOT_TENSOR, b_ih=NOT_TENSOR_OR_NONE, b_hh=NOT_TENSOR_OR_NONE,
         w_hr=NOT_TENSOR_OR_NONE)
register(cells.check_recurrent_module, lambda: {"module": gru64()}, module=NOT_RECURRENT)
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
         lr=NOT_REAL | floats_outside(0.0, float(torch.finfo(torch.float32).max),
                                      low_inclusive=False),
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
register(training.fit, lambda: {**_fit_args(), "lr": 1e-2,
                                "optimizer": "placeholder"},
         _key="training.fit:optimizer",
         _call=lambda optimizer, **kw: training.fit(
             optimizer=torch.optim.SGD(kw["model"].parameters(), lr=0.1), **kw),
         params=derived(ValueError, **{"params with optimizer": lambda kw: list(
             kw["model"].head.parameters())}))
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

MODULES.append(delayed)
register(delayed.DelayedTagger,
         lambda: {"input_size": 4, "hidden_size": 5, "num_classes": 3, "delay": 2,
                  "cell": "gru"},
         input_size=_SIZE, hidden_size=_SIZE, num_classes=_SIZE,
         delay=NOT_INT | ints_outside(0, None),
         cell=NOT_STR | values(ValueError, "GRU", "transformer", ""))
register(delayed.DelayedTagger.forward,
         lambda: {"model": _seeded(lambda: delayed.DelayedTagger(4, 5, 3, delay=2)),
                  "x": torch.zeros(2, 3, 4)},
         _call=lambda model, x: model(x),
         x=bad_tensors("x", grow_dim=2) | derived(
             ValueError, **{"x[0]": lambda kw: kw["x"][0]}))
register(delayed.local_peak_ceiling, lambda: {"vocab": 8, "radius": 2, "lookahead": 1},
         vocab=NOT_INT | ints_outside(2, None), radius=NOT_INT | ints_outside(1, None),
         lookahead=NOT_INT | ints_outside(0, None))
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
    assert made == {"silent": "silent", "crash": "crash", "wrong": "wrong type",
                    "vague": "unclear", "mutate": "state changed", "clear": "clear error"}
