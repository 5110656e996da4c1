"""Scoring a classifier once fine-tuning has trained it (the last step of `imdb_lstm.training.finetune`'s recipe):
the n-gram branch fitted on the training reviews and weighted on validation (`add_ngram_branch`), Trainer's
length-grouped predictions put back in dataset order, and the per-review test predictions written with their
confusion matrix.
"""

import json
import logging
from pathlib import Path

import numpy as np
import torch
from transformers import Trainer

from ..data import DataError
from ..metrics import binary_rates, multiclass_metrics
from ..ngrams import accuracy, attach_ngram_branch, choose_ngram_weight, fit_ngram_logistic_regressions
from ..plots import plot_confusion_matrix

__all__ = ["add_ngram_branch", "predictions_in_dataset_order", "write_test_outputs"]

logger = logging.getLogger(__name__)


def predictions_in_dataset_order(trainer: Trainer, dataset, output):
    """Trainer's length-grouped evaluation returns rows permuted; put them back in dataset order. The sampler is
    seeded, so asking Trainer for it again yields the same permutation; the labels check the mapping."""
    order = np.arange(len(dataset))
    if trainer.args.train_sampling_strategy == "group_by_length":
        order = np.fromiter(trainer._get_eval_sampler(dataset), dtype=int)
    logits = np.empty_like(output.predictions)
    logits[order] = output.predictions
    if not np.array_equal(np.asarray(dataset["label"])[order], output.label_ids):
        raise RuntimeError("Could not map the evaluation batches back to dataset order.")
    return logits


def add_ngram_branch(trainer: Trainer, tokenized, model_args) -> dict:
    """Fit the n-gram branch on the training reviews (each `--ngram_c` tried), choose C and the branch's share on
    validation, attach it to the trained classifier; returns what was chosen and measured (validation only)."""
    if "validation" not in tokenized:
        raise DataError("--ngram_order needs a validation split to choose the n-gram branch's weight; use the "
                        "canonical protocol with --validation_fraction > 0 or a protocol with a validation share.")
    model, train, validation = trainer.model, tokenized["train"], tokenized["validation"]
    recurrent_logits = predictions_in_dataset_order(trainer, validation, trainer.predict(validation))
    recurrent = recurrent_logits[:, 1] - recurrent_logits[:, 0]
    labels = np.asarray(validation["label"])
    best = None
    for ngrams in fit_ngram_logistic_regressions(train["input_ids"], train["label"], model.config.vocab_size,
                                                 order=model_args.ngram_order, min_count=model_args.ngram_min_count,
                                                 Cs=model_args.ngram_c):
        ngram_log_odds = ngrams.log_odds(validation["input_ids"])
        weight, joined_accuracy = choose_ngram_weight(recurrent, ngram_log_odds, labels)
        alone = accuracy(ngram_log_odds, labels)
        logger.info("n-gram C=%g: validation accuracy alone %.4f, joined %.4f (weight %.2f)", ngrams.C, alone,
                    joined_accuracy, weight)
        if best is None or joined_accuracy > best[0]:
            best = (joined_accuracy, ngrams, weight, alone)
    joined_accuracy, ngrams, weight, alone = best
    attach_ngram_branch(model, ngrams, weight)
    return {
        "eval_recurrent_accuracy": accuracy(recurrent, labels),
        "eval_ngram_accuracy": alone,
        "ngram_weight": weight,
        "ngram_c": ngrams.C,
        "ngram_features": len(ngrams.keys),
        "ngram_fit_seconds": round(ngrams.fit_seconds, 2),
    }


def write_test_outputs(output_dir: Path, test_split, logits: np.ndarray, config) -> None:
    """Per-review test predictions (JSON lines, dataset order, each with its review's `text`: the model card
    explains the first one) and, for classes, the confusion-matrix picture. Two labels: p_negative and p_positive,
    as always; more: a probability per label name; multi-label: each label's sigmoid probability and the labels
    above `config.multilabel_threshold`; regression: the predicted value(s)."""
    id2label = {int(i): str(name) for i, name in (config.id2label or {}).items()}
    names = [id2label.get(i, f"LABEL_{i}") for i in range(logits.shape[-1])]
    labels = np.asarray(test_split["label"])
    texts = test_split["text"]
    if config.problem_type in ("multi_label_classification", "regression"):
        write_jsonl(output_dir / "test_predictions.jsonl", per_label_rows(logits, labels, names, config), texts)
        return
    probabilities = torch.from_numpy(logits).float().softmax(dim=-1).numpy()
    predicted = probabilities.argmax(axis=-1)
    if probabilities.shape[-1] != 2:
        write_jsonl(output_dir / "test_predictions.jsonl", (
            {"row": row, "label": int(label), "prediction": int(prediction),
             "probabilities": dict(zip(names, p.tolist()))}
            for row, (label, prediction, p) in enumerate(zip(labels, predicted, probabilities))), texts)
        matrix = multiclass_metrics(predicted, labels, names)["confusion_matrix"]
        plot_confusion_matrix(matrix, output_dir / "confusion_matrix.png", labels=names, title="Test confusion matrix")
        return
    write_jsonl(output_dir / "test_predictions.jsonl", (
        {"row": row, "label": int(label), "prediction": int(prediction), "p_negative": float(p[0]),
         "p_positive": float(p[1])}
        for row, (label, prediction, p) in enumerate(zip(labels, predicted, probabilities))), texts)
    matrix = binary_rates(predicted, labels)["confusion_matrix"]
    plot_confusion_matrix(matrix, output_dir / "confusion_matrix.png", title="IMDB test confusion matrix")


def per_label_rows(logits: np.ndarray, labels: np.ndarray, names: list[str], config):
    """Test prediction rows of a multi-label model (labels named, probabilities, those above the threshold) or a
    regression (the target(s) and the prediction(s), named where there are several)."""
    if config.problem_type == "regression":
        for row, (label, prediction) in enumerate(zip(labels, logits)):
            yield {"row": row, "label": label.tolist(), "prediction": prediction.tolist()
                   if prediction.size > 1 else float(prediction.reshape(-1)[0])}
        return
    probabilities = torch.from_numpy(logits).float().sigmoid().numpy()
    for row, (label, p) in enumerate(zip(labels, probabilities)):
        yield {"row": row, "labels": [name for name, on in zip(names, label) if on],
               "prediction": [name for name, q in zip(names, p) if q > config.multilabel_threshold],
               "probabilities": dict(zip(names, p.tolist()))}


def write_jsonl(path: Path, rows, texts) -> None:
    """The prediction `rows` as JSON lines, each with its review's text (`texts`, in the same order) last."""
    with open(path, "w", encoding="utf-8") as handle:
        for row, text in zip(rows, texts, strict=True):
            handle.write(json.dumps({**row, "text": text}) + "\n")
