"""Metrics: the `evaluate` modules (each loaded from its folder, offline) `binary_rates`, `multilabel_metrics` and
`regression_metrics`, the metrics of more than two classes, multi-label and regression (`label_metrics`), and
Trainer's compute_metrics."""

import functools
from collections.abc import Callable
from pathlib import Path

import evaluate
import numpy as np

from .binary_rates.binary_rates import binary_rates
# Each evaluate module's folder has the name of the function it wraps. Importing the (empty) folders before the
# functions keeps `imdb_lstm.metrics.multilabel_metrics` (and `.regression_metrics`) the function: Python binds a
# subpackage's name on its parent when it first imports it, which would otherwise replace the function later.
from . import multilabel_metrics as _multilabel_metrics_folder  # noqa: F401
from . import regression_metrics as _regression_metrics_folder  # noqa: F401
from .label_metrics import (MULTILABEL_THRESHOLD_GRID, choose_multilabel_threshold, multiclass_metrics,
                            multilabel_metrics, regression_metrics)

BINARY_RATES_PATH = str(Path(__file__).parent / "binary_rates")
MULTILABEL_METRICS_PATH = str(Path(__file__).parent / "multilabel_metrics")
REGRESSION_METRICS_PATH = str(Path(__file__).parent / "regression_metrics")
# What Trainer logs per evaluation (Trainer prefixes `eval_`/`test_`); counts and the matrix go to result files.
SCALAR_METRICS = ("accuracy", "tpr", "tnr", "fnr", "fpr", "precision", "f1")


@functools.lru_cache(maxsize=1)
def load_binary_rates() -> evaluate.EvaluationModule:
    """The `binary_rates` metric through `evaluate.load` from this package's folder (no Hub needed)."""
    return evaluate.load(BINARY_RATES_PATH)


@functools.lru_cache(maxsize=1)
def load_multilabel_metrics() -> evaluate.EvaluationModule:
    """The `multilabel_metrics` metric through `evaluate.load` from this package's folder (no Hub needed)."""
    return evaluate.load(MULTILABEL_METRICS_PATH)


@functools.lru_cache(maxsize=1)
def load_regression_metrics() -> evaluate.EvaluationModule:
    """The `regression_metrics` metric through `evaluate.load` from this package's folder (no Hub needed)."""
    return evaluate.load(REGRESSION_METRICS_PATH)


def compute_metrics(eval_prediction, id2label: dict | None = None, problem_type: str | None = None,
                    threshold: float | None = None) -> dict:
    """Trainer's `compute_metrics` (bind `id2label`, `problem_type` and `threshold` with `functools.partial`, or use
    `metrics_for`). Two classes: logits → argmax → binary rates, plus the confusion counts, as always. More than
    two: `multiclass_metrics` (accuracy, macro-F1, per-class recall/precision/F1 named by `id2label`) less the
    confusion matrix, which Trainer's logs take no list for (the training run saves the test split's own);
    "multi_label_classification": `multilabel_metrics` with labels named by `id2label` and `threshold` (None: 0.5);
    "regression": `regression_metrics` (a correlation it cannot define is NaN, which Trainer logs as any float).
    `threshold` is only for multi-label."""
    logits, labels = eval_prediction.predictions, eval_prediction.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    if problem_type == "regression":
        return regression_metrics(logits, labels)
    num_labels = logits.shape[-1]
    names = [str(id2label[i]) for i in range(num_labels)] if id2label else [f"LABEL_{i}" for i in range(num_labels)]
    if problem_type == "multi_label_classification":
        return multilabel_metrics(logits, labels, names, threshold=0.5 if threshold is None else threshold)
    if num_labels == 2:
        result = load_binary_rates().compute(predictions=np.argmax(logits, axis=-1), references=labels)
        return {key: result[key] for key in (*SCALAR_METRICS, "tn", "fp", "fn", "tp")}
    if num_labels < 2:
        raise ValueError(f"{num_labels} output per text is no classification: give problem_type='regression'.")
    result = multiclass_metrics(np.argmax(logits, axis=-1), labels, names)
    del result["confusion_matrix"]
    return result


def metrics_for(config) -> Callable:
    """`compute_metrics` for a model config: its label names, problem type and, for multi-label, the threshold
    recorded in it (`multilabel_threshold`, chosen on validation; absent or None: 0.5)."""
    id2label = {int(i): name for i, name in (config.id2label or {}).items()}
    return functools.partial(compute_metrics, id2label=id2label, problem_type=config.problem_type,
                             threshold=getattr(config, "multilabel_threshold", None))


__all__ = ["BINARY_RATES_PATH", "MULTILABEL_METRICS_PATH", "MULTILABEL_THRESHOLD_GRID", "REGRESSION_METRICS_PATH",
           "SCALAR_METRICS", "binary_rates", "choose_multilabel_threshold", "compute_metrics", "load_binary_rates",
           "load_multilabel_metrics", "load_regression_metrics", "metrics_for", "multiclass_metrics",
           "multilabel_metrics", "regression_metrics"]
