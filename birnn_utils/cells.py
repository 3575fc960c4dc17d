"""One time step of an Elman RNN, a GRU and an LSTM, written from scratch.

The cells use PyTorch's parameter layout, so the weights of an ``nn.RNN``/``nn.GRU``/
``nn.LSTM`` plug straight in (see :func:`cell_weights`). Shapes, with ``B`` the batch,
``I`` the input size, ``H`` the hidden size and ``G`` the number of gates (1, 3 or 4):

- ``x``: (B, I), ``h``: (B, H) (for an LSTM with ``proj_size=R``, ``h`` is (B, R))
- ``w_ih``: (G*H, I), ``w_hh``: (G*H, H) (or (G*H, R)), ``b_ih``, ``b_hh``: (G*H,)
- ``w_hr``: (R, H), LSTM projection only.

Gate order: GRU ``r, z, n``; LSTM ``i, f, g, o`` (PyTorch's).
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from birnn_utils.validation import check_bool, check_choice, check_int, describe

__all__ = [
    "CellWeights", "RECURRENT_TYPES", "cell_weights", "check_recurrent_module", "state_size",
    "rnn_cell", "gru_cell", "lstm_cell",
]


class _CellWeightsFields(NamedTuple):
    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None
    b_hh: Tensor | None
    w_hr: Tensor | None = None


class CellWeights(_CellWeightsFields):
    """The parameters of one direction of one layer; ``b_*`` are None when ``bias=False``.

    ``w_hr`` is the LSTM projection (R, H), None unless ``proj_size > 0``. Only the types
    are checked here (Tensors, or None for the optional ones); the cells check the shapes.
    """

    __slots__ = ()

    def __new__(cls, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
                b_hh: Tensor | None = None, w_hr: Tensor | None = None) -> "CellWeights":
        for name, value in (("w_ih", w_ih), ("w_hh", w_hh)):
            if not isinstance(value, Tensor):
                raise TypeError(f"CellWeights: {name} must be a Tensor, got {describe(value)}")
        for name, value in (("b_ih", b_ih), ("b_hh", b_hh), ("w_hr", w_hr)):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"CellWeights: {name} must be a Tensor or None, got {describe(value)}"
                )
        return super().__new__(cls, w_ih, w_hh, b_ih, b_hh, w_hr)


RECURRENT_TYPES = (nn.RNN, nn.GRU, nn.LSTM)


def check_recurrent_module(module: object, name: str = "module") -> None:
    """Raise TypeError unless ``module`` is an ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM``.

    ``name`` is the argument's name in the caller, for the message.
    """
    if not isinstance(module, RECURRENT_TYPES):
        raise TypeError(f"{name} must be an nn.RNN, nn.GRU or nn.LSTM, got {describe(module)}")


def state_size(module: nn.Module) -> int:
    """Size of the hidden state ``h`` a recurrent module returns: ``proj_size`` for a
    projected LSTM, else ``hidden_size`` (an LSTM's cell state ``c`` keeps ``hidden_size``)."""
    check_recurrent_module(module)
    return module.proj_size if module.proj_size > 0 else module.hidden_size


def cell_weights(module: nn.Module, layer: int = 0, reverse: bool = False) -> CellWeights:
    """The parameters of ``layer`` (forward, or ``reverse`` direction) of a recurrent module.

    Returns the module's own ``Parameter`` objects (not copies), so gradients flow back.
    """
    check_recurrent_module(module)
    layer = check_int("layer", layer)
    if not 0 <= layer < module.num_layers:
        raise ValueError(
            f"layer must be in [0, {module.num_layers - 1}] for a module with "
            f"num_layers={module.num_layers}, got {layer}"
        )
    check_bool("reverse", reverse)
    if reverse and not module.bidirectional:
        raise ValueError(
            "reverse=True needs a bidirectional module, got one with bidirectional=False"
        )
    suffix = f"l{layer}" + ("_reverse" if reverse else "")

    def get(name: str) -> Tensor | None:
        return getattr(module, f"{name}_{suffix}", None)

    w_hr = get("weight_hr") if isinstance(module, nn.LSTM) and module.proj_size > 0 else None
    b_ih, b_hh = (get("bias_ih"), get("bias_hh")) if module.bias else (None, None)
    return CellWeights(get("weight_ih"), get("weight_hh"), b_ih, b_hh, w_hr)


def _check_shapes(
    name: str, gates: int, x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor,
    b_ih: Tensor | None, b_hh: Tensor | None, h_name: str = "h",
) -> None:
    """Raise TypeError/ValueError unless the arguments fit one step of a ``gates``-gate cell:
    types, then dtypes and devices (all those of ``x``, floating point), then shapes.
    ``h_name`` is how the caller calls ``h`` (``"state[0] (h)"`` in ``lstm_cell``)."""
    for arg, value in (("x", x), (h_name, h), ("w_ih", w_ih), ("w_hh", w_hh)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name}: {arg} must be a Tensor, got {describe(value)}")
    for arg, value in (("b_ih", b_ih), ("b_hh", b_hh)):
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"{name}: {arg} must be a Tensor or None, got {describe(value)}")
    _check_dtype_device(name, x, **{h_name: h}, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    if x.dim() != 2 or h.dim() != 2:
        raise ValueError(
            f"{name}: x and {h_name} must be 2-D (B, I) and (B, H), got shapes "
            f"{tuple(x.shape)} and {tuple(h.shape)}"
        )
    if x.shape[0] != h.shape[0]:
        raise ValueError(
            f"{name}: x and {h_name} must have the same batch size, got {x.shape[0]} and "
            f"{h.shape[0]}"
        )
    if w_ih.dim() != 2 or w_ih.shape[0] % gates != 0:
        raise ValueError(
            f"{name}: w_ih must be ({gates}*H, I), got shape {tuple(w_ih.shape)}"
        )
    rows = w_ih.shape[0]
    if w_ih.shape[1] != x.shape[1]:
        raise ValueError(
            f"{name}: w_ih has shape {tuple(w_ih.shape)}, expected ({rows}, {x.shape[1]}) "
            f"for x of shape {tuple(x.shape)}"
        )
    if tuple(w_hh.shape) != (rows, h.shape[1]):
        raise ValueError(
            f"{name}: w_hh has shape {tuple(w_hh.shape)}, expected ({rows}, {h.shape[1]}) "
            f"for w_ih of shape {tuple(w_ih.shape)} and {h_name} of shape {tuple(h.shape)}"
        )
    for arg, value in (("b_ih", b_ih), ("b_hh", b_hh)):
        if value is not None and tuple(value.shape) != (rows,):
            raise ValueError(
                f"{name}: {arg} has shape {tuple(value.shape)}, expected ({rows},)"
            )


def _check_dtype_device(name: str, x: Tensor, **others: Tensor | None) -> None:
    """``x`` floating point, and every tensor in ``others`` of ``x``'s dtype and device."""
    if not x.is_floating_point():
        raise TypeError(f"{name}: x must have a floating-point dtype, got {describe(x)}")
    for arg, value in others.items():
        if value is None:
            continue
        if value.dtype != x.dtype:
            raise TypeError(
                f"{name}: {arg} has dtype {str(value.dtype).removeprefix('torch.')} but x has "
                f"{str(x.dtype).removeprefix('torch.')}; expected one dtype for all tensors "
                f"(convert with .to({x.dtype}) or the module with .to(x.dtype))"
            )
        if value.device != x.device:
            raise ValueError(
                f"{name}: {arg} is on device {value.device} but x is on {x.device}; "
                f"expected all tensors on one device"
            )


def rnn_cell(
    x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor,
    b_ih: Tensor | None = None, b_hh: Tensor | None = None, nonlinearity: str = "tanh",
) -> Tensor:
    """Elman step: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``; x (B, I), h (B, H) -> (B, H)."""
    check_choice("nonlinearity", nonlinearity, ("tanh", "relu"))
    _check_shapes("rnn_cell", 1, x, h, w_ih, w_hh, b_ih, b_hh)
    if w_ih.shape[0] != h.shape[1]:
        raise ValueError(
            f"rnn_cell: w_ih has {w_ih.shape[0]} rows, expected H={h.shape[1]} (from h)"
        )
    pre = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # (B, H)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def gru_cell(
    x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor,
    b_ih: Tensor | None = None, b_hh: Tensor | None = None,
) -> Tensor:
    """GRU step (gates r, z, n); x (B, I), h (B, H) -> (B, H).

    ``r = σ(W_ir x + b_ir + W_hr h + b_hr)``, ``z = σ(W_iz x + b_iz + W_hz h + b_hz)``,
    ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``, ``h' = (1 - z) ⊙ n + z ⊙ h``.
    """
    _check_shapes("gru_cell", 3, x, h, w_ih, w_hh, b_ih, b_hh)
    if w_ih.shape[0] != 3 * h.shape[1]:
        raise ValueError(
            f"gru_cell: w_ih has {w_ih.shape[0]} rows, expected 3*H={3 * h.shape[1]} (from h)"
        )
    x_r, x_z, x_n = F.linear(x, w_ih, b_ih).chunk(3, dim=1)  # each (B, H)
    h_r, h_z, q = F.linear(h, w_hh, b_hh).chunk(3, dim=1)  # each (B, H); q = W_hn h + b_hn
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * q)  # b_hn sits inside the reset product
    return (1 - z) * n + z * h


