"""Helpers for the book *Bidirectional RNNs in PyTorch*.

One concept per module; notebooks import from here instead of copying code:

- ``validation``: the argument checks every module uses (TypeError/ValueError that name
  the argument, show what was given and say what was expected).
- ``reproducibility``: seeds, deterministic algorithms, thread count.
- ``display``: how figures appear in a notebook's stored text outputs.
- ``expect``: catch and print an expected error or warning in a notebook cell.
- ``cells``: one time step of RNN, GRU and LSTM from scratch, in PyTorch's layout.
- ``gates``: the GRU's gates, its variants (Cho et al., bias outside), gates along a sequence.
- ``recurrent``: run cells over sequences; a from-scratch (bi)directional stack.
- ``bptt``: backpropagation through time by hand, and gradient norms over time.
- ``streams``: stream batching, carrying and detaching state, truncated BPTT, clipping,
  learned initial states (chapter 1).
- ``memory_tasks``: long-range tasks that need a memory (chapter 2).
- ``reverse``: the reverse-weight equivalence tools (``reverse_direction`` and friends).
- ``sweep``: a randomised check of the equivalence over PyTorch's configurations.
- ``freezing``: freeze/unfreeze by name pattern, and checks that frozen stays frozen.
- ``partial_freezing``: freezing part of a tensor, by a mask or by a gradient hook.
- ``memory``: the bytes autograd saves for backward, counted.
- ``checkpoints``: state_dict diffs, prefixes, loading a unidirectional into a
  bidirectional model, checkpoints with the optimizer.
- ``data``: small synthetic sequence tasks generated in code.
- ``corpus``: real English text from the standard library's help texts, for restoring spaces.
- ``delayed``: a unidirectional tagger that answers ``d`` steps late, and look-ahead ceilings.
- ``varlen``: GRU, delayed GRU and BiGRU taggers for padded batches of different lengths
  (what packing computes), and their training loop with a per-epoch held-out score.
- ``training``: a small deterministic training loop.
- ``plotting``: diagrams of unrolled (Bi)RNNs and training/gradient plots.
- ``fast``: a fast bidirectional GRU with a hand-written backward pass.
- ``fast_ext``: the optional compiled layer for ``fast`` (a C++ extension, built on request).
- ``ablation``: ``fast`` with one idea removed at a time, for chapter 8 and ``make bench``.
- ``benchmarking``: interleaved timing, profiles and FLOP counts for chapter 8 and
  ``make bench``.
"""

__version__ = "0.1.0"
