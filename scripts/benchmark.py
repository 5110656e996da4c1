#!/usr/bin/env python
"""Accuracy benchmark: the most accurate recipe against a TF-IDF baseline and the original study's model family, all
trained and scored in one run, on the same split and the same machine.

    python scripts/benchmark.py                                  # everything, full IMDB; writes BENCHMARKS.md
    python scripts/benchmark.py --only recipe,tfidf_logreg       # a subset (rows of other models are kept)
    python scripts/benchmark.py --smoke                          # shipped sample, tiny models: seconds, temp dir

Protocol (canonical): the neural models train on IMDB's train split minus a stratified validation part (used to
keep the best epoch), the TF-IDF baseline on the whole train split (it has nothing to select); every model scores
the full test split once. The comparison family gets the recipe's budget (epochs, learning rate, max length)
unless a flag says otherwise. Train time is the optimisation only: Trainer's `train_runtime` minus its per-epoch
validation passes; tokenisation, GloVe loading and test scoring are not counted.

The supervised family trains here; the recipe row (`scripts/bench_recipe.py`: the accuracy recipe's build,
`configs/accuracy_recipe.json`, from nothing) and the linear baselines (`scripts/bench_baselines.py`) are scripts of
their own, run in their own processes with this run's options.
Writes `<report_dir>/benchmarks/accuracy.json` (one object per model) and the "## Accuracy" section of
`<report_dir>/BENCHMARKS.md` (between HTML comment markers; the rest of the file is kept). `report_dir` is the
repository in a full run, the output folder under `--smoke` unless `--write` is given.
"""

import argparse
import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from transformers import HfArgumentParser

from imdb_lstm.benchmarking import (ACCURACY_SMOKE_DATA, RATE_KEYS, SMOKE_VECTORS, ReportArguments, RunArguments,
                                    apply_smoke, as_argv, command_line, file_mb, machine_description,
                                    optimisation_seconds, resolve_run, run_part, utc_now, write_report)
from imdb_lstm.commands import build_default
from imdb_lstm.training import finetune as train  # the fine-tuning recipe (scripts/train.py runs it)

logger = logging.getLogger("benchmark")

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent

# The accuracy recipe (configs/accuracy_recipe.json, built from nothing by scripts/bench_recipe.py): issue 30's
# winner. The shipped model (configs/default_model.json) is a faster build of the same stages.
RECIPE = "recipe"
RECIPE_CONFIG = REPO_ROOT / "configs" / "accuracy_recipe.json"
# The supervised GloVe recipe, and the supervised models (name → what differs from it): the ablation's first two rows
# and the original study's family.
SUPERVISED_RECIPE = REPO_ROOT / "configs" / "imdb_bilstm.json"
NEURAL_MODELS = {
    "glove_supervised": ("BiLSTM, max+mean pooling over GloVe 50d (supervised, configs/imdb_bilstm.json)", {}),
    "domain_vectors": ("the same over the recipe's domain Word2Vec vectors (ablation: no LM, no n-grams)",
                       {"glove": "<domain vectors>"}),
    "lstm": ("LSTM, last state", {"cell": "lstm", "bidirectional": False, "pooling": "last"}),
    "gru": ("GRU, last state", {"cell": "gru", "bidirectional": False, "pooling": "last"}),
    "bilstm": ("BiLSTM, last states", {"cell": "lstm", "bidirectional": True, "pooling": "last"}),
    "cnn": (
        "CNN (Kim 2014: widths 3,4,5 × 100 filters), max pooling",
        {"encoder": "cnn", "pooling": "max", "cnn_kernel_sizes": [3, 4, 5], "cnn_num_filters": 100},
    ),
}
TFIDF = "tfidf_logreg"
NBLR = "nblr_ngrams"
MODEL_NAMES = (RECIPE, "glove_supervised", "domain_vectors", TFIDF, NBLR, "lstm", "gru", "bilstm", "cnn")
# --smoke: tiny networks on a few hundred shipped reviews (benchmarking's ACCURACY_SMOKE_DATA), one epoch.
SMOKE_MODEL = {"hidden_size": 8, "cnn_num_filters": 8}


