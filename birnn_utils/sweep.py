"""A randomised check of the reverse-weight equivalence over PyTorch's configurations.

Chapter 5 proves the theorem and runs :func:`check_configuration` on a few seeds; the test
suite runs it on hundreds. Each seed draws one configuration (module type, sizes, layers
and which layer, ``bias``, ``batch_first``, sharing or copying, padded or full-length
batches, zero or random initial states) and checks, in float64, that
``reverse_direction(module, layer)`` on the reversed input of that layer, from that layer's
backward initial state, reproduces the layer's backward output and final state (and cell
state), and, on full-length batches with shared parameters, the gradients with respect to
them.
"""

from __future__ import annotations

import random

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.testing import assert_close

from .reverse import first_layers, reverse_direction, reverse_sequence
from .validation import check_choice, check_int

__all__ = ["KINDS", "make_bidirectional", "random_state", "draw_configuration",
           "check_configuration"]

#: The module types the sweep draws from; ``lstm_proj`` is an LSTM with ``proj_size=1``.
KINDS = ("rnn_tanh", "rnn_relu", "gru", "lstm", "lstm_proj")


def make_bidirectional(kind: str, input_size: int, hidden_size: int, **kwargs) -> nn.RNNBase:
    """A bidirectional ``nn.RNN`` (tanh/ReLU), ``nn.GRU``, ``nn.LSTM`` or projected LSTM.

    ``kind`` is one of :data:`KINDS`; ``kwargs`` go to the module (``num_layers``, ``bias``,
    ``batch_first``, ``dtype``).
    """
    check_choice("kind", kind, KINDS)
    check_int("input_size", input_size, minimum=1)
    check_int("hidden_size", hidden_size, minimum=2 if kind == "lstm_proj" else 1)
    if kind.startswith("rnn"):
        return nn.RNN(input_size, hidden_size, nonlinearity=kind[4:], bidirectional=True,
                      **kwargs)
    if kind == "gru":
        return nn.GRU(input_size, hidden_size, bidirectional=True, **kwargs)
    proj_size = 1 if kind == "lstm_proj" else 0
    return nn.LSTM(input_size, hidden_size, proj_size=proj_size, bidirectional=True, **kwargs)


def random_state(module: nn.RNNBase, batch: int, generator: torch.Generator | None = None):
    """A random initial state for ``module``: ``h0`` of shape ``(D·L, B, R or H)``, and for
    an LSTM the pair ``(h0, c0)`` with ``c0`` of shape ``(D·L, B, H)``."""
    if not isinstance(module, (nn.RNN, nn.GRU, nn.LSTM)):
        raise TypeError(f"module must be an nn.RNN, nn.GRU or nn.LSTM, got "
                        f"{type(module).__name__}")
    check_int("batch", batch, minimum=1)
    rows = (2 if module.bidirectional else 1) * module.num_layers
    dtype = module.weight_ih_l0.dtype
    size = getattr(module, "proj_size", 0) or module.hidden_size
    h0 = torch.randn(rows, batch, size, dtype=dtype, generator=generator)
    if isinstance(module, nn.LSTM):
        return h0, torch.randn(rows, batch, module.hidden_size, dtype=dtype,
                               generator=generator)
    return h0


def draw_configuration(seed: int) -> dict:
    """The configuration that ``seed`` draws (a plain dict, for counting and printing)."""
    check_int("seed", seed, minimum=0)
    draw = random.Random(seed)
    kind = draw.choice(KINDS)
    T, B, inputs = draw.randint(1, 8), draw.randint(1, 4), draw.randint(1, 5)  # T, B, I
    H, L = draw.randint(2, 5), draw.randint(1, 3)
    return dict(kind=kind, T=T, B=B, I=inputs, H=H, layers=L, layer=draw.randrange(L),
                bias=draw.random() < 0.5, batch_first=draw.random() < 0.5,
                padded=draw.random() < 0.5, share=draw.random() < 0.5,
                lengths=[draw.randint(1, T) for _ in range(B)], h0=draw.random() < 0.5)


