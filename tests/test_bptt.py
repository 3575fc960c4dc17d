"""Hand-written BPTT and gradient-norm measurements against autograd on PyTorch's modules."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from birnn_utils.bptt import (
    geometric_rate,
    hidden_state_gradient_norms,
    rnn_bptt_gradients,
    with_spectral_radius,
)

F64 = torch.float64


def _autograd_rnn(steps, batch, inputs, hidden, bias, seed):
    """nn.RNN gradients for L = Σ_t <g_t, h_t>, plus what rnn_bptt_gradients needs."""
    torch.manual_seed(seed)
    rnn = nn.RNN(inputs, hidden, bias=bias).to(F64)
    x = torch.randn(steps, batch, inputs, dtype=F64)
    h0 = torch.randn(1, batch, hidden, dtype=F64, requires_grad=True)
    output, _ = rnn(x, h0)  # (T, B, H)
    grad_outputs = torch.randn_like(output)
    (output * grad_outputs).sum().backward()
    return rnn, x, h0, grad_outputs


@given(
    steps=st.integers(1, 7), batch=st.integers(1, 4), inputs=st.integers(1, 5),
    hidden=st.integers(1, 6), bias=st.booleans(), seed=st.integers(0, 2**16),
)
def test_rnn_bptt_equals_autograd(steps, batch, inputs, hidden, bias, seed):
    rnn, x, h0, grad_outputs = _autograd_rnn(steps, batch, inputs, hidden, bias, seed)
    got = rnn_bptt_gradients(
        x, h0[0].detach(), rnn.weight_ih_l0, rnn.weight_hh_l0,
        rnn.bias_ih_l0 if bias else None, rnn.bias_hh_l0 if bias else None, grad_outputs,
    )
    torch.testing.assert_close(got.w_ih, rnn.weight_ih_l0.grad)
    torch.testing.assert_close(got.w_hh, rnn.weight_hh_l0.grad)
    torch.testing.assert_close(got.h0, h0.grad[0])
    if bias:
        torch.testing.assert_close(got.b_ih, rnn.bias_ih_l0.grad)
        torch.testing.assert_close(got.b_hh, rnn.bias_hh_l0.grad)
    else:
        assert got.b_ih is None and got.b_hh is None


def _bptt_args():
    rnn, x, h0, g = _autograd_rnn(3, 2, 4, 5, True, 0)
    return dict(x=x, h0=h0[0].detach(), w_ih=rnn.weight_ih_l0.detach(),
                w_hh=rnn.weight_hh_l0.detach(), b_ih=rnn.bias_ih_l0.detach(),
                b_hh=rnn.bias_hh_l0.detach(), grad_outputs=g)


@pytest.mark.parametrize(
    "name, value, error, match",
    [
        ("x", torch.zeros(3, 4, dtype=F64), ValueError, r"\(T, B, I\) with T >= 1, got \(3, 4\)"),
        ("x", torch.zeros(0, 2, 4, dtype=F64), ValueError, r"T >= 1, got \(0, 2, 4\)"),
        ("x", [[1.0]], TypeError, "x must be a Tensor, got list"),
        ("h0", torch.zeros(3, 5, dtype=F64), ValueError, r"\(B=2, H\), got \(3, 5\)"),
        ("w_ih", torch.zeros(5, 3, dtype=F64), ValueError, r"w_ih has shape \(5, 3\)"),
        ("w_hh", torch.zeros(5, 4, dtype=F64), ValueError, r"expected \(5, 5\)"),
        ("b_hh", torch.zeros(4, dtype=F64), ValueError, r"b_hh has shape \(4,\)"),
        ("grad_outputs", torch.zeros(2, 2, 5, dtype=F64), ValueError, r"expected \(3, 2, 5\)"),
        ("w_hh", torch.zeros(5, 5, dtype=torch.float32), TypeError,
         "w_hh has dtype torch.float32, expected x's dtype torch.float64"),
        ("b_ih", torch.zeros(5, dtype=torch.int64), TypeError,
         "b_ih must be a floating-point tensor, got torch.int64"),
    ],
)
def test_rnn_bptt_bad_inputs(name, value, error, match):
    args = _bptt_args()
    args[name] = value
    with pytest.raises(error, match=match):
        rnn_bptt_gradients(**args)


def _reference_norms(module, x, grad_output):
    """‖∂L/∂h_t‖ from the module itself: run the prefix, cut the graph at h_t, run the rest."""
    steps = x.shape[0]
    norms = []
    for t in range(steps, 0, -1):
        if t == steps:
            norms.append(grad_output.norm())
            continue
        _, state = module(x[:t])
        if isinstance(module, nn.LSTM):
            h_t = state[0].detach().requires_grad_(True)
            _, (h_last, _) = module(x[t:], (h_t, state[1].detach()))
        else:
            h_t = state.detach().requires_grad_(True)
            _, h_last = module(x[t:], h_t)
        (grad,) = torch.autograd.grad((h_last[0] * grad_output).sum(), h_t)
        norms.append(grad.norm())
    return torch.stack(norms)


@given(
    kind=st.sampled_from([nn.RNN, nn.GRU, nn.LSTM]), steps=st.integers(1, 6),
    batch=st.integers(1, 3), inputs=st.integers(1, 4), hidden=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_gradient_norms_match_module_autograd(kind, steps, batch, inputs, hidden, seed):
    torch.manual_seed(seed)
    module = kind(inputs, hidden).to(F64)
    x = torch.randn(steps, batch, inputs, dtype=F64)
    grad_output = torch.randn(batch, hidden, dtype=F64)
    distances, norms = hidden_state_gradient_norms(module, x, grad_output=grad_output)
    assert distances.tolist() == list(range(steps))
    torch.testing.assert_close(norms, _reference_norms(module, x, grad_output))
    assert all(p.grad is None for p in module.parameters())


def test_gradient_norms_layouts_agree():
    """batch_first, unbatched input, an explicit h0 and frozen parameters give the same norms."""
    torch.manual_seed(1)
    module = nn.GRU(3, 4).to(F64)
    x = torch.randn(5, 2, 3, dtype=F64)
    h0 = torch.randn(1, 2, 4, dtype=F64)
    _, reference = hidden_state_gradient_norms(module, x, h0)
    module_bf = nn.GRU(3, 4, batch_first=True).to(F64)
    module_bf.load_state_dict(module.state_dict())
    module_bf.requires_grad_(False)
    _, norms_bf = hidden_state_gradient_norms(module_bf, x.transpose(0, 1), h0)
    torch.testing.assert_close(norms_bf, reference)
    _, single = hidden_state_gradient_norms(module, x[:, 0], h0[:, 0], torch.ones(4, dtype=F64))
    _, single_ref = hidden_state_gradient_norms(module, x[:, :1], h0[:, :1])
    torch.testing.assert_close(single, single_ref)
    assert not h0.requires_grad


def test_gradient_norms_lstm_with_state_and_projection():
    torch.manual_seed(2)
    module = nn.LSTM(3, 5, proj_size=2).to(F64)
    x = torch.randn(4, 2, 3, dtype=F64)
    state = (torch.randn(1, 2, 2, dtype=F64), torch.randn(1, 2, 5, dtype=F64))
    _, norms = hidden_state_gradient_norms(module, x, state)
    # Reference: the module from the same initial state, cut at h_t.
    expected = [torch.ones(2, 2, dtype=F64).norm()]  # t = T: ∂L/∂h_T = ones
    for t in range(3, 0, -1):
        _, (h_t, c_t) = module(x[:t], state)
        h_t = h_t.detach().requires_grad_(True)
        _, (h_last, _) = module(x[t:], (h_t, c_t.detach()))
        (grad,) = torch.autograd.grad(h_last.sum(), h_t)
        expected.append(grad.norm())
    torch.testing.assert_close(norms, torch.stack(expected))


@pytest.mark.parametrize(
    "module, x, h0, grad_output, error, match",
    [
        (nn.Linear(3, 4), torch.zeros(2, 3), None, None, TypeError, "nn.RNN, nn.GRU or nn.LSTM"),
        (nn.RNN(3, 4, num_layers=2), torch.zeros(2, 1, 3), None, None, ValueError,
         "single-layer unidirectional"),
        (nn.GRU(3, 4, bidirectional=True), torch.zeros(2, 1, 3), None, None, ValueError,
         "bidirectional=True"),
        (nn.RNN(3, 4), torch.zeros(2, 1, 5), None, None, ValueError, r"I=3, got \(2, 1, 5\)"),
        (nn.RNN(3, 4), torch.zeros(0, 1, 3), None, None, ValueError, "at least one time step"),
        (nn.RNN(3, 4), [0.0], None, None, TypeError, "x must be a Tensor"),
        (nn.RNN(3, 4), torch.zeros(2, 1, 3, dtype=F64), None, None, TypeError,
         "x has dtype torch.float64, expected the module's torch.float32"),
        (nn.RNN(3, 4), torch.zeros(2, 1, 3), torch.zeros(1, 2, 4), None, ValueError,
         r"expected \(1, 1, 4\)"),
        (nn.RNN(3, 4), torch.zeros(2, 1, 3), [0.0], None, TypeError, "h0 must be a Tensor"),
        (nn.RNN(3, 4), torch.zeros(2, 1, 3), torch.zeros(1, 1, 4, dtype=F64), None, TypeError,
         "h0 has dtype"),
        (nn.LSTM(3, 4), torch.zeros(2, 1, 3), torch.zeros(1, 1, 4), None, TypeError,
         r"pair \(h0, c0\)"),
        (nn.RNN(3, 4), torch.zeros(2, 1, 3), None, torch.zeros(4), ValueError,
         r"grad_output must have shape \(1, 4\)"),
        (nn.RNN(3, 4), torch.zeros(2, 1, 3), None, [1.0] * 4, TypeError,
         r"grad_output must be a Tensor shaped like h_T \(1, 4\), got list"),
    ],
)
def test_gradient_norms_bad_inputs(module, x, h0, grad_output, error, match):
    with pytest.raises(error, match=match):
        hidden_state_gradient_norms(module, x, h0, grad_output)


@given(size=st.integers(1, 8), radius=st.floats(0.1, 3.0), seed=st.integers(0, 2**16))
def test_with_spectral_radius(size, radius, seed):
    torch.manual_seed(seed)
    matrix = torch.randn(size, size, dtype=F64)
    before = matrix.clone()
    scaled = with_spectral_radius(matrix, radius)
    eigenvalues = torch.linalg.eigvals(scaled).abs()
    assert math.isclose(eigenvalues.max().item(), radius, rel_tol=1e-9)
    # A scalar multiple of the input: same direction, and the input is unchanged.
    ratio = (scaled.flatten() @ matrix.flatten()) / (matrix.flatten() @ matrix.flatten())
    torch.testing.assert_close(scaled, ratio * matrix)
    assert torch.equal(matrix, before)


@pytest.mark.parametrize(
    "matrix, radius, error, match",
    [
        (torch.zeros(2, 3), 1.0, ValueError, r"square \(H, H\) with H >= 1, got \(2, 3\)"),
        (torch.zeros(2, 2, dtype=torch.int64), 1.0, TypeError,
         "float32 or float64 Tensor, got dtype torch.int64"),
        (torch.eye(2, dtype=torch.float16), 1.0, TypeError, "got dtype torch.float16"),
        ([[1.0]], 1.0, TypeError, r"float32 or float64 Tensor, got list \[\[1.0\]\]"),
        # Finiteness is checked before any linear algebra: eigvals of a float32 matrix
        # with a NaN can kill the interpreter, and a NaN or inf gives an all-NaN matrix.
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), 1.0, ValueError,
         "matrix must be finite, got 1 NaN or infinite"),
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]], dtype=F64), 1.0, ValueError,
         "matrix must be finite"),
        (torch.tensor([[float("-inf"), 0.0], [0.0, 1.0]]), 1.0, ValueError,
         "matrix must be finite"),
        (torch.eye(2), -1.0, ValueError, "finite number > 0, got -1.0"),
        (torch.eye(2), float("nan"), ValueError, "finite number > 0, got nan"),
        (torch.eye(2), "1", TypeError, "radius must be a real number, got str '1'"),
        (torch.eye(2), True, TypeError, "radius must be a real number, got bool"),
        (torch.eye(2), float("inf"), ValueError, "finite number > 0, got inf"),
        (torch.tensor([[0.0, 1.0], [0.0, 0.0]]), 1.0, ValueError, "nilpotent"),
    ],
)
def test_with_spectral_radius_bad_inputs(matrix, radius, error, match):
    with pytest.raises(error, match=match):
        with_spectral_radius(matrix, radius)


@given(rate=st.floats(0.2, 3.0), scale=st.floats(0.01, 100.0), length=st.integers(2, 30))
def test_geometric_rate_recovers_rate(rate, scale, length):
    distances = torch.arange(length)
    norms = scale * torch.tensor(rate, dtype=F64) ** distances
    assert math.isclose(geometric_rate(distances, norms), rate, rel_tol=1e-9)


@pytest.mark.parametrize(
    "distances, norms, match",
    [
        ([0], [1.0], "distances must have at least 2 values, got 1"),
        ([0, 1], [1.0, 2.0, 3.0], "same length"),
        ([0, 1], [1.0, 0.0], "> 0 to fit a geometric rate, got min 0 and 0 non-finite"),
        ([0, 1], [1.0, float("inf")], "got min 1 and 1 non-finite"),
        ([1, 1], [1.0, 2.0], "not all be equal"),
    ],
)
def test_geometric_rate_bad_inputs(distances, norms, match):
    with pytest.raises(ValueError, match=match):
        geometric_rate(distances, norms)


@pytest.mark.parametrize(
    "distances, norms, match",
    [
        (["a", "b"], [1.0, 2.0], "distances must hold real numbers, got str 'a'"),
        ([0, 1], "12", "norms must be a list, array or tensor of real numbers, got str"),
        ([True, False], [1.0, 2.0], "distances must hold real numbers, got bool True"),
        (torch.tensor([0, 1]), torch.tensor([1 + 1j, 2j]), "norms must hold real numbers"),
    ],
)
def test_geometric_rate_wrong_types(distances, norms, match):
    with pytest.raises(TypeError, match=match):
        geometric_rate(distances, norms)


@pytest.mark.parametrize("where", ["x", "h0"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e300])
def test_rnn_bptt_gradients_match_autograd_on_non_finite_inputs(where, value):
    """The hand-written BPTT propagates inf and NaN as autograd does, entry by entry."""
    gen = torch.Generator().manual_seed(5)
    x, h0 = torch.randn(5, 2, 3, generator=gen, dtype=F64), torch.randn(2, 4, generator=gen,
                                                                         dtype=F64)
    {"x": x, "h0": h0}[where].view(-1)[3] = value
    params = [torch.randn(*s, generator=gen, dtype=F64).requires_grad_()
              for s in ((4, 3), (4, 4), (4,), (4,))]
    grad_outputs = torch.randn(5, 2, 4, generator=gen, dtype=F64)
    h = h0_leaf = h0.clone().requires_grad_()
    states = []
    for x_t in x:
        w_ih, w_hh, b_ih, b_hh = params
        h = torch.tanh(x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh)  # autograd, independently
        states.append(h)
    loss = (torch.stack(states) * grad_outputs).sum()
    expected = torch.autograd.grad(loss, [*params, h0_leaf])
    got = rnn_bptt_gradients(x, h0, *params, grad_outputs)
    for want, have in zip(expected, got, strict=True):
        assert torch.equal(want.isnan(), have.isnan())
        torch.testing.assert_close(have, want, equal_nan=True)
    if value != 1e300:
        assert any(not torch.isfinite(g).all() for g in expected)  # a non-trivial case
