"""Metrics for what the binary rates do not cover: more than two classes, several labels per text, and regression.
scikit-learn computes them; the binary case stays with `binary_rates` (TPR, TNR, FNR, FPR as before).

- `multiclass_metrics`: accuracy, macro-F1, macro precision and recall, per-class recall, precision and F1
  (`recall_<label>`, ...), and the confusion matrix (rows = truth, columns = prediction);
- `multilabel_metrics`: per-label decisions sigmoid(logit) > 0.5; subset accuracy (every label right), micro-
  and macro-F1;
- `regression_metrics`: mean squared error.
"""

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, mean_squared_error, precision_recall_fscore_support

__all__ = ["multiclass_metrics", "multilabel_metrics", "regression_metrics"]


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


def multilabel_metrics(logits, references) -> dict:
    """Multi-label metrics: a label is predicted where its sigmoid exceeds 0.5 (logit > 0); `references` are the
    (texts, labels) 0/1 targets."""
    logits, references = np.asarray(logits), np.asarray(references).astype(int)
    if logits.shape != references.shape:
        raise ValueError(f"logits of shape {logits.shape} for references of shape {references.shape}.")
    predictions = (logits > 0).astype(int)  # sigmoid(x) > 0.5 exactly where x > 0
    return {
        "subset_accuracy": float(accuracy_score(references, predictions)),
        "micro_f1": float(f1_score(references, predictions, average="micro", zero_division=0.0)),
        "macro_f1": float(f1_score(references, predictions, average="macro", zero_division=0.0)),
    }


def regression_metrics(predictions, references) -> dict:
    """Mean squared error of the model's outputs (one or several per text) against the float targets."""
    predictions, references = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
    return {"mse": float(mean_squared_error(references.reshape(predictions.shape), predictions))}
