"""SequenceTagger, fit and accuracy: shapes, determinism, independent references, bad inputs."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from birnn_utils.data import IGNORE_INDEX, local_peak, shifted_copy
from birnn_utils.training import History, SequenceTagger, accuracy, fit


def tagger(seed=0, **kwargs):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return SequenceTagger(**({"input_size": 4, "hidden_size": 8, "num_classes": 4} | kwargs))


class FixedLogits(nn.Module):
    """Ignores its input and returns the given logits (N, T, C)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_tagger_shapes(cell, bidirectional):
    model = tagger(cell=cell, bidirectional=bidirectional, num_layers=2, num_classes=3)
    assert isinstance(model.rnn, {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell])
    assert model.rnn.batch_first and model.rnn.bidirectional == bidirectional
    assert model.rnn.num_layers == 2
    assert model.head.in_features == 8 * (2 if bidirectional else 1)
    assert model(torch.zeros(5, 7, 4)).shape == (5, 7, 3)


def test_tagger_bidirectional_head_reads_both_directions():
    model = tagger(bidirectional=True)
    x = shifted_copy(3, 6, 4, 1, seed=0).x
    features, _ = model.rnn(x)  # (N, T, 2H)
    torch.testing.assert_close(model(x), features @ model.head.weight.T + model.head.bias)


def test_accuracy_counts_only_labelled_steps():
    y = torch.tensor([[0, 1, IGNORE_INDEX], [2, 2, 1]])
    predictions = torch.tensor([[0, 0, 1], [2, 1, 1]])  # right on 3 of the 5 labelled steps
    model = FixedLogits(F.one_hot(predictions, 3).float())
    model.train()
    assert accuracy(model, torch.zeros(2, 3, 1), y) == pytest.approx(3 / 5)
    assert model.training  # mode restored


def test_fit_first_epoch_loss_is_the_initial_cross_entropy():
    task = shifted_copy(20, 6, 4, -1, seed=0)
    model = tagger()
    initial = copy.deepcopy(model)
    history = fit(model, task.x, task.y, epochs=1, batch_size=20)  # one batch = one step
    with torch.no_grad():
        logits = initial(task.x)
    expected = F.cross_entropy(logits.flatten(0, 1), task.y.flatten(), ignore_index=-100)
    assert history.loss[0] == pytest.approx(expected.item(), rel=1e-6)
    assert history.accuracy[0] == pytest.approx(accuracy(initial, task.x, task.y))
    assert history.eval_accuracy == []


def test_fit_is_deterministic_and_leaves_the_global_rng_alone():
    task = shifted_copy(40, 6, 4, 1, seed=0)
    runs = []
    for seed in (0, 0, 1):
        model = tagger()
        state = torch.get_rng_state()
        history = fit(model, task.x, task.y, epochs=3, batch_size=8, seed=seed)
        assert torch.equal(torch.get_rng_state(), state)
        runs.append((history, model.state_dict()))
    (first, first_weights), (again, again_weights), (other, _) = runs
    assert first == again
    assert all(torch.equal(first_weights[k], again_weights[k]) for k in first_weights)
    assert first.loss != other.loss  # another seed shuffles the batches differently


def test_bidirectional_tagger_learns_a_future_token_and_forward_does_not():
    train, test = shifted_copy(256, 10, 4, 1, seed=0), shifted_copy(128, 10, 4, 1, seed=1)
    results = {}
    for bidirectional in (False, True):
        model = tagger(bidirectional=bidirectional, hidden_size=16)
        history = fit(model, train.x, train.y, epochs=25, eval_data=(test.x, test.y))
        assert len(history.loss) == len(history.accuracy) == len(history.eval_accuracy) == 25
        assert history.eval_accuracy[-1] == accuracy(model, test.x, test.y)
        results[bidirectional] = history.eval_accuracy[-1]
    assert results[True] > 0.95  # the next token is in view of the backward direction
    assert results[False] < 0.4  # a forward model can only guess among 4 tokens


def test_local_peak_is_learnable_by_a_bigru():
    train, test = local_peak(256, 12, seed=0), local_peak(128, 12, seed=1)
    model = tagger(input_size=8, num_classes=2, bidirectional=True, hidden_size=16)
    history = fit(model, train.x, train.y, epochs=25, eval_data=(test.x, test.y))
    assert history.eval_accuracy[-1] > 0.95
    assert history.loss[-1] < history.loss[0]


def test_fit_params_trains_only_those_and_optimizer_is_used():
    task = shifted_copy(16, 5, 4, 0, seed=0)
    model = tagger()
    rnn_before = copy.deepcopy(model.rnn.state_dict())
    head_before = model.head.weight.detach().clone()
    fit(model, task.x, task.y, epochs=2, params=model.head.parameters())
    assert all(torch.equal(v, model.rnn.state_dict()[k]) for k, v in rnn_before.items())
    assert not torch.equal(head_before, model.head.weight)

    model = tagger()
    model.eval()
    sgd = torch.optim.SGD(model.rnn.parameters(), lr=0.0)  # a no-op optimizer
    before = copy.deepcopy(model.state_dict())
    fit(model, task.x, task.y, epochs=1, optimizer=sgd)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert not model.training  # mode restored


