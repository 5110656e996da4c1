#!/usr/bin/env python
"""Accuracy benchmark: our shipped recipe against a TF-IDF baseline and the original study's model family, all
trained and scored in one run, on the same split and the same machine.

    python scripts/benchmark.py                                  # everything, full IMDB; writes BENCHMARKS.md
    python scripts/benchmark.py --only recipe,tfidf_logreg       # a subset (rows of other models are kept)
    python scripts/benchmark.py --smoke                          # shipped sample, tiny models: seconds, temp dir

Protocol (canonical): the neural models train on IMDB's train split minus a stratified validation part (used to
keep the best epoch), the TF-IDF baseline on the whole train split (it has nothing to select); every model scores
the full test split once. The comparison family gets the recipe's budget (epochs, learning rate, max length)
unless a flag says otherwise. Train time is the optimisation only: Trainer's `train_runtime` minus its per-epoch
validation passes; tokenisation, GloVe loading and test scoring are not counted.

Writes `<report_dir>/benchmarks/accuracy.json` (one object per model) and the "## Accuracy" section of
`<report_dir>/BENCHMARKS.md` (between HTML comment markers; the rest of the file is kept). `report_dir` is the
repository in a full run, the output folder under `--smoke` unless `--write` is given.
"""

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from transformers import HfArgumentParser

from datasets import DatasetDict

from imdb_lstm import word_vectors
from imdb_lstm.commands import word_vectors as word_vectors_command
from imdb_lstm.benchmarking import command_line, default_dataset, machine_description, replace_section, utc_now
from imdb_lstm.data import load_imdb, make_splits, subsample
from imdb_lstm.metrics import binary_rates
from imdb_lstm.ngrams import nb_log_count_ratio
from imdb_lstm.training import finetune as train  # the fine-tuning recipe (scripts/train.py runs it)
from imdb_lstm.training import pretrain as pretraining

logger = logging.getLogger("benchmark")

REPO_ROOT = Path(__file__).resolve().parent.parent
RATE_KEYS = ("accuracy", "tpr", "tnr", "fnr", "fpr")

# The shipped recipe: semi-supervised (configs/ssl_*.json, three commands run in a row).
RECIPE = "recipe"
RECIPE_DESCRIPTION = ("semi-supervised: Word2Vec on train+unsupervised → BiLSTM LM (adaptive softmax) → fine-tuned "
                      "BiLSTM + n-gram branch (our shipped recipe)")
