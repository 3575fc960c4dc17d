"""Stream batching, state detaching, clipped steps, learned initial states and truncated BPTT,
each checked against an independent computation (loops, autograd, a manual SGD), and bad
inputs that must raise before anything changes."""

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from birnn_utils.data import IGNORE_INDEX
from birnn_utils.streams import (
    LearnedInitialState,
    StreamTagger,
    clipped_step,
    delayed_labels,
    detach_state,
    stream_accuracy,
    stream_batches,
    tbptt_epoch,
)

F64 = torch.float64


def tagger(seed=0, **kwargs):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return StreamTagger(**({"vocab": 4, "hidden_size": 5, "num_classes": 4,
                                "dtype": F64} | kwargs))


def stream(steps=12, batch=3, vocab=4, delay=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(vocab, (steps, batch), generator=generator)  # (S, B)
    return tokens, delayed_labels(tokens, min(delay, steps - 1))


def weights(module):
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def assert_same_weights(module, before):
    after = weights(module)
    assert after.keys() == before.keys()
    for name in before:
        assert torch.equal(after[name], before[name]), name


# --- stream_batches ----------------------------------------------------------------------

@given(n=st.integers(1, 60), batch=st.integers(1, 8))
def test_stream_batches_columns_are_contiguous_segments(n, batch):
    if batch > n:
        return
    tokens = torch.arange(100, 100 + n)
    got = stream_batches(tokens, batch)
    steps = n // batch
    assert got.shape == (steps, batch)
    for i in range(batch):  # column i is the i-th segment of the corpus, in order
        assert got[:, i].tolist() == list(range(100 + i * steps, 100 + (i + 1) * steps))


@given(n=st.integers(4, 60), batch=st.integers(1, 4), chunk=st.integers(1, 5))
def test_stream_batches_chunks_continue_each_other(n, batch, chunk):
    got = stream_batches(torch.arange(n), batch)
    for start in range(chunk, got.shape[0], chunk):  # row i of chunk k+1 continues row i
        assert torch.equal(got[start], got[start - 1] + 1)


@given(bad=st.sampled_from([
    ("tokens", [1, 2, 3], TypeError, "tokens must be a torch.Tensor, got list"),
    ("tokens", torch.zeros(2, 3, dtype=torch.long), ValueError, "tokens must have 1 dim"),
    ("batch_size", 0, ValueError, "batch_size must be an int >= 1, got 0"),
    ("batch_size", True, TypeError, "batch_size must be an int, got bool True"),
    ("batch_size", 2.0, TypeError, "batch_size must be an int, got float 2.0"),
    ("batch_size", 7, ValueError, "at least batch_size=7 entries"),
]))
def test_stream_batches_bad_inputs(bad):
    name, value, error, message = bad
    args = {"tokens": torch.arange(6), "batch_size": 2} | {name: value}
    before = args["tokens"].clone() if isinstance(args["tokens"], torch.Tensor) else None
    with pytest.raises(error, match=message):
        stream_batches(**args)
    if before is not None:
        assert torch.equal(args["tokens"], before)


# --- delayed_labels ----------------------------------------------------------------------

@given(steps=st.integers(1, 8), batch=st.integers(1, 3), delay=st.integers(0, 7),
       fill=st.sampled_from([IGNORE_INDEX, 4]), seed=st.integers(0, 99))
def test_delayed_labels_against_a_loop(steps, batch, delay, fill, seed):
    if delay >= steps:
        return
    tokens, _ = stream(steps, batch, seed=seed)
    got = delayed_labels(tokens, delay, fill)
    for t in range(steps):
        for b in range(batch):
            expected = tokens[t - delay, b] if t >= delay else fill
            assert got[t, b] == expected


@given(bad=st.sampled_from([
    ("tokens", torch.zeros(3, 2), TypeError, "tokens must have dtype int64"),
    ("tokens", torch.zeros(3, dtype=torch.long), ValueError, "tokens must have 2 dim"),
    ("delay", -1, ValueError, "delay must be an int >= 0, got -1"),
    ("delay", 3, ValueError, "delay must be < the number of steps 3, got 3"),
    ("delay", "1", TypeError, "delay must be an int, got str '1'"),
    ("fill", 0.5, TypeError, "fill must be an int, got float 0.5"),
]))
def test_delayed_labels_bad_inputs(bad):
    name, value, error, message = bad
    args = {"tokens": torch.zeros(3, 2, dtype=torch.long), "delay": 1} | {name: value}
    before = args["tokens"].clone()
    with pytest.raises(error, match=message):
        delayed_labels(**args)
    assert torch.equal(args["tokens"], before)


# --- detach_state ------------------------------------------------------------------------

def test_detach_state_tensor_and_pair():
    leaf = torch.ones(1, 2, 3, requires_grad=True)
    h, c = leaf * 2, leaf * 3
    got = detach_state(h)
    assert got.grad_fn is None and not got.requires_grad and torch.equal(got, h)
    pair = detach_state((h, c))
    assert isinstance(pair, tuple) and len(pair) == 2
    for new, old in zip(pair, (h, c), strict=True):
        assert new.grad_fn is None and torch.equal(new, old)
    assert h.grad_fn is not None  # the original is untouched


@given(bad=st.sampled_from([
    [torch.zeros(1)], (torch.zeros(1),), (torch.zeros(1),) * 3, (torch.zeros(1), 0), None, 1.0,
]))
def test_detach_state_bad_inputs(bad):
    with pytest.raises(TypeError, match=r"state must be a Tensor or a pair of Tensors \(h, c\)"):
        detach_state(bad)


# --- clipped_step ------------------------------------------------------------------------

def _quadratic(scale, seed=0):
    torch.manual_seed(seed)
    model = nn.Linear(3, 2, dtype=F64)
    x = torch.randn(5, 3, dtype=F64)
    return model, (scale * model(x)).pow(2).sum()


@given(scale=st.floats(0.01, 100.0), max_norm=st.floats(0.1, 10.0), seed=st.integers(0, 99))
def test_clipped_step_against_a_manual_sgd(scale, max_norm, seed):
    model, loss = _quadratic(scale, seed)
    before = weights(model)
    grads = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))  # independent of clip_grad_norm_
    factor = min(1.0, max_norm / (norm.item() + 1e-6))
    lr = 0.1
    got = clipped_step(loss, torch.optim.SGD(model.parameters(), lr=lr), max_norm)
    assert got == pytest.approx(norm.item(), rel=1e-12)
    post = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())).item()
    assert post <= max_norm * (1 + 1e-9)
    for (name, p), g in zip(model.named_parameters(), grads, strict=True):
        torch.testing.assert_close(p.detach(), before[name] - lr * factor * g)