def test_fit_skips_batches_without_labels_and_shows_progress(capsys):
    task = shifted_copy(6, 5, 4, 0, seed=0)
    y = task.y.clone()
    y[::2] = IGNORE_INDEX  # every other sequence has no label at all
    history = fit(tagger(), task.x, y, epochs=2, batch_size=1, progress=True)
    assert all(torch.isfinite(torch.tensor(history.loss)))
    assert "epochs" in capsys.readouterr().err


def test_bad_inputs_raise_and_leave_the_model_unchanged():
    task = shifted_copy(4, 5, 4, 0, seed=0)
    x, y = task.x, task.y
    model = tagger()
    before = copy.deepcopy(model.state_dict())
    cases = [
        (lambda: fit(model, x[0], y, epochs=1), ValueError, r"x \(N, T, V\) and y \(N, T\)"),
        (lambda: fit(model, x, y[:, :3], epochs=1), ValueError, r"got \(4, 5, 4\) and \(4, 3\)"),
        (lambda: fit(model, x, y.float(), epochs=1), TypeError, "y must be int64 class indices"),
        (lambda: fit(model, x, torch.full_like(y, -100), epochs=1), ValueError, "no labelled"),
        (lambda: fit(model, x.numpy(), y, epochs=1), TypeError,
         r"fit: x must be a Tensor \(N, T, V\), got ndarray"),
        (lambda: fit(model, x, y, epochs=0), ValueError, "epochs must be an int >= 1, got 0"),
        (lambda: fit(model, x, y, epochs=True), TypeError, "epochs must be an int, got bool"),
        (lambda: fit(model, x, y, epochs=1, batch_size=0), ValueError, "batch_size"),
        (lambda: fit(model, x, y, epochs=1, lr=0.0), ValueError, "lr must be a finite number > 0"),
        (lambda: fit(model, x, y, epochs=1, lr=float("inf")), ValueError, "got inf"),
        (lambda: fit(model, x, y, epochs=1, lr=1e300), ValueError, "lr must be at most 3.4e\\+37"),
        (lambda: fit(model, x, y, epochs=1, seed=0.5), TypeError, "seed must be an int"),
        (lambda: fit(model, x, y, epochs=1, seed=-1), ValueError, "seed must be an int in"),
        (lambda: fit(model, x, y, epochs=1, progress="yes"), TypeError, "progress must be a bool"),
        (lambda: fit(model, x, y, epochs=1, params=[]), ValueError, "params is empty"),
        (lambda: fit(model, x, y, epochs=1, params=[1.0]), TypeError,
         "params must hold parameters"),
        (lambda: fit(model, x, y, epochs=1, params=model.head.weight), TypeError,
         "params must be an iterable of parameters"),
        (lambda: fit(model, x, y, epochs=1, eval_data=x), TypeError, "eval_data must be a pair"),
        (lambda: fit(model, x, y, epochs=1, eval_data=(x, y[0])), ValueError,
         r"expected eval_data\[0\] \(x_eval\) \(N, T, V\)"),
        (lambda: fit("model", x, y, epochs=1), TypeError, "model must be a Module, got str"),
        (lambda: fit(model, x, y, epochs=1, optimizer="adam"), TypeError,
         "optimizer must be a torch.optim.Optimizer, got str 'adam'"),
        (lambda: fit(model, x, y, epochs=1, params=model.parameters(),
                     optimizer=torch.optim.SGD(model.parameters(), lr=1.0)),
         ValueError, "either optimizer or params"),
        (lambda: fit(model, x.double(), y, epochs=1), TypeError,
         "x has dtype float64 but the model's parameters are float32"),
        (lambda: fit(model, x[:0], y[:0], epochs=1), ValueError,
         r"fit: x is empty, got shape \(0, 5, 4\)"),
        (lambda: fit(model, x[:, :, :3], y, epochs=1), ValueError,
         r"the model cannot run on x Tensor of shape \(1, 5, 3\)"),
        (lambda: SequenceTagger(4, 0, 2), ValueError, "hidden_size must be an int >= 1, got 0"),
        (lambda: SequenceTagger(4, 2.0, 2), TypeError, "hidden_size must be an int, got float"),
        (lambda: SequenceTagger(4, 8, 2, bidirectional="False"), TypeError,
         "bidirectional must be a bool, got str 'False'"),
        (lambda: SequenceTagger(4, 10**6, 2), ValueError,
         "SequenceTagger's parameters would hold .* above the cap of 1e\\+08"),
        (lambda: SequenceTagger(4, 8, 2, cell="transformer"), ValueError,
         r"one of \['gru', 'lstm', 'rnn'\], got 'transformer'"),
        (lambda: model(x[:, :, :3]), ValueError, r"x must be \(N, T, 4\) for input_size=4"),
        (lambda: model(x.double()), TypeError,
         r"x must have the dtype of the model's parameters \(float32\)"),
        (lambda: accuracy(model, x, y[:2]), ValueError, "accuracy: expected"),
        (lambda: accuracy("model", x, y), TypeError, "model must be a Module, got str"),
        (lambda: History(loss="abc"), TypeError, "History: loss must be a list of numbers"),
    ]
    for call, error, match in cases:
        with pytest.raises(error, match=match):
            call()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def _adam_and_state(model):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    return optimizer, copy.deepcopy(model.state_dict())


