"""Put one identical setup cell in every chapter, so a notebook also runs outside a checkout.

A chapter opened from Colab, Binder or the site's ``.ipynb`` download has no
``birnn_utils`` next to it. The setup cell installs the package with pip when it is
missing, from the repository and branch the book is published from (``BOOK_REPOSITORY``
and ``BOOK_BRANCH`` in the environment, see ``tools/book_repository.py``: the same ones the
launch buttons open), and prints what it did. Where none is set (the committed notebooks,
a local build) it stops with a message that says how to install the package.
Inside the book's own environment (``make book``) the package is importable, so the cell
does nothing and prints nothing, and nbval sees an empty output.

The environment variable ``BIRNN_UTILS_SOURCE`` replaces the install source (a local
checkout, a wheel, another ``git+`` URL); the tests use it to check the cell offline.

Usage (from the repository root):

    .venv/bin/python tools/setup_cell.py            # insert or update the cell everywhere
    .venv/bin/python tools/setup_cell.py --check    # exit 1 if any chapter would change
    .venv/bin/python tools/setup_cell.py --strip-title-numbers   # also drop "N. " from
                                                    # the chapter titles (numbered toc)
    BOOK_REPOSITORY=owner/name .venv/bin/python tools/setup_cell.py --publish
        # the deploy workflow: install from that repository, keep the execution counts

The cell goes right before the chapter's first code cell; running the tool again changes
nothing (a cell already carrying the tag below is updated in place). Then re-execute.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_repository  # noqa: E402  (tools/, beside this file)

ROOT = Path(__file__).resolve().parent.parent
TAG = "birnn-setup"  # marks the setup cell; remove-cell keeps it off the site and the PDF
TAGS = [TAG, "remove-cell"]
CELL_ID = "birnn-setup"
SOURCE_ENV = "BIRNN_UTILS_SOURCE"
_TITLE_NUMBER = re.compile(r"^# \d+\.\s+")

_TEMPLATE = '''\
# Setup for Colab, Binder or a downloaded notebook: install the book's helper
# package birnn_utils when it is missing. In the book's environment: nothing.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("birnn_utils") is None:
    _source = os.environ.get("{env}") or (
        {default}
    )
    if not _source:
        raise ModuleNotFoundError(
            "birnn_utils is not installed: clone the book's repository and "
            "run `pip install -e .` in it, or set {env} to a pip "
            "source (a folder, a wheel or a git+https URL), then run this cell"
        )
    print(f"birnn_utils is not installed: pip install {{_source}}")
    pip = [sys.executable, "-m", "pip", "install", "-q", _source]
    subprocess.run(pip, check=True)
    importlib.invalidate_caches()
    import birnn_utils

    version = birnn_utils.__version__
    print(f"installed birnn_utils {{version}} from {{_source}}")'''


def install_source(found: tuple[str, str] | None) -> str | None:
    """``git+URL@BRANCH`` of the repository the book is published from, or ``None``.

    ``found`` is what :func:`book_repository.repository` returns: ``(https URL, branch)``
    from the build's environment (``BOOK_REPOSITORY``, ``BOOK_BRANCH``), or ``None``.
    pyproject.toml is at the repository root, whatever repository.path_to_book says.
    """
    if found is None:
        return None
    url, branch = found
    if not re.fullmatch(r"https://[^\s\"'@]+", url):
        raise ValueError(f"the repository must be an https URL, got {url!r}")
    if not re.fullmatch(r"[\w./-]+", branch):
        raise ValueError(f"the repository branch is not a branch name: {branch!r}")
    return f"git+{url.rstrip('/')}@{branch}"


def cell_source(found: tuple[str, str] | None | str = "environment") -> str:
    """The setup cell's code for the repository ``found`` (default: the environment's)."""
    if found == "environment":
        found = book_repository.repository()
    source = install_source(found)
    default = "None  # no repository was set when this book was built" if source is None \
        else json.dumps(source)
    return _TEMPLATE.format(env=SOURCE_ENV, default=default)


def setup_cell(source: str) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": CELL_ID,
        "metadata": {"tags": list(TAGS)},
        "outputs": [],
        "source": source.splitlines(keepends=True),
    }


def is_setup_cell(cell: dict) -> bool:
    return TAG in cell.get("metadata", {}).get("tags", [])


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def apply(nb: dict, source: str, strip_title_numbers: bool = False,
          publish: bool = False) -> dict:
    """Return ``nb`` with exactly one setup cell holding ``source``, before the first code cell.

    An existing setup cell keeps its outputs when its code is unchanged (the tool is
    idempotent on an executed notebook); otherwise it is reset to unexecuted. With
    ``publish`` (the deploy workflow pointing the cells at the published repository), an
    executed cell with no output keeps its execution count: in the book's environment the
    cell does nothing whatever its install source, so its empty output stays true.
    """
    cells = list(nb["cells"])
    old = [c for c in cells if is_setup_cell(c)]
    cells = [c for c in cells if not is_setup_cell(c)]
    new = setup_cell(source)
    if len(old) == 1 and _text(old[0]) == source and old[0].get("metadata") == new["metadata"]:
        new = old[0]
    elif publish and len(old) == 1 and old[0].get("outputs") == []:
        new["execution_count"] = old[0].get("execution_count")
    first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    cells.insert(first_code, new)
    if strip_title_numbers:
        for cell in cells:
            if cell["cell_type"] == "markdown":
                text = _text(cell)
                if text.startswith("# "):
                    stripped = _TITLE_NUMBER.sub("# ", text, count=1)
                    if stripped != text:
                        cell["source"] = stripped.splitlines(keepends=True)
                break
    if nb.get("nbformat", 4) == 4 and nb.get("nbformat_minor", 0) < 5:
        new.pop("id", None)  # cell ids exist from nbformat 4.5 on
    return {**nb, "cells": cells}


def dumps(nb: dict) -> str:
    """Serialise like nbformat.write (indent 1, sorted keys, UTF-8, final newline)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: chapters/*.ipynb")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on a diff")
    parser.add_argument(
        "--strip-title-numbers", action="store_true", help='"# 3. Title" becomes "# Title"'
    )
    parser.add_argument(
        "--publish", action="store_true",
        help="keep the execution count of an executed cell with no output (deploy workflow)")
    args = parser.parse_args(argv)
    source = cell_source()
    paths = args.notebooks or sorted((ROOT / "chapters").glob("*.ipynb"))
    stale = []
    for path in paths:
        text = path.read_text(encoding="utf8")
        updated = dumps(apply(json.loads(text), source, args.strip_title_numbers,
                              args.publish))
        if updated != text:
            stale.append(path)
            if not args.check:
                path.write_text(updated, encoding="utf8")
    verb = "would change" if args.check else "changed"
    for path in stale:
        print(f"{verb}: {path}")
    print(f"{len(stale)} of {len(paths)} notebooks {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
