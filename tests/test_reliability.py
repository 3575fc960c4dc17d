"""Issue 30, one test per fix: each fails on the code before it (a crash, an allocation, a
hang, a silent wrong result or a changed state) and passes after. The generated bad
inputs of every public name are in ``test_bad_inputs.py``; these are the named cases, and
the checks that every model refuses the same things in the same way."""

import copy
import io
import math
import random
import re
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from birnn_utils import (
    ablation,
    benchmarking,
    checkpoints,
    corpus,
    data,
    delayed,
    expect,
    fast,
    partial_freezing,
    streams,
    sweep,
    training,
    validation,
)

F64 = torch.float64
CAP = getattr(validation, "MAX_ELEMENTS", 10**8)  # getattr: this file also runs on older code
CAP_TEXT = r"above the cap of 1e\+08 entries"


def seeded(factory, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


def state_of(model, optimizer=None):
    """Everything a failed call must leave as it was (deep copies)."""
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    modes = [m.training for m in model.modules()]
    opt = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
    return params, grads, modes, opt


def same(a, b):
    """Bit for bit, NaN in the same places counting as equal."""
    return a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)


def assert_same_state(before, after):
    params, grads, modes, opt = before
    params2, grads2, modes2, opt2 = after
    assert params.keys() == params2.keys() and modes == modes2
    for name in params:
        assert same(params[name], params2[name]), name
        assert (grads[name] is None) == (grads2[name] is None), name
        if grads[name] is not None:
            assert same(grads[name], grads2[name]), name
    assert repr(opt) == repr(opt2)


# --- NumPy scalars: refused everywhere, once, in validation ------------------------------

@pytest.mark.parametrize("value", [np.int64(3), np.int32(3), np.uint8(3)])
def test_numpy_integers_are_refused_with_a_hint(value):
    with pytest.raises(TypeError, match=r"n must be an int, got the NumPy scalar .*int\(n\)"):
        validation.check_int("n", value, minimum=1)
    with pytest.raises(TypeError, match="NumPy"):
        validation.check_seed("seed", value)


@pytest.mark.parametrize("value", [np.float64(0.5), np.float32(0.5)])
def test_numpy_floats_are_refused_with_a_hint(value):
    with pytest.raises(TypeError, match=r"lr must be a real number .*float\(lr\)"):
        validation.check_float("lr", value)


@pytest.mark.parametrize("call", [
    lambda: fast.FastBiGRU(np.int64(3), 4),  # crashed in nn.GRU's own check
    lambda: training.fit(training.SequenceTagger(4, 5, 4), *data.shifted_copy(4, 5, 4, 0)[:2],
                         epochs=1, seed=np.int64(0)),  # crashed in torch.Generator
    lambda: data.random_lengths(3, 2, 5, seed=np.int64(2)),  # crashed in manual_seed
    lambda: checkpoints.save_checkpoint(io.BytesIO(), nn.GRU(2, 3), step=np.int64(5)),
])
def test_numpy_integers_never_reach_torch_or_a_checkpoint(call):
    with pytest.raises(TypeError, match="NumPy"):
        call()


def test_an_int_beyond_float_range_is_a_clear_value_error():
    with pytest.raises(ValueError, match="must be a finite number .* an int of 401 digits"):
        validation.check_float("max_norm", 10**400)
    with pytest.raises(ValueError, match="max_norm"):
        streams.clipped_step(torch.ones(1, requires_grad=True).sum(),
                             torch.optim.SGD([torch.ones(1, requires_grad=True)], lr=0.1),
                             10**400)


# --- the cap on sizes: refused before allocating, the cap in the message ---------------

