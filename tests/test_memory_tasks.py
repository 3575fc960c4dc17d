"""The recall-the-first-token task: layout, labels, determinism, bad inputs."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from birnn_utils.data import IGNORE_INDEX
from birnn_utils.memory_tasks import recall_first_token


@st.composite
def task_args(draw):
    seq_len = draw(st.integers(2, 12))
    return {
        "n": draw(st.integers(1, 20)), "seq_len": seq_len, "vocab": draw(st.integers(2, 5)),
        "noise": draw(st.integers(1, 5)), "min_lag": draw(st.integers(1, seq_len - 1)),
        "seed": draw(st.integers(0, 2**16)),
    }


@given(args=task_args())
def test_layout_and_labels(args):
    task = recall_first_token(**args)
    n, seq_len, vocab, noise = args["n"], args["seq_len"], args["vocab"], args["noise"]
    assert task.x.shape == (n, seq_len, vocab + noise) and task.x.dtype == torch.float32
    assert task.y.shape == task.tokens.shape == (n, seq_len) and task.y.dtype == torch.int64
    # x is the one-hot of tokens, written out without F.one_hot.
    for i in range(n):
        for t in range(seq_len):
            row = torch.zeros(vocab + noise)
            row[task.tokens[i, t]] = 1.0
            assert torch.equal(task.x[i, t], row)
    # Signal first, noise after: the two alphabets never overlap.
    assert ((task.tokens[:, 0] >= 0) & (task.tokens[:, 0] < vocab)).all()
    assert ((task.tokens[:, 1:] >= vocab) & (task.tokens[:, 1:] < vocab + noise)).all()
    # Labels: the first token from min_lag on, nothing before.
    for t in range(seq_len):
        if t < args["min_lag"]:
            assert (task.y[:, t] == IGNORE_INDEX).all()
        else:
            assert torch.equal(task.y[:, t], task.tokens[:, 0])


@given(args=task_args())
def test_seed_decides_everything_and_leaves_the_global_rng_alone(args):
    state = torch.random.get_rng_state()
    first, second = recall_first_token(**args), recall_first_token(**args)
    assert torch.equal(torch.random.get_rng_state(), state)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    # min_lag changes only the labels, never the sequences.
    last_only = recall_first_token(**(args | {"min_lag": args["seq_len"] - 1}))
    assert torch.equal(last_only.tokens, first.tokens)
    assert (last_only.y[:, :-1] == IGNORE_INDEX).all()


def test_both_alphabets_are_used_uniformly():
    task = recall_first_token(4000, 6, vocab=4, noise=3, seed=1)
    first = torch.bincount(task.tokens[:, 0], minlength=4).double() / 4000
    rest = torch.bincount(task.tokens[:, 1:].flatten() - 4, minlength=3).double() / 20000
    assert (first - 0.25).abs().max() < 0.03 and (rest - 1 / 3).abs().max() < 0.02


def test_other_seeds_give_other_sequences():
    a = recall_first_token(50, 8, seed=0).tokens
    b = recall_first_token(50, 8, seed=1).tokens
    assert not torch.equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be an int >= 1, got 0"),
        ({"n": 2.0}, TypeError, "n must be an int, got float 2.0"),
        ({"seq_len": 1}, ValueError, "seq_len must be an int >= 2, got 1"),
        ({"vocab": 1}, ValueError, "vocab must be an int >= 2, got 1"),
        ({"noise": 0}, ValueError, "noise must be an int >= 1, got 0"),
        ({"min_lag": 0}, ValueError, r"min_lag must be an int in \[1, 4\], got 0"),
        ({"min_lag": 5}, ValueError, r"min_lag must be an int in \[1, 4\], got 5"),
        ({"seed": -1}, ValueError, r"seed must be an int in \[0, 2\*\*32 - 1\].*got -1"),
        ({"seed": 2**32}, ValueError, r"seed must be an int in \[0, 2\*\*32 - 1\]"),
        ({"n": 10**6, "seq_len": 10**3}, ValueError,
         r"the one-hot x would hold .* entries \(n \* seq_len \* \(vocab \+ noise\) with "
         r"n=1000000, seq_len=1000, .*above the cap of 1e\+08"),
        ({"seed": True}, TypeError, "seed must be an int, got bool True"),
        ({"vocab": "4"}, TypeError, "vocab must be an int, got str '4'"),
    ],
)
def test_bad_inputs(kwargs, error, match):
    args = {"n": 3, "seq_len": 5} | kwargs
    with pytest.raises(error, match=match):
        recall_first_token(**args)


@given(value=st.one_of(st.floats(allow_nan=True), st.text(max_size=4), st.none(),
                       st.booleans(), st.integers(-50, 0)),
       name=st.sampled_from(["n", "seq_len", "vocab", "noise", "min_lag"]))
def test_bad_inputs_raise_before_touching_the_rng(value, name):
    state = torch.random.get_rng_state()
    with pytest.raises((TypeError, ValueError), match=f"^{name} must be an int"):
        recall_first_token(**({"n": 3, "seq_len": 5} | {name: value}))
    assert torch.equal(torch.random.get_rng_state(), state)
