"""The page chrome works as a reader uses it: one search control, a working sidebar toggle.

sphinx-book-theme 1.3.0 with pydata-sphinx-theme 0.17.1 rendered a second header bar
with a duplicate "Search Ctrl+K" field, and a second set of sidebar toggles in it, which
captured the theme's click handler: the visible "Toggle primary sidebar" button did
nothing (sphinx-book-theme issue #999). These tests click through the chrome at desktop
and phone widths, on the front page and on a chapter.
"""

from __future__ import annotations

import pytest

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PAGES = ["intro.html", "chapters/03_bidirectional.html"]

# Controls a reader can see and use: displayed, not clipped to nothing, on screen.
_VISIBLE_JS = """(selector) => Array.from(document.querySelectorAll(selector)).filter(e => {
  const r = e.getBoundingClientRect();
  return e.checkVisibility({visibilityProperty: true, opacityProperty: true})
    && r.width > 0 && r.height > 0 && r.right > 0 && r.left < window.innerWidth
    && r.bottom > 0 && r.top < window.innerHeight;
}).map(e => e.outerHTML.slice(0, 120))"""
SEARCH_CONTROLS = ".search-button__button, .search-button-field, form.bd-search, input[type=search]"
NAV_LINKS = "nav.bd-docs-nav a.reference"


@pytest.fixture(params=PAGES)
def chrome_page(request, site):
    if not (site / request.param).is_file():
        pytest.fail(f"page {request.param} is not in the built site")
    return request.param


def _open(browser, base_url, page, viewport):
    context = browser.new_context(viewport=viewport, service_workers="block")
    context.route(lambda url: not url.startswith(base_url), lambda route: route.abort())
    tab = context.new_page()
    tab.goto(base_url + page, wait_until="load")
    tab.wait_for_load_state("networkidle")
    return context, tab


def visible(tab, selector: str) -> list[str]:
    return tab.evaluate(_VISIBLE_JS, selector)


def _wait_for(tab, selector: str, shown: bool) -> None:
    """Wait (up to 5 s, for the theme's transitions) until ``selector`` is shown or gone."""
    tab.wait_for_function(
        f"(selector) => ({_VISIBLE_JS})(selector).length {'>' if shown else '=='} 0",
        arg=selector,
        timeout=5_000,
    )


def test_exactly_one_visible_search_control(chrome_page, browser, base_url):
    context, tab = _open(browser, base_url, chrome_page, DESKTOP)
    try:
        controls = visible(tab, SEARCH_CONTROLS)
        assert len(controls) == 1, f"visible search controls: {controls}"
        assert visible(tab, "header#pst-header") == [], "a second header bar is shown"
    finally:
        context.close()


def test_primary_toggle_hides_and_shows_the_sidebar(chrome_page, browser, base_url):
    context, tab = _open(browser, base_url, chrome_page, DESKTOP)
    try:
        toggles = visible(tab, ".primary-toggle")
        assert len(toggles) == 1, f"visible primary-sidebar toggles: {toggles}"
        assert visible(tab, NAV_LINKS), "the sidebar's navigation is shown at first"
        article = tab.locator(".bd-article-container").bounding_box()["width"]
        toggle = tab.locator(".primary-toggle:visible")
        toggle.click()
        _wait_for(tab, NAV_LINKS, shown=False)
        wider = tab.locator(".bd-article-container").bounding_box()["width"]
        assert wider > article, "the article takes the room the sidebar leaves"
        toggle.click()
        _wait_for(tab, NAV_LINKS, shown=True)
    finally:
        context.close()


def test_phone_navigation_drawer_opens_and_closes(chrome_page, browser, base_url):
    context, tab = _open(browser, base_url, chrome_page, PHONE)
    try:
        assert visible(tab, NAV_LINKS) == [], "the drawer starts closed on a phone"
        controls = visible(tab, SEARCH_CONTROLS)
        assert len(controls) == 1, f"visible search controls on a phone: {controls}"
        toggles = visible(tab, ".primary-toggle")
        assert len(toggles) == 1, f"visible primary-sidebar toggles: {toggles}"
        toggle = tab.locator(".primary-toggle:visible")
        toggle.click()
        _wait_for(tab, NAV_LINKS, shown=True)
        tab.keyboard.press("Escape")
        _wait_for(tab, NAV_LINKS, shown=False)
        # Open again and close by tapping beside the drawer, as on a touch screen.
        toggle.click()
        _wait_for(tab, NAV_LINKS, shown=True)
        tab.mouse.click(PHONE["width"] - 10, PHONE["height"] // 2)
        _wait_for(tab, NAV_LINKS, shown=False)
    finally:
        context.close()

