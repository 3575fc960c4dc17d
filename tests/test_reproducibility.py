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
    ("kwargs", "error"),
    [
        ({"seed": 1.5}, TypeError),
        ({"seed": True}, TypeError),
        ({"threads": 0}, ValueError),
        ({"threads": "2"}, ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error, match="seed|threads"):
        make_deterministic(**kwargs)
