"""Tests of birnn_utils.checkpoints: key diffs, prefixes, uni -> bi loading, checkpoints."""

import io

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from birnn_utils.checkpoints import (
    add_prefix,
    diff_state_dicts,
    load_checkpoint,
    load_into_bidirectional,
    save_checkpoint,
    strip_prefix,
)

KINDS = [nn.RNN, nn.GRU, nn.LSTM]


def clone_state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def same_state(module, state):
    now = module.state_dict()
    return now.keys() == state.keys() and all(torch.equal(now[k], state[k]) for k in now)


# ---------------------------------------------------------------- diff_state_dicts


@pytest.mark.parametrize("kind", KINDS)
def test_diff_is_empty_exactly_when_load_state_dict_succeeds(kind):
    torch.manual_seed(0)
    a, b = kind(3, 4), kind(3, 4)
    assert diff_state_dicts(a.state_dict(), b.state_dict()) == {
        "missing": [], "unexpected": [], "shape_mismatch": []}
    a.load_state_dict(b.state_dict())  # PyTorch agrees: no error


def test_diff_lists_what_load_state_dict_complains_about():
    torch.manual_seed(0)
    uni, bi, wide = nn.GRU(3, 4), nn.GRU(3, 4, bidirectional=True), nn.GRU(3, 5)
    d = diff_state_dicts(bi.state_dict(), uni.state_dict())
    assert d["missing"] == sorted(k for k in bi.state_dict() if k.endswith("_reverse"))
    assert d["unexpected"] == [] and d["shape_mismatch"] == []
    with pytest.raises(RuntimeError) as err:
        bi.load_state_dict(uni.state_dict())
    for key in d["missing"]:
        assert key in str(err.value)
    d = diff_state_dicts(wide.state_dict(), uni.state_dict())
    assert [k for k, _, _ in d["shape_mismatch"]] == sorted(uni.state_dict())
    assert ("weight_hh_l0", (15, 5), (12, 4)) in d["shape_mismatch"]


@given(st.sets(st.text(min_size=1, max_size=5), max_size=6),
       st.sets(st.text(min_size=1, max_size=5), max_size=6))
def test_diff_missing_and_unexpected_are_set_differences(keys_a, keys_b):
    a = {k: torch.zeros(1) for k in keys_a}
    b = {k: torch.zeros(1) for k in keys_b}
    d = diff_state_dicts(a, b)
    assert d["missing"] == sorted(keys_a - keys_b)
    assert d["unexpected"] == sorted(keys_b - keys_a)
    assert d["shape_mismatch"] == []


# ---------------------------------------------------------------- prefixes


def test_strip_prefix_makes_a_dataparallel_checkpoint_load():
    torch.manual_seed(0)
    model = nn.LSTM(3, 4)
    saved = {"module." + k: v.clone() + 1 for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="Unexpected key"):
        model.load_state_dict(saved)
    model.load_state_dict(strip_prefix(saved))
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved["module." + k])


@given(st.dictionaries(st.text(max_size=8), st.integers(0, 3), max_size=6),
       st.text(min_size=1, max_size=4))
def test_add_then_strip_is_the_identity(raw, prefix):
    state = {k: torch.full((n,), float(n)) for k, n in raw.items()}
    back = strip_prefix(add_prefix(state, prefix), prefix)
    assert list(back) == list(state)
    assert all(back[k] is state[k] for k in state)  # same tensors, no copies


def test_strip_prefix_keeps_keys_without_it_and_refuses_collisions():
    t = torch.zeros(1)
    assert list(strip_prefix({"module.a": t, "b": t})) == ["a", "b"]
    with pytest.raises(ValueError, match="two keys"):
        strip_prefix({"module.a": t, "a": t})


# ---------------------------------------------------------------- uni -> bi


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reverse", ["copy", "keep"])
def test_load_into_bidirectional_forward_half_equals_the_unidirectional_model(kind, reverse):
    torch.manual_seed(0)
    uni, bi = kind(3, 4), kind(3, 4, bidirectional=True)
    before = clone_state(bi)
    written = load_into_bidirectional(bi, uni.state_dict(), reverse=reverse)
    x = torch.randn(6, 2, 3)
    out_uni, out_bi = uni(x)[0], bi(x)[0]
    torch.testing.assert_close(out_bi[..., :4], out_uni, rtol=0, atol=0)
    rev = [k for k in before if k.endswith("_reverse")]
    if reverse == "copy":
        assert written == sorted(before)
        # The reverse direction with the forward weights = the uni model on reversed input.
        torch.testing.assert_close(out_bi[..., 4:], uni(x.flip(0))[0].flip(0))
        assert all(bi.state_dict()[k].data_ptr() != uni.state_dict()[k[:-8]].data_ptr()
                   for k in rev)  # copies, not shared storage
    else:
        assert written == sorted(k for k in before if not k.endswith("_reverse"))
        assert all(torch.equal(bi.state_dict()[k], before[k]) for k in rev)


BAD_SOURCES = [
    ("a dict of lists", lambda: {"weight_ih_l0": [1.0]}, TypeError),
    ("a list", lambda: [torch.zeros(1)], TypeError),
    ("a wider GRU", lambda: nn.GRU(3, 5).state_dict(), ValueError),
    ("an LSTM", lambda: nn.LSTM(3, 4).state_dict(), ValueError),
    ("a bidirectional GRU", lambda: nn.GRU(3, 4, bidirectional=True).state_dict(), ValueError),
    ("missing a key", lambda: {k: v for k, v in nn.GRU(3, 4).state_dict().items()
                               if k != "bias_hh_l0"}, ValueError),
]