def _run(net, inputs, lengths, batch_first, T, state0=None):
    """(padded output, final state) of ``net`` on a packed batch, from ``state0``."""
    packed = pack_padded_sequence(inputs, lengths, batch_first=batch_first,
                                  enforce_sorted=False)
    output, state = net(packed, state0)
    return pad_packed_sequence(output, batch_first=batch_first, total_length=T)[0], state


def check_configuration(seed: int) -> tuple[dict, float]:
    """Check the equivalence on the configuration ``seed`` draws (raises on a mismatch).

    Returns the configuration and the largest absolute difference seen between the
    backward outputs and final states of the two computations.
    """
    c = draw_configuration(seed)
    T, B, bf, layer = c["T"], c["B"], c["batch_first"], c["layer"]
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the module's initialisation
    module = make_bidirectional(c["kind"], c["I"], c["H"], num_layers=c["layers"],
                                bias=c["bias"], batch_first=bf, dtype=torch.float64)
    shape = (B, T, c["I"]) if bf else (T, B, c["I"])
    x = torch.randn(shape, dtype=torch.float64, generator=generator)
    lengths = torch.tensor(c["lengths"] if c["padded"] else [T] * B)
    state0 = random_state(module, B, generator) if c["h0"] else None  # else zeros

    def rows(start, stop):  # rows start..stop-1 of the initial state (h0, or (h0, c0))
        if state0 is None:
            return None
        return tuple(s[start:stop] for s in state0) if c["kind"].startswith("lstm") \
            else state0[start:stop]

    below = first_layers(module, layer) if layer else None
    layer_input = x if layer == 0 else _run(below, x, lengths, bf, T, rows(0, 2 * layer))[0]
    layer_output, _ = _run(first_layers(module, layer + 1), x, lengths, bf, T,
                           rows(0, 2 * layer + 2))
    _, state_n = _run(module, x, lengths, bf, T, state0)  # every layer's final states
    rev = reverse_direction(module, layer=layer, share=c["share"])
    rev_output, rev_state = rev(reverse_sequence(layer_input, lengths, batch_first=bf),
                                rows(2 * layer + 1, 2 * layer + 2))
    rev_backward = reverse_sequence(rev_output, lengths, batch_first=bf)
    size = rev_output.shape[-1]  # H, or R for a projected LSTM

    def time_major(t):  # (B, T, ...) -> (T, B, ...) when batch_first
        return t.transpose(0, 1) if bf else t

    valid = torch.arange(T)[:, None] < lengths  # (T, B): True on real steps
    got = time_major(rev_backward)[valid]  # (number of real steps, size)
    expected = time_major(layer_output)[..., size:][valid]
    assert_close(got, expected, rtol=1e-12, atol=1e-12)
    # Sequence b's backward final state: the reversed run's output at step lengths[b] - 1.
    last = time_major(rev_output)[lengths - 1, torch.arange(B)]  # (B, size)
    h_n = state_n[0] if isinstance(state_n, tuple) else state_n
    assert_close(last, h_n[2 * layer + 1], rtol=1e-12, atol=1e-12)
    diffs = [(got - expected).abs().max(), (last - h_n[2 * layer + 1]).abs().max()]
    if not c["padded"]:
        rows = slice(2 * layer + 1, 2 * layer + 2)
        want = tuple(s[rows] for s in state_n) if isinstance(state_n, tuple) else state_n[rows]
        assert_close(rev_state, want, rtol=1e-12, atol=1e-12)  # includes c_n for an LSTM
        if c["share"]:
            params = list(rev.parameters())
            grads_bi = torch.autograd.grad(layer_output[..., size:].pow(2).sum(), params)
            grads_rev = torch.autograd.grad(rev_backward.pow(2).sum(), params)
            for g_bi, g_rev in zip(grads_bi, grads_rev, strict=True):
                assert_close(g_rev, g_bi, rtol=1e-10, atol=1e-12)
    return c, max(d.item() for d in diffs)
