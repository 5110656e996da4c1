"""Binary classification rates as an `evaluate` metric: accuracy, TPR, TNR, FNR, FPR, precision, F1 and the
confusion matrix, with the positive class = 1 (POSITIVE).

Load it offline from its folder: `evaluate.load("path/to/imdb_lstm/metrics/binary_rates")`.

Every rate is defined for every input: a rate whose denominator is zero (e.g. TPR when no review is positive) is
0.0, and `undefined` lists which rates fell back. The values are consistent by construction:
TPR + FNR = 1, TNR + FPR = 1 (where defined), and accuracy lies between TNR and TPR.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = __doc__
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]`): predicted labels, 0 (negative) or 1 (positive).
    references (`list[int]`): true labels, 0 or 1.
Returns:
    accuracy, tpr (sensitivity, recall), tnr (specificity), fnr (miss rate), fpr (fall-out), precision, f1
    (floats); tn, fp, fn, tp (ints); confusion_matrix ([[tn, fp], [fn, tp]], rows = truth); undefined (rates
    whose denominator was zero, reported as 0.0).
"""
_CITATION = ""


def _ratio(numerator: int, denominator: int, name: str, undefined: list) -> float:
    if denominator == 0:
        undefined.append(name)
        return 0.0
    return numerator / denominator


def binary_rates(predictions, references) -> dict:
    """The rates of `BinaryRates` from label sequences (see the module docstring)."""
    predictions = np.asarray(predictions).astype(int).reshape(-1)
    references = np.asarray(references).astype(int).reshape(-1)
    if predictions.shape != references.shape:
        raise ValueError(f"{predictions.size} predictions for {references.size} references.")
    for name, values in (("predictions", predictions), ("references", references)):
        if values.size and not np.isin(values, (0, 1)).all():
            raise ValueError(f"{name} must be 0 or 1; got {sorted(set(values.tolist()) - {0, 1})}.")
    tp = int(((predictions == 1) & (references == 1)).sum())
    tn = int(((predictions == 0) & (references == 0)).sum())
    fp = int(((predictions == 1) & (references == 0)).sum())
    fn = int(((predictions == 0) & (references == 1)).sum())
    undefined: list[str] = []
    tpr = _ratio(tp, tp + fn, "tpr", undefined)
    tnr = _ratio(tn, tn + fp, "tnr", undefined)
    fnr = _ratio(fn, tp + fn, "fnr", undefined)
    fpr = _ratio(fp, tn + fp, "fpr", undefined)
    precision = _ratio(tp, tp + fp, "precision", undefined)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn, "f1", undefined)
    accuracy = _ratio(tp + tn, tp + tn + fp + fn, "accuracy", undefined)
    return {
        "accuracy": accuracy,
        "tpr": tpr,
        "tnr": tnr,
        "fnr": fnr,
        "fpr": fpr,
        "precision": precision,
        "f1": f1,
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "undefined": undefined,
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class BinaryRates(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        return binary_rates(predictions, references)
