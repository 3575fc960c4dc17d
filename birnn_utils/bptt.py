"""Backpropagation through time: a hand-written BPTT and measurements of gradient flow.

Shapes: ``T`` time steps, ``B`` batch, ``I`` input size, ``H`` hidden size.

- :func:`rnn_bptt_gradients`: BPTT for the tanh RNN written out by hand (chapter 1
  checks it against autograd).
- :func:`hidden_state_gradient_norms`: ‖∂L/∂h_t‖ against the distance T − t, for an
  ``nn.RNN``/``nn.GRU``/``nn.LSTM`` run step by step with the scratch cells.
- :func:`with_spectral_radius` and :func:`geometric_rate`: build a recurrent matrix with a
  chosen spectral radius, and fit the rate at which gradient norms shrink or grow.
"""

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from birnn_utils.cells import cell_weights, check_recurrent_module, rnn_cell, state_size
from birnn_utils.recurrent import cell_for
from birnn_utils.validation import (
    check_float,
    check_like,
    check_real_vector,
    check_tensor,
    describe,
)

__all__ = [
    "RNNGradients",
    "rnn_bptt_gradients",
    "hidden_state_gradient_norms",
    "with_spectral_radius",
    "geometric_rate",
]


class _RNNGradientsFields(NamedTuple):
    w_ih: Tensor  # (H, I)
    w_hh: Tensor  # (H, H)
    b_ih: Tensor | None  # (H,)
    b_hh: Tensor | None  # (H,)
    h0: Tensor  # (B, H)


class RNNGradients(_RNNGradientsFields):
    """Gradients of a loss w.r.t. the tanh RNN's parameters and initial state.

    ``b_ih``/``b_hh`` are None when the biases were None (the types are checked).
    """

    __slots__ = ()

    def __new__(cls, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
                h0: Tensor) -> "RNNGradients":
        for name, value in (("w_ih", w_ih), ("w_hh", w_hh), ("h0", h0),
                            ("b_ih", b_ih), ("b_hh", b_hh)):
            if not isinstance(value, Tensor) and not (name.startswith("b_") and value is None):
                kind = "a Tensor or None" if name.startswith("b_") else "a Tensor"
                raise TypeError(f"RNNGradients: {name} must be {kind}, got {describe(value)}")
        return super().__new__(cls, w_ih, w_hh, b_ih, b_hh, h0)


def _shape(value) -> str:
    return str(tuple(value.shape)) if isinstance(value, Tensor) else type(value).__name__


def _check_bptt_inputs(x, h0, w_ih, w_hh, b_ih, b_hh, grad_outputs) -> None:
    named = {"x": x, "h0": h0, "w_ih": w_ih, "w_hh": w_hh, "grad_outputs": grad_outputs}
    for name, value in {**named, "b_ih": b_ih, "b_hh": b_hh}.items():
        if value is None and name in ("b_ih", "b_hh"):
            continue
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be a Tensor, got {describe(value)}")
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {value.dtype}")
        if value.dtype != x.dtype:
            raise TypeError(f"{name} has dtype {value.dtype}, expected x's dtype {x.dtype}")
        check_like(name, value, "x", x)
    if x.dim() != 3 or x.shape[0] < 1:
        raise ValueError(f"x must have shape (T, B, I) with T >= 1, got {_shape(x)}")
    steps, batch, _ = x.shape
    if h0.dim() != 2 or h0.shape[0] != batch:
        raise ValueError(f"h0 must have shape (B={batch}, H), got {_shape(h0)}")
    hidden = h0.shape[1]
    expected = {
        "w_ih": (hidden, x.shape[2]), "w_hh": (hidden, hidden), "b_ih": (hidden,),
        "b_hh": (hidden,), "grad_outputs": (steps, batch, hidden),
    }
    given = {"w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh,
             "grad_outputs": grad_outputs}
    for name, value in given.items():
        if value is not None and tuple(value.shape) != expected[name]:
            raise ValueError(f"{name} has shape {_shape(value)}, expected {expected[name]} "
                             f"for x {_shape(x)} and h0 {_shape(h0)}")


