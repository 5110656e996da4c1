"""The metrics beyond two classes (imdb_lstm.metrics.label_metrics), as Trainer's compute_metrics reports them: more
than two classes (accuracy, macro-F1, per-class rates, the confusion matrix), two classes whatever their names (the
binary rates), multi-label and regression."""

import numpy as np
import pytest
from transformers import EvalPrediction

from imdb_lstm.metrics import compute_metrics, multiclass_metrics


def test_three_classes_give_accuracy_macro_f1_per_class_rates_and_the_matrix():
    from sklearn.metrics import f1_score

    references = np.array([0, 0, 1, 1, 2, 2, 2])
    predictions = np.array([0, 1, 1, 1, 2, 0, 2])
    logits = np.eye(3)[predictions]
    result = compute_metrics(EvalPrediction(predictions=logits, label_ids=references),
                             id2label={0: "bad", 1: "mixed", 2: "good"})
    assert result["accuracy"] == pytest.approx(5 / 7)
    assert result["macro_f1"] == pytest.approx(f1_score(references, predictions, average="macro"))
    assert result["recall_bad"] == 0.5 and result["recall_mixed"] == 1.0 and result["recall_good"] == pytest.approx(2 / 3)
    assert result["precision_mixed"] == pytest.approx(2 / 3)
    assert "tpr" not in result and "confusion_matrix" not in result  # Trainer logs scalars only
    matrix = multiclass_metrics(predictions, references, ["bad", "mixed", "good"])["confusion_matrix"]
    assert matrix == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]


def test_two_classes_keep_the_binary_rates_whatever_the_label_names():
    logits = np.array([[2.0, -1.0], [0.1, 0.3], [1.0, 0.0], [-3.0, 3.0]])
    named = compute_metrics(EvalPrediction(predictions=logits, label_ids=np.array([0, 1, 1, 0])), id2label={0: "a", 1: "b"})
    assert named == compute_metrics(EvalPrediction(predictions=logits, label_ids=np.array([0, 1, 1, 0])))


def test_multi_label_and_regression_metrics():
    logits = np.array([[1.0, -1.0, 2.0], [-1.0, -2.0, 0.5]])
    targets = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    result = compute_metrics(EvalPrediction(predictions=logits, label_ids=targets),
                             problem_type="multi_label_classification")
    assert result["subset_accuracy"] == 0.5 and result["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 0 + 1))
    result = compute_metrics(EvalPrediction(predictions=np.array([[1.0], [3.0]]), label_ids=np.array([2.0, 3.0])),
                             problem_type="regression")
    assert result == {"mse": pytest.approx(0.5)}
