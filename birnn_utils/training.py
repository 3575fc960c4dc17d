"""A small sequence tagger and a deterministic training loop for the book's toy tasks.

Shapes: ``N`` sequences, ``T`` steps, ``V`` input features (one-hot vocabulary), ``C``
classes. Labels equal to ``-100`` are ignored by the loss and by :func:`accuracy`.

Bad input is refused before anything changes (see ``birnn_utils.validation``): :func:`fit`
checks every argument, then runs the model once in eval mode without gradients on one
sequence of ``x`` (and of ``eval_data``) to learn ``C`` and check the labels against it,
all before its first step.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from numbers import Real

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from birnn_utils.data import IGNORE_INDEX
from birnn_utils.validation import (
    MAX_ELEMENTS,
    check_bool,
    check_choice,
    check_elements,
    check_float,
    check_int,
    check_like,
    check_module,
    check_seed,
    check_tensor,
    describe,
)

__all__ = ["SequenceTagger", "History", "fit", "accuracy", "MAX_PARAMETERS", "DEFAULT_LR"]

_CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
_GATES = {"rnn": 1, "gru": 3, "lstm": 4}
MAX_PARAMETERS = MAX_ELEMENTS
"""The largest :class:`SequenceTagger` (number of parameters) that may be built: the cap on
sizes of ``birnn_utils.validation``. The book's taggers are tiny, and ``hidden_size=10**6``
is a typo, not a model to allocate."""


class SequenceTagger(nn.Module):
    """A (bi)directional RNN/GRU/LSTM followed by a linear head at every step.

    ``forward``: x (N, T, V) -> logits (N, T, C). ``.rnn`` is batch-first; ``.head`` maps
    the ``D*H`` features of a step (``D`` = 2 if bidirectional) to ``C`` logits.
    """

    def __init__(self, input_size: int, hidden_size: int, num_classes: int,
                 bidirectional: bool = False, cell: str = "gru", num_layers: int = 1):
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_classes", num_classes), ("num_layers", num_layers)):
            check_int(name, value, minimum=1)
        check_bool("bidirectional", bidirectional)
        check_choice("cell", cell, sorted(_CELLS))
        directions = 2 if bidirectional else 1
        per_input = directions * _GATES[cell] * hidden_size  # weights per input feature
        count = (directions * hidden_size * num_classes + num_classes  # the head
                 + per_input * (input_size + hidden_size + 2)  # layer 0
                 + (num_layers - 1) * per_input * ((directions + 1) * hidden_size + 2))
        check_elements("SequenceTagger's parameters", count,
                       f"input_size={input_size}, hidden_size={hidden_size}, num_classes="
                       f"{num_classes}, num_layers={num_layers}")
        super().__init__()
        self.rnn = _CELLS[cell](input_size, hidden_size, num_layers=num_layers,
                                batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(directions * hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, dim=3)
        weight = self.rnn.weight_ih_l0
        if x.shape[-1] != self.rnn.input_size:
            raise ValueError(f"x must be (N, T, {self.rnn.input_size}) for input_size="
                             f"{self.rnn.input_size}, got {describe(x)}")
        check_like("x", x, "the model's parameters", weight)
        rnn = self.rnn
        gates = rnn.weight_ih_l0.shape[0] // rnn.hidden_size  # 1, 3 or 4
        check_elements("the states", x.shape[0] * x.shape[1] * 2 * gates * rnn.hidden_size,
                       f"x of shape {tuple(x.shape)}, hidden_size={rnn.hidden_size}")
        features, _ = self.rnn(x)  # (N, T, D*H)
        return self.head(features)  # (N, T, C)


@dataclass
class History:
    """Per-epoch metrics: mean training ``loss`` over labelled steps, training ``accuracy``
    (measured on the batches as they were trained), ``eval_accuracy`` on ``eval_data``
    after the epoch (empty when no eval data was given)."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("loss", "accuracy", "eval_accuracy"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(
                isinstance(v, Real) and not isinstance(v, bool) for v in value
            ):
                raise TypeError(f"History: {name} must be a list of numbers, got "
                                f"{describe(value)}")


