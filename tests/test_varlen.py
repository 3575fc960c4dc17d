"""Variable-length tagging: reverse_padded against a loop, VarLenTagger against running
each sequence alone, against the fixed-length taggers with the same weights and against
nn.GRU on a PackedSequence; fit's batches, determinism, learning, schedule, errors and
bad inputs that change nothing."""

import copy
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from birnn_utils import training, varlen
from birnn_utils.data import IGNORE_INDEX
from birnn_utils.delayed import DelayedTagger
from birnn_utils.varlen import VarLenTagger, check_lengths, packed_logits, reverse_padded

F64 = torch.float64
KINDS = [{}, {"delay": 1}, {"delay": 3}, {"bidirectional": True}]


def random_batch(seed, n=5, steps=7, vocab=4):
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(vocab, (n, steps), generator=generator)
    lengths = torch.randint(1, steps + 1, (n,), generator=generator)
    lengths[0] = steps  # the longest fills the batch
    return tokens, lengths


def make(seed=0, vocab=4, hidden=5, classes=3, **kind):
    torch.manual_seed(seed)
    return VarLenTagger(vocab, hidden, classes, **kind).double()


def inside(lengths, steps):
    return torch.arange(steps) < lengths[:, None]  # (N, T)


# --- reverse_padded ----------------------------------------------------------------------

@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(1, 8))
def test_reverse_padded_matches_a_loop_and_is_its_own_inverse(seed, n, steps):
    tokens, lengths = random_batch(seed, n, steps, vocab=100)
    x = torch.randn(n, steps, 2, generator=torch.Generator().manual_seed(seed))
    expected = x.clone()
    for row, length in enumerate(lengths.tolist()):
        expected[row, :length] = x[row, :length].flip(0)
    assert torch.equal(reverse_padded(x, lengths), expected)
    assert torch.equal(reverse_padded(reverse_padded(x, lengths), lengths), x)
    flipped = reverse_padded(tokens, lengths)  # (N, T) works too
    assert torch.equal(flipped, expected[..., 0].new_tensor(
        [row[:n_][::-1] + row[n_:] for row, n_ in zip(tokens.tolist(), lengths.tolist(),
                                                         strict=True)]).long())


def test_reverse_padded_passes_gradients_to_the_right_steps():
    x = torch.randn(2, 4, 3, dtype=F64, requires_grad=True)
    lengths = torch.tensor([4, 2])
    weights = torch.randn(2, 4, 3, dtype=F64)
    (reverse_padded(x, lengths) * weights).sum().backward()
    torch.testing.assert_close(x.grad, reverse_padded(weights, lengths), rtol=0, atol=0)


