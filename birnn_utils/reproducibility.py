"""Make a notebook's numbers the same on every run and (to printed precision) every CPU."""

import random

import numpy as np
import torch


def make_deterministic(seed: int = 0, threads: int = 1) -> None:
    """Seed every RNG, force deterministic kernels and fix the CPU thread count.

    One thread by default: the book's models are tiny, and a fixed thread count keeps
    float32 reductions in the same order whatever machine runs the notebook.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