@dataclass
class BenchmarkArguments:
    only: str | None = field(default=None, metadata={"help": f"comma-separated subset of {', '.join(MODEL_NAMES)}"})
    # The comparison family's budget; the supervised recipe's rows always train with configs/imdb_bilstm.json's.
    num_train_epochs: float | None = field(default=None, metadata={"help": "family's epochs (default: the recipe's)"})
    learning_rate: float | None = field(default=None, metadata={"help": "family's learning rate (default: the recipe's)"})
    max_length: int | None = field(default=None, metadata={"help": "family's max tokens (default: the recipe's)"})


def parse_args(argv=None) -> argparse.Namespace:
    """This run's options as one namespace; `run`: the options the recipe's and the baselines' scripts get."""
    parser = HfArgumentParser((RunArguments, ReportArguments, BenchmarkArguments))
    run, report, own = parser.parse_args_into_dataclasses(args=argv)
    names = selected_models(own.only)
    resolve_run(run, report, "benchmark", REPO_ROOT)
    options = {key: value for item in (run, report, own) for key, value in dataclasses.asdict(item).items()}
    return argparse.Namespace(**options, names=names, run=run, vectors=None)


def selected_models(only: str | None) -> list[str]:
    if not only:
        return list(MODEL_NAMES)
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODEL_NAMES]
    if unknown or not names:
        raise ValueError(f"--only {only!r}: unknown model(s) {unknown}; choose among {', '.join(MODEL_NAMES)}.")
    return names


# ---------------------------------------------------------------- report


def merge_rows(json_path: Path, rows: list[dict]) -> list[dict]:
    """This run's rows, plus the rows of models a partial run (--only) did not retrain."""
    fresh = {row["name"] for row in rows}
    kept = []
    if json_path.exists():
        kept = [row for row in json.loads(json_path.read_text()) if row.get("name") not in fresh]
    order = {name: i for i, name in enumerate(MODEL_NAMES)}
    return sorted(kept + rows, key=lambda row: order.get(row["name"], len(order)))


