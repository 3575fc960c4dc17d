"""The delayed-output tagger: alignment against a hand-built computation, its look-ahead
(causal up to t + d, and no further), delay 0 = the plain tagger, training through
``training.fit``, the local-peak and next-symbol ceilings against brute-force enumeration
(and the next-symbol one against its Bayes rule on a sample), bad inputs."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from birnn_utils import data, training
from birnn_utils.delayed import DelayedTagger, local_peak_ceiling, next_symbol_ceiling


def test_output_is_the_state_d_steps_later_on_zero_padded_input():
    torch.manual_seed(0)
    model = DelayedTagger(3, 5, 4, delay=2).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)  # (N, T, I)
    padded = torch.cat([x, torch.zeros(2, 2, 3, dtype=torch.float64)], dim=1)  # (N, T + d, I)
    h = torch.zeros(2, 5, dtype=torch.float64)
    cell = torch.nn.GRUCell(3, 5).double()
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in model.rnn.state_dict().items()})
    states = []
    for t in range(8):
        h = cell(padded[:, t], h)
        states.append(h)
    expected = model.head(torch.stack(states[2:], dim=1))  # steps d .. T + d - 1
    torch.testing.assert_close(model(x), expected)


@given(delay=st.integers(0, 4), steps=st.integers(1, 7), t=st.integers(0, 6),
       seed=st.integers(0, 1000))
def test_logit_t_reads_exactly_up_to_t_plus_delay(delay, steps, t, seed):
    t = min(t, steps - 1)
    torch.manual_seed(seed)
    model = DelayedTagger(2, 4, 3, delay=delay).double()
    x = torch.randn(1, steps, 2, dtype=torch.float64)
    with torch.no_grad():
        base = model(x)
        later = x.clone()
        later[:, t + delay + 1 :] += 1.0  # beyond the look-ahead: no effect on logit t
        torch.testing.assert_close(model(later)[:, t], base[:, t], rtol=0, atol=0)
        if t + delay < steps:  # inside it: the input at t + delay does reach logit t
            seen = x.clone()
            seen[:, t + delay] += 1.0
            assert not torch.equal(model(seen)[:, t], base[:, t])


def test_delay_zero_is_the_plain_forward_tagger():
    torch.manual_seed(0)
    delayed = DelayedTagger(4, 6, 3, delay=0)
    plain = training.SequenceTagger(4, 6, 3)
    plain.load_state_dict(delayed.state_dict())
    x = torch.randn(3, 5, 4)
    torch.testing.assert_close(delayed(x), plain(x))


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_each_cell_kind_runs_and_keeps_shapes(cell):
    model = DelayedTagger(4, 6, 3, delay=1, cell=cell)
    assert type(model.rnn).__name__ == cell.upper()
    assert not model.rnn.bidirectional and model.rnn.batch_first
    assert model(torch.randn(2, 5, 4)).shape == (2, 5, 3)


def test_a_delay_of_radius_learns_local_peak_beyond_the_forward_ceiling():
    torch.manual_seed(0)
    train = data.local_peak(256, 12, vocab=8, seed=0, radius=1)
    held_out = data.local_peak(256, 12, vocab=8, seed=1, radius=1)
    model = DelayedTagger(8, 16, 2, delay=1).double()
    training.fit(model, train.x.double(), train.y, epochs=25, lr=3e-2, batch_size=32)
    accuracy = training.accuracy(model, held_out.x.double(), held_out.y)
    assert accuracy > local_peak_ceiling(8, 1, 0) + 0.05  # impossible without the delay


def brute_force_ceiling(vocab, radius, lookahead):
    """Enumerate every window: group by what the predictor sees, take the majority."""
    seen_counts = {}
    for window in itertools.product(range(vocab), repeat=2 * radius + 1):
        centre = window[radius]
        label = int(all(centre > w for i, w in enumerate(window) if i != radius))
        seen = window[: radius + 1 + min(lookahead, radius)]
        counts = seen_counts.setdefault(seen, [0, 0])
        counts[label] += 1
    return sum(max(c) for c in seen_counts.values()) / vocab ** (2 * radius + 1)


@given(vocab=st.integers(2, 5), radius=st.integers(1, 2), lookahead=st.integers(0, 3))
def test_local_peak_ceiling_matches_enumeration(vocab, radius, lookahead):
    assert local_peak_ceiling(vocab, radius, lookahead) == pytest.approx(
        brute_force_ceiling(vocab, radius, lookahead), abs=1e-12)


def test_local_peak_ceiling_is_one_once_the_window_is_seen_and_rises_before():
    ceilings = [local_peak_ceiling(8, 3, k) for k in range(5)]
    assert ceilings[0] < ceilings[1] < ceilings[2] < ceilings[3] == ceilings[4] == 1.0
    task = data.local_peak(4000, 12, vocab=8, seed=0, radius=2)
    labels = task.y[task.y != data.IGNORE_INDEX].double()
    majority = 1 - labels.mean().item()
    assert majority < local_peak_ceiling(8, 2, 0)  # reading the left half already helps


def brute_force_next_symbol_ceiling(symbols, blank_prob, seq_len, lookahead):
    """Enumerate every sequence with its probability; for each step, group the labelled
    cases by what the predictor has read (t and tokens up to t + lookahead) and let it
    answer the label with the most probability; divide by the labelled probability."""
    blank = symbols
    mass = {}  # (t, read tokens) -> {label: probability}
    labelled = 0.0
    for seq in itertools.product(range(symbols + 1), repeat=seq_len):
        prob = 1.0
        for token in seq:
            prob *= blank_prob if token == blank else (1 - blank_prob) / symbols
        for t in range(seq_len):
            later = [token for token in seq[t + 1 :] if token != blank]
            if not later:
                continue
            labelled += prob
            by_label = mass.setdefault((t, seq[: t + lookahead + 1]), {})
            by_label[later[0]] = by_label.get(later[0], 0.0) + prob
    return sum(max(by_label.values()) for by_label in mass.values()) / labelled


@given(symbols=st.integers(2, 3), blank_prob=st.sampled_from([0.0, 0.3, 0.7, 0.9]),
       seq_len=st.integers(2, 5), lookahead=st.integers(0, 5))
@settings(max_examples=40, deadline=None)
def test_next_symbol_ceiling_matches_enumeration(symbols, blank_prob, seq_len, lookahead):
    assert next_symbol_ceiling(symbols, blank_prob, seq_len, lookahead) == pytest.approx(
        brute_force_next_symbol_ceiling(symbols, blank_prob, seq_len, lookahead), abs=1e-12)


def test_next_symbol_ceiling_is_reached_by_the_bayes_rule_on_a_sample():
    # The rule: answer the first symbol among x_{t+1..t+d}, else symbol 0 (any guess will do).
    symbols, blank_prob, seq_len = 4, 0.7, 24
    task = data.next_symbol(20000, seq_len, symbols, blank_prob, seed=5)
    is_symbol = task.tokens != symbols  # (N, T)
    labelled = task.y != data.IGNORE_INDEX
    for d in (0, 1, 2, 4, 8, seq_len - 1):
        guess = torch.zeros_like(task.y)  # (N, T)
        for t in range(seq_len):
            window = is_symbol[:, t + 1 : t + d + 1]  # (N, <= d)
            if window.shape[1] == 0:
                continue
            found = window.any(dim=1)
            first = window.long().argmax(dim=1) + t + 1  # the first symbol read, if any
            guess[found, t] = task.tokens[found, first[found]]
        rule = (guess[labelled] == task.y[labelled]).double().mean().item()
        ceiling = next_symbol_ceiling(symbols, blank_prob, seq_len, d)
        assert abs(rule - ceiling) < 0.005  # about 350 000 labelled steps
        if d == seq_len - 1:
            assert rule == ceiling == 1.0


def test_next_symbol_ceiling_rises_with_the_delay_and_beats_the_long_sequence_limit():
    for symbols, blank_prob, seq_len in [(4, 0.7, 24), (3, 0.5, 10), (2, 0.9, 40)]:
        ceilings = [next_symbol_ceiling(symbols, blank_prob, seq_len, d)
                    for d in range(seq_len + 2)]
        assert ceilings[0] == pytest.approx(1 / symbols, abs=1e-12)  # blind: a guess
        pairs = zip(ceilings[: seq_len - 1], ceilings[1:seq_len], strict=True)
        assert all(a < b for a, b in pairs)  # each step of look-ahead helps, up to the end
        assert ceilings[seq_len - 1 :] == [1.0] * 3  # reading to the end sees every label
        for d in range(1, seq_len - 1):
            limit = 1 - (1 - 1 / symbols) * blank_prob**d
            assert ceilings[d] > limit  # near the end, "labelled" says the symbol is near
            far = next_symbol_ceiling(symbols, blank_prob, 4000, d)
            assert limit < far < limit + 0.01  # ... an edge effect that fades with length
    assert next_symbol_ceiling(3, 0.0, 6, 1) == 1.0  # no blanks: x_{t+1} is the label


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: DelayedTagger(4, 6, 3, delay=-1), ValueError,
         r"delay must be an int in \[0, 100000000\], got -1"),
        (lambda: DelayedTagger(4, 6, 3, delay=1.0), TypeError, "delay must be an int, got float"),
        (lambda: DelayedTagger(0, 6, 3, delay=1), ValueError, "input_size must be an int >= 1"),
        (lambda: DelayedTagger(4, True, 3, delay=1), TypeError, "hidden_size must be an int"),
        (lambda: DelayedTagger(4, 6, 0, delay=1), ValueError, "num_classes must be an int >= 1"),
        (lambda: DelayedTagger(4, 6, 3, 1, cell="tcn"), ValueError, "cell must be one of"),
        (lambda: local_peak_ceiling(1, 1, 0), ValueError,
         r"vocab must be an int in \[2, 1000000\], got 1"),
        (lambda: local_peak_ceiling(8, 0, 0), ValueError,
         r"radius must be an int in \[1, 100000000\], got 0"),
        (lambda: local_peak_ceiling(8, 1, -1), ValueError, "lookahead must be an int >= 0"),
        (lambda: next_symbol_ceiling(1, 0.7, 8, 1), ValueError,
         "symbols must be an int >= 2, got 1"),
        (lambda: next_symbol_ceiling(4, 1.0, 8, 1), ValueError,
         "blank_prob must be a finite number >= 0.0 and < 1.0, got 1.0"),
        (lambda: next_symbol_ceiling(4, True, 8, 1), TypeError,
         "blank_prob must be a real number, got bool"),
        (lambda: next_symbol_ceiling(4, 0.7, 1, 1), ValueError,
         "seq_len must be an int >= 2, got 1"),
        (lambda: next_symbol_ceiling(4, 0.7, 8, -1), ValueError,
         "lookahead must be an int >= 0, got -1"),
    ],
)
def test_bad_constructor_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


@given(bad=st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)))
def test_forward_rejects_non_tensors_and_leaves_the_weights_unchanged(bad):
    model = DelayedTagger(4, 6, 3, delay=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        model(bad)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_forward_rejects_bad_tensors():
    model = DelayedTagger(4, 6, 3, delay=1)
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        model(torch.randn(5, 4))
    with pytest.raises(ValueError, match=r"x must have 4 features .* got shape \(2, 5, 3\)"):
        model(torch.randn(2, 5, 3))
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        model(torch.zeros(2, 5, 4, dtype=torch.int64))
    with pytest.raises(TypeError,
                       match=r"x must have the dtype of the model's parameters \(float32\)"):
        model(torch.zeros(2, 5, 4, dtype=torch.float64))
    with pytest.raises(ValueError,
                       match=r"x must be on the device of the model's parameters \(cpu\), got"):
        model(torch.zeros(2, 5, 4, device="meta"))
