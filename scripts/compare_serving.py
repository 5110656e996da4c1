#!/usr/bin/env python
"""Candidates for the shipped model side by side: validation accuracy (from each folder's eval_results.json, never
test), size, and the rate of a plain `pipeline("text-classification", top_k=None, batch_size=64)` call on test
reviews in input order (texts only: no label is read), each candidate timed in turn, `--repeats` rounds, so that a
slow spell of the machine hits them all alike. With `--tokenizer_classes`, each model is also timed with transformers'
generic tokenizer class, to measure what imdb_lstm's own class (`tokenization_imdb_lstm.py`) saves.

    python scripts/compare_serving.py imdb_lstm/default_model outputs/issue29/unilstm128 \
        --output benchmarks/serving_candidates.json
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerFast, pipeline

from imdb_lstm import ImdbLstmTokenizer
from imdb_lstm.benchmarking import default_dataset, machine_description, utc_now
from imdb_lstm.data import load_imdb

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="trained classifier folders")
    parser.add_argument("--dataset", default=default_dataset(REPO_ROOT), help="IMDB source of the test reviews")
    parser.add_argument("--reviews", type=int, default=2000, help="test reviews per timed call, in input order")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per model and tokenizer class")
    parser.add_argument("--tokenizer_classes", action="store_true",
                        help="also time each model with transformers' generic tokenizer class")
    parser.add_argument("--output", default=None, help="JSON file to write (default: print only)")
    return parser.parse_args(argv)


def folder_facts(folder: Path) -> dict:
    results = json.loads((folder / "eval_results.json").read_text()) if (folder / "eval_results.json").is_file() else {}
    config = json.loads((folder / "config.json").read_text())
    return {
        "validation_accuracy": results.get("eval_accuracy", results.get("validation_accuracy")),
        "validation_recurrent_accuracy": results.get("eval_recurrent_accuracy",
                                                     results.get("validation_recurrent_accuracy")),
        "model_safetensors_mb": round((folder / "model.safetensors").stat().st_size / 1e6, 2),
        "bidirectional": config.get("bidirectional"), "hidden_size": config.get("hidden_size"),
        "model_max_length": config.get("model_max_length"), "ngram_features": config.get("ngram_features"),
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    test = load_imdb(args.dataset, splits=("test",))["test"]
    reviews = list(test.select(range(min(args.reviews, len(test))))["text"])
    classes = {"imdb_lstm": ImdbLstmTokenizer}
    if args.tokenizer_classes:
        classes["generic"] = PreTrainedTokenizerFast
    classifiers = {}
    for model in args.models:
        for name, tokenizer_class in classes.items():
            classify = pipeline("text-classification", model=model, tokenizer=tokenizer_class.from_pretrained(model),
                                top_k=None, batch_size=args.batch_size)
            classify(reviews[: 2 * args.batch_size])  # warm-up
            classifiers[(model, name)] = classify
    rates = {key: [] for key in classifiers}
    for _ in range(args.repeats):
        for key, classify in classifiers.items():
            started = time.perf_counter()
            classify(reviews)
            rates[key].append(len(reviews) / (time.perf_counter() - started))
    result = {"date": utc_now(), "machine": machine_description(), "threads": torch.get_num_threads(),
              "reviews": len(reviews), "batch_size": args.batch_size, "repeats": args.repeats, "models": {}}
    for model in args.models:
        entry = folder_facts(Path(model))
        for name in classes:
            measured = rates[(model, name)]
            suffix = "" if name == "imdb_lstm" else f"_{name}_tokenizer"
            entry[f"reviews_per_s{suffix}"] = round(statistics.median(measured), 1)
            entry[f"reviews_per_s{suffix}_all"] = [round(rate, 1) for rate in measured]
        result["models"][os.path.relpath(model, REPO_ROOT) if Path(model).is_absolute() else model] = entry
    text = json.dumps(result, indent=2) + "\n"
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
    print(text, end="")
    return result


if __name__ == "__main__":
    main()
