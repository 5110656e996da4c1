"""Metrics for what the binary rates do not cover: more than two classes, several labels per text, and regression.
scikit-learn and scipy compute them; the binary case stays with `binary_rates` (TPR, TNR, FNR, FPR as before).

- `multiclass_metrics`: accuracy, macro-F1, macro precision and recall, per-class recall, precision and F1
  (`recall_<label>`, ...), and the confusion matrix (rows = truth, columns = prediction);
- `multilabel_metrics`: per-label decisions sigmoid(logit) > threshold (0.5 unless chosen); subset accuracy (every
  label right), micro and macro F1, precision and recall, per-label precision, recall and F1, and the threshold;
  `choose_multilabel_threshold` picks the threshold on validation outputs, to be applied to test;
- `regression_metrics`: mean squared and mean absolute error, Pearson and Spearman correlation.

`multilabel_metrics` and `regression_metrics` are also `evaluate` modules: the folders of those names beside
this file, which call these functions.
"""

import numpy as np
from scipy.special import logit
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import (accuracy_score, confusion_matrix, mean_absolute_error, mean_squared_error,
                             precision_recall_fscore_support)

__all__ = ["MULTILABEL_THRESHOLD_GRID", "choose_multilabel_threshold", "multiclass_metrics", "multilabel_metrics",
           "regression_metrics"]

# The thresholds `choose_multilabel_threshold` tries: 0.05, 0.10, ..., 0.95. A fixed, coarse grid: a threshold tuned
# finer than the validation split can tell apart would only fit its noise.
MULTILABEL_THRESHOLD_GRID = tuple(round(0.05 * step, 2) for step in range(1, 20))


def multiclass_metrics(predictions, references, label_names) -> dict:
    """Single-label metrics over `len(label_names)` classes from predicted and true class ids. A class never
    predicted (or never present) gets precision (recall) 0.0 rather than a warning and NaN."""
    predictions = np.asarray(predictions).astype(int).reshape(-1)
    references = np.asarray(references).astype(int).reshape(-1)
    if predictions.shape != references.shape:
        raise ValueError(f"{predictions.size} predictions for {references.size} references.")
    classes = list(range(len(label_names)))
    outside = sorted(set(np.unique(np.concatenate([predictions, references])).tolist()) - set(classes))
    if outside:
        raise ValueError(f"class ids {outside} are outside 0..{len(classes) - 1} ({len(classes)} labels: "
                         f"{list(label_names)}).")
    precision, recall, f1, _ = precision_recall_fscore_support(references, predictions, labels=classes,
                                                               zero_division=0.0)
    result = {
        "accuracy": float(accuracy_score(references, predictions)),
        "macro_f1": float(np.mean(f1)),
        "macro_precision": float(np.mean(precision)),
        "macro_recall": float(np.mean(recall)),
    }
    for name, p, r, f in zip(label_names, precision, recall, f1):
        result.update({f"recall_{name}": float(r), f"precision_{name}": float(p), f"f1_{name}": float(f)})
    result["confusion_matrix"] = confusion_matrix(references, predictions, labels=classes).tolist()
    return result


def _multilabel_arrays(logits, references) -> tuple[np.ndarray, np.ndarray]:
    """`logits` as floats and `references` as 0/1 ints, both (texts, labels), or a ValueError saying what is wrong."""
    logits, references = np.asarray(logits, dtype=float), np.asarray(references, dtype=float)
    if logits.ndim != 2 or logits.shape != references.shape:
        raise ValueError(f"logits of shape {logits.shape} for references of shape {references.shape}: multi-label "
                         "metrics take both as (texts, labels), one logit and one 0/1 target per label.")
    if not np.isin(references, (0, 1)).all():
        others = sorted(set(references.ravel().tolist()) - {0, 1})[:5]
        raise ValueError(f"multi-label references must be 0 or 1; got {others} (soft targets cannot be scored this "
                         "way: round them first).")
    return logits, references.astype(int)


def _multilabel_predictions(logits: np.ndarray, threshold: float) -> np.ndarray:
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold={threshold!r} is no probability strictly between 0 and 1: a label is predicted "
                         "where sigmoid(logit) > threshold; give e.g. 0.5 or choose_multilabel_threshold's value.")
    # sigmoid(x) > t exactly where x > logit(t); comparing logits keeps large ones from rounding to probability 1.0,
    # and logit(0.5) is exactly 0.0, so the default decides as `logits > 0` always did.
    return (logits > logit(threshold)).astype(int)


