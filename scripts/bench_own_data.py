#!/usr/bin/env python
"""The linear baseline of README's "Fine-tune on your own data": TF-IDF over word 1-2-grams and a linear model, on
exactly the split `imdb-lstm-train` makes of the same data (its --split_protocol, --validation_fraction and
--split_seed), its regularisation chosen on that validation part, the test split scored once, with the metrics the
trained model reports for the same problem type:

- single label: logistic regression (C), accuracy, macro-F1 and per-class figures;
- multi-label: one logistic regression per label (C), its decision threshold chosen on validation, micro/macro-F1;
- regression: ridge regression (alpha), MSE, MAE, Pearson and Spearman.

    python scripts/bench_own_data.py --dataset ../shared/data/banking77 --output outputs/banking77_tfidf.json

Flags after the script's own name the data as `imdb-lstm-train` names it (--dataset, --data_files, --text_column,
--label_column, --label_columns, --problem_type, --split_protocol, ...).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier

from imdb_lstm.data import load_labelled, make_splits
from imdb_lstm.labelled_data import MULTI_LABEL, REGRESSION, parse_data_files
from imdb_lstm.metrics import choose_multilabel_threshold, multiclass_metrics, multilabel_metrics, regression_metrics
from imdb_lstm.training import finetune

STRENGTHS = {None: (1.0, 3.0, 10.0, 30.0), MULTI_LABEL: (1.0, 3.0, 10.0, 30.0), REGRESSION: (0.1, 0.3, 1.0, 3.0)}


def fitted(problem_type, strength, features, labels):
    """The linear model of `problem_type` at `strength` (C, or ridge's alpha), fitted."""
    if problem_type == REGRESSION:
        return Ridge(alpha=strength).fit(features, labels)
    classifier = LogisticRegression(C=strength, max_iter=2000)
    return (OneVsRestClassifier(classifier) if problem_type == MULTI_LABEL else classifier).fit(features, labels)


def scores(problem_type, model, features, labels, names, threshold=None) -> dict:
    if problem_type == REGRESSION:
        return regression_metrics(model.predict(features), labels)
    if problem_type == MULTI_LABEL:
        return multilabel_metrics(model.decision_function(features), labels, names, threshold=threshold or 0.5)
    result = multiclass_metrics(model.predict(features), labels, names)
    del result["confusion_matrix"]
    return result


def selection_key(problem_type) -> tuple[str, int]:
    """(validation metric, +1 if greater is better) by which the strength is chosen."""
    return {REGRESSION: ("mse", -1), MULTI_LABEL: ("micro_f1", 1)}.get(problem_type, ("accuracy", 1))


def parse_args(argv=None):
    """(this script's options, imdb-lstm-train's model and data arguments): `--output`, then the data flags."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="write the row (JSON) here")
    own, rest = parser.parse_known_args(argv)
    model_args, data_args, _ = finetune.parse_args([*rest, "--report_to", "none"])
    return own, model_args, data_args


def main(argv=None) -> dict:
    own, model_args, data_args = parse_args(argv)
    problem_type = model_args.problem_type if model_args.problem_type != "single_label_classification" else None
    raw, names = load_labelled(data_args.dataset, data_args.text_column, data_args.label_column,
                               parse_data_files(data_args.data_files), problem_type=problem_type,
                               label_columns=data_args.label_columns, label_separator=data_args.label_separator)
    fields = finetune.choose_labels(names, model_args.num_labels, problem_type, raw["train"]["label"],
                                    data_args.label_column)
    names = [str(name) for name in fields["id2label"].values()] if fields else ["NEGATIVE", "POSITIVE"]
    splits = make_splits(raw, data_args.split_protocol, data_args.validation_fraction, data_args.split_seed,
                         num_labels=len(names), problem_type=problem_type)
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    train_features = vectorizer.fit_transform(splits["train"]["text"])
    validation_features = vectorizer.transform(splits["validation"]["text"])
    label_of = {name: np.asarray(splits[name]["label"]) for name in splits}
    metric, sign = selection_key(problem_type)
    tried = {}
    for strength in STRENGTHS[problem_type]:
        model = fitted(problem_type, strength, train_features, label_of["train"])
        tried[strength] = (scores(problem_type, model, validation_features, label_of["validation"], names), model)
    strength = max(tried, key=lambda s: sign * tried[s][0][metric])
    validation, model = tried[strength]
    threshold = None
    if problem_type == MULTI_LABEL:
        threshold = choose_multilabel_threshold(model.decision_function(validation_features), label_of["validation"])
    test = scores(problem_type, model, vectorizer.transform(splits["test"]["text"]), label_of["test"], names,
                  threshold)
    row = {"model": "tfidf_1-2grams + " + ("ridge" if problem_type == REGRESSION else "logistic regression"),
           "dataset": data_args.dataset, "problem_type": problem_type or "single_label_classification",
           "splits": {name: len(split) for name, split in splits.items()}, "strength": strength,
           "validation": {metric: validation[metric]}, "threshold": threshold, "features": train_features.shape[1],
           "fit_seconds": round(time.perf_counter() - started, 1),
           "test": {key: value for key, value in test.items() if "_" not in key or key.split("_")[0] in (
               "macro", "micro", "subset")}}
    print(json.dumps(row, indent=2))
    if own.output:
        own.output.write_text(json.dumps(row, indent=2) + "\n")
    return row


if __name__ == "__main__":
    main()
