"""The measuring tools: FLOP counts derived by hand, interleaved timing ratios, the profile."""

import time

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from birnn_utils.benchmarking import bigru_matmul_flops, op_profile, time_interleaved


def test_matmul_flops_counts_the_two_products():
    # count the multiply-adds of x W_ih^T and h W_hh^T directly, for T=3, B=2, I=5, H=4
    per_step = 2 * (2 * 5 * 12) + 2 * (2 * 4 * 12)  # 2 FLOPs per multiply-add, (B, 3H) outputs
    assert bigru_matmul_flops(3, 2, 5, 4) == 2 * 3 * per_step
    assert bigru_matmul_flops(3, 2, 5, 4, backward=True) == 3 * 2 * 3 * per_step


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"batch": True}, TypeError, "batch must be an int, got bool True"),
        ({"steps": -5}, ValueError, "steps must be an int >= 1, got -5"),
        ({"steps": "3"}, TypeError, "steps must be an int, got str '3'"),
        ({"hidden": 0}, ValueError, "hidden must be an int >= 1, got 0"),
        ({"backward": "yes"}, TypeError, "backward must be a bool, got str 'yes'"),
    ],
)
def test_matmul_flops_rejects_bad_arguments(kwargs, error, message):
    args = {"steps": 3, "batch": 2, "input_size": 5, "hidden": 4, **kwargs}
    with pytest.raises(error, match=message):
        bigru_matmul_flops(**args)


def test_time_interleaved_ratios():
    calls = []

    def fast_fn():
        calls.append("fast")

    def slow_fn():
        time.sleep(0.002)

    threads = torch.get_num_threads()
    times, ratios = time_interleaved({"fast": fast_fn, "slow": slow_fn}, reps=2, threads=2,
                                     target_s=0.01)
    assert torch.get_num_threads() == threads  # restored
    assert ratios["fast"] == 1.0  # the first callable is the reference
    assert ratios["slow"] > 10  # 2 ms against a list append
    assert times["slow"] >= 0.002 > times["fast"] > 0
    assert len(calls) > 2  # a warm-up call, then 2 timings of several calls each


def fail():
    raise AssertionError("must not be called")


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        (([fail],), {"reps": 2, "threads": 1}, TypeError, "fns must be a non-empty dict"),
        (({},), {"reps": 2, "threads": 1}, TypeError, "fns must be a non-empty dict"),
        (({"x": 1},), {"reps": 2, "threads": 1}, TypeError, r"fns\['x'\] must be callable"),
        (({"f": fail},), {"reps": True, "threads": 1}, TypeError, "reps must be an int, got bool"),
        (({"f": fail},), {"reps": 0, "threads": 1}, ValueError,
         r"reps must be an int in \[1, 10000\], got 0"),
        (({"f": fail},), {"reps": 2, "threads": 0}, ValueError,
         r"threads must be an int in \[1, 1024\]"),
        (({"f": fail},), {"reps": 2, "threads": 1, "target_s": -1.0}, ValueError, "target_s"),
    ],
)
def test_time_interleaved_rejects_bad_arguments(args, kwargs, error, message):
    threads = torch.get_num_threads()
    with pytest.raises(error, match=message):
        time_interleaved(*args, **kwargs)
    assert torch.get_num_threads() == threads


BAD = st.one_of(st.booleans(), st.integers(max_value=0), st.text(max_size=3), st.none(),
                st.floats(), st.lists(st.integers(), max_size=2))


@given(name=st.sampled_from(["reps", "threads"]), value=BAD)
def test_property_bad_counts_are_refused_before_any_call(name, value):
    threads = torch.get_num_threads()
    kwargs = {"reps": 2, "threads": 1, name: value}
    with pytest.raises((TypeError, ValueError), match=name):
        time_interleaved({"f": fail}, **kwargs)  # fail() is never reached
    assert torch.get_num_threads() == threads


@given(name=st.sampled_from(["steps", "batch", "input_size", "hidden"]), value=BAD)
def test_property_bad_flop_arguments(name, value):
    args = {"steps": 3, "batch": 2, "input_size": 5, "hidden": 4, name: value}
    with pytest.raises((TypeError, ValueError), match=name):
        bigru_matmul_flops(**args)


def test_op_profile_finds_the_matrix_product():
    a = torch.randn(64, 64)

    def fn():
        return (a @ a).relu_()

    rows = op_profile(fn, threads=1, calls=2)
    names = [name for name, _, _ in rows]
    assert "aten::mm" in names and "aten::relu_" in names
    assert all(calls == 1 for name, calls, _ in rows if name in ("aten::mm", "aten::relu_"))
    assert all(ms >= 0 for _, _, ms in rows)
    with pytest.raises(TypeError, match="fn must be callable"):
        op_profile("fn", threads=1)
    for bad in ["aten", (), ("aten::",), ("aten", 3)]:
        with pytest.raises(TypeError, match="namespaces must be a non-empty tuple"):
            op_profile(fn, threads=1, namespaces=bad)


def test_op_profile_counts_only_the_namespaces_asked_for():
    """``prims`` has no op in fn, so nothing is counted; ``aten`` finds the product."""
    a = torch.randn(16, 16)
    assert op_profile(lambda: a @ a, threads=1, calls=1, namespaces=("prims",)) == []
    rows = op_profile(lambda: a @ a, threads=1, calls=1, namespaces=("prims", "aten"))
    assert "aten::mm" in [name for name, _, _ in rows]