# --- VarLenTagger ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@given(seed=st.integers(0, 10_000))
def test_each_sequence_alone_gives_the_batch_logits(kind, seed):
    model = make(seed % 7, **kind)
    tokens, lengths = random_batch(seed)
    with torch.no_grad():
        batch = model(tokens, lengths)  # (N, T, C)
        for n, length in enumerate(lengths.tolist()):
            alone = model(tokens[n : n + 1, :length], lengths[n : n + 1])  # (1, L, C)
            torch.testing.assert_close(alone[0], batch[n, :length], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@given(seed=st.integers(0, 10_000))
def test_the_padding_is_never_read(kind, seed):
    model = make(**kind)
    tokens, lengths = random_batch(seed)
    other = tokens.clone()
    other[~inside(lengths, tokens.shape[1])] = 3 - other[~inside(lengths, tokens.shape[1])]
    with torch.no_grad():
        a, b = model(tokens, lengths), model(other, lengths)
    mask = inside(lengths, tokens.shape[1])
    assert torch.equal(a[mask], b[mask])


@pytest.mark.parametrize("kind", KINDS)
def test_packed_nn_gru_gives_the_same_logits_and_gradients(kind):
    tokens, lengths = random_batch(3)
    mask = inside(lengths, tokens.shape[1])
    grads = []
    for run in (lambda m: m(tokens, lengths), lambda m: packed_logits(m, tokens, lengths)):
        model = make(1, **kind)
        logits = run(model)
        (logits[mask] ** 2).sum().backward()
        grads.append((logits[mask].detach(), [p.grad for p in model.parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-12, atol=1e-12)
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_full_length_sequences_match_the_fixed_length_taggers_with_the_same_weights():
    torch.manual_seed(0)
    tokens = torch.randint(4, (3, 6))
    lengths = torch.full((3,), 6)
    x = F.one_hot(tokens, 4).double()  # (N, T, V)
    forward = make(0)
    plain = training.SequenceTagger(4, 5, 3).double()
    plain.rnn.load_state_dict(forward.rnn.state_dict())
    plain.head.load_state_dict(forward.head.state_dict())
    torch.testing.assert_close(forward(tokens, lengths), plain(x), rtol=1e-12, atol=1e-12)

    delayed = make(0, delay=2)
    reference = DelayedTagger(4, 5, 3, delay=2).double()
    reference.load_state_dict(delayed.state_dict())
    torch.testing.assert_close(delayed(tokens, lengths), reference(x), rtol=1e-12, atol=1e-12)

    both = make(0, bidirectional=True)
    bigru = training.SequenceTagger(4, 5, 3, bidirectional=True).double()
    state = dict(both.rnn.state_dict())
    state |= {f"{k}_reverse": v for k, v in both.rnn_reverse.state_dict().items()}
    bigru.rnn.load_state_dict(state)
    bigru.head.load_state_dict(both.head.state_dict())
    torch.testing.assert_close(both(tokens, lengths), bigru(x), rtol=1e-12, atol=1e-12)


@given(delay=st.integers(0, 3), seed=st.integers(0, 1000), t=st.integers(0, 6))
def test_a_delayed_logit_reads_up_to_t_plus_delay_of_its_own_sequence(delay, seed, t):
    model = make(seed % 5, delay=delay)
    tokens, lengths = random_batch(seed)
    t = min(t, int(lengths[0]) - 1)
    with torch.no_grad():
        base = model(tokens, lengths)[0, t]
        later = tokens.clone()
        later[0, t + delay + 1 :] = 3 - later[0, t + delay + 1 :]
        assert torch.equal(model(later, lengths)[0, t], base)
        if t + delay < int(lengths[0]):
            seen = tokens.clone()
            seen[0, t + delay] = 3 - seen[0, t + delay]
            assert not torch.equal(model(seen, lengths)[0, t], base)


def test_parameters_are_those_of_one_bidirectional_gru_and_a_head():
    both = VarLenTagger(7, 6, 2, bidirectional=True)
    gru = torch.nn.GRU(7, 6, bidirectional=True)
    count = sum(p.numel() for p in both.parameters())
    assert count == sum(p.numel() for p in gru.parameters()) + 12 * 2 + 2
    assert both.bidirectional and not VarLenTagger(7, 6, 2, delay=2).bidirectional


def test_constructor_and_forward_refuse_bad_arguments_and_change_nothing():
    with pytest.raises(ValueError, match="delay must be 0 for a bidirectional tagger"):
        VarLenTagger(3, 4, 2, bidirectional=True, delay=1)
    with pytest.raises(ValueError, match="hidden_size must be an int in"):
        VarLenTagger(3, 0, 2)
    with pytest.raises(TypeError, match="bidirectional must be a bool"):
        VarLenTagger(3, 4, 2, bidirectional=1)
    model = make()
    before = copy.deepcopy(model.state_dict())
    tokens, lengths = random_batch(0)
    bad_calls = [
        ((tokens.float(), lengths), TypeError, "tokens must have dtype int64"),
        ((tokens + 4, lengths), ValueError, r"tokens must be token ids in \[0, 4\)"),
        ((tokens[0], lengths), ValueError, "tokens must have 2 dimensions"),
        ((tokens[:0], lengths[:0]), ValueError, "at least one sequence"),
        ((tokens, lengths[:2]), ValueError, r"one length per sequence \(5\)"),
        ((tokens, lengths + 7), ValueError, r"lengths must be in \[1, 7\]"),
        ((tokens, lengths * 0), ValueError, r"lengths must be in \[1, 7\]"),
        ((tokens, lengths.int()), TypeError, "lengths must have dtype int64"),
        ((tokens, lengths.tolist()), TypeError, "lengths must be a torch.Tensor, got list"),
    ]
    for args, error, match in bad_calls:
        for call in (model, lambda *a: packed_logits(model, *a),
                     lambda *a: varlen.predict(model, *a)):
            with pytest.raises(error, match=match):
                call(*args)
    with pytest.raises(TypeError, match="model must be a VarLenTagger"):
        packed_logits(torch.nn.GRU(3, 4), tokens, lengths)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])


def test_check_lengths_names_the_argument():
    with pytest.raises(ValueError, match=r"eval lengths must be in \[1, 3\] \(the padded"):
        check_lengths(torch.tensor([0, 2]), 3, 2, "eval lengths")
    assert check_lengths(torch.tensor([1, 3]), 3, 2).tolist() == [1, 3]


def test_predict_marks_the_padding_and_restores_the_modes():
    model = make(bidirectional=True)
    model.train()
    model.head.eval()  # mixed modes come back as they were
    tokens, lengths = random_batch(2)
    labels = varlen.predict(model, tokens, lengths)
    mask = inside(lengths, tokens.shape[1])
    assert (labels[~mask] == IGNORE_INDEX).all()
    with torch.no_grad():
        assert torch.equal(labels[mask], model(tokens, lengths).argmax(-1)[mask])
    assert model.training and model.rnn.training and not model.head.training


# --- fit ------------------------------------------------------------------------------------

def future_token_task(seed, n=96, steps=10, vocab=4, shift=2):
    """Variable lengths; label t = the token ``shift`` steps ahead (-100 if past the end)."""
    tokens, lengths = random_batch(seed, n, steps, vocab)
    y = torch.full_like(tokens, IGNORE_INDEX)
    for row, length in enumerate(lengths.tolist()):
        y[row, : max(length - shift, 0)] = tokens[row, shift:length]
    return tokens, lengths, y


@given(st.integers(1, 40), st.integers(1, 9), st.integers(0, 1000))
def test_batches_cover_every_sequence_once_and_hold_similar_lengths(n, batch_size, seed):
    lengths = torch.randint(1, 30, (n,), generator=torch.Generator().manual_seed(seed))
    batches = varlen._batches(lengths, batch_size, torch.Generator().manual_seed(seed))
    assert sorted(torch.cat(batches).tolist()) == list(range(n))
    assert all(len(b) <= batch_size for b in batches)
    spans = sorted((int(lengths[b].min()), int(lengths[b].max())) for b in batches)
    for (_, high), (low, _) in zip(spans, spans[1:], strict=False):
        assert high <= low  # sorted by length, then cut: ranges do not interleave


def test_fit_learns_a_future_token_with_a_bigru_and_not_with_a_gru():
    train, held_out = future_token_task(0, shift=1), future_token_task(1, shift=1)
    scores = {}
    for name, kind in (("GRU", {}), ("BiGRU", {"bidirectional": True})):
        model = make(0, hidden=12, classes=4, **kind)
        history = varlen.fit(model, *train, epochs=30, lr=3e-2, batch_size=16,
                             eval_data=held_out)
        assert len(history.loss) == len(history.eval_score) == 30
        scores[name] = history.eval_score[-1]
    assert scores["BiGRU"] > 0.9 and scores["GRU"] < 0.45  # chance is 0.25


def test_fit_is_deterministic_and_leaves_the_global_rng_alone():
    task = future_token_task(0, n=20)
    models = [make(2, delay=1, classes=4) for _ in range(2)]
    states = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    runs = []
    for model in models:
        history = varlen.fit(model, *task, epochs=2, lr=1e-2, batch_size=6, seed=5,
                             eval_data=task, score=lambda p, y: float((p == y).sum()),
                             schedule="decay")
        runs.append((history, model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for name, value in runs[0][1].items():
        assert torch.equal(value, runs[1][1][name])
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])


def test_fit_first_loss_is_the_mean_cross_entropy_over_labelled_steps_only():
    tokens, lengths, y = future_token_task(0, n=8)
    model = make(0, classes=4)
    with torch.no_grad():
        logits = model(tokens, lengths)
    expected = F.cross_entropy(logits[y != IGNORE_INDEX], y[y != IGNORE_INDEX]).item()
    history = varlen.fit(model, tokens, lengths, y, epochs=1, lr=1e-12, batch_size=8)
    assert history.loss[0] == pytest.approx(expected, rel=1e-9)


def test_the_schedules_set_these_learning_rates_at_each_update(monkeypatch, capsys):
    seen = []

    class Recording(torch.optim.Adam):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "Adam", Recording)
    task = future_token_task(0, n=12)
    varlen.fit(make(0, classes=4), *task, epochs=5, lr=0.05, batch_size=4,
               schedule="decay", progress=True, eval_data=task)
    assert capsys.readouterr().out.count("epoch") == 5
    # 15 updates: the first 9 (60 %) at lr, then 6 on a line that would reach 0 at 15
    expected = [0.05] * 9 + [0.05 * (15 - k) / 6 for k in range(9, 15)]
    assert seen == pytest.approx(expected, rel=1e-12)
    assert seen[-1] == pytest.approx(0.05 / 6) and varlen.DECAY_START == 0.6
    seen.clear()
    varlen.fit(make(0, classes=4), *task, epochs=2, lr=0.05, batch_size=4)
    assert seen == [0.05] * 6


