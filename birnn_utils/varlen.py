"""Tagging sequences of different lengths: a padded batch, its lengths, a masked loss.

A batch of sequences of different lengths is stored padded, batch-first: token ids
``tokens`` (N, T) with ``T`` the longest length, ``lengths`` (N,) the true lengths, labels
``y`` (N, T) with ``-100`` (``IGNORE_INDEX``) after each sequence's end, so that the
cross-entropy (``ignore_index=-100``) and every score skip the padding. Chapter 3 showed
what padding does to a BiGRU: the forward direction is unaffected (the padding comes
after the steps it labels), the backward direction starts in the padding. Packing
(``pack_padded_sequence``) is the cure; :func:`packed_logits` computes a tagger's logits
that way.

:class:`VarLenTagger` computes the same logits without a ``PackedSequence``: its forward
GRU runs over the padded batch with every step after a sequence's end set to zero (the
``d`` zero frames of a delay ``d`` are then each sequence's own), and its backward GRU
reads each sequence flipped within its own length (:func:`reverse_padded`), so it starts
at the sequence's last real step. The test suite checks both against
:func:`packed_logits` and against running each sequence alone. The reason for the detour
is speed on a CPU: ``nn.GRU``'s backward pass through a ``PackedSequence`` cuts its
input projection into one slice per step and gives each slice a gradient the size of the
whole batch, so its time grows with steps x characters (:func:`fit` would be several
times slower on the book's pieces of text).

- :func:`check_lengths`: lengths (N,) int64 in ``[1, T]``, refused with a clear error.
- :func:`reverse_padded`: flip each sequence within its length, the padding stays put.
- :class:`VarLenTagger`: a GRU, a delayed GRU or a BiGRU tagger on token ids and lengths.
- :func:`packed_logits`: the same logits through ``nn.GRU`` and ``pack_padded_sequence``.
- :func:`predict`: labels (N, T) in eval mode, without gradients.
- :func:`fit`: Adam on the masked cross-entropy, in mini-batches of similar lengths,
  scoring held-out data after every epoch; :class:`History` holds the curves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from birnn_utils.data import IGNORE_INDEX
from birnn_utils.validation import (
    check_bool,
    check_callable,
    check_choice,
    check_float,
    check_int,
    check_module,
    check_seed,
    check_str,
    check_tensor,
    describe,
)

__all__ = [
    "check_lengths",
    "reverse_padded",
    "VarLenTagger",
    "packed_logits",
    "predict",
    "History",
    "fit",
    "SCHEDULES",
    "DECAY_START",
]

SCHEDULES = ("constant", "decay")
"""Learning-rate schedules of :func:`fit`: ``"constant"`` keeps ``lr``; ``"decay"`` keeps it
for the first :data:`DECAY_START` of the updates, then lowers it along a straight line to
0 at the last update (large steps while the loss falls fast, small ones to settle)."""
DECAY_START = 0.6


def check_lengths(lengths: object, steps: int, n: int, name: str = "lengths") -> Tensor:
    """``lengths`` must be a (n,) int64 tensor on the CPU with values in ``[1, steps]``;
    the errors call it ``name``. Returns it."""
    name = check_str("name", name)
    steps = check_int("steps", steps, minimum=1)
    n = check_int("n", n, minimum=0)
    lengths = check_tensor(name, lengths, dim=1, dtype=torch.int64, device="cpu")
    if lengths.shape[0] != n:
        raise ValueError(f"{name} must hold one length per sequence ({n}), got "
                         f"{describe(lengths)}")
    if n and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
        raise ValueError(f"{name} must be in [1, {steps}] (the padded length), got min "
                         f"{int(lengths.min())} and max {int(lengths.max())}")
    return lengths


def _check_tokens(tokens: object, vocab: int | None = None, name: str = "tokens") -> Tensor:
    tokens = check_tensor(name, tokens, dim=2, dtype=torch.int64, device="cpu")
    if tokens.numel() == 0:
        raise ValueError(f"{name} must hold at least one sequence of one step, got "
                         f"{describe(tokens)}")
    if vocab is not None and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab):
        raise ValueError(f"{name} must be token ids in [0, {vocab}), got min "
                         f"{int(tokens.min())} and max {int(tokens.max())}")
    return tokens


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Each sequence of the batch-first ``x`` (N, T) or (N, T, F) flipped within its length.

    Row ``n`` becomes ``x[n, L-1], ..., x[n, 0], x[n, L], ..., x[n, T-1]`` with
    ``L = lengths[n]``: the real steps reversed, the padding where it was. Applying it
    twice gives ``x`` back. A new tensor; differentiable.
    """
    check_tensor("x", x, dim=(2, 3))
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must hold at least one sequence of one step, got {describe(x)}")
    lengths = check_lengths(lengths, x.shape[1], x.shape[0])
    steps = torch.arange(x.shape[1])  # (T,)
    inside = steps < lengths[:, None]  # (N, T)
    index = torch.where(inside, lengths[:, None] - 1 - steps, steps).to(x.device)  # (N, T)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand(x.shape)
    return x.gather(1, index)