def test_clipped_step_zeroes_old_gradients_first():
    model, loss = _quadratic(1.0)
    for p in model.parameters():
        p.grad = torch.full_like(p, 1e6)  # stale gradients must not leak into the step
    grads = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)
    clipped_step(loss, torch.optim.SGD(model.parameters(), lr=0.0), 1e9)
    for p, g in zip(model.parameters(), grads, strict=True):
        torch.testing.assert_close(p.grad, g)


@given(bad=st.sampled_from([
    ("loss", 1.0, TypeError, "loss must be a torch.Tensor, got float 1.0"),
    ("loss", "vector", ValueError, "loss must be a scalar that requires grad"),
    ("loss", "detached", ValueError, "requires_grad=False"),
    ("loss", "int", TypeError, "loss must have a floating-point dtype"),
    ("optimizer", "sgd", TypeError, "optimizer must be a Optimizer, got str 'sgd'"),
    ("max_norm", 0.0, ValueError, "max_norm must be a finite number > 0, got 0.0"),
    ("max_norm", float("nan"), ValueError, "max_norm must be a finite number > 0, got nan"),
    ("max_norm", True, TypeError, "max_norm must be a real number, got bool True"),
]))
def test_clipped_step_bad_inputs_change_nothing(bad):
    name, value, error, message = bad
    model, loss = _quadratic(1.0)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    losses = {"vector": loss.expand(2), "detached": loss.detach(),
              "int": torch.tensor(1)}
    value = losses.get(value, value) if isinstance(value, str) and name == "loss" else value
    args = {"loss": loss, "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
            "max_norm": 1.0} | {name: value}
    before = weights(model)
    with pytest.raises(error, match=message):
        clipped_step(**args)
    assert_same_weights(model, before)
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in model.parameters())


