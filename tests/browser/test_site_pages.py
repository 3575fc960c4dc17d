"""Every page of the built book, opened in Chromium as a reader would.

Each page must load with HTTP 200 and no console or page error, offline (no request
leaves the loopback server), with every image loaded and described, every formula
typeset by MathJax, every internal link and anchor resolving, and no serious or critical
axe-core violation in light or dark mode, no table or admonition text whose contrast axe
cannot decide, and every figure on a light frame. The search page must find "GRU", and every
chapter page must offer a working .ipynb download and well-formed launch buttons.
"""

from __future__ import annotations

import json
import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import sitecheck
import yaml

sys.path.insert(0, str(sitecheck.ROOT / "tools"))
import book_repository  # noqa: E402

IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp")


def outside_requests(report: sitecheck.PageReport, base_url: str) -> list[str]:
    return [
        url
        for url in report.requests
        if not url.startswith(base_url) and urlsplit(url).scheme not in ("data", "blob")
    ]


def test_page_loads_cleanly(page, mode, reports):
    report = reports(page, mode)
    assert report.status == 200
    assert report.page_errors == []
    assert report.console_errors == []
    assert report.failed_requests == []
    assert report.screenshot is not None and report.screenshot.stat().st_size > 0


def test_page_makes_no_request_outside_the_site(page, mode, reports, base_url):
    assert outside_requests(reports(page, mode), base_url) == []


def test_images_are_loaded_and_described(page, reports):
    for image in reports(page).images:
        assert image["width"] > 0, f"image did not load: {image['src']}"
        assert image["alt"], f"image without alt text: {image['src']}"
        # myst-nb falls back to the file path when the cell gives no alt text.
        assert not image["alt"].lower().endswith(IMAGE_SUFFIXES), (
            f"alt text is a file name, not a description: {image['alt']!r}; give the "
            'plotting cell the metadata {"mystnb": {"image": {"alt": "what it shows"}}}'
        )


def test_math_is_rendered_by_mathjax(page, reports, site):
    math = reports(page).math
    written = len(re.findall(r'class="math[ "]', (site / page).read_text(encoding="utf8")))
    assert math["sources"] >= written, "the check missed formulas Sphinx wrote"
    assert math["unrendered"] == [], "formulas MathJax did not typeset"
    assert math["errors"] == [], "MathJax reported TeX errors"
    assert math["raw"] == [], "raw TeX delimiters left in the text"


def test_internal_links_and_anchors_resolve(page, reports, base_url, site):
    report = reports(page)
    assert report.links, "a page of the book has at least its navigation links"
    assert sitecheck.broken_internal_links(site, base_url, report.links, report.ids, page) == []


def test_no_serious_accessibility_violations(page, mode, reports):
    report = reports(page, mode)
    assert report.theme == mode, "the page did not switch to the requested colour mode"
    assert report.violations == []


def test_tables_admonitions_and_figures_are_readable(page, mode, reports):
    """Dark mode too: axe decides the contrast of every text in a table, admonition or
    output (none left "incomplete"), and every figure sits on a light frame."""
    report = reports(page, mode)
    assert report.unchecked_contrast == [], "text whose contrast axe could not check"
    dark = [i["src"] for i in report.images if i["figure"] and i["backdrop"] < 0.5]
    assert dark == [], f"figures without a light frame in {mode} mode"


def test_redirect_stubs_land_on_a_page(site, reports, base_url):
    stubs = [p for p in sitecheck.site_pages(site) if sitecheck.redirect_target(site, p)]
    assert "index.html" in sitecheck.site_pages(site)
    for stub in stubs:
        target = sitecheck.redirect_target(site, stub)
        assert (site / Path(stub).parent / target).is_file()
        report = reports(stub)
        assert report.status == 200
        assert report.final_url == base_url + (Path(stub).parent / target).as_posix()
        assert report.page_errors == report.console_errors == report.failed_requests == []
        assert outside_requests(report, base_url) == []


def _toc_files(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["file"]] if "file" in node else []
        return found + [f for value in node.values() for f in _toc_files(value)]
    if isinstance(node, list):
        return [f for item in node for f in _toc_files(item)]
    return []


def test_every_toc_entry_is_a_built_page(site):
    toc = yaml.safe_load((sitecheck.ROOT / "_toc.yml").read_text(encoding="utf8"))
    files = [toc["root"], *_toc_files(toc.get("parts", [])), *_toc_files(toc.get("chapters", []))]
    pages = sitecheck.site_pages(site)
    missing = [f for f in files if f"{Path(f).with_suffix('').as_posix()}.html" not in pages]
    assert missing == []