class VarLenTagger(nn.Module):
    """A GRU tagger for padded batches of token ids of different lengths.

    ``forward(tokens, lengths)``: tokens (N, T) int64 in ``[0, vocab)`` (anything after
    each end), lengths (N,) int64 -> logits (N, T, C). Logits after a sequence's end are
    not meaningful (give them the label ``-100``). The tokens are read one-hot, as
    :class:`birnn_utils.training.SequenceTagger` reads ``x``.

    - ``delay=0``, ``bidirectional=False``: a forward GRU; logit t has read tokens
      ``0..t`` of its own sequence.
    - ``delay=d``: a delayed GRU (``birnn_utils.delayed.DelayedTagger``): the GRU reads
      ``d`` zero frames after each sequence's *own* end, and logit t is read after step
      ``t + d``, so it has read tokens ``0..min(t + d, L - 1)``.
    - ``bidirectional=True``: a BiGRU; the backward GRU ``.rnn_reverse`` reads each
      sequence from its own last step, as packing would make ``nn.GRU`` do.

    ``.rnn`` (and ``.rnn_reverse``) are batch-first unidirectional ``nn.GRU``: together
    they have exactly the parameters of one ``nn.GRU(bidirectional=True)``.
    """

    def __init__(self, vocab: int, hidden_size: int, num_classes: int, *,
                 bidirectional: bool = False, delay: int = 0):
        vocab = check_int("vocab", vocab, minimum=1, maximum=10**5)
        hidden_size = check_int("hidden_size", hidden_size, minimum=1, maximum=10**4)
        num_classes = check_int("num_classes", num_classes, minimum=1, maximum=10**5)
        bidirectional = check_bool("bidirectional", bidirectional)
        delay = check_int("delay", delay, minimum=0, maximum=10**4)
        if bidirectional and delay:
            raise ValueError(f"delay must be 0 for a bidirectional tagger (it reads the whole "
                             f"sequence already), got delay={delay}")
        super().__init__()
        self.vocab, self.delay = vocab, delay
        self.rnn = nn.GRU(vocab, hidden_size, batch_first=True)
        self.rnn_reverse = nn.GRU(vocab, hidden_size, batch_first=True) if bidirectional \
            else None
        self.head = nn.Linear((2 if bidirectional else 1) * hidden_size, num_classes)

    @property
    def bidirectional(self) -> bool:
        return self.rnn_reverse is not None

    def inputs(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """(N, T + delay, vocab) one-hot of ``tokens`` in the model's dtype, zero at every
        step from each sequence's end on (the delay's zero frames included)."""
        tokens = _check_tokens(tokens, self.vocab)
        lengths = check_lengths(lengths, tokens.shape[1], tokens.shape[0])
        weight = self.head.weight
        n, steps = tokens.shape
        x = F.one_hot(tokens, self.vocab).to(weight.dtype)  # (N, T, V)
        x = F.pad(x, (0, 0, 0, self.delay))  # (N, T + d, V): d more steps
        inside = torch.arange(steps + self.delay) < lengths[:, None]  # (N, T + d)
        return (x * inside[..., None]).to(weight.device)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        x = self.inputs(tokens, lengths)  # (N, T + d, V), 0 from each end on
        steps, d = tokens.shape[1], self.delay
        states, _ = self.rnn(x)  # (N, T + d, H)
        features = states[:, d : d + steps]  # (N, T, H): t read after t + d
        if self.rnn_reverse is not None:  # read each piece from its own end
            back, _ = self.rnn_reverse(reverse_padded(x, lengths))
            back = reverse_padded(back, lengths)  # (N, T, H), back in order
            features = torch.cat([features, back], dim=-1)  # (N, T, 2H)
        return self.head(features)  # (N, T, C)


def packed_logits(model: VarLenTagger, tokens: Tensor, lengths: Tensor) -> Tensor:
    """``model``'s logits (N, T, C) computed the way of chapter 3: one ``nn.GRU`` (with
    ``bidirectional=True`` for a BiGRU) holding the model's weights, run on
    ``pack_padded_sequence(x, lengths + delay)``. Equal to ``model(tokens, lengths)`` at
    every step before each end, up to rounding; differentiable, but its backward pass is
    slow on a CPU (see the module's docstring)."""
    check_module("model", model, VarLenTagger)
    x = model.inputs(tokens, lengths)  # (N, T + d, V)
    steps, d = tokens.shape[1], model.delay
    gru = nn.GRU(model.rnn.input_size, model.rnn.hidden_size, batch_first=True,
                 bidirectional=model.bidirectional, device="meta")
    weights = dict(model.rnn.named_parameters())
    if model.rnn_reverse is not None:
        weights |= {f"{name}_reverse": value
                    for name, value in model.rnn_reverse.named_parameters()}
    gru.load_state_dict(weights, assign=True)  # the model's own tensors, no copy
    packed = pack_padded_sequence(x, lengths + d, batch_first=True, enforce_sorted=False)
    output, _ = gru(packed)
    output, _ = pad_packed_sequence(output, batch_first=True, total_length=steps + d)
    return model.head(output[:, d : d + steps])  # (N, T, C)


def _modes(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    return [(m, m.training) for m in model.modules()]


def _restore(modes: list[tuple[nn.Module, bool]]) -> None:
    for module, training in modes:
        module.training = training


def predict(model: VarLenTagger, tokens: Tensor, lengths: Tensor) -> Tensor:
    """``argmax`` labels (N, T) int64 of ``model`` in eval mode, without gradients (the
    train/eval mode of every submodule is restored). Steps after each end hold
    ``-100``."""
    check_module("model", model, VarLenTagger)
    tokens = _check_tokens(tokens, model.vocab)
    lengths = check_lengths(lengths, tokens.shape[1], tokens.shape[0])
    modes = _modes(model)
    model.eval()
    try:
        with torch.no_grad():
            labels = model(tokens, lengths).argmax(-1).cpu()  # (N, T)
    finally:
        _restore(modes)
    labels[torch.arange(tokens.shape[1]) >= lengths[:, None]] = IGNORE_INDEX
    return labels


def _accuracy(prediction: Tensor, y: Tensor) -> float:
    labelled = y != IGNORE_INDEX
    return (prediction[labelled] == y[labelled]).double().mean().item()


@dataclass
class History:
    """Per-epoch curves of :func:`fit`: the mean training ``loss`` over labelled steps,
    and ``eval_score`` on the held-out data after the epoch (empty without it)."""

    loss: list[float] = field(default_factory=list)
    eval_score: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("loss", "eval_score"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(
                isinstance(v, Real) and not isinstance(v, bool) for v in value
            ):
                raise TypeError(f"History: {name} must be a list of numbers, got "
                                f"{describe(value)}")


def _check_data(model: VarLenTagger, data: object, where: str, names: tuple[str, str, str]
                ) -> tuple[Tensor, Tensor, Tensor]:
    tokens, lengths, y = data
    tokens = _check_tokens(tokens, model.vocab, names[0])
    lengths = check_lengths(lengths, tokens.shape[1], tokens.shape[0], names[1])
    y = check_tensor(names[2], y, dtype=torch.int64, device="cpu")
    if y.shape != tokens.shape:
        raise ValueError(f"{where}: {names[2]} must have the shape of {names[0]} "
                         f"{tuple(tokens.shape)}, got {describe(y)}")
    classes = model.head.out_features
    bad = y[((y < 0) & (y != IGNORE_INDEX)) | (y >= classes)]
    if bad.numel():
        raise ValueError(f"{where}: {names[2]} must hold class indices in [0, {classes - 1}] "
                         f"or {IGNORE_INDEX}, got {int(bad[0])}")
    outside = torch.arange(tokens.shape[1]) >= lengths[:, None]
    if (y[outside] != IGNORE_INDEX).any():
        raise ValueError(f"{where}: {names[2]} must be {IGNORE_INDEX} after each sequence's "
                         f"end (a label there would train on padding)")
    if not (y != IGNORE_INDEX).any():
        raise ValueError(f"{where}: {names[2]} has no labelled step (every label is "
                         f"{IGNORE_INDEX})")
    return tokens, lengths, y


def _decayed(lr: float, update: int, updates: int) -> float:
    """The ``"decay"`` schedule's learning rate at update ``update`` (0-based) of
    ``updates``."""
    start = DECAY_START * updates
    if update < start:
        return lr
    return lr * (updates - update) / (updates - start)


def _batches(lengths: Tensor, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """Indices of mini-batches of similar lengths: sorted by length (ties in random
    order), cut into batches of ``batch_size``, the batches in random order."""
    shuffled = torch.randperm(len(lengths), generator=generator)
    order = shuffled[torch.argsort(lengths[shuffled], stable=True)]
    batches = list(order.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def fit(model: VarLenTagger, tokens: Tensor, lengths: Tensor, y: Tensor, *, epochs: int,
        lr: float = 1e-2, batch_size: int = 32, seed: int = 0,
        eval_data: tuple[Tensor, Tensor, Tensor] | None = None,
        score: Callable[[Tensor, Tensor], float] | None = None,
        schedule: str = "constant", progress: bool = False) -> History:
    """Train ``model`` with Adam(``lr``) on the cross-entropy of the labelled steps.

    ``tokens``, ``y`` (N, T) int64 and ``lengths`` (N,) as for :class:`VarLenTagger`;
    ``y`` must be ``-100`` after each end. Mini-batches hold sequences of similar lengths
    (few padded steps to compute), each cut to its longest sequence; their membership and
    order come from a local generator seeded with ``seed`` (the global RNG is not
    touched). ``schedule="decay"`` keeps ``lr`` for the first 60 % of the updates, then
    lowers it linearly to 0 (:data:`SCHEDULES`). ``eval_data = (tokens, lengths, y)`` is
    scored after every epoch with ``score(prediction, y)`` on :func:`predict`'s labels
    (default: the accuracy over labelled steps). Returns a :class:`History`.

    Like ``birnn_utils.training.fit``: every argument is checked before the first step;
    the train/eval modes are restored, also after an error; a NaN or infinite loss or
    gradient stops it with a ``FloatingPointError`` before that step is taken.
    ``progress=True`` prints one line per epoch.
    """
    check_module("model", model, VarLenTagger)
    tokens, lengths, y = _check_data(model, (tokens, lengths, y), "fit",
                                     ("tokens", "lengths", "y"))
    epochs = check_int("epochs", epochs, minimum=1, maximum=10**6)
    lr = check_float("lr", lr, minimum=0, maximum=1e3, min_inclusive=False)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed = check_seed("seed", seed)
    check_choice("schedule", schedule, SCHEDULES)
    check_bool("progress", progress)
    if eval_data is not None:
        if not isinstance(eval_data, tuple | list) or len(eval_data) != 3:
            raise TypeError(f"fit: eval_data must be a triple (tokens, lengths, y), got "
                            f"{describe(eval_data)}")
        eval_data = _check_data(model, eval_data, "fit",
                                ("eval_data[0]", "eval_data[1]", "eval_data[2]"))
    if score is not None:
        check_callable("score", score)
    score = score or _accuracy
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("fit: the model has no trainable parameter")

    optimizer = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = History()
    modes = _modes(model)
    updates = epochs * -(-len(lengths) // batch_size)
    update = 0
    try:
        for epoch in range(epochs):
            model.train()
            loss_sum, labelled_total = 0.0, 0
            for index in _batches(lengths, batch_size, generator):
                steps = int(lengths[index].max())
                batch_y = y[index, :steps]  # (b, T_b)
                labelled = int((batch_y != IGNORE_INDEX).sum())
                if labelled == 0:  # nothing to learn from; the loss would be NaN
                    update += 1
                    continue
                if schedule == "decay":
                    for group in optimizer.param_groups:
                        group["lr"] = _decayed(lr, update, updates)
                where = f"epoch {epoch + 1} of {epochs}, update {update + 1} of {updates}"
                logits = model(tokens[index, :steps], lengths[index])  # (b, T_b, C)
                loss = F.cross_entropy(logits.flatten(0, 1), batch_y.flatten(),
                                       ignore_index=IGNORE_INDEX)
                if not math.isfinite(loss.item()):
                    raise FloatingPointError(
                        f"fit: the loss became {loss.item()} at {where}, before its step; "
                        f"the parameters hold the last finite state (try a smaller lr)")
                optimizer.zero_grad()
                loss.backward()
                if not all(bool(torch.isfinite(p.grad).all()) for p in params
                           if p.grad is not None):
                    raise FloatingPointError(
                        f"fit: a gradient became NaN or infinite at {where}, before its "
                        f"step; the parameters hold the last finite state (try a smaller lr)")
                optimizer.step()
                loss_sum += loss.item() * labelled
                labelled_total += labelled
                update += 1
            history.loss.append(loss_sum / labelled_total)
            if eval_data is not None:
                history.eval_score.append(float(score(predict(model, *eval_data[:2]),
                                                      eval_data[2])))
            if progress:
                shown = f", eval {history.eval_score[-1]:.4f}" if eval_data is not None else ""
                print(f"epoch {epoch + 1}: loss {history.loss[-1]:.4f}{shown}")
    finally:
        _restore(modes)
    return history
