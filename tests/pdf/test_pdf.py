"""The PDF of the book (``make pdf``, then ``make pdf-test``): built without LaTeX errors,
every chapter title in its contents with the site's number, no TeX left unrendered, and
every figure embedded with its numbered caption.

Reads ``_build/latex/book.pdf`` and its log, through poppler's ``pdftotext`` and
``pdfimages`` (Debian's poppler-utils, installed with TeX Live by ``make pdf``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LATEX = ROOT / "_build" / "latex"
PDF = LATEX / "book.pdf"
LOG = LATEX / "book.log"
# Code blocks wrap long lines; pdftotext keeps the continuation marks.
_WRAP_MARKS = "↪↩"
_RAW_TEX = re.compile(r"\\begin\{|\\end\{|\$[^$\s][^$]*\$|\\\(|\\\[")


@pytest.fixture(scope="module", autouse=True)
def built_pdf():
    if not PDF.is_file():
        pytest.fail(f"{PDF} missing: run `make pdf` (make pdf-test does both)")
    for tool in ("pdftotext", "pdfimages"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: apt-get install poppler-utils")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _bare(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace() and ch not in _WRAP_MARKS)


@cache
def pdf_text() -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(PDF), "-"], capture_output=True,
                          text=True, check=True).stdout


def _source_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def toc_chapters() -> list[tuple[Path, int | None]]:
    """Every file of the book in toc order, with its chapter number on the site (or None).

    Parts marked ``numbered`` in _toc.yml number their files 1, 2, ... (continuing across
    numbered parts, as ``use_multitoc_numbering`` does); the root page is front matter.
    """
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
    found, number = [], 0
    for part in toc.get("parts", []):
        for entry in part.get("chapters", []):
            path = next((ROOT / f"{entry['file']}{s}" for s in (".ipynb", ".md")
                         if (ROOT / f"{entry['file']}{s}").is_file()), None)
            assert path is not None, f"toc entry {entry['file']} has no .ipynb or .md file"
            if part.get("numbered"):
                number += 1
                found.append((path, number))
            else:
                found.append((path, None))
    return found


def title(path: Path) -> str:
    """The page's first ``# `` heading, as plain text (markup removed)."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf8"))["cells"]
        text = "\n".join(_source_text(c) for c in cells if c["cell_type"] == "markdown")
    else:
        text = path.read_text(encoding="utf8")
    line = next(line for line in text.splitlines() if line.startswith("# "))
    return _squash(re.sub(r"[`*]", "", line[2:]))


def test_latex_log_has_no_errors():
    log = LOG.read_text(encoding="utf8", errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("! ")]
    assert errors == [], "LaTeX errors"
    missing = sorted(set(re.findall(r"Missing character: There is no (.+?) in font", log)))
    assert missing == [], "glyphs the fonts lack (dropped from the PDF)"
    undefined = re.findall(r"LaTeX Warning: (?:Reference|Citation) .+ undefined", log)
    assert undefined == [], "references LaTeX could not resolve"


def test_every_chapter_title_is_in_the_pdf_with_its_number():
    text = _squash(pdf_text())
    contents = text[: text.find(title(toc_chapters()[-1][0])) + 200]
    for path, number in toc_chapters():
        heading = title(path)
        assert not re.match(r"\d+\.\s", heading) or number is None, (
            f"{path.name}: the title {heading!r} carries its own number, and the toc numbers "
            "chapters too (run tools/setup_cell.py --strip-title-numbers)"
        )
        assert heading in contents, f"{heading!r} is not in the PDF's contents"
        if number is not None:  # the running head of its pages carries the site's number
            assert f"Chapter {number}. {heading}" in text, f"chapter {number} is not {heading!r}"


@cache
def _code_text() -> str:
    """Everything the book shows as code (cells, outputs, inline code), without spaces."""
    parts = []
    for path, _ in toc_chapters():
        if path.suffix == ".md":
            parts.append(path.read_text(encoding="utf8"))
            continue
        for cell in json.loads(path.read_text(encoding="utf8"))["cells"]:
            parts.append(_source_text(cell))
            for output in cell.get("outputs", []):
                parts.append(_source_text({"source": output.get("text", "")}))
                parts.append(_source_text({"source": output.get("data", {}).get(
                    "text/plain", "")}))
    return _bare("\n".join(parts))


def test_no_tex_is_left_unrendered():
    """``$...$`` or ``\\begin{`` in the text is math LaTeX did not typeset, unless it is
    code the book prints (a matplotlib label, a docstring)."""
    raw = [line for line in pdf_text().splitlines()
           if _RAW_TEX.search(line) and _bare(line) not in _code_text()]
    assert raw == []
    math_letters = sum(0x1D400 <= ord(ch) <= 0x1D7FF for ch in pdf_text())
    assert math_letters > 100, "unicode-math typesets math as math letters: is there any?"


