"""Tests of birnn_utils.reverse against PyTorch's own bidirectional modules (float64)."""

import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.testing import assert_close

from birnn_utils.reverse import (
    first_layers,
    merge_directions,
    reverse_direction,
    reverse_sequence,
)

DT = torch.float64
KINDS = ["rnn_tanh", "rnn_relu", "gru", "lstm", "lstm_proj"]


def make_rnn(kind, input_size, hidden_size, *, proj=1, **kwargs):
    """A float64 module of ``kind``; ``proj`` is the LSTM proj_size for "lstm_proj"."""
    if kind.startswith("rnn"):
        return nn.RNN(input_size, hidden_size, nonlinearity=kind[4:], dtype=DT, **kwargs)
    if kind == "gru":
        return nn.GRU(input_size, hidden_size, dtype=DT, **kwargs)
    proj_size = proj if kind == "lstm_proj" else 0
    return nn.LSTM(input_size, hidden_size, proj_size=proj_size, dtype=DT, **kwargs)


def h_size(module):
    return module.proj_size or module.hidden_size


def initial_state(module, batch, gen):
    """Random (h0) or (h0, c0) for ``module``, shape (D * L, B, P) / (D * L, B, H)."""
    d = 2 if module.bidirectional else 1
    h0 = torch.randn(d * module.num_layers, batch, h_size(module), generator=gen, dtype=DT)
    if isinstance(module, nn.LSTM):
        c0 = torch.randn(d * module.num_layers, batch, module.hidden_size, generator=gen, dtype=DT)
        return h0, c0
    return h0


def state_slice(state, rows):
    """Rows ``rows`` of h (and c) — the same selection for RNN/GRU and LSTM states."""
    if isinstance(state, tuple):
        return tuple(s[rows] for s in state)
    return state[rows]


