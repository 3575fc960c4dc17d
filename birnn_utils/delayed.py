"""A unidirectional tagger with a delayed output: it reads ``d`` steps ahead, then answers.

Before bidirectional networks, the way to give a forward RNN some future context was to
delay its output (Schuster and Paliwal 1997 compare against it): the answer for step t is
read off the state after step ``t + d``, which has seen ``x_1, ..., x_{t+d}``. A delay buys
exactly ``d`` steps of look-ahead, at the price of ``d`` steps of latency and of having to
carry the evidence about step t for ``d`` more steps.

:class:`DelayedTagger` appends ``d`` zero frames to the input, runs a forward GRU (or RNN,
LSTM) over the ``T + d`` steps and returns the head's logits at steps ``d, ..., T + d - 1``,
so that logit ``t`` is aligned with label ``t`` (shape (N, T, C), like
:class:`birnn_utils.training.SequenceTagger`, so ``training.fit`` and ``training.accuracy``
apply unchanged). With ``delay=0`` it is a plain forward tagger.

:func:`local_peak_ceiling` is the best accuracy that *any* model can reach on
:func:`birnn_utils.data.local_peak` when it has read only ``lookahead`` tokens past the
one it labels: the ceiling that a delay of ``d`` steps raises, and that only ``d >= radius``
removes.

:func:`next_symbol_ceiling` is the same bound on :func:`birnn_utils.data.next_symbol`, whose
label lies a random, unbounded distance ahead: every fixed delay leaves some steps blind,
fewer the longer it is, and only reading to the end of the sequence leaves none.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from birnn_utils.validation import (
    MAX_ELEMENTS,
    check_choice,
    check_elements,
    check_float,
    check_int,
    check_like,
    check_tensor,
)

__all__ = ["DelayedTagger", "local_peak_ceiling", "next_symbol_ceiling", "MAX_CEILING_VOCAB"]

_CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
_GATES = {"rnn": 1, "gru": 3, "lstm": 4}
MAX_CEILING_VOCAB = 10**6
"""The largest ``vocab`` of :func:`local_peak_ceiling`: its sum runs over every token value
in Python (about a second for 10**6); ``vocab=10**12`` would never return."""


class DelayedTagger(nn.Module):
    """Forward RNN tagger whose output for step t is read after step ``t + delay``.

    ``forward``: x (N, T, I) -> logits (N, T, C), where logits[:, t] depends on
    x[:, : t + delay + 1] only (steps past the end read as zeros). ``.rnn`` is a batch-first
    unidirectional ``nn.GRU`` (or ``nn.RNN``/``nn.LSTM``) and ``.head`` an ``nn.Linear(H, C)``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_classes: int, delay: int,
                 cell: str = "gru"):
        super().__init__()
        input_size = check_int("input_size", input_size, minimum=1)
        hidden_size = check_int("hidden_size", hidden_size, minimum=1)
        num_classes = check_int("num_classes", num_classes, minimum=1)
        self.delay = check_int("delay", delay, minimum=0, maximum=MAX_ELEMENTS)
        check_choice("cell", cell, sorted(_CELLS))
        check_elements("DelayedTagger's parameters",
                       _GATES[cell] * hidden_size * (input_size + hidden_size + 2)
                       + num_classes * (hidden_size + 1),
                       f"input_size={input_size}, hidden_size={hidden_size}, "
                       f"num_classes={num_classes}")
        self.rnn = _CELLS[cell](input_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, dim=3, floating=True)
        if x.shape[-1] != self.rnn.input_size:
            raise ValueError(f"x must have {self.rnn.input_size} features in "
                             f"its last dimension, got shape {tuple(x.shape)}")
        check_like("x", x, "the model's parameters", self.head.weight)
        n, steps, features = x.shape
        d = self.delay
        width = max(features, self.head.in_features)  # I or H per step
        check_elements("the states", n * (steps + d) * width,
                       f"x of shape {tuple(x.shape)}, delay={d}")
        tail = x.new_zeros(n, d, features)  # (N, d, I): "nothing more to read"
        states, _ = self.rnn(torch.cat([x, tail], dim=1))  # (N, T + d, H)
        return self.head(states[:, d : d + steps])  # (N, T, C)


