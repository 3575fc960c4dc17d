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
from .validation import check_bool, check_choice, check_elements, check_int, check_seed, describe

__all__ = ["KINDS", "make_bidirectional", "random_state", "draw_configuration",
           "check_configuration"]

#: The module types the sweep draws from; ``lstm_proj`` is an LSTM with ``proj_size=1``.
KINDS = ("rnn_tanh", "rnn_relu", "gru", "lstm", "lstm_proj")
_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4, "lstm_proj": 4}
_OPTIONS = ("num_layers", "bias", "batch_first", "dropout", "dtype", "device")


def _check_options(options: dict) -> int:
    """The keyword arguments :func:`make_bidirectional` passes on; returns num_layers."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise TypeError(f"make_bidirectional got unexpected keyword arguments {unknown}; "
                        f"expected some of {list(_OPTIONS)}")
    layers = check_int("num_layers", options.get("num_layers", 1), minimum=1)
    for name in ("bias", "batch_first"):
        if name in options:
            check_bool(name, options[name])
    dtype = options.get("dtype")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating-point torch.dtype or None, "
                        f"got {describe(dtype)}")
    return layers


def make_bidirectional(kind: str, input_size: int, hidden_size: int, **kwargs) -> nn.RNNBase:
    """A bidirectional ``nn.RNN`` (tanh/ReLU), ``nn.GRU``, ``nn.LSTM`` or projected LSTM.

    ``kind`` is one of :data:`KINDS`; ``kwargs`` go to the module (``num_layers``, ``bias``,
    ``batch_first``, ``dropout``, ``dtype``, ``device``; another keyword is a TypeError).
    A module above the cap on sizes (``validation.MAX_ELEMENTS`` parameters) is refused.
    """
    check_choice("kind", kind, KINDS)
    check_int("input_size", input_size, minimum=1)
    check_int("hidden_size", hidden_size, minimum=2 if kind == "lstm_proj" else 1)
    layers = _check_options(kwargs)
    per_direction = _GATES[kind] * hidden_size * (input_size + hidden_size + 2
                                                  + (layers - 1) * (3 * hidden_size + 2))
    check_elements("the module's parameters", 2 * per_direction,
                   f"input_size={input_size}, hidden_size={hidden_size}, num_layers={layers}")
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
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {describe(generator)}")
    rows = (2 if module.bidirectional else 1) * module.num_layers
    like = module.weight_ih_l0
    size = getattr(module, "proj_size", 0) or module.hidden_size
    check_elements("the state", rows * batch * module.hidden_size,
                   f"batch={batch}, {rows} rows of hidden_size={module.hidden_size}")
    if generator is not None and generator.device != like.device:
        raise ValueError(f"generator must be on the module's device {like.device}, "
                         f"got {generator.device}")
    options = {"dtype": like.dtype, "device": like.device, "generator": generator}
    h0 = torch.randn(rows, batch, size, **options)
    if isinstance(module, nn.LSTM):
        return h0, torch.randn(rows, batch, module.hidden_size, **options)
    return h0


def draw_configuration(seed: int) -> dict:
    """The configuration that ``seed`` draws (a plain dict, for counting and printing)."""
    seed = check_seed("seed", seed)
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

    The global RNGs are left as they were (the module is initialised inside
    ``torch.random.fork_rng``, from ``seed``).

    Returns the configuration and the largest absolute difference seen between the
    backward outputs and final states of the two computations.
    """
    c = draw_configuration(seed)
    with torch.random.fork_rng(devices=[]):  # the global RNG is left as it was
        torch.manual_seed(seed)  # the module's initialisation
        return _check(c, seed)


def _check(c: dict, seed: int) -> tuple[dict, float]:
    T, B, bf, layer = c["T"], c["B"], c["batch_first"], c["layer"]
    generator = torch.Generator().manual_seed(seed)
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
