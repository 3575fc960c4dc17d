"""make_deterministic: same seed, same numbers; bad arguments refused before any change."""

import random

import numpy as np
import pytest
import torch

from birnn_utils.reproducibility import make_deterministic


@pytest.fixture(autouse=True)
def _restore_torch_state():
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


def test_same_seed_same_numbers_and_settings():
    make_deterministic(seed=3, threads=1)
    first = torch.randn(5)
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == 1
    make_deterministic(seed=3, threads=1)
    assert torch.equal(first, torch.randn(5))
    make_deterministic(seed=4, threads=1)
    assert not torch.equal(first, torch.randn(5))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"seed": 1.5}, TypeError, "seed must be an int, got float"),
        ({"seed": True}, TypeError, "seed must be an int, got bool"),
        ({"threads": 0}, ValueError, r"threads must be an int in \[1, 1024\], got 0"),
        ({"threads": 10**6}, ValueError, r"threads must be an int in \[1, 1024\]"),
        ({"seed": -1}, ValueError, r"seed must be an int in \[0, 2\*\*32 - 1\].*got -1"),
        ({"seed": 2**32}, ValueError, r"seed must be an int in \[0, 2\*\*32 - 1\]"),
        ({"seed": 2**64}, ValueError, "seed must be an int in"),
        ({"threads": "2"}, TypeError, "threads must be an int, got str"),
    ],
)
def test_bad_arguments_change_nothing(kwargs, error, match):
    threads = torch.get_num_threads()
    state = torch.get_rng_state()
    py_state, np_state = random.getstate(), np.random.get_state()
    with pytest.raises(error, match=match):
        make_deterministic(**kwargs)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), state)
    assert random.getstate() == py_state  # random is reseeded first: it must be untouched
    new_np = np.random.get_state()
    assert new_np[0] == np_state[0] and (new_np[1] == np_state[1]).all()
    assert new_np[2:] == np_state[2:]