def local_peak_ceiling(vocab: int, radius: int, lookahead: int) -> float:
    """Bayes-optimal accuracy on ``local_peak(vocab=vocab, radius=radius)`` for a predictor
    that sees the ``radius`` tokens before step t, the token at t and ``lookahead`` tokens
    after it (tokens i.i.d. uniform on ``[0, V)``).

    With ``k = min(lookahead, radius)`` seen right neighbours and ``m = radius - k`` unseen,
    given the centre ``c``: if a seen neighbour is ``>= c`` the answer is surely 0; else
    (probability ``(c/V)^(radius + k)``) it is a peak with probability ``q = (c/V)^m`` and
    the best guess is right with probability ``max(q, 1 - q)``. Averaged over ``c``. Equals
    1 for ``lookahead >= radius``.
    """
    vocab = check_int("vocab", vocab, minimum=2, maximum=MAX_CEILING_VOCAB)
    radius = check_int("radius", radius, minimum=1, maximum=MAX_ELEMENTS)
    lookahead = check_int("lookahead", lookahead, minimum=0)
    k = min(lookahead, radius)
    total = 0.0
    for c in range(vocab):
        below = c / vocab  # P(one neighbour < c)
        all_seen_below = below ** (radius + k)
        q = below ** (radius - k)
        total += (1 - all_seen_below) + all_seen_below * max(q, 1 - q)
    return total / vocab


def next_symbol_ceiling(symbols: int, blank_prob: float, seq_len: int,
                        lookahead: int) -> float:
    """Bayes-optimal accuracy on ``next_symbol(n, seq_len, symbols, blank_prob)`` (over its
    labelled steps, pooled as :func:`birnn_utils.training.accuracy` pools them) for a
    predictor that has read the sequence up to step ``t + lookahead`` (and knows t and the
    sequence length, which changes nothing below).

    Write ``K = symbols``, ``p = blank_prob``. A step t with ``L = seq_len - 1 - t`` steps
    after it is labelled with probability ``1 - p^L`` (a symbol follows somewhere), and the
    predictor reads ``m = min(lookahead, L)`` of those steps. If one of them holds a symbol,
    the first one is the label: right for sure. If all ``m`` are blank but a symbol follows
    later (probability ``p^m - p^L``), that symbol is uniform and independent of everything
    read, so the best guess is right with probability ``1/K``. Hence, summed over the steps
    (``L = 1, ..., seq_len - 1``; the last step is never labelled)::

        ceiling = 1 - (1 - 1/K) * sum_L (p^m - p^L) / sum_L (1 - p^L)

    This is ``1/K`` for ``lookahead = 0``, 1 once ``lookahead >= seq_len - 1``, and never
    below the long-sequence limit ``1 - (1 - 1/K) p^lookahead``, which it approaches as
    ``seq_len`` grows: near the end of a sequence, "labelled" tells that the symbol is near.
    """
    symbols = check_int("symbols", symbols, minimum=2)
    p = check_float("blank_prob", blank_prob, minimum=0.0, maximum=1.0, max_inclusive=False)
    seq_len = check_int("seq_len", seq_len, minimum=2)
    lookahead = check_int("lookahead", lookahead, minimum=0)
    labelled = blind = 0.0
    for after in range(1, seq_len):  # L: steps after t, for t = T - 2, ..., 0
        seen = min(lookahead, after)
        labelled += 1 - p**after  # P(a symbol follows t)
        blind += p**seen - p**after  # P(none read, but one follows)
    return 1 - (1 - 1 / symbols) * blind / labelled
