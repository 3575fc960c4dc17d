"""Shared test settings: one hypothesis profile for every property test (30 examples, no
per-example deadline; a test may set its own max_examples with @settings), and one thread.

The book's models are tiny: one intra-op thread is faster than several on a shared CPU
and matches what ``make_deterministic()`` sets in the notebooks.
"""

import torch
from hypothesis import settings

settings.register_profile("book", max_examples=30, deadline=None, print_blob=True)
settings.load_profile("book")
torch.set_num_threads(1)
