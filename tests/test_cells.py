"""Scratch cells against PyTorch's own modules, plus bad inputs."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from birnn_utils.cells import (
    CellWeights,
    cell_weights,
    gru_cell,
    lstm_cell,
    rnn_cell,
    state_size,
)


def make_module(cls, seed, *args, **kwargs):
    """A float64 module whose initial weights depend only on ``seed``."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return cls(*args, **kwargs).double()


def random(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


sizes = st.integers(1, 5)


@given(seed=st.integers(0, 2**16), batch=sizes, inp=sizes, hidden=sizes, bias=st.booleans(),
       nonlinearity=st.sampled_from(["tanh", "relu"]))
def test_rnn_cell_matches_nn_rnn(seed, batch, inp, hidden, bias, nonlinearity):
    module = make_module(nn.RNN, seed, inp, hidden, bias=bias, nonlinearity=nonlinearity)
    gen = torch.Generator().manual_seed(seed)
    x, h = random(gen, batch, inp), random(gen, batch, hidden)
    w = cell_weights(module)
    got = rnn_cell(x, h, w.w_ih, w.w_hh, w.b_ih, w.b_hh, nonlinearity=nonlinearity)
    _, expected = module(x[None], h[None])  # one step: h_n (1, B, H)
    torch.testing.assert_close(got, expected[0])


@given(seed=st.integers(0, 2**16), batch=sizes, inp=sizes, hidden=sizes, bias=st.booleans())
def test_gru_cell_matches_nn_gru(seed, batch, inp, hidden, bias):
    module = make_module(nn.GRU, seed, inp, hidden, bias=bias)
    gen = torch.Generator().manual_seed(seed)
    x, h = random(gen, batch, inp), random(gen, batch, hidden)
    got = gru_cell(x, h, *cell_weights(module)[:4])
    _, expected = module(x[None], h[None])
    torch.testing.assert_close(got, expected[0])


@given(seed=st.integers(0, 2**16), batch=sizes, inp=sizes, hidden=st.integers(2, 5),
       bias=st.booleans(), proj=st.integers(0, 1))
def test_lstm_cell_matches_nn_lstm(seed, batch, inp, hidden, bias, proj):
    proj_size = proj * (hidden - 1)  # 0 (no projection) or 1..hidden-1
    module = make_module(nn.LSTM, seed, inp, hidden, bias=bias, proj_size=proj_size)
    gen = torch.Generator().manual_seed(seed)
    x = random(gen, batch, inp)
    h, c = random(gen, batch, proj_size or hidden), random(gen, batch, hidden)
    w = cell_weights(module)
    got_h, got_c = lstm_cell(x, (h, c), *w)
    _, (h_n, c_n) = module(x[None], (h[None], c[None]))
    torch.testing.assert_close(got_h, h_n[0])
    torch.testing.assert_close(got_c, c_n[0])


def test_gru_reset_gate_multiplies_the_hidden_bias():
    # With W_hh = 0, n = tanh(W_in x + b_in + r * b_hn): moving b_hn outside r changes h'.
    module = make_module(nn.GRU, 0, 2, 3)
    w = cell_weights(module)
    w_hh = torch.zeros_like(w.w_hh)
    x, h = torch.ones(1, 2, dtype=torch.float64), torch.zeros(1, 3, dtype=torch.float64)
    got = gru_cell(x, h, w.w_ih, w_hh, w.b_ih, w.b_hh)
    r = torch.sigmoid(x @ w.w_ih[:3].T + w.b_ih[:3] + w.b_hh[:3])
    z = torch.sigmoid(x @ w.w_ih[3:6].T + w.b_ih[3:6] + w.b_hh[3:6])
    n = torch.tanh(x @ w.w_ih[6:].T + w.b_ih[6:] + r * w.b_hh[6:])
    torch.testing.assert_close(got, (1 - z) * n + z * h)
    n_outside = torch.tanh(x @ w.w_ih[6:].T + w.b_ih[6:] + w.b_hh[6:])
    assert not torch.allclose(got, (1 - z) * n_outside + z * h)


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU, nn.LSTM])
def test_cell_weights_are_the_module_parameters(cls):
    module = make_module(cls, 0, 3, 4, num_layers=2, bidirectional=True)
    w = cell_weights(module, layer=1, reverse=True)
    assert isinstance(w, CellWeights)
    assert w.w_ih is module.weight_ih_l1_reverse
    assert w.w_hh is module.weight_hh_l1_reverse
    assert w.b_ih is module.bias_ih_l1_reverse
    assert w.b_hh is module.bias_hh_l1_reverse
    assert w.w_hr is None
    assert cell_weights(module, layer=0).w_ih is module.weight_ih_l0


def test_cell_weights_without_bias_and_with_projection():
    module = make_module(nn.LSTM, 0, 3, 4, bias=False, proj_size=2, bidirectional=True)
    w = cell_weights(module, reverse=True)
    assert w.b_ih is None and w.b_hh is None
    assert w.w_hr is module.weight_hr_l0_reverse
    assert tuple(w.w_hh.shape) == (16, 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"module": nn.Linear(2, 2)}, TypeError, "nn.RNN, nn.GRU or nn.LSTM, got Linear"),
        ({"layer": 2}, ValueError, r"layer must be in \[0, 1\].*got 2"),
        ({"layer": -1}, ValueError, r"layer must be in \[0, 1\].*got -1"),
        ({"layer": 0.0}, TypeError, "layer must be an int, got float"),
        ({"reverse": True}, ValueError, "needs a bidirectional module"),
        ({"reverse": 1}, TypeError, "reverse must be a bool, got int"),
    ],
)
def test_cell_weights_bad_inputs(kwargs, error, match):
    args = {"module": nn.GRU(2, 3, num_layers=2), "layer": 0, "reverse": False} | kwargs
    with pytest.raises(error, match=match):
        cell_weights(**args)


