#!/usr/bin/env python
"""The accuracy benchmark's recipe row (`scripts/benchmark.py` runs it in its own process): the shipped
semi-supervised recipe from nothing, as its three commands run it (`configs/ssl_*.json`): domain word vectors
(Word2Vec on train + unsupervised), the BiLSTM language model (adaptive softmax) pretrained over them, then the
classifier fine-tuned from the language model with its n-gram branch; the test split scored once.

    python scripts/bench_recipe.py --dataset ../shared/data/imdb --output_dir outputs/benchmark --output row.json
    python scripts/bench_recipe.py --smoke           # shipped sample, tiny sizes: the plumbing

The row (one JSON object, as benchmarks/accuracy.json keeps it): the test rates, the recurrent part's and the
n-gram branch's accuracies, and the wall-clock time of every stage from nothing (`pretrain_seconds`: word vectors
+ language model; `train_seconds`: fine-tuning; tokenising, validation and test scoring included), the optimisation
times from each Trainer's state, the language model's tokens and validation perplexity.
"""

import argparse
import time
from pathlib import Path

from imdb_lstm.benchmarking import (ACCURACY_SMOKE_DATA, RATE_KEYS, apply_smoke, file_mb, learn_domain_vectors,
                                    optimisation_seconds, options_namespace, parse_part_options, part_main)
from imdb_lstm.commands import word_vectors as word_vectors_command
from imdb_lstm.training import finetune as train
from imdb_lstm.training import pretrain as pretraining

REPO_ROOT = Path(__file__).resolve().parent.parent
RECIPE = "recipe"
RECIPE_DESCRIPTION = ("semi-supervised: Word2Vec on train+unsupervised → BiLSTM LM (adaptive softmax) → fine-tuned "
                      "BiLSTM + n-gram branch (our shipped recipe)")
SSL_CONFIGS = {name: REPO_ROOT / "configs" / f"ssl_{name}.json" for name in ("word_vectors", "pretrain", "finetune")}
# --smoke: a tiny language model on a few hundred shipped reviews, one epoch (the vectors: benchmarking's sizes).
SMOKE_LM = {"hidden_size": 16, "vocab_size": 3000, "max_train_texts": 300, "num_train_epochs": 1}


def pretrain_language_model(args, vectors: Path) -> tuple[dict, float]:
    """The recipe's language model over `vectors` into `<output_dir>/recipe/lm`: its results and wall seconds."""
    lm_args, lm_data, lm_training = pretraining.parse_args([str(SSL_CONFIGS["pretrain"])])
    lm_data.dataset, lm_args.glove = args.dataset, str(vectors)
    lm_training.output_dir = str(Path(args.output_dir) / RECIPE / "lm")
    lm_training.disable_tqdm, lm_training.report_to = True, "none"
    if args.smoke:
        apply_smoke(SMOKE_LM, lm_args, lm_data, lm_training)
    started = time.perf_counter()
    results = pretraining.run(lm_args, lm_data, lm_training)
    results["lm_epochs"] = lm_training.num_train_epochs
    return results, time.perf_counter() - started


def fine_tune(args) -> tuple[dict, float, object, object]:
    """The recipe's classifier from the language model into `<output_dir>/recipe/classifier`: its results, wall
    seconds, data and training arguments."""
    root = Path(args.output_dir) / RECIPE
    model_args, data_args, training_args = train.parse_args([str(SSL_CONFIGS["finetune"])])
    data_args.dataset, model_args.model_name_or_path = args.dataset, str(root / "lm")
    training_args.output_dir = str(root / "classifier")
    training_args.disable_tqdm, training_args.report_to = True, "none"
    if args.smoke:
        apply_smoke(ACCURACY_SMOKE_DATA, data_args)
        training_args.num_train_epochs = 1
    started = time.perf_counter()
    results = train.run(model_args, data_args, training_args)
    return results, time.perf_counter() - started, data_args, training_args


def run_semi_supervised(args) -> dict:
    """The shipped recipe from nothing, as its three commands run it: word vectors, LM pretraining, fine-tuning
    (with the n-gram branch). `pretrain_seconds` and `train_seconds` are wall-clock times of the stages."""
    root = Path(args.output_dir) / RECIPE
    vector_args = word_vectors_command.parse_args([str(SSL_CONFIGS["word_vectors"])])[0]
    vectors_report = learn_domain_vectors(vector_args, args.dataset, args.output_dir, args.smoke)
    lm_results, lm_seconds = pretrain_language_model(args, Path(vectors_report["output"]))
    lm_optimisation, _ = optimisation_seconds(root / "lm")
    results, fine_tuning_seconds, data_args, training_args = fine_tune(args)
    train_seconds, _ = optimisation_seconds(root / "classifier")
    vectors_seconds = vectors_report["wall_seconds"]
    return {
        "name": RECIPE,
        "description": RECIPE_DESCRIPTION,
        **{key: float(results[f"test_{key}"]) for key in RATE_KEYS},
        "recurrent_accuracy": float(results["test_recurrent_accuracy"]),
        "unlabelled_data": True,
        # Wall-clock of every stage from nothing: tokenising, validation and test scoring included.
        "pretrain_seconds": round(vectors_seconds + lm_seconds, 1),
        "train_seconds": round(fine_tuning_seconds, 1),
        "vectors_seconds": round(vectors_seconds, 1),
        "lm_seconds": round(lm_seconds, 1),
        "lm_optimisation_seconds": round(lm_optimisation, 1),
        "fine_tuning_optimisation_seconds": round(train_seconds, 1),
        "pretraining_tokens": int(lm_results["train_tokens"]),
        "lm_tokens_per_s": round(lm_results["train_tokens"] / lm_optimisation, 1),
        "vector_words": int(vectors_report["words"]),
        "validation_perplexity": round(float(lm_results["eval_perplexity"]), 2),
        "model_mb": round(file_mb(root / "classifier" / "model.safetensors"), 3),
        "validation_accuracy": float(results["eval_accuracy"]),
        "validation_recurrent_accuracy": float(results["eval_recurrent_accuracy"]),
        "validation_ngram_accuracy": float(results["eval_ngram_accuracy"]),
        "ngram_weight": float(results["ngram_weight"]),
        "ngram_features": int(results["ngram_features"]),
        "epochs": training_args.num_train_epochs,
        "lm_epochs": lm_results["lm_epochs"],
        "max_length": data_args.max_length,
        "output_dir": str(root / "classifier"),
    }


def parse_args(argv=None) -> argparse.Namespace:
    return options_namespace(*parse_part_options((), argv, "benchmark", REPO_ROOT))


def main(argv=None) -> dict:
    return part_main(parse_args, run_semi_supervised, argv)


if __name__ == "__main__":
    main()
