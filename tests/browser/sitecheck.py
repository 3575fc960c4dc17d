"""Open pages of the built book in Debian's Chromium and record what a reader's browser sees.

Used by the browser tests (``make browser``): ``serve`` puts a folder on a loopback port,
``Visitor.visit`` loads one page and returns a ``PageReport`` (HTTP status, console and
page errors, every request, images, MathJax state, links, axe-core violations) and saves
a full-page screenshot.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ROOT = Path(__file__).resolve().parents[2]
# BOOK_SITE tests another build (e.g. a private `--path-output` one) instead of _build/html.
SITE = Path(os.environ.get("BOOK_SITE") or ROOT / "_build" / "html")
SCREENSHOTS = Path(os.environ.get("BOOK_SCREENSHOTS") or ROOT / "_build" / "screenshots")
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Folders of the built site that hold assets, not pages (theme templates live in _static).
ASSET_DIRS = ("_static", "_sources", "_images")
BLOCKING_IMPACTS = ("serious", "critical")
# Files `make build` copies into the site only when they were built first: the PDF
# (`make pdf`; CI builds it before the site). A link to one that is absent is not broken.
BUILT_SEPARATELY = ("birnn-book.pdf",)
MODES = ("light", "dark")
_REFRESH = re.compile(r'<meta\s+http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"', re.I)


def site_pages(site: Path = SITE) -> list[str]:
    """Every HTML page of the built site, as paths relative to ``site`` (posix, sorted)."""
    pages = []
    for path in site.rglob("*.html"):
        rel = path.relative_to(site)
        if rel.parts[0] not in ASSET_DIRS:
            pages.append(rel.as_posix())
    return sorted(pages)


def redirect_target(site: Path, page: str) -> str | None:
    """The page a ``<meta http-equiv="refresh">`` stub sends the reader to, else None."""
    match = _REFRESH.search((site / page).read_text(encoding="utf8"))
    return match.group(1) if match else None


class _IdCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if value and (key == "id" or (key == "name" and tag == "a")):
                self.ids.add(value)


@functools.cache
def static_ids(path: Path) -> frozenset[str]:
    """The element ids (and ``<a name>``) written into an HTML file."""
    collector = _IdCollector()
    collector.feed(path.read_text(encoding="utf8"))
    return frozenset(collector.ids)


def broken_internal_links(
    site: Path, base_url: str, hrefs: list[str], live_ids: set[str], page: str
) -> list[str]:
    """Links among ``hrefs`` (absolute URLs) that point into the site but miss a file or id.

    ``live_ids`` are the ids of ``page`` as rendered (scripts may add some), used for
    same-page anchors; other pages' anchors are looked up in their HTML files.
    """
    base = urlsplit(base_url)
    broken = []
    for href in hrefs:
        url = urlsplit(href)
        if url.scheme not in ("http", "https") or url.netloc != base.netloc:
            continue
        rel = unquote(url.path).lstrip("/")
        if rel == "" or rel.endswith("/"):
            rel += "index.html"
        target = site / rel
        if not target.is_file() and rel in BUILT_SEPARATELY and not os.environ.get("CI"):
            continue
        if not target.is_file():
            broken.append(f"{href} (no file {rel})")
            continue
        fragment = unquote(url.fragment)
        if not fragment or target.suffix != ".html":
            continue
        ids = live_ids if rel == page else static_ids(target)
        if fragment not in ids:
            broken.append(f"{href} (no id {fragment!r} in {rel})")
    return broken


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class PageReport:
    """What the browser saw on one page in one colour mode."""

    page: str
    mode: str
    status: int | None = None
    final_url: str = ""
    theme: str = ""
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    math: dict = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    violations: list[dict] = field(default_factory=list)
    unchecked_contrast: list[str] = field(default_factory=list)
    screenshot: Path | None = None


# Waits for MathJax's first typeset (when the page loads MathJax) and for every image.
_SETTLE_JS = """async () => {
  if (document.querySelector('script[src*="mathjax"]')) {
    const t0 = Date.now();
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
      if (Date.now() - t0 > 15000) return 'MathJax did not start';
      await new Promise(r => setTimeout(r, 50));
    }
    await MathJax.startup.promise;
  }
  await Promise.all(Array.from(document.images).map(img => {
    img.loading = 'eager';
    return img.decode().catch(() => null);
  }));
  return '';
}"""

_INSPECT_JS = r"""() => {
  const text = s => s.replace(/\s+/g, ' ').trim().slice(0, 100);
  // Relative luminance (WCAG) of the first opaque background at or above an element.
  const backdrop = el => {
    for (let n = el; n; n = n.parentElement) {
      const m = getComputedStyle(n).backgroundColor.match(/[\d.]+/g);
      if (m && (m.length < 4 || +m[3] > 0.5)) {
        const [r, g, b] = m.slice(0, 3).map(v => {
          v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      }
    }
    return 1;  // the canvas: white
  };
  const sources = Array.from(document.querySelectorAll('.math'));
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const tex = /\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\s][^$]*\$/;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest('pre, code, script, style, textarea, mjx-container, .highlight'))
      continue;
    if (tex.test(n.nodeValue)) raw.push(text(n.nodeValue));
  }
  return {
    theme: document.documentElement.dataset.theme || '',
    images: Array.from(document.images).map(img => ({
      src: img.currentSrc || img.src, width: img.naturalWidth,
      alt: (img.getAttribute('alt') || '').trim(),
      figure: !!img.closest('.bd-content figure, .bd-content .cell_output'),
      backdrop: backdrop(img)})),
    math: {
      sources: sources.length,
      unrendered: sources.filter(e => !e.querySelector('mjx-container'))
        .map(e => text(e.textContent)),
      errors: Array.from(document.querySelectorAll('mjx-merror')).map(
        e => text(e.getAttribute('data-mjx-error') || e.textContent)),
      raw: raw,
    },
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    ids: Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.name),
  };
}"""

_AXE_JS = """async (impacts) => {
  const result = await axe.run(document, {
    resultTypes: ['violations', 'incomplete'], elementRef: true});
  const where = n => n.target.join(' ');
  // Text whose contrast axe could not decide (a background image, a gradient, overlap):
  // inside a table, an admonition or a figure that is unchecked text, so it is reported.
  const unchecked = result.incomplete.filter(r => r.id === 'color-contrast')
    .flatMap(r => r.nodes)
    // Symbols alone (a check mark, a dash) have no contrast for axe to measure.
    .filter(n => !/only non-text characters/.test(n.any[0]?.message || ''))
    .filter(n => n.element && n.element.closest(
      'table, .admonition, .proof, figure, .cell_output, .exercise, .solution'))
    .slice(0, 10).map(n => where(n) + ': ' + (n.any[0]?.message || '').slice(0, 120));
  const violations = result.violations.filter(v => impacts.includes(v.impact)).map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(where)}));
  return {violations, unchecked};
}"""

# pydata-sphinx-theme reads the stored mode before its first paint.
_DARK_INIT = "localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');"


class Visitor:
    """One Chromium, one browser context per colour mode; a fresh tab for every visit."""

    def __init__(
        self, browser, base_url: str, site: Path = SITE, screenshots: Path | None = SCREENSHOTS
    ):
        self.base_url = base_url
        self.site = site
        self.screenshots = screenshots
        self.contexts = {
            "light": browser.new_context(color_scheme="light", service_workers="block"),
            "dark": browser.new_context(color_scheme="dark", service_workers="block"),
        }
        self.contexts["dark"].add_init_script(_DARK_INIT)
        # A request that leaves the loopback server is recorded (the "request" event
        # fires first) and then aborted, so the browser never reaches the network.
        for context in self.contexts.values():
            context.route(lambda url: not url.startswith(base_url), lambda route: route.abort())

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()

    def visit(self, page_path: str, mode: str = "light") -> PageReport:
        report = PageReport(page_path, mode)
        tab = self.contexts[mode].new_page()
        tab.on("request", lambda r: report.requests.append(r.url))
        tab.on("requestfailed", lambda r: report.failed_requests.append(f"{r.url} {r.failure}"))
        tab.on(
            "response",
            lambda r: r.status >= 400 and report.failed_requests.append(f"{r.url} {r.status}"),
        )
        tab.on("console", lambda m: m.type == "error" and report.console_errors.append(m.text))
        tab.on("pageerror", lambda e: report.page_errors.append(str(e)))
        try:
            url = self.base_url + page_path
            response = tab.goto(url, wait_until="load")
            report.status = response.status if response else None
            target = redirect_target(self.site, page_path)
            if target is not None:
                with contextlib.suppress(PlaywrightTimeoutError):  # the test reports it
                    tab.wait_for_url(urljoin(url, target), timeout=10_000)
                tab.wait_for_load_state("networkidle")
                report.final_url = tab.url
                return report
            settle_error = tab.evaluate(_SETTLE_JS)
            if settle_error:
                report.page_errors.append(settle_error)
            tab.wait_for_load_state("networkidle")
            report.final_url = tab.url
            seen = tab.evaluate(_INSPECT_JS)
            report.theme = seen["theme"]
            report.images = seen["images"]
            report.math = seen["math"]
            report.links = seen["links"]
            report.ids = set(seen["ids"])
            if self.screenshots is not None:
                suffix = "" if mode == "light" else f".{mode}"
                name = page_path.removesuffix(".html").replace("/", "__") + suffix + ".png"
                report.screenshot = self.screenshots / name
                report.screenshot.parent.mkdir(parents=True, exist_ok=True)
                # Full page in light mode; the first screen only in dark mode (time).
                tab.screenshot(path=report.screenshot, full_page=mode == "light")
            tab.add_script_tag(path=AXE_JS)  # inlined by Playwright: no request
            axe = tab.evaluate(_AXE_JS, list(BLOCKING_IMPACTS))
            report.violations = axe["violations"]
            report.unchecked_contrast = axe["unchecked"]
        finally:
            tab.close()
        return report
