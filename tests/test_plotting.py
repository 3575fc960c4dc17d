"""Diagrams draw the right artists; curves carry exactly the data given; bad input is refused."""

import matplotlib

matplotlib.use("Agg")

from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from birnn_utils.plotting import (  # noqa: E402
    draw_unrolled_birnn,
    draw_unrolled_rnn,
    plot_grad_norms,
    plot_history,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@dataclass
class FakeHistory:
    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)


def _gids(ax, kind):
    return Counter(p.get_gid() for p in ax.patches if isinstance(p, kind))


def _box_bounds(ax, gid):
    return [p.get_bbox() for p in ax.patches if p.get_gid() == gid]


@settings(max_examples=12)
@given(steps=st.integers(1, 12))
def test_rnn_diagram_counts(steps):
    ax = draw_unrolled_rnn(steps)
    assert _gids(ax, FancyBboxPatch) == {"input": steps, "state": steps, "output": steps,
                                         "initial": 1}
    assert _gids(ax, FancyArrowPatch) == {"arrow-input": steps, "arrow-forward": steps,
                                          "arrow-output": steps}
    labels = [t.get_text() for t in ax.texts]
    assert labels.count("$h_0$") == 1
    for t in range(1, steps + 1):
        assert {f"$x_{{{t}}}$", f"$h_{{{t}}}$", f"$\\hat y_{{{t}}}$"} <= set(labels)
    assert len(labels) == 3 * steps + 1
    assert not ax.axison
    # Recurrent arrows point left to right.
    for arrow in (p for p in ax.patches if p.get_gid() == "arrow-forward"):
        (x0, _), (x1, _) = arrow._posA_posB
        assert x1 > x0


@settings(max_examples=12)
@given(steps=st.integers(1, 12))
def test_birnn_diagram_counts_and_directions(steps):
    ax = draw_unrolled_birnn(steps)
    assert _gids(ax, FancyBboxPatch) == {"input": steps, "forward": steps, "backward": steps,
                                         "output": steps, "initial": 2}
    assert _gids(ax, FancyArrowPatch) == {"arrow-input": 2 * steps, "arrow-output": 2 * steps,
                                          "arrow-forward": steps, "arrow-backward": steps}
    labels = [t.get_text() for t in ax.texts if t.get_gid().endswith("-label")]
    assert [t.get_text() for t in ax.texts if t.get_gid() == "row-name"] == ["forward", "backward"]
    assert len(labels) == 4 * steps + 2
    assert "$h^b_{" + str(steps + 1) + "}$" in labels
    for p in ax.patches:
        if p.get_gid() in ("arrow-forward", "arrow-backward"):
            (x0, _), (x1, _) = p._posA_posB
            assert (x1 > x0) == (p.get_gid() == "arrow-forward")
    # Rows: inputs below forward states below backward states below outputs.
    rows = [np.mean([b.y0 for b in _box_bounds(ax, g)])
            for g in ("input", "forward", "backward", "output")]
    assert rows == sorted(rows)


def test_diagrams_draw_into_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    assert draw_unrolled_rnn(2, ax=left) is left
    assert draw_unrolled_birnn(3, ax=right) is right
    assert len(fig.axes) == 2


@pytest.mark.parametrize("draw", [draw_unrolled_rnn, draw_unrolled_birnn])
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"steps": 0}, ValueError, "between 1 and 12, got 0"),
        ({"steps": 13}, ValueError, "got 13"),
        ({"steps": 2.0}, TypeError, "steps must be an int, got float"),
        ({"steps": True}, TypeError, "got bool"),
        ({"ax": "axes"}, TypeError, "ax must be a matplotlib Axes or None, got str"),
    ],
)
def test_diagram_bad_inputs(draw, kwargs, error, match):
    with pytest.raises(error, match=match):
        draw(**kwargs)


def test_plot_history_lines_equal_data():
    histories = {"uni": FakeHistory(loss=[3.0, 2.0, 1.5]),
                 "bi": FakeHistory(loss=[3.0, 1.0, 0.5, 0.25])}
    ax = plot_history(histories)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["uni", "bi"]
    for line, history in zip(lines, histories.values(), strict=True):
        np.testing.assert_array_equal(line.get_ydata(), history.loss)
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, len(history.loss) + 1))
    assert ax.get_ylabel() == "loss"
    ax = plot_history({"a": FakeHistory(accuracy=torch.tensor([0.5, 0.75]))}, "accuracy")
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [0.5, 0.75])


