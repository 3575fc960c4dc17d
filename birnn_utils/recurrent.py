"""Run a from-scratch cell over a sequence, and rebuild ``nn.RNN``/``nn.GRU``/``nn.LSTM``.

:func:`scratch_forward` uses only the cells of :mod:`birnn_utils.cells` and returns exactly
what ``module(x, hx)`` returns, so a notebook can ``assert_close`` the two. Shapes: ``T``
steps, ``B`` batch, ``I`` input size, ``H`` hidden size (``P`` = LSTM ``proj_size`` when
> 0), ``D`` = 2 if bidirectional else 1, ``L`` = ``num_layers``.

Dropout between layers is not modelled: the result matches the module in eval mode (or with
``dropout=0``); a module in training mode with ``dropout > 0`` is rejected.
"""

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from birnn_utils.cells import (
    CellWeights,
    cell_weights,
    check_recurrent_module,
    gru_cell,
    lstm_cell,
    rnn_cell,
    state_size,
)
from birnn_utils.validation import (
    check_bool,
    check_callable,
    check_like,
    check_tensor,
    describe,
)

__all__ = ["run_cell", "scratch_forward", "cell_for"]

State = Tensor | tuple[Tensor, Tensor]


def cell_for(module: nn.Module) -> Callable:
    """The scratch cell that matches ``module``: ``rnn_cell`` (with its nonlinearity),
    ``gru_cell`` or ``lstm_cell``."""
    check_recurrent_module(module)
    if isinstance(module, nn.LSTM):
        return lstm_cell
    if isinstance(module, nn.GRU):
        return gru_cell
    return partial(rnn_cell, nonlinearity=module.nonlinearity)


def run_cell(
    cell: Callable, x: Tensor, h0: State, weights: CellWeights, reverse: bool = False
) -> tuple[Tensor, State]:
    """Unroll ``cell`` over time-major ``x`` (T, B, I) from ``h0`` (B, H) (LSTM: (h0, c0)).

    Returns ``outputs`` (T, B, H) (LSTM: the ``h`` of each step) and the state after the
    last step processed. With ``reverse=True`` the steps run T-1, ..., 0, and ``outputs[t]``
    is still the state at step t, aligned with ``x[t]``.
    """
    weights = _check_run_cell_args(cell, x, h0, weights, reverse)
    extra = {} if weights.w_hr is None else {"w_hr": weights.w_hr}
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    state = h0
    outputs: list[Tensor | None] = [None] * x.shape[0]
    for t in steps:
        state = cell(x[t], state, *weights[:4], **extra)
        outputs[t] = state[0] if isinstance(state, tuple) else state  # (B, H)
    return torch.stack(outputs), state


def _check_run_cell_args(cell, x, h0, weights, reverse) -> CellWeights:
    """Check :func:`run_cell`'s arguments in its own terms (x (T, B, I), h0 (B, H)) before
    the first step; the cell checks the rest (H against the weights) on ``h = h0``."""
    check_callable("cell", cell)
    check_tensor("x", x)
    if x.dim() != 3:
        raise ValueError(f"x must be a time-major tensor (T, B, I), got {tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ValueError(f"x must have at least one time step, got shape {tuple(x.shape)}")
    check_tensor("x", x, floating=True)
    parts = h0 if isinstance(h0, tuple | list) else (h0,)
    if isinstance(h0, tuple | list) and len(h0) != 2:
        raise TypeError(f"h0 must be a Tensor (B, H), or a pair (h0, c0) for lstm_cell, "
                        f"got {describe(h0)}")
    for part in parts:
        if not isinstance(part, Tensor):
            raise TypeError(f"h0 must be a Tensor (B, H), or a pair (h0, c0) for lstm_cell, "
                            f"got {describe(h0)}")
        check_like("h0", part, "x", x)
        if part.dim() != 2 or part.shape[0] != x.shape[1]:
            raise ValueError(f"h0 must be (B, H) with B={x.shape[1]} like x {tuple(x.shape)} "
                             f"(T, B, I), got {tuple(part.shape)}")
    if not isinstance(weights, tuple) or len(weights) not in (4, 5):
        raise TypeError(
            f"weights must be a CellWeights (w_ih, w_hh, b_ih, b_hh, w_hr), "
            f"got {describe(weights)}"
        )
    try:
        weights = CellWeights(*weights)
    except TypeError as e:
        raise TypeError(f"weights: {e}") from e
    w_ih = weights.w_ih
    if w_ih.dim() != 2 or w_ih.shape[1] != x.shape[2]:
        raise ValueError(f"weights.w_ih must be (G*H, I) with I={x.shape[2]} like x "
                         f"{tuple(x.shape)} (T, B, I), got {tuple(w_ih.shape)}")
    check_bool("reverse", reverse)
    return weights


def _check_hx(module: nn.Module, hx: object, x: Tensor) -> None:
    """Raise unless ``hx`` has the layout ``module`` expects for the caller's ``x``.

    Shapes are checked in the caller's layout: (D*L, B, H), or (D*L, H) for an unbatched x.
    """
    directions = 2 if module.bidirectional else 1
    is_lstm = isinstance(module, nn.LSTM)
    unbatched = x.dim() == 2
    batch = () if unbatched else (x.shape[0 if module.batch_first else 1],)
    expected = [(directions * module.num_layers, *batch, state_size(module))]
    if is_lstm:
        if not isinstance(hx, tuple | list) or len(hx) != 2:
            raise TypeError(f"hx for an nn.LSTM must be a pair (h0, c0), got {describe(hx)}")
        expected.append((directions * module.num_layers, *batch, module.hidden_size))
        tensors, names = list(hx), ("hx: h0", "hx: c0")
    else:
        tensors, names = [hx], ("hx (h0)",)
    layout = "(D*L, H) for an unbatched x" if unbatched else "(D*L, B, H)"
    for name, tensor, shape in zip(names, tensors, expected, strict=False):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{name} must be a Tensor, got {describe(tensor)}")
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} {layout}, got {tuple(tensor.shape)}")
        if tensor.dtype != x.dtype:
            raise TypeError(f"{name} must have dtype {x.dtype} like x, got {tensor.dtype}")
        check_like(name, tensor, "x", x)