def rnn_bptt_gradients(
    x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor,
    b_ih: Tensor | None, b_hh: Tensor | None, grad_outputs: Tensor,
) -> RNNGradients:
    """Hand-written BPTT for ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    x (T, B, I), h0 (B, H), grad_outputs (T, B, H) = e_t = ∂L/∂h_t through the outputs
    only (for ``L = Σ_t <e_t, h_t>``). Backward recursion, with a_t the pre-activation:

        δ_T = e_T,   δ_t = e_t + W_hhᵀ (δ_{t+1} ⊙ (1 − h_{t+1}²)),
        ∂L/∂a_t = δ_t ⊙ (1 − h_t²),  ∂L/∂W_ih = Σ_t ∂L/∂a_t x_tᵀ,  ∂L/∂W_hh = Σ_t ∂L/∂a_t h_{t-1}ᵀ,
        ∂L/∂b = Σ_t ∂L/∂a_t,  ∂L/∂h_0 = W_hhᵀ ∂L/∂a_1.
    """
    _check_bptt_inputs(x, h0, w_ih, w_hh, b_ih, b_hh, grad_outputs)
    with torch.no_grad():
        states = [h0.detach()]  # h_0 .. h_T, each (B, H)
        for x_t in x.detach():
            states.append(rnn_cell(x_t, states[-1], w_ih.detach(), w_hh.detach(),
                                   None if b_ih is None else b_ih.detach(),
                                   None if b_hh is None else b_hh.detach()))
        grad_w_ih = torch.zeros_like(w_ih)
        grad_w_hh = torch.zeros_like(w_hh)
        grad_b = torch.zeros_like(h0[0])  # (H,): b_ih and b_hh get the same gradient
        delta_next = torch.zeros_like(h0)  # ∂L/∂a_{t+1}, (B, H); zero after the last step
        for t in range(x.shape[0], 0, -1):
            delta = grad_outputs[t - 1] + delta_next @ w_hh.detach()  # δ_t, (B, H)
            grad_pre = delta * (1 - states[t] ** 2)  # ∂L/∂a_t = δ_t ⊙ tanh'(a_t), (B, H)
            grad_w_ih += grad_pre.T @ x[t - 1].detach()  # (H, I)
            grad_w_hh += grad_pre.T @ states[t - 1]  # (H, H)
            grad_b += grad_pre.sum(0)
            delta_next = grad_pre
        grad_h0 = delta_next @ w_hh.detach()  # (B, H)
    return RNNGradients(
        grad_w_ih, grad_w_hh,
        None if b_ih is None else grad_b.clone(), None if b_hh is None else grad_b.clone(),
        grad_h0,
    )


def _initial_state(module: nn.Module, hx, batch: int, unbatched: bool, like: Tensor):
    """Turn ``hx`` in the module's layout into per-step (B, H) tensors (h, c or h alone)."""
    is_lstm = isinstance(module, nn.LSTM)
    h_size = state_size(module)
    sizes = (h_size, module.hidden_size) if is_lstm else (h_size,)
    if hx is None:
        return tuple(like.new_zeros(batch, size) for size in sizes)
    parts = hx if is_lstm else (hx,)
    if is_lstm and (not isinstance(hx, tuple | list) or len(hx) != 2):
        raise TypeError(f"h0 for an nn.LSTM must be a pair (h0, c0), got {describe(hx)}")
    states = []
    for name, part, size in zip(("h0", "c0"), parts, sizes, strict=False):
        expected = (1, size) if unbatched else (1, batch, size)
        if not isinstance(part, Tensor):
            raise TypeError(f"{name} must be a Tensor, got {describe(part)}")
        if tuple(part.shape) != expected:
            raise ValueError(f"{name} has shape {_shape(part)}, expected {expected} "
                             "(the module's layout: num_layers * directions = 1 first)")
        if part.dtype != like.dtype:
            raise TypeError(f"{name} has dtype {part.dtype}, expected {like.dtype}")
        check_like(name, part, "x", like)
        states.append(part.reshape(batch, size))
    return tuple(states)