class _Text(HTMLParser):
    """The text of an HTML fragment, scripts and styles left out."""

    def __init__(self) -> None:
        super().__init__()
        self.skip = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def _article_text(path: Path) -> str:
    """The text of the page's ``<article>``: what Sphinx indexes for search."""
    html = path.read_text(encoding="utf8")
    start = html.find("<article")
    end = html.rfind("</article>")
    parser = _Text()
    parser.feed(html[start:end] if 0 <= start < end else "")
    return " ".join(parser.parts)


def test_search_finds_gru(site, visitor, base_url):
    content = [
        p
        for p in sitecheck.site_pages(site)
        if p not in ("search.html", "genindex.html") and not sitecheck.redirect_target(site, p)
    ]
    expected = {p for p in content if re.search(r"\bGRUs?\b", _article_text(site / p))}
    assert expected, "some page of the book talks about GRUs"

    tab = visitor.contexts["light"].new_page()
    try:
        tab.goto(base_url + "search.html?q=GRU")
        tab.wait_for_function(
            "() => /Search finished|did not match/.test("
            "document.querySelector('#search-results')?.innerText || '')"
        )
        hrefs = tab.eval_on_selector_all(
            "#search-results ul.search li > a", "links => links.map(a => a.href)"
        )
    finally:
        tab.close()
    found = {urlsplit(h).path.removeprefix(urlsplit(base_url).path) for h in hrefs}
    assert all((site / p).is_file() for p in found)
    assert expected <= found


def test_chapter_download_and_launch_buttons(chapter_page, reports, visitor, base_url):
    config = yaml.safe_load((sitecheck.ROOT / "_config.yml").read_text(encoding="utf8"))
    notebook = Path(config["repository"].get("path_to_book") or "") / chapter_page
    notebook = notebook.with_suffix(".ipynb").as_posix()
    assert (sitecheck.ROOT / notebook).is_file(), f"chapter source {notebook} is not a notebook"
    links = reports(chapter_page).links

    # Download: the page's own notebook, served by the site, byte for byte.
    download = f"{base_url}_sources/{chapter_page.removesuffix('.html')}.ipynb"
    assert download in links
    response = visitor.contexts["light"].request.get(download)
    assert response.status == 200
    assert response.body() == (sitecheck.ROOT / notebook).read_bytes(), (
        f"the download is not {notebook} as it is now (rebuild after editing it)"
    )
    assert json.loads(response.body())["nbformat"] == 4

    binder_host = urlsplit(config["launch_buttons"]["binderhub_url"]).netloc
    colab_host = urlsplit(config["launch_buttons"]["colab_url"]).netloc
    found = book_repository.repository()
    if found is None:  # a local build: no launch or repository button, no made-up address
        hosts = {urlsplit(h).netloc for h in links}
        assert not hosts & {binder_host, colab_host}, hosts
        html = (sitecheck.SITE / chapter_page).read_text(encoding="utf8")
        assert "btn-source-repository-button" not in html and "launch-buttons" not in html
        assert "example/birnn-book" not in html
        return
    # Launch buttons point at this notebook in the published repository and branch.
    repo_url, branch = found
    owner_repo = urlsplit(repo_url).path.strip("/")
    binder = [urlsplit(h) for h in links if urlsplit(h).netloc == binder_host]
    assert any(
        url.scheme == "https"
        and url.path == f"/v2/gh/{owner_repo}/{branch}"
        and parse_qs(url.query).get("urlpath", [""])[0].endswith(f"/{notebook}")
        for url in binder
    ), f"no Binder button for {notebook}: {binder}"
    colab = [urlsplit(h) for h in links if urlsplit(h).netloc == colab_host]
    assert any(
        url.scheme == "https" and url.path == f"/github/{owner_repo}/blob/{branch}/{notebook}"
        for url in colab
    ), f"no Colab button for {notebook}: {colab}"
    assert repo_url in links


def test_the_pdf_is_linked_only_where_it_is_published(site, reports, base_url):
    """With the PDF in the site (CI builds it first), the front page and every page's
    download menu link it; without it (`make book` alone), nothing does."""
    pdf = base_url + "birnn-book.pdf"
    front = reports("intro.html").links
    chapter = reports("chapters/05_reverse_weight_equivalence.html").links
    published = site / "birnn-book.pdf"
    built = sitecheck.ROOT / "_build" / "latex" / "book.pdf"
    if not published.is_file():
        site_built = (site / "intro.html").stat().st_mtime
        stale = built.is_file() and built.stat().st_mtime < site_built
        assert not stale, "make pdf ran before make build, yet the PDF is not in the site"
        assert os.environ.get("CI") != "true", "CI builds the PDF before the site"
        assert pdf not in front and pdf not in chapter, "a link to a PDF that is not there"
        return
    assert pdf in front and pdf in chapter
    assert published.read_bytes()[:5] == b"%PDF-"
    assert not built.is_file() or built.read_bytes() == published.read_bytes()