def scratch_forward(module: nn.Module, x: Tensor, hx: State | None = None):
    """``module(x, hx)`` recomputed with the scratch cells; same output layout.

    ``x``: (T, B, I), or (B, T, I) if ``batch_first``, or unbatched (T, I).
    ``hx``: (D*L, B, H) (LSTM: a pair ``(h0 (D*L, B, P or H), c0 (D*L, B, H))``), None for
    zeros. Returns ``(output (T, B, D*H), h_n (D*L, B, H))`` (batch-first output when the
    module is), or ``(output, (h_n, c_n))`` for an LSTM. Layer ``l > 0`` reads the two
    directions of layer ``l - 1`` concatenated (forward first).
    """
    check_recurrent_module(module)
    if isinstance(x, PackedSequence):
        raise TypeError(
            "scratch_forward does not take a PackedSequence: unpack it with "
            "pad_packed_sequence, or run each sequence on its own"
        )
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a Tensor, got {describe(x)}")
    if module.training and module.dropout > 0 and module.num_layers > 1:
        raise ValueError(
            f"scratch_forward does not model dropout: got a module in training mode with "
            f"dropout={module.dropout}; call module.eval() or set dropout=0"
        )
    if x.dim() not in (2, 3) or x.shape[-1] != module.input_size:
        raise ValueError(
            f"x must be (T, B, {module.input_size}), (B, T, {module.input_size}) with "
            f"batch_first, or unbatched (T, {module.input_size}), got {tuple(x.shape)}"
        )
    weight = module.weight_ih_l0
    if x.dtype != weight.dtype:
        raise TypeError(
            f"x has dtype {x.dtype} but the module's weights are {weight.dtype}; "
            f"expected x.to({weight.dtype}) or module.to({x.dtype})"
        )
    if x.device != weight.device:
        raise ValueError(f"x is on device {x.device} but the module's weights are on "
                         f"{weight.device}; expected x and module on one device")
    time_dim = 1 if module.batch_first and x.dim() == 3 else 0
    if x.shape[time_dim] < 1:
        raise ValueError(f"x must have at least one time step, got shape {tuple(x.shape)}")
    if hx is not None:
        _check_hx(module, hx, x)
    is_lstm = isinstance(module, nn.LSTM)
    unbatched = x.dim() == 2
    if unbatched:  # (T, I) -> (T, 1, I); hx (D*L, H) -> (D*L, 1, H)
        x = x.unsqueeze(1)
        if isinstance(hx, Tensor):
            hx = hx.unsqueeze(1)
        elif isinstance(hx, tuple | list) and all(isinstance(s, Tensor) for s in hx):
            hx = tuple(s.unsqueeze(1) for s in hx)
    elif module.batch_first:
        x = x.transpose(0, 1)  # (B, T, I) -> (T, B, I)
    batch = x.shape[1]
    directions = 2 if module.bidirectional else 1
    out_size = state_size(module)
    if hx is None:
        h0 = x.new_zeros(directions * module.num_layers, batch, out_size)
        c0 = x.new_zeros(directions * module.num_layers, batch, module.hidden_size)
    else:
        h0, c0 = hx if is_lstm else (hx, None)

    cell = cell_for(module)
    layer_input = x  # (T, B, I) for layer 0, then (T, B, D*H)
    h_n, c_n = [], []
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            start = (h0[index], c0[index]) if is_lstm else h0[index]
            weights = cell_weights(module, layer, reverse=direction == 1)
            out, last = run_cell(cell, layer_input, start, weights, reverse=direction == 1)
            outputs.append(out)  # (T, B, H)
            h_n.append(last[0] if is_lstm else last)
            if is_lstm:
                c_n.append(last[1])
        layer_input = torch.cat(outputs, dim=-1)  # (T, B, D*H)

    output, h_n = layer_input, torch.stack(h_n)  # (T, B, D*H), (D*L, B, H)
    c_n = torch.stack(c_n) if is_lstm else None
    if unbatched:
        output, h_n = output.squeeze(1), h_n.squeeze(1)
        c_n = c_n.squeeze(1) if is_lstm else None
    elif module.batch_first:
        output = output.transpose(0, 1)  # (B, T, D*H)
    return (output, (h_n, c_n)) if is_lstm else (output, h_n)
