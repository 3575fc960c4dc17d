"""Make a notebook's outputs the same on every run and (to printed precision) every CPU."""

import random

import numpy as np
import torch

from birnn_utils.display import install_figure_text


def make_deterministic(seed: int = 0, threads: int = 1) -> None:
    """Seed every RNG, force deterministic kernels and fix the CPU thread count.

    One thread by default: the book's models are tiny, and a fixed thread count keeps
    float32 reductions in the same order whatever machine runs the notebook. Inside a
    notebook it also stores each figure's titles as its text form instead of matplotlib's
    ``<Figure size ...>`` repr (see ``birnn_utils.display``).
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not isinstance(threads, int) or isinstance(threads, bool):
        raise TypeError(f"threads must be an int, got {type(threads).__name__}")
    if threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    install_figure_text()
