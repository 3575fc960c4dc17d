"""The randomised reverse-weight sweep: exhaustive here, short in chapter 5."""

import collections

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from birnn_utils import sweep

SEEDS = range(250)


@pytest.fixture(scope="module")
def results():
    return [sweep.check_configuration(seed) for seed in SEEDS]


def test_every_configuration_agrees(results):
    assert max(diff for _, diff in results) <= 1e-12


def test_sweep_covers_every_option(results):
    configs = [c for c, _ in results]
    kinds = collections.Counter(c["kind"] for c in configs)
    assert set(kinds) == set(sweep.KINDS)
    for option in ("bias", "batch_first", "padded", "share", "h0"):
        values = {c[option] for c in configs}
        assert values == {False, True}, option
    # Every module type meets padding, several layers and a layer above the first.
    for kind in sweep.KINDS:
        mine = [c for c in configs if c["kind"] == kind]
        assert any(c["padded"] for c in mine)
        assert any(c["layer"] > 0 for c in mine)
        assert any(c["padded"] and c["layer"] > 0 and c["batch_first"] for c in mine)
        assert any(c["padded"] and c["layer"] > 0 and c["h0"] for c in mine)


def test_draws_are_reproducible():
    assert sweep.draw_configuration(7) == sweep.draw_configuration(7)
    assert [sweep.draw_configuration(s) for s in range(5)] != [sweep.draw_configuration(0)] * 5


def test_a_naive_flip_is_caught(monkeypatch):
    # Mutation: reverse padded batches with a plain flip. Some padded configuration fails.
    def naive(x, lengths=None, batch_first=False):
        return x.flip(1 if batch_first else 0)

    monkeypatch.setattr(sweep, "reverse_sequence", naive)
    padded = [s for s in range(60) if sweep.draw_configuration(s)["padded"]
              and min(sweep.draw_configuration(s)["lengths"]) < sweep.draw_configuration(s)["T"]]
    failures = 0
    for seed in padded:
        try:
            sweep.check_configuration(seed)
        except AssertionError:
            failures += 1
    assert failures == len(padded) > 0


def test_a_wrong_layer_is_caught(monkeypatch):
    # Mutation: take the parameters of the layer below. Multi-layer configurations fail.
    real = sweep.reverse_direction

    def off_by_one(module, layer=0, share=True):
        return real(module, layer=max(layer - 1, 0), share=share)

    monkeypatch.setattr(sweep, "reverse_direction", off_by_one)
    seeds = [s for s in range(80) if sweep.draw_configuration(s)["layer"] > 1]
    assert seeds
    for seed in seeds:
        with pytest.raises((AssertionError, RuntimeError)):
            sweep.check_configuration(seed)


@pytest.mark.parametrize("kind", sweep.KINDS)
def test_make_bidirectional(kind):
    module = sweep.make_bidirectional(kind, 3, 4, num_layers=2)
    assert module.bidirectional and module.num_layers == 2 and module.input_size == 3
    expected = {"rnn_tanh": nn.RNN, "rnn_relu": nn.RNN, "gru": nn.GRU}.get(kind, nn.LSTM)
    assert type(module) is expected
    if kind.startswith("rnn"):
        assert module.nonlinearity == kind[4:]
    assert getattr(module, "proj_size", 0) == (1 if kind == "lstm_proj" else 0)


def test_random_state_shapes():
    lstm = sweep.make_bidirectional("lstm_proj", 3, 4, num_layers=2, dtype=torch.float64)
    h0, c0 = sweep.random_state(lstm, 5)
    assert h0.shape == (4, 5, 1) and c0.shape == (4, 5, 4) and h0.dtype == torch.float64
    gru = nn.GRU(3, 4)
    assert sweep.random_state(gru, 2).shape == (1, 2, 4)


not_ints = st.one_of(st.booleans(), st.floats(), st.text(max_size=3), st.none())


@given(seed=st.one_of(not_ints, st.integers(max_value=-1)))
def test_bad_seed(seed):
    before = torch.random.get_rng_state()
    with pytest.raises((TypeError, ValueError), match="seed"):
        sweep.check_configuration(seed)
    assert torch.equal(torch.random.get_rng_state(), before)


@given(kind=st.one_of(st.text(max_size=8).filter(lambda s: s not in sweep.KINDS),
                      st.integers(), st.none()))
def test_bad_kind(kind):
    with pytest.raises((TypeError, ValueError), match="kind"):
        sweep.make_bidirectional(kind, 3, 4)


@given(size=st.one_of(not_ints, st.integers(max_value=0)))
def test_bad_sizes(size):
    with pytest.raises((TypeError, ValueError), match="input_size"):
        sweep.make_bidirectional("gru", size, 4)
    with pytest.raises((TypeError, ValueError), match="hidden_size"):
        sweep.make_bidirectional("gru", 3, size)


def test_bad_random_state_arguments():
    with pytest.raises(TypeError, match="module"):
        sweep.random_state(nn.Linear(2, 2), 2)
    with pytest.raises(ValueError, match="batch"):
        sweep.random_state(nn.GRU(2, 2), 0)
    with pytest.raises(TypeError, match="batch"):
        sweep.random_state(nn.GRU(2, 2), True)