def multilabel_metrics(logits, references, label_names=None, threshold: float = 0.5) -> dict:
    """Multi-label metrics from (texts, labels) logits and 0/1 references: a label is predicted where
    sigmoid(logit) > `threshold` (a probability in (0, 1); pick it on validation with `choose_multilabel_threshold`).

    Returns `subset_accuracy` (the share of texts with every label right), `micro_f1`, `micro_precision`,
    `micro_recall` (over all (text, label) decisions pooled), `macro_f1`, `macro_precision`, `macro_recall` (the
    unweighted mean over labels), per label `precision_<name>`, `recall_<name>`, `f1_<name>` (names from
    `label_names`, else LABEL_0, LABEL_1, ...), and `threshold`. A label never predicted (never present) gets
    precision (recall) 0.0 rather than a warning and NaN."""
    logits, references = _multilabel_arrays(logits, references)
    num_labels = logits.shape[1]
    if label_names is None:
        label_names = [f"LABEL_{i}" for i in range(num_labels)]
    if len(label_names) != num_labels:
        raise ValueError(f"{len(label_names)} label_names ({list(label_names)}) for {num_labels} labels per text: give "
                         "one name per column of the logits, in column order, or none.")
    predictions = _multilabel_predictions(logits, threshold)
    precision, recall, f1, _ = precision_recall_fscore_support(references, predictions, zero_division=0.0)
    micro_precision, micro_recall, micro_f1, _ = precision_recall_fscore_support(
        references, predictions, average="micro", zero_division=0.0)
    result = {
        "subset_accuracy": float(accuracy_score(references, predictions)),
        "micro_f1": float(micro_f1),
        "micro_precision": float(micro_precision),
        "micro_recall": float(micro_recall),
        "macro_f1": float(np.mean(f1)),
        "macro_precision": float(np.mean(precision)),
        "macro_recall": float(np.mean(recall)),
    }
    for name, p, r, f in zip(label_names, precision, recall, f1):
        result.update({f"precision_{name}": float(p), f"recall_{name}": float(r), f"f1_{name}": float(f)})
    result["threshold"] = float(threshold)
    return result


def choose_multilabel_threshold(logits, references) -> float:
    """The one probability threshold, shared by every label, of `MULTILABEL_THRESHOLD_GRID` (0.05..0.95 by 0.05) that
    maximises micro-F1 of `multilabel_metrics` on these outputs. Chosen on validation, then applied to test: choosing
    it on the test split would report a score tuned to that split. Ties go to the threshold closest to 0.5 (the
    lower one of two equally close), so a flat validation curve keeps the usual 0.5."""
    by_closeness_to_half = sorted(MULTILABEL_THRESHOLD_GRID, key=lambda threshold: (abs(threshold - 0.5), threshold))
    best_threshold, best_f1 = None, -1.0
    for threshold in by_closeness_to_half:
        f1 = multilabel_metrics(logits, references, threshold=threshold)["micro_f1"]
        if f1 > best_f1:  # strictly better: an equal F1 further from 0.5 does not replace the closer one
            best_threshold, best_f1 = threshold, f1
    return best_threshold


def _correlation(function, predictions: np.ndarray, references: np.ndarray) -> float:
    """`function`'s coefficient, or NaN where it is undefined: a constant column (or a single text) has no variance
    to correlate with. Checked here rather than left to scipy, which warns and returns NaN itself."""
    if np.ptp(predictions) == 0 or np.ptp(references) == 0:
        return float("nan")
    return float(function(predictions, references).statistic)


def regression_metrics(predictions, references) -> dict:
    """Regression metrics of the model's outputs against the float targets: `mse` (mean squared error), `mae` (mean
    absolute error), `pearson` and `spearman` (correlation coefficients).

    One output per text: (texts,) or (texts, 1) arrays, either way. Several outputs per text: (texts, outputs)
    arrays; every metric is computed per output and averaged over the outputs with equal weight.

    A correlation is undefined where a prediction or target column is constant (or there is a single text): it is
    then NaN, not 0.0 (which would read as "measured, no relation") nor None (which Trainer's logs cannot average);
    with several outputs, one undefined output makes the average NaN."""
    given_predictions, given_references = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
    predictions, references = (values[:, None] if values.ndim == 1 else values
                               for values in (given_predictions, given_references))
    if predictions.ndim != 2 or predictions.shape != references.shape or not len(predictions):
        raise ValueError(f"predictions of shape {given_predictions.shape} for references of shape "
                         f"{given_references.shape}: give one prediction per target, as (texts,) or (texts, outputs) "
                         "arrays of the same shape, with at least one text.")
    columns = list(zip(predictions.T, references.T))
    return {
        "mse": float(mean_squared_error(references, predictions)),
        "mae": float(mean_absolute_error(references, predictions)),
        "pearson": float(np.mean([_correlation(pearsonr, p, r) for p, r in columns])),
        "spearman": float(np.mean([_correlation(spearmanr, p, r) for p, r in columns])),
    }
