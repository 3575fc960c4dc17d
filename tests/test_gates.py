"""GRU gates and variants against nn.GRU and against formulas written out here, plus bad
inputs (which must raise before anything changes)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from birnn_utils.cells import CellWeights, cell_weights, gru_cell
from birnn_utils.gates import (
    VARIANTS,
    GRUGates,
    cho_gru_cell,
    gru_gates,
    gru_step,
    record_gru_gates,
)
from birnn_utils.recurrent import run_cell

sizes = st.integers(1, 5)


def make_gru(seed, inp, hidden, **kwargs):
    """A float64 nn.GRU whose initial weights depend only on ``seed``."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.GRU(inp, hidden, **kwargs).double()


def random(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def by_hand(x, h, module, variant):
    """One step written out with the named parameters, one gate per line (no chunk)."""
    hidden = module.hidden_size
    w_ih, w_hh = module.weight_ih_l0, module.weight_hh_l0
    b_ih = module.bias_ih_l0 if module.bias else torch.zeros(3 * hidden, dtype=torch.float64)
    b_hh = module.bias_hh_l0 if module.bias else torch.zeros(3 * hidden, dtype=torch.float64)
    rows = {gate: slice(k * hidden, (k + 1) * hidden) for k, gate in enumerate("rzn")}
    r = torch.sigmoid(x @ w_ih[rows["r"]].T + b_ih[rows["r"]]
                      + h @ w_hh[rows["r"]].T + b_hh[rows["r"]])
    z = torch.sigmoid(x @ w_ih[rows["z"]].T + b_ih[rows["z"]]
                      + h @ w_hh[rows["z"]].T + b_hh[rows["z"]])
    x_part = x @ w_ih[rows["n"]].T + b_ih[rows["n"]]
    w_hn, b_hn = w_hh[rows["n"]], b_hh[rows["n"]]
    if variant == "pytorch":
        n = torch.tanh(x_part + r * (h @ w_hn.T + b_hn))
    elif variant == "bias_outside":
        n = torch.tanh(x_part + r * (h @ w_hn.T) + b_hn)
    else:
        n = torch.tanh(x_part + (r * h) @ w_hn.T + b_hn)
    return r, z, n, (1 - z) * n + z * h


@given(seed=st.integers(0, 2**16), batch=sizes, inp=sizes, hidden=sizes, bias=st.booleans(),
       variant=st.sampled_from(VARIANTS))
def test_gates_match_the_formulas(seed, batch, inp, hidden, bias, variant):
    module = make_gru(seed, inp, hidden, bias=bias)
    gen = torch.Generator().manual_seed(seed)
    x, h = random(gen, batch, inp), random(gen, batch, hidden)
    with torch.no_grad():
        gates = gru_gates(x, h, cell_weights(module), variant)
        r, z, n, h_new = by_hand(x, h, module, variant)
        assert isinstance(gates, GRUGates)
        for got, expected in zip(gates, (r, z, n), strict=True):
            torch.testing.assert_close(got, expected)
        torch.testing.assert_close(gru_step(x, h, cell_weights(module), variant), h_new)


@given(seed=st.integers(0, 2**16), batch=sizes, inp=sizes, hidden=sizes, bias=st.booleans())
def test_pytorch_variant_is_nn_gru(seed, batch, inp, hidden, bias):
    module = make_gru(seed, inp, hidden, bias=bias)
    gen = torch.Generator().manual_seed(seed)
    x, h = random(gen, batch, inp), random(gen, batch, hidden)
    with torch.no_grad():
        _, expected = module(x[None], h[None])  # one step: h_n (1, B, H)
        torch.testing.assert_close(gru_step(x, h, cell_weights(module)), expected[0])
        torch.testing.assert_close(gru_step(x, h, cell_weights(module)),
                                   gru_cell(x, h, *cell_weights(module)[:4]))


@given(seed=st.integers(0, 2**16), steps=sizes, batch=sizes, inp=sizes, hidden=sizes)
def test_cho_cell_unrolls_like_the_formula(seed, steps, batch, inp, hidden):
    module = make_gru(seed, inp, hidden)
    gen = torch.Generator().manual_seed(seed)
    x, h0 = random(gen, steps, batch, inp), random(gen, batch, hidden)
    with torch.no_grad():
        out, last = run_cell(cho_gru_cell, x, h0, cell_weights(module))
        h = h0
        for t in range(steps):
            h = by_hand(x[t], h, module, "cho")[3]
            torch.testing.assert_close(out[t], h)
        torch.testing.assert_close(last, h)


def test_the_variants_are_different_functions():
    # Same weights, three different steps: r < 1 and b_hn != 0 separate them.
    module = make_gru(0, 3, 4)
    gen = torch.Generator().manual_seed(0)
    x, h = random(gen, 5, 3), random(gen, 5, 4)
    with torch.no_grad():
        steps = {variant: gru_step(x, h, cell_weights(module), variant) for variant in VARIANTS}
        for a in VARIANTS:
            for b in VARIANTS:
                assert (a == b) == torch.allclose(steps[a], steps[b]), (a, b)
        # With W_hn diagonal and b_hn = 0, r * (W_hn h) == W_hn (r * h): all three agree.
        w_hn = module.weight_hh_l0[8:]
        w_hn.copy_(torch.diag(torch.diagonal(w_hn)))
        module.bias_hh_l0[8:] = 0.0
        agree = [gru_step(x, h, cell_weights(module), variant) for variant in VARIANTS]
    torch.testing.assert_close(agree[0], agree[1])
    torch.testing.assert_close(agree[0], agree[2])


@given(seed=st.integers(0, 2**16), steps=sizes, batch=sizes, inp=sizes, hidden=sizes,
       batch_first=st.booleans(), zero_start=st.booleans())
def test_record_gru_gates_matches_the_module(seed, steps, batch, inp, hidden, batch_first,
                                              zero_start):
    module = make_gru(seed, inp, hidden, batch_first=batch_first)
    gen = torch.Generator().manual_seed(seed)
    x = random(gen, *((batch, steps) if batch_first else (steps, batch)), inp)
    h0 = None if zero_start else random(gen, 1, batch, hidden)
    with torch.no_grad():
        expected, _ = module(x, h0)
    output, gates = record_gru_gates(module, x, h0)
    torch.testing.assert_close(output, expected)
    # The gates of step t, recomputed from the module's own state h_(t-1).
    seq = x.transpose(0, 1) if batch_first else x  # (T, B, I)
    states = expected.transpose(0, 1) if batch_first else expected  # (T, B, H)
    start = torch.zeros(batch, hidden, dtype=torch.float64) if zero_start else h0[0]
    before = torch.cat([start[None], states[:-1]])  # h_0 .. h_(T-1)
    for t in range(steps):
        r, z, n, _ = by_hand(seq[t], before[t], module, "pytorch")
        for got, want in zip(gates, (r, z, n), strict=True):
            step = got[:, t] if batch_first else got[t]
            torch.testing.assert_close(step, want.detach())
    assert all(g.shape == output.shape and not g.requires_grad for g in gates)


def test_update_gate_near_one_holds_the_state():
    # b_iz = 30: z = 1 in float64 up to 1e-13, so every output is h_0.
    module = make_gru(1, 2, 3)
    with torch.no_grad():
        module.bias_ih_l0[3:6] = 30.0
    gen = torch.Generator().manual_seed(1)
    x, h0 = random(gen, 7, 2, 2), random(gen, 1, 2, 3)
    output, gates = record_gru_gates(module, x, h0)
    assert gates.z.min() > 1 - 1e-12
    torch.testing.assert_close(output, h0.expand(7, 2, 3))


def _args():
    module = make_gru(0, 3, 4)
    return torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64), module


