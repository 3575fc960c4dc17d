"""FastBiGRU against nn.GRU and autograd: values, every gradient, gradcheck, bad inputs."""


import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from birnn_utils.fast import (
    BiGRULayerFunction,
    BulkLoopBiGRU,
    FastBiGRU,
    LoopBiGRU,
)

# float32 tolerance against nn.GRU. Both compute the same math, but in a different order:
# our input projection is one GEMM over all steps, the weight gradients are sums over
# T * B rows done by one GEMM instead of an accumulation step by step, and the gates'
# derivatives are factored differently. Each reordered float32 sum of ~T*B terms has a
# relative error of a few ulps times sqrt(terms) (~1e-6); 1e-5 relative / 1e-5 absolute
# leaves a margin and is still far below any real bug (a wrong term is off by O(1)).
F32 = {"rtol": 1e-5, "atol": 1e-5}


def make_pair(seed, inp, hidden, dtype=torch.float32, cls=FastBiGRU, **kwargs):
    """An nn.GRU (bidirectional) and a ``cls`` with the same weights (from ``seed``)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        gru = nn.GRU(inp, hidden, bidirectional=True, dtype=dtype, **kwargs)
    return gru, cls.from_gru(gru)


def run_both(gru, fast, x, hx):
    """Outputs, h_n and every gradient of both modules for the same random loss."""
    gen = torch.Generator().manual_seed(123)
    results = []
    for module in (gru, fast):
        module.zero_grad()
        xi = x.clone().requires_grad_()
        hi = None if hx is None else hx.clone().requires_grad_()
        output, h_n = module(xi, hi)
        if not results:  # same random weighting of every output for both modules
            w_out = torch.randn(output.shape, generator=gen, dtype=x.dtype)
            w_h = torch.randn(h_n.shape, generator=gen, dtype=x.dtype)
        ((output * w_out).sum() + (h_n * w_h).sum()).backward()
        grads = {"x": xi.grad, **{name: p.grad for name, p in module.named_parameters()}}
        if hi is not None:
            grads["hx"] = hi.grad
        results.append((output, h_n, grads))
    return results


def assert_same(results, **tol):
    (out_ref, hn_ref, g_ref), (out, hn, g) = results
    torch.testing.assert_close(out, out_ref, **tol)
    torch.testing.assert_close(hn, hn_ref, **tol)
    assert g.keys() == g_ref.keys()
    for name in g_ref:
        torch.testing.assert_close(g[name], g_ref[name], **tol, msg=lambda m, n=name: f"{n}: {m}")


def inputs(gru, steps, batch, with_hx, seed=1, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, steps) if gru.batch_first else (steps, batch)
    x = torch.randn(*shape, gru.input_size, generator=gen, dtype=dtype)
    hx = None
    if with_hx:
        hx = torch.randn(2 * gru.num_layers, batch, gru.hidden_size, generator=gen, dtype=dtype)
    return x, hx


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("with_hx", [False, True])
def test_matches_nn_gru_float32(batch_first, num_layers, with_hx):
    gru, fast = make_pair(0, 5, 8, num_layers=num_layers, batch_first=batch_first)
    x, hx = inputs(gru, steps=12, batch=4, with_hx=with_hx)
    assert_same(run_both(gru, fast, x, hx), **F32)


@pytest.mark.parametrize("cls", [LoopBiGRU, BulkLoopBiGRU])
@pytest.mark.parametrize("bias", [True, False])
def test_loop_versions_match_nn_gru(cls, bias):
    """The simpler hand-written BPTTs that chapter 8 and the benchmark start from."""
    gru, fast = make_pair(6, 5, 8, cls=cls, num_layers=2, bias=bias)
    x, hx = inputs(gru, steps=12, batch=4, with_hx=True)
    assert_same(run_both(gru, fast, x, hx), **F32)


def test_matches_nn_gru_without_bias_and_unbatched():
    gru, fast = make_pair(1, 3, 6, num_layers=2, bias=False)
    assert "bias_ih_l0" not in dict(fast.named_parameters())
    x, hx = inputs(gru, steps=7, batch=3, with_hx=True)
    assert_same(run_both(gru, fast, x, hx), **F32)
    # unbatched input (T, I) with hx (2L, H)
    assert_same(run_both(gru, fast, x[:, 0], hx[:, 0]), **F32)


@given(
    steps=st.integers(1, 6),
    batch=st.integers(1, 3),
    inp=st.integers(1, 4),
    hidden=st.integers(1, 5),
    num_layers=st.integers(1, 2),
    bias=st.booleans(),
    batch_first=st.booleans(),
    with_hx=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_float64_matches_nn_gru(
    steps, batch, inp, hidden, num_layers, bias, batch_first, with_hx, seed
):
    # In float64 the summation-order differences are ~1e-15: a tight tolerance.
    gru, fast = make_pair(
        seed, inp, hidden, torch.float64, num_layers=num_layers, bias=bias, batch_first=batch_first
    )
    x, hx = inputs(gru, steps, batch, with_hx, seed=seed + 1, dtype=torch.float64)
    assert_same(run_both(gru, fast, x, hx), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck_float64(bias):
    """The hand-written backward against finite differences, for x, h0 and all weights."""
    steps, batch, inp, hidden = 3, 2, 3, 2
    gen = torch.Generator().manual_seed(7)

    def leaf(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).requires_grad_()

    args = [leaf(steps, batch, inp), leaf(2, batch, hidden)]
    for _ in range(2):  # forward direction, then backward direction
        args += [leaf(3 * hidden, inp), leaf(3 * hidden, hidden)]
        args += [leaf(3 * hidden), leaf(3 * hidden)] if bias else [None, None]
    assert torch.autograd.gradcheck(BiGRULayerFunction.apply, args)


def test_second_backward_with_retain_graph():
    """The backward reuses a forward buffer; a second backward must still be right."""
    gru, fast = make_pair(2, 3, 4)
    x, _ = inputs(gru, steps=5, batch=2, with_hx=False)
    out, h_n = fast(x)
    loss = out.square().sum() + h_n.sum()
    first = torch.autograd.grad(loss, list(fast.parameters()), retain_graph=True)
    second = torch.autograd.grad(loss, list(fast.parameters()))
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b)


def test_state_dict_is_nn_grus():
    gru, fast = make_pair(3, 4, 5, num_layers=2)
    assert list(fast.state_dict()) == list(gru.state_dict())
    fresh = FastBiGRU(4, 5, num_layers=2)
    fresh.load_state_dict(gru.state_dict())
    x, _ = inputs(gru, steps=3, batch=2, with_hx=False)
    torch.testing.assert_close(fresh(x)[0], gru(x)[0])


def test_no_grad_and_dropout_in_eval_mode():
    gru, fast = make_pair(4, 3, 4, num_layers=2, dropout=0.5)
    gru.eval(), fast.eval()
    x, _ = inputs(gru, steps=4, batch=2, with_hx=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(x)[0], gru(x)[0])


def test_bad_inputs_raise_and_change_nothing():
    gru, fast = make_pair(5, 3, 4)
    x, hx = inputs(gru, steps=4, batch=2, with_hx=True)
    packed = pack_padded_sequence(x, torch.tensor([4, 2]))
    with pytest.raises(TypeError, match="use nn.GRU for packed sequences"):
        fast(packed)
    with pytest.raises(TypeError, match="input must be a tensor, got list"):
        fast(x.tolist())
    with pytest.raises(ValueError, match=r"3-D \(batched\) or 2-D \(unbatched\), got shape \(3,\)"):
        fast(x[0, 0])
    with pytest.raises(ValueError, match=r"input_size=3, got shape \(4, 2, 5\)"):
        fast(torch.randn(4, 2, 5))
    with pytest.raises(ValueError, match="no time steps"):
        fast(x[:0])
    with pytest.raises(TypeError, match="dtype torch.float64 does not match the parameters' "
                       "dtype torch.float32"):
        fast(x.double())
    with pytest.raises(ValueError, match=r"hx must have shape \(2, 2, 4\)"):
        fast(x, hx[:1])
    with pytest.raises(TypeError, match="hx must be a tensor .* got tuple"):
        fast(x, (hx, hx))
    with pytest.raises(TypeError, match="hx dtype torch.float64 does not match"):
        fast(x, hx.double())
    with pytest.raises(ValueError, match="use nn.GRU for a one-directional GRU"):
        FastBiGRU(3, 4, bidirectional=False)
    with pytest.raises(TypeError, match="expected an nn.GRU, got LSTM"):
        FastBiGRU.from_gru(nn.LSTM(3, 4))
    two_layer = FastBiGRU(3, 4, num_layers=2, dropout=0.3)
    with pytest.raises(ValueError, match=r"dropout=0.3 in training mode\); use nn.GRU"):
        two_layer(x)
    # nothing was modified by the rejected calls
    torch.testing.assert_close(fast.weight_ih_l0, gru.weight_ih_l0)
    assert all(p.grad is None for p in fast.parameters())


def test_without_bulk_zero_fill_same_result(monkeypatch):
    """The zero-fill only moves page faults out of the loop; the numbers must not change."""
    gru, fast = make_pair(8, 3, 4)
    x, hx = inputs(gru, steps=6, batch=2, with_hx=True)
    expected = run_both(gru, fast, x, hx)
    monkeypatch.setattr(BiGRULayerFunction, "zero_fill", False)
    got = run_both(gru, fast, x, hx)
    for (out_a, hn_a, grads_a), (out_b, hn_b, grads_b) in zip(expected, got, strict=True):
        assert torch.equal(out_a, out_b) and torch.equal(hn_a, hn_b)
        assert all(torch.equal(grads_a[name], grads_b[name]) for name in grads_a)
