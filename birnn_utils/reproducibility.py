"""Make a notebook's outputs the same on every run and (to printed precision) every CPU."""

import random

import numpy as np
import torch

from birnn_utils.display import install_figure_text
from birnn_utils.validation import check_int, check_seed

MAX_THREADS = 1024


def make_deterministic(seed: int = 0, threads: int = 1) -> None:
    """Seed every RNG, force deterministic kernels and fix the CPU thread count.

    One thread by default: the book's models are tiny, and a fixed thread count keeps
    float32 reductions in the same order whatever machine runs the notebook. Inside a
    notebook it also stores each figure's titles as its text form instead of matplotlib's
    ``<Figure size ...>`` repr (see ``birnn_utils.display``).

    ``seed`` must be in ``[0, 2**32 - 1]``, the range all of ``random``, NumPy and torch
    accept; both arguments are checked before any generator or setting is touched.
    """
    seed = check_seed("seed", seed)
    threads = check_int("threads", threads, minimum=1, maximum=MAX_THREADS)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    install_figure_text()
