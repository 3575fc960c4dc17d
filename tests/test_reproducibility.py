"""make_deterministic: same seed, same numbers; bad arguments refused before any change."""

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
        ({"threads": 0}, ValueError, "threads must be a positive int, got 0"),
        ({"threads": "2"}, TypeError, "threads must be an int, got str"),
    ],
)
def test_bad_arguments_change_nothing(kwargs, error, match):
    threads = torch.get_num_threads()
    state = torch.get_rng_state()
    with pytest.raises(error, match=match):
        make_deterministic(**kwargs)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), state)
