"""Tests of birnn_utils.memory: saved-tensor bytes against sizes computed by hand."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from birnn_utils.memory import SavedTensors


def nbytes(t):
    return t.numel() * t.element_size()


def test_linear_saves_its_input_when_only_the_weight_needs_grad():
    layer = nn.Linear(3, 4, bias=False).double()
    x = torch.randn(5, 3, dtype=torch.float64)  # no grad needed for x: weight.t() not saved
    with SavedTensors() as saved:
        layer(x)
    assert saved.count == 1 and saved.nbytes == nbytes(x)
    assert saved.records[0].shape == (5, 3) and not saved.records[0].excluded


def test_parameters_are_excluded_but_listed():
    layer = nn.Linear(3, 4, bias=False)
    x = torch.randn(5, 3, requires_grad=True)  # now the weight is saved for x's gradient
    with SavedTensors(exclude=layer.parameters()) as saved:
        layer(x)
    assert saved.count == 2
    assert saved.nbytes == nbytes(x)
    assert saved.excluded_nbytes == nbytes(layer.weight)
    assert sorted(r.excluded for r in saved.records) == [False, True]


def test_a_tensor_saved_twice_is_counted_once_in_bytes():
    x = torch.randn(7, requires_grad=True)
    with SavedTensors() as saved:
        x * x  # mul saves both operands: the same storage twice
    assert saved.count == 2 and saved.nbytes == nbytes(x)


def test_nothing_is_saved_under_no_grad_and_results_are_unchanged():
    torch.manual_seed(0)
    layer = nn.Linear(4, 4)
    x = torch.randn(3, 4)
    with SavedTensors() as saved, torch.no_grad():
        y = layer(x).tanh()
    assert saved.count == 0 and saved.nbytes == 0 and y.grad_fn is None
    with SavedTensors() as saved:
        y_metered = layer(x).tanh()
    assert saved.count > 0
    torch.testing.assert_close(y_metered, y, rtol=0, atol=0)
    y_metered.sum().backward()
    grad_metered = layer.weight.grad.clone()
    layer.zero_grad()
    layer(x).tanh().sum().backward()
    assert torch.equal(layer.weight.grad, grad_metered)  # gradients unchanged by the meter


@given(n=st.integers(1, 6), i=st.integers(1, 6), h=st.integers(1, 6))
def test_linear_tanh_bytes_match_the_shapes(n, i, h):
    layer = nn.Linear(i, h)
    x = torch.randn(n, i)
    with SavedTensors(exclude=layer.parameters()) as saved:
        layer(x).tanh()  # Linear saves x (weight grad), tanh saves its output (n, h)
    assert saved.nbytes == 4 * (n * i + n * h)


def test_a_meter_is_used_once_and_nested_use_fails():
    meter = SavedTensors()
    x = torch.randn(3, requires_grad=True)
    with meter:
        with pytest.raises(RuntimeError, match="already active"):
            meter.__enter__()
        x.exp()
    assert meter.count == 1
    with pytest.raises(RuntimeError, match="used already"):
        with meter:
            pass
    assert no_saved_tensors_hooks()


def test_live_bytes_fall_to_zero_after_backward_and_when_the_graph_is_dropped():
    layer = nn.Linear(4, 3)
    x = torch.randn(6, 4)
    with SavedTensors(exclude=layer.parameters()) as saved:
        y = layer(x).tanh()  # saves x (6, 4) and the output (6, 3)
    assert saved.live_nbytes == saved.nbytes == nbytes(x) + nbytes(y)
    y.sum().backward()
    assert saved.live_nbytes == 0 and saved.nbytes == nbytes(x) + nbytes(y)
    with SavedTensors(exclude=layer.parameters()) as saved:
        z = layer(x).tanh()
        del z  # nothing refers to the graph any more: freed at once
    assert saved.live_nbytes == 0 and saved.nbytes > 0


def test_a_graph_dropped_inside_the_block_frees_its_bytes_for_reuse():
    x = torch.randn(5, requires_grad=True)
    with SavedTensors() as saved:
        for _ in range(3):
            x.exp()  # each result is dropped at once: only one storage held at a time
        kept = x.exp()
    assert saved.count == 4 and saved.live_nbytes == nbytes(kept)


@given(bad=st.one_of(st.integers(), st.floats(), st.none(), st.text(max_size=3),
                     st.lists(st.integers(), min_size=1, max_size=3)))
def test_bad_exclude_raises_type_error_and_installs_no_hook(bad):
    with pytest.raises(TypeError, match="exclude must"):
        SavedTensors(exclude=bad)
    assert no_saved_tensors_hooks()  # nothing was installed


def no_saved_tensors_hooks():
    return torch._C._autograd._top_saved_tensors_default_hooks(False) is None


def test_hooks_are_removed_on_exit_even_after_an_error():
    with pytest.raises(KeyError):
        with SavedTensors():
            assert not no_saved_tensors_hooks()
            raise KeyError("boom")
    assert no_saved_tensors_hooks()


def test_a_single_tensor_is_not_an_iterable_of_tensors():
    with pytest.raises(TypeError, match="Tensor of shape"):
        SavedTensors(exclude=torch.zeros(2))


def test_repr_names_the_counts():
    with SavedTensors() as saved:
        torch.ones(2, requires_grad=True).exp()
    assert repr(saved) == "SavedTensors(count=1, nbytes=8, live_nbytes=0, excluded_nbytes=0)"
