"""Helpers for the book *Bidirectional RNNs in PyTorch*.

One concept per module; notebooks import from here instead of copying code:

- ``reproducibility``: seeds, deterministic algorithms, thread count.
- ``display``: how figures appear in a notebook's stored text outputs.
- ``cells``: one time step of RNN, GRU and LSTM from scratch, in PyTorch's layout.
- ``recurrent``: run cells over sequences; a from-scratch (bi)directional stack.
- ``bptt``: backpropagation through time by hand, and gradient norms over time.
- ``reverse``: the reverse-weight equivalence tools (``reverse_direction`` and friends).
- ``freezing``: freeze/unfreeze by name pattern, and checks that frozen stays frozen.
- ``data``: small synthetic sequence tasks generated in code.
- ``training``: a small deterministic training loop.
- ``plotting``: diagrams of unrolled (Bi)RNNs and training/gradient plots.
- ``fast``: a fast bidirectional GRU with a hand-written backward pass.
- ``benchmarking``: interleaved timing and FLOP counts for chapter 8 and ``make bench``.
"""

__version__ = "0.1.0"
