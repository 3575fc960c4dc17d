"""scratch_forward and run_cell against nn.RNN/nn.GRU/nn.LSTM: values, gradients, bad inputs."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from birnn_utils.cells import cell_weights, gru_cell, lstm_cell
from birnn_utils.recurrent import cell_for, run_cell, scratch_forward

KINDS = ["rnn_tanh", "rnn_relu", "gru", "lstm", "lstm_proj"]


def make_module(kind, seed, inp, hidden, **kwargs):
    """A float64 module of ``kind`` whose weights depend only on ``seed``."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if kind.startswith("rnn"):
            module = nn.RNN(inp, hidden, nonlinearity=kind[4:], **kwargs)
        elif kind == "gru":
            module = nn.GRU(inp, hidden, **kwargs)
        else:
            proj_size = max(hidden - 1, 1) if kind == "lstm_proj" else 0
            module = nn.LSTM(inp, hidden + (kind == "lstm_proj"), proj_size=proj_size, **kwargs)
        return module.double()


def make_inputs(module, seed, steps, batch, with_hx):
    """Random x in the module's layout and, if ``with_hx``, a random initial state."""
    gen = torch.Generator().manual_seed(seed + 1)
    shape = (batch, steps) if module.batch_first else (steps, batch)
    x = torch.randn(*shape, module.input_size, generator=gen, dtype=torch.float64)
    if not with_hx:
        return x, None
    layers = module.num_layers * (2 if module.bidirectional else 1)
    is_lstm = isinstance(module, nn.LSTM)
    out_size = module.proj_size if is_lstm and module.proj_size else module.hidden_size
    h0 = torch.randn(layers, batch, out_size, generator=gen, dtype=torch.float64)
    if not is_lstm:
        return x, h0
    return x, (h0, torch.randn(layers, batch, module.hidden_size, generator=gen,
                               dtype=torch.float64))


module_settings = st.fixed_dictionaries({
    "kind": st.sampled_from(KINDS),
    "seed": st.integers(0, 2**16),
    "inp": st.integers(1, 4),
    "hidden": st.integers(1, 4),
    "num_layers": st.integers(1, 3),
    "bidirectional": st.booleans(),
    "batch_first": st.booleans(),
    "bias": st.booleans(),
})


@given(settings=module_settings, steps=st.integers(1, 5), batch=st.integers(1, 3),
       with_hx=st.booleans())
def test_scratch_forward_equals_module(settings, steps, batch, with_hx):
    settings = dict(settings)
    seed = settings.pop("seed")
    module = make_module(settings.pop("kind"), seed, settings.pop("inp"),
                         settings.pop("hidden"), **settings)
    x, hx = make_inputs(module, seed, steps, batch, with_hx)
    torch.testing.assert_close(scratch_forward(module, x, hx), module(x, hx))