def _check_lstm(x, state, w_ih, w_hh, b_ih, b_hh, w_hr) -> tuple[Tensor, Tensor]:
    """Raise TypeError/ValueError unless the arguments fit one LSTM step; return (h, c)."""
    if not isinstance(state, tuple | list) or len(state) != 2:
        raise TypeError(f"lstm_cell: state must be a pair (h, c), got {describe(state)}")
    h, c = state
    _check_shapes("lstm_cell", 4, x, h, w_ih, w_hh, b_ih, b_hh, h_name="state[0] (h)")
    for arg, value in (("state[1] (c)", c), ("w_hr", w_hr)):
        if not isinstance(value, Tensor) and not (arg == "w_hr" and value is None):
            kind = "a Tensor or None" if arg == "w_hr" else "a Tensor"
            raise TypeError(f"lstm_cell: {arg} must be {kind}, got {describe(value)}")
    _check_dtype_device("lstm_cell", x, **{"state[1] (c)": c}, w_hr=w_hr)
    hidden = w_ih.shape[0] // 4
    if tuple(c.shape) != (x.shape[0], hidden):
        raise ValueError(f"lstm_cell: state[1] (c) must have shape ({x.shape[0]}, {hidden}), "
                         f"got {tuple(c.shape)}")
    expected_h = hidden if w_hr is None else w_hr.shape[0]
    if w_hr is not None and (w_hr.dim() != 2 or w_hr.shape[1] != hidden):
        raise ValueError(
            f"lstm_cell: w_hr must have shape (R, {hidden}), got {tuple(w_hr.shape)}"
        )
    if h.shape[1] != expected_h:
        raise ValueError(
            f"lstm_cell: state[0] (h) has {h.shape[1]} features, expected {expected_h} "
            f"({'R from w_hr' if w_hr is not None else 'H from w_ih'})"
        )
    return h, c


def lstm_cell(
    x: Tensor, state: tuple[Tensor, Tensor], w_ih: Tensor, w_hh: Tensor,
    b_ih: Tensor | None = None, b_hh: Tensor | None = None, w_hr: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """LSTM step (gates i, f, g, o); x (B, I), state (h (B, R or H), c (B, H)) -> (h', c').

    ``c' = f ⊙ c + i ⊙ g``, ``h' = o ⊙ tanh(c')``, then ``h' = W_hr h'`` if ``w_hr`` (R, H)
    is given (``proj_size > 0``).
    """
    h, c = _check_lstm(x, state, w_ih, w_hh, b_ih, b_hh, w_hr)
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(c_new)  # (B, H)
    if w_hr is not None:
        h_new = F.linear(h_new, w_hr)  # (B, R)
    return h_new, c_new