@pytest.mark.parametrize(
    "histories, metric, error, match",
    [
        ({}, "loss", ValueError, "histories is empty"),
        ([FakeHistory([1.0])], "loss", TypeError, "histories must be a mapping"),
        ({"a": FakeHistory([1.0])}, "perplexity", ValueError,
         r"unknown metric 'perplexity' for history 'a' \(histories\['a'\]\); "
         r"expected one of \['accuracy', 'loss'\]"),
        ({"a": FakeHistory([1.0])}, 3, TypeError, "metric must be a str"),
        ({"a": FakeHistory([])}, "loss", ValueError, "no values for 'loss'"),
        ({"a": FakeHistory([[1.0, 2.0]])}, "loss", ValueError, "one-dimensional"),
        ({"a": FakeHistory("abc")}, "loss", TypeError,
         r"histories\['a'\].loss must be a list, array or tensor of real numbers, got str"),
        ({"a": FakeHistory(["x"])}, "loss", TypeError, "must hold real numbers, got str 'x'"),
        ({"a": FakeHistory([True, False])}, "loss", TypeError, "got bool True"),
        ({"a": FakeHistory([1.0, float("nan")])}, "loss", ValueError,
         r"histories\['a'\].loss must be finite, got 1 NaN"),
        ({"a": {"loss": [1.0]}}, "loss", TypeError,  # a dict is not a History
         r"histories\['a'\] must be a History-like object .* got dict"),
        ({"a": FakeHistory([1.0])}, "", ValueError, "metric must be a non-empty str"),
        ({"a": FakeHistory([1.0])}, "loss", TypeError, "ax must be a matplotlib Axes"),
    ],
)
def test_plot_history_bad_inputs(histories, metric, error, match):
    ax = "axes" if "Axes" in match else None
    with pytest.raises(error, match=match):
        plot_history(histories, metric, ax=ax)
    assert plt.get_fignums() == []  # nothing drawn when the input is refused


@settings(max_examples=25)
@given(values=st.lists(st.floats(1e-6, 1e6), min_size=1, max_size=20),
       log=st.booleans())
def test_plot_grad_norms_lines_equal_data(values, log):
    distances = list(range(len(values)))
    norms = {"rnn": values, "gru": torch.tensor(values[::-1], dtype=torch.float64)}
    ax = plot_grad_norms(distances, norms, log=log)
    (rnn, gru) = ax.get_lines()
    np.testing.assert_array_equal(rnn.get_xdata(), distances)
    np.testing.assert_array_equal(rnn.get_ydata(), values)
    np.testing.assert_array_equal(gru.get_ydata(), values[::-1])
    assert ax.get_yscale() == ("log" if log else "linear")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["rnn", "gru"]
    plt.close("all")


@pytest.mark.parametrize(
    "distances, norms, kwargs, error, match",
    [
        ([0, 1, 2], {"a": [1.0, 0.5]}, {}, ValueError,
         "norms\\['a'\\] has 2 values but distances has 3"),
        ([0, 1], {"a": [1.0, 0.0]}, {}, ValueError, "log scale"),
        ([0, 1], {}, {}, ValueError, "norms is empty"),
        ([0, 1], [1.0, 0.5], {}, TypeError, "norms must be a mapping"),
        (5, {"a": [1.0]}, {}, TypeError,
         "distances must be a list, array or tensor of real numbers, got int 5"),
        ([0, 1], {"a": [1.0, float("nan")]}, {}, ValueError, r"norms\['a'\] must be finite"),
        ([0, float("inf")], {"a": [1.0, 1.0]}, {}, ValueError, "distances must be finite"),
        ([0, 1], {"a": [1.0, 0.5]}, {"log": "yes"}, TypeError, "log must be a bool"),
        ([0, 1], {"a": [1.0, 0.5]}, {"ax": 1}, TypeError, "ax must be a matplotlib Axes"),
    ],
)
def test_plot_grad_norms_bad_inputs(distances, norms, kwargs, error, match):
    with pytest.raises(error, match=match):
        plot_grad_norms(distances, norms, **kwargs)


def test_plot_grad_norms_zero_allowed_on_linear_scale():
    ax = plot_grad_norms(np.arange(2), {"a": [1.0, 0.0]}, log=False)
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [1.0, 0.0])