# --- LearnedInitialState -----------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")
@pytest.mark.parametrize("kind, kwargs, h_size", [
    (nn.RNN, {}, 5), (nn.GRU, {"num_layers": 2, "bidirectional": True}, 5),
    (nn.LSTM, {}, 5), (nn.LSTM, {"proj_size": 2, "num_layers": 3}, 2),
])
def test_learned_initial_state_shapes_and_module(kind, kwargs, h_size):
    rnn = kind(3, 5, **kwargs)
    init = LearnedInitialState(rnn)
    state = init(4)
    layers = rnn.num_layers * (2 if rnn.bidirectional else 1)
    h0 = state[0] if kind is nn.LSTM else state
    assert h0.shape == (layers, 4, h_size) and not h0.any()
    if kind is nn.LSTM:
        assert state[1].shape == (layers, 4, 5)
    rnn(torch.randn(2, 4, 3), state)  # the module accepts it
    assert len(list(init.parameters())) == (2 if kind is nn.LSTM else 1)


def test_learned_initial_state_gradient_is_the_sum_over_the_batch():
    torch.manual_seed(0)
    rnn = nn.GRU(3, 4, dtype=F64)
    init = LearnedInitialState(rnn)
    with torch.no_grad():
        init.h0.normal_()
    x = torch.randn(5, 6, 3, dtype=F64)
    rnn(x, init(6))[0].pow(2).sum().backward()
    h0 = init.h0.detach().expand(-1, 6, -1).clone().requires_grad_()
    rnn(x, h0)[0].pow(2).sum().backward()  # independent: one row per sequence
    torch.testing.assert_close(init.h0.grad, h0.grad.sum(1, keepdim=True))


def test_learned_initial_state_bad_inputs():
    with pytest.raises(TypeError, match="rnn must be a RNN or GRU or LSTM, got Linear"):
        LearnedInitialState(nn.Linear(2, 2))
    init = LearnedInitialState(nn.RNN(2, 3))
    for bad, error in ((0, ValueError), (2.0, TypeError), (False, TypeError)):
        with pytest.raises(error, match="batch_size must be an int"):
            init(bad)


# --- StreamTagger ------------------------------------------------------------------------

@given(cell=st.sampled_from(["rnn", "gru", "lstm"]), seed=st.integers(0, 99),
       steps=st.integers(1, 5), batch=st.integers(1, 3))
def test_stream_tagger_against_its_parts(cell, seed, steps, batch):
    model = tagger(seed, cell=cell)
    tokens, _ = stream(steps, batch, seed=seed)
    logits, state = model(tokens)
    x = F.one_hot(tokens, 4).to(F64)  # (T, B, V)
    features, expected_state = model.rnn(x)  # h0 left out: zeros
    torch.testing.assert_close(logits, features @ model.head.weight.T + model.head.bias)
    if cell == "lstm":
        torch.testing.assert_close(state[0], expected_state[0])
        torch.testing.assert_close(state[1], expected_state[1])
    else:
        torch.testing.assert_close(state, expected_state)
    if steps > 1:  # a carried state continues the sequence: split anywhere, same logits
        first, carried = model(tokens[:1])
        rest, _ = model(tokens[1:], carried)
        torch.testing.assert_close(torch.cat([first, rest]), logits)


