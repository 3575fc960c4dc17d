"""Where the book is published from: its repository, the launch buttons and the PDF link.

The repository is not written into ``_config.yml`` (a placeholder there would reach every
page and every notebook). It comes from the environment of the build:

- ``BOOK_REPOSITORY``: ``owner/name`` on GitHub (what GitHub Actions calls
  ``GITHUB_REPOSITORY``) or the repository's ``https://github.com/owner/name`` URL;
- ``BOOK_BRANCH``: the branch the launch buttons open and the setup cell installs from
  (default ``main``).

The deploy workflow sets both. Without ``BOOK_REPOSITORY`` (a local ``make book``) the site
has no repository button and no Binder or Colab button, and the chapters' setup cell says
how to install ``birnn_utils`` instead of installing it from a made-up address.

As a Sphinx extension (``tools.book_repository`` in ``_config.yml``'s extension list; the
Makefile puts the checkout on ``PYTHONPATH``) it also writes the edition (version and
commit) on the PDF's title page and the source repository on its back, points the
download menu's ".pdf"
entry of every page at the book's PDF when the build publishes one (``make pdf`` before
``make build``), instead of the browser's print dialog, and drops the front page's PDF
paragraph (the raw HTML that links ``birnn-book.pdf``) when there is none.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path

REPOSITORY_ENV = "BOOK_REPOSITORY"
BRANCH_ENV = "BOOK_BRANCH"
PDF_NAME = "birnn-book.pdf"
#: Where ``make build`` puts the PDF for ``html_extra_path`` (relative to the source dir).
PDF_IN_BUILD = Path("_build") / "vendor" / PDF_NAME

_OWNER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")
_BRANCH = re.compile(r"[A-Za-z0-9._/-]{1,200}")


def repository(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """``(https URL, branch)`` of the repository the book is published from, or ``None``.

    Raises ``ValueError`` for a value that is set but is not a GitHub repository or a
    branch name (a typo must not publish a broken link).
    """
    env = os.environ if env is None else env
    raw = (env.get(REPOSITORY_ENV) or "").strip().rstrip("/")
    if not raw:
        return None
    owner_name = raw.removeprefix("https://github.com/")
    if owner_name.endswith(".git"):
        owner_name = owner_name[:-4]
    if not _OWNER_NAME.fullmatch(owner_name) or owner_name.endswith((".", "..")):
        raise ValueError(f"{REPOSITORY_ENV} must be owner/name or https://github.com/owner/"
                         f"name, got {raw!r}")
    branch = (env.get(BRANCH_ENV) or "main").strip()
    if not _BRANCH.fullmatch(branch) or ".." in branch or branch.startswith(("-", "/")):
        raise ValueError(f"{BRANCH_ENV} must be a branch name, got {branch!r}")
    return f"https://github.com/{owner_name}", branch


# ---------------------------------------------------------------- the Sphinx extension


def _configure(app, config) -> None:
    """Set the theme's repository and launch options from the environment."""
    options = dict(config.html_theme_options or {})
    found = repository()
    launch = dict(options.get("launch_buttons") or {})
    if found is None:
        options["use_repository_button"] = False
        options.pop("repository_url", None)
        for key in ("binderhub_url", "colab_url", "jupyterhub_url", "jupyterlite_url"):
            launch.pop(key, None)
    else:
        options["repository_url"], options["repository_branch"] = found
        options["use_repository_button"] = True
    options["launch_buttons"] = launch
    config.html_theme_options = options


def edition(root: Path) -> str:
    """``0.1.0 (commit abc1234)``: the edition of the checkout at ``root`` (PDF title page).

    The version is the helper package's (pyproject.toml); the commit is ``HEAD``'s, with
    ``+`` when the working tree has changes, or ``unknown`` outside a git checkout.
    """
    try:
        version = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf8"))[
            "project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        version = "unknown"
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        sha, dirty = "unknown", ""
    return f"{version} (commit {sha}{'+' if dirty.strip() else ''})"


def _title_page(app, config) -> None:
    """The PDF's title page: the edition under the title, the source on its back."""
    config.release = edition(Path(app.srcdir))
    found = repository()
    source = (f"Source: \\url{{{found[0]}}} (branch \\texttt{{{found[1]}}})." if found
              else "Built from a local checkout (no published repository was set).")
    title = config.html_title or config.project
    back = ("\\newcommand{\\sphinxbackoftitlepage}{\\vspace*{\\fill}\\noindent "
            f"{title}, version {config.release}.\\par\\smallskip\\noindent {source}"
            "\\par\\clearpage}")
    elements = dict(config.latex_elements or {})
    elements["releasename"] = "Version"  # Sphinx's default reads "Release"
    elements["preamble"] = elements.get("preamble", "") + "\n" + back + "\n"
    config.latex_elements = elements


def _has_pdf(app) -> bool:
    return (Path(app.srcdir) / PDF_IN_BUILD).is_file()


def _pdf_in_download_menu(app, pagename, templatename, context, doctree) -> None:
    """The ".pdf" download entry: the book's PDF if there is one, else no entry."""
    for button in context.get("header_buttons", []):
        if button.get("label") != "download-buttons":
            continue
        kept = [b for b in button["buttons"] if b.get("label") != "download-pdf-button"]
        if _has_pdf(app):
            kept.append({"type": "link", "url": context["pathto"](PDF_NAME, 1),
                         "text": "book (PDF)", "tooltip": "Download the whole book as a PDF",
                         "icon": "fas fa-file-pdf", "label": "download-book-pdf-button"})
        button["buttons"] = kept


def _drop_dead_pdf_link(app, doctree, docname) -> None:
    if app.builder.format != "html" or _has_pdf(app):
        return
    from docutils import nodes

    for node in list(doctree.findall(nodes.raw)):
        if PDF_NAME in node.astext():
            node.parent.remove(node)


def setup(app):
    app.connect("config-inited", _configure, priority=400)
    app.connect("config-inited", _title_page, priority=400)
    # After sphinx-book-theme's own header buttons (priority 501).
    app.connect("html-page-context", _pdf_in_download_menu, priority=600)
    app.connect("doctree-resolved", _drop_dead_pdf_link)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
