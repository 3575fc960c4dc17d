"""Training a recurrent model on a long stream: batching, state carrying, truncated BPTT.

A corpus too long for one backward pass is cut into ``B`` contiguous segments, one per
column, and read in chunks of ``tau`` steps (rows). Column ``i`` of chunk ``k + 1``
continues column ``i`` of chunk ``k``, so the state that ends one chunk is the right state
to begin the next: it is *carried*, and *detached*, so that each chunk has its own graph and
its own ``backward()`` (truncated BPTT). Shapes are time-major, as in the book: a stream is
``(S, B)`` token ids, a chunk ``(tau, B)``, a model's logits ``(tau, B, V)``, a state
``(L·D, B, H)`` (a pair for an LSTM).

- :func:`stream_batches`: a 1-D corpus ``(N,)`` -> ``(N // B, B)``, one segment per column.
- :func:`delayed_labels`: the "delayed echo" task, label ``y_t = x_{t - d}``.
- :func:`detach_state`: cut the graph behind a state (a Tensor, or an LSTM's ``(h, c)``).
- :func:`clipped_step`: ``zero_grad``, ``backward``, clip the gradient norm, ``step``.
- :func:`tbptt_epoch`: one pass over a stream in chunks, one ``backward()`` per chunk.
- :func:`stream_accuracy`: accuracy on a stream by position inside the chunk.
- :class:`LearnedInitialState` and :class:`StreamTagger`: a recurrent tagger whose initial
  state is zeros, learned (an ``nn.Parameter``) or drawn at random for every batch.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from birnn_utils.data import IGNORE_INDEX
from birnn_utils.validation import (
    check_bool,
    check_choice,
    check_device,
    check_elements,
    check_float,
    check_int,
    check_like,
    check_module,
    check_tensor,
    describe,
)

__all__ = [
    "stream_batches",
    "delayed_labels",
    "detach_state",
    "clipped_step",
    "LearnedInitialState",
    "StreamTagger",
    "EpochResult",
    "tbptt_epoch",
    "stream_accuracy",
]

_CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
_GATES = {"rnn": 1, "gru": 3, "lstm": 4}
_INT64 = torch.iinfo(torch.int64)
INITIAL_STATES = ("zeros", "learned", "random")


def stream_batches(tokens: Tensor, batch_size: int) -> Tensor:
    """Cut a corpus ``(N,)`` into ``batch_size`` contiguous segments, time-major ``(N // B, B)``.

    Column ``i`` is ``tokens[i * S:(i + 1) * S]`` with ``S = N // B``; the last ``N % B``
    tokens are dropped. Reading the result in chunks of rows, column ``i`` of one chunk
    continues column ``i`` of the chunk before, which is what makes carrying a state valid.
    """
    check_tensor("tokens", tokens, dim=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if tokens.shape[0] < batch_size:
        raise ValueError(f"tokens must have at least batch_size={batch_size} entries, "
                         f"got {describe(tokens)}")
    steps = tokens.shape[0] // batch_size
    return tokens[: steps * batch_size].view(batch_size, steps).T.contiguous()  # (S, B)


def delayed_labels(tokens: Tensor, delay: int, fill: int = IGNORE_INDEX) -> Tensor:
    """Labels of the delayed echo: ``y[t] = tokens[t - delay]`` along dim 0 (time).

    ``tokens`` ``(T, B)`` int64; the first ``delay`` steps have nothing ``delay`` steps
    back and get ``fill`` (no label by default, or e.g. an extra "blank" class).
    """
    check_tensor("tokens", tokens, dim=2, dtype=torch.int64)
    delay = check_int("delay", delay, minimum=0)
    fill = check_int("fill", fill, minimum=_INT64.min, maximum=_INT64.max)  # an int64 label
    if delay >= tokens.shape[0]:
        raise ValueError(f"delay must be < the number of steps {tokens.shape[0]}, got {delay}")
    labels = torch.full_like(tokens, fill)  # (T, B)
    labels[delay:] = tokens[: tokens.shape[0] - delay]
    return labels


def _check_state(name: str, state: object) -> None:
    if isinstance(state, tuple):
        if len(state) != 2 or not all(isinstance(s, Tensor) for s in state):
            raise TypeError(f"{name} must be a Tensor or a pair of Tensors (h, c), "
                            f"got {describe(state)}")
    elif not isinstance(state, Tensor):
        raise TypeError(f"{name} must be a Tensor or a pair of Tensors (h, c), "
                        f"got {describe(state)}")


def detach_state(state: Tensor | tuple[Tensor, Tensor]) -> Tensor | tuple[Tensor, Tensor]:
    """The same values with no graph behind them; an LSTM's ``(h, c)`` both detached."""
    _check_state("state", state)
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def clipped_step(loss: Tensor, optimizer: torch.optim.Optimizer, max_norm: float) -> float:
    """One update: gradients of ``loss``, clipped to norm ``max_norm``, then a step.

    Returns the gradient norm *before* clipping (what ``clip_grad_norm_`` returns). The
    clip sits after ``backward()`` (there is no gradient before it) and before ``step()``
    (which would use the unclipped one). The norm is over all the optimizer's parameters.
    """
    check_tensor("loss", loss, floating=True)
    if loss.numel() != 1 or not loss.requires_grad:
        raise ValueError(f"loss must be a scalar that requires grad, got {describe(loss)} "
                         f"with requires_grad={loss.requires_grad}")
    check_module("optimizer", optimizer, torch.optim.Optimizer)
    max_norm = check_float("max_norm", max_norm, minimum=0, min_inclusive=False)
    _check_finite_loss(loss)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    optimizer.zero_grad()
    loss.backward()
    norm = nn.utils.clip_grad_norm_(params, max_norm)  # the norm before clipping
    optimizer.step()
    return norm.item()


def _check_finite_loss(loss: Tensor) -> None:
    """A NaN or infinite loss is refused before any gradient is zeroed or step taken, with
    the FloatingPointError that ``training.fit`` raises in the same case."""
    if loss.device.type == "meta":
        raise ValueError(f"loss must hold a value, got {describe(loss)} on the meta device")
    value = loss.detach().item()
    if not math.isfinite(value):
        raise FloatingPointError(
            f"clipped_step: the loss is {value}, before its step; nothing was changed (the "
            f"parameters hold the last finite state; try a smaller lr or max_norm)"
        )


class LearnedInitialState(nn.Module):
    """A trained initial state for ``rnn``: one ``nn.Parameter`` row, expanded to the batch.

    ``forward(batch_size)`` returns ``h0`` ``(L·D, B, H)``, or ``(h0, c0)`` for an LSTM
    (``h0`` has ``proj_size`` features when the LSTM projects). Starts at zeros.
    """

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        check_module("rnn", rnn, tuple(_CELLS.values()))
        layers = rnn.num_layers * (2 if rnn.bidirectional else 1)
        h_size = rnn.proj_size if getattr(rnn, "proj_size", 0) else rnn.hidden_size
        like = rnn.weight_hh_l0  # h0 and c0 get its dtype and device
        self.h0 = nn.Parameter(like.new_zeros(layers, 1, h_size))
        self.c0 = (nn.Parameter(like.new_zeros(layers, 1, rnn.hidden_size))
                   if isinstance(rnn, nn.LSTM) else None)

    def forward(self, batch_size: int) -> Tensor | tuple[Tensor, Tensor]:
        batch_size = check_int("batch_size", batch_size, minimum=1)
        h0 = self.h0.expand(-1, batch_size, -1)  # (L·D, B, H): one row, shared by the batch
        return h0 if self.c0 is None else (h0, self.c0.expand(-1, batch_size, -1))


class StreamTagger(nn.Module):
    """Tokens in, logits out, the state passed in and out: ``(tau, B) -> (tau, B, V)``.

    A one-hot input of ``vocab`` features, a time-major ``cell`` (``"rnn"``, ``"gru"`` or
    ``"lstm"``) of ``hidden_size`` and a linear head ``y_hat_t = W_hy h_t + b_y`` with
    ``num_classes`` outputs. ``forward(tokens, state=None)`` returns ``(logits, state)``.
    With ``state=None`` the model starts from its ``initial_state``: ``"zeros"`` (what
    PyTorch does without ``h0``), ``"learned"`` (a :class:`LearnedInitialState`) or
    ``"random"`` (a fresh standard-normal draw at every call, from ``torch``'s global RNG).
    """

    def __init__(self, vocab: int, hidden_size: int, num_classes: int, *, cell: str = "rnn",
                 initial_state: str = "zeros", dtype: torch.dtype = torch.float32):
        super().__init__()
        self.vocab = check_int("vocab", vocab, minimum=2)
        hidden_size = check_int("hidden_size", hidden_size, minimum=1)
        num_classes = check_int("num_classes", num_classes, minimum=2)
        check_choice("cell", cell, list(_CELLS))
        self.initial_state = check_choice("initial_state", initial_state, INITIAL_STATES)
        if not isinstance(dtype, torch.dtype) or dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {describe(dtype)}")
        check_elements("StreamTagger's parameters",
                       _GATES[cell] * hidden_size * (self.vocab + hidden_size + 2)
                       + num_classes * (hidden_size + 1),
                       f"vocab={self.vocab}, hidden_size={hidden_size}, "
                       f"num_classes={num_classes}")
        self.rnn = _CELLS[cell](self.vocab, hidden_size, dtype=dtype)
        self.head = nn.Linear(hidden_size, num_classes, dtype=dtype)
        self.h0 = LearnedInitialState(self.rnn) if initial_state == "learned" else None

    def start_state(self, batch_size: int) -> Tensor | tuple[Tensor, Tensor] | None:
        """The state a batch starts from when none is carried in (None means zeros)."""
        batch_size = check_int("batch_size", batch_size, minimum=1)
        check_elements("the initial state", batch_size * self.rnn.hidden_size,
                       f"batch_size={batch_size}, hidden_size={self.rnn.hidden_size}")
        if self.initial_state == "learned":
            return self.h0(batch_size)
        if self.initial_state == "random":
            like = self.rnn.weight_hh_l0
            h = torch.randn(1, batch_size, self.rnn.hidden_size, dtype=like.dtype,
                            device=like.device)
            return (h, torch.randn_like(h)) if isinstance(self.rnn, nn.LSTM) else h
        return None

    def forward(self, tokens: Tensor, state: Tensor | tuple[Tensor, Tensor] | None = None):
        check_tensor("tokens", tokens, dim=2, dtype=torch.int64)
        weight = self.head.weight
        check_device("tokens", tokens, "the model's parameters", weight)
        check_elements("the one-hot input", tokens.numel() * self.vocab,
                       f"tokens of shape {tuple(tokens.shape)}, vocab={self.vocab}")
        if state is not None:
            self._check_state_type(state)
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab):
            raise ValueError(f"tokens must lie in [0, {self.vocab}), got values in "
                             f"[{tokens.min().item()}, {tokens.max().item()}]")
        if state is None:
            state = self.start_state(tokens.shape[1])
        else:
            _check_state("state", state)
        x = F.one_hot(tokens, self.vocab).to(self.head.weight.dtype)  # (tau, B, V)
        features, state = self.rnn(x, state)  # (tau, B, H), state (1, B, H)
        return self.head(features), state  # (tau, B, C)

    def _check_state_type(self, state: object) -> None:
        """A carried state: a Tensor (a pair for an LSTM) with the model's dtype and device.
        Its shape is left to the module, whose RuntimeError chapter 1 shows."""
        _check_state("state", state)
        lstm = isinstance(self.rnn, nn.LSTM)
        if isinstance(state, tuple) != lstm:
            want = "a pair of Tensors (h, c)" if lstm else "a Tensor h (a GRU/RNN has no c)"
            raise TypeError(f"state must be {want} for cell={type(self.rnn).__name__}, "
                            f"got {describe(state)}")
        for part in state if lstm else (state,):
            check_like("state", part, "the model's parameters", self.head.weight)


