"""The metrics beyond two classes (imdb_lstm.metrics.label_metrics), as Trainer's compute_metrics reports them: more
than two classes (accuracy, macro-F1, per-class rates, the confusion matrix), two classes whatever their names (the
binary rates), multi-label (per-label and pooled rates at a threshold, the threshold chosen on validation) and
regression (MSE, MAE, Pearson, Spearman); the multi-label and regression `evaluate` modules loaded offline."""

import math
import types
import warnings

import numpy as np
import pytest
from transformers import EvalPrediction

from imdb_lstm.metrics import (MULTILABEL_THRESHOLD_GRID, choose_multilabel_threshold, compute_metrics,
                               load_multilabel_metrics, load_regression_metrics, metrics_for, multiclass_metrics,
                               multilabel_metrics, regression_metrics)


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


# Four texts, three labels. Sigmoids of the positives (target 1): 0.378, 0.731, 0.731, 0.881, 0.953; of the
# negatives: 0.047, 0.119, 0.119, 0.269, 0.269, 0.550, 0.622.
LABELS = ["action", "comedy", "drama"]
LOGITS = np.array([[2.0, -1.0, 0.5], [-2.0, 1.0, -0.5], [1.0, 0.2, -3.0], [-1.0, -2.0, 3.0]])
TARGETS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # floats, as Trainer's


def test_multi_label_metrics_at_one_half_by_hand():
    # logits > 0: [1,0,1], [0,1,0], [1,1,0], [0,0,1]. action: tp 2; comedy: tp 1, fp 1; drama: tp 1, fp 1, fn 1.
    result = multilabel_metrics(LOGITS, TARGETS, LABELS)
    expected = {
        "subset_accuracy": 1 / 4,  # only the last text has every label right
        "micro_precision": 4 / 6, "micro_recall": 4 / 5, "micro_f1": 2 * 4 / (2 * 4 + 2 + 1),
        "macro_precision": (1 + 1 / 2 + 1 / 2) / 3, "macro_recall": (1 + 1 + 1 / 2) / 3,
        "macro_f1": (1 + 2 / 3 + 1 / 2) / 3,
        "precision_action": 1.0, "recall_action": 1.0, "f1_action": 1.0,
        "precision_comedy": 1 / 2, "recall_comedy": 1.0, "f1_comedy": 2 / 3,
        "precision_drama": 1 / 2, "recall_drama": 1 / 2, "f1_drama": 1 / 2,
        "threshold": 0.5,
    }
    assert result == pytest.approx(expected)
    assert set(multilabel_metrics(LOGITS, TARGETS)) >= {"precision_LABEL_0", "recall_LABEL_2", "f1_LABEL_1"}


def test_multi_label_threshold_is_a_probability():
    # sigmoid > 0.7 (logit > 0.847): [1,0,0], [0,1,0], [1,0,0], [0,0,1]: only text 1's drama is missed.
    result = multilabel_metrics(LOGITS, TARGETS, LABELS, threshold=0.7)
    assert result["subset_accuracy"] == 3 / 4 and result["micro_precision"] == 1.0
    assert result["micro_recall"] == pytest.approx(4 / 5) and result["micro_f1"] == pytest.approx(8 / 9)
    assert result["recall_drama"] == 1 / 2 and result["threshold"] == 0.7


