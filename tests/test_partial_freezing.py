"""Tests of birnn_utils.partial_freezing: frozen rows by mask (exact) and by hook (leaky)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import parametrize

from birnn_utils.partial_freezing import (
    FrozenEntries,
    freeze_rows_by_hook,
    freeze_rows_by_mask,
    row_mask,
)

OPTIMIZERS = [
    (torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
    (torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1)),
    (torch.optim.Adam, dict(lr=1e-2, weight_decay=0.1)),
]


def layer(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(3, 5).double()


def train(module, optimizer, steps=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(8, 3, generator=g, dtype=torch.float64)
        optimizer.zero_grad()
        module(x).pow(2).sum().backward()
        optimizer.step()


def test_row_mask_marks_whole_rows():
    mask = row_mask((4, 3), [0, 2])
    expected = torch.tensor([[True] * 3, [False] * 3, [True] * 3, [False] * 3])
    assert torch.equal(mask, expected)
    assert torch.equal(row_mask(torch.Size([3]), range(1, 3)), torch.tensor([False, True, True]))


def test_mask_forward_equals_the_plain_layer_at_first():
    plain, masked = layer(), layer()
    freeze_rows_by_mask(masked, "weight", [1, 3])
    x = torch.randn(6, 3, dtype=torch.float64)
    assert torch.equal(masked(x), nn.functional.linear(x, plain.weight, plain.bias))
    assert parametrize.is_parametrized(masked, "weight")


@pytest.mark.parametrize("cls, hyper", OPTIMIZERS)
def test_mask_keeps_frozen_rows_bit_identical_and_trains_the_rest(cls, hyper):
    model = layer()
    rows = [0, 3]
    before = model.weight.detach().clone()
    freeze_rows_by_mask(model, "weight", rows)
    optimizer = cls(model.parameters(), **hyper)
    train(model, optimizer)
    after = model.weight.detach()
    assert torch.equal(after[rows], before[rows])
    others = [r for r in range(5) if r not in rows]
    assert (after[others] != before[others]).all()
    original = model.parametrizations.weight.original
    assert torch.count_nonzero(original.grad[rows]) == 0  # no gradient reaches them


@pytest.mark.parametrize("cls, hyper", OPTIMIZERS)
def test_mask_after_the_optimizer_keeps_its_parameter_and_state(cls, hyper):
    model = layer()
    optimizer = cls(model.parameters(), **hyper)
    train(model, optimizer, steps=2)
    weight = model.weight
    state = {k: v.clone() if torch.is_tensor(v) else v for k, v in optimizer.state[weight].items()}
    before = weight.detach().clone()
    freeze_rows_by_mask(model, "weight", [1, 2])
    original = model.parametrizations.weight.original
    assert original is weight  # renamed, not copied: the optimizer still holds it
    for key, value in state.items():  # its state survived the registration untouched
        kept = optimizer.state[original][key]
        assert torch.equal(kept, value) if torch.is_tensor(value) else kept == value
    train(model, optimizer, steps=3, seed=1)
    assert torch.equal(model.weight.detach()[[1, 2]], before[[1, 2]])
    assert not torch.equal(original.detach()[[0, 3, 4]], before[[0, 3, 4]])


def test_hook_zeroes_the_gradient_rows_and_plain_sgd_keeps_them():
    model = layer()
    before = model.weight.detach().clone()
    freeze_rows_by_hook(model.weight, [1, 4])
    train(model, torch.optim.SGD(model.parameters(), lr=0.1))
    assert torch.count_nonzero(model.weight.grad[[1, 4]]) == 0
    assert torch.equal(model.weight.detach()[[1, 4]], before[[1, 4]])
    assert (model.weight.detach()[[0, 2, 3]] != before[[0, 2, 3]]).all()


def test_hook_rows_shrink_under_sgd_weight_decay_by_the_known_factor():
    model = layer()
    before = model.weight.detach().clone()
    freeze_rows_by_hook(model.weight, [2])
    lr, wd, steps = 0.1, 0.05, 3
    train(model, torch.optim.SGD(model.parameters(), lr=lr, weight_decay=wd), steps=steps)
    expected = before[2]
    for _ in range(steps):  # the step is -lr * (0 + wd * w): w <- w - lr * wd * w
        expected = expected - lr * (wd * expected)
    torch.testing.assert_close(model.weight.detach()[2], expected, rtol=1e-14, atol=0)
    assert not torch.equal(model.weight.detach()[2], before[2])


def test_hook_rows_keep_moving_with_momentum_from_earlier_steps():
    model = layer()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train(model, optimizer, steps=2)
    freeze_rows_by_hook(model.weight, [0])
    buffer = optimizer.state[model.weight]["momentum_buffer"][0].clone()
    before = model.weight.detach()[0].clone()
    train(model, optimizer, steps=1, seed=1)
    torch.testing.assert_close(model.weight.detach()[0], before - 0.1 * (0.9 * buffer))


def test_hook_handle_removes_the_hook():
    model = layer()
    handle = freeze_rows_by_hook(model.weight, [0])
    handle.remove()
    model(torch.ones(2, 3, dtype=torch.float64)).sum().backward()
    assert torch.count_nonzero(model.weight.grad[0]) == 3


def state(module):
    return ({k: v.clone() for k, v in module.state_dict().items()},
            parametrize.is_parametrized(module), dict(module.weight._backward_hooks or {}))


def assert_same_state(module, saved):
    now = state(module)
    assert now[0].keys() == saved[0].keys()
    assert all(torch.equal(now[0][k], saved[0][k]) for k in saved[0])
    assert now[1:] == saved[1:]


BAD_ROWS = st.one_of(
    st.lists(st.integers(min_value=5, max_value=100), min_size=1, max_size=3),  # out of range
    st.lists(st.integers(max_value=-1), min_size=1, max_size=3),  # negative
    st.just([]), st.just([1, 1]), st.just([True]), st.just([0.0]), st.just("01"),
    st.just(torch.tensor([0])), st.integers(), st.none(),
)


@given(rows=BAD_ROWS)
def test_bad_rows_raise_before_anything_changes(rows):
    model = layer()
    saved = state(model)
    with pytest.raises((TypeError, ValueError), match="rows"):
        freeze_rows_by_mask(model, "weight", rows)
    with pytest.raises((TypeError, ValueError), match="row"):
        freeze_rows_by_hook(model.weight, rows)
    assert_same_state(model, saved)


@given(name=st.one_of(st.just("bias_x"), st.just("0.weight"), st.integers(), st.none()))
def test_bad_names_raise_before_anything_changes(name):
    model = layer()
    saved = state(model)
    with pytest.raises((TypeError, ValueError), match="name"):
        freeze_rows_by_mask(model, name, [0])
    assert_same_state(model, saved)


def test_bad_modules_and_params_raise():
    with pytest.raises(TypeError, match="module must be a Module"):
        freeze_rows_by_mask(torch.zeros(3), "weight", [0])
    model = layer()
    freeze_rows_by_mask(model, "weight", [0])
    with pytest.raises(ValueError, match="already parametrized"):
        freeze_rows_by_mask(model, "weight", [1])
    with pytest.raises(ValueError, match="leaf tensor that requires grad"):
        freeze_rows_by_hook(torch.zeros(3), [0])
    with pytest.raises(ValueError, match="leaf tensor that requires grad"):
        freeze_rows_by_hook(torch.zeros(3, requires_grad=True) * 2, [0])
    with pytest.raises(TypeError, match="param must be a torch.Tensor"):
        freeze_rows_by_hook([1.0], [0])
    with pytest.raises(ValueError, match="at least one dimension"):
        freeze_rows_by_hook(torch.tensor(1.0, requires_grad=True), [0])
    scalar = nn.Module()
    scalar.w = nn.Parameter(torch.tensor(1.0))
    with pytest.raises(ValueError, match="at least one dimension"):
        freeze_rows_by_mask(scalar, "w", [0])


def test_frozen_entries_and_row_mask_check_their_arguments():
    with pytest.raises(TypeError, match="frozen_mask must have dtype bool"):
        FrozenEntries(torch.zeros(2), torch.zeros(2))
    with pytest.raises(TypeError, match="frozen_values must have a floating-point"):
        FrozenEntries(torch.zeros(2, dtype=torch.bool), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="same shape"):
        FrozenEntries(torch.zeros(2, dtype=torch.bool), torch.zeros(3))
    with pytest.raises(TypeError, match="shape must be"):
        row_mask("23", [0])
    with pytest.raises(TypeError, match="shape must be"):
        row_mask((), [0])
    with pytest.raises(ValueError, match="each size in shape"):
        row_mask((0, 2), [0])
