"""The page checks themselves catch what they look for: a small hand-made site, one page
with every defect the browser tests hunt for, one clean page, a page of real MathJax with a
TeX error, and two redirect stubs (one to a missing page), visited in Chromium."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
import sitecheck


def _png(width: int, height: int) -> bytes:
    """A solid red RGB PNG, written by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


BAD = """<!doctype html><html lang="en"><head><title>Bad</title>
<script src="https://cdn.example.invalid/lib.js"></script>
<script>console.error("boom"); throw new Error("bad script");</script>
</head><body><main><h1>Bad</h1>
<p>Raw $$x^2$$ left here, and <span class="math">\\(y\\)</span> never typeset.</p>
<img src="missing.png">
<a href="other.html#nowhere">a</a> <a href="gone.html">b</a> <a href="#here">c</a>
<p id="here">here</p></main></body></html>"""

# Like pydata-sphinx-theme, the page takes its colour mode from localStorage before painting.
GOOD = """<!doctype html><html lang="en">
<head><title>Other</title><link rel="icon" href="data:,">
<script>document.documentElement.dataset.theme = localStorage.getItem("mode") || "light";</script>
</head>
<body><main><h1 id="top">Other</h1><img src="dot.png" alt="A red square">
<a href="bad.html#here">back</a> <a href="other.html#top">top</a></main></body></html>"""


# Dark mode: a figure straight on the dark page (no light frame), and table text over a
# gradient, whose contrast axe cannot decide; both must be reported.
DARK = """<!doctype html><html lang="en" data-theme="dark" style="background:#111;color:#eee">
<head><title>Dark</title><link rel="icon" href="data:,"></head>
<body><main class="bd-content"><h1>Dark</h1>
<figure><img src="dot.png" alt="A red square"></figure>
<table><tr><td style="background-image:linear-gradient(#000,#fff)">unreadable</td></tr></table>
<div class="cell_output"><img src="dot.png" alt="Framed" style="background:#fff"></div>
</main></body></html>"""

# The book's own MathJax (the pinned npm package), loaded as the built pages load it.
MATHJAX = Path(sitecheck.ROOT / "node_modules" / "mathjax" / "es5")
MATH = """<!doctype html><html lang="en"><head><title>Math</title><link rel="icon" href="data:,">
<script>MathJax = {"options": {"processHtmlClass": "math"}}</script>
<script defer src="_static/mathjax/tex-mml-chtml.js"></script></head>
<body><main><h1>Math</h1><p><span class="math">\\(x^2\\)</span> and
<span class="math">\\(\\frac{1}\\)</span></p></main></body></html>"""

# A one-second delay: the visitor must wait for the redirect, not just for the first load.
STUB = """<!doctype html><html lang="en"><head><title>Moved</title>
<meta http-equiv="refresh" content="1; url={target}"></head><body></body></html>"""


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory, browser):
    site = tmp_path_factory.mktemp("site")
    (site / "bad.html").write_text(BAD, encoding="utf8")
    (site / "other.html").write_text(GOOD, encoding="utf8")
    (site / "dot.png").write_bytes(_png(4, 3))
    (site / "math.html").write_text(MATH, encoding="utf8")
    (site / "dark.html").write_text(DARK, encoding="utf8")
    (site / "_static").mkdir()
    (site / "_static" / "mathjax").symlink_to(MATHJAX, target_is_directory=True)
    for name, target in (("stub.html", "other.html"), ("broken_stub.html", "gone.html")):
        (site / name).write_text(STUB.format(target=target), encoding="utf8")
    with sitecheck.serve(site) as url:
        visitor = sitecheck.Visitor(browser, url, site=site, screenshots=site / "shots")
        yield site, url, visitor
        visitor.close()


def test_checks_report_every_defect(toy_site):
    site, url, visitor = toy_site
    report = visitor.visit("bad.html")
    assert report.status == 200
    assert "https://cdn.example.invalid/lib.js" in report.requests
    assert any("boom" in message for message in report.console_errors)
    assert any("bad script" in error for error in report.page_errors)
    assert any(f"{url}missing.png 404" == failure for failure in report.failed_requests)
    assert {"src": f"{url}missing.png", "width": 0, "alt": "", "figure": False,
            "backdrop": 1} in report.images
    assert report.math["unrendered"] == ["\\(y\\)"]
    assert any("$$x^2$$" in raw for raw in report.math["raw"])
    broken = sitecheck.broken_internal_links(site, url, report.links, report.ids, "bad.html")
    assert sorted(broken) == [
        f"{url}gone.html (no file gone.html)",
        f"{url}other.html#nowhere (no id 'nowhere' in other.html)",
    ]
    assert "image-alt" in {v["id"] for v in report.violations}


def test_checks_pass_a_clean_page(toy_site):
    site, url, visitor = toy_site
    report = visitor.visit("other.html")
    assert report.status == 200
    assert report.requests and all(u.startswith(url) for u in report.requests)
    assert report.console_errors == report.page_errors == report.failed_requests == []
    assert report.images == [{"src": f"{url}dot.png", "width": 4, "alt": "A red square",
                              "figure": False, "backdrop": 1}]
    assert report.math == {"sources": 0, "unrendered": [], "errors": [], "raw": []}
    assert sitecheck.broken_internal_links(site, url, report.links, report.ids, "other.html") == []
    assert report.violations == []
    assert report.screenshot is not None and report.screenshot.read_bytes()[:4] == b"\x89PNG"


def test_math_check_sees_tex_errors_of_real_mathjax(toy_site):
    _, _, visitor = toy_site
    assert (MATHJAX / "tex-mml-chtml.js").is_file(), "run `npm ci` for the pinned MathJax"
    report = visitor.visit("math.html")
    assert report.page_errors == report.console_errors == report.failed_requests == []
    assert report.math["sources"] == 2
    assert report.math["unrendered"] == [] and report.math["raw"] == []
    # \frac with one argument: MathJax typesets an error box instead of the formula.
    assert len(report.math["errors"]) == 1 and "\\frac" in report.math["errors"][0]


def test_colour_mode_reaches_the_page(toy_site):
    _, _, visitor = toy_site
    assert visitor.visit("other.html", "dark").theme == "dark"
    assert visitor.visit("other.html", "light").theme == "light"


def test_redirect_stubs_are_followed(toy_site):
    site, url, visitor = toy_site
    assert sitecheck.redirect_target(site, "stub.html") == "other.html"
    assert sitecheck.redirect_target(site, "other.html") is None
    report = visitor.visit("stub.html")
    assert report.final_url == url + "other.html"
    assert report.failed_requests == []
    broken = visitor.visit("broken_stub.html")
    assert broken.final_url == url + "gone.html"
    assert f"{url}gone.html 404" in broken.failed_requests


def test_dark_figures_and_undecided_contrast_are_reported(toy_site):
    _, url, visitor = toy_site
    report = visitor.visit("dark.html", "dark")
    bare, framed = report.images
    assert bare["figure"] and bare["backdrop"] < 0.05, "a figure on the #111 page"
    assert framed["figure"] and framed["backdrop"] == 1, "the white frame behind an output"
    assert any(item.startswith("td") for item in report.unchecked_contrast), report
