"""Measuring tools shared by chapter 8 and ``make bench``: interleaved timing and FLOP counts."""

import statistics

from torch.utils.benchmark import Timer


def bigru_matmul_flops(steps, batch, input_size, hidden, backward=False):
    """Matmul FLOPs of one bidirectional GRU layer: 2 directions x T steps x 2 x B x 3H x (I + H)
    (the x W_ih and h W_hh products). A backward does twice the forward's (input and weight
    gradients), so forward+backward is 3x."""
    forward = 2 * steps * 2 * batch * 3 * hidden * (input_size + hidden)
    return 3 * forward if backward else forward


def time_interleaved(fns, reps, threads, target_s=0.04):
    """Time zero-argument callables interleaved: ``({name: median s per call},
    {name: median over repetitions of its time / the first callable's time})``.

    Each repetition times every callable once, in order, ``number`` calls each (chosen so one
    timing takes about ``target_s``), so a ratio compares neighbours in time on a busy machine.
    ``torch.utils.benchmark.Timer`` runs with 1 thread unless told: ``threads`` is passed on.
    """
    if not fns or not all(callable(fn) for fn in fns.values()):
        raise TypeError(f"fns must be a non-empty dict of callables, got {fns!r}")
    if not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be a positive int, got {reps!r}")
    timers = {}
    for name, fn in fns.items():
        timer = Timer("fn()", globals={"fn": fn}, num_threads=threads)
        once = timer.timeit(1).mean  # also a warm-up call
        timers[name] = (timer, max(1, round(target_s / max(once, 1e-6))))
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, (timer, number) in timers.items():
            times[name].append(timer.timeit(number).mean)
    first = times[next(iter(fns))]
    ratios = {
        name: statistics.median(a / b for a, b in zip(ts, first, strict=True))
        for name, ts in times.items()
    }
    return {name: statistics.median(ts) for name, ts in times.items()}, ratios
