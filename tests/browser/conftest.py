"""Fixtures for the browser tests: the built site on loopback, one Chromium, cached visits.

The pages are discovered by globbing ``_build/html`` when the tests are collected, so a
new chapter is tested as soon as it is built. Build first (``make build``); ``make
browser`` does both. Without /usr/bin/chromium the tests skip, except under CI=true
where they fail.
"""

from __future__ import annotations

import os
import shutil

import pytest
import sitecheck


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    pages = sitecheck.site_pages() if sitecheck.SITE.is_dir() else []
    if "page" in metafunc.fixturenames:
        content = [p for p in pages if sitecheck.redirect_target(sitecheck.SITE, p) is None]
        metafunc.parametrize("page", content or ["<no built site: run make build>"])
    if "chapter_page" in metafunc.fixturenames:
        # Chapters are notebooks (a markdown page under chapters/, such as an index, has
        # no launch buttons and no exercises).
        chapters = [p for p in pages if p.startswith("chapters/")
                    and (sitecheck.ROOT / p).with_suffix(".ipynb").is_file()]
        metafunc.parametrize("chapter_page", chapters or ["<no chapter pages built>"])
    if "mode" in metafunc.fixturenames:
        metafunc.parametrize("mode", sitecheck.MODES)


@pytest.fixture(scope="session")
def site():
    if not (sitecheck.SITE / "index.html").is_file():
        pytest.fail(f"no built site in {sitecheck.SITE}: run `make build` first")
    return sitecheck.SITE


@pytest.fixture(scope="session")
def base_url(site):
    with sitecheck.serve(site) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    if not sitecheck.CHROMIUM.exists():
        message = f"{sitecheck.CHROMIUM} missing: apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    if not sitecheck.AXE_JS.is_file():
        pytest.fail(f"{sitecheck.AXE_JS} missing: run `npm ci`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(sitecheck.CHROMIUM), args=sitecheck.CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def visitor(browser, base_url):
    shutil.rmtree(sitecheck.SCREENSHOTS, ignore_errors=True)  # no shots of removed pages
    visitor = sitecheck.Visitor(browser, base_url)
    yield visitor
    visitor.close()


@pytest.fixture(scope="session")
def reports(visitor):
    """Memoised visits: each (page, mode) is loaded once and shared by every test."""
    cache: dict[tuple[str, str], sitecheck.PageReport] = {}

    def get(page: str, mode: str = "light") -> sitecheck.PageReport:
        if not (sitecheck.SITE / page).is_file():
            pytest.fail(f"page {page} is not in the built site")
        if (page, mode) not in cache:
            cache[page, mode] = visitor.visit(page, mode)
        return cache[page, mode]

    return get
