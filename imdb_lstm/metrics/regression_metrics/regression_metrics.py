"""Regression metrics as an `evaluate` metric: mean squared error, mean absolute error, and Pearson and Spearman
correlation, for one or several outputs per text (several: each metric averaged over the outputs). A correlation is
NaN where it is undefined (a constant prediction or target).

Load it offline from its folder: `evaluate.load("path/to/imdb_lstm/metrics/regression_metrics")`. It computes with
`imdb_lstm.metrics.label_metrics.regression_metrics`, so the imdb_lstm package must be importable.
"""

import datasets
import evaluate

from imdb_lstm.metrics.label_metrics import regression_metrics

_DESCRIPTION = __doc__
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[float]` or `list[list[float]]`): the model's outputs, one or several per text.
    references (`list[float]` or `list[list[float]]`): the targets, in the same shape.
Returns:
    mse, mae, pearson, spearman (floats; pearson and spearman NaN where a column is constant).
"""
_CITATION = ""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RegressionMetrics(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # One output per text, or several: `evaluate` takes the first format the inputs fit.
            features=[datasets.Features({"predictions": datasets.Value("float64"),
                                         "references": datasets.Value("float64")}),
                      datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64")),
                                         "references": datasets.Sequence(datasets.Value("float64"))})],
        )

    def _compute(self, predictions, references):
        return regression_metrics(predictions, references)
