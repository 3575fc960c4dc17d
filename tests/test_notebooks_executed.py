"""Every chapter is committed executed, in order, without errors or figure reprs."""

import copy
import json
from pathlib import Path

import pytest
from notebook_guard import problems

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks found in chapters/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_executed_in_order(path):
    assert problems(load(path)) == []


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


def test_guard_catches_figure_without_alt_text():
    nb = _first_notebook()
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    cell["outputs"] = cell["outputs"] + [
        {"output_type": "display_data", "data": {"image/png": "iVBORw0K", "text/plain": "Figure"},
         "metadata": {}}
    ]
    cell["metadata"].pop("mystnb", None)
    assert any("without alt text" in p for p in problems(nb))
    cell["metadata"]["mystnb"] = {"image": {"alt": "A plot of the loss per epoch."}}
    assert not any("without alt text" in p for p in problems(nb))
