"""What a reader sees at a phone's and a laptop's width: nothing pans, nothing is cut off.

- At 390 px (a phone) no page is wider than the screen: the page itself never scrolls
  sideways (a wide code block or table scrolls inside its own box, which is fine).
- At 1280 px no display equation is cut off at the text column's edge (at 390 px a long
  one may scroll inside its own box).
- No figure caption shows raw TeX or code markup (``_``, ``{``, ``\\``) as text: captions
  are MyST, so math goes in ``$...$`` and code in backticks.
"""

from __future__ import annotations

import re

import sitecheck

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

_PAGE_WIDTH_JS = """() => Math.max(document.documentElement.scrollWidth,
                                     document.body.scrollWidth)"""
# Display equations wider than the text column: MathJax cuts them at the column's edge (a
# scroll bar, often hidden, is the only way to the rest). At 1280 px every one must fit.
_CLIPPED_MATH_JS = """() => Array.from(document.querySelectorAll(
    'mjx-container[display="true"]')).filter(m => m.scrollWidth > m.clientWidth + 1)
  .map(m => {
    const tex = m.parentElement.querySelector('script[type^="math/tex"]');
    return (tex ? tex.textContent : m.textContent).replace(/\\s+/g, ' ').slice(0, 80);
  })"""
_CAPTIONS_JS = """() => Array.from(document.querySelectorAll('figcaption')).map(c => {
  const copy = c.cloneNode(true);
  copy.querySelectorAll('mjx-container, code, .headerlink').forEach(e => e.remove());
  return copy.textContent.replace(/\\s+/g, ' ').trim();
})"""
RAW_MARKUP = re.compile(r"[_{}\\^]")


def _evaluate(browser, base_url, page, viewport, *scripts):
    """Open ``page`` at ``viewport`` offline, wait for MathJax and the images, and return
    what each script evaluates to."""
    context = browser.new_context(viewport=viewport, service_workers="block")
    context.route(lambda url: not url.startswith(base_url), lambda route: route.abort())
    try:
        tab = context.new_page()
        tab.goto(base_url + page, wait_until="load")
        settle_error = tab.evaluate(sitecheck._SETTLE_JS)  # MathJax typeset, images decoded
        assert not settle_error, settle_error
        return [tab.evaluate(script) for script in scripts]
    finally:
        context.close()


def test_no_page_pans_sideways_on_a_phone(page, browser, base_url, site):
    if sitecheck.redirect_target(site, page) is not None:
        return
    [width] = _evaluate(browser, base_url, page, PHONE, _PAGE_WIDTH_JS)
    assert width <= PHONE["width"], f"{page} is {width} px wide on a {PHONE['width']} px phone"


def test_no_display_math_is_cut_off_on_a_laptop(page, browser, base_url, site):
    if sitecheck.redirect_target(site, page) is not None:
        return
    clipped, captions = _evaluate(browser, base_url, page, DESKTOP, _CLIPPED_MATH_JS,
                                  _CAPTIONS_JS)
    assert clipped == [], f"display math cut off at {DESKTOP['width']} px: {clipped}"
    raw = [c for c in captions if RAW_MARKUP.search(c)]
    assert raw == [], f"captions showing raw TeX or code markup: {raw}"