@pytest.mark.parametrize(("call", "names"), [
    (lambda: delayed.DelayedTagger(10**9, 4, 2, delay=1), "input_size=1000000000"),
    (lambda: streams.StreamTagger(10**9, 4, 2), "vocab=1000000000"),
    (lambda: sweep.make_bidirectional("gru", 3, 10**6), "hidden_size=1000000"),
    (lambda: partial_freezing.row_mask((10**6, 10**6), [0]), r"shape=\(1000000, 1000000\)"),
    (lambda: sweep.random_state(nn.GRU(3, 4), 10**12), "batch=1000000000000"),
    (lambda: fast.FastBiGRU(3, 10**5), "hidden_size=100000"),
    (lambda: training.SequenceTagger(4, 10**6, 2), "hidden_size=1000000"),
    (lambda: streams.StreamTagger(4, 5, 4, initial_state="random").start_state(10**9),
     "batch_size=1000000000"),
])
def test_a_size_above_the_cap_is_refused_before_allocating(call, names):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=CAP_TEXT) as error:
        call()
    assert time.perf_counter() - start < 5  # refused, not allocated and then failed
    assert re.search(names, str(error.value)), str(error.value)  # the sizes are shown


def test_local_peak_ceiling_refuses_a_vocab_it_would_loop_over_for_ever():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"vocab must be an int in \[2, 1000000\]"):
        delayed.local_peak_ceiling(10**12, 1, 0)
    assert time.perf_counter() - start < 1


def test_the_cap_counts_exactly_at_its_edge():
    assert validation.check_elements("x", CAP, "n=1") == CAP
    with pytest.raises(ValueError, match=r"would hold 1e\+08 entries \(n=1\)"):
        validation.check_elements("x", CAP + 1, "n=1")
    with pytest.raises(ValueError, match="an int of 501 digits"):
        validation.check_elements("x", 10**500, "n=1")


# --- checkpoints: file errors, and a whole checkpoint checked before anything changes -----

def gru():
    return seeded(lambda: nn.GRU(2, 3, dtype=F64))


def trained_adam(model, lr=0.1):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model(torch.ones(2, 1, 2, dtype=F64))[0].sum().backward()
    optimizer.step()
    return optimizer


def saved(payload):
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def good_checkpoint(**extra):
    model = gru()
    return {"model": model.state_dict(), "step": 4,
            "optimizer": trained_adam(model).state_dict()} | extra


@pytest.mark.parametrize(("label", "content", "match"), [
    ("empty", b"", r"is empty \(0 bytes\)"),
    ("text", b"step,5\n", "is not a checkpoint"),
    ("truncated", saved(good_checkpoint())[:300], "is not a checkpoint, or a truncated one"),
    ("a whole module", saved(nn.GRU(2, 3)), "a whole pickled nn.Module"),
    ("a bad step", saved(good_checkpoint(step="5")), r"has step str '5'; expected an int"),
    ("a negative step", saved(good_checkpoint(step=-1)), "has step int -1"),
])
def test_load_checkpoint_says_what_the_file_is_and_changes_nothing(tmp_path, label, content,
                                                                   match):
    path = tmp_path / "c.pt"
    path.write_bytes(content)
    model = gru()
    with torch.no_grad():
        model.weight_hh_l0.add_(1.0)
    optimizer = trained_adam(model, lr=0.01)
    before = state_of(model, optimizer)
    with pytest.raises(ValueError, match=match) as error:
        checkpoints.load_checkpoint(path, model, optimizer)
    assert "c.pt" in str(error.value) and "expected" in str(error.value)
    assert_same_state(before, state_of(model, optimizer))


def test_a_stream_not_rewound_gets_a_hint_and_keeps_its_position():
    buffer = io.BytesIO()
    checkpoints.save_checkpoint(buffer, gru(), step=3)
    end = buffer.tell()
    with pytest.raises(ValueError, match=r"rewind it: file.seek\(0\)"):
        checkpoints.load_checkpoint(buffer, gru())
    assert buffer.tell() == end
    buffer.seek(0)
    assert checkpoints.load_checkpoint(buffer, gru()) == 3


def test_an_optimizer_state_that_does_not_fit_is_refused_before_loading():
    model = gru()
    optimizer = trained_adam(model, lr=0.01)
    before = state_of(model, optimizer)
    sgd = torch.optim.SGD(gru().parameters(), lr=0.1, momentum=0.9)
    for wrong in ({"model": gru().state_dict(), "step": 1, "optimizer": sgd.state_dict()},
                  {"model": gru().state_dict(), "step": 1, "optimizer": [1, 2]}):
        with pytest.raises(ValueError, match="does not fit optimizer"):
            checkpoints.load_checkpoint(io.BytesIO(saved(wrong)), model, optimizer)
        assert_same_state(before, state_of(model, optimizer))


