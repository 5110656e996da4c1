#!/usr/bin/env python
"""Which part of a long review to keep, and how much: score a trained model on the validation split with reviews
cut to each `max_length` keeping the beginning, the end, or the head + tail (a quarter from the start, the rest
from the end, as Sun et al. 2019 found best for long reviews), in float32 and bfloat16, with the throughput of each.

    python scripts/compare_truncation.py --model outputs/imdb-bilstm --dataset ../shared/data/imdb

The validation split is the one train.py holds out (same protocol, fraction and seed); the test split is never
read. Throughput: `predict_proba`'s batches (`length_sorted_batches`, 64 sorted by length), in this process's
torch threads.
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import HfArgumentParser

from imdb_lstm.data import load_imdb, make_splits
from imdb_lstm.metrics import binary_rates
from imdb_lstm.predict import compute_context, length_sorted_batches, load_classifier


@dataclass
class ComparisonArguments:
    model: str = field(metadata={"help": "a trained model folder"})
    dataset: str = field(default="../shared/data/imdb")
    validation_fraction: float = field(default=0.1)
    split_seed: int = field(default=42)
    max_lengths: list[int] = field(default_factory=lambda: [256, 400, 1000])
    head_share: float = field(default=0.25, metadata={"help": "share of max_length taken from the start for head_tail"})
    batch_size: int = field(default=64)
    dtypes: list[str] = field(default_factory=lambda: ["float32", "bfloat16"], metadata={"help": "see predict --dtype"})
    output: str | None = field(default=None, metadata={"help": "write the rows as JSON here"})


def cut(ids: list[int], max_length: int, keep: str, head_share: float) -> list[int]:
    if len(ids) <= max_length:
        return ids
    if keep == "beginning":
        return ids[:max_length]
    if keep == "end":
        return ids[-max_length:]
    head = int(max_length * head_share)
    return ids[:head] + ids[len(ids) - (max_length - head) :]


@torch.inference_mode()
def score(model, tokenizer, token_ids: list[list[int]], labels, batch_size: int, dtype: str) -> dict:
    predicted = torch.empty(len(token_ids), dtype=torch.long)
    start = time.perf_counter()
    for rows, batch in length_sorted_batches(tokenizer, token_ids, batch_size):
        with compute_context(model, dtype):
            predicted[rows] = model(**batch).logits.argmax(dim=-1)
    seconds = time.perf_counter() - start
    rates = binary_rates(predicted.numpy(), labels)
    return {"accuracy": rates["accuracy"], "tpr": rates["tpr"], "tnr": rates["tnr"],
            "model_reviews_per_s": round(len(token_ids) / seconds, 1)}  # fmt: skip


def main(argv=None) -> list[dict]:
    (args,) = HfArgumentParser(ComparisonArguments).parse_args_into_dataclasses(args=argv)
    model, tokenizer = load_classifier(args.model)
    validation = make_splits(load_imdb(args.dataset), "canonical", args.validation_fraction, args.split_seed)["validation"]
    full = tokenizer(list(validation["text"]))["input_ids"]  # no truncation: every cut below starts from the whole review
    rows = []
    for max_length in args.max_lengths:
        longer = sum(len(ids) > max_length for ids in full) / len(full)
        for keep in ("beginning", "end", "head_tail"):
            token_ids = [cut(ids, max_length, keep, args.head_share) for ids in full]
            for dtype in args.dtypes:
                row = {"max_length": max_length, "keep": keep, "dtype": dtype, "share_cut": round(longer, 4),
                       **score(model, tokenizer, token_ids, list(validation["label"]), args.batch_size, dtype)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps({"model": args.model, "threads": torch.get_num_threads(), "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