def test_stream_tagger_initial_states():
    tokens, _ = stream(4, 3)
    zeros = tagger(0)
    learned = tagger(0, initial_state="learned")
    learned.load_state_dict(zeros.state_dict() | {"h0.h0": torch.zeros(1, 1, 5, dtype=F64)})
    torch.testing.assert_close(learned(tokens)[0], zeros(tokens)[0])  # starts at zeros
    torch.testing.assert_close(zeros(tokens)[0], zeros(tokens, torch.zeros(1, 3, 5, dtype=F64))[0])
    random = tagger(0, initial_state="random")
    random.load_state_dict(zeros.state_dict())
    torch.manual_seed(1)
    first = random(tokens)[0]
    torch.manual_seed(1)
    h0 = torch.randn(1, 3, 5, dtype=F64)  # the same draw, made by hand
    torch.testing.assert_close(first, zeros(tokens, h0)[0])
    assert not torch.allclose(random(tokens)[0], first)  # a fresh draw at every call
    lstm = tagger(0, cell="lstm", initial_state="random")
    assert isinstance(lstm.start_state(2), tuple)


@given(bad=st.sampled_from([
    ({"vocab": 1}, ValueError, "vocab must be an int >= 2, got 1"),
    ({"hidden_size": 0}, ValueError, "hidden_size must be an int >= 1, got 0"),
    ({"num_classes": 2.5}, TypeError, "num_classes must be an int, got float 2.5"),
    ({"cell": "transformer"}, ValueError, "cell must be one of"),
    ({"initial_state": "ones"}, ValueError, "initial_state must be one of"),
    ({"dtype": torch.int64}, TypeError, "dtype must be torch.float32 or torch.float64"),
]))
def test_stream_tagger_bad_constructor_arguments(bad):
    kwargs, error, message = bad
    with pytest.raises(error, match=message):
        tagger(0, **kwargs)


@given(bad=st.sampled_from([
    ((torch.zeros(3, 2),), TypeError, "tokens must have dtype int64"),
    ((torch.zeros(3, dtype=torch.long),), ValueError, "tokens must have 2 dim"),
    ((torch.full((3, 2), 4),), ValueError, r"tokens must lie in \[0, 4\), got values in \[4, 4\]"),
    ((torch.zeros(3, 2, dtype=torch.long), [0]), TypeError, "state must be a Tensor or a pair"),
]))
def test_stream_tagger_bad_forward_arguments(bad):
    args, error, message = bad
    model = tagger(0)
    before = weights(model)
    with pytest.raises(error, match=message):
        model(*args)
    assert_same_weights(model, before)


# --- tbptt_epoch -------------------------------------------------------------------------

def _manual_tbptt(model, tokens, labels, chunk, lr, max_norm, carry):
    """Independent truncated BPTT: per chunk, autograd.grad from a constant start state."""
    params = list(model.parameters())
    state, losses = None, []
    for start in range(0, tokens.shape[0], chunk):
        x, y = tokens[start:start + chunk], labels[start:start + chunk]
        if state is not None:
            state = tuple(s.clone() for s in state) if isinstance(state, tuple) else state.clone()
        logits, new_state = model(x, state)
        if carry:
            state = (tuple(s.detach() for s in new_state) if isinstance(new_state, tuple)
                     else new_state.detach())
        if not (y != IGNORE_INDEX).any():
            continue
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g
                 for p, g in zip(params, grads, strict=True)]
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads)).item()
        factor = min(1.0, max_norm / (norm + 1e-6))
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= lr * factor * g
        losses.append(loss.item())
    return losses


@settings(max_examples=15)
@given(cell=st.sampled_from(["rnn", "gru", "lstm"]), chunk=st.integers(1, 6),
       carry=st.booleans(), init=st.sampled_from(["zeros", "learned"]),
       max_norm=st.sampled_from([0.05, 100.0]), seed=st.integers(0, 99))
def test_tbptt_epoch_against_a_manual_loop(cell, chunk, carry, init, max_norm, seed):
    model = tagger(seed, cell=cell, initial_state=init)
    reference = copy.deepcopy(model)
    tokens, labels = stream(11, 3, seed=seed)
    result = tbptt_epoch(model, tokens, labels, chunk=chunk, max_norm=max_norm, carry=carry,
                         optimizer=torch.optim.SGD(model.parameters(), lr=0.5))
    expected = _manual_tbptt(reference, tokens, labels, chunk, 0.5, max_norm, carry)
    assert result.losses == pytest.approx(expected, rel=1e-9)
    assert len(result.grad_norms) == len(expected)
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, msg=name)