def _snapshot(*tensors):
    return [t.clone() for t in tensors]


@given(variant=st.one_of(st.text(max_size=12), st.integers(), st.none(), st.booleans()))
def test_bad_variant(variant):
    x, h, module = _args()
    before = _snapshot(x, h, *module.parameters())
    expected = ValueError if isinstance(variant, str) else TypeError
    if variant in VARIANTS:
        return
    with pytest.raises(expected, match="variant must be one of"):
        gru_gates(x, h, cell_weights(module), variant)
    for old, new in zip(before, [x, h, *module.parameters()], strict=True):
        assert torch.equal(old, new)


@given(batch=st.integers(0, 4), inp=st.integers(0, 5), hidden=st.integers(0, 6),
       dim=st.integers(1, 3))
def test_bad_step_shapes(batch, inp, hidden, dim):
    x_ok, h_ok, module = _args()
    x = torch.zeros(*([batch] * (dim - 1)), inp, dtype=torch.float64)
    h = torch.zeros(*([batch] * (dim - 1)), hidden, dtype=torch.float64)
    if dim == 2 and (inp, hidden) == (3, 4):
        return  # a valid call
    weights = cell_weights(module)
    before = _snapshot(x, h, *module.parameters())
    with pytest.raises(ValueError, match="must have 2 dimensions|must be \\(B, 3\\)"):
        gru_step(x, h, weights)
    for old, new in zip(before, [x, h, *module.parameters()], strict=True):
        assert torch.equal(old, new)
    with pytest.raises(ValueError):
        gru_step(x_ok, h_ok[:1], weights)  # batch sizes differ


