"""Pictures of a run: the confusion matrix and the training curves (matplotlib, written as PNG files)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def plot_confusion_matrix(matrix, path: str | Path, labels=("NEGATIVE", "POSITIVE"), title="Confusion matrix") -> None:
    """`matrix` is [[tn, fp], [fn, tp]] (rows = truth, columns = prediction), or N×N for N `labels`."""
    size = len(matrix)
    figure, axes = plt.subplots(figsize=(4.2, 3.8) if size == 2 else (2.2 + 0.8 * size, 1.8 + 0.8 * size))
    image = axes.imshow(matrix, cmap="Blues")
    peak = max(max(row) for row in matrix) or 1
    for row in range(size):
        for column in range(size):
            value = matrix[row][column]
            axes.text(column, row, f"{value:,}", ha="center", va="center", color="white" if value > peak / 2 else "black")
    axes.set_xticks(range(size), labels=list(labels))
    axes.set_yticks(range(size), labels=list(labels))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_training_curves(log_history: list[dict], path: str | Path) -> None:
    """Training loss per logging step and validation loss/accuracy per evaluation, against the epoch."""
    # Only what was logged during training: evaluations after it (of the kept best model) would repeat a point.
    end = next((i for i, entry in enumerate(log_history) if "train_runtime" in entry), len(log_history))
    during = log_history[:end]
    train = [(entry["epoch"], entry["loss"]) for entry in during if "loss" in entry and "epoch" in entry]
    evals = [entry for entry in during if "eval_loss" in entry]
    figure, loss_axes = plt.subplots(figsize=(6, 4))
    if train:
        loss_axes.plot(*zip(*train), label="train loss", color="tab:blue")
    if evals:
        loss_axes.plot([e["epoch"] for e in evals], [e["eval_loss"] for e in evals], "o-", label="validation loss", color="tab:orange")
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("cross-entropy")
    handles, labels = loss_axes.get_legend_handles_labels()
    if any("eval_accuracy" in e for e in evals):
        accuracy_axes = loss_axes.twinx()
        accuracy_axes.plot(
            [e["epoch"] for e in evals], [e["eval_accuracy"] for e in evals], "s--", label="validation accuracy", color="tab:green"
        )
        accuracy_axes.set_ylabel("accuracy")
        more_handles, more_labels = accuracy_axes.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    if handles:
        loss_axes.legend(handles, labels, loc="center right")
    loss_axes.set_title("Training curves")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