def test_save_checkpoint_file_errors(tmp_path):
    model = gru()
    with pytest.raises(FileNotFoundError, match="does not exist; expected a path in an"):
        checkpoints.save_checkpoint(tmp_path / "missing" / "c.pt", model)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        checkpoints.save_checkpoint(tmp_path, model)
    with open(tmp_path / "t.txt", "w") as text, pytest.raises(TypeError, match="text-mode"):
        checkpoints.save_checkpoint(text, model)
    (tmp_path / "r.pt").write_bytes(b"")
    with open(tmp_path / "r.pt", "rb") as read_only, \
            pytest.raises(ValueError, match="must be open for writing"):
        checkpoints.save_checkpoint(read_only, model)
    assert (tmp_path / "r.pt").read_bytes() == b"" and not (tmp_path / "missing").exists()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoints.load_checkpoint(tmp_path / "nope.pt", model)


def test_a_numpy_lr_is_saved_as_a_number_that_loads():
    model = gru()
    optimizer = trained_adam(model, lr=np.float64(0.05))
    buffer = io.BytesIO()
    checkpoints.save_checkpoint(buffer, model, optimizer, step=2)
    buffer.seek(0)
    payload = torch.load(buffer, weights_only=True)  # the raw file: no NumPy inside
    assert type(payload["optimizer"]["param_groups"][0]["lr"]) is float
    buffer.seek(0)
    other = torch.optim.Adam(gru().parameters(), lr=1.0)
    assert checkpoints.load_checkpoint(buffer, gru(), other) == 2
    assert other.param_groups[0]["lr"] == 0.05


def test_load_into_bidirectional_refuses_sources_without_real_values():
    target = nn.GRU(3, 4, bidirectional=True)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    source = nn.GRU(3, 4).state_dict()
    for bad, error in (({k: v.to("meta") for k, v in source.items()}, ValueError),
                       ({k: v.to(torch.complex64) for k, v in source.items()}, TypeError)):
        with pytest.raises(error, match="source"):
            checkpoints.load_into_bidirectional(target, bad)
    assert all(torch.equal(v, before[k]) for k, v in target.state_dict().items())


# --- training and stepping: all the data first, non-finite losses refused -----------------

def stream_setup(initial_state="zeros"):
    model = seeded(lambda: streams.StreamTagger(4, 5, 4, dtype=F64,
                                                initial_state=initial_state))
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(4, (12, 3), generator=generator)
    labels = streams.delayed_labels(tokens, 2)
    return model, tokens, labels, torch.optim.Adam(model.parameters(), lr=0.05)


@pytest.mark.parametrize(("which", "value", "match"), [
    ("tokens", 4, r"tokens must lie in \[0, 4\)"),
    ("tokens", -1, r"tokens must lie in \[0, 4\)"),
    ("labels", 4, "labels must be < 4"),
    ("labels", -3, "labels must be class indices >= 0"),
])
def test_tbptt_epoch_checks_the_last_chunk_before_training_the_first(which, value, match):
    model, tokens, labels, optimizer = stream_setup("random")
    model.eval()
    data_ = {"tokens": tokens, "labels": labels}
    data_[which] = data_[which].clone()
    data_[which][-1, -1] = value  # in the last chunk
    before, rng = state_of(model, optimizer), torch.get_rng_state()
    with pytest.raises(ValueError, match=match):
        streams.tbptt_epoch(model, data_["tokens"], data_["labels"], chunk=4,
                            optimizer=optimizer, max_norm=1.0)
    assert_same_state(before, state_of(model, optimizer))  # eval mode kept too
    assert torch.equal(torch.get_rng_state(), rng)