def test_a_label_never_predicted_nor_present_scores_zero_without_warnings():
    logits = np.array([[3.0, -3.0], [-3.0, -3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = multilabel_metrics(logits, np.array([[1, 0], [0, 0]]), ["a", "b"])
    assert (result["precision_b"], result["recall_b"], result["f1_b"]) == (0.0, 0.0, 0.0)
    assert result["macro_f1"] == 0.5 and result["micro_f1"] == 1.0


def test_threshold_chosen_on_validation_maximises_micro_f1_and_ties_go_towards_one_half():
    # Micro-F1 = 2·tp / (2·tp + fp + fn) by threshold: 0.30-0.35 → 10/12 (every true label, 2 false positives),
    # 0.40-0.50 → 8/11 (0.378 lost), 0.55-0.60 → 8/10 (0.550 off), 0.65-0.70 → 8/9 (0.622 off, no false positive),
    # 0.75-0.85 → 4/7 (the 0.731s lost). 0.65 and 0.70 tie: 0.65 is nearer 0.5.
    assert MULTILABEL_THRESHOLD_GRID[0] == 0.05 and MULTILABEL_THRESHOLD_GRID[-1] == 0.95
    assert len(MULTILABEL_THRESHOLD_GRID) == 19
    f1_by_threshold = {threshold: multilabel_metrics(LOGITS, TARGETS, threshold=threshold)["micro_f1"]
                       for threshold in MULTILABEL_THRESHOLD_GRID}
    assert f1_by_threshold[0.3] == pytest.approx(10 / 12) and f1_by_threshold[0.5] == pytest.approx(8 / 11)
    assert f1_by_threshold[0.55] == pytest.approx(8 / 10) and f1_by_threshold[0.8] == pytest.approx(4 / 7)
    assert f1_by_threshold[0.65] == f1_by_threshold[0.7] == pytest.approx(8 / 9) == max(f1_by_threshold.values())
    assert choose_multilabel_threshold(LOGITS, TARGETS) == 0.65
    separable = np.array([[5.0, -5.0], [-5.0, 5.0]])  # every threshold is perfect: keep 0.5
    assert choose_multilabel_threshold(separable, np.array([[1, 0], [0, 1]])) == 0.5


def test_compute_metrics_uses_the_configs_label_names_and_threshold():
    config = types.SimpleNamespace(id2label={"0": "action", "1": "comedy", "2": "drama"},
                                   problem_type="multi_label_classification", multilabel_threshold=0.7)
    prediction = EvalPrediction(predictions=LOGITS, label_ids=TARGETS)
    assert metrics_for(config)(prediction) == multilabel_metrics(LOGITS, TARGETS, LABELS, threshold=0.7)
    del config.multilabel_threshold  # a config without the field: 0.5, as before
    assert metrics_for(config)(prediction)["threshold"] == 0.5
    assert compute_metrics(prediction, problem_type="multi_label_classification")["micro_f1"] == pytest.approx(8 / 11)


def test_regression_metrics_by_hand():
    # errors 0, 0.5, -1; Pearson: sum dx·dy = 17/6, sum dx² = 13/6, sum dy² = 14/3 → 17 / (2·√91).
    result = regression_metrics([1.0, 2.5, 3.0], [1.0, 2.0, 4.0])
    assert result == pytest.approx({"mse": 1.25 / 3, "mae": 0.5, "pearson": 17 / (2 * math.sqrt(91)), "spearman": 1.0})
    # Spearman from ranks: prediction ranks 3, 1, 2, 4 against 1, 2, 3, 4; Σd² = 6 → 1 - 6·6 / (4·15) = 0.4.
    assert regression_metrics([30.0, 1.0, 2.0, 40.0], [1.0, 2.0, 3.0, 4.0])["spearman"] == pytest.approx(0.4)


def test_regression_metrics_agree_with_scipy_and_take_one_output_either_shape():
    from scipy.stats import pearsonr, spearmanr

    rng = np.random.default_rng(0)
    references = rng.normal(size=50)
    predictions = references + rng.normal(scale=0.5, size=50)
    result = regression_metrics(predictions[:, None], references)  # Trainer: (texts, 1) outputs, (texts,) targets
    assert result["pearson"] == pytest.approx(pearsonr(predictions, references).statistic)
    assert result["spearman"] == pytest.approx(spearmanr(predictions, references).statistic)
    assert result["mae"] == pytest.approx(np.mean(np.abs(predictions - references)))
    assert result == regression_metrics(predictions, references[:, None])
    logged = compute_metrics(EvalPrediction(predictions=predictions[:, None], label_ids=references),
                             problem_type="regression")
    assert logged == result


def test_several_outputs_are_averaged_over_outputs():
    # Output 0 is the hand case above; output 1: predictions 3, 1, 2 against 1, 2, 3: errors 2, -1, -1 (MSE 2, MAE
    # 4/3), Pearson -1/2, Spearman 1 - 6·6 / (3·8) = -1/2.
    predictions = np.array([[1.0, 3.0], [2.5, 1.0], [3.0, 2.0]])
    references = np.array([[1.0, 1.0], [2.0, 2.0], [4.0, 3.0]])
    result = regression_metrics(predictions, references)
    assert result == pytest.approx({"mse": (1.25 / 3 + 2) / 2, "mae": (0.5 + 4 / 3) / 2,
                                    "pearson": (17 / (2 * math.sqrt(91)) - 0.5) / 2, "spearman": (1.0 - 0.5) / 2})


def test_a_constant_prediction_or_target_has_no_correlation():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        constant_prediction = regression_metrics([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
        constant_target = regression_metrics([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])
        one_output_constant = regression_metrics([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]],
                                                 [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    assert constant_prediction["mse"] == pytest.approx(2 / 3) and constant_prediction["mae"] == pytest.approx(2 / 3)
    for result in (constant_prediction, constant_target, one_output_constant):
        assert math.isnan(result["pearson"]) and math.isnan(result["spearman"])
        assert all(isinstance(value, float) for value in result.values())  # Trainer logs floats, NaN included


def test_the_evaluate_modules_load_offline_and_compute_as_the_functions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    multilabel = load_multilabel_metrics()
    result = multilabel.compute(predictions=LOGITS, references=TARGETS, label_names=LABELS, threshold=0.7)
    assert result == multilabel_metrics(LOGITS, TARGETS, LABELS, threshold=0.7)
    assert multilabel.compute(predictions=LOGITS, references=TARGETS)["threshold"] == 0.5
    regression = load_regression_metrics()
    assert regression.compute(predictions=[1.0, 2.5, 3.0], references=[1.0, 2.0, 4.0]) == regression_metrics(
        [1.0, 2.5, 3.0], [1.0, 2.0, 4.0])
    several = np.array([[1.0, 3.0], [2.5, 1.0], [3.0, 2.0]]), np.array([[1.0, 1.0], [2.0, 2.0], [4.0, 3.0]])
    assert regression.compute(predictions=several[0], references=several[1]) == pytest.approx(
        regression_metrics(*several))


def test_the_evaluate_folders_do_not_hide_the_functions_of_the_same_name():
    import imdb_lstm.metrics
    import imdb_lstm.metrics.multilabel_metrics.multilabel_metrics  # noqa: F401
    import imdb_lstm.metrics.regression_metrics.regression_metrics  # noqa: F401

    assert imdb_lstm.metrics.multilabel_metrics is multilabel_metrics
    assert imdb_lstm.metrics.regression_metrics is regression_metrics


def test_bad_inputs_are_refused_saying_what_to_give():
    with pytest.raises(ValueError, match=r"logits of shape \(4, 3\) for references of shape \(4, 2\): .*"
                                         r"\(texts, labels\)"):
        multilabel_metrics(LOGITS, TARGETS[:, :2])
    with pytest.raises(ValueError, match=r"threshold=1\.5 is no probability strictly between 0 and 1"):
        multilabel_metrics(LOGITS, TARGETS, threshold=1.5)
    with pytest.raises(ValueError, match="threshold=0 is no probability"):
        multilabel_metrics(LOGITS, TARGETS, threshold=0)
    with pytest.raises(ValueError, match=r"2 label_names \(\['action', 'comedy'\]\) for 3 labels per text: give one "
                                         "name per column"):
        multilabel_metrics(LOGITS, TARGETS, LABELS[:2])
    with pytest.raises(ValueError, match=r"references must be 0 or 1; got \[0\.7\]"):
        multilabel_metrics(LOGITS, np.where(TARGETS == 1, 0.7, 0.0))
    with pytest.raises(ValueError, match=r"predictions of shape \(3,\) for references of shape \(2,\): give one "
                                         "prediction per target"):
        regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"predictions of shape \(2, 2\) for references of shape \(2, 3\)"):
        regression_metrics(np.zeros((2, 2)), np.zeros((2, 3)))