class EpochResult(NamedTuple):
    """Per chunk: the mean loss and the gradient norm before clipping."""

    losses: list[float]
    grad_norms: list[float]


def _check_stream(model: object, tokens: object, labels: object, chunk: object) -> int:
    """Every argument and all the data, before the first chunk is read: a bad token or
    label in the last chunk must not leave the earlier chunks trained."""
    check_module("model", model)
    check_tensor("tokens", tokens, dim=2, dtype=torch.int64)
    check_tensor("labels", labels, dim=2, dtype=torch.int64)
    if labels.shape != tokens.shape:
        raise ValueError(f"labels must have the shape of tokens {tuple(tokens.shape)}, "
                         f"got {describe(labels)}")
    chunk = check_int("chunk", chunk, minimum=1)
    for name, value in (("tokens", tokens), ("labels", labels)):
        if value.device.type == "meta":
            raise ValueError(f"{name} must hold values, got {describe(value)} on the meta "
                             f"device")
        param = next(model.parameters(), None)
        if param is not None:
            check_device(name, value, "the model's parameters", param)
    bad = labels[(labels < 0) & (labels != IGNORE_INDEX)]
    if bad.numel():
        raise ValueError(f"labels must be class indices >= 0, or {IGNORE_INDEX} for no "
                         f"label, got {int(bad[0])}")
    if isinstance(model, StreamTagger):  # its vocabulary and classes are known
        vocab, classes = model.vocab, model.head.out_features
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= vocab):
            raise ValueError(f"tokens must lie in [0, {vocab}) for the model's vocab, got "
                             f"values in [{int(tokens.min())}, {int(tokens.max())}]")
    else:  # another model: one dry run over every chunk, without gradients, says it all
        classes = _dry_run(model, tokens, chunk)
    if classes is not None and labels.numel() and int(labels.max()) >= classes:
        raise ValueError(f"labels must be < {classes}, the model's number of classes (or "
                         f"{IGNORE_INDEX}), got {int(labels.max())}")
    return chunk