@pytest.mark.parametrize("bad", ["eval_features", "label_range", "eval_label_range",
                                 "negative_label", "nan_data", "eval_nan"])
def test_fit_checks_the_data_against_the_model_before_the_first_step(bad):
    task = shifted_copy(8, 5, 4, 0, seed=0)
    x, y, x_eval, y_eval = task.x, task.y, task.x.clone(), task.y.clone()
    if bad == "eval_features":  # used to be found only after a full epoch
        x_eval = x_eval[:, :, :3]
    elif bad == "label_range":  # used to raise only after an Adam step
        y = y.clone()
        y[0, 0] = 4
    elif bad == "eval_label_range":
        y_eval[1, 2] = 7
    elif bad == "negative_label":
        y = y.clone()
        y[0, 0] = -3
    elif bad == "nan_data":  # used to train to all-NaN parameters without a word
        x = x.clone()
        x[0, 0, 0] = float("nan")
    else:
        x_eval[0, 0, 0] = float("inf")
    model = tagger()
    model.eval()
    optimizer, before = _adam_and_state(model)
    with pytest.raises(ValueError) as info:
        fit(model, x, y, epochs=2, optimizer=optimizer, eval_data=(x_eval, y_eval))
    expected = {"eval_features": "eval_data[0] (x_eval)", "label_range": "y holds class 4",
                "eval_label_range": "eval_data[1] (y_eval) holds class 7",
                "negative_label": "got -3", "nan_data": "x must be finite",
                "eval_nan": "eval_data[0] (x_eval) must be finite"}[bad]
    assert expected in str(info.value)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert optimizer.state_dict()["state"] == {}  # no step was taken
    assert all(p.grad is None for p in model.parameters())
    assert not model.training  # still in eval mode


def test_fit_stops_on_a_non_finite_loss_naming_epoch_and_batch():
    task = shifted_copy(16, 5, 4, 0, seed=0)
    model = tagger()
    model.head.train(False)  # mixed modes are restored exactly, after an error too
    with pytest.raises(FloatingPointError, match=r"at epoch \d+ of 50, batch \d+ of 2"):
        fit(model, task.x, task.y, epochs=50, lr=1e37, batch_size=8)
    assert all(torch.isfinite(p).all() for p in model.parameters())  # no NaN step taken
    assert model.training and not model.head.training


class NaNGradient(torch.autograd.Function):
    """Identity forward; a NaN gradient backward."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.full_like(grad, float("nan"))


class NaNGradientTagger(SequenceTagger):
    def forward(self, x):
        return NaNGradient.apply(super().forward(x))


def test_fit_stops_on_a_non_finite_gradient_before_the_step():
    task = shifted_copy(8, 5, 4, 0, seed=0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = NaNGradientTagger(4, 8, 4)
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(FloatingPointError, match="a gradient became NaN or infinite at epoch 1 "
                                                 "of 1, batch 1 of 1, before its step"):
        fit(model, task.x, task.y, epochs=1, batch_size=8)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_data_on_another_device_or_a_model_without_parameters_is_refused():
    task = shifted_copy(4, 5, 4, 0, seed=0)
    x, y = task.x.to("meta"), task.y.to("meta")  # a device other than the model's
    for call in (lambda: fit(tagger(), x, y, epochs=1), lambda: accuracy(tagger(), x, y)):
        with pytest.raises(ValueError, match="x is on meta but the model's parameters are on cpu"):
            call()
    with pytest.raises(ValueError, match="the model has no parameter to train"):
        fit(FixedLogits(torch.zeros(1, 5, 4)), task.x, task.y, epochs=1)  # (1, T, C) for x[:1]


def test_accuracy_checks_labels_against_the_model():
    task = shifted_copy(4, 5, 4, 0, seed=0)
    y = task.y.clone()
    y[0, 0] = 9
    with pytest.raises(ValueError, match=r"accuracy: y holds class 9.*C=4"):
        accuracy(tagger(), task.x, y)
    with pytest.raises(ValueError, match=r"model must return logits \(N, T, C\)"):
        accuracy(FixedLogits(torch.zeros(4, 5)), task.x, task.y)


def test_history_defaults_are_independent_lists():
    first, second = History(), History()
    first.loss.append(1.0)
    assert second.loss == []
