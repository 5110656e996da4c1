#!/usr/bin/env python
"""What a plain `pipeline("text-classification")` call costs besides the model, on this CPU: the same call (batch
64, test reviews in input order, after warm-up) with the model, then with the model's forward replaced by one that
computes nothing (so the rate is the pipeline's own ceiling: tokenising, batching, padding, post-processing), then
the tokenizer alone, one review a call, as the pipeline calls it.

    python scripts/bench_pipeline_overhead.py                    # the shipped model; writes benchmarks/pipeline_overhead.json
    python scripts/bench_pipeline_overhead.py --model outputs/x --reviews 500 --output /tmp/overhead.json
"""

import argparse
import json
import os
import time
from pathlib import Path

import torch
from transformers import pipeline
from transformers.modeling_outputs import SequenceClassifierOutput

from imdb_lstm import DEFAULT_MODEL
from imdb_lstm.benchmarking import default_dataset, machine_description, utc_now
from imdb_lstm.data import load_imdb

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="classifier folder (default: the shipped model)")
    parser.add_argument("--dataset", default=default_dataset(REPO_ROOT), help="IMDB source of the test reviews")
    parser.add_argument("--reviews", type=int, default=2000, help="test reviews per timed call (shuffled, seed 42)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--output", default=str(REPO_ROOT / "benchmarks" / "pipeline_overhead.json"))
    return parser.parse_args(argv)


def reviews_per_second(call, reviews: list[str], warmup: int) -> float:
    call(reviews[:warmup])
    started = time.perf_counter()
    call(reviews)
    return len(reviews) / (time.perf_counter() - started)


def main(argv=None) -> dict:
    args = parse_args(argv)
    test = load_imdb(args.dataset, splits=("test",))["test"].shuffle(seed=42)
    reviews = list(test.select(range(min(args.reviews, len(test))))["text"])
    classify = pipeline("text-classification", model=args.model, top_k=None, batch_size=args.batch_size)
    result = {"date": utc_now(), "machine": machine_description(), "threads": torch.get_num_threads(),
              "load_average_at_start": os.getloadavg()[0], "reviews": len(reviews), "batch_size": args.batch_size,
              "model": os.path.relpath(args.model, REPO_ROOT)}
    result["pipeline_reviews_per_s"] = reviews_per_second(classify, reviews, 2 * args.batch_size)

    def no_work(input_ids=None, attention_mask=None, **_):
        return SequenceClassifierOutput(logits=torch.zeros(input_ids.shape[0], classify.model.config.num_labels))

    classify.model.forward = no_work
    result["pipeline_without_model_reviews_per_s"] = reviews_per_second(classify, reviews, 2 * args.batch_size)
    tokenizer = classify.tokenizer
    result["tokenizer_one_review_a_call_reviews_per_s"] = reviews_per_second(
        lambda texts: [tokenizer(text) for text in texts], reviews, 100)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