def _check_data(x: object, y: object, where: str, x_name: str = "x",
                y_name: str = "y", model: nn.Module | None = None) -> None:
    """Types, shapes, dtypes, devices (those of ``model``'s parameters, if given), then
    finiteness and label values of a data set."""
    for name, value, layout in ((x_name, x, "(N, T, V)"), (y_name, y, "(N, T)")):
        if not isinstance(value, Tensor):
            raise TypeError(f"{where}: {name} must be a Tensor {layout}, got {describe(value)}")
    if x.dim() != 3 or y.dim() != 2 or tuple(x.shape[:2]) != tuple(y.shape):
        raise ValueError(
            f"{where}: expected {x_name} (N, T, V) and {y_name} (N, T), got {tuple(x.shape)} "
            f"and {tuple(y.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{where}: {x_name} must have a floating-point dtype, got {describe(x)}")
    if y.dtype != torch.int64:
        raise TypeError(f"{where}: {y_name} must be int64 class indices, got {y.dtype}")
    if y.device != x.device:
        raise ValueError(f"{where}: {y_name} must be on {x_name}'s device {x.device}, "
                         f"got {y.device}")
    if x.numel() == 0:
        raise ValueError(f"{where}: {x_name} is empty, got shape {tuple(x.shape)}; expected "
                         f"at least one sequence of at least one step with one feature")
    if model is not None:
        _check_model_input(model, x, where, x_name)
    check_tensor(f"{where}: {x_name}", x, finite=True)
    bad = y[(y < 0) & (y != IGNORE_INDEX)]
    if bad.numel():
        raise ValueError(f"{where}: {y_name} must hold class indices >= 0, or {IGNORE_INDEX} "
                         f"for no label, got {int(bad[0])}")
    if not (y != IGNORE_INDEX).any():
        raise ValueError(f"{where}: {y_name} has no labelled step (every label is "
                         f"{IGNORE_INDEX})")


