// Accessibility fixes for markup written by the theme, myst-nb and docutils, found by the
// axe-core browser tests (tests/browser). Jupyter Book adds every .js file in _static/ to
// every page. Each fix is idempotent; it runs again whenever nodes are added, because
// Font Awesome replaces its icons after the page has loaded.
(() => {
  "use strict";

  function fix() {
    // axe "label-content-name-mismatch": a control's accessible name must contain its
    // visible text (speech-input users say what they see). These aria-labels do not:
    // the search button shows "Search Ctrl+K", a hidden-code toggle "Show code cell source".
    // Without the aria-label the name is the visible text itself.
    for (const el of document.querySelectorAll(
      '.search-button__button[aria-label], summary[aria-label="Toggle hidden content"]'
    )) {
      el.removeAttribute("aria-label");
    }
    for (const button of document.querySelectorAll(".search-button__button")) {
      if (!button.hasAttribute("aria-keyshortcuts")) button.setAttribute("aria-keyshortcuts", "Control+K");
    }
    // Colour-mode button (aria-label "Color mode"): Font Awesome turns its icons into
    // <svg role="img"><title>Light</title>..., text that contradicts the label. The icons
    // are decoration: drop their titles and hide them.
    for (const icon of document.querySelectorAll(".theme-switch-button svg.theme-switch")) {
      for (const title of icon.querySelectorAll("title")) title.remove();
      icon.removeAttribute("aria-labelledby");
      if (icon.getAttribute("aria-hidden") !== "true") icon.setAttribute("aria-hidden", "true");
    }
    // axe "aria-required-children": docutils writes role="list" around bibliography entries
    // with the deprecated role "doc-biblioentry", which is not a list item.
    for (const entry of document.querySelectorAll('.citation-list > [role="doc-biblioentry"]')) {
      entry.setAttribute("role", "listitem");
    }
  }

  new MutationObserver(fix).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", fix);
})();
