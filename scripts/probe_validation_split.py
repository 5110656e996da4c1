"""How far the validation part's accuracy sits from test's, by how the part is drawn: the n-gram model (NB-LR on
word 1-3-grams, C 0.1, the recipe's tokenizer and truncation) fitted on the rest of IMDB's train split and scored
on the part, for parts drawn at random (the canonical protocol's) and as runs of consecutive reviews of one class
(IMDB lists each movie's reviews together; its test movies are not its train movies).

Reads no test review: compare with NB-LR's test accuracy in `benchmarks/accuracy.json` (0.9179).

    python scripts/probe_validation_split.py --output benchmarks/issue30_validation_split_probe.json
"""

import argparse
import json
import time

import numpy as np
from transformers import AutoTokenizer

from imdb_lstm.benchmarking import machine_description
from imdb_lstm.data import load_imdb, make_splits
from imdb_lstm.ngrams import fit_ngram_logistic_regressions


def runs_of_each_class(labels: np.ndarray, size: int, seed: int, fraction: float = 0.1) -> np.ndarray:
    """A seeded `fraction` of each class's runs of `size` consecutive rows (in dataset order)."""
    rng, chosen = np.random.default_rng(seed), []
    for value in (0, 1):
        rows = np.flatnonzero(labels == value)
        runs = [rows[start:start + size] for start in range(0, len(rows), size)]
        chosen += [runs[i] for i in rng.choice(len(runs), int(round(fraction * len(runs))), replace=False)]
    return np.sort(np.concatenate(chosen))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="../shared/data/imdb")
    parser.add_argument("--tokenizer", default="imdb_lstm/default_model")
    parser.add_argument("--output", default="benchmarks/issue30_validation_split_probe.json")
    args = parser.parse_args()
    imdb = load_imdb(args.dataset)
    train = imdb["train"]
    labels = np.asarray(train["label"])
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer, trust_remote_code=True)
    ids = tokenizer(list(train["text"]), truncation=True, max_length=400)["input_ids"]
    # The canonical part's rows, read from a row column (IMDB repeats some texts, so texts do not name rows).
    imdb["train"] = train.add_column("row", np.arange(len(train)))
    canonical = np.sort(make_splits(imdb, "canonical", 0.1, 42)["validation"]["row"])
    parts = {"canonical (stratified random, seed 42)": canonical}
    for size, seed in ((1, 42), (1, 43), (10, 42), (50, 42), (50, 43), (250, 42), (1250, 0)):
        name = "random rows" if size == 1 else f"runs of {size} consecutive reviews"
        parts[f"{name}, seed {seed}"] = runs_of_each_class(labels, size, seed)
    rows = []
    for name, validation in parts.items():
        held_out = np.zeros(len(labels), bool)
        held_out[validation] = True
        kept = np.flatnonzero(~held_out)
        started = time.perf_counter()
        model, = fit_ngram_logistic_regressions([ids[i] for i in kept], labels[kept], tokenizer.vocab_size, 3, 2,
                                                Cs=(0.1,))
        predicted = (model.log_odds([ids[i] for i in validation]) > 0).astype(int)
        accuracy = float((predicted == labels[validation]).mean())
        rows.append({"validation_part": name, "reviews": int(len(validation)), "ngram_accuracy": round(accuracy, 4),
                     "seconds": round(time.perf_counter() - started, 1)})
        print(rows[-1], flush=True)
    result = {"what": __doc__.split("\n\n")[0], "command": f"python scripts/probe_validation_split.py --output "
              f"{args.output}", "machine": machine_description(), "dataset": args.dataset,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows,
              "ngram_test_accuracy_for_comparison": "0.9179 (benchmarks/accuracy.json, nblr_ngrams, C 0.1)"}
    with open(args.output, "w") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")


if __name__ == "__main__":
    main()
