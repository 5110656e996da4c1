"""The binary_rates evaluate module: hand-made confusion matrices, one-class predictions, offline loading, and
Trainer's compute_metrics from binary logits. (More than two classes, multi-label, regression:
tests/test_label_metrics.py.)"""

import numpy as np
import pytest
from transformers import EvalPrediction

from imdb_lstm.metrics import binary_rates, compute_metrics, load_binary_rates


def labels_for(tn, fp, fn, tp):
    """Predictions/references that realise a given confusion matrix."""
    references = [0] * (tn + fp) + [1] * (fn + tp)
    predictions = [0] * tn + [1] * fp + [0] * fn + [1] * tp
    return predictions, references


def test_hand_made_confusion_matrix():
    predictions, references = labels_for(tn=50, fp=10, fn=20, tp=120)
    result = load_binary_rates().compute(predictions=predictions, references=references)
    assert result["confusion_matrix"] == [[50, 10], [20, 120]]
    assert result["accuracy"] == pytest.approx(170 / 200)
    assert result["tpr"] == pytest.approx(120 / 140)
    assert result["tnr"] == pytest.approx(50 / 60)
    assert result["fnr"] == pytest.approx(20 / 140)
    assert result["fpr"] == pytest.approx(10 / 60)
    assert result["precision"] == pytest.approx(120 / 130)
    assert result["f1"] == pytest.approx(2 * 120 / (2 * 120 + 10 + 20))
    assert result["undefined"] == []


@pytest.mark.parametrize("matrix", [(3, 0, 0, 0), (0, 0, 0, 4), (0, 5, 0, 0), (0, 0, 6, 0), (2, 0, 0, 7)])
def test_one_class_predictions_are_defined(matrix):
    predictions, references = labels_for(*matrix)
    result = binary_rates(predictions, references)
    tn, fp, fn, tp = matrix

    def rate(numerator, denominator):  # the module's convention: 0.0 where the denominator is zero
        return numerator / denominator if denominator else 0.0

    expected = {"accuracy": rate(tp + tn, tp + tn + fp + fn), "tpr": rate(tp, tp + fn), "tnr": rate(tn, tn + fp),
                "fnr": rate(fn, tp + fn), "fpr": rate(fp, tn + fp), "precision": rate(tp, tp + fp),
                "f1": rate(2 * tp, 2 * tp + fp + fn)}
    for key, value in expected.items():
        assert result[key] == pytest.approx(value) and not np.isnan(result[key]), key
    assert ("tpr" in result["undefined"]) == (tp + fn == 0)
    assert ("tnr" in result["undefined"]) == (tn + fp == 0)


@pytest.mark.parametrize("seed", range(5))
def test_rates_are_self_consistent(seed):
    rng = np.random.default_rng(seed)
    references = rng.integers(0, 2, 500)
    predictions = np.where(rng.random(500) < 0.8, references, 1 - references)
    result = binary_rates(predictions, references)
    assert result["tpr"] + result["fnr"] == pytest.approx(1)
    assert result["tnr"] + result["fpr"] == pytest.approx(1)
    low, high = sorted((result["tpr"], result["tnr"]))
    assert low - 1e-12 <= result["accuracy"] <= high + 1e-12
    assert result["tn"] + result["fp"] + result["fn"] + result["tp"] == 500


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="predictions must be 0 or 1"):
        binary_rates([0, 2], [0, 1])
    with pytest.raises(ValueError, match="2 predictions for 3 references"):
        binary_rates([0, 1], [0, 1, 1])


def test_compute_metrics_from_logits():
    logits = np.array([[2.0, -1.0], [0.1, 0.3], [1.0, 0.0], [-3.0, 3.0]])
    result = compute_metrics(EvalPrediction(predictions=logits, label_ids=np.array([0, 1, 1, 0])))
    assert (result["tn"], result["fp"], result["fn"], result["tp"]) == (1, 1, 1, 1)
    assert result["accuracy"] == 0.5 and set(result) >= {"accuracy", "tpr", "tnr", "fnr", "fpr", "precision", "f1"}
