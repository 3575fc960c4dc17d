"""The page checks themselves catch what they look for: a small hand-made site, one page
with every defect the browser tests hunt for and one clean page, visited in Chromium."""

from __future__ import annotations

import struct
import zlib

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

GOOD = """<!doctype html><html lang="en">
<head><title>Other</title><link rel="icon" href="data:,"></head>
<body><main><h1 id="top">Other</h1><img src="dot.png" alt="A red square">
<a href="bad.html#here">back</a> <a href="other.html#top">top</a></main></body></html>"""


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory, browser):
    site = tmp_path_factory.mktemp("site")
    (site / "bad.html").write_text(BAD, encoding="utf8")
    (site / "other.html").write_text(GOOD, encoding="utf8")
    (site / "dot.png").write_bytes(_png(4, 3))
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
    assert {"src": f"{url}missing.png", "width": 0, "alt": ""} in report.images
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
    assert report.images == [{"src": f"{url}dot.png", "width": 4, "alt": "A red square"}]
    assert report.math == {"sources": 0, "unrendered": [], "errors": [], "raw": []}
    assert sitecheck.broken_internal_links(site, url, report.links, report.ids, "other.html") == []
    assert report.violations == []
    assert report.screenshot is not None and report.screenshot.read_bytes()[:4] == b"\x89PNG"
