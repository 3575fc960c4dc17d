"""The executed-notebook guard: a notebook must be committed executed, in order.

nbval silently skips any cell whose ``execution_count`` is null, so a notebook saved
without outputs would "pass". ``problems(nb)`` lists everything that would make nbval's
check hollow or the stored outputs wrong, and every figure that is not a proper numbered
figure: each image output needs myst-nb ``figure`` metadata (``caption`` and ``name``,
named ``fig-chN-...`` in chapter N) and alt text, is stored at twice the resolution it
is shown at, and the prose refers to it with {numref}; the tests require the list to be
empty.
"""

import base64
import re
import struct

FIGURE_REPR = re.compile(r"<(Figure|matplotlib\.[\w.]+|Axes)[^>]*>|^Text\(")
FIGURE_NAME = re.compile(r"fig-[a-z0-9]+(-[a-z0-9]+)+")
# The old hand-made caption: an italic "*Figure: ...*" paragraph under the image.
ITALIC_CAPTION = re.compile(r"^\s*[*_]{1,2}Fig(ure|\.)", re.M)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def png_problem(output: dict) -> str | None:
    """Why an image output is not sharp: a figure must be stored at 2x its shown size (the
    200-dpi "retina" PNG that ``make_deterministic()`` selects), for HiDPI screens and
    print. None when it is."""
    try:
        header = base64.b64decode(_text(output["data"]["image/png"])[:32])
        pixels = struct.unpack(">I", header[16:20])[0]
    except (ValueError, struct.error):
        return "stores an image that is not a PNG"
    shown = output.get("metadata", {}).get("image/png", {}).get("width")
    if not isinstance(shown, int) or pixels < 2 * shown - 2:
        return (f"stores a {pixels}-pixel-wide figure shown {shown} wide: store it at 2x "
                "(call make_deterministic(), which selects 200-dpi 'retina' figures)")
    return None


def figure_problems(nb: dict, chapter: int | None = None) -> list[str]:
    """Problems with the notebook's figures: caption, name, alt text, references."""
    found = []
    names = []
    prose = "\n".join(_text(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    for index, cell in enumerate(nb["cells"]):
        where = f"code cell {index}"
        if cell["cell_type"] == "markdown" and ITALIC_CAPTION.search(_text(cell["source"])):
            found.append(f"markdown cell {index} has an italic '*Figure: ...*' caption: put it "
                         "in the plotting cell's metadata mystnb.figure.caption instead")
        if cell["cell_type"] != "code":
            continue
        images = sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
        mystnb = cell["metadata"].get("mystnb", {})
        figure = mystnb.get("figure", {})
        if not images:
            continue
        if images > 1:
            found.append(f"{where} shows {images} images: one figure per plotting cell")
        for output in cell["outputs"]:
            if "image/png" in output.get("data", {}) and png_problem(output):
                found.append(f"{where} {png_problem(output)}")
        if not _text(mystnb.get("image", {}).get("alt", "")).strip():
            found.append(f"{where} shows a figure without alt text (metadata mystnb.image.alt)")
        if not _text(figure.get("caption", "")).strip():
            found.append(f"{where} shows a figure without a caption (mystnb.figure.caption)")
        name = figure.get("name", "")
        prefix = f"fig-ch{chapter}-" if chapter is not None else "fig-"
        if not (isinstance(name, str) and FIGURE_NAME.fullmatch(name) and name.startswith(prefix)):
            found.append(f"{where}: figure name {name!r} is not {prefix}short-name "
                         "(mystnb.figure.name)")
            continue
        names.append(name)
        if not re.search(r"\{numref\}`(?:[^`<]*<)?" + re.escape(name) + r">?`", prose):
            found.append(f"{where}: the prose never refers to {name} ({{numref}}`{name}`)")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        found.append(f"figure names used twice: {duplicated}")
    return found


def chapter_number(filename: str) -> int | None:
    """12 for ``12_topic.ipynb``; None for unnumbered pages (the appendix)."""
    match = re.match(r"(\d+)_", filename)
    return int(match.group(1)) if match else None


def problems(nb: dict, filename: str = "") -> list[str]:
    """Return human-readable problems with a notebook's stored outputs (empty if none)."""
    found = figure_problems(nb, chapter_number(filename))
    counts = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or not "".join(cell["source"]).strip():
            continue
        where = f"code cell {index}"
        count = cell.get("execution_count")
        if count is None:
            found.append(f"{where} has no execution_count (not executed, nbval would skip it)")
        else:
            counts.append(count)
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                found.append(f"{where} stores an error output ({output.get('ename')})")
            texts = [output.get("text", "")]
            texts.append(output.get("data", {}).get("text/plain", ""))
            for text in texts:
                text = "".join(text) if isinstance(text, list) else text
                if FIGURE_REPR.search(text.strip()):
                    found.append(f"{where} leaks a matplotlib repr: {text.strip()[:50]!r}")
    if counts and counts != list(range(1, len(counts) + 1)):
        found.append(f"execution counts are {counts}, expected 1..{len(counts)} in order")
    return found
