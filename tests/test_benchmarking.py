"""The measuring tools: FLOP counts derived by hand, interleaved timing ratios."""

import time

import pytest

from birnn_utils.benchmarking import bigru_matmul_flops, time_interleaved


def test_matmul_flops_counts_the_two_products():
    # count the multiply-adds of x W_ih^T and h W_hh^T directly, for T=3, B=2, I=5, H=4
    per_step = 2 * (2 * 5 * 12) + 2 * (2 * 4 * 12)  # 2 FLOPs per multiply-add, (B, 3H) outputs
    assert bigru_matmul_flops(3, 2, 5, 4) == 2 * 3 * per_step
    assert bigru_matmul_flops(3, 2, 5, 4, backward=True) == 3 * 2 * 3 * per_step


def test_time_interleaved_ratios():
    calls = []

    def fast_fn():
        calls.append("fast")

    def slow_fn():
        time.sleep(0.002)

    times, ratios = time_interleaved({"fast": fast_fn, "slow": slow_fn}, reps=2, threads=1)
    assert ratios["fast"] == 1.0  # the first callable is the reference
    assert ratios["slow"] > 10  # 2 ms against a list append
    assert times["slow"] >= 0.002 > times["fast"] > 0
    assert calls  # really called
    with pytest.raises(TypeError, match="callables"):
        time_interleaved({"x": 1}, reps=2, threads=1)
    with pytest.raises(ValueError, match="reps must be a positive int, got 0"):
        time_interleaved({"fast": fast_fn}, reps=0, threads=1)
