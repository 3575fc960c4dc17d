"""Measuring tools shared by chapter 8 and ``make bench``: interleaved timing, FLOP counts and
a per-op profile."""

import contextlib
import os
import statistics
import sys
import time

import torch

from birnn_utils.reproducibility import MAX_THREADS
from birnn_utils.validation import check_bool, check_callable, check_float, check_int, describe

MAX_REPS = 10**4
"""The most repetitions (``reps``, ``calls``) a timing makes; more is a typo that would
run for days, like ``target_s`` above ``MAX_TARGET_S`` seconds per timing."""
MAX_TARGET_S = 60.0


def bigru_matmul_flops(steps, batch, input_size, hidden, backward=False):
    """Matmul FLOPs of one bidirectional GRU layer: 2 directions x T steps x 2 x B x 3H x (I + H)
    (the x W_ih and h W_hh products). A backward does twice the forward's (input and weight
    gradients), so forward+backward is 3x."""
    steps = check_int("steps", steps, minimum=1)
    batch = check_int("batch", batch, minimum=1)
    input_size = check_int("input_size", input_size, minimum=1)
    hidden = check_int("hidden", hidden, minimum=1)
    check_bool("backward", backward)
    forward = 2 * steps * 2 * batch * 3 * hidden * (input_size + hidden)
    return 3 * forward if backward else forward


def _check_fns(fns):
    if not isinstance(fns, dict) or not fns:
        raise TypeError(f"fns must be a non-empty dict of name -> callable, got {describe(fns)}")
    for name, fn in fns.items():
        if not isinstance(name, str):
            raise TypeError(f"fns must map str names to callables, got the key {describe(name)}")
        check_callable(f"fns[{name!r}]", fn)


def _calls(fn, number):
    """Seconds per call of ``fn`` over ``number`` back-to-back calls (wall clock)."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def time_interleaved(fns, reps, threads, target_s=0.04):
    """Time zero-argument callables interleaved: ``({name: median s per call},
    {name: median over repetitions of its time / the first callable's time})``.

    One warm-up call each sets ``number``, the calls per timing (about ``target_s`` per
    timing); then each repetition times every callable once, in order, so a ratio compares
    neighbours in time on a busy machine. Runs with ``threads`` intra-op threads and restores
    the previous setting. Lean on purpose: ``torch.utils.benchmark.Timer.timeit`` adds its
    own warm-up calls to every timing, which tripled the cost of a short run.
    """
    _check_fns(fns)
    reps = check_int("reps", reps, minimum=1, maximum=MAX_REPS)
    threads = check_int("threads", threads, minimum=1, maximum=MAX_THREADS)
    target_s = check_float("target_s", target_s, minimum=0.0, maximum=MAX_TARGET_S,
                           min_inclusive=False)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        numbers = {name: max(1, round(target_s / max(_calls(fn, 1), 1e-7)))
                   for name, fn in fns.items()}
        times = {name: [] for name in fns}
        for _ in range(reps):
            for name, fn in fns.items():
                times[name].append(_calls(fn, numbers[name]))
    finally:
        torch.set_num_threads(previous)
    first = times[next(iter(fns))]
    ratios = {
        name: statistics.median(a / b for a, b in zip(ts, first, strict=True))
        for name, ts in times.items()
    }
    return {name: statistics.median(ts) for name, ts in times.items()}, ratios


def op_profile(fn, threads, calls=3, top=8, namespaces=("aten",)):
    """Where the time of ``fn()`` goes, per operator, with ``torch.profiler``: a list of
    ``(op name, calls per fn() call, self CPU ms per fn() call)``, the ``top`` ops by self
    time, after one warm-up call. ``namespaces``: the operator namespaces counted (ATen's;
    add ``"birnn_fast"`` for the compiled layer's own ops)."""
    check_callable("fn", fn)
    if not (
        isinstance(namespaces, tuple)
        and namespaces
        and all(isinstance(n, str) and n.isidentifier() for n in namespaces)
    ):
        raise TypeError(
            f"namespaces must be a non-empty tuple of identifiers, got {describe(namespaces)}"
        )
    threads = check_int("threads", threads, minimum=1, maximum=MAX_THREADS)
    calls = check_int("calls", calls, minimum=1, maximum=MAX_REPS)
    top = check_int("top", top, minimum=1)
    from torch.profiler import ProfilerActivity, profile

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        fn()
        with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                fn()
    finally:
        torch.set_num_threads(previous)
    rows = [
        (event.key, event.count / calls, event.self_cpu_time_total / 1e3 / calls)
        for event in prof.key_averages()
        if event.key.split("::")[0] in namespaces and "::" in event.key
    ]
    return sorted(rows, key=lambda row: -row[2])[:top]


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2: the profiler's C++ side logs its start and stop there,
    with a time stamp, which would land in a notebook's output."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
