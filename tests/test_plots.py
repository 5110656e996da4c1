"""The pictures of a run (imdb_lstm.plots): the confusion matrix shows each count in its cell under the label names,
and the training curves plot what was logged during training only (not the evaluations after it), with the
validation accuracy on an axis of its own. Each is a PNG file of the size asked for."""

import struct

import pytest

from imdb_lstm import plots


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots module draws, kept open (it closes each once saved) to be read here."""
    figures, close = [], plots.plt.close
    monkeypatch.setattr(plots.plt, "close", figures.append)
    yield figures
    for figure in figures:
        close(figure)


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_confusion_matrix_shows_every_count_in_its_cell(tmp_path, drawn):
    plots.plot_confusion_matrix([[50, 10], [20, 1120]], tmp_path / "binary.png")
    (axes, _colorbar) = drawn[0].axes
    cells = {(round(text.get_position()[1]), round(text.get_position()[0])): text.get_text() for text in axes.texts}
    assert cells == {(0, 0): "50", (0, 1): "10", (1, 0): "20", (1, 1): "1,120"}  # (row = truth, column = prediction)
    assert [label.get_text() for label in axes.get_xticklabels()] == ["NEGATIVE", "POSITIVE"]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("predicted", "true")
    assert png_size(tmp_path / "binary.png") == (504, 456)  # 4.2 × 3.8 inches at 120 dpi

    plots.plot_confusion_matrix([[1, 1, 0], [0, 2, 0], [1, 0, 2]], tmp_path / "three.png",
                                labels=("bad", "mixed", "good"))
    axes = drawn[1].axes[0]
    assert len(axes.texts) == 9 and [label.get_text() for label in axes.get_yticklabels()] == ["bad", "mixed", "good"]
    assert png_size(tmp_path / "three.png") == (552, 504)  # grows with the number of labels


def test_training_curves_plot_what_was_logged_during_training(tmp_path, drawn):
    history = [
        {"epoch": 0.5, "loss": 0.69}, {"epoch": 1.0, "loss": 0.5},
        {"epoch": 1.0, "eval_loss": 0.55, "eval_accuracy": 0.7},
        {"epoch": 1.5, "loss": 0.4}, {"epoch": 2.0, "loss": 0.3},
        {"epoch": 2.0, "eval_loss": 0.45, "eval_accuracy": 0.8},
        {"epoch": 2.0, "train_runtime": 12.0},
        {"epoch": 2.0, "eval_loss": 0.45, "eval_accuracy": 0.8},  # the kept model evaluated after training
    ]
    plots.plot_training_curves(history, tmp_path / "curves.png")
    loss_axes, accuracy_axes = drawn[0].axes
    lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in loss_axes.get_lines()}
    assert lines == {"train loss": ([0.5, 1.0, 1.5, 2.0], [0.69, 0.5, 0.4, 0.3]),
                     "validation loss": ([1.0, 2.0], [0.55, 0.45])}
    (accuracy,) = accuracy_axes.get_lines()
    assert (list(accuracy.get_xdata()), list(accuracy.get_ydata())) == ([1.0, 2.0], [0.7, 0.8])
    assert png_size(tmp_path / "curves.png") == (720, 480)

    plots.plot_training_curves([{"epoch": 0.5, "loss": 0.69}], tmp_path / "no-evaluation.png")
    assert len(drawn[1].axes) == 1 and (tmp_path / "no-evaluation.png").is_file()  # no accuracy axis without one
