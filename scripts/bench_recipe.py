#!/usr/bin/env python
"""The accuracy benchmark's recipe row (`scripts/benchmark.py` runs it in its own process): the most accurate
recipe (issue 30's winner, `configs/accuracy_recipe.json`; the shipped model, `configs/default_model.json`, is a
faster one-direction build of the same stages) from nothing, as `imdb-lstm-build-default` runs it: domain word vectors
(Word2Vec on train + unsupervised, every validation and test review's text left out), the classifier of the
config (VAT on the unlabelled reviews, EMA weights, its n-gram branch) trained with the test split unread,
compression, then the shipped folder scored once on the test split.

    python scripts/bench_recipe.py --dataset ../shared/data/imdb --output_dir outputs/benchmark --output row.json
    python scripts/bench_recipe.py --smoke           # shipped sample, tiny sizes: the plumbing

The build runs in `<output_dir>/recipe` (stages in `work/`, the model in `model/`), which is emptied first: the
seconds are those of a run from nothing. The row (one JSON object, as benchmarks/accuracy.json keeps it): the test
rates in float32 (the dtype validation is scored in) and the plain pipeline's accuracy beside them, the recurrent
part's accuracy, and the wall-clock of every stage (`pretrain_seconds`: the word vectors; `train_seconds`: the
classifier and its compression; tokenising and validation scoring included).
"""

import argparse
import json
import logging
import shutil
from pathlib import Path

from imdb_lstm.benchmarking import (ACCURACY_SMOKE_DATA, RATE_KEYS, SMOKE_VECTORS, file_mb, optimisation_seconds,
                                    options_namespace, parse_part_options, part_main)
from imdb_lstm.commands import build_default

logger = logging.getLogger("bench_recipe")

REPO_ROOT = Path(__file__).resolve().parent.parent
RECIPE = "recipe"
RECIPE_CONFIG = REPO_ROOT / "configs" / "accuracy_recipe.json"
# --smoke: a tiny network on a few hundred shipped reviews, one epoch; a small n-gram table to prune.
SMOKE_CLASSIFIER = {**ACCURACY_SMOKE_DATA, "hidden_size": 8, "vocab_size": 2000, "num_train_epochs": 1.0,
                    "bf16": False}
SMOKE_NGRAM_SIZES = [1000, 300]


def describe(flags: dict) -> str:
    """The recipe's one-line description, from its classifier's flags."""
    cell = ("Bi" if flags.get("bidirectional") else "") + flags.get("cell", "lstm").upper()
    parts = [f"{cell}-{flags.get('hidden_size')}"]
    if flags.get("normalize_embeddings"):
        parts.append("normalised embeddings" + (" (every step)" if flags["normalize_embeddings"] == "every_step" else ""))
    if flags.get("vat_epsilon"):
        parts.append(f"VAT ε {flags['vat_epsilon']:g} on train + unsupervised")
    if flags.get("adversarial_epsilon"):
        parts.append(f"adversarial training ε {flags['adversarial_epsilon']:g}")
    if flags.get("ema_decay"):
        parts.append(f"EMA {flags['ema_decay']:g}")
    if flags.get("ngram_order"):
        parts.append(f"n-gram branch (1–{flags['ngram_order']})")
    parts.append(f"{flags.get('num_train_epochs', 0):g} epochs")
    return ("Word2Vec on train+unsupervised → " + ", ".join(parts) +
            " (the accuracy recipe, configs/accuracy_recipe.json)")


def recipe_config(args, root: Path) -> tuple[Path, dict]:
    """configs/accuracy_recipe.json with this run's dataset and folders (and tiny sizes under --smoke), written into
    `root`: the build's config file and its classifier's flags."""
    config = json.loads(RECIPE_CONFIG.read_text())
    config.update(dataset=args.dataset, work_dir=str(root / "work"), output_dir=str(root / "model"))
    if len(config["classifiers"]) != 1:
        raise ValueError(f"{RECIPE_CONFIG}: the recipe row measures one classifier; the config names "
                         f"{sorted(config['classifiers'])}. Keep the chosen one.")
    (flags,) = config["classifiers"].values()
    if args.smoke:
        config["word_vectors"].update(SMOKE_VECTORS)
        flags.update(SMOKE_CLASSIFIER)
        config.setdefault("compression", {})["ngram_sizes"] = SMOKE_NGRAM_SIZES
    path = root / "build_config.json"
    path.write_text(json.dumps(config, indent=2))
    return path, flags


def run_recipe(args) -> dict:
    """The accuracy recipe's build from nothing, and its row."""
    root = Path(args.output_dir) / RECIPE
    if root.exists():
        logger.info("Emptying %s: the recipe is measured from nothing", root)
        shutil.rmtree(root)
    root.mkdir(parents=True)
    config_path, flags = recipe_config(args, root)
    run_info = build_default.main([str(config_path)])
    stages = run_info["stages"]
    classifier = stages["classifier"]
    candidate = classifier["candidates"][classifier["chosen"]]
    model_dir = root / "model"
    results = json.loads((model_dir / "eval_results.json").read_text())
    model_config = json.loads((model_dir / "config.json").read_text())
    classifier_results = json.loads((Path(classifier["output_dir"]) / "eval_results.json").read_text())
    optimisation, _ = optimisation_seconds(classifier["output_dir"])
    train_seconds = classifier["seconds"] + stages["compression"]["seconds"]
    return {
        "name": RECIPE,
        "description": describe(flags),
        # Test in float32, as validation is scored; the plain pipeline's figure (its default dtype) beside it.
        **{key: float(results[f"test_float32_{key}"]) for key in RATE_KEYS},
        "pipeline_accuracy": float(results["test_accuracy"]),
        "recurrent_accuracy": float(results["test_recurrent_accuracy"]),
        "unlabelled_data": True,
        "pretrain_seconds": stages["word_vectors"]["seconds"],
        "train_seconds": round(train_seconds, 1),
        "vectors_seconds": stages["word_vectors"]["seconds"],
        "classifier_seconds": classifier["seconds"],
        "compression_seconds": stages["compression"]["seconds"],
        "test_seconds": stages["test"]["seconds"],
        "classifier_optimisation_seconds": round(optimisation, 1),
        "vectors": stages["word_vectors"]["output"],
        "vector_words": int(stages["word_vectors"]["words"]),
        "excluded_texts": stages["word_vectors"]["excluded_texts"],
        "model_mb": round(file_mb(model_dir / "model.safetensors"), 3),
        "uncompressed_mb": round(stages["compression"]["steps"][0]["size_mb"], 3),
        "validation_accuracy": float(results["eval_accuracy"]),
        "validation_recurrent_accuracy": float(candidate["eval_recurrent_accuracy"]),
        "validation_ngram_accuracy": float(classifier_results["eval_ngram_accuracy"]),
        "ngram_weight": float(model_config["ngram_weight"]),
        "ngram_features": int(stages["compression"]["steps"][-1]["ngrams"]),
        "pipeline_reviews_per_s": stages["test"]["reviews_per_s"],
        "epochs": flags["num_train_epochs"],
        "max_length": flags["max_length"],
        "classifier": classifier["chosen"],
        "output_dir": str(model_dir),
    }


def parse_args(argv=None) -> argparse.Namespace:
    return options_namespace(*parse_part_options((), argv, "benchmark", REPO_ROOT))


def main(argv=None) -> dict:
    return part_main(parse_args, run_recipe, argv)


if __name__ == "__main__":
    main()
