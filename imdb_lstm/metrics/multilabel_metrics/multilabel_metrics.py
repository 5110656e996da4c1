"""Multi-label classification metrics as an `evaluate` metric: a label is predicted where sigmoid(logit) > threshold
(0.5 unless given); subset accuracy, micro and macro F1, precision and recall, and per-label precision, recall and F1.

Load it offline from its folder: `evaluate.load("path/to/imdb_lstm/metrics/multilabel_metrics")`. It computes with
`imdb_lstm.metrics.label_metrics.multilabel_metrics`, so the imdb_lstm package must be importable.
"""

import datasets
import evaluate

from imdb_lstm.metrics.label_metrics import multilabel_metrics

_DESCRIPTION = __doc__
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[float]]`): the model's logits, one per label, for each text.
    references (`list[list[int]]`): the true labels, 0 or 1 per label, for each text.
    label_names (`list[str]`, optional): a name per label, in column order (default LABEL_0, LABEL_1, ...).
    threshold (`float`, optional): the probability a label's sigmoid must exceed to be predicted, in (0, 1); 0.5 by
        default, or the value `choose_multilabel_threshold` chose on validation.
Returns:
    subset_accuracy, micro_f1, micro_precision, micro_recall, macro_f1, macro_precision, macro_recall,
    precision_<name>, recall_<name>, f1_<name> per label (floats; 0.0 where a denominator is zero), and threshold.
"""
_CITATION = ""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MultilabelMetrics(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # Float references: Trainer's multi-label targets are floats, and an int feature would truncate a stray
            # 0.7 to 0 before `multilabel_metrics` could refuse it.
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64")),
                                        "references": datasets.Sequence(datasets.Value("float64"))}),
        )

    def _compute(self, predictions, references, label_names=None, threshold=0.5):
        return multilabel_metrics(predictions, references, label_names=label_names, threshold=threshold)