@st.composite
def configs(draw):
    kind = draw(st.sampled_from(KINDS))
    hidden = draw(st.integers(2 if kind == "lstm_proj" else 1, 4))
    num_layers = draw(st.integers(1, 3))
    return dict(
        kind=kind,
        steps=draw(st.integers(1, 6)),
        batch=draw(st.integers(1, 3)),
        input_size=draw(st.integers(1, 4)),
        hidden=hidden,
        proj=draw(st.integers(1, hidden - 1)) if kind == "lstm_proj" else 1,
        num_layers=num_layers,
        layer=draw(st.integers(0, num_layers - 1)),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


def build(cfg):
    """(bidirectional module, input x, initial state, generator) for one configuration."""
    gen = torch.Generator().manual_seed(cfg["seed"])
    torch.manual_seed(cfg["seed"])
    bi = make_rnn(
        cfg["kind"],
        cfg["input_size"],
        cfg["hidden"],
        proj=cfg["proj"],
        num_layers=cfg["num_layers"],
        bias=cfg["bias"],
        batch_first=cfg["batch_first"],
        bidirectional=True,
    )
    shape = (cfg["batch"], cfg["steps"]) if cfg["batch_first"] else (cfg["steps"], cfg["batch"])
    x = torch.randn(*shape, cfg["input_size"], generator=gen, dtype=DT)
    return bi, x, initial_state(bi, cfg["batch"], gen), gen


def time_flip(t, batch_first):
    return t.flip(1 if batch_first else 0)


@given(cfg=configs(), share=st.booleans())
def test_reverse_direction_reproduces_backward_half(cfg, share):
    bi, x, hx, _ = build(cfg)
    layer, bf = cfg["layer"], cfg["batch_first"]
    _, bi_state = bi(x, hx)  # every layer's final states, from PyTorch itself
    # Layer l's input is layer l-1's output; layer l's output comes from the first l+1 layers.
    below, this, rev_rows = (
        slice(0, 2 * layer),
        slice(0, 2 * layer + 2),
        slice(2 * layer + 1, 2 * layer + 2),
    )
    layer_in = x if layer == 0 else first_layers(bi, layer)(x, state_slice(hx, below))[0]
    layer_out = first_layers(bi, layer + 1)(x, state_slice(hx, this))[0]
    rev = reverse_direction(bi, layer, share=share)
    rev_out, rev_state = rev(time_flip(layer_in, bf), state_slice(hx, rev_rows))
    p = h_size(bi)
    assert_close(time_flip(rev_out, bf), layer_out[..., p:], rtol=1e-12, atol=1e-12)
    assert_close(rev_state, state_slice(bi_state, rev_rows), rtol=1e-12, atol=1e-12)


@given(cfg=configs(), data=st.data())
def test_padded_batch_matches_each_sequence_alone(cfg, data):
    bi, x, hx, gen = build(cfg)
    layer, bf = cfg["layer"], cfg["batch_first"]
    lengths = data.draw(
        st.lists(st.integers(1, cfg["steps"]), min_size=cfg["batch"], max_size=cfg["batch"])
    )
    time_dim, batch_dim = (1, 0) if bf else (0, 1)
    p = h_size(bi)
    rev = reverse_direction(bi, layer)
    # The layer's input, padded with noise: padding must not leak into valid steps.
    layer_in = torch.randn(
        *x.shape[:2], cfg["input_size"] if layer == 0 else 2 * p, generator=gen, dtype=DT
    )
    alone = []  # (output of layer `layer` for sequence b alone, final backward h)
    for b, n in enumerate(lengths):
        seq = x.narrow(batch_dim, b, 1).narrow(time_dim, 0, n)
        seq_in = seq if layer == 0 else first_layers(bi, layer)(seq)[0]
        layer_in.narrow(batch_dim, b, 1).narrow(time_dim, 0, n).copy_(seq_in)
        out, state = first_layers(bi, layer + 1)(seq)
        h_n = state[0] if isinstance(state, tuple) else state
        alone.append((out, h_n[2 * layer + 1]))
    rev_out, _ = rev(reverse_sequence(layer_in, lengths, batch_first=bf))
    back = reverse_sequence(rev_out, lengths, batch_first=bf)  # backward half, original order
    for b, n in enumerate(lengths):
        out, h_last = alone[b]
        got = back.narrow(batch_dim, b, 1).narrow(time_dim, 0, n)
        assert_close(got, out[..., p:], rtol=1e-12, atol=1e-12)
        # The reversed run ends (for this sequence) at its step n-1.
        assert_close(
            rev_out.narrow(batch_dim, b, 1).select(time_dim, n - 1), h_last, rtol=1e-12, atol=1e-12
        )


@given(cfg=configs())
def test_gradients_through_shared_parameters_match(cfg):
    bi, x, hx, gen = build(cfg)
    layer, bf = cfg["layer"], cfg["batch_first"]
    p = h_size(bi)
    rev = reverse_direction(bi, layer, share=True)
    params = list(rev.parameters())
    assert all(any(q is r for r in bi.parameters()) for q in params)

    head = first_layers(bi, layer + 1)
    out, state = head(x)
    weights = torch.randn(out[..., p:].shape, generator=gen, dtype=DT)
    h_bi = state[0] if isinstance(state, tuple) else state  # (2 * (layer + 1), B, P)
    h_weights = torch.randn(h_bi[2 * layer + 1].shape, generator=gen, dtype=DT)
    loss_bi = (weights * out[..., p:]).sum() + (h_weights * h_bi[2 * layer + 1]).sum()
    grads_bi = torch.autograd.grad(loss_bi, params)

    layer_in = x if layer == 0 else first_layers(bi, layer)(x)[0]
    rev_out, rev_state = rev(time_flip(layer_in, bf))
    h_rev = rev_state[0] if isinstance(rev_state, tuple) else rev_state
    loss_rev = (weights * time_flip(rev_out, bf)).sum() + (h_weights * h_rev[0]).sum()
    grads_rev = torch.autograd.grad(loss_rev, params)
    for g_bi, g_rev in zip(grads_bi, grads_rev, strict=True):
        assert_close(g_rev, g_bi, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_share_versus_copy(kind):
    torch.manual_seed(0)
    bi = make_rnn(kind, 3, 4, proj=2, num_layers=2, bidirectional=True)
    names = [n for n, _ in bi.named_parameters() if n.endswith("_l1_reverse")]
    shared = reverse_direction(bi, layer=1, share=True)
    copied = reverse_direction(bi, layer=1, share=False)
    assert len(names) == len(list(shared.parameters())) == len(list(copied.parameters()))
    for name in names:
        own = name.replace("_l1_reverse", "_l0")
        assert getattr(shared, own) is getattr(bi, name)
        assert getattr(copied, own) is not getattr(bi, name)
        assert getattr(copied, own).data_ptr() != getattr(bi, name).data_ptr()
        assert torch.equal(getattr(copied, own), getattr(bi, name))
    before = {n: t.clone() for n, t in bi.state_dict().items()}
    with torch.no_grad():
        for q in copied.parameters():
            q.add_(1.0)  # changing the copy leaves the bidirectional module alone
    for n, t in bi.state_dict().items():
        assert torch.equal(t, before[n])
    with torch.no_grad():
        shared.weight_hh_l0.add_(1.0)  # changing the shared one changes it
    assert torch.equal(bi.weight_hh_l1_reverse, before["weight_hh_l1_reverse"] + 1.0)


def test_shared_gradients_accumulate_from_both_graphs():
    torch.manual_seed(0)
    bi = nn.GRU(2, 3, bidirectional=True, dtype=DT)
    rev = reverse_direction(bi)
    x = torch.randn(4, 1, 2, dtype=DT)
    bi(x)[0][..., 3:].sum().backward()
    from_bi = bi.weight_hh_l0_reverse.grad.clone()
    rev(x.flip(0))[0].sum().backward()
    assert_close(bi.weight_hh_l0_reverse.grad, 2 * from_bi)
    assert rev.weight_hh_l0.grad is bi.weight_hh_l0_reverse.grad


def test_attributes_dtype_and_requires_grad_are_kept():
    bi = nn.LSTM(
        3, 5, num_layers=2, proj_size=2, bias=False, batch_first=True, bidirectional=True, dtype=DT
    )
    bi.weight_hh_l1_reverse.requires_grad_(False)
    for share in (True, False):
        rev = reverse_direction(bi, 1, share=share)
        assert type(rev) is nn.LSTM and not rev.bidirectional and rev.num_layers == 1
        assert (rev.input_size, rev.hidden_size, rev.proj_size) == (4, 5, 2)
        assert rev.batch_first and not rev.bias and rev.weight_ih_l0.dtype == DT
        assert not rev.weight_hh_l0.requires_grad and rev.weight_ih_l0.requires_grad
        assert not any(n.startswith("bias") for n, _ in rev.named_parameters())
    relu = reverse_direction(nn.RNN(2, 2, nonlinearity="relu", bidirectional=True))
    assert relu.nonlinearity == "relu" and relu.weight_ih_l0.dtype == torch.float32


def test_subclasses_give_their_pytorch_base_class():
    class MyGRU(nn.GRU):
        pass

    bi = MyGRU(2, 3, bidirectional=True, dtype=DT)
    rev = reverse_direction(bi)
    assert type(rev) is nn.GRU and rev.weight_ih_l0 is bi.weight_ih_l0_reverse
    x = torch.randn(4, 1, 2, dtype=DT)
    assert_close(rev(x.flip(0))[0].flip(0), bi(x)[0][..., 3:])
    assert type(merge_directions(MyGRU(2, 3), nn.GRU(2, 3))) is nn.GRU
    assert type(first_layers(bi, 1)) is nn.GRU


def test_no_warnings_and_no_random_numbers_used():
    bi = nn.GRU(2, 3, num_layers=2, dropout=0.5, bidirectional=True).eval()
    x = torch.randn(4, 2, 2)
    state = torch.get_rng_state()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for module in (
            reverse_direction(bi, 1),
            reverse_direction(bi, 0, share=False),
            first_layers(bi, 1),
            merge_directions(nn.GRU(2, 3), nn.GRU(2, 3)),
        ):
            module(x if module.input_size == 2 else torch.randn(4, 2, 6))
    assert caught == []
    assert not torch.equal(state, torch.get_rng_state())  # the two nn.GRU(2, 3) above drew
    state = torch.get_rng_state()
    reverse_direction(bi, 1)
    first_layers(bi, 2, share=False)
    assert torch.equal(state, torch.get_rng_state())


def test_shared_results_are_never_flattened(monkeypatch):
    """flatten_parameters() must not run on a module sharing the source's parameters.

    On cuDNN it ``set_``s every weight into a new buffer of its own (PyTorch's
    ``_cudnn_rnn_flatten_weight``), which would move the shared weights out of the
    source's buffer. On the CPU it is a no-op, so the test records the calls instead.
    """
    bi = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=DT)
    source = {id(p) for p in bi.parameters()}
    calls = []  # (module, did it share bi's parameters at the time of the call?)
    original = nn.modules.rnn.RNNBase.flatten_parameters

    def shares(module):
        return any(id(p) in source for p in module.parameters())

    def recording(self):
        calls.append((self, shares(self)))
        original(self)

    monkeypatch.setattr(nn.modules.rnn.RNNBase, "flatten_parameters", recording)
    for build in (lambda s: reverse_direction(bi, 1, share=s),
                  lambda s: first_layers(bi, 1, share=s)):
        calls.clear()
        shared = build(True)
        assert shares(shared) and not any(when for _, when in calls)
        calls.clear()
        copy = build(False)
        assert not shares(copy) and any(m is copy for m, _ in calls)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_merge_directions_builds_the_bidirectional_module(kind, batch_first):
    torch.manual_seed(1)
    fwd = make_rnn(kind, 3, 4, proj=2, batch_first=batch_first)
    bwd = make_rnn(kind, 3, 4, proj=2, batch_first=batch_first)
    bwd.weight_ih_l0.requires_grad_(False)
    bi = merge_directions(fwd, bwd)
    assert type(bi) is type(fwd) and bi.bidirectional and bi.batch_first == batch_first
    x = torch.randn(2, 5, 3, dtype=DT) if batch_first else torch.randn(5, 2, 3, dtype=DT)
    out = bi(x)[0]
    expected = torch.cat([fwd(x)[0], time_flip(bwd(time_flip(x, batch_first))[0], batch_first)], -1)
    assert_close(out, expected, rtol=1e-12, atol=1e-12)
    assert not bi.weight_ih_l0_reverse.requires_grad and bi.weight_hh_l0_reverse.requires_grad
    # Copies: round trip gives equal values, but nothing is shared with the inputs.
    back = reverse_direction(bi)
    for (name, q), r in zip(bwd.named_parameters(), back.parameters(), strict=True):
        assert torch.equal(q, r) and q is not r, name
    assert all(q is not r for q in fwd.parameters() for r in bi.parameters())


def test_first_layers_is_the_bottom_of_the_stack():
    torch.manual_seed(2)
    for bidirectional in (False, True):
        stack = nn.LSTM(3, 4, num_layers=3, proj_size=2, bidirectional=bidirectional, dtype=DT)
        x = torch.randn(5, 2, 3, dtype=DT)
        out, (h, c) = stack(x)
        out_all, (h_all, c_all) = first_layers(stack, 3, share=False)(x)
        assert torch.equal(out_all, out) and torch.equal(h_all, h) and torch.equal(c_all, c)
        d = 2 if bidirectional else 1
        _, (h1, c1) = first_layers(stack, 1)(x)
        assert torch.equal(h1, h[:d]) and torch.equal(c1, c[:d])


@given(
    steps=st.integers(1, 6),
    batch=st.integers(1, 4),
    extra=st.lists(st.integers(1, 3), max_size=2),
    batch_first=st.booleans(),
    data=st.data(),
)
def test_reverse_sequence_properties(steps, batch, extra, batch_first, data):
    lengths = data.draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    shape = (batch, steps, *extra) if batch_first else (steps, batch, *extra)
    x = torch.randn(shape, dtype=DT)
    time_dim = 1 if batch_first else 0
    for given_lengths in (lengths, torch.tensor(lengths, dtype=torch.int32)):
        y = reverse_sequence(x, given_lengths, batch_first=batch_first)
        assert y.shape == x.shape
        assert torch.equal(reverse_sequence(y, given_lengths, batch_first=batch_first), x)
        for b, n in enumerate(lengths):
            xb, yb = x.select(1 - time_dim, b), y.select(1 - time_dim, b)  # (T, *)
            assert torch.equal(yb[:n], xb[:n].flip(0))  # valid prefix reversed
            assert torch.equal(yb[n:], xb[n:])  # padding in place
    full = reverse_sequence(x, [steps] * batch, batch_first=batch_first)
    assert torch.equal(full, x.flip(time_dim))
    assert torch.equal(reverse_sequence(x, batch_first=batch_first), full)


def test_reverse_sequence_is_differentiable():
    x = torch.randn(4, 2, 3, dtype=DT, requires_grad=True)
    weights = torch.randn(4, 2, 3, dtype=DT)
    (weights * reverse_sequence(x, [3, 1])).sum().backward()
    assert torch.equal(x.grad, reverse_sequence(weights, [3, 1]))


BI_GRU = nn.GRU(2, 3, num_layers=2, bidirectional=True)
X = torch.zeros(4, 2, 3)
BAD_CALLS = {
    "linear module": (lambda: reverse_direction(nn.Linear(2, 3)), TypeError, "nn.Linear|Linear"),
    "tensor as module": (lambda: reverse_direction(torch.zeros(3)), TypeError, "Tensor"),
    "cell not layer": (lambda: reverse_direction(nn.GRUCell(2, 3)), TypeError, "GRUCell"),
    "unidirectional": (lambda: reverse_direction(nn.GRU(2, 3)), ValueError, "unidirectional"),
    "layer too big": (lambda: reverse_direction(BI_GRU, 2), ValueError, r"\[0, 1\], got 2"),
    "layer negative": (lambda: reverse_direction(BI_GRU, -1), ValueError, "got -1"),
    "layer float": (lambda: reverse_direction(BI_GRU, 1.0), TypeError, "float"),
    "layer bool": (lambda: reverse_direction(BI_GRU, True), TypeError, "bool"),
    "share not bool": (lambda: reverse_direction(BI_GRU, share=1), TypeError, "share"),
    "lengths too few": (lambda: reverse_sequence(X, [1]), ValueError, r"\(2\), got 1"),
    "lengths zero": (lambda: reverse_sequence(X, [0, 2]), ValueError, "min 0"),
    "lengths over T": (lambda: reverse_sequence(X, [5, 2]), ValueError, r"\[1, 4\].*max 5"),
    "lengths float": (lambda: reverse_sequence(X, torch.tensor([1.0, 2.0])), TypeError, "float32"),
    "lengths float list": (lambda: reverse_sequence(X, [1.0, 2]), TypeError, "float"),
    "lengths bool tensor": (
        lambda: reverse_sequence(X, torch.tensor([True, True])),
        TypeError,
        "bool",
    ),
    "lengths 2-D": (
        lambda: reverse_sequence(X, torch.ones(2, 1, dtype=torch.int64)),
        ValueError,
        r"1-D.*\(2, 1\)",
    ),
    "lengths a string": (lambda: reverse_sequence(X, "12"), TypeError, "str"),
    "x 1-D": (lambda: reverse_sequence(torch.zeros(4), [1]), ValueError, r"\(4,\)"),
    "x not tensor": (lambda: reverse_sequence([[1.0]]), TypeError, "list"),
    "batch_first not bool": (lambda: reverse_sequence(X, batch_first="yes"), TypeError, "str"),
    "merge classes": (
        lambda: merge_directions(nn.GRU(2, 3), nn.LSTM(2, 3)),
        TypeError,
        "GRU and LSTM",
    ),
    "merge sizes": (
        lambda: merge_directions(nn.GRU(2, 3), nn.GRU(2, 4)),
        ValueError,
        "hidden_size, got 3 and 4",
    ),
    "merge nonlinearity": (
        lambda: merge_directions(nn.RNN(2, 3), nn.RNN(2, 3, nonlinearity="relu")),
        ValueError,
        "RNN_TANH",
    ),
    "merge bidirectional": (
        lambda: merge_directions(nn.GRU(2, 3), BI_GRU),
        ValueError,
        "backward must be unidirectional",
    ),
    "merge two layers": (
        lambda: merge_directions(nn.GRU(2, 3, 2), nn.GRU(2, 3, 2)),
        ValueError,
        "num_layers=2",
    ),
    "merge dtype": (
        lambda: merge_directions(nn.GRU(2, 3), nn.GRU(2, 3, dtype=DT)),
        ValueError,
        "float64",
    ),
    "merge not module": (lambda: merge_directions(nn.GRU(2, 3), "gru"), TypeError, "backward"),
    "first_layers zero": (lambda: first_layers(BI_GRU, 0), ValueError, r"\[1, 2\], got 0"),
    "first_layers share": (lambda: first_layers(BI_GRU, 1, share=None), TypeError, "NoneType"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_inputs_raise_clear_errors(case):
    call, error, message = BAD_CALLS[case]
    before = {n: t.clone() for n, t in BI_GRU.state_dict().items()}
    x_before = X.clone()
    with pytest.raises(error, match=message):
        call()
    assert all(torch.equal(t, before[n]) for n, t in BI_GRU.state_dict().items())
    assert torch.equal(X, x_before)
