"""Long-range memory tasks: the answer depends on a token many steps back.

:func:`recall_first_token`: the first token of each sequence is one of ``V`` *signal*
symbols; every later token is one of ``noise`` other symbols that carry no information. The
label at step ``t`` (0-based) is the first token, for every ``t >= min_lag``; earlier steps
are unlabelled (``-100``). A model answers at step ``t`` only if it has kept the first token
for ``t`` steps. With ``min_lag = seq_len - 1`` only the last step is labelled, the test of
the longest memory. Chance accuracy is ``1 / V``.

Randomness comes from a local ``torch.Generator`` seeded with ``seed``: the global RNG is
neither used nor changed.
"""

import torch
import torch.nn.functional as F

from birnn_utils.data import IGNORE_INDEX, SequenceTask
from birnn_utils.validation import check_elements, check_int, check_seed

__all__ = ["recall_first_token"]


def recall_first_token(n: int, seq_len: int, vocab: int = 4, noise: int = 4,
                       min_lag: int = 1, seed: int = 0) -> SequenceTask:
    """``n`` sequences of ``seq_len`` tokens; label = the first token, from step ``min_lag`` on.

    ``tokens[:, 0]`` is uniform in ``[0, vocab)`` (the signal), ``tokens[:, 1:]`` uniform in
    ``[vocab, vocab + noise)`` (distractors). ``x``: (N, T, vocab + noise) float32 one-hot;
    ``y``: (N, T) int64 with ``y[:, t] = tokens[:, 0]`` for ``t >= min_lag`` and ``-100``
    before; ``V = vocab`` classes. Needs ``1 <= min_lag <= seq_len - 1``.
    """
    n = check_int("n", n, minimum=1)
    seq_len = check_int("seq_len", seq_len, minimum=2)
    vocab = check_int("vocab", vocab, minimum=2)
    noise = check_int("noise", noise, minimum=1)
    min_lag = check_int("min_lag", min_lag, minimum=1, maximum=seq_len - 1)
    seed = check_seed("seed", seed)
    features = vocab + noise
    check_elements("the one-hot x", n * seq_len * features,
                   f"n * seq_len * (vocab + noise) with n={n}, seq_len={seq_len}, "
                   f"vocab={vocab}, noise={noise}")
    generator = torch.Generator().manual_seed(seed)
    first = torch.randint(vocab, (n, 1), generator=generator)  # (N, 1) the signal
    rest = vocab + torch.randint(noise, (n, seq_len - 1), generator=generator)  # (N, T - 1)
    tokens = torch.cat([first, rest], dim=1)  # (N, T)
    y = torch.full_like(tokens, IGNORE_INDEX)
    y[:, min_lag:] = first  # broadcast over the labelled steps
    return SequenceTask(F.one_hot(tokens, features).float(), y, tokens)