def hidden_state_gradient_norms(
    module: nn.Module, x: Tensor, h0=None, grad_output: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """How much a loss on the last state depends on each earlier state.

    ``module``: a single-layer unidirectional ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM``.
    ``x``: (T, B, I), or (B, T, I) if ``module.batch_first``, or unbatched (T, I).
    ``h0``: None (zeros) or the module's layout, (1, B, H) or (1, H); a pair for an LSTM.
    ``grad_output``: ∂L/∂h_T, shaped like h_T ((B, H) or (H,)); default all ones,
    i.e. ``L = h_T.sum()``.

    The module is run step by step with the scratch cells (the same function as the
    module), keeping every state h_1..h_T, and autograd gives ∂L/∂h_t (all paths from h_t
    to h_T, through c_t too for an LSTM). Returns ``distances`` (T,) int64 = 0..T−1 and
    ``norms`` (T,) with ``norms[k] = ‖∂L/∂h_{T−k}‖`` (Frobenius norm over the batch).
    Nothing is accumulated in the parameters' ``.grad``.
    """
    check_recurrent_module(module)
    if module.num_layers != 1 or module.bidirectional:
        raise ValueError(
            "expected a single-layer unidirectional module, got num_layers="
            f"{module.num_layers}, bidirectional={module.bidirectional}"
        )
    weights = cell_weights(module)
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a Tensor, got {describe(x)}")
    if x.dim() not in (2, 3) or x.shape[-1] != module.input_size:
        layout = "(B, T, I)" if module.batch_first else "(T, B, I)"
        raise ValueError(f"x must have shape {layout} or (T, I) with I={module.input_size}, "
                         f"got {_shape(x)}")
    if x.dtype != weights.w_ih.dtype:
        raise TypeError(f"x has dtype {x.dtype}, expected the module's {weights.w_ih.dtype}")
    check_like("x", x, "the module's weights", weights.w_ih)
    unbatched = x.dim() == 2
    seq = x.unsqueeze(1) if unbatched else (x.transpose(0, 1) if module.batch_first else x)
    steps, batch = seq.shape[0], seq.shape[1]  # seq: (T, B, I)
    if steps < 1:
        raise ValueError(f"x must have at least one time step, got shape {_shape(x)}")
    state = _initial_state(module, h0, batch, unbatched, seq)
    h_size = state[0].shape[1]
    if grad_output is None:
        grad = seq.new_ones(batch, h_size)
    else:
        expected = (h_size,) if unbatched else (batch, h_size)
        if not isinstance(grad_output, Tensor):
            raise TypeError(f"grad_output must be a Tensor shaped like h_T {expected}, got "
                            f"{describe(grad_output)}")
        if tuple(grad_output.shape) != expected:
            raise ValueError(f"grad_output must have shape {expected} (like h_T), got "
                             f"{_shape(grad_output)}")
        check_tensor("grad_output", grad_output, floating=True, finite=True,
                     device=seq.device)
        grad = grad_output.detach().reshape(batch, h_size).to(seq.dtype)

    with torch.enable_grad():
        # A fresh leaf h_0 that requires grad puts every state in the graph, even when
        # the parameters are frozen; it is a copy, so the caller's h0 is left alone.
        h = state[0].detach().clone().requires_grad_(True)
        carry = (h, state[1].detach().clone()) if len(state) == 2 else h  # LSTM: (h, c)
        cell = cell_for(module)
        extra = {} if weights.w_hr is None else {"w_hr": weights.w_hr}
        states = []
        for x_t in seq:  # x_t: (B, I)
            carry = cell(x_t, carry, *weights[:4], **extra)
            states.append(carry[0] if isinstance(carry, tuple) else carry)  # h_t: (B, H)
        grads = torch.autograd.grad(states[-1], states, grad_outputs=grad)
    norms = torch.stack([g.norm() for g in reversed(grads)]).detach()  # (T,), T − t = 0..T−1
    distances = torch.arange(steps)
    return distances, norms


def with_spectral_radius(matrix: Tensor, radius: float) -> Tensor:
    """A copy of the square ``matrix`` (H, H) scaled so its spectral radius is ``radius``.

    The spectral radius is the largest |eigenvalue|; scaling by a scalar scales every
    eigenvalue by it.
    """
    if not isinstance(matrix, Tensor) or matrix.dtype not in (torch.float32, torch.float64):
        got = f"dtype {matrix.dtype}" if isinstance(matrix, Tensor) else describe(matrix)
        raise TypeError(f"matrix must be a float32 or float64 Tensor, got {got}")
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"matrix must be square (H, H) with H >= 1, got {_shape(matrix)}")
    radius = check_float("radius", radius, minimum=0, min_inclusive=False)
    if matrix.device.type == "meta":
        raise ValueError("matrix must hold values, got a tensor on the meta device")
    # Before any linear algebra: eigvals of a float32 matrix holding a NaN can crash the
    # interpreter (oneMKL), and a NaN or inf would give an all-NaN result.
    check_tensor("matrix", matrix, finite=True)
    current = torch.linalg.eigvals(matrix.detach()).abs().max().item()
    if current == 0:
        raise ValueError("matrix has spectral radius 0 (it is nilpotent); cannot rescale it")
    return matrix.detach() * (radius / current)


def geometric_rate(distances, norms) -> float:
    """Fit ``norms ≈ C · rate ** distances`` by least squares on log(norms); return rate.

    A rate below 1 means the gradient vanishes geometrically with the distance in time,
    above 1 that it explodes. ``distances`` and ``norms``: (L,) with L >= 2, norms > 0.
    """
    xs = torch.from_numpy(check_real_vector("distances", distances, min_length=2))
    ys_array = check_real_vector("norms", norms, finite=False)
    if ys_array.shape != tuple(xs.shape):
        raise ValueError(f"distances and norms must be 1-D of the same length >= 2, got "
                         f"shapes {tuple(xs.shape)} and {ys_array.shape}")
    ys = torch.from_numpy(ys_array)
    if not bool((ys > 0).all()) or not bool(torch.isfinite(ys).all()):
        raise ValueError(f"norms must be finite and > 0 to fit a geometric rate, got min "
                         f"{ys.min().item():g} and {int((~torch.isfinite(ys)).sum())} non-finite")
    if bool((xs == xs[0]).all()):
        raise ValueError("distances must not all be equal")
    xc, logc = xs - xs.mean(), ys.log() - ys.log().mean()
    slope = (xc * logc).sum() / (xc * xc).sum()
    return math.exp(slope.item())
