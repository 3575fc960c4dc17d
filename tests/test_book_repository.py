"""The published book's repository, launch buttons and PDF link (tools/book_repository.py).

Two small books are built with Jupyter Book, as `make build` builds the real one: one where
the build's environment names a repository (what the deploy workflow does), one where it
names none (a local `make book`). The first must have Binder, Colab and repository buttons
for that repository and a downloadable notebook whose setup cell installs from it; the
second must have none of them and a setup cell that says how to install instead. With a
PDF in the build, every page's download menu links it; without one, nothing links it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "chapters/01_tiny"
HREF = re.compile(r'href="([^"]+)"')


def build(tmp_path: Path, env_extra: dict[str, str], pdf: bool) -> Path:
    """Build intro + one chapter into tmp_path/book/_build/html, as the workflow would."""
    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    for name in ("_config.yml", "references.bib", "pyproject.toml"):
        shutil.copy(ROOT / name, book / name)
    # The real front page's PDF paragraph, and a chapter with only a setup cell.
    [pdf_line] = [line for line in (ROOT / "intro.md").read_text().splitlines()
                  if "birnn-book.pdf" in line]
    (book / "intro.md").write_text(f"# A tiny book\n\n{pdf_line}\n")
    metadata = json.loads((ROOT / "chapters" / "01_rnn_and_bptt.ipynb").read_text())[
        "metadata"]  # the kernel and language of the real chapters
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": [
        {"cell_type": "markdown", "id": "title", "metadata": {}, "source": "# Tiny"},
        {"cell_type": "code", "id": "code", "metadata": {}, "execution_count": 1,
         "outputs": [], "source": "x = 1"}]}
    (book / f"{CHAPTER}.ipynb").write_text(json.dumps(nb))
    shutil.copytree(ROOT / "_static", book / "_static")
    shutil.copytree(ROOT / "_templates", book / "_templates")
    (book / "_toc.yml").write_text(yaml.safe_dump(
        {"format": "jb-book", "root": "intro", "chapters": [{"file": CHAPTER}]}))
    (book / "_build" / "vendor").mkdir(parents=True)
    if pdf:
        (book / "_build" / "vendor" / "birnn-book.pdf").write_bytes(b"%PDF-1.5\n%%EOF\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOK_")}
    env.update(env_extra, PYTHONPATH=str(ROOT))
    # The workflow points the setup cells at the repository before it builds.
    subprocess.run([sys.executable, str(ROOT / "tools" / "setup_cell.py"),
                    str(book / f"{CHAPTER}.ipynb")], env=env, check=True,
                   capture_output=True, text=True)
    jb = Path(sys.executable).parent / "jupyter-book"
    run = subprocess.run([str(jb), "build", str(book), "--warningiserror", "--keep-going"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return book / "_build" / "html"


def links(html: Path, page: str) -> list[str]:
    return HREF.findall((html / page).read_text(encoding="utf8"))


def setup_source(html: Path) -> str:
    nb = json.loads((html / "_sources" / f"{CHAPTER}.ipynb").read_text(encoding="utf8"))
    [cell] = [c for c in nb["cells"] if "birnn-setup" in c["metadata"].get("tags", [])]
    return "".join(cell["source"])


def test_a_build_for_a_repository_launches_and_installs_from_it(tmp_path):
    html = build(tmp_path, {"BOOK_REPOSITORY": "someone/a-book", "BOOK_BRANCH": "dev"},
                 pdf=True)
    hrefs = links(html, f"{CHAPTER}.html")
    binder = [urlsplit(h) for h in hrefs if urlsplit(h).netloc == "mybinder.org"]
    assert any(u.path == "/v2/gh/someone/a-book/dev"
               and parse_qs(u.query)["urlpath"][0].endswith(f"/{CHAPTER}.ipynb")
               for u in binder), binder
    colab = [urlsplit(h) for h in hrefs if urlsplit(h).netloc == "colab.research.google.com"]
    assert any(u.path == f"/github/someone/a-book/blob/dev/{CHAPTER}.ipynb"
               for u in colab), colab
    assert "https://github.com/someone/a-book" in hrefs  # the repository button
    assert '"git+https://github.com/someone/a-book@dev"' in setup_source(html)
    # The PDF: in the download menu of every page, and on the front page.
    assert "../birnn-book.pdf" in hrefs
    assert "birnn-book.pdf" in links(html, "intro.html")
    assert "window.print()" not in (html / f"{CHAPTER}.html").read_text(encoding="utf8")


def test_a_build_without_a_repository_has_no_launch_buttons(tmp_path):
    html = build(tmp_path, {}, pdf=False)
    hrefs = links(html, f"{CHAPTER}.html") + links(html, "intro.html")
    hosts = {urlsplit(h).netloc for h in hrefs}
    assert not hosts & {"mybinder.org", "colab.research.google.com", "github.com"}, hosts
    source = setup_source(html)
    assert "github.com" not in source and "pip install -e ." in source
    for page in html.rglob("*.html"):
        assert "example/birnn-book" not in page.read_text(encoding="utf8"), page
    # No PDF was built: nothing links one (no dead link), and no print-to-PDF entry.
    assert not [h for h in hrefs if h.endswith("birnn-book.pdf")]
    assert "window.print()" not in (html / f"{CHAPTER}.html").read_text(encoding="utf8")