def _figures() -> list[tuple[int | None, dict]]:
    """(chapter number, mystnb metadata) of every figure output the PDF shows, in order."""
    found = []
    for path, number in toc_chapters():
        if path.suffix != ".ipynb":
            continue
        for cell in json.loads(path.read_text(encoding="utf8"))["cells"]:
            tags = set(cell.get("metadata", {}).get("tags", []))
            if cell["cell_type"] != "code" or tags & {"remove-cell", "remove-output"}:
                continue
            for output in cell.get("outputs", []):
                if "image/png" in output.get("data", {}):
                    found.append((number, cell["metadata"].get("mystnb", {})))
    return found


def test_every_figure_is_embedded_with_its_numbered_caption():
    listing = subprocess.run(["pdfimages", "-list", str(PDF)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[2:]
    images = [row for row in listing if row.split()[2] == "image"]
    figures = _figures()
    assert figures, "the book has figures"
    assert len(images) == len(figures), "one embedded image per figure output"
    text = _squash(pdf_text())
    per_chapter: dict[int | None, int] = {}
    for number, mystnb in figures:
        per_chapter[number] = per_chapter.get(number, 0) + 1
        caption = _squash(_source_text({"source": mystnb.get("figure", {}).get("caption", "")}))
        assert caption, "every figure has a caption (mystnb.figure.caption)"
        words = " ".join(re.split(r"[$`{]", caption)[0].split()[:6])
        label = f"Figure {number}.{per_chapter[number]}: {words}"
        assert label in text, f"{label!r} is not in the PDF"


# Overfull boxes wider than this (about 7 mm, a third of the margin) leave the text block:
# a table, a code line or a formula runs off the page. Smaller ones are TeX's rounding.
OVERFULL_LIMIT_PT = 20.0
_OVERFULL = re.compile(r"^Overfull \\hbox \(([0-9.]+)pt too wide\) (.*)$", re.M)


def test_nothing_runs_off_the_text_block():
    log = LOG.read_text(encoding="utf8", errors="replace")
    wide = [(float(pt), where) for pt, where in _OVERFULL.findall(log)
            if float(pt) > OVERFULL_LIMIT_PT]
    assert wide == [], f"boxes wider than the text block by more than {OVERFULL_LIMIT_PT} pt " \
                       f"(see {LOG}): {wide}"


@cache
def _page_texts() -> list[str]:
    pages = int(re.search(r"^Pages:\s+(\d+)", subprocess.run(
        ["pdfinfo", str(PDF)], capture_output=True, text=True, check=True).stdout,
        re.M).group(1))
    return [subprocess.run(["pdftotext", "-enc", "UTF-8", "-f", str(i), "-l", str(i),
                            str(PDF), "-"], capture_output=True, text=True,
                           check=True).stdout for i in range(1, pages + 1)]


def test_no_page_is_blank_or_holds_only_a_heading():
    """No blank back of a page (chapters open on the next page, not the next odd one), no
    page holding only a part's name, no empty chapter before the bibliography."""
    listing = subprocess.run(["pdfimages", "-list", str(PDF)], capture_output=True,
                             text=True, check=True).stdout.splitlines()[2:]
    with_images = {int(line.split()[0]) for line in listing if line.strip()}
    title = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))["title"]
    thin = []
    for number, text in enumerate(_page_texts(), start=1):
        # What is left without the running header and footer (book title, page number,
        # chapter or section name): the page's own content.
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        body = [line for line in lines if title not in line and not line.isdigit()]
        if number > 2 and number not in with_images and len("".join(body)) < 80:
            thin.append((number, " | ".join(lines)[:80]))
    assert thin == [], f"blank or nearly empty pages: {thin}"


def test_title_page_names_the_edition_and_its_source():
    first, back = _page_texts()[:2]
    assert re.search(r"Version \d+\.\d+\.\d+ \(commit ([0-9a-f]{7,}\+?|unknown)\)", first), first
    assert "Source: https://github.com/" in back or "local checkout" in back, back


def test_citations_and_bibliography_use_the_same_labels():
    """Numbers both ways: a citation reads [3], and entry [3] of the bibliography is the
    work it cites (the keys are checked in the LaTeX source, the labels in the PDF)."""
    tex = (LATEX / "book.tex").read_text(encoding="utf8")
    items = dict(re.findall(r"\\bibitem\[([^\]]*)\]\{([^}]*)\}", tex))
    assert items, "no bibliography in the PDF"
    assert all(label.isdigit() for label in items), f"labels are not numbers: {list(items)}"
    cited = set(re.findall(r"\\hyperlink\{cite\.([^}]*)\}\{([^}]*)\}", tex))
    assert cited, "no citation in the PDF"
    wrong = [(key, shown) for key, shown in cited if items.get(shown) != key]
    assert wrong == [], f"citations whose label is not their bibliography entry's: {wrong}"
    text = _squash(pdf_text())
    for label in items:
        assert f"[{label}]" in text
    assert len(re.findall(r"^\s*(Bibliography|BIBLIOGRAPHY)\s*$", pdf_text(), re.M)) == 0
