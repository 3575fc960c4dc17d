"""A small sequence tagger and a deterministic training loop for the book's toy tasks.

Shapes: ``N`` sequences, ``T`` steps, ``V`` input features (one-hot vocabulary), ``C``
classes. Labels equal to ``-100`` are ignored by the loss and by :func:`accuracy`.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from birnn_utils.data import IGNORE_INDEX

__all__ = ["SequenceTagger", "History", "fit", "accuracy"]

_CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class SequenceTagger(nn.Module):
    """A (bi)directional RNN/GRU/LSTM followed by a linear head at every step.

    ``forward``: x (N, T, V) -> logits (N, T, C). ``.rnn`` is batch-first; ``.head`` maps
    the ``D*H`` features of a step (``D`` = 2 if bidirectional) to ``C`` logits.
    """

    def __init__(self, input_size: int, hidden_size: int, num_classes: int,
                 bidirectional: bool = False, cell: str = "gru", num_layers: int = 1):
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_classes", num_classes), ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
        self.rnn = _CELLS[cell](input_size, hidden_size, num_layers=num_layers,
                                batch_first=True, bidirectional=bool(bidirectional))
        directions = 2 if bidirectional else 1
        self.head = nn.Linear(directions * hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
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


def _check_data(x: object, y: object, what: str) -> None:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(
            f"{what}: x and y must be Tensors, got {type(x).__name__} and {type(y).__name__}"
        )
    if x.dim() != 3 or y.dim() != 2 or tuple(x.shape[:2]) != tuple(y.shape):
        raise ValueError(
            f"{what}: expected x (N, T, V) and y (N, T), got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    if y.dtype != torch.int64:
        raise TypeError(f"{what}: y must be int64 class indices, got {y.dtype}")
    if x.shape[0] < 1 or not (y != IGNORE_INDEX).any():
        raise ValueError(f"{what}: y has no labelled step (every label is {IGNORE_INDEX})")


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Fraction of labelled steps (``y != -100``) where ``argmax model(x)`` equals ``y``.

    x (N, T, V), y (N, T). The model runs in eval mode; its mode is restored afterwards.
    """
    _check_data(x, y, "accuracy")
    was_training = model.training
    model.eval()
    try:
        predictions = model(x).argmax(dim=-1)  # (N, T)
    finally:
        model.train(was_training)
    labelled = y != IGNORE_INDEX
    return (predictions[labelled] == y[labelled]).double().mean().item()


def fit(model: nn.Module, x: Tensor, y: Tensor, *, epochs: int, lr: float = 1e-2,
        batch_size: int = 32, seed: int = 0, eval_data: tuple[Tensor, Tensor] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        params: Iterable[nn.Parameter] | None = None, progress: bool = False) -> History:
    """Train ``model`` (x (N, T, V) -> logits (N, T, C)) with cross-entropy on labelled steps.

    Mini-batches of ``batch_size`` in an order shuffled by a local generator seeded with
    ``seed`` (the global RNG is not touched), so a run is reproducible given the model's
    initial weights. The optimizer defaults to Adam(``lr``) over ``params`` if given (e.g.
    only the trainable ones) else ``model.parameters()``; pass ``optimizer`` to use your
    own (then ``params`` and ``lr`` must be left out). ``eval_data = (x_eval, y_eval)`` adds
    :func:`accuracy` on it after every epoch. ``progress=True`` shows a tqdm bar.
    Returns a :class:`History`; the model ends in the mode (train/eval) it started in.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    _check_data(x, y, "fit")
    if eval_data is not None:
        if not isinstance(eval_data, tuple | list) or len(eval_data) != 2:
            raise TypeError(
                f"eval_data must be a pair (x_eval, y_eval), got {type(eval_data).__name__}"
            )
        _check_data(*eval_data, "fit eval_data")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if optimizer is not None:
        if params is not None:
            raise ValueError("pass either optimizer or params, not both")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
    else:
        if not isinstance(lr, int | float) or isinstance(lr, bool) or not lr > 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        params = list(model.parameters() if params is None else params)
        if not params:
            raise ValueError("params is empty: there is nothing to train")
        optimizer = torch.optim.Adam(params, lr=lr)

    generator = torch.Generator().manual_seed(seed)
    history = History()
    was_training = model.training
    bar = tqdm(range(epochs), desc="epochs", disable=not progress)
    for _ in bar:
        model.train()
        order = torch.randperm(x.shape[0], generator=generator)
        loss_sum, correct, labelled_total = 0.0, 0, 0
        for start in range(0, x.shape[0], batch_size):
            index = order[start : start + batch_size]
            batch_y = y[index]  # (b, T)
            labelled = int((batch_y != IGNORE_INDEX).sum())
            if labelled == 0:  # nothing to learn from; the loss would be NaN
                continue
            logits = model(x[index])  # (b, T, C)
            loss = F.cross_entropy(logits.flatten(0, 1), batch_y.flatten(),
                                   ignore_index=IGNORE_INDEX)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            mask = batch_y != IGNORE_INDEX
            loss_sum += loss.item() * labelled
            correct += int((logits.detach().argmax(-1)[mask] == batch_y[mask]).sum())
            labelled_total += labelled
        history.loss.append(loss_sum / labelled_total)
        history.accuracy.append(correct / labelled_total)
        if eval_data is not None:
            history.eval_accuracy.append(accuracy(model, *eval_data))
        bar.set_postfix(loss=f"{history.loss[-1]:.4f}")
    model.train(was_training)
    return history
