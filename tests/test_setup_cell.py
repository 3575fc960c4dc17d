"""The chapters' setup cell (tools/setup_cell.py): one identical cell, silent in the book's
environment, and a working install where ``birnn_utils`` is missing.

The last test executes a chapter offline in a fresh interpreter that sees the book's
pinned packages but not ``birnn_utils``, with the install source pointed at a wheel built
from this checkout, as a reader on Colab or with a downloaded notebook would run it.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("setup_cell", ROOT / "tools" / "setup_cell.py")
setup_cell = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(setup_cell)

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf8"))


def _setup_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if setup_cell.is_setup_cell(c)]


_spec = importlib.util.spec_from_file_location("book_repository",
                                              ROOT / "tools" / "book_repository.py")
book_repository = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book_repository)
REPO = ("https://github.com/someone/a-book", "dev")
ENV = {book_repository.REPOSITORY_ENV: "someone/a-book", book_repository.BRANCH_ENV: "dev"}


@pytest.mark.parametrize("value", ["someone/a-book", "https://github.com/someone/a-book/",
                                   "https://github.com/someone/a-book.git"])
def test_the_repository_comes_from_the_environment(value):
    env = {**ENV, book_repository.REPOSITORY_ENV: value}
    assert book_repository.repository(env) == REPO
    assert book_repository.repository({book_repository.REPOSITORY_ENV: "a/b"}) == (
        "https://github.com/a/b", "main")  # the default branch
    assert book_repository.repository({}) is None
    assert book_repository.repository({book_repository.REPOSITORY_ENV: " "}) is None


@pytest.mark.parametrize("env", [
    {"BOOK_REPOSITORY": "no-slash"}, {"BOOK_REPOSITORY": "http://github.com/a/b"},
    {"BOOK_REPOSITORY": "https://gitlab.com/a/b"}, {"BOOK_REPOSITORY": "a/b c"},
    {"BOOK_REPOSITORY": "a/b", "BOOK_BRANCH": "x; rm -rf"},
    {"BOOK_REPOSITORY": "a/b", "BOOK_BRANCH": "../up"},
])
def test_a_bad_repository_is_refused_by_name(env):
    name = "BOOK_BRANCH" if "BOOK_BRANCH" in env else "BOOK_REPOSITORY"
    with pytest.raises(ValueError, match=name):
        book_repository.repository(env)


def test_install_source_is_the_published_repository():
    assert setup_cell.install_source(REPO) == "git+https://github.com/someone/a-book@dev"
    source = setup_cell.cell_source(REPO)
    assert '"git+https://github.com/someone/a-book@dev"' in source
    assert setup_cell.SOURCE_ENV in source
    compile(source, "<setup cell>", "exec")
    assert all(len(line) <= 80 for line in source.splitlines())


def test_without_a_repository_the_cell_says_how_to_install():
    source = setup_cell.cell_source(None)
    assert setup_cell.install_source(None) is None
    assert "github.com" not in source and "example" not in source  # no made-up address
    assert "pip install -e ." in source and setup_cell.SOURCE_ENV in source
    assert all(len(line) <= 80 for line in source.splitlines())
    # Run where birnn_utils is missing and nothing says where to get it: a clear stop.
    code = source.replace('find_spec("birnn_utils")', 'find_spec("birnn_utils_nowhere")')
    env = {k: v for k, v in os.environ.items() if k != setup_cell.SOURCE_ENV}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode != 0 and run.stdout == ""
    assert "ModuleNotFoundError: birnn_utils is not installed" in run.stderr
    assert "pip install -e ." in run.stderr


@pytest.mark.parametrize("found", [("http://insecure.example/x", "main"),
                                   ("https://a b", "main"),
                                   ("https://github.com/a/b", "x; rm -rf")])
def test_install_source_rejects_a_bad_repository(found):
    with pytest.raises(ValueError, match="repository"):
        setup_cell.install_source(found)


def test_apply_inserts_one_cell_before_the_first_code_cell_and_is_idempotent():
    original = _load(CHAPTERS[0])
    source = setup_cell.cell_source(REPO)
    once = setup_cell.apply(copy.deepcopy(original), source)
    twice = setup_cell.apply(copy.deepcopy(once), source)
    assert twice == once
    cells = once["cells"]
    [cell] = _setup_cells(once)
    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    assert cells[first_code] is cell and "".join(cell["source"]) == source
    rest = [c for c in original["cells"] if not setup_cell.is_setup_cell(c)]
    assert [c for c in cells if c is not cell] == rest, "no other cell changes"
    assert "remove-cell" in cell["metadata"]["tags"], "the site and the PDF leave it out"


def test_apply_replaces_a_stale_cell_and_resets_its_outputs():
    nb = setup_cell.apply(_load(CHAPTERS[0]), "print('old')\n")
    [old] = _setup_cells(nb)
    old["execution_count"], old["outputs"] = 1, [{"output_type": "stream", "name": "stdout",
                                                   "text": "old\n"}]
    nb["cells"].append(copy.deepcopy(old))  # a second copy, pasted by hand
    new = setup_cell.apply(nb, setup_cell.cell_source(REPO))
    [cell] = _setup_cells(new)
    assert "".join(cell["source"]) == setup_cell.cell_source(REPO)
    assert cell["outputs"] == [] and cell["execution_count"] is None


def test_publish_keeps_the_execution_count_of_a_silent_cell():
    nb = setup_cell.apply(_load(CHAPTERS[0]), setup_cell.cell_source(None))
    [old] = _setup_cells(nb)
    old["execution_count"] = 1
    published = setup_cell.apply(copy.deepcopy(nb), setup_cell.cell_source(REPO), publish=True)
    [cell] = _setup_cells(published)
    assert "".join(cell["source"]) == setup_cell.cell_source(REPO)
    assert cell["execution_count"] == 1 and cell["outputs"] == []
    # Without --publish, or when the old cell printed something, it is reset.
    [reset] = _setup_cells(setup_cell.apply(copy.deepcopy(nb), setup_cell.cell_source(REPO)))
    assert reset["execution_count"] is None
    old["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x\n"}]
    [reset] = _setup_cells(setup_cell.apply(nb, setup_cell.cell_source(REPO), publish=True))
    assert reset["execution_count"] is None and reset["outputs"] == []


def test_strip_title_numbers_only_touches_the_title():
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "id": "a", "metadata": {},
         "source": ["# 12. A title\n", "\n", "# 3. not the title\n"]},
        {"cell_type": "markdown", "id": "b", "metadata": {}, "source": ["# 4. Other\n"]}]}
    out = setup_cell.apply(copy.deepcopy(nb), "pass", strip_title_numbers=True)
    assert out["cells"][0]["source"] == ["# A title\n", "\n", "# 3. not the title\n"]
    assert out["cells"][1] == nb["cells"][1]
    assert setup_cell.apply(copy.deepcopy(nb), "pass")["cells"][0] == nb["cells"][0]


def test_cell_is_silent_where_birnn_utils_is_installed():
    """In the book's environment the cell prints nothing, so nbval is unaffected."""
    env = {**os.environ, setup_cell.SOURCE_ENV: "/nonexistent/never-installed"}
    run = subprocess.run([sys.executable, "-c", setup_cell.cell_source()], cwd=ROOT / "chapters",
                         env=env, capture_output=True, text=True, timeout=60, check=True)
    assert (run.stdout, run.stderr) == ("", "")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_carries_the_current_setup_cell(path):
    nb = _load(path)
    cells = _setup_cells(nb)
    assert len(cells) == 1, "run: .venv/bin/python tools/setup_cell.py, then make execute"
    assert "".join(cells[0]["source"]) == setup_cell.cell_source(), "run tools/setup_cell.py"
    assert cells[0]["outputs"] == [], "in the book's environment the setup cell prints nothing"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code[0] is cells[0], "the setup cell is the first code cell"
    assert setup_cell.dumps(setup_cell.apply(nb, setup_cell.cell_source())) == path.read_text(
        encoding="utf8"), "tools/setup_cell.py would change this notebook"


