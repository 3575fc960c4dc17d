"""Figures for the book: unrolled (Bi)RNN diagrams, training curves, gradient-norm plots.

Every artist of a diagram carries a ``gid`` (``"input"``, ``"state"``, ``"output"``,
``"arrow"`` ...) so that tests and readers can find what was drawn. Colours are from the
Okabe-Ito palette, which stays distinguishable under the common colour-vision deficiencies.
"""

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from birnn_utils.validation import (
    check_bool,
    check_int,
    check_mapping,
    check_real_vector,
    check_str,
    describe,
)

# Okabe-Ito colours: (edge, face) per kind of node.
COLORS = {
    "input": ("#555555", "#eeeeee"),
    "forward": ("#0072B2", "#d4e6f4"),
    "backward": ("#D55E00", "#f8dcc8"),
    "output": ("#009E73", "#cdeee4"),
}
LINE_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
MAX_STEPS = 12
_BOX_W, _BOX_H = 0.62, 0.5


def _check_steps(steps) -> int:
    steps = check_int("steps", steps)
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    return steps


def _check_ax(ax) -> None:
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {describe(ax)}")


def _get_ax(ax, figsize) -> Axes:
    """``ax``, or a new figure's axes when ``ax`` is None (checked by ``_check_ax`` first)."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _figsize(width: float, height: float) -> tuple[float, float]:
    """Figure size (inches) for a diagram spanning width x height data units."""
    scale = min(0.75, 11.0 / width)  # at most 11 inches wide
    return width * scale, height * scale + 0.4  # + room for the title


def _node(ax: Axes, x: float, y: float, label: str, kind: str, gid: str) -> tuple[float, float]:
    """Draw a labelled rounded box centred at (x, y); return its centre."""
    edge, face = COLORS[kind]
    box = FancyBboxPatch(
        (x - _BOX_W / 2, y - _BOX_H / 2), _BOX_W, _BOX_H,
        boxstyle="round,pad=0.02,rounding_size=0.1", linewidth=1.5,
        edgecolor=edge, facecolor=face, gid=gid, zorder=2,
    )
    ax.add_patch(box)
    ax.text(x, y, label, ha="center", va="center", fontsize=12, gid=f"{gid}-label", zorder=3)
    return x, y


def _arrow(ax: Axes, start, end, color: str, gid: str) -> None:
    """Arrow between two box centres, shortened so it starts and ends at the box borders."""
    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0
    # Distance from a box centre to its border along (dx, dy).
    scale = min(
        (_BOX_W / 2 + 0.04) / abs(dx) if dx else np.inf,
        (_BOX_H / 2 + 0.04) / abs(dy) if dy else np.inf,
    )
    arrow = FancyArrowPatch(
        (x0 + scale * dx, y0 + scale * dy), (x1 - scale * dx, y1 - scale * dy),
        arrowstyle="-|>", mutation_scale=12, linewidth=1.3, color=color, gid=gid, zorder=1,
    )
    ax.add_patch(arrow)


def _finish(ax: Axes, xmin: float, xmax: float, ymin: float, ymax: float, title: str) -> Axes:
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title)
    return ax


def draw_unrolled_rnn(steps: int = 4, ax: Axes | None = None) -> Axes:
    """Diagram of a unidirectional RNN unrolled over ``steps`` time steps.

    Draws inputs x_1..x_T (bottom), states h_0..h_T joined left to right (middle) and
    outputs ŷ_1..ŷ_T (top). Patches: 3T+1 boxes (gids ``input``, ``state``, ``initial``,
    ``output``) and 3T arrows (gid ``arrow-input``, ``arrow-forward``, ``arrow-output``).
    """
    steps = _check_steps(steps)
    _check_ax(ax)
    dx, y_in, y_h, y_out = 1.3, 0.0, 1.2, 2.4
    ax = _get_ax(ax, figsize=_figsize(steps * dx + 1.2, y_out + 1.0))
    fwd_edge = COLORS["forward"][0]
    prev = _node(ax, 0.0, y_h, r"$h_0$", "forward", "initial")
    for t in range(1, steps + 1):
        x_t = _node(ax, t * dx, y_in, rf"$x_{{{t}}}$", "input", "input")
        h_t = _node(ax, t * dx, y_h, rf"$h_{{{t}}}$", "forward", "state")
        y_t = _node(ax, t * dx, y_out, rf"$\hat y_{{{t}}}$", "output", "output")
        _arrow(ax, x_t, h_t, COLORS["input"][0], "arrow-input")
        _arrow(ax, prev, h_t, fwd_edge, "arrow-forward")
        _arrow(ax, h_t, y_t, COLORS["output"][0], "arrow-output")
        prev = h_t
    title = f"An RNN unrolled over T = {steps} steps"
    return _finish(ax, -0.6, steps * dx + 0.6, -0.5, y_out + 0.5, title)


def draw_unrolled_birnn(steps: int = 4, ax: Axes | None = None) -> Axes:
    """Diagram of a bidirectional RNN unrolled over ``steps`` time steps.

    Inputs x_t (bottom) feed a forward row (states h^f_t, arrows left to right, starting
    from h^f_0) and a backward row (states h^b_t, arrows right to left, starting from
    h^b_{T+1}); each output ŷ_t (top) reads both h^f_t and h^b_t. Patches: 4T+2 boxes and
    6T arrows, tagged with gids as in :func:`draw_unrolled_rnn` (``forward``/``backward``
    instead of ``state``).
    """
    steps = _check_steps(steps)
    _check_ax(ax)
    # The two state rows are staggered left/right of each column so that the arrows
    # x_t -> <-h_t and ->h_t -> y_t pass beside, not through, the other row's box.
    dx, shift = 1.6, 0.36
    y_in, y_f, y_b, y_out = 0.0, 1.2, 2.4, 3.6
    ax = _get_ax(ax, figsize=_figsize((steps + 1) * dx + 2.9, y_out + 1.0))
    f_edge, b_edge = COLORS["forward"][0], COLORS["backward"][0]
    f_prev = _node(ax, -shift + 0.3, y_f, r"$h^f_0$", "forward", "initial")
    fwd, bwd = [], []
    for t in range(1, steps + 1):
        cx = t * dx
        x_t = _node(ax, cx, y_in, rf"$x_{{{t}}}$", "input", "input")
        f_t = _node(ax, cx - shift, y_f, rf"$h^f_{{{t}}}$", "forward", "forward")
        b_t = _node(ax, cx + shift, y_b, rf"$h^b_{{{t}}}$", "backward", "backward")
        y_t = _node(ax, cx, y_out, rf"$\hat y_{{{t}}}$", "output", "output")
        _arrow(ax, x_t, f_t, COLORS["input"][0], "arrow-input")
        _arrow(ax, x_t, b_t, COLORS["input"][0], "arrow-input")
        _arrow(ax, f_t, y_t, COLORS["output"][0], "arrow-output")
        _arrow(ax, b_t, y_t, COLORS["output"][0], "arrow-output")
        _arrow(ax, f_prev, f_t, f_edge, "arrow-forward")
        f_prev = f_t
        fwd.append(f_t)
        bwd.append(b_t)
    b_next = _node(
        ax, (steps + 1) * dx + shift - 0.3, y_b, rf"$h^b_{{{steps + 1}}}$",
        "backward", "initial",
    )
    for b_t in reversed(bwd):
        _arrow(ax, b_next, b_t, b_edge, "arrow-backward")
        b_next = b_t
    ax.text(-0.9, y_f, "forward", color=f_edge, ha="right", va="center", gid="row-name")
    ax.text(-0.9, y_b, "backward", color=b_edge, ha="right", va="center", gid="row-name")
    title = f"A bidirectional RNN unrolled over T = {steps} steps"
    return _finish(ax, -2.4, (steps + 1) * dx + 0.5, -0.5, y_out + 0.5, title)


def _as_float_array(values, name: str) -> np.ndarray:
    """1-D finite float64 values (a list, tuple, array or tensor of real numbers)."""
    return check_real_vector(name, values)


def _check_mapping(mapping, name: str) -> None:
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{name} must be a mapping from label to values, got "
                        f"{describe(mapping)}")
    check_mapping(name, mapping, nonempty=False)
    if not mapping:
        raise ValueError(f"{name} is empty: give at least one label -> values entry")


def plot_history(histories: Mapping, metric: str = "loss", ax: Axes | None = None) -> Axes:
    """Plot one metric per epoch for several training runs.

    ``histories`` maps a label to a History-like object whose attribute ``metric`` is a
    list of per-epoch values (e.g. ``birnn_utils.training.History``).
    """
    _check_mapping(histories, "histories")
    check_str("metric", metric)
    _check_ax(ax)
    curves = {}
    for label, history in histories.items():
        available = sorted(k for k, v in vars(history).items() if isinstance(v, list)) \
            if hasattr(history, "__dict__") else []
        if not available:
            raise TypeError(
                f"histories[{label!r}] must be a History-like object with one list attribute "
                f"per metric (e.g. birnn_utils.training.History), got {describe(history)}"
            )
        if not hasattr(history, metric):
            raise ValueError(f"unknown metric {metric!r} for history {label!r} "
                             f"(histories[{label!r}]); expected one of {available}")
        name = f"histories[{label!r}].{metric}"
        values = _as_float_array(getattr(history, metric), name)
        if values.size == 0:
            raise ValueError(f"{name}: history {label!r} has no values for {metric!r}")
        curves[label] = values
    ax = _get_ax(ax, figsize=(6, 3.5))
    for i, (label, values) in enumerate(curves.items()):
        epochs = np.arange(1, values.size + 1)
        ax.plot(epochs, values, marker="o", markersize=3, label=str(label),
                color=LINE_COLORS[i % len(LINE_COLORS)])
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def plot_grad_norms(distances, norms: Mapping, ax: Axes | None = None, log: bool = True) -> Axes:
    """Plot gradient norms ‖∂L/∂h_t‖ against the distance in time T − t.

    ``distances`` has shape (L,); ``norms`` maps a label to L values (lists, arrays or
    tensors). With ``log=True`` the y axis is logarithmic, so geometric decay is a line.
    """
    xs = _as_float_array(distances, "distances")
    _check_mapping(norms, "norms")
    check_bool("log", log)
    _check_ax(ax)
    curves = {}
    for label, values in norms.items():
        ys = _as_float_array(values, f"norms[{label!r}]")
        if ys.shape != xs.shape:
            raise ValueError(f"norms[{label!r}] has {ys.size} values but distances has "
                             f"{xs.size}; expected the same length")
        if log and not np.all(ys > 0):
            raise ValueError(f"norms[{label!r}] has values <= 0, which a log scale cannot "
                             "show; pass log=False")
        curves[label] = ys
    ax = _get_ax(ax, figsize=(6, 3.5))
    for i, (label, ys) in enumerate(curves.items()):
        ax.plot(xs, ys, marker="o", markersize=3, label=str(label),
                color=LINE_COLORS[i % len(LINE_COLORS)])
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(r"distance in time $T - t$")
    ax.set_ylabel(r"$\|\partial L / \partial h_t\|$")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend()
    return ax
