"""How figures appear in a notebook's stored outputs.

Jupyter stores a plain-text stand-in next to every figure's PNG; by default it is
matplotlib's repr, ``<Figure size 640x480 with 1 Axes>``, which tells a reader of the
text nothing. ``install_figure_text()`` replaces it with the figure's titles, a short
text alternative that nbval can compare. It also stores figures at twice the screen
resolution (IPython's "retina" PNG: 200 dpi, shown at the figure's size), so that they
stay sharp on high-density screens and in the PDF.
"""

from matplotlib.figure import Figure

from birnn_utils.validation import describe


def figure_text(fig: Figure) -> str:
    """One line naming the figure by its titles: ``"Figure: title; axes title; ..."``."""
    if not isinstance(fig, Figure):
        raise TypeError(f"figure_text: fig must be a matplotlib Figure, got {describe(fig)}")
    titles = []
    if fig._suptitle is not None and fig._suptitle.get_text():
        titles.append(fig._suptitle.get_text())
    titles += [ax.get_title() for ax in fig.axes if ax.get_title()]
    return "Figure: " + "; ".join(titles) if titles else "Figure (untitled)"


def install_figure_text() -> bool:
    """Use ``figure_text`` as the plain-text form of figures in this IPython kernel, and
    store figures as 200-dpi ("retina") PNGs.

    Returns False (and does nothing) outside IPython.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return False
    shell = get_ipython()
    if shell is None:
        return False
    # Loading the inline backend resets the figure formatters, and pyplot loads it only at
    # the first figure: load it now, then register, or the registration is dropped.
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib_inline.backend_inline import InlineBackend, set_matplotlib_formats

    InlineBackend.instance().figure_formats = {"retina"}
    plt.switch_backend(matplotlib.get_backend())
    set_matplotlib_formats("retina")  # drops every Figure formatter: register after it

    plain = shell.display_formatter.formatters["text/plain"]
    plain.for_type(Figure, lambda fig, printer, cycle: printer.text(figure_text(fig)))
    return True
