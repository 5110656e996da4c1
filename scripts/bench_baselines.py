#!/usr/bin/env python
"""The accuracy benchmark's linear baselines (`scripts/benchmark.py` runs it in its own process, once per row):
TF-IDF + logistic regression and NB-weighted logistic regression over word n-grams, each trained on the whole train
split (NB-LR's C chosen on the neural models' validation part first) and scored on the test split.

    python scripts/bench_baselines.py --model tfidf_logreg --dataset ../shared/data/imdb --output row.json
    python scripts/bench_baselines.py --model nblr_ngrams --smoke     # shipped sample, as --smoke cuts it

The row (one JSON object, as benchmarks/accuracy.json keeps it): the test rates, the fit's seconds, the size of the
pickled model (`<output_dir>/<model>/model.joblib`) and the number of features.
"""

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from datasets import DatasetDict

from imdb_lstm import word_vectors
from imdb_lstm.benchmarking import (ACCURACY_SMOKE_DATA, RATE_KEYS, file_mb, options_namespace, parse_part_options,
                                    part_main)
from imdb_lstm.data import load_imdb, make_splits, subsample
from imdb_lstm.metrics import binary_rates
from imdb_lstm.ngrams import nb_log_count_ratio
from imdb_lstm.training import finetune as train

REPO_ROOT = Path(__file__).resolve().parent.parent
TFIDF = "tfidf_logreg"
NBLR = "nblr_ngrams"
# Inverse regularisation strengths tried for the NB-LR baseline (on validation).
NBLR_C = (0.1, 0.3, 1.0)


@dataclass
class BaselineArguments:
    model: str = field(default=TFIDF, metadata={"help": f"which baseline: {TFIDF} or {NBLR}"})

    def __post_init__(self):
        if self.model not in (TFIDF, NBLR):
            raise ValueError(f"--model {self.model!r}: choose {TFIDF} or {NBLR}.")


def tfidf_data(args):
    """(train texts, train labels, test texts, test labels): the whole train split and the same test rows the neural
    models score (train.run subsamples test the same way under --smoke, with `subsample`)."""
    raw = load_imdb(args.dataset)
    train_split, test_split = raw["train"], raw["test"]
    if args.smoke:
        seed = train.DataArguments().split_seed
        train_split = subsample(train_split, ACCURACY_SMOKE_DATA["max_train_samples"], seed)
        test_split = subsample(test_split, ACCURACY_SMOKE_DATA["max_eval_samples"], seed)
    return (
        list(train_split["text"]),
        np.asarray(train_split["label"]),
        list(test_split["text"]),
        np.asarray(test_split["label"]),
    )


def run_tfidf(args) -> dict:
    """TF-IDF over word 1–2-grams with sublinear tf, then logistic regression with C=10."""
    train_texts, train_labels, test_texts, test_labels = tfidf_data(args)
    classifier = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=10, solver="liblinear", max_iter=1000),
    )
    started = time.perf_counter()
    classifier.fit(train_texts, train_labels)
    train_seconds = time.perf_counter() - started
    rates = binary_rates(classifier.predict(test_texts), test_labels)

    model_dir = Path(args.output_dir) / TFIDF
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(classifier, model_dir / "model.joblib")
    return {
        "name": TFIDF,
        "description": "TF-IDF (1–2-grams, sublinear tf) + logistic regression (C=10)",
        **{key: float(rates[key]) for key in RATE_KEYS},
        "train_seconds": round(train_seconds, 2),
        "model_mb": round(file_mb(model_dir / "model.joblib"), 3),
        "features": len(classifier[0].vocabulary_),
        "output_dir": str(model_dir),
    }


def run_nblr(args) -> dict:
    """NB-weighted logistic regression (Wang & Manning 2012) over binary word 1–3-grams seen in at least two
    training reviews, words split as the package's tokenizer splits them; C chosen on the neural models'
    validation part, then refitted on the whole train split."""
    train_texts, train_labels, test_texts, test_labels = tfidf_data(args)
    split = word_vectors.word_splitter()
    held_out = make_splits(load_imdb(args.dataset) if not args.smoke else smoke_imdb(args), "canonical",
                           train.DataArguments().validation_fraction, train.DataArguments().split_seed)

    def fit(texts, labels, c):
        vectorizer = CountVectorizer(tokenizer=split, lowercase=False, token_pattern=None, ngram_range=(1, 3),
                                     binary=True, min_df=2)
        features = vectorizer.fit_transform(texts)
        labels = np.asarray(labels)
        ratio = nb_log_count_ratio(features, labels)
        classifier = LogisticRegression(C=c, solver="liblinear", max_iter=1000).fit(features.multiply(ratio).tocsr(), labels)
        return vectorizer, ratio, classifier

    def predict(model, texts):
        vectorizer, ratio, classifier = model
        return classifier.predict(vectorizer.transform(texts).multiply(ratio).tocsr())

    choices = {}
    for c in NBLR_C:
        model = fit(held_out["train"]["text"], held_out["train"]["label"], c)
        choices[c] = float(np.mean(predict(model, held_out["validation"]["text"]) == np.asarray(held_out["validation"]["label"])))
    best_c = max(choices, key=choices.get)
    started = time.perf_counter()
    model = fit(train_texts, train_labels, best_c)
    train_seconds = time.perf_counter() - started
    rates = binary_rates(predict(model, test_texts), test_labels)
    model_dir = Path(args.output_dir) / NBLR
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump({"vectorizer_vocabulary": model[0].vocabulary_, "ratio": model[1], "classifier": model[2]},
                model_dir / "model.joblib")
    return {
        "name": NBLR,
        "description": f"NB-weighted logistic regression, binary word 1–3-grams (min 2 reviews), C={best_c:g} chosen on validation",
        **{key: float(rates[key]) for key in RATE_KEYS},
        "train_seconds": round(train_seconds, 2),
        "model_mb": round(file_mb(model_dir / "model.joblib"), 3),
        "features": len(model[0].vocabulary_),
        "validation_accuracy_by_c": choices,
        "output_dir": str(model_dir),
    }


def smoke_imdb(args):
    """The shipped sample cut as --smoke cuts it for the neural models (train part only matters here)."""
    raw = load_imdb(args.dataset)
    seed = train.DataArguments().split_seed
    return DatasetDict({name: subsample(raw[name], ACCURACY_SMOKE_DATA["max_train_samples"], seed) for name in raw})


def parse_args(argv=None) -> argparse.Namespace:
    return options_namespace(*parse_part_options((BaselineArguments,), argv, "benchmark", REPO_ROOT))


def run_baseline(args) -> dict:
    """The row of the baseline `--model` names."""
    return run_tfidf(args) if args.model == TFIDF else run_nblr(args)


def main(argv=None) -> dict:
    return part_main(parse_args, run_baseline, argv)


if __name__ == "__main__":
    main()
