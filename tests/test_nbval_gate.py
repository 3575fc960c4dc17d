"""The nbval gate really fails: on temporary copies of the chapters, a changed digit, a
cell edited to raise, or cleared outputs must each make the suite fail.

Each copy is cut after the first cell whose stored stdout holds a digit, so a run costs
only a kernel start and the notebook's first few cells.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from notebook_guard import problems

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))
DIGIT = re.compile(r"\d")


def _stdout(cell: dict) -> list[dict]:
    return [o for o in cell.get("outputs", []) if o.get("name") == "stdout"]


def truncated_copy(path: Path, tmp_path: Path) -> tuple[dict, dict]:
    """The notebook up to its first code cell with a digit in stdout, and that cell."""
    nb = json.loads(path.read_text())
    for index, cell in enumerate(nb["cells"]):
        numbers = any(DIGIT.search("".join(o["text"])) for o in _stdout(cell))
        if cell["cell_type"] == "code" and numbers:
            nb["cells"] = nb["cells"][: index + 1]
            return nb, nb["cells"][-1]
    raise AssertionError(f"{path.name} prints no number to stdout: nbval would check no digit")


def run_nbval(nb: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    target = tmp_path / "copy.ipynb"
    target.write_text(json.dumps(nb))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-q",
         "-p", "no:cacheprovider", "--nbval-sanitize-with", str(ROOT / "tests/nbval_sanitize.cfg"),
         str(target)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_changed_digit_fails(path, tmp_path):
    nb, cell = truncated_copy(path, tmp_path)
    assert run_nbval(nb, tmp_path).returncode == 0, "the unmodified copy must pass"
    output = next(o for o in _stdout(cell) if DIGIT.search("".join(o["text"])))
    text = "".join(output["text"])
    i = DIGIT.search(text).start()
    output["text"] = text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1 :]
    result = run_nbval(nb, tmp_path)
    assert result.returncode != 0, result.stdout[-2000:]


def test_cell_edited_to_raise_fails(tmp_path):
    nb, cell = truncated_copy(NOTEBOOKS[0], tmp_path)
    cell["source"] = "raise RuntimeError('edited to fail')\n" + "".join(cell["source"])
    result = run_nbval(nb, tmp_path)
    assert result.returncode != 0
    assert "edited to fail" in result.stdout


def test_cleared_outputs_pass_nbval_hollowly_but_fail_the_guard(tmp_path):
    nb, _ = truncated_copy(NOTEBOOKS[0], tmp_path)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    # This is why the guard exists: nbval compares nothing and reports success ...
    assert run_nbval(nb, tmp_path).returncode == 0
    # ... while the guard, which `make test` runs, rejects the notebook.
    assert any("no execution_count" in p for p in problems(nb))
