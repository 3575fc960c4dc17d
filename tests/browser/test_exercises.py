"""Exercises do not spoil themselves: no part of a solution shows before the reader asks.

Every chapter ends with an Exercises section of sphinx-exercise ``{exercise}`` and
``{solution}`` directives (code solutions wrapped in ``{solution-start}`` /
``{solution-end}``, so their cells, input and output, sit inside the folded solution).
Opened in Chromium, nothing of any solution (prose, code, output, figures) may be visible
until its toggle is clicked, and all of it must be visible after; opening one solution
opens no other. See CONTRIBUTING.md for the markup.
"""

from __future__ import annotations

import re

import pytest

MIN_EXERCISES = 5
NUMBERED_CHAPTER = re.compile(r"chapters/\d\d_[^/]+\.html$")

# The Exercises section: the <section> whose own heading reads "Exercises".
_SECTION_JS = """() => Array.from(document.querySelectorAll('article section')).find(s => {
  const h = s.querySelector(':scope > h1, :scope > h2, :scope > h3');
  if (!h) return false;
  const c = h.cloneNode(true);
  c.querySelectorAll('.section-number, .headerlink').forEach(e => e.remove());
  return c.textContent.trim() === 'Exercises';
})"""

_STATE_JS = (
    """() => {
  const section = (SECTION_FINDER)();
  if (!section) return null;
  const shown = e => {
    const r = e.getBoundingClientRect();
    return e.checkVisibility({visibilityProperty: true, opacityProperty: true})
      && r.width > 0 && r.height > 0;
  };
  const describe = e => (e.className ? e.tagName + '.' + String(e.className).split(' ')[0]
    : e.tagName) + ': ' + (e.textContent || e.getAttribute('alt') || '').trim().slice(0, 60);
  const exercises = Array.from(section.querySelectorAll('.exercise')).map(e => e.id);
  const solutions = Array.from(section.querySelectorAll('.solution')).map(s => {
    const title = s.querySelector(':scope > .admonition-title');
    const body = Array.from(s.querySelectorAll('*')).filter(e => !title || !title.contains(e));
    // What a reader must see once the solution is open: text, code, outputs, figures.
    const content = body.filter(e => e.matches(
      'p, li, pre, img, table, mjx-container, .cell_input, .cell_output'));
    const refs = title ? Array.from(title.querySelectorAll('a[href^="#"]')) : [];
    return {
      id: s.id,
      title: title ? title.textContent.trim().replace(/\\s+/g, ' ') : '',
      solves: refs.map(a => decodeURIComponent(a.getAttribute('href').slice(1))),
      content: content.length,
      shown: body.filter(shown).map(describe),
      hidden: content.filter(e => !shown(e)).map(describe),
    };
  });
  // Code cells of the section that are not inside a solution: their input and output
  // would show under the question.
  const loose = Array.from(section.querySelectorAll('.cell'))
    .filter(c => !c.closest('.solution')).map(describe);
  return {exercises, solutions, loose};
}"""
    .replace("SECTION_FINDER", _SECTION_JS)
)


def _state(tab):
    return tab.evaluate(_STATE_JS)


@pytest.fixture
def chapter_tab(chapter_page, visitor, base_url, site):
    if not (site / chapter_page).is_file():
        pytest.fail(f"page {chapter_page} is not in the built site")
    tab = visitor.contexts["light"].new_page()
    tab.goto(base_url + chapter_page, wait_until="load")
    tab.wait_for_load_state("networkidle")
    yield tab
    tab.close()


def test_exercises_section_is_last_and_uses_sphinx_exercise(chapter_page, chapter_tab):
    state = _state(chapter_tab)
    if state is None:
        if NUMBERED_CHAPTER.search(chapter_page):
            pytest.fail(f"{chapter_page} has no Exercises section")
        pytest.skip(f"{chapter_page} has no Exercises section")
    assert state["loose"] == [], (
        "code cells in the Exercises section outside a solution (their output shows "
        "before a click): wrap them in {solution-start} ... {solution-end}"
    )
    if NUMBERED_CHAPTER.search(chapter_page):
        assert len(state["exercises"]) >= MIN_EXERCISES, (
            f"{len(state['exercises'])} {{exercise}} directives, expected >= {MIN_EXERCISES}"
        )
    solved = [label for s in state["solutions"] for label in s["solves"]]
    unsolved = [label for label in state["exercises"] if label not in solved]
    assert unsolved == [], "exercises without a {solution}"
    is_last = chapter_tab.evaluate(
        "() => { const s = (%s)(); return !!s && !s.nextElementSibling; }".replace(
            "%s", _SECTION_JS
        )
    )
    assert is_last, "Exercises is the last section of the chapter"


def test_solutions_are_hidden_until_opened(chapter_page, chapter_tab):
    state = _state(chapter_tab)
    if state is None or not state["solutions"]:
        pytest.skip(f"{chapter_page} has no solutions (the test above says why)")
    for solution in state["solutions"]:
        assert solution["content"] > 0, f"{solution['title']} is empty"
        assert solution["shown"] == [], f"{solution['title']} shows before a click"

    for index, solution in enumerate(state["solutions"]):
        button = chapter_tab.locator(f'[id="{solution["id"]}"] > .admonition-title .toggle-button')
        assert button.count() == 1, f"{solution['title']} has no toggle (add :class: dropdown)"
        button.click()
        chapter_tab.wait_for_function(
            "(id) => !document.getElementById(id).classList.contains('toggle-hidden')",
            arg=solution["id"],
            timeout=5_000,
        )
        after = _state(chapter_tab)["solutions"]
        for _ in range(50):  # up to 5 s for the unfold transition (opacity, height)
            if not after[index]["hidden"]:
                break
            chapter_tab.wait_for_timeout(100)
            after = _state(chapter_tab)["solutions"]
        assert after[index]["hidden"] == [], (
            f"{solution['title']}: parts still hidden after opening it (a hide-input or "
            "hide-output tag inside a solution folds them a second time)"
        )
        for other in after[index + 1 :]:
            assert other["shown"] == [], f"opening {solution['title']} showed {other['title']}"
