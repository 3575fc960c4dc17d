"""The executed-notebook guard: a notebook must be committed executed, in order.

nbval silently skips any cell whose ``execution_count`` is null, so a notebook saved
without outputs would "pass". ``problems(nb)`` lists everything that would make nbval's
check hollow or the stored outputs wrong (and figures without alt text, which the site
would show to screen readers as a file name); the tests require it to be empty.
"""

import re

FIGURE_REPR = re.compile(r"<(Figure|matplotlib\.[\w.]+|Axes)[^>]*>|^Text\(")


def problems(nb: dict) -> list[str]:
    """Return human-readable problems with a notebook's stored outputs (empty if none)."""
    found = []
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
            alt = cell["metadata"].get("mystnb", {}).get("image", {}).get("alt", "")
            if "image/png" in output.get("data", {}) and not alt.strip():
                found.append(f"{where} shows a figure without alt text (metadata mystnb.image.alt)")
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