class PlainStreamModel(nn.Module):
    """A stream model tbptt_epoch knows nothing about: checked by a dry run."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(4, 5, dtype=F64)
        self.out = nn.Linear(5, 3, dtype=F64)

    def forward(self, tokens, state=None):
        features, state = self.rnn(F.one_hot(tokens, 4).to(F64), state)
        return self.out(features), state


def test_tbptt_epoch_dry_runs_a_model_it_does_not_know():
    model = seeded(PlainStreamModel)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    tokens = torch.randint(4, (12, 3), generator=torch.Generator().manual_seed(1))
    labels = streams.delayed_labels(tokens, 1).clamp(max=2)
    before = state_of(model, optimizer)
    bad_tokens = tokens.clone()
    bad_tokens[-1, 0] = 7  # one_hot(7, 4) fails in the last chunk only
    with pytest.raises(ValueError, match="tokens: the model cannot run on the chunk at step 8"):
        streams.tbptt_epoch(model, bad_tokens, labels, chunk=4, optimizer=optimizer,
                            max_norm=1.0)
    bad_labels = labels.clone()
    bad_labels[-1, 0] = 3  # the model has 3 classes
    with pytest.raises(ValueError, match="labels must be < 3"):
        streams.tbptt_epoch(model, tokens, bad_labels, chunk=4, optimizer=optimizer,
                            max_norm=1.0)
    assert_same_state(before, state_of(model, optimizer))
    result = streams.tbptt_epoch(model, tokens, labels, chunk=4, optimizer=optimizer,
                                 max_norm=1.0)
    assert len(result.losses) == 3


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_clipped_step_refuses_a_non_finite_loss_before_stepping(value):
    model = seeded(lambda: nn.Linear(3, 2, dtype=F64))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3, dtype=F64)).sum().backward()
    optimizer.step()  # momentum and a .grad to keep
    before = state_of(model, optimizer)
    loss = model(torch.ones(4, 3, dtype=F64)).pow(2).mean() * value
    with pytest.raises(FloatingPointError, match="before its step; nothing was changed"):
        streams.clipped_step(loss, optimizer, 1.0)
    assert_same_state(before, state_of(model, optimizer))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def fit_setup():
    model = seeded(lambda: training.SequenceTagger(4, 5, 4))
    task = data.shifted_copy(6, 5, 4, 0)
    model.rnn.weight_hh_l0.grad = torch.zeros_like(model.rnn.weight_hh_l0)
    model.head.eval()
    return model, task.x, task.y


@pytest.mark.parametrize("lr", [1e38, 3.3e38])  # below float32's max, but 10 lr is not
def test_fit_refuses_an_lr_whose_first_adam_step_overflows(lr):
    model, x, y = fit_setup()
    before = state_of(model)
    with pytest.raises(ValueError, match=r"lr must be at most 3.4e\+37 \(Adam's first step"):
        training.fit(model, x, y, epochs=1, lr=lr)
    assert_same_state(before, state_of(model))


def test_fit_refuses_an_lr_that_its_optimizer_would_ignore():
    model, x, y = fit_setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = state_of(model, optimizer)
    with pytest.raises(ValueError, match=r"either optimizer or lr, not both .* got lr=5.0"):
        training.fit(model, x, y, epochs=1, optimizer=optimizer, lr=5.0)
    assert_same_state(before, state_of(model, optimizer))
    training.fit(model, x, y, epochs=1, optimizer=optimizer)  # without lr: fine
    assert training.DEFAULT_LR == 1e-2


# --- the silent wrong results ---------------------------------------------------------

def test_ngram_keys_never_wrap():
    """Windows of 12 characters: 47**12 > 2**63. This window's int64 key wrapped onto the
    key of twelve 'a's, so an unseen window got the prediction of a seen one."""
    wraps = [7, 21, 33, 4, 41, 43, 23, 16, 26, 40, 3, 25]  # its key is 2**64 exactly
    assert sum(d * 47 ** (11 - i) for i, d in enumerate(wraps)) == 2**64
    train = torch.tensor([[0] * 12, [1] * 12])
    y = torch.full((2, 12), -100)
    y[0, 5], y[1] = 1, 0
    spacer = corpus.NgramSpacer(6, 6).fit(train, y)
    got = spacer.predict(torch.tensor([wraps, [0] * 12]))
    assert got[0, 5] == 0  # unseen everywhere: the majority, 0
    assert got[1, 5] == 1  # the seen window keeps its vote


def test_ngram_keys_agree_between_narrow_and_wide_windows():
    """The two-part keys give what the one-int64 keys give, on windows both can hold."""
    task = corpus.space_tagging(["the cat sat on the mat and the dog ran to a cat"], 8)
    narrow = corpus._window_keys(task.tokens, 3, 2)
    wide = corpus._window_keys(task.tokens, 6, 6)
    assert wide.shape == (*task.tokens.shape, 2) and narrow.dim() == 2
    flat = wide.reshape(-1, 2)
    # distinct windows have distinct keys: as many as distinct tuples of tokens
    padded = torch.nn.functional.pad(task.tokens, (5, 6), value=corpus.V)
    windows = {tuple(padded[n, t:t + 12].tolist()) for n in range(padded.shape[0])
               for t in range(task.tokens.shape[1])}
    assert len(torch.unique(flat, dim=0)) == len(windows)


def test_ablation_make_refuses_kernels_it_cannot_run():
    gru_ = nn.GRU(3, 4, bidirectional=True)
    for bad in ("pure", None, fast.Kernels(), nn.GRU):
        with pytest.raises(TypeError, match="kernels must be fast.Kernels or a subclass"):
            ablation.make(gru_, bad)
    with pytest.raises(ValueError, match="gru must be bidirectional"):
        ablation.make(nn.GRU(3, 4), fast.Kernels)
    assert ablation.make(gru_, ablation.FreshTensors).kernels is ablation.FreshTensors


def test_start_state_refuses_a_bool_batch_size():
    model = streams.StreamTagger(4, 5, 4, initial_state="random")
    with pytest.raises(TypeError, match="batch_size must be an int, got bool True"):
        model.start_state(True)
    assert model.start_state(3).shape == (1, 3, 5)


def test_check_configuration_leaves_the_global_rngs_alone():
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    states = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    config, largest = sweep.check_configuration(3)
    assert largest <= 1e-12
    assert random.getstate() == states[0] and np.array_equal(np.random.get_state()[1],
                                                             states[1])
    assert torch.equal(torch.get_rng_state(), states[2])
    assert sweep.check_configuration(3) == (config, largest)  # and it is reproducible


def test_expect_error_explains_an_invalid_regular_expression():
    with pytest.raises(ValueError, match=r"match must be a valid regular expression, got '\('"):
        with expect.expect_error(ValueError, match="("):
            raise ValueError("x")
    with pytest.raises(ValueError, match="match must be a valid regular expression"):
        with expect.expect_warning(UserWarning, match="[a-"):
            pass


def test_learned_initial_state_lives_on_its_rnns_device():
    state = streams.LearnedInitialState(nn.LSTM(3, 4, device="meta"))
    assert {p.device.type for p in state.parameters()} == {"meta"}


def test_stray_values_in_tags_are_refused():
    tokens = corpus.encode("abcd")
    with pytest.raises(ValueError, match="spaces must hold only 0, 1, -100, got 2"):
        corpus.insert_spaces(tokens, torch.tensor([0, 2, 0, 0]))
    y = torch.tensor([[0, 1, -100]])
    with pytest.raises(ValueError, match="prediction must hold only 0, 1, got -100"):
        corpus.space_scores(torch.tensor([[-100, 1, 0]]), y)  # no answer where y has one
    with pytest.raises(ValueError, match="prediction must hold only 0, 1, -100, got 2"):
        corpus.space_scores(torch.tensor([[0, 1, 2]]), y)
    with pytest.raises(ValueError, match="y must hold only 0, 1, -100, got 3"):
        corpus.space_scores(torch.tensor([[0, 1, 1]]), torch.tensor([[0, 3, 1]]))


def test_small_argument_fixes():
    with pytest.raises(ValueError, match="fill must be an int in"):
        streams.delayed_labels(torch.zeros(3, 2, dtype=torch.long), 1, fill=2**63)
    with pytest.raises(ValueError, match="module must be a dotted module name"):
        corpus.load_topics(".topics")
    with pytest.raises(ValueError, match=r"threads must be an int in \[1, 1024\]"):
        benchmarking.time_interleaved({"a": lambda: None}, 1, 10**9)
    with pytest.raises(ValueError, match="device must name a device"):
        fast.FastBiGRU(3, 4, device="gpu")
    with pytest.raises(ValueError, match="gru must be bidirectional"):
        fast.FastBiGRU.from_gru(nn.GRU(3, 4))
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        sweep.make_bidirectional("gru", 3, 4, nonlinearity="relu")
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        sweep.random_state(nn.GRU(3, 4), 2, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="frozen_mask must be on the device of frozen_values"):
        partial_freezing.FrozenEntries(torch.ones(2, dtype=torch.bool, device="meta"),
                                       torch.zeros(2))


# --- every model refuses the same things the same way ---------------------------------

class FastTagger(nn.Module):
    """FastBiGRU and a head: a tagger (N, T, V) -> (N, T, C) for fit."""

    def __init__(self):
        super().__init__()
        self.rnn = fast.FastBiGRU(4, 3, batch_first=True)
        self.head = nn.Linear(6, 4)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


MODELS = {
    "SequenceTagger": (lambda: training.SequenceTagger(4, 3, 4),
                       lambda: torch.zeros(2, 5, 4), "x"),
    "DelayedTagger": (lambda: delayed.DelayedTagger(4, 3, 4, delay=1),
                      lambda: torch.zeros(2, 5, 4), "x"),
    "StreamTagger": (lambda: streams.StreamTagger(4, 3, 4),
                     lambda: torch.zeros(5, 2, dtype=torch.long), "tokens"),
    "FastBiGRU": (lambda: fast.FastBiGRU(4, 3), lambda: torch.zeros(5, 2, 4), "input"),
    "LoopBiGRU": (lambda: fast.LoopBiGRU(4, 3), lambda: torch.zeros(5, 2, 4), "input"),
    "BulkLoopBiGRU": (lambda: fast.BulkLoopBiGRU(4, 3), lambda: torch.zeros(5, 2, 4), "input"),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_refuses_a_wrong_device_input_in_the_same_words(name):
    make, example, arg = MODELS[name]
    model = seeded(make)
    out = model(example())  # the valid input runs
    assert out is not None
    with pytest.raises(ValueError) as error:
        model(example().to("meta"))
    assert str(error.value) == (f"{arg} must be on the device of the model's parameters "
                                f"(cpu), got meta")


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_refuses_an_input_whose_activations_pass_the_cap(name):
    make, example, arg = MODELS[name]
    model = seeded(make)
    x = example()
    time_dim = 1 if name in ("SequenceTagger", "DelayedTagger") else 0
    shape = list(x.shape)
    shape[time_dim] = CAP  # a stride-0 view: no memory until a model allocates for it
    huge = x.narrow(time_dim, 0, 1).expand(*shape)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=CAP_TEXT) as error:
        model(huge)
    assert arg in str(error.value) and time.perf_counter() - start < 5


@pytest.mark.parametrize(("name", "make"), [
    ("SequenceTagger", lambda: training.SequenceTagger(4, 3, 4)),
    ("DelayedTagger", lambda: delayed.DelayedTagger(4, 3, 4, delay=1)),
    ("FastBiGRU tagger", FastTagger),
])
def test_every_model_refuses_a_nan_loss_step_in_fit_and_in_clipped_step(name, make):
    model = seeded(make)
    task = data.shifted_copy(4, 5, 4, 0)
    with torch.no_grad():
        model.head.bias.fill_(math.nan)  # every loss is NaN
    before = state_of(model)
    with pytest.raises(FloatingPointError, match="before its step"):
        training.fit(model, task.x, task.y, epochs=1)
    assert_same_state(before, state_of(model))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = F.cross_entropy(model(task.x).flatten(0, 1), task.y.flatten(), ignore_index=-100)
    before = state_of(model, optimizer)
    with pytest.raises(FloatingPointError, match="before its step"):
        streams.clipped_step(loss, optimizer, 1.0)
    assert_same_state(before, state_of(model, optimizer))


def test_stream_tagger_refuses_a_nan_loss_step_in_tbptt():
    model, tokens, labels, optimizer = stream_setup()
    with torch.no_grad():
        model.head.bias.fill_(math.nan)
    before = state_of(model, optimizer)
    with pytest.raises(FloatingPointError, match="before its step"):
        streams.tbptt_epoch(model, tokens, labels, chunk=4, optimizer=optimizer, max_norm=1.0)
    assert_same_state(before, state_of(model, optimizer))