SSL_CONFIGS = {name: REPO_ROOT / "configs" / f"ssl_{name}.json" for name in ("word_vectors", "pretrain", "finetune")}
# The supervised models (name → what differs from train.py's defaults, the supervised GloVe recipe): the ablation's
# first two rows and the original study's family.
NEURAL_MODELS = {
    "glove_supervised": ("BiLSTM, max+mean pooling over GloVe 50d (supervised, train.py's defaults)", {}),
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
# --smoke: tiny networks on a few hundred shipped reviews, one epoch.
SMOKE_MODEL = {"hidden_size": 8, "cnn_num_filters": 8}
SMOKE_DATA = {"max_train_samples": 200, "max_eval_samples": 100, "max_length": 64}
SMOKE_VECTORS = {"dimension": 8, "epochs": 1, "max_texts": 500}
SMOKE_LM = {"hidden_size": 16, "vocab_size": 3000}
SMOKE_LM_TEXTS = 300
# Inverse regularisation strengths tried for the NB-LR baseline (on validation).
NBLR_C = (0.1, 0.3, 1.0)




@dataclass
class BenchmarkArguments:
    dataset: str = field(
        default_factory=lambda: default_dataset(REPO_ROOT),
        metadata={"help": "IMDB source (default ../shared/data/imdb if present, else stanfordnlp/imdb)"},
    )
    output_dir: str | None = field(
        default=None,
        metadata={"help": "models go to output_dir/<name> (default outputs/benchmark; a temp dir with --smoke)"},
    )
    only: str | None = field(default=None, metadata={"help": f"comma-separated subset of {', '.join(MODEL_NAMES)}"})
    # The comparison family's budget; the recipe row always trains with train.py's defaults.
    num_train_epochs: float | None = field(default=None, metadata={"help": "family's epochs (default: the recipe's)"})
    learning_rate: float | None = field(default=None, metadata={"help": "family's learning rate (default: the recipe's)"})
    max_length: int | None = field(default=None, metadata={"help": "family's max tokens (default: the recipe's)"})
    smoke: bool = field(default=False, metadata={"help": "shipped sample (overrides --dataset), tiny models, 1 epoch"})
    write: bool = field(default=False, metadata={"help": "with --smoke: still write the repository's BENCHMARKS.md"})
    report_dir: str | None = field(
        default=None,
        metadata={"help": "where BENCHMARKS.md and benchmarks/ go (default: the repository; output_dir with --smoke)"},
    )
    threads: int | None = field(default=None, metadata={"help": "torch threads (default: torch's, one per core)"})


def parse_args(argv=None) -> BenchmarkArguments:
    (args,) = HfArgumentParser(BenchmarkArguments).parse_args_into_dataclasses(args=argv)
    args.names = selected_models(args.only)
    if args.smoke:
        args.dataset = "sample"  # a plumbing check that runs anywhere, offline
    if args.output_dir is None:
        args.output_dir = tempfile.mkdtemp(prefix="imdb-benchmark-smoke-") if args.smoke else "outputs/benchmark"
    if args.report_dir is None:
        args.report_dir = str(REPO_ROOT) if (args.write or not args.smoke) else args.output_dir
    return args


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
        "wall-clock of its fine-tuning stage, its pretraining in the ablation below). Size: MB (10^6 bytes)",
        "of `model.safetensors` (TF-IDF: the pickled vectoriser + classifier).",
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
    """What each part of the semi-supervised recipe adds (validation first; test scored once per model)."""
    recipe = by_name[RECIPE]
    lines = [
        "### What each part of the semi-supervised recipe adds",
        "",
        f"The recipe (`configs/ssl_*.json`): {recipe['description']}. Its time from nothing: "
        f"{recipe['pretrain_seconds']:.0f} s of unlabelled-data work (word vectors {recipe['vectors_seconds']:.0f} s, "
        f"language model {recipe['lm_seconds']:.0f} s: {recipe['pretraining_tokens']:,} tokens at "
        f"{recipe['lm_tokens_per_s']:,.0f} tokens/s, validation perplexity {recipe['validation_perplexity']:.1f}) + "
        f"{recipe['train_seconds']:.0f} s of fine-tuning = {recipe['pretrain_seconds'] + recipe['train_seconds']:.0f} s "
        "wall-clock (every stage's tokenising, validation and test scoring included).",
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
    steps.append(("+ LM pretraining (the recipe's recurrent part alone)", recipe["validation_recurrent_accuracy"],
                  recipe["recurrent_accuracy"], recipe["pretrain_seconds"] + recipe["fine_tuning_optimisation_seconds"]))
    steps.append((f"+ n-gram branch (weight {recipe['ngram_weight']:.2f}, {recipe['ngram_features']:,} n-grams): "
                  "**the recipe**", recipe["validation_accuracy"], recipe["accuracy"],
                  recipe["pretrain_seconds"] + recipe["train_seconds"]))
    for name, validation, test, seconds in steps:
        validation = f"{validation:.4f}" if validation is not None else "–"
        lines.append(f"| {name} | {validation} | {test:.4f} | {seconds:.0f} |")
    lines += ["", f"The n-gram branch alone scores {recipe['validation_ngram_accuracy']:.4f} on validation (its test "
              "score is not taken: it is no model we ship)."]
    return lines


# ---------------------------------------------------------------- the models


def neural_arguments(name: str, args: BenchmarkArguments, model_dir: Path):
    """train.py's dataclasses for one model: the supervised recipe's defaults, the family's differences, the
    budget flags."""
    differences = dict(NEURAL_MODELS[name][1])
    if differences.get("glove") == "<domain vectors>":
        differences["glove"] = str(domain_vectors(args))
    model_args = train.ModelArguments(**differences)
    data_args = train.DataArguments(dataset=args.dataset)
    training_args = train.ImdbTrainingArguments(output_dir=str(model_dir), disable_tqdm=True, report_to="none")
    if name not in ("glove_supervised", "domain_vectors"):
        # The family gets the recipe's budget unless a flag changes it; the recipe row is always the shipped one.
        if args.num_train_epochs is not None:
            training_args.num_train_epochs = args.num_train_epochs
        if args.learning_rate is not None:
            training_args.learning_rate = args.learning_rate
        if args.max_length is not None:
            data_args.max_length = args.max_length
    if args.smoke:
        for key, value in SMOKE_MODEL.items():
            setattr(model_args, key, value)
        for key, value in SMOKE_DATA.items():
            setattr(data_args, key, value)
        training_args.num_train_epochs = 1
    return model_args, data_args, training_args


def optimisation_seconds(model_dir: Path) -> tuple[float, float]:
    """(train time without the per-epoch validation passes, Trainer's whole train_runtime) from trainer_state.json."""
    history = json.loads((model_dir / "trainer_state.json").read_text())["log_history"]
    runtime = next(entry["train_runtime"] for entry in history if "train_runtime" in entry)
    validation = sum(entry["eval_runtime"] for entry in history if "eval_runtime" in entry)
    return runtime - validation, runtime


def file_mb(path: Path) -> float:
    return path.stat().st_size / 1e6


def run_neural(name: str, args: BenchmarkArguments) -> dict:
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


def tfidf_data(args: BenchmarkArguments):
    """(train texts, train labels, test texts, test labels): the whole train split and the same test rows the neural
    models score (train.run subsamples test the same way under --smoke, with `subsample`)."""
    raw = load_imdb(args.dataset)
    train_split, test_split = raw["train"], raw["test"]
    if args.smoke:
        seed = train.DataArguments().split_seed
        train_split = subsample(train_split, SMOKE_DATA["max_train_samples"], seed)
        test_split = subsample(test_split, SMOKE_DATA["max_eval_samples"], seed)
    return (
        list(train_split["text"]),
        np.asarray(train_split["label"]),
        list(test_split["text"]),
        np.asarray(test_split["label"]),
    )


def run_tfidf(args: BenchmarkArguments) -> dict:
    """TF-IDF over word 1–2-grams with sublinear tf, then logistic regression with C=10."""
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

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


# ---------------------------------------------------------------- the semi-supervised recipe


def domain_vectors(args: BenchmarkArguments) -> Path:
    """The recipe's domain word vectors, learnt once per run (the recipe row learns them and counts their time)."""
    if getattr(args, "vectors_report", None) is None:
        vector_args = word_vectors_command.parse_args([str(SSL_CONFIGS["word_vectors"])])[0]
        vector_args.dataset = args.dataset
        vector_args.output = str(Path(args.output_dir) / RECIPE / "vectors" / Path(vector_args.output).name)
        if args.smoke:
            for key, value in SMOKE_VECTORS.items():
                setattr(vector_args, key, value)
        started = time.perf_counter()
        args.vectors_report = word_vectors.learn_word_vectors(vector_args)
        args.vectors_report["wall_seconds"] = time.perf_counter() - started
    return Path(args.vectors_report["output"])


def run_semi_supervised(args: BenchmarkArguments) -> dict:
    """The shipped recipe from nothing, as its three commands run it: word vectors, LM pretraining, fine-tuning
    (with the n-gram branch). `pretrain_seconds` and `train_seconds` are wall-clock times of the stages."""
    root = Path(args.output_dir) / RECIPE
    vectors = domain_vectors(args)

    lm_args, lm_data, lm_training = pretraining.parse_args([str(SSL_CONFIGS["pretrain"])])
    lm_data.dataset, lm_args.glove = args.dataset, str(vectors)
    lm_training.output_dir, lm_training.disable_tqdm, lm_training.report_to = str(root / "lm"), True, "none"
    if args.smoke:
        lm_args.hidden_size, lm_data.vocab_size = SMOKE_LM["hidden_size"], SMOKE_LM["vocab_size"]
        lm_data.max_train_texts, lm_training.num_train_epochs = SMOKE_LM_TEXTS, 1
    started = time.perf_counter()
    lm_results = pretraining.run(lm_args, lm_data, lm_training)
    lm_seconds = time.perf_counter() - started
    lm_optimisation, _ = optimisation_seconds(root / "lm")

    model_args, data_args, training_args = train.parse_args([str(SSL_CONFIGS["finetune"])])
    data_args.dataset, model_args.model_name_or_path = args.dataset, str(root / "lm")
    training_args.output_dir, training_args.disable_tqdm, training_args.report_to = str(root / "classifier"), True, "none"
    if args.smoke:
        for key, value in SMOKE_DATA.items():
            setattr(data_args, key, value)
        training_args.num_train_epochs = 1
    started = time.perf_counter()
    results = train.run(model_args, data_args, training_args)
    fine_tuning_seconds = time.perf_counter() - started
    train_seconds, _ = optimisation_seconds(root / "classifier")
    vectors_seconds = args.vectors_report["wall_seconds"]
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
        "vector_words": int(args.vectors_report["words"]),
        "validation_perplexity": round(float(lm_results["eval_perplexity"]), 2),
        "model_mb": round(file_mb(root / "classifier" / "model.safetensors"), 3),
        "validation_accuracy": float(results["eval_accuracy"]),
        "validation_recurrent_accuracy": float(results["eval_recurrent_accuracy"]),
        "validation_ngram_accuracy": float(results["eval_ngram_accuracy"]),
        "ngram_weight": float(results["ngram_weight"]),
        "ngram_features": int(results["ngram_features"]),
        "epochs": training_args.num_train_epochs,
        "lm_epochs": lm_training.num_train_epochs,
        "max_length": data_args.max_length,
        "output_dir": str(root / "classifier"),
    }


def run_nblr(args: BenchmarkArguments) -> dict:
    """NB-weighted logistic regression (Wang & Manning 2012) over binary word 1–3-grams seen in at least two
    training reviews, words split as the package's tokenizer splits them; C chosen on the neural models'
    validation part, then refitted on the whole train split."""
    import joblib
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

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


def smoke_imdb(args: BenchmarkArguments):
    """The shipped sample cut as --smoke cuts it for the neural models (train part only matters here)."""
    raw = load_imdb(args.dataset)
    seed = train.DataArguments().split_seed
    return DatasetDict({name: subsample(raw[name], SMOKE_DATA["max_train_samples"], seed) for name in raw})


def run_benchmark(args: BenchmarkArguments, command: str) -> list[dict]:
    machine, rows = machine_description(), []
    for name in args.names:
        # Train times mean little on a busy machine: record how busy it was.
        load_average = round(os.getloadavg()[0], 2)
        if name == RECIPE:
            row = run_semi_supervised(args)
        elif name == TFIDF:
            row = run_tfidf(args)
        elif name == NBLR:
            row = run_nblr(args)
        else:
            row = run_neural(name, args)
        row.update(recipe=name == RECIPE, machine=machine, date=utc_now(), dataset=args.dataset, smoke=args.smoke,
                   threads=torch.get_num_threads(), load_average_at_start=load_average)
        logger.info("%s: %s", name, {key: row[key] for key in (*RATE_KEYS, "train_seconds", "model_mb")})
        rows.append(row)

    report_dir = Path(args.report_dir)
    json_path = report_dir / "benchmarks" / "accuracy.json"
    all_rows = merge_rows(json_path, rows)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(all_rows, indent=2) + "\n")
    replace_section(report_dir / "BENCHMARKS.md", "accuracy", markdown_table(all_rows, command))
    print(markdown_table(all_rows, command))
    print(f"\nWrote {json_path} and {report_dir / 'BENCHMARKS.md'}")
    return rows


def main(argv=None) -> list[dict]:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    return run_benchmark(args, command_line("benchmark.py", argv))


if __name__ == "__main__":
    main()
