"""Every chapter is committed executed, in order, without errors or figure reprs."""

import base64
import copy
import json
import struct
from pathlib import Path

import pytest
from notebook_guard import png_problem, problems

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks found in chapters/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_executed_in_order(path):
    assert problems(load(path), path.name) == []


def _first_notebook() -> dict:
    return load(NOTEBOOKS[0])


def test_guard_catches_cleared_outputs():
    nb = _first_notebook()
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    assert any("no execution_count" in p for p in problems(nb))


def test_guard_catches_out_of_order_execution():
    nb = _first_notebook()
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert len(code) >= 2, "the first chapter needs at least two code cells"
    code[0]["execution_count"], code[1]["execution_count"] = 2, 1
    assert any("in order" in p for p in problems(nb))


def test_guard_catches_stored_error():
    nb = _first_notebook()
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    cell["outputs"] = cell["outputs"] + [
        {"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": []}
    ]
    assert any("error output" in p for p in problems(nb))


@pytest.mark.parametrize(
    "text",
    [
        "<Figure size 640x480 with 1 Axes>",
        "<matplotlib.legend.Legend at 0x7f>",
        "Text(0.5, 1.0, 'x')",
    ],
)
def test_guard_catches_figure_repr(text):
    nb = copy.deepcopy(_first_notebook())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    cell["outputs"] = cell["outputs"] + [
        {"output_type": "execute_result", "data": {"text/plain": text}, "metadata": {},
         "execution_count": cell["execution_count"]}
    ]
    assert any("matplotlib repr" in p for p in problems(nb))


def _png(width: int, height: int) -> str:
    """A PNG's signature and header chunk (all the guard reads), base64-encoded."""
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", width, height)
    return base64.b64encode(header + b"\x08\x06\x00\x00\x00").decode()


SHARP = {"output_type": "display_data", "data": {"image/png": _png(1400, 600),
                                                 "text/plain": "Figure"},
         "metadata": {"image/png": {"width": 700, "height": 300}}}


@pytest.mark.parametrize(("pixels", "metadata", "ok"), [
    (1400, {"image/png": {"width": 700}}, True),
    (700, {"image/png": {"width": 700}}, False),  # 100 dpi: soft on HiDPI and in print
    (1400, {}, False),  # shown at its pixel size
])
def test_guard_catches_a_figure_stored_at_screen_resolution(pixels, metadata, ok):
    output = {**SHARP, "data": {**SHARP["data"], "image/png": _png(pixels, 600)},
              "metadata": metadata}
    assert (png_problem(output) is None) == ok
    assert png_problem({**SHARP, "data": {"image/png": "bm90IGEgcG5n"}}) is not None


def test_guard_catches_figure_without_alt_text():
    nb = _first_notebook()
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    cell["outputs"] = cell["outputs"] + [copy.deepcopy(SHARP)]
    cell["metadata"].pop("mystnb", None)
    assert any("without alt text" in p for p in problems(nb))
    cell["metadata"]["mystnb"] = {"image": {"alt": "A plot of the loss per epoch."}}
    assert not any("without alt text" in p for p in problems(nb))


def _with_figure(metadata: dict, prose: str = "") -> dict:
    """A chapter-3 notebook whose only code cell draws one figure with ``metadata``."""
    return {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": [prose]},
        {"cell_type": "code", "execution_count": 1, "metadata": metadata, "source": ["plot()"],
         "outputs": [copy.deepcopy(SHARP)]},
    ]}


GOOD_FIGURE = {"mystnb": {"figure": {"caption": "Accuracy per epoch.", "name": "fig-ch3-acc"},
                          "image": {"alt": "Accuracy rises from 0.5 to 1."}}}


def test_guard_accepts_a_numbered_captioned_referenced_figure():
    nb = _with_figure(copy.deepcopy(GOOD_FIGURE), "As {numref}`fig-ch3-acc` shows, it learns.")
    assert problems(nb, "03_bidirectional.ipynb") == []
    nb = _with_figure(copy.deepcopy(GOOD_FIGURE), "See {numref}`Figure %s <fig-ch3-acc>`.")
    assert problems(nb, "03_bidirectional.ipynb") == []


@pytest.mark.parametrize(
    ("change", "prose", "expected"),
    [
        (lambda m: m["mystnb"]["figure"].pop("caption"), "{numref}`fig-ch3-acc`", "caption"),
        (lambda m: m["mystnb"].pop("figure"), "", "figure name"),
        (lambda m: m["mystnb"]["figure"].update(name="fig-ch4-acc"), "{numref}`fig-ch4-acc`",
         "fig-ch3-short-name"),
        (lambda m: m["mystnb"]["figure"].update(name="Accuracy"), "", "figure name"),
        (lambda m: m["mystnb"]["image"].update(alt=" "), "{numref}`fig-ch3-acc`", "alt text"),
        (lambda m: None, "The figure shows it.", "never refers to fig-ch3-acc"),
        (lambda m: None, "{numref}`fig-ch3-acc`\n\n*Figure: accuracy.*", "italic"),
    ],
    ids=["no-caption", "no-figure", "other-chapter", "bad-name", "no-alt", "no-numref",
         "italic-caption"],
)
def test_guard_catches_a_figure_that_is_not_numbered_and_captioned(change, prose, expected):
    metadata = copy.deepcopy(GOOD_FIGURE)
    change(metadata)
    found = problems(_with_figure(metadata, prose), "03_bidirectional.ipynb")
    assert any(expected in p for p in found), found


def test_guard_catches_two_figures_with_one_name():
    nb = _with_figure(copy.deepcopy(GOOD_FIGURE), "{numref}`fig-ch3-acc`")
    nb["cells"].append(copy.deepcopy(nb["cells"][1]))
    nb["cells"][2]["execution_count"] = 2
    assert any("used twice" in p for p in problems(nb, "03_bidirectional.ipynb"))