@given(settings=module_settings, steps=st.integers(1, 4), batch=st.integers(1, 3))
def test_scratch_forward_gradients_equal_module_gradients(settings, steps, batch):
    settings = dict(settings)
    seed = settings.pop("seed")
    module = make_module(settings.pop("kind"), seed, settings.pop("inp"),
                         settings.pop("hidden"), **settings)
    x, hx = make_inputs(module, seed, steps, batch, with_hx=True)
    x.requires_grad_(True)
    leaves = [x, *module.parameters()]

    def grads(forward):
        output, state = forward(module, x, hx)
        h_n = state[0] if isinstance(state, tuple) else state
        # A loss touching every output and the final state, with unequal weights.
        weights = torch.linspace(0.5, 1.5, output.numel(), dtype=torch.float64)
        loss = (output.flatten() * weights).sum() + h_n.pow(2).sum()
        return torch.autograd.grad(loss, leaves)

    expected = grads(lambda m, x_, hx_: m(x_, hx_))
    torch.testing.assert_close(grads(scratch_forward), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_scratch_forward_unbatched_input(kind):
    module = make_module(kind, 0, 3, 4, num_layers=2, bidirectional=True)
    x, hx = make_inputs(module, 0, 5, 1, with_hx=True)
    x = x[:, 0]  # (T, I)
    hx = tuple(s[:, 0] for s in hx) if isinstance(hx, tuple) else hx[:, 0]  # (D*L, H)
    torch.testing.assert_close(scratch_forward(module, x, hx), module(x, hx))
    torch.testing.assert_close(scratch_forward(module, x), module(x))


def test_scratch_forward_float32_default_module():
    torch.manual_seed(0)
    module = nn.GRU(3, 5, bidirectional=True, batch_first=True)
    x = torch.randn(2, 7, 3)
    torch.testing.assert_close(scratch_forward(module, x), module(x))


def test_dropout_is_rejected_in_training_and_ignored_in_eval():
    module = make_module("gru", 0, 2, 3, num_layers=2, dropout=0.5)
    x, _ = make_inputs(module, 0, 4, 2, with_hx=False)
    with pytest.raises(ValueError, match=r"dropout=0.5.*module.eval\(\)"):
        scratch_forward(module, x)
    module.eval()
    torch.testing.assert_close(scratch_forward(module, x), module(x))


@pytest.mark.parametrize("kind", ["gru", "lstm_proj"])
def test_run_cell_matches_unidirectional_module_and_reverse_is_the_flip(kind):
    module = make_module(kind, 1, 3, 4)
    x, hx = make_inputs(module, 1, 6, 2, with_hx=True)
    h0 = tuple(s[0] for s in hx) if isinstance(hx, tuple) else hx[0]
    weights = cell_weights(module)
    cell = cell_for(module)
    outputs, last = run_cell(cell, x, h0, weights)
    expected_outputs, expected_last = module(x, hx)
    torch.testing.assert_close(outputs, expected_outputs)
    if isinstance(last, tuple):
        torch.testing.assert_close(last, tuple(s[0] for s in expected_last))
    else:
        torch.testing.assert_close(last, expected_last[0])
    # Reverse: running T-1..0 equals running the flipped sequence, outputs flipped back.
    rev_outputs, rev_last = run_cell(cell, x, h0, weights, reverse=True)
    flip_outputs, flip_last = run_cell(cell, x.flip(0), h0, weights)
    torch.testing.assert_close(rev_outputs, flip_outputs.flip(0))
    torch.testing.assert_close(rev_last, flip_last)


def test_cell_for_picks_the_matching_cell():
    assert cell_for(nn.GRU(1, 1)) is gru_cell
    assert cell_for(nn.LSTM(1, 1)) is lstm_cell
    assert cell_for(nn.RNN(1, 1, nonlinearity="relu")).keywords == {"nonlinearity": "relu"}


def test_run_cell_bad_inputs():
    module = make_module("gru", 0, 3, 4)
    weights, h0 = cell_weights(module), torch.zeros(2, 4, dtype=torch.float64)
    x = torch.zeros(5, 2, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match="cell must be callable"):
        run_cell("gru", x, h0, weights)
    with pytest.raises(ValueError, match=r"time-major tensor \(T, B, I\), got \(2, 3\)"):
        run_cell(gru_cell, x[0], h0, weights)
    with pytest.raises(ValueError, match="at least one time step"):
        run_cell(gru_cell, x[:0], h0, weights)
    with pytest.raises(TypeError, match="weights must be a CellWeights"):
        run_cell(gru_cell, x, h0, module)


def test_scratch_forward_bad_inputs():
    gru = make_module("gru", 0, 3, 4, num_layers=2)
    lstm = make_module("lstm", 0, 3, 4)
    x = torch.zeros(5, 2, 3, dtype=torch.float64)
    packed = pack_padded_sequence(x, torch.tensor([5, 3]))
    cases = [
        (lambda: scratch_forward(gru, packed), TypeError, "PackedSequence: unpack it"),
        (lambda: scratch_forward(nn.Linear(3, 4), x), TypeError, "got Linear"),
        (lambda: scratch_forward(gru, x.numpy()), TypeError, "x must be a Tensor, got ndarray"),
        (lambda: scratch_forward(gru, x[..., :2]), ValueError, r"\(T, B, 3\).*got \(5, 2, 2\)"),
        (lambda: scratch_forward(gru, x[0, 0]), ValueError, r"got \(3,\)"),
        (lambda: scratch_forward(gru, x.float()), TypeError, "dtype torch.float32"),
        (lambda: scratch_forward(gru, x, torch.zeros(1, 2, 4, dtype=torch.float64)),
         ValueError, r"hx \(h0\) must have shape \(2, 2, 4\) \(D\*L, B, H\), got \(1, 2, 4\)"),
        (lambda: scratch_forward(gru, x, torch.zeros(2, 2, 4)), TypeError,
         r"hx \(h0\) must have dtype torch.float64"),
        (lambda: scratch_forward(lstm, x, torch.zeros(1, 2, 4, dtype=torch.float64)),
         TypeError, r"must be a pair \(h0, c0\)"),
        (lambda: scratch_forward(lstm, x, (torch.zeros(1, 2, 4, dtype=torch.float64), None)),
         TypeError, "hx: c0 must be a Tensor, got NoneType"),
    ]
    for call, error, match in cases:
        with pytest.raises(error, match=match):
            call()


def _non_finite_inputs(module, where, value, seed):
    """x and hx with one entry set to ``value`` (NaN, +inf, -inf or a huge number)."""
    x, hx = make_inputs(module, seed, 5, 2, with_hx=True)
    parts = {"x": x, "h0": hx[0] if isinstance(hx, tuple) else hx,
             "c0": hx[1] if isinstance(hx, tuple) else None}
    target = parts[where]
    gen = torch.Generator().manual_seed(seed)
    target.view(-1)[torch.randint(target.numel(), (1,), generator=gen)] = value
    return x, hx


def _outputs_and_grads(run, module, x, hx):
    leaves = [x.clone().requires_grad_()]
    states = hx if isinstance(hx, tuple) else (hx,)
    leaves += [s.clone().requires_grad_() for s in states]
    start = tuple(leaves[1:]) if isinstance(hx, tuple) else leaves[1]
    output, state = run(leaves[0], start)
    flat = [output, *(state if isinstance(state, tuple) else (state,))]
    loss = sum(t.sum() for t in flat)
    grads = torch.autograd.grad(loss, leaves + list(module.parameters()), allow_unused=True)
    return flat, grads


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", ["x", "h0", "c0"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 1e300])
def test_scratch_forward_matches_the_module_on_non_finite_inputs(kind, where, value):
    """Forward and backward agree with nn.RNN/GRU/LSTM entry by entry, NaN where it has NaN:
    saturated gates (sigmoid(±inf) = 0 or 1, tanh(±inf) = ±1) and inf · 0 propagate alike."""
    if where == "c0" and not kind.startswith("lstm"):
        pytest.skip("only an LSTM has a cell state")
    module = make_module(kind, 3, 3, 4, num_layers=2, bidirectional=True)
    x, hx = _non_finite_inputs(module, where, value, seed=len(kind) + len(where))
    expected = _outputs_and_grads(lambda a, b: module(a, b), module, x, hx)
    got = _outputs_and_grads(lambda a, b: scratch_forward(module, a, b), module, x, hx)
    for want, have in zip(expected[0] + list(expected[1]), got[0] + list(got[1]), strict=True):
        assert torch.equal(want.isnan(), have.isnan())
        torch.testing.assert_close(have, want, equal_nan=True, rtol=1e-9, atol=1e-9)


def test_the_non_finite_cases_are_not_all_trivially_nan():
    """The comparison above is informative: some outputs stay finite (saturation), others
    are NaN, so matching NaN masks is a real check and not all-NaN against all-NaN."""
    module = make_module("gru", 3, 3, 4, num_layers=2, bidirectional=True)
    x, hx = _non_finite_inputs(module, "x", float("-inf"), seed=4)
    output, _ = module(x, hx)
    assert torch.isfinite(output).all()  # -inf saturates the gates: finite outputs
    x, hx = _non_finite_inputs(module, "x", float("nan"), seed=4)
    output, _ = module(x, hx)
    nan = output.isnan()
    assert nan.any() and not nan.all()


def test_issue_18_cases_of_run_cell_and_scratch_forward():
    gru = make_module("gru", 0, 3, 4)
    weights = cell_weights(gru)
    x = torch.zeros(5, 2, 3, dtype=torch.float64)
    h0 = torch.zeros(2, 4, dtype=torch.float64)
    cases = [
        (lambda: run_cell(gru_cell, x, h0, weights, reverse="no"), TypeError,
         "reverse must be a bool, got str 'no'"),  # 'no' is truthy: it used to run backwards
        (lambda: run_cell(gru_cell, x, h0[:1], weights), ValueError,
         r"h0 must be \(B, H\) with B=2 like x \(5, 2, 3\)"),
        (lambda: run_cell(gru_cell, x[..., :2], h0, weights), ValueError,
         r"weights.w_ih must be \(G\*H, I\) with I=2 like x \(5, 2, 2\)"),
        (lambda: scratch_forward(gru, x.float()), TypeError,
         "x has dtype torch.float32 but the module's weights are torch.float64"),
        (lambda: scratch_forward(gru, x.to("meta")), ValueError,
         "x is on device meta but the module's weights are on cpu"),
        # Unbatched x (T, I): hx is checked in the caller's layout (D*L, H), not unsqueezed.
        (lambda: scratch_forward(gru, x[:, 0], torch.zeros(1, 3, dtype=torch.float64)),
         ValueError, r"hx \(h0\) must have shape \(1, 4\) \(D\*L, H\) for an unbatched x, "
                     r"got \(1, 3\)"),
        (lambda: scratch_forward(gru, x[:0]), ValueError, "at least one time step"),
    ]
    for call, error, match in cases:
        with pytest.raises(error, match=match):
            call()
