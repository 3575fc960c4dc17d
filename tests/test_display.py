"""figure_text and its IPython hook: a figure's text form is its titles, never a repr."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from birnn_utils.display import figure_text, install_figure_text  # noqa: E402


def test_figure_text_names_the_titles():
    fig, (left, right) = plt.subplots(1, 2)
    fig.suptitle("Gradients")
    left.set_title("RNN")
    right.set_title("GRU")
    assert figure_text(fig) == "Figure: Gradients; RNN; GRU"
    plt.close(fig)


def test_untitled_figure_and_bad_input():
    fig = plt.figure()
    assert figure_text(fig) == "Figure (untitled)"
    plt.close(fig)
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure, got Axes"):
        figure_text(plt.axes())
    plt.close("all")


def test_install_is_a_no_op_outside_ipython():
    assert install_figure_text() is False


def test_install_in_ipython_replaces_the_figure_repr(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    try:
        assert install_figure_text() is True
        fig, ax = plt.subplots()
        ax.set_title("Loss")
        data, _ = shell.display_formatter.format(fig)
        assert data["text/plain"] == "Figure: Loss"
        plt.close(fig)
    finally:
        InteractiveShell.clear_instance()