def _gru_args():
    w = cell_weights(make_module(nn.GRU, 0, 3, 4))
    return torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64), w


def test_cell_bad_shapes():
    x, h, w = _gru_args()
    cases = [
        (lambda: gru_cell(x[0], h, *w[:4]), ValueError, r"must be 2-D.*\(3,\)"),
        (lambda: gru_cell(x, h[:1], *w[:4]), ValueError, "same batch size, got 2 and 1"),
        (lambda: gru_cell(x[:, :2], h, *w[:4]), ValueError, r"w_ih has shape \(12, 3\)"),
        (lambda: gru_cell(x, h[:, :3], *w[:4]), ValueError, r"w_hh has shape \(12, 4\)"),
        (lambda: gru_cell(x, h, w.w_ih, w.w_hh, w.b_ih[:4]), ValueError,
         r"b_ih has shape \(4,\), expected \(12,\)"),
        (lambda: gru_cell(x.numpy(), h, *w[:4]), TypeError, "x must be a Tensor, got ndarray"),
        (lambda: gru_cell(x, h, w.w_ih, w.w_hh, 0.0), TypeError, "b_ih must be a Tensor or None"),
        (lambda: gru_cell(x, h, w.w_ih[:9], w.w_hh[:9]), ValueError, "expected 3\\*H=12"),
        (lambda: rnn_cell(x, h, w.w_ih, w.w_hh), ValueError, "expected H=4"),
        (lambda: rnn_cell(x, h, w.w_ih, w.w_hh, nonlinearity="sigmoid"), ValueError,
         r"nonlinearity must be one of \['tanh', 'relu'\], got 'sigmoid'"),
        (lambda: gru_cell(x, h, w.w_ih[:10], w.w_hh[:10]), ValueError, r"must be \(3\*H, I\)"),
    ]
    for call, error, match in cases:
        with pytest.raises(error, match=match):
            call()


def test_lstm_cell_bad_state():
    w = cell_weights(make_module(nn.LSTM, 0, 3, 4, proj_size=2))
    x = torch.zeros(2, 3, dtype=torch.float64)
    h, c = torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64)
    with pytest.raises(TypeError, match="state must be a pair"):
        lstm_cell(x, h, *w)
    with pytest.raises(ValueError, match=r"\(c\) must have shape \(2, 4\), got \(2, 2\)"):
        lstm_cell(x, (h, h), *w)
    with pytest.raises(ValueError, match=r"w_hr must have shape \(R, 4\)"):
        lstm_cell(x, (h, c), *w[:4], w_hr=w.w_hr.T)
    with pytest.raises(ValueError, match="expected 4 .H from w_ih"):
        lstm_cell(x, (h, c), w.w_ih, torch.zeros(16, 2, dtype=torch.float64))


@pytest.mark.parametrize(
    ("module", "expected"),
    [(nn.RNN(3, 5), 5), (nn.GRU(3, 5), 5), (nn.LSTM(3, 5), 5), (nn.LSTM(3, 5, proj_size=2), 2)],
)
def test_state_size_is_the_size_of_the_returned_h(module, expected):
    _, state = module.double()(torch.zeros(4, 1, 3, dtype=torch.float64))  # float64: no oneDNN
    h_n = state[0] if isinstance(module, nn.LSTM) else state
    assert state_size(module) == h_n.shape[-1] == expected


def test_dtype_device_and_type_mismatches_are_clear_errors():
    """Issue 18: these used to be torch RuntimeErrors from inside F.linear, or an
    AttributeError for a list as w_hr."""
    x, h, w = _gru_args()
    lstm = cell_weights(make_module(nn.LSTM, 0, 3, 4, proj_size=2))
    c = torch.zeros(2, 4, dtype=torch.float64)
    cases = [
        (lambda: gru_cell(x.float(), h, *w[:4]), TypeError,
         "gru_cell: h has dtype float64 but x has float32"),
        (lambda: gru_cell(x.float(), h.float(), *w[:4]), TypeError,
         "gru_cell: w_ih has dtype float64 but x has float32"),
        (lambda: gru_cell(x.long(), h, *w[:4]), TypeError,
         "gru_cell: x must have a floating-point dtype, got Tensor of shape"),
        (lambda: gru_cell(x.to("meta"), h, *w[:4]), ValueError,
         "gru_cell: h is on device cpu but x is on meta"),
        (lambda: lstm_cell(x, (h[:, :2], c), *lstm[:4], w_hr=lstm.w_hr.tolist()), TypeError,
         "lstm_cell: w_hr must be a Tensor or None, got list"),
        (lambda: lstm_cell(x, (h[:, :2], c.float()), *lstm), TypeError,
         r"lstm_cell: state\[1\] \(c\) has dtype float32 but x has float64"),
        (lambda: lstm_cell(x, (h[:, :2], [0.0]), *lstm), TypeError,
         r"state\[1\] \(c\) must be a Tensor, got list"),
        (lambda: CellWeights([1.0], w.w_hh, None, None), TypeError,
         "CellWeights: w_ih must be a Tensor, got list"),
        (lambda: cell_weights(nn.GRU(2, 3), layer=True), TypeError, "layer must be an int"),
    ]
    for call, error, match in cases:
        with pytest.raises(error, match=match):
            call()
