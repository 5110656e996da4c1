"""Metrics: the `binary_rates` evaluate module (loaded from its folder, offline) and Trainer's compute_metrics."""

import functools
from pathlib import Path

import evaluate
import numpy as np

from .binary_rates.binary_rates import binary_rates

BINARY_RATES_PATH = str(Path(__file__).parent / "binary_rates")
# What Trainer logs per evaluation (Trainer prefixes `eval_`/`test_`); counts and the matrix go to result files.
SCALAR_METRICS = ("accuracy", "tpr", "tnr", "fnr", "fpr", "precision", "f1")


@functools.lru_cache(maxsize=1)
def load_binary_rates() -> evaluate.EvaluationModule:
    """The `binary_rates` metric through `evaluate.load` from this package's folder (no Hub needed)."""
    return evaluate.load(BINARY_RATES_PATH)


def compute_metrics(eval_prediction) -> dict:
    """Trainer's `compute_metrics`: logits → argmax → binary rates, plus the confusion counts."""
    logits, labels = eval_prediction.predictions, eval_prediction.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    result = load_binary_rates().compute(predictions=np.argmax(logits, axis=-1), references=labels)
    return {key: result[key] for key in (*SCALAR_METRICS, "tn", "fp", "fn", "tp")}


__all__ = ["BINARY_RATES_PATH", "SCALAR_METRICS", "binary_rates", "compute_metrics", "load_binary_rates"]
