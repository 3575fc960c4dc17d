"""Tests of birnn_utils.freezing: name globs, the parameter table, bit-for-bit checks."""

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from birnn_utils.freezing import (
    ParameterRow,
    ParameterTable,
    assert_unchanged,
    changed_parameters,
    freeze,
    snapshot,
    trainable_parameters,
    unfreeze,
)


class Tagger(nn.Module):
    """A bidirectional GRU with a linear head: parameters ``rnn.*`` and ``head.*``."""

    def __init__(self, num_layers: int = 1, bias: bool = True, hidden: int = 3):
        super().__init__()
        self.rnn = nn.GRU(2, hidden, num_layers=num_layers, bias=bias, bidirectional=True)
        self.head = nn.Linear(2 * hidden, 4)

    def forward(self, x):  # (T, B, 2) -> (T, B, 4)
        return self.head(self.rnn(x)[0])


def flags(module):
    return {n: p.requires_grad for n, p in module.named_parameters()}


def sgd_step(model, seed=0):
    """One SGD step (no momentum, no weight decay) on random data; frozen grads stay None."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(5, 2, 2, generator=g)
    y = torch.randint(0, 4, (5, 2), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    opt.zero_grad()
    nn.functional.cross_entropy(model(x).reshape(-1, 4), y.reshape(-1)).backward()
    opt.step()


# ---------------------------------------------------------------- freeze / unfreeze


def test_freeze_reverse_direction_returns_sorted_changed_names():
    torch.manual_seed(0)
    model = Tagger()
    changed = freeze(model, "*_reverse")
    expected = sorted(n for n, _ in model.rnn.named_parameters() if n.endswith("_reverse"))
    assert changed == ["rnn." + n for n in expected]
    assert len(changed) == 4
    for name, p in model.named_parameters():
        assert p.requires_grad == (not name.endswith("_reverse"))
    # Already frozen: nothing changes the second time.
    assert freeze(model, "*_reverse") == []


def test_no_pattern_means_all_and_several_patterns_union():
    model = Tagger()
    assert freeze(model) == sorted(n for n, _ in model.named_parameters())
    assert unfreeze(model, "head.weight", "rnn.bias_*") == [
        "head.weight",
        "rnn.bias_hh_l0",
        "rnn.bias_hh_l0_reverse",
        "rnn.bias_ih_l0",
        "rnn.bias_ih_l0_reverse",
    ]
    assert trainable_parameters(model).trainable_names == [
        "rnn.bias_ih_l0",
        "rnn.bias_hh_l0",
        "rnn.bias_ih_l0_reverse",
        "rnn.bias_hh_l0_reverse",
        "head.weight",
    ]


def test_matching_is_case_sensitive_and_whole_name():
    model = Tagger()
    with pytest.raises(ValueError, match=r"\['HEAD\.\*'\] match no parameter"):
        freeze(model, "HEAD.*")
    with pytest.raises(ValueError, match=r"\['head'\] match no parameter"):
        freeze(model, "head")  # a module name, not a parameter name: use "head.*"
    assert all(flags(model).values())  # the refused calls froze nothing
    assert freeze(model, "head.*") == ["head.bias", "head.weight"]


def test_shared_parameter_is_listed_once():
    lin = nn.Linear(2, 2)
    holder = nn.Module()
    holder.a, holder.b = lin, lin
    assert freeze(holder) == ["a.bias", "a.weight"]
    assert not lin.weight.requires_grad


@pytest.mark.parametrize("func", [freeze, unfreeze])
@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("nope",), ValueError, "match no parameter"),
        (("head.*", "nope"), ValueError, "'nope'"),  # one good pattern does not help
        ((["head.*"],), TypeError, "list"),
        ((3,), TypeError, "int"),
        ((None,), TypeError, "NoneType"),
    ],
)
def test_bad_patterns_raise_and_change_nothing(func, args, error, message):
    model = Tagger()
    freeze(model, "rnn.*_l0")  # a mixed starting state
    before = flags(model)
    with pytest.raises(error, match=message) as info:
        func(model, *args)
    assert flags(model) == before
    if error is ValueError:  # the message lists the names that exist
        assert "head.weight" in str(info.value)


@pytest.mark.parametrize("func", [freeze, unfreeze, trainable_parameters])
def test_non_module_is_a_type_error(func):
    with pytest.raises(TypeError, match="module must be an nn.Module, got Tensor"):
        func(torch.zeros(2))


# ---------------------------------------------------------------- hypothesis properties

# (glob, independent predicate over names): the reference does not use fnmatch.
PATTERNS = [
    ("*", lambda n: True),
    ("*_reverse", lambda n: n.endswith("_reverse")),
    ("rnn.*", lambda n: n.startswith("rnn.")),
    ("head.*", lambda n: n.startswith("head.")),
    ("*bias*", lambda n: "bias" in n),
    ("*.weight_?h_l0", lambda n: n in ("rnn.weight_ih_l0", "rnn.weight_hh_l0")),
    ("rnn.*_l1*", lambda n: n.startswith("rnn.") and "_l1" in n),
    ("head.weight", lambda n: n == "head.weight"),
]


@st.composite
def models_with_flags(draw):
    model = Tagger(
        num_layers=draw(st.integers(1, 3)),
        bias=draw(st.booleans()),
        hidden=draw(st.integers(1, 4)),
    )
    names = [n for n, _ in model.named_parameters()]
    frozen = draw(st.lists(st.sampled_from(names), unique=True))
    for name, p in model.named_parameters():
        p.requires_grad_(name not in frozen)
    return model


@settings(max_examples=40)
@given(model=models_with_flags(), choice=st.sampled_from(PATTERNS))
def test_freeze_changes_exactly_the_matching_trainable_names(model, choice):
    pattern, matches = choice
    names = [n for n, _ in model.named_parameters()]
    before = flags(model)
    if not any(matches(n) for n in names):
        with pytest.raises(ValueError, match="match no parameter"):
            freeze(model, pattern)
        assert flags(model) == before
        return
    changed = freeze(model, pattern)
    assert changed == sorted(n for n in names if matches(n) and before[n])
    assert flags(model) == {n: before[n] and not matches(n) for n in names}
    # Unfreezing exactly the returned names restores the original flags.
    if changed:
        assert unfreeze(model, *changed) == changed
    assert flags(model) == before


@settings(max_examples=30)
@given(num_layers=st.integers(1, 3), choice=st.sampled_from(PATTERNS))
def test_freeze_then_unfreeze_same_pattern_restores_all_trainable(num_layers, choice):
    pattern, matches = choice
    model = Tagger(num_layers=num_layers)
    # The reference predicate says whether the pattern exists at this depth ("*_l1*" needs
    # two layers); only then may freeze succeed, and then it changes every match.
    expected = sorted(n for n, _ in model.named_parameters() if matches(n))
    if not expected:
        with pytest.raises(ValueError, match="match no parameter"):
            freeze(model, pattern)
        return
    changed = freeze(model, pattern)
    assert changed == expected
    assert unfreeze(model, pattern) == changed
    assert all(flags(model).values())


@settings(max_examples=25)
@given(model=models_with_flags(), seed=st.integers(0, 2**16))
def test_training_step_leaves_frozen_bit_identical_and_moves_trainable(model, seed):
    frozen = trainable_parameters(model).frozen_names
    trainable = trainable_parameters(model).trainable_names
    assume(trainable)  # with nothing to train there is no backward pass to take
    before = snapshot(model)
    if frozen:
        with assert_unchanged(model) as watched:
            sgd_step(model, seed)
        assert watched == frozen
    else:
        sgd_step(model, seed)
    # Autograd reaches every trainable parameter here, so each one moves.
    assert changed_parameters(before, model) == sorted(trainable)


# ---------------------------------------------------------------- the parameter table


def test_table_rows_and_totals_match_the_module():
    model = Tagger(hidden=3)
    freeze(model, "*_reverse")
    table = trainable_parameters(model)
    assert isinstance(table, ParameterTable)
    params = dict(model.named_parameters())
    assert [r.name for r in table.rows] == list(params)
    for row in table.rows:
        assert row.shape == tuple(params[row.name].shape)
        assert row.count == params[row.name].numel()
        assert row.trainable == params[row.name].requires_grad
    assert table.total_count == sum(p.numel() for p in model.parameters())
    assert table.trainable_count == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert table.frozen_count + table.trainable_count == table.total_count
    assert table.frozen_count == sum(p.numel() for n, p in params.items() if "_reverse" in n)


def test_table_text_is_aligned_and_html_is_a_table():
    model = Tagger(hidden=3)
    freeze(model, "head.*")
    table = trainable_parameters(model)
    lines = str(table).splitlines()
    assert repr(table) == str(table)
    assert lines[0].split() == ["name", "shape", "count", "trainable"]
    assert len(lines) == len(table.rows) + 4  # header, rule, rows, rule, totals
    # Aligned: every row's count column ends where the header's does.
    end = lines[0].index("count") + len("count")
    for line, row in zip(lines[2:-2], table.rows, strict=True):
        assert line.startswith(row.name)
        assert line[:end].endswith(f"{row.count:,}")
        assert line.endswith("no" if row.name.startswith("head.") else "yes")
    total = table.total_count
    frozen = sum(p.numel() for p in model.head.parameters())
    assert lines[-1] == f"{total - frozen:,} trainable / {frozen:,} frozen / {total:,} total"
    page = table._repr_html_()
    assert page.startswith("<table>") and page.endswith("</table>")
    assert page.count("<tr>") == len(table.rows) + 2
    assert page == trainable_parameters(model)._repr_html_()  # deterministic


def test_html_escapes_names():
    holder = nn.Module()
    holder.register_parameter("a<b>", nn.Parameter(torch.zeros(1)))
    assert "a&lt;b&gt;" in trainable_parameters(holder)._repr_html_()


# ---------------------------------------------------------------- assert_unchanged / snapshot


def test_assert_unchanged_names_every_changed_parameter_with_its_change():
    model = Tagger()
    freeze(model, "*_reverse", "head.bias")
    with pytest.raises(AssertionError) as info:
        with assert_unchanged(model):
            sgd_step(model)  # fine on its own: frozen grads are None
            with torch.no_grad():
                model.rnn.weight_hh_l0_reverse.add_(0.25)
                model.head.bias[0] = model.head.bias[0] + 1.0
    message = str(info.value)
    assert "2 watched parameter(s) changed" in message
    assert "rnn.weight_hh_l0_reverse (max abs change 0.25)" in message
    assert "head.bias (max abs change 1)" in message
    assert "rnn.weight_ih_l0_reverse" not in message


def test_assert_unchanged_explicit_names_and_bitwise_sign_of_zero():
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.bias.zero_()
    with assert_unchanged(model, ["bias"]) as watched:
        model.weight.data.mul_(2)  # not watched
    assert watched == ["bias"]
    with pytest.raises(AssertionError, match="bias"):
        with assert_unchanged(model, names=("bias",)):
            model.bias.data.neg_()  # 0.0 -> -0.0: equal as numbers, not bit for bit


def test_nan_that_stays_nan_is_unchanged():
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.bias.fill_(float("nan"))
    with assert_unchanged(model, ["bias"]):
        pass


def test_replaced_or_removed_parameter_is_reported():
    model = nn.Linear(2, 1)
    before = snapshot(model)
    model.weight = nn.Parameter(torch.zeros(1, 3))  # new shape
    assert changed_parameters(before, model) == ["weight"]
    del model.bias
    assert changed_parameters(before, model) == ["bias", "weight"]
    model = nn.Linear(2, 1)
    with pytest.raises(AssertionError, match="weight \\(max abs change nan\\)"):
        with assert_unchanged(model, ["weight"]):
            model.weight = nn.Parameter(torch.zeros(1, 3))
    with pytest.raises(AssertionError, match="bias \\(no longer a parameter\\)"):
        with assert_unchanged(model, ["bias"]):
            model.register_parameter("bias", None)


def test_exception_inside_block_propagates_unmasked():
    model = nn.Linear(2, 1)
    freeze(model)
    with pytest.raises(KeyError):
        with assert_unchanged(model):
            model.weight.data.add_(1)
            raise KeyError("from the block")


def test_snapshot_is_a_detached_copy():
    model = nn.Linear(2, 1)
    before = snapshot(model)
    assert set(before) == {"weight", "bias"}
    assert not before["weight"].requires_grad
    with torch.no_grad():
        model.weight.add_(1)
    assert not torch.equal(before["weight"], model.weight)
    assert snapshot(model, ["bias"]).keys() == {"bias"}


@pytest.mark.parametrize(
    ("names", "error", "message"),
    [
        (["weight", "wieght"], ValueError, "unknown parameter name\\(s\\) \\['wieght'\\]"),
        ("weight", TypeError, "iterable of parameter names"),
        ([0], TypeError, "must be strings"),
        (5, TypeError, "int"),
    ],
)
def test_assert_unchanged_bad_names(names, error, message):
    model = nn.Linear(2, 1)
    with pytest.raises(error, match=message):
        with assert_unchanged(model, names):
            pass  # pragma: no cover - never entered


def test_assert_unchanged_needs_something_to_watch():
    with pytest.raises(ValueError, match="no frozen parameter"):
        with assert_unchanged(nn.Linear(2, 1)):
            pass  # pragma: no cover - never entered
    with pytest.raises(TypeError, match="module must be an nn.Module"):
        with assert_unchanged("model"):
            pass  # pragma: no cover - never entered


def test_changed_parameters_bad_inputs():
    model = nn.Linear(2, 1)
    with pytest.raises(TypeError, match="dict returned by snapshot"):
        changed_parameters(list(model.parameters()), model)
    with pytest.raises(TypeError, match="module must be an nn.Module"):
        changed_parameters(snapshot(model), {"weight": model.weight})
    with pytest.raises(TypeError, match="module must be an nn.Module"):
        snapshot([model])


def test_changed_parameters_refuses_a_dict_that_snapshot_did_not_make():
    model = nn.GRU(2, 3)
    with pytest.raises(TypeError, match=r"before must map parameter names \(str\) to tensors"):
        changed_parameters({"weight_ih_l0": 1.0}, model)  # used to be an AttributeError
    with pytest.raises(TypeError, match="got int 0: "):
        changed_parameters({0: model.weight_ih_l0}, model)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((3, (2,), 2, True), TypeError, "name must be a str, got int 3"),
        (("w", [2], 2, True), TypeError, r"shape must be a tuple of ints, got list \[2\]"),
        (("w", (True,), 1, True), TypeError, "shape must be a tuple of ints"),
        (("w", (-2,), -2, True), ValueError, "sizes >= 0"),
        (("w", (2, 3), 5, True), ValueError, r"number of elements of shape \(2, 3\) \(6\), got 5"),
        (("w", (2,), 2.0, True), TypeError, "count must be an int, got float"),
        (("w", (2,), 2, "yes"), TypeError, "trainable must be a bool, got str 'yes'"),
    ],
)
def test_parameter_row_checks_its_fields(args, error, message):
    with pytest.raises(error, match=message):
        ParameterRow(*args)


def test_parameter_table_checks_its_rows():
    assert ParameterRow("w", torch.Size([2, 3]), 6, True).shape == (2, 3)
    with pytest.raises(TypeError, match="rows must be an iterable of ParameterRow, got int"):
        ParameterTable(3)
    with pytest.raises(TypeError, match=r"rows must hold ParameterRow objects, got tuple"):
        ParameterTable([("w", (2,), 2, True)])