def _modes(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    """The train/eval flag of every submodule, to restore exactly (mixed modes too)."""
    return [(m, m.training) for m in model.modules()]


def _restore(modes: list[tuple[nn.Module, bool]]) -> None:
    for module, training in modes:
        module.training = training


def _check_model_input(model: nn.Module, x: Tensor, where: str, x_name: str) -> None:
    """``x`` must have the dtype and device of the model's parameters."""
    param = next(model.parameters(), None)
    if param is None:
        return
    if x.dtype != param.dtype:
        raise TypeError(f"{where}: {x_name} has dtype {str(x.dtype).removeprefix('torch.')} "
                        f"but the model's parameters are {str(param.dtype).removeprefix('torch.')};"
                        f" expected one dtype (x.to(...) or model.to(...))")
    if x.device != param.device:
        raise ValueError(f"{where}: {x_name} is on {x.device} but the model's parameters are on "
                         f"{param.device}; expected one device")


def _logits(model: nn.Module, x: Tensor, where: str, x_name: str) -> Tensor:
    """``model(x)`` in eval mode without gradients, checked to be (N, T, C) logits."""
    modes = _modes(model)
    model.eval()
    try:
        with torch.no_grad():
            logits = model(x)
    except (TypeError, ValueError, RuntimeError, IndexError) as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(f"{where}: the model cannot run on {x_name} {describe(x)}: "
                         f"{type(e).__name__}: {first}") from e
    finally:
        _restore(modes)
    if not isinstance(logits, Tensor) or logits.dim() != 3 or \
            tuple(logits.shape[:2]) != tuple(x.shape[:2]) or logits.shape[2] < 1:
        raise ValueError(f"{where}: model must return logits (N, T, C) for {x_name} "
                         f"{tuple(x.shape)}, got {describe(logits)}")
    return logits


def _check_labels(y: Tensor, classes: int, where: str, y_name: str) -> None:
    top = int(y.max())
    if top >= classes:
        raise ValueError(f"{where}: {y_name} holds class {top}, but the model returns C={classes} "
                         f"logits per step; expected labels in [0, {classes - 1}] or "
                         f"{IGNORE_INDEX}")


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Fraction of labelled steps (``y != -100``) where ``argmax model(x)`` equals ``y``.

    x (N, T, V), y (N, T). The model runs in eval mode without gradients; the train/eval
    mode of every submodule is restored afterwards.
    """
    check_module("model", model)
    _check_data(x, y, "accuracy", model=model)
    logits = _logits(model, x, "accuracy", "x")
    _check_labels(y, logits.shape[-1], "accuracy", "y")
    predictions = logits.argmax(dim=-1)  # (N, T)
    labelled = y != IGNORE_INDEX
    return (predictions[labelled] == y[labelled]).double().mean().item()


def _check_fit_args(model, x, y, epochs, lr, batch_size, seed, eval_data, optimizer, params,
                    progress) -> list | None:
    """Every argument of :func:`fit`; returns ``params`` as a list (None if not given)."""
    check_module("model", model)
    _check_data(x, y, "fit", model=model)
    check_int("epochs", epochs, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_seed("seed", seed)
    check_bool("progress", progress)
    if eval_data is not None:
        if not isinstance(eval_data, tuple | list) or len(eval_data) != 2:
            raise TypeError(f"fit: eval_data must be a pair (x_eval, y_eval), got "
                            f"{describe(eval_data)}")
        _check_data(*eval_data, "fit", "eval_data[0] (x_eval)", "eval_data[1] (y_eval)",
                    model=model)
    if optimizer is not None:
        if params is not None:
            raise ValueError("fit: pass either optimizer or params, not both; got both")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"fit: optimizer must be a torch.optim.Optimizer, got "
                            f"{describe(optimizer)}")
        if lr is not None:  # it would be ignored: the optimizer has its own
            raise ValueError(f"fit: pass either optimizer or lr, not both (the optimizer's "
                             f"param_groups hold its lr), got lr={lr!r}")
        return None
    check_float("lr", DEFAULT_LR if lr is None else lr, minimum=0, min_inclusive=False)
    if params is None:
        return None
    if isinstance(params, Tensor) or not isinstance(params, Iterable):
        raise TypeError(f"fit: params must be an iterable of parameters (e.g. "
                        f"model.head.parameters()), got {describe(params)}")
    params = list(params)
    if not params:
        raise ValueError("fit: params is empty: there is nothing to train")
    for p in params:
        if not isinstance(p, Tensor) or not p.is_leaf or not p.is_floating_point():
            raise TypeError(f"fit: params must hold parameters (floating-point leaf tensors), "
                            f"got {describe(p)}")
    return params


DEFAULT_LR = 1e-2
_ADAM_BETA1 = 0.9  # Adam's first step is lr / (1 - beta1) = 10 lr: it must fit the dtype


def fit(model: nn.Module, x: Tensor, y: Tensor, *, epochs: int, lr: float | None = None,
        batch_size: int = 32, seed: int = 0, eval_data: tuple[Tensor, Tensor] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        params: Iterable[nn.Parameter] | None = None, progress: bool = False) -> History:
    """Train ``model`` (x (N, T, V) -> logits (N, T, C)) with cross-entropy on labelled steps.

    Mini-batches of ``batch_size`` in an order shuffled by a local generator seeded with
    ``seed`` (the global RNG is not touched), so a run is reproducible given the model's
    initial weights. The optimizer defaults to Adam(``lr``, default ``DEFAULT_LR = 1e-2``)
    over ``params`` if given (e.g. only the trainable ones) else ``model.parameters()``;
    pass ``optimizer`` to use your own (then ``params`` and ``lr`` must be left out: a
    ValueError, not an lr silently ignored). ``eval_data = (x_eval, y_eval)`` adds
    :func:`accuracy` on it after every epoch. ``progress=True`` shows a tqdm bar.
    Returns a :class:`History`; the model ends in the train/eval modes it started in, also
    when an error stops it. If the loss or a gradient becomes NaN or infinite, it stops
    with a ``FloatingPointError`` naming the epoch and batch, before that step is taken.
    """
    params = _check_fit_args(model, x, y, epochs, lr, batch_size, seed, eval_data, optimizer,
                             params, progress)
    classes = _logits(model, x[:1], "fit", "x").shape[-1]
    _check_labels(y, classes, "fit", "y")
    if eval_data is not None:
        x_eval, y_eval = eval_data
        eval_classes = _logits(model, x_eval[:1], "fit", "eval_data[0] (x_eval)").shape[-1]
        _check_labels(y_eval, eval_classes, "fit", "eval_data[1] (y_eval)")
    if optimizer is None:
        params = list(model.parameters()) if params is None else params
        if not params:
            raise ValueError("fit: params is empty: the model has no parameter to train")
        lr = DEFAULT_LR if lr is None else float(lr)
        largest = min(torch.finfo(p.dtype).max for p in params) * (1 - _ADAM_BETA1)
        if lr > largest:
            raise ValueError(f"lr must be at most {largest:.3g} (Adam's first step is "
                             f"lr / (1 - 0.9) = 10 lr, which must fit the parameters' dtype), "
                             f"got {lr:g}")
        optimizer = torch.optim.Adam(params, lr=lr)

    generator = torch.Generator().manual_seed(seed)
    history = History()
    modes = _modes(model)
    batches = -(-x.shape[0] // batch_size)
    bar = tqdm(range(epochs), desc="epochs", disable=not progress)
    try:
        for epoch in bar:
            model.train()
            order = torch.randperm(x.shape[0], generator=generator)
            loss_sum, correct, labelled_total = 0.0, 0, 0
            for batch, start in enumerate(range(0, x.shape[0], batch_size)):
                index = order[start : start + batch_size]
                batch_y = y[index]  # (b, T)
                labelled = int((batch_y != IGNORE_INDEX).sum())
                if labelled == 0:  # nothing to learn from; the loss would be NaN
                    continue
                where = f"epoch {epoch + 1} of {epochs}, batch {batch + 1} of {batches}"
                logits = model(x[index])  # (b, T, C)
                loss = F.cross_entropy(logits.flatten(0, 1), batch_y.flatten(),
                                       ignore_index=IGNORE_INDEX)
                loss_value = loss.item()
                if not math.isfinite(loss_value):
                    raise FloatingPointError(
                        f"fit: the loss became {loss_value} at {where}, before its step; "
                        f"the parameters hold the last finite state (try a smaller lr)"
                    )
                optimizer.zero_grad()
                loss.backward()
                _check_gradients(optimizer, where)
                optimizer.step()
                mask = batch_y != IGNORE_INDEX
                loss_sum += loss_value * labelled
                correct += int((logits.detach().argmax(-1)[mask] == batch_y[mask]).sum())
                labelled_total += labelled
            history.loss.append(loss_sum / labelled_total)
            history.accuracy.append(correct / labelled_total)
            if eval_data is not None:
                history.eval_accuracy.append(accuracy(model, *eval_data))
            bar.set_postfix(loss=f"{history.loss[-1]:.4f}")
    finally:
        bar.close()
        _restore(modes)
    return history


def _check_gradients(optimizer: torch.optim.Optimizer, where: str) -> None:
    grads = [p.grad for group in optimizer.param_groups for p in group["params"]
             if p.grad is not None]
    if grads and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()):
        raise FloatingPointError(
            f"fit: a gradient became NaN or infinite at {where}, before its step; the "
            f"parameters hold the last finite state (try a smaller lr)"
        )