def markdown_table(rows: list[dict], command: str) -> str:
    lines = [
        "## Accuracy",
        "",
        "IMDB test split (canonical protocol), every model trained and scored in the same run on the same machine.",
        "Neural models: train split minus a stratified 10% validation part (best epoch kept); TF-IDF: the whole train",
        "split. Train time is optimisation only (no tokenisation, validation or test scoring; the recipe: the",
        "wall-clock of its classifier and compression stages, its word vectors in the ablation below). The recipe's",
        "test rates are in float32, as its validation is scored. Size: MB (10^6 bytes) of `model.safetensors`",
        "(the recipe: as shipped, compressed; TF-IDF: the pickled vectoriser + classifier).",
        "",
        "| model | accuracy | TPR | TNR | FNR | FPR | train time (s) | size (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        name = f"**{row['name']}** (recipe)" if row["recipe"] else row["name"]
        lines.append(
            f"| {name}: {row['description']} | {row['accuracy']:.4f} | {row['tpr']:.4f} | {row['tnr']:.4f} | "
            f"{row['fnr']:.4f} | {row['fpr']:.4f} | {row['train_seconds']:.0f} | {row['model_mb']:.1f} |"
        )
    machines = sorted({row["machine"] for row in rows})
    dates = sorted({row["date"] for row in rows})
    threads = ", ".join(sorted({str(row.get("threads")) for row in rows}))
    loads = ", ".join(f"{row.get('load_average_at_start', float('nan')):.1f}" for row in rows)
    lines += [
        "",
        f"- Machine: {'; '.join(machines)}; torch threads {threads}; 1-minute load average before each model: {loads}",
        f"- Date: {', '.join(dates)}",
        f"- Command: `{command}`",
    ]
    if any(row.get("smoke") for row in rows):
        lines.append("- **Smoke run** (tiny models on the shipped sample): these numbers say nothing about quality.")
    by_name = {row["name"]: row for row in rows}
    if RECIPE in by_name and by_name[RECIPE].get("unlabelled_data"):
        lines += ["", *ablation_table(by_name)]
    return "\n".join(lines)


def ablation_table(by_name: dict) -> list[str]:
    """What each part of the accuracy recipe adds (validation first; test scored once per model)."""
    recipe = by_name[RECIPE]
    total = recipe["pretrain_seconds"] + recipe["train_seconds"]
    lines = [
        "### What each part of the accuracy recipe adds",
        "",
        f"The recipe (`configs/accuracy_recipe.json`, built by `imdb-lstm-build-default`): {recipe['description']}. "
        f"Its time from nothing: word vectors {recipe['vectors_seconds']:.0f} s ({recipe['vector_words']:,} words; "
        f"{recipe['excluded_texts']:,} texts left out for being validation or test reviews) + classifier "
        f"{recipe['classifier_seconds']:.0f} s + compression {recipe['compression_seconds']:.0f} s = {total:.0f} s "
        f"wall-clock (tokenising and validation scoring included; scoring the test split took a further "
        f"{recipe['test_seconds']:.0f} s). As shipped: {recipe['model_mb']:.1f} MB (from "
        f"{recipe['uncompressed_mb']:.1f} MB), {recipe['pipeline_reviews_per_s']:.0f} reviews/s through a plain "
        f"pipeline at batch 64 (test accuracy {recipe['pipeline_accuracy']:.4f} there, in the pipeline's dtype).",
        "",
        "| step | validation accuracy | test accuracy | CPU time of the step (s) |",
        "|---|---|---|---|",
    ]
    steps = []
    if "glove_supervised" in by_name:
        row = by_name["glove_supervised"]
        steps.append(("supervised BiLSTM over GloVe 50d", row.get("validation_accuracy"), row["accuracy"], row["train_seconds"]))
    if "domain_vectors" in by_name:
        row = by_name["domain_vectors"]
        steps.append(("+ domain Word2Vec vectors (train + unsupervised)", row.get("validation_accuracy"), row["accuracy"],
                      row["train_seconds"] + recipe["vectors_seconds"]))
    steps.append(("+ the recipe's classifier (its recurrent part alone)", recipe["validation_recurrent_accuracy"],
                  recipe["recurrent_accuracy"], recipe["pretrain_seconds"] + recipe["classifier_seconds"]))
    steps.append((f"+ n-gram branch (weight {recipe['ngram_weight']:.2f}, {recipe['ngram_features']:,} n-grams after "
                  "pruning): **the recipe**", recipe["validation_accuracy"], recipe["accuracy"], total))
    for name, validation, test, seconds in steps:
        validation = f"{validation:.4f}" if validation is not None else "–"
        lines.append(f"| {name} | {validation} | {test:.4f} | {seconds:.0f} |")
    lines += ["", f"The n-gram branch alone scores {recipe['validation_ngram_accuracy']:.4f} on validation (its test "
              "score is not taken: it is no model we ship)."]
    return lines


# ---------------------------------------------------------------- the models


def neural_arguments(name: str, args, model_dir: Path):
    """train.py's dataclasses for one model: the supervised recipe (`configs/imdb_bilstm.json`), the family's
    differences, the budget flags."""
    differences = dict(NEURAL_MODELS[name][1])
    if differences.get("glove") == "<domain vectors>":
        differences["glove"] = domain_vectors(args)
    model_args, data_args, training_args = train.parse_args([
        str(SUPERVISED_RECIPE), "--dataset", args.dataset, "--output_dir", str(model_dir), "--disable_tqdm", "true",
        "--report_to", "none",
    ])  # fmt: skip
    for key, value in differences.items():
        setattr(model_args, key, value)
    if name not in ("glove_supervised", "domain_vectors"):
        # The family gets the recipe's budget unless a flag changes it; the recipe row is always the shipped one.
        if args.num_train_epochs is not None:
            training_args.num_train_epochs = args.num_train_epochs
        if args.learning_rate is not None:
            training_args.learning_rate = args.learning_rate
        if args.max_length is not None:
            data_args.max_length = args.max_length
    if args.smoke:
        apply_smoke(SMOKE_MODEL, model_args)
        apply_smoke(ACCURACY_SMOKE_DATA, data_args)
        training_args.num_train_epochs = 1
    return model_args, data_args, training_args


def domain_vectors(args) -> str:
    """The recipe's domain word vectors: those the recipe's build learnt in this run, else learnt now by the build's
    own word-vector stage (configs/accuracy_recipe.json's settings; validation and test texts left out), once a run."""
    if args.vectors is None:
        config = json.loads(RECIPE_CONFIG.read_text())
        config["dataset"] = args.dataset
        if args.smoke:
            config["word_vectors"].update(SMOKE_VECTORS)
        work_dir = Path(args.output_dir) / RECIPE / "work"
        args.vectors = build_default.word_vectors_stage(config, work_dir, build_default.StageRecords(work_dir))["output"]
    return args.vectors


def run_neural(name: str, args) -> dict:
    model_dir = Path(args.output_dir) / name
    model_args, data_args, training_args = neural_arguments(name, args, model_dir)
    logger.info("Training %s into %s", name, model_dir)
    results = train.run(model_args, data_args, training_args)
    train_seconds, runtime = optimisation_seconds(model_dir)
    return {
        "name": name,
        "description": NEURAL_MODELS[name][0],
        **{key: float(results[f"test_{key}"]) for key in RATE_KEYS},
        "train_seconds": round(train_seconds, 2),
        "model_mb": round(file_mb(model_dir / "model.safetensors"), 3),
        "validation_accuracy": float(results["eval_accuracy"]),
        "train_runtime_with_validation": round(runtime, 2),
        "epochs": training_args.num_train_epochs,
        "learning_rate": training_args.learning_rate,
        "max_length": data_args.max_length,
        "output_dir": str(model_dir),
    }


def run_model(name: str, args) -> dict:
    """One model's row: the recipe and the linear baselines in their own scripts' processes, the family here."""
    part = Path(args.output_dir) / f"{name}_row.json"
    if name == RECIPE:
        row = run_part(SCRIPTS / "bench_recipe.py", as_argv(args.run), part)
        args.vectors = row["vectors"]  # the domain_vectors row reads the same vectors
        return row
    if name in (TFIDF, NBLR):
        return run_part(SCRIPTS / "bench_baselines.py", [*as_argv(args.run), "--model", name], part)
    return run_neural(name, args)


def run_benchmark(args, command: str) -> list[dict]:
    machine, rows = machine_description(), []
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    for name in args.names:
        # Train times mean little on a busy machine: record how busy it was.
        load_average = round(os.getloadavg()[0], 2)
        row = run_model(name, args)
        row.update(recipe=name == RECIPE, machine=machine, date=utc_now(), dataset=args.dataset, smoke=args.smoke,
                   threads=torch.get_num_threads(), load_average_at_start=load_average)
        logger.info("%s: %s", name, {key: row[key] for key in (*RATE_KEYS, "train_seconds", "model_mb")})
        rows.append(row)
    all_rows = merge_rows(Path(args.report_dir) / "benchmarks" / "accuracy.json", rows)
    write_report(args.report_dir, "accuracy", all_rows, markdown_table(all_rows, command))
    return rows


def main(argv=None) -> list[dict]:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    return run_benchmark(args, command_line("benchmark.py", argv))


if __name__ == "__main__":
    main()
