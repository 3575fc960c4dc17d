"""The delayed-output tagger: alignment against a hand-built computation, its look-ahead
(causal up to t + d, and no further), delay 0 = the plain tagger, training through
``training.fit``, the local-peak ceiling against brute-force enumeration, bad inputs."""

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from birnn_utils import data, training
from birnn_utils.delayed import DelayedTagger, local_peak_ceiling


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
