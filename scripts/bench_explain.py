#!/usr/bin/env python
"""How long `imdb_lstm.explain.explain` takes for one review of typical length (IMDB's mean, 269 tokens).

    python scripts/bench_explain.py                       # the recipe's BiLSTM-128 (configs/imdb_bilstm.json), untrained
    python scripts/bench_explain.py --model outputs/imdb-bilstm      # a trained folder instead
    python scripts/bench_explain.py --repeats 20 --n_steps 50 --threads 2

Without `--model` the network is the shipped recipe's architecture (BiLSTM 128 per direction, embedding 50,
max+mean pooling, vocabulary 40,000, 1,000 tokens) with fresh weights: what Integrated Gradients costs depends
on the shapes, not on what the weights learnt, except where completeness needs the path cut into more pieces
(a trained recurrent network's state can flip along the path; `path_pieces` in the output). The review is the
shipped sample's test review whose token count is nearest to `--tokens`, cut to that many tokens. Prints one
JSON object: median and max wall seconds over `--repeats` calls after one warm-up call, the median CPU seconds
of this process per call (on a machine busy with other work, what the call costs; equal to the wall time on an
idle core with `--threads 1`), the 1-minute load average, the machine, the command.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from imdb_lstm import ImdbLstmConfig, ImdbLstmForSequenceClassification, build_tokenizer
from imdb_lstm.benchmarking import command_line, machine_description, utc_now
from imdb_lstm.data import load_imdb
from imdb_lstm.explain import DEFAULT_STEPS, explain
from imdb_lstm.predict import load_classifier

REPO_ROOT = Path(__file__).resolve().parent.parent


def recipe_model(texts: list[str]):
    """The recipe's architecture with fresh weights, and a 40,000-word tokenizer learnt from `texts`."""
    recipe = json.loads((REPO_ROOT / "configs" / "imdb_bilstm.json").read_text())
    tokenizer = build_tokenizer(texts, vocab_size=recipe["vocab_size"], min_frequency=1,
                                model_max_length=recipe["max_length"], truncation_side=recipe["truncation_side"])
    config = ImdbLstmConfig(
        vocab_size=recipe["vocab_size"], embedding_dim=50, encoder=recipe["encoder"], cell=recipe["cell"],
        bidirectional=recipe["bidirectional"], hidden_size=recipe["hidden_size"], num_layers=recipe["num_layers"],
        pooling=recipe["pooling"], model_max_length=recipe["max_length"], truncation_side=recipe["truncation_side"],
    )
    torch.manual_seed(0)
    return ImdbLstmForSequenceClassification(config).eval(), tokenizer


def review_of_length(tokenizer, texts: list[str], tokens: int) -> str:
    """The review whose token count is nearest to `tokens` (at least that many), cut to exactly `tokens` tokens."""
    lengths = [len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]) for text in texts]
    best = min((i for i, n in enumerate(lengths) if n >= tokens), key=lambda i: lengths[i] - tokens)
    encoded = tokenizer(texts[best], add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    return texts[best][: encoded["offset_mapping"][tokens - 1][1]]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a trained model folder or Hub repo id (default: the recipe, untrained)")
    parser.add_argument("--tokens", type=int, default=269, help="review length in tokens (IMDB train mean: 269)")
    parser.add_argument("--n_steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--output", help="also keep the result in this JSON list, replacing a row of the same command "
                                         "(e.g. benchmarks/explain.json)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    sample = load_imdb("sample")
    if args.model:
        model, tokenizer = load_classifier(args.model)
        described = args.model
    else:
        model, tokenizer = recipe_model(list(sample["train"]["text"]))
        described = "recipe architecture (configs/imdb_bilstm.json), untrained, vocabulary 40,000"
    review = review_of_length(tokenizer, list(sample["test"]["text"]), args.tokens)

    explanation = explain(model, tokenizer, review, n_steps=args.n_steps)  # warm-up
    seconds, cpu_seconds = [], []
    for _ in range(args.repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        explanation = explain(model, tokenizer, review, n_steps=args.n_steps)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    result = {
        "model": described, "tokens": len(explanation.words), "n_steps": args.n_steps,
        "path_pieces": explanation.path_pieces, "completeness_gap": abs(explanation.delta) / max(abs(explanation.difference), 1e-9),
        "median_s": statistics.median(seconds), "max_s": max(seconds),
        "median_cpu_s": statistics.median(cpu_seconds), "repeats": args.repeats,
        "load_average_1min": os.getloadavg()[0],
        "threads": torch.get_num_threads(), "machine": machine_description(), "date": utc_now(),
        "command": command_line("bench_explain.py", sys.argv[1:] if argv is None else argv),
    }
    print(json.dumps(result, indent=2))
    if args.output:
        path = Path(args.output)
        rows = json.loads(path.read_text()) if path.is_file() else []
        rows = [row for row in rows if row.get("command") != result["command"]] + [result]
        path.write_text(json.dumps(rows, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
