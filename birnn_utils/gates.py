"""Looking inside a GRU: its gates at one step or along a sequence, and two variants.

PyTorch's ``nn.GRU`` applies the reset gate *after* the recurrent product,
``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``, the form of cuDNN (Keras calls it
``reset_after=True``, ONNX ``linear_before_reset=1``). Cho et al. (2014) apply it *before*,
``n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)``. The ``variant`` argument chooses:

- ``"pytorch"``: reset after the product, ``b_hn`` inside it (``nn.GRU``);
- ``"cho"``: reset before the product (Cho et al.);
- ``"bias_outside"``: reset after the product but ``b_hn`` outside it,
  ``n = tanh(W_in x + b_in + r ⊙ (W_hn h) + b_hn)``.

All three read the same parameters, in PyTorch's layout (gate order r, z, n; see
:func:`birnn_utils.cells.cell_weights`); only ``n`` differs. Shapes: ``x`` (B, I), ``h`` (B, H);
sequences are time-major (T, B, I) unless the module is ``batch_first``.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from birnn_utils.cells import CellWeights, cell_weights
from birnn_utils.validation import check_choice, check_like, check_module, check_tensor

__all__ = ["VARIANTS", "GRUGates", "gru_gates", "gru_step", "cho_gru_cell", "record_gru_gates"]

VARIANTS = ("pytorch", "cho", "bias_outside")


class GRUGates(NamedTuple):
    """The reset gate ``r``, the update gate ``z`` and the candidate ``n``, each (..., B, H)."""

    r: Tensor
    z: Tensor
    n: Tensor


def _check_weights(weights: object) -> CellWeights:
    if not isinstance(weights, tuple) or len(weights) not in (4, 5):
        raise TypeError("weights must be a CellWeights (w_ih, w_hh, b_ih, b_hh[, w_hr]) of "
                        f"an nn.GRU, got {type(weights).__name__}")
    weights = CellWeights(*weights)
    check_tensor("weights.w_ih", weights.w_ih, dim=2, floating=True)
    check_tensor("weights.w_hh", weights.w_hh, dim=2)
    check_like("weights.w_hh", weights.w_hh, "weights.w_ih", weights.w_ih)  # names both
    rows, hidden = weights.w_hh.shape
    if rows != 3 * hidden or weights.w_ih.shape[0] != rows:
        raise ValueError(
            f"weights must be a GRU's: w_ih (3H, I) and w_hh (3H, H), got shapes "
            f"{tuple(weights.w_ih.shape)} and {tuple(weights.w_hh.shape)}"
        )
    for name in ("b_ih", "b_hh"):
        bias = getattr(weights, name)
        if bias is not None:
            check_tensor(f"weights.{name}", bias, dim=1)
            check_like(f"weights.{name}", bias, "weights.w_ih", weights.w_ih)
            if bias.shape[0] != rows:
                raise ValueError(f"weights.{name} must have shape ({rows},), got "
                                 f"{tuple(bias.shape)}")
    if weights.w_hr is not None:
        raise ValueError("weights.w_hr must be None for a GRU (it is the LSTM projection)")
    return weights


def _check_step(x: object, h: object, weights: CellWeights) -> None:
    for name, value in (("x", x), ("h", h)):  # a mismatch message names both arguments
        check_tensor(name, value, dim=2)
        check_like(name, value, "weights.w_ih", weights.w_ih)
    inputs, hidden = weights.w_ih.shape[1], weights.w_hh.shape[1]
    if x.shape[1] != inputs or h.shape[1] != hidden or x.shape[0] != h.shape[0]:
        raise ValueError(
            f"x must be (B, {inputs}) and h (B, {hidden}) with the same B for these weights, "
            f"got shapes {tuple(x.shape)} and {tuple(h.shape)}"
        )


def gru_gates(x: Tensor, h: Tensor, weights: CellWeights, variant: str = "pytorch") -> GRUGates:
    """The gates ``(r, z, n)`` of one GRU step, each (B, H), for x (B, I) and h (B, H).

    ``r`` and ``z`` are the same in every variant; ``n`` follows ``variant`` (see the
    module docstring). ``weights``: the :class:`~birnn_utils.cells.CellWeights` of an ``nn.GRU``.
    """
    weights = _check_weights(weights)
    _check_step(x, h, weights)
    check_choice("variant", variant, VARIANTS)
    w_ir, w_iz, w_in = weights.w_ih.chunk(3)  # each (H, I)
    w_hr, w_hz, w_hn = weights.w_hh.chunk(3)  # each (H, H)
    zeros = weights.w_hh.new_zeros(weights.w_hh.shape[0])  # bias=False: all biases are 0
    b_ir, b_iz, b_in = (zeros if weights.b_ih is None else weights.b_ih).chunk(3)  # each (H,)
    b_hr, b_hz, b_hn = (zeros if weights.b_hh is None else weights.b_hh).chunk(3)
    r = torch.sigmoid(F.linear(x, w_ir, b_ir) + F.linear(h, w_hr, b_hr))
    z = torch.sigmoid(F.linear(x, w_iz, b_iz) + F.linear(h, w_hz, b_hz))
    if variant == "pytorch":  # reset after the product, b_hn scaled by r
        n = torch.tanh(F.linear(x, w_in, b_in) + r * F.linear(h, w_hn, b_hn))
    elif variant == "bias_outside":  # reset after the product, b_hn not scaled
        n = torch.tanh(F.linear(x, w_in, b_in) + r * F.linear(h, w_hn) + b_hn)
    else:  # "cho": reset before the product
        n = torch.tanh(F.linear(x, w_in, b_in) + F.linear(r * h, w_hn, b_hn))
    return GRUGates(r, z, n)


def gru_step(x: Tensor, h: Tensor, weights: CellWeights, variant: str = "pytorch") -> Tensor:
    """One GRU step of ``variant``: ``(1 - z) ⊙ n + z ⊙ h``, (B, H)."""
    _, z, n = gru_gates(x, h, weights, variant)
    return (1 - z) * n + z * h


def cho_gru_cell(
    x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor,
    b_ih: Tensor | None = None, b_hh: Tensor | None = None,
) -> Tensor:
    """Cho et al.'s GRU step with PyTorch's parameters; x (B, I), h (B, H) -> (B, H).

    Same signature as :func:`birnn_utils.cells.gru_cell`, so
    :func:`birnn_utils.recurrent.run_cell` unrolls it. The reset gate multiplies ``h``
    before ``W_hn``, so the step needs two recurrent products, the second after ``r``.
    """
    return gru_step(x, h, CellWeights(w_ih, w_hh, b_ih, b_hh), variant="cho")


def record_gru_gates(module: nn.GRU, x: Tensor, h0: Tensor | None = None
                     ) -> tuple[Tensor, GRUGates]:
    """Run a one-layer unidirectional ``nn.GRU`` step by step and keep its gates.

    ``x``: (T, B, I), or (B, T, I) if ``module.batch_first``; ``h0``: None (zeros) or
    (1, B, H). Returns ``(output, gates)`` in the module's layout: ``output`` (T, B, H) is
    what ``module(x, h0)[0]`` returns, and ``gates.r``, ``gates.z``, ``gates.n`` (T, B, H)
    are the gates of each step (``z[t]`` decides how much of ``h_t`` is the old state).
    Runs without autograd; the module is not changed.
    """
    check_module("module", module, nn.GRU)
    if module.num_layers != 1 or module.bidirectional:
        raise ValueError("module must be a one-layer unidirectional nn.GRU, got num_layers="
                         f"{module.num_layers}, bidirectional={module.bidirectional}")
    weights = cell_weights(module)
    check_tensor("x", x, dim=3)
    check_like("x", x, "the module's weights", weights.w_ih)
    seq = x.transpose(0, 1) if module.batch_first else x  # (T, B, I)
    steps, batch = seq.shape[0], seq.shape[1]
    if steps < 1 or seq.shape[2] != module.input_size:
        layout = "(B, T, I)" if module.batch_first else "(T, B, I)"
        raise ValueError(f"x must have shape {layout} with T >= 1 and I={module.input_size}, "
                         f"got {tuple(x.shape)}")
    if h0 is None:
        h = seq.new_zeros(batch, module.hidden_size)  # (B, H)
    else:
        check_tensor("h0", h0, dim=3)
        check_like("h0", h0, "the module's weights", weights.w_ih)
        if tuple(h0.shape) != (1, batch, module.hidden_size):
            raise ValueError(f"h0 must have shape (1, {batch}, {module.hidden_size}), got "
                             f"{tuple(h0.shape)}")
        h = h0[0]
    states, recorded = [], []
    with torch.no_grad():
        for x_t in seq:  # x_t: (B, I)
            gates = gru_gates(x_t, h, weights)
            h = (1 - gates.z) * gates.n + gates.z * h  # (B, H)
            states.append(h)
            recorded.append(gates)
    layout = (lambda t: t.transpose(0, 1)) if module.batch_first else (lambda t: t)
    stacked = GRUGates(*(layout(torch.stack(g)) for g in zip(*recorded, strict=True)))
    return layout(torch.stack(states)), stacked