def test_fit_stops_on_a_non_finite_loss_before_the_step_and_restores_modes():
    task = future_token_task(0, n=8)
    model = make(0, classes=4)
    with torch.no_grad():
        model.head.bias.fill_(float("nan"))
    model.eval()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(FloatingPointError, match="epoch 1 of 2, update 1 of 8"):
        varlen.fit(model, *task, epochs=2, batch_size=2)
    assert not model.training
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]) or torch.isnan(value).all()


def test_fit_refuses_bad_arguments_before_changing_anything():
    tokens, lengths, y = future_token_task(0, n=8)
    model = make(0, classes=4)
    before = copy.deepcopy(model.state_dict())
    on_padding = y.clone()
    on_padding[~inside(lengths, y.shape[1])] = 0
    bad_calls = [
        (dict(y=y.float()), TypeError, "y must have dtype int64"),
        (dict(y=y[:, :3]), ValueError, "y must have the shape of tokens"),
        (dict(y=y.clamp(max=4) + (y == 3) * 1), ValueError, r"class indices in \[0, 3\]"),
        (dict(y=on_padding), ValueError, "-100 after each sequence's end"),
        (dict(y=torch.full_like(y, IGNORE_INDEX)), ValueError, "no labelled step"),
        (dict(epochs=0), ValueError, "epochs must be an int"),
        (dict(lr=0.0), ValueError, "lr must be a finite number > 0"),
        (dict(lr=float("nan")), ValueError, "lr must be a finite number"),
        (dict(batch_size=True), TypeError, "batch_size must be an int, got bool"),
        (dict(seed=-1), ValueError, "seed must be an int in"),
        (dict(schedule="linear"), ValueError, "schedule must be one of"),
        (dict(progress=1), TypeError, "progress must be a bool"),
        (dict(eval_data=(tokens, lengths)), TypeError, "eval_data must be a triple"),
        (dict(eval_data=(tokens, lengths[:3], y)), ValueError,
         r"eval_data\[1\] must hold one length per sequence"),
        (dict(score=3), TypeError, "score must be callable"),
        (dict(model=torch.nn.GRU(4, 3)), TypeError, "model must be a VarLenTagger"),
    ]
    for change, error, match in bad_calls:
        kwargs = dict(model=model, tokens=tokens, lengths=lengths, y=y, epochs=1)
        kwargs |= change
        with pytest.raises(error, match=match):
            varlen.fit(**kwargs)
    frozen = make(0, classes=4).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameter"):
        varlen.fit(frozen, tokens, lengths, y, epochs=1)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])


def test_history_checks_its_lists():
    assert varlen.History().loss == [] and varlen.History().loss is not varlen.History().loss
    with pytest.raises(TypeError, match="eval_score must be a list of numbers"):
        varlen.History(eval_score=[True])
