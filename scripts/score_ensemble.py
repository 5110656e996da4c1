#!/usr/bin/env python
"""What an ensemble of trained classifiers would score on validation (never test): each member's accuracy with its
n-gram branch (joined) and without it (the recurrent part), then the members' mean log-probabilities, both ways,
all in float32; with `--merge`, the models merged into one classifier as the build merges them. The members
must share one validation split (the same split protocol, fraction and seed), so that none was selected on reviews
another trained on.

    python scripts/score_ensemble.py outputs/issue30/vat_e3_ema_12ep outputs/issue30/vat_e3_ema_12ep_seed43 \
        --merge --output benchmarks/issue30_ensemble.json
"""

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch

from imdb_lstm.benchmarking import default_dataset, machine_description, utc_now
from imdb_lstm.commands.build_default import validation_split
from imdb_lstm.ensembling import merge_saved_classifiers, score_merged, shared_validation_split
from imdb_lstm.predict import load_classifier, predict_logits

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="trained classifier folders (each with its run_info.json)")
    parser.add_argument("--dataset", default=default_dataset(REPO_ROOT), help="the labelled IMDB source")
    parser.add_argument("--merge", action="store_true",
                        help="also merge all the models into one classifier (imdb_lstm.ensembling, as "
                             "imdb-lstm-build-default's 'ensemble' does), its n-gram share chosen on this split")
    parser.add_argument("--output", default=None, help="JSON file to write (default: print only)")
    return parser.parse_args(argv)


def log_probabilities(model, tokenizer, texts: list[str], ngram: bool) -> torch.Tensor:
    """float32 log-probabilities; `ngram=False` turns the n-gram branch off (the recurrent part alone)."""
    weight = model.config.ngram_weight
    if not ngram:
        model.config.ngram_weight = 0.0
    try:
        return torch.log_softmax(predict_logits(model, tokenizer, texts, dtype="float32"), dim=-1)
    finally:
        model.config.ngram_weight = weight


def accuracy(log_probs: torch.Tensor, labels: np.ndarray) -> float:
    return float((log_probs.argmax(dim=-1).numpy() == labels).mean())


def merged_scores(models: list[str], texts: list[str], labels: np.ndarray) -> dict:
    """The models merged into one classifier: its width and, on `texts`, its accuracy with the n-gram share chosen
    there (the same reviews, as each member's own share was)."""
    model, tokenizer = merge_saved_classifiers(models)
    scores = score_merged(model, tokenizer, texts, labels)
    return {"members": models, "hidden_size": model.config.hidden_size,
            "embedding_dim": model.config.embedding_dim, **scores}


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        split = shared_validation_split(args.models)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    texts, labels = validation_split(args.dataset, split)
    labels = np.asarray(labels)
    started = time.perf_counter()
    members, scores = [], {"joined": {}, "recurrent": {}}
    for folder in args.models:
        model, tokenizer = load_classifier(folder)
        has_ngram = getattr(model, "ngram", None) is not None and model.config.ngram_weight > 0
        scores["joined"][folder] = log_probabilities(model, tokenizer, texts, ngram=True)
        scores["recurrent"][folder] = log_probabilities(model, tokenizer, texts, ngram=False)
        members.append({"model": folder, "hidden_size": model.config.hidden_size,
                        "ngram_weight": model.config.ngram_weight if has_ngram else 0.0,
                        "eval_accuracy": accuracy(scores["joined"][folder], labels),
                        "eval_recurrent_accuracy": accuracy(scores["recurrent"][folder], labels)})
    ensembles = []
    for size in range(2, len(args.models) + 1):
        for group in itertools.combinations(args.models, size):
            ensembles.append({"members": list(group), **{
                f"eval_{'accuracy' if kind == 'joined' else 'recurrent_accuracy'}":
                    accuracy(torch.stack([scores[kind][folder] for folder in group]).mean(0), labels)
                for kind in ("joined", "recurrent")}})
    merged = merged_scores(args.models, texts, labels) if args.merge else None
    result = {"date": utc_now(), "machine": machine_description(), "dataset": args.dataset, "split": split,
              "validation_reviews": len(labels), "dtype": "float32", "members": members,
              "ensembles (mean log-probability)": ensembles, "merged": merged, "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(result, indent=1))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
