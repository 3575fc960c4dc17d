"""Shared test settings: a modest hypothesis profile, no per-example deadline, one thread.

The book's models are tiny: one intra-op thread is faster than several on a shared CPU
and matches what ``make_deterministic()`` sets in the notebooks.
"""

import torch
from hypothesis import settings

settings.register_profile("book", max_examples=30, deadline=None, print_blob=True)
settings.load_profile("book")
torch.set_num_threads(1)