def _fresh_interpreter(tmp: Path) -> Path:
    """A venv that sees the book's packages (symlinks) except birnn_utils and every .pth."""
    venv = tmp / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    target = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path("
                                  "'purelib'))"], capture_output=True, text=True,
                                 check=True).stdout.strip())
    for entry in Path(sysconfig.get_path("purelib")).iterdir():
        name = entry.name.lower()
        if "birnn" in name or name.startswith("__editable__") or name.endswith(".pth"):
            continue
        (target / entry.name).symlink_to(entry)
    return python


@pytest.mark.skipif(not CHAPTERS, reason="no chapters")
def test_a_chapter_runs_where_birnn_utils_is_missing(tmp_path):
    python = _fresh_interpreter(tmp_path)
    probe = subprocess.run([python, "-c", "import birnn_utils"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert probe.returncode != 0, "the fresh interpreter must not see birnn_utils"

    # A wheel of this checkout, built from a copy (nothing is written into the checkout).
    src = tmp_path / "src"
    shutil.copytree(ROOT / "birnn_utils", src / "birnn_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", src)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)], check=True,
                   capture_output=True)
    [wheel] = (tmp_path / "dist").glob("birnn_utils-*.whl")

    chapter = CHAPTERS[0]
    nb = setup_cell.apply(_load(chapter), setup_cell.cell_source())
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "where",
                        "metadata": {}, "outputs": [],
                        "source": "import birnn_utils\nprint(birnn_utils.__file__)"})
    notebook = tmp_path / "nb" / chapter.name
    notebook.parent.mkdir()
    notebook.write_text(setup_cell.dumps(nb), encoding="utf8")
    kernel = tmp_path / "share" / "jupyter" / "kernels" / "fresh"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh", "language": "python"}))
    runner = textwrap.dedent(f"""
        import nbformat
        from nbclient import NotebookClient
        nb = nbformat.read({str(notebook)!r}, as_version=4)
        NotebookClient(nb, kernel_name="fresh", timeout=600,
                       resources={{"metadata": {{"path": {str(notebook.parent)!r}}}}}).execute()
        nbformat.write(nb, {str(notebook)!r})
    """)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COV_", "PYTHONPATH", "JUPYTER_", "VIRTUAL_ENV"))}
    # Offline: the wheel only, and --no-deps so pip never touches the symlinked packages.
    env.update({setup_cell.SOURCE_ENV: str(wheel), "PIP_NO_INDEX": "1", "PIP_NO_DEPS": "1",
                "JUPYTER_PATH": str(tmp_path / "share" / "jupyter")})
    subprocess.run([sys.executable, "-c", runner], env=env, check=True, timeout=900,
                   cwd=tmp_path)

    executed = _load(notebook)
    errors = [o for c in executed["cells"] if c["cell_type"] == "code"
              for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors == []
    [cell] = _setup_cells(executed)
    printed = "".join("".join(o.get("text", "")) for o in cell["outputs"])
    assert printed.splitlines() == [
        f"birnn_utils is not installed: pip install {wheel}",
        f"installed birnn_utils {setup_cell_version()} from {wheel}",
    ]
    where = "".join(executed["cells"][-1]["outputs"][0]["text"]).strip()
    assert Path(where).is_relative_to(python.parent.parent), where


def setup_cell_version() -> str:
    import birnn_utils

    return birnn_utils.__version__


def _numbered_files() -> list[Path]:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
    return [ROOT / f"{entry['file']}.ipynb" for part in toc.get("parts", [])
            if part.get("numbered") for entry in part.get("chapters", [])
            if (ROOT / f"{entry['file']}.ipynb").is_file()]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_a_numbered_chapter_does_not_number_its_own_title(path):
    """With `numbered` in _toc.yml the site writes "3. Title"; a "# 3. Title" would read
    "3. 3. Title". `tools/setup_cell.py --strip-title-numbers` drops them."""
    if path not in _numbered_files():
        pytest.skip("not in a numbered part of _toc.yml")
    nb = _load(path)
    first = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    heading = "".join(first["source"]).splitlines()[0]
    assert not setup_cell._TITLE_NUMBER.match(heading), heading