def test_tbptt_epoch_skips_chunks_without_labels_and_carry_changes_the_forward():
    tokens, labels = stream(12, 2)
    labels[:4] = IGNORE_INDEX  # the first chunk of 4 has no label
    runs = {}
    for carry in (True, False):
        model = tagger(0)
        runs[carry] = tbptt_epoch(model, tokens, labels, chunk=4, max_norm=1.0, carry=carry,
                                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
        assert len(runs[carry].losses) == 2
    assert runs[True].losses[0] != runs[False].losses[0]  # chunk 2 starts from another state


@given(bad=st.sampled_from([
    ("model", "rnn", TypeError, "model must be a Module, got str 'rnn'"),
    ("tokens", torch.zeros(6, 2), TypeError, "tokens must have dtype int64"),
    ("labels", torch.zeros(5, 2, dtype=torch.long), ValueError, "labels must have the shape"),
    ("chunk", 0, ValueError, "chunk must be an int >= 1, got 0"),
    ("optimizer", None, TypeError, "optimizer must be a Optimizer, got NoneType None"),
    ("max_norm", -1.0, ValueError, "max_norm must be a finite number > 0"),
    ("carry", 1, TypeError, "carry must be a bool, got int 1"),
]))
def test_tbptt_epoch_bad_inputs_change_nothing(bad):
    name, value, error, message = bad
    model = tagger(0)
    tokens, labels = stream(6, 2)
    args = {"model": model, "tokens": tokens, "labels": labels, "chunk": 3, "max_norm": 1.0,
            "optimizer": torch.optim.SGD(model.parameters(), lr=0.1), "carry": True}
    args[name] = value
    before = weights(model)
    with pytest.raises(error, match=message):
        tbptt_epoch(**args)
    assert_same_weights(model, before)
    assert all(p.grad is None for p in model.parameters())


# --- stream_accuracy ---------------------------------------------------------------------

def _accuracy_by_position(logits, labels, chunk):
    correct = torch.zeros(chunk, dtype=F64)
    total = torch.zeros(chunk, dtype=F64)
    for t in range(labels.shape[0]):
        for b in range(labels.shape[1]):
            if labels[t, b] != IGNORE_INDEX:
                total[t % chunk] += 1
                correct[t % chunk] += float(logits[t, b].argmax() == labels[t, b])
    return correct / total


@given(chunk=st.integers(1, 5), cell=st.sampled_from(["rnn", "lstm"]), seed=st.integers(0, 99))
def test_stream_accuracy_against_one_pass_and_fresh_chunks(chunk, cell, seed):
    model = tagger(seed, cell=cell)
    model.train()
    tokens, labels = stream(13, 3, seed=seed)
    with torch.no_grad():
        whole, _ = model(tokens)  # carrying = one pass over the whole stream
        fresh = torch.cat([model(tokens[s:s + chunk])[0] for s in range(0, 13, chunk)])
    for carry, logits in ((True, whole), (False, fresh)):
        got = stream_accuracy(model, tokens, labels, chunk=chunk, carry=carry)
        torch.testing.assert_close(got, _accuracy_by_position(logits, labels, chunk),
                                   equal_nan=True)
    assert model.training  # mode restored


def test_stream_accuracy_bad_inputs():
    model = tagger(0)
    tokens, labels = stream(6, 2)
    with pytest.raises(TypeError, match="carry must be a bool, got str 'yes'"):
        stream_accuracy(model, tokens, labels, chunk=2, carry="yes")
    with pytest.raises(ValueError, match="chunk must be an int >= 1, got -2"):
        stream_accuracy(model, tokens, labels, chunk=-2)
    with pytest.raises(TypeError, match="labels must be a torch.Tensor, got list"):
        stream_accuracy(model, tokens, [1], chunk=2)