@pytest.mark.parametrize("label, make, error", BAD_SOURCES, ids=[b[0] for b in BAD_SOURCES])
def test_load_into_bidirectional_bad_source_changes_nothing(label, make, error):
    torch.manual_seed(0)
    bi = nn.GRU(3, 4, bidirectional=True)
    before = clone_state(bi)
    with pytest.raises(error):
        load_into_bidirectional(bi, make())
    assert same_state(bi, before)


def test_load_into_bidirectional_reports_the_stacked_layer_shape():
    torch.manual_seed(0)
    bi = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    before = clone_state(bi)
    with pytest.raises(ValueError, match=r"weight_ih_l1.*\(12, 4\).*\(12, 8\)"):
        load_into_bidirectional(bi, nn.GRU(3, 4, num_layers=2).state_dict())
    assert same_state(bi, before)


@given(st.one_of(st.none(), st.integers(), st.text(), st.booleans(),
                 st.sampled_from(["Copy", "share", ""])))
def test_load_into_bidirectional_bad_reverse_or_target_changes_nothing(bad):
    torch.manual_seed(0)
    bi, uni = nn.GRU(3, 4, bidirectional=True), nn.GRU(3, 4)
    before = clone_state(bi)
    with pytest.raises((TypeError, ValueError), match="reverse"):
        load_into_bidirectional(bi, uni.state_dict(), reverse=bad)
    assert same_state(bi, before)
    with pytest.raises(TypeError, match="target"):
        load_into_bidirectional(bad, uni.state_dict())
    with pytest.raises(ValueError, match="bidirectional=False"):
        load_into_bidirectional(uni, uni.state_dict())


# ---------------------------------------------------------------- checkpoints


def train_steps(model, opt, steps, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(5, 2, 3, generator=g)
        opt.zero_grad()
        model(x)[0].pow(2).mean().backward()
        opt.step()


def test_resuming_from_a_checkpoint_matches_training_straight_through():
    torch.manual_seed(0)
    a = nn.GRU(3, 4)
    b = nn.GRU(3, 4)
    b.load_state_dict(a.state_dict())
    opt_a = torch.optim.Adam(a.parameters(), lr=0.01)
    train_steps(a, opt_a, 3, seed=1)
    buf = io.BytesIO()
    save_checkpoint(buf, a, opt_a, step=3)
    train_steps(a, opt_a, 2, seed=2)
    opt_b = torch.optim.Adam(b.parameters(), lr=0.01)
    buf.seek(0)
    assert load_checkpoint(buf, b, opt_b) == 3
    train_steps(b, opt_b, 2, seed=2)
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_checkpoint_round_trip_through_a_file(tmp_path):
    torch.manual_seed(0)
    a, b = nn.LSTM(3, 4), nn.LSTM(3, 4)
    save_checkpoint(tmp_path / "ck.pt", a)
    assert load_checkpoint(tmp_path / "ck.pt", b) == 0
    assert same_state(b, a.state_dict())


def test_load_checkpoint_mismatch_changes_nothing():
    torch.manual_seed(0)
    buf = io.BytesIO()
    save_checkpoint(buf, nn.GRU(3, 4))
    target = nn.GRU(3, 5)
    before = clone_state(target)
    buf.seek(0)
    with pytest.raises(ValueError, match="does not fit"):
        load_checkpoint(buf, target)
    assert same_state(target, before)
    buf.seek(0)
    with pytest.raises(ValueError, match="no optimizer state"):
        model = nn.GRU(3, 4)
        load_checkpoint(buf, model, torch.optim.SGD(model.parameters(), lr=0.1))
    other = io.BytesIO()
    torch.save({"weights": 1}, other)
    other.seek(0)
    with pytest.raises(ValueError, match="not a checkpoint"):
        load_checkpoint(other, target)


@given(st.one_of(st.none(), st.integers(), st.floats(), st.lists(st.integers(), max_size=2)))
def test_checkpoint_bad_arguments_raise_type_errors(bad):
    model = nn.GRU(3, 4)
    before = clone_state(model)
    with pytest.raises(TypeError, match="file"):
        save_checkpoint(bad, model)
    with pytest.raises(TypeError, match="model"):
        save_checkpoint(io.BytesIO(), bad)
    with pytest.raises(TypeError, match="optimizer"):
        save_checkpoint(io.BytesIO(), model, optimizer=bad if bad is not None else 1)
    with pytest.raises(TypeError, match="file"):
        load_checkpoint(bad, model)
    with pytest.raises(TypeError, match="optimizer"):
        load_checkpoint(io.BytesIO(), model, optimizer=bad if bad is not None else 1)
    with pytest.raises(ValueError, match="step"):
        save_checkpoint(io.BytesIO(), model, step=-1)
    if not isinstance(bad, int):
        with pytest.raises(TypeError, match="step"):
            save_checkpoint(io.BytesIO(), model, step=bad)
    assert same_state(model, before)


@given(st.one_of(st.none(), st.integers(), st.text(), st.just({1: torch.zeros(1)})))
def test_state_dict_helpers_reject_bad_input(bad):
    with pytest.raises(TypeError):
        diff_state_dicts(bad, {})
    with pytest.raises(TypeError):
        strip_prefix(bad)
    with pytest.raises(TypeError):
        add_prefix({"a": torch.zeros(1)}, prefix=bad if not isinstance(bad, str) else 1)
    with pytest.raises(ValueError, match="non-empty"):
        strip_prefix({"a": torch.zeros(1)}, prefix="")