@pytest.mark.parametrize(
    ("weights", "error", "match"),
    [
        ((1, 2), TypeError, "weights must be a CellWeights"),
        ("w", TypeError, "weights must be a CellWeights"),
        (cell_weights(nn.LSTM(3, 4).double()), ValueError, "weights must be a GRU's"),
        (cell_weights(nn.RNN(3, 4).double()), ValueError, "weights must be a GRU's"),
        (CellWeights(torch.zeros(12, 3), torch.zeros(12, 4, dtype=torch.int64), None, None),
         TypeError, r"weights.w_hh must have the dtype of weights.w_ih \(float32\), got .*int64"),
        (CellWeights(torch.zeros(12, 3, dtype=torch.int64), torch.zeros(12, 4), None, None),
         TypeError, "weights.w_ih must have a floating-point dtype"),
        (CellWeights(torch.zeros(12, 3), torch.zeros(12, 4), torch.zeros(12).double(), None),
         TypeError, r"weights.b_ih must have the dtype of weights.w_ih \(float32\)"),
        (CellWeights(torch.zeros(12, 3), torch.zeros(12, 4), torch.zeros(11), None),
         ValueError, r"weights.b_ih must have shape \(12,\)"),
        (CellWeights(torch.zeros(12, 3), torch.zeros(12, 4), None, torch.zeros(12, 1)),
         ValueError, "weights.b_hh must have 1 dimensions"),
        (CellWeights(torch.zeros(12, 3), torch.zeros(12, 4), None, None, torch.zeros(2, 4)),
         ValueError, "w_hr must be None"),
    ],
)
def test_bad_weights(weights, error, match):
    x, h = torch.zeros(2, 3), torch.zeros(2, 4)
    with pytest.raises(error, match=match):
        gru_gates(x, h, weights)


def test_cho_cell_bad_input_names_the_argument():
    x, h, module = _args()
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        cho_gru_cell([1.0], h, *cell_weights(module)[:4])


@pytest.mark.parametrize("which", ["x", "h"])
def test_inputs_must_have_the_weights_dtype(which):
    x, h, module = _args()  # float64 weights
    args = {"x": x, "h": h} | {which: {"x": x, "h": h}[which].float()}
    before = _snapshot(x, h, *module.parameters())
    expected = rf"^{which} must have the dtype of weights.w_ih \(float64\), got .*float32"
    with pytest.raises(TypeError, match=expected):
        gru_gates(args["x"], args["h"], cell_weights(module))
    for old, new in zip(before, [x, h, *module.parameters()], strict=True):
        assert torch.equal(old, new)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m, x: record_gru_gates(nn.LSTM(3, 4), x), TypeError, "module must be a GRU"),
        (lambda m, x: record_gru_gates(nn.GRU(3, 4, num_layers=2).double(), x), ValueError,
         "one-layer unidirectional"),
        (lambda m, x: record_gru_gates(nn.GRU(3, 4, bidirectional=True).double(), x),
         ValueError, "one-layer unidirectional"),
        (lambda m, x: record_gru_gates(m, x[0]), ValueError, "x must have 3 dimensions"),
        (lambda m, x: record_gru_gates(m, x.float()), TypeError,
         r"x must have the dtype of the module's weights \(float64\)"),
        (lambda m, x: record_gru_gates(m, x[..., :2]), ValueError, "I=3"),
        (lambda m, x: record_gru_gates(m, x[:0]), ValueError, "T >= 1"),
        (lambda m, x: record_gru_gates(m, x, torch.zeros(1, 2, 4)), TypeError,
         "h0 must have the dtype of the module's weights"),
        (lambda m, x: record_gru_gates(m, x.to("meta")), ValueError,
         r"x must be on the device of the module's weights \(cpu\), got meta"),
        (lambda m, x: record_gru_gates(m, x, torch.zeros(1, 3, 4, dtype=torch.float64)),
         ValueError, r"h0 must have shape \(1, 2, 4\)"),
        (lambda m, x: record_gru_gates(m, x, [0.0]), TypeError, "h0 must be a torch.Tensor"),
    ],
)
def test_record_gru_gates_bad_inputs(call, error, match):
    module = make_gru(0, 3, 4)
    x = torch.ones(5, 2, 3, dtype=torch.float64)
    before = _snapshot(x, *module.parameters())
    with pytest.raises(error, match=match):
        call(module, x)
    for old, new in zip(before, [x, *module.parameters()], strict=True):
        assert torch.equal(old, new)