def _dry_run(model: nn.Module, tokens: Tensor, chunk: int) -> int | None:
    """Run ``model`` over every chunk of ``tokens`` in eval mode, without gradients, with
    the global RNG and every mode restored; return its number of classes. A chunk it
    cannot run is a ValueError naming ``tokens``."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    state = logits = None
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for start in range(0, tokens.shape[0], chunk):
                logits, state = model(tokens[start:start + chunk], state)
    except (TypeError, ValueError, RuntimeError, IndexError) as error:
        first = str(error).splitlines()[0] if str(error) else ""
        raise ValueError(f"tokens: the model cannot run on the chunk at step {start}: "
                         f"{type(error).__name__}: {first}") from error
    finally:
        for module, training in modes:
            module.training = training
    return None if logits is None else logits.shape[-1]


def tbptt_epoch(model: nn.Module, tokens: Tensor, labels: Tensor, *, chunk: int,
                optimizer: torch.optim.Optimizer, max_norm: float,
                carry: bool = True) -> EpochResult:
    """One pass over a stream ``(S, B)`` in chunks of ``chunk`` steps (truncated BPTT).

    Each chunk gets its own forward, loss (cross-entropy over labelled steps) and
    :func:`clipped_step` (a chunk without any label only moves the state on). With
    ``carry=True`` the state that ends a chunk starts the next one, detached: the forward
    pass sees the whole stream, the gradient only its chunk. With ``carry=False`` every
    chunk starts from the model's initial state. The model is left in train mode.
    """
    chunk = _check_stream(model, tokens, labels, chunk)
    check_module("optimizer", optimizer, torch.optim.Optimizer)
    max_norm = check_float("max_norm", max_norm, minimum=0, min_inclusive=False)
    check_bool("carry", carry)
    model.train()
    state, losses, norms = None, [], []
    for start in range(0, tokens.shape[0], chunk):
        x, y = tokens[start:start + chunk], labels[start:start + chunk]  # (tau, B)
        logits, state = model(x, state)  # (tau, B, V); state (1, B, H) or (h, c)
        if (y != IGNORE_INDEX).any():  # else nothing to learn (the loss would be NaN)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(),
                                   ignore_index=IGNORE_INDEX)
            norms.append(clipped_step(loss, optimizer, max_norm))  # one backward per chunk
            losses.append(loss.item())
        state = detach_state(state) if carry else None  # keep the values, cut the graph
    return EpochResult(losses, norms)


@torch.no_grad()
def stream_accuracy(model: nn.Module, tokens: Tensor, labels: Tensor, *, chunk: int,
                    carry: bool = True) -> Tensor:
    """Accuracy on a stream ``(S, B)`` read in chunks, by position inside the chunk.

    Returns ``(chunk,)`` float64: entry ``j`` is the accuracy over the labelled steps that
    are the ``j``-th step of their chunk (NaN where there is none). The model runs in eval
    mode from its initial state; ``carry`` as in :func:`tbptt_epoch`. Its mode is restored.
    """
    chunk = _check_stream(model, tokens, labels, chunk)
    check_bool("carry", carry)
    was_training = model.training
    model.eval()
    correct = torch.zeros(chunk, dtype=torch.float64)
    total = torch.zeros(chunk, dtype=torch.float64)
    state = None
    try:
        for start in range(0, tokens.shape[0], chunk):
            x, y = tokens[start:start + chunk], labels[start:start + chunk]  # (tau, B)
            logits, state = model(x, state if carry else None)
            labelled = y != IGNORE_INDEX  # (tau, B)
            hits = (logits.argmax(-1) == y) & labelled
            correct[: len(y)] += hits.sum(1).double()
            total[: len(y)] += labelled.sum(1).double()
    finally:
        model.train(was_training)
    return correct / total
