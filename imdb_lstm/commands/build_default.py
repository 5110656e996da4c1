"""The `imdb-lstm-build-default` command (`make model`): the model this package ships (`imdb_lstm.DEFAULT_MODEL`),
rebuilt from nothing by one command from one JSON file (`configs/default_model.json`).

    imdb-lstm-build-default configs/default_model.json                   # about half an hour on a 2-core CPU
    imdb-lstm-build-default configs/default_model.json --dataset sample --output_dir /tmp/m   # a tiny try

Stages, each recorded with its seconds in the folder's `run_info.json`:
1. `word_vectors`: gensim Word2Vec on the unlabelled texts the config names (IMDB train + unsupervised), leaving
   out the text of every review a candidate is validated or tested on, under that candidate's own split protocol
   and seed (IMDB repeats some test reviews in train and unsupervised);
2. `classifier`: each candidate of the config's `classifiers` (any `imdb-lstm-train` flags: a plain classifier,
   a student of teachers, VAT, ...) trained on those vectors with the test split unread; with `ensemble` (two or
   more candidates' names), those candidates merged into one wider classifier whose recurrent logits are their
   mean (`imdb_lstm.ensembling`), one more candidate; the best on validation accuracy is kept;
3. `compression` (`imdb_lstm.compression`): the n-gram table pruned to the smallest size within a tolerance of
   the full table's validation accuracy, the embedding stored in bfloat16; size and validation accuracy recorded
   at each step;
4. `test`: the compressed folder, as shipped, scored once on the whole test split through a plain
   `pipeline("text-classification")` (batch 64, reviews in input order; its rate is recorded too), and again in
   float32 with and without the n-gram branch.
The folder gets `eval_results.json`, `run_info.json` (this command, every stage, the config) and its model card.
Finished stages are kept in `work_dir` (a classifier's checkpoints too), so a run that was stopped resumes where
it stopped when run again with the same config.
"""

import argparse
import hashlib
import json
import logging
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import HfArgumentParser, pipeline

from .. import __version__
from ..benchmarking import machine_description
from ..cards import render_default_model_card
from ..compression import (choose_ngram_table, ngram_table_size, round_embedding, save_compact, saved_size_mb,
                           validation_accuracy)
from ..data import DataError, held_out_texts, load_labelled, load_unlabelled_texts, make_splits, subsample
from ..ensembling import merge_saved_classifiers, score_merged, shared_validation_split
from ..metrics import binary_rates
from ..predict import load_classifier, predict_logits
from ..training.common import is_complete_checkpoint, redact_secrets
from ..training.finetune import DataArguments, ImdbTrainingArguments, ModelArguments, run
from ..word_vectors import WordVectorArguments, learn_word_vectors
from . import exit_on_errors

__all__ = ["build", "cli_main", "main", "parse_args"]

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = "configs/default_model.json"
CONFIG_KEYS = {"dataset", "work_dir", "output_dir", "word_vectors", "classifiers", "ensemble", "compression"}
COMPRESSION_KEYS = {"ngram_tolerance", "ngram_sizes", "embedding_dtype"}
TEST_BATCH_SIZE = 64
# The candidate that merges the candidates named in the config's "ensemble" (its classifier folder's name too).
ENSEMBLE = "ensemble"
LATENCY_REVIEWS, LATENCY_WARMUP = 200, 5
# What the folder the package ships holds besides the model files.
BUILD_FILES = ("run_info.json", "eval_results.json", "README.md")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imdb-lstm-build-default",
        description="Build the shipped default model from nothing: word vectors, classifier(s), compression, test "
                    "scored once. Stages already finished in the work folder are reused.")
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG,
                        help=f"the build's JSON file (default: {DEFAULT_CONFIG})")
    parser.add_argument("--dataset", help="override the config's labelled IMDB source (e.g. ../shared/data/imdb, "
                        "'sample'); it needs train, test and unsupervised splits")
    parser.add_argument("--work_dir", help="override the config's folder for the stages' outputs and checkpoints")
    parser.add_argument("--output_dir", help="override the config's folder to write the finished model into")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a different model already in --output_dir (refused otherwise)")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def read_config(args: argparse.Namespace) -> dict:
    """The build's JSON file with the command line's overrides, checked."""
    path = Path(args.config)
    if not path.is_file():
        raise DataError(f"No build config at {path}: give the JSON file, e.g. {DEFAULT_CONFIG} in a checkout.")
    config = json.loads(path.read_text())
    unknown = set(config) - CONFIG_KEYS
    missing = {"dataset", "work_dir", "output_dir", "word_vectors", "classifiers"} - set(config)
    if unknown or missing:
        raise DataError(f"{path}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}; the keys are "
                        f"{sorted(CONFIG_KEYS)}.")
    for key in ("dataset", "work_dir", "output_dir"):
        if getattr(args, key):
            config[key] = getattr(args, key)
    if not config["classifiers"]:
        raise DataError(f"{path}: 'classifiers' names no candidate; give at least one set of imdb-lstm-train flags.")
    ensemble = config.get("ensemble", [])
    if ENSEMBLE in config["classifiers"] or (ensemble and (len(ensemble) < 2
                                                           or not set(ensemble) <= set(config["classifiers"]))):
        raise DataError(f"{path}: 'ensemble' must name at least two of the candidates in 'classifiers' "
                        f"({sorted(config['classifiers'])}), none of them called {ENSEMBLE!r}; got {ensemble}.")
    unknown = set(config.get("compression", {})) - COMPRESSION_KEYS
    if unknown:
        raise DataError(f"{path}: unknown compression keys {sorted(unknown)}; they are {sorted(COMPRESSION_KEYS)}.")
    return config


def check_output_dir(output_dir: Path, config: dict, overwrite: bool) -> None:
    """Refuse to replace a folder that holds another model (another build config, or no build record) unless
    `overwrite`: a user's own model must not vanish under a rebuild."""
    if overwrite or not output_dir.exists() or not any(output_dir.iterdir()):
        return
    record = output_dir / "run_info.json"
    previous = json.loads(record.read_text()).get("build_config") if record.is_file() else None
    if previous != config:
        raise DataError(f"{output_dir} already holds a different model ({'another build' if previous else 'not built by this command'}); "
                        "pass --overwrite to replace it, or give another --output_dir.")


def check_splits(dataset: str) -> None:
    """Fail before any work when the source has no `unsupervised` reviews for the word vectors (its labelled
    splits are checked as the first stage reads them)."""
    try:
        load_unlabelled_texts(dataset, ["unsupervised"], use="word vectors")
    except DataError as error:
        raise DataError(f"--dataset {dataset} has no readable 'unsupervised' split ({error}). The build learns its "
                        "word vectors on IMDB's 50,000 unlabelled reviews: give IMDB in the Hub layout, e.g. "
                        "--dataset ../shared/data/imdb (or stanfordnlp/imdb online).") from error


class StageRecords:
    """`work_dir/stages.json`: each finished stage's settings, results and seconds, so that a rerun with the same
    settings reuses it."""

    def __init__(self, work_dir: Path):
        self.path = work_dir / "stages.json"
        self.records = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def finished(self, name: str, settings) -> dict | None:
        record = self.records.get(name)
        return record if record is not None and record["settings"] == json.loads(json.dumps(settings)) else None

    def save(self, name: str, settings, **results) -> dict:
        self.records[name] = {"settings": json.loads(json.dumps(settings)), **results}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.records, indent=2))
        return self.records[name]


def word_vectors_stage(config: dict, work_dir: Path, records: StageRecords) -> dict:
    settings = {"dataset": config["dataset"], **config["word_vectors"], "held_out": classifier_protocols(config)}
    if (done := records.finished("word_vectors", settings)) is not None:
        logger.info("Word vectors: reusing %s", done["output"])
        return done
    started = time.perf_counter()
    held_out = [text for protocol in settings["held_out"] for text in held_out_texts(config["dataset"], *protocol)]
    arguments = WordVectorArguments(output=str(work_dir / "vectors" / "word-vectors.kv"), dataset=config["dataset"],
                                    **config["word_vectors"])
    report = learn_word_vectors(arguments, excluded_texts=held_out)
    return records.save("word_vectors", settings, output=report["output"], texts=report["texts"],
                        words=report["words"], vocabulary=report["vocabulary"],
                        excluded_texts=report["excluded_texts"], seconds=round(time.perf_counter() - started, 1))


def classifier_protocols(config: dict) -> list[tuple[str, float, int]]:
    """Each candidate's split protocol, validation fraction and seed, distinct and sorted: the word vectors serve
    every candidate, so they leave out the validation and test texts of each (`held_out_texts`)."""
    defaults = DataArguments(dataset=config["dataset"])
    return sorted({(str(flags.get("split_protocol", defaults.split_protocol)),
                    float(flags.get("validation_fraction", defaults.validation_fraction)),
                    int(flags.get("split_seed", defaults.split_seed)))
                   for flags in config["classifiers"].values()})


def classifier_arguments(flags: dict, dataset: str, vectors: str, output_dir: Path):
    """The three argument groups of `imdb-lstm-train` for one candidate: its flags, the build's data and vectors,
    the test split left unread (the build scores the shipped folder once, at the end)."""
    values = {"glove": vectors, **flags, "dataset": dataset, "output_dir": str(output_dir), "do_predict": False,
              "report_to": "none", "disable_tqdm": True}
    if any(output_dir.glob("checkpoint-*")) and any(is_complete_checkpoint(p) for p in output_dir.glob("checkpoint-*")):
        values["resume_from_checkpoint"] = "last"
    return HfArgumentParser((ModelArguments, DataArguments, ImdbTrainingArguments)).parse_dict(values)


def classifier_stage(config: dict, work_dir: Path, vectors: str, records: StageRecords) -> dict:
    candidates = {}
    for name, flags in config["classifiers"].items():
        settings = {"dataset": config["dataset"], "vectors": vectors, "flags": flags}
        done = records.finished(f"classifier:{name}", settings)
        if done is None:
            started = time.perf_counter()
            output_dir = work_dir / "classifiers" / name
            results = run(*classifier_arguments(flags, config["dataset"], vectors, output_dir))
            done = records.save(f"classifier:{name}", settings, output_dir=str(output_dir),
                                eval_accuracy=results["eval_accuracy"],
                                eval_recurrent_accuracy=results.get("eval_recurrent_accuracy"),
                                seconds=round(time.perf_counter() - started, 1))
        candidates[name] = done
        logger.info("Candidate %s: validation accuracy %.4f", name, done["eval_accuracy"])
    if config.get("ensemble"):
        candidates[ENSEMBLE] = ensemble_stage(config, work_dir, candidates, records)
        logger.info("Candidate %s: validation accuracy %.4f", ENSEMBLE, candidates[ENSEMBLE]["eval_accuracy"])
    chosen = max(candidates, key=lambda name: candidates[name]["eval_accuracy"])
    return {"chosen": chosen, "output_dir": candidates[chosen]["output_dir"],
            "candidates": {name: {key: record[key] for key in ("eval_accuracy", "eval_recurrent_accuracy", "seconds")}
                           for name, record in candidates.items()},
            "seconds": round(sum(record["seconds"] for record in candidates.values()), 1)}


def ensemble_stage(config: dict, work_dir: Path, candidates: dict, records: StageRecords) -> dict:
    """The candidates named in the config's `ensemble`, merged into one wider classifier whose recurrent logits are
    their mean (`imdb_lstm.ensembling`), its n-gram share chosen again on their shared validation split: one more
    candidate. Its seconds are the merge's; its members' training is counted with them."""
    members = config["ensemble"]
    settings = {"members": {name: records.records[f"classifier:{name}"]["settings"] for name in members}}
    if (done := records.finished(ENSEMBLE, settings)) is not None:
        return done
    started = time.perf_counter()
    folders = [candidates[name]["output_dir"] for name in members]
    split = shared_validation_split(folders)
    model, tokenizer = merge_saved_classifiers(folders)
    texts, labels = validation_split(config["dataset"], split)
    scores = score_merged(model, tokenizer, texts, labels)
    output_dir = work_dir / "classifiers" / ENSEMBLE
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    run_info = json.loads((Path(folders[0]) / "run_info.json").read_text())
    run_info["ensemble"] = {"members": members, "member_folders": folders, **scores}
    (output_dir / "run_info.json").write_text(json.dumps(run_info, indent=2))
    logger.info("Ensemble of %s: validation accuracy %.4f (recurrent part %.4f)", members, scores["eval_accuracy"],
                scores["eval_recurrent_accuracy"])
    return records.save(ENSEMBLE, settings, output_dir=str(output_dir), eval_accuracy=scores["eval_accuracy"],
                        eval_recurrent_accuracy=scores["eval_recurrent_accuracy"],
                        seconds=round(time.perf_counter() - started, 1))


def validation_split(dataset: str, data_arguments: dict):
    """The validation reviews the chosen classifier was selected on (its own split protocol and seed)."""
    raw, _ = load_labelled(dataset)
    splits = make_splits(raw, data_arguments["split_protocol"], data_arguments["validation_fraction"],
                         data_arguments["split_seed"])
    validation = subsample(splits["validation"], data_arguments["max_eval_samples"], data_arguments["split_seed"])
    return list(validation["text"]), list(validation["label"])


def compression_stage(config: dict, classifier_dir: str, staging: Path, records: StageRecords) -> dict:
    settings = {"classifier": classifier_dir, **config.get("compression", {})}
    if (done := records.finished("compression", settings)) is not None and (staging / "model.safetensors").is_file():
        return done
    started = time.perf_counter()
    compression = config.get("compression", {})
    classifier_info = json.loads((Path(classifier_dir) / "run_info.json").read_text())
    texts, labels = validation_split(config["dataset"], classifier_info["arguments"]["data"])
    model, tokenizer = load_classifier(classifier_dir)
    steps = [{"step": "full", "size_mb": saved_size_mb(model, tokenizer),
              "eval_accuracy": validation_accuracy(model, tokenizer, texts, labels),
              "ngrams": ngram_table_size(model), "detail": "as trained: float32, the whole n-gram table"}]
    if ngram_table_size(model) and compression.get("ngram_sizes"):
        tolerance = compression.get("ngram_tolerance", 0.001)
        chosen, trials = choose_ngram_table(model, tokenizer, texts, labels, compression["ngram_sizes"], tolerance)
        steps.append({"step": "ngram_pruning", "size_mb": saved_size_mb(model, tokenizer),
                      "eval_accuracy": validation_accuracy(model, tokenizer, texts, labels), "ngrams": chosen,
                      "detail": f"the smallest table within {tolerance} of the full table's validation accuracy, "
                                "n-grams ranked by |weight|", "trials": trials})
    embedding_dtype = compression.get("embedding_dtype", "float32")
    if embedding_dtype != "float32":
        round_embedding(model, embedding_dtype)
        steps.append({"step": f"embedding_{embedding_dtype}",
                      "size_mb": saved_size_mb(model, tokenizer, embedding_dtype),
                      "eval_accuracy": validation_accuracy(model, tokenizer, texts, labels),
                      "ngrams": ngram_table_size(model), "detail": f"word embedding stored in {embedding_dtype}"})
    if staging.exists():
        shutil.rmtree(staging)
    save_compact(model, tokenizer, staging, embedding_dtype)
    shipped, _ = load_classifier(staging)  # the bytes as shipped, read back
    steps.append({"step": "saved", "size_mb": (staging / "model.safetensors").stat().st_size / 1e6,
                  "eval_accuracy": validation_accuracy(shipped, tokenizer, texts, labels),
                  "ngrams": ngram_table_size(shipped), "detail": "the folder as shipped, loaded back"})
    for step in steps:
        logger.info("Compression %s: %.2f MB, validation accuracy %.4f", step["step"], step["size_mb"],
                    step["eval_accuracy"])
    return records.save("compression", settings, steps=steps, seconds=round(time.perf_counter() - started, 1))


def binary_results(prefix: str, logits: np.ndarray, labels) -> dict:
    rates = binary_rates(np.asarray(logits).argmax(axis=-1), np.asarray(labels))
    keys = ("accuracy", "tpr", "tnr", "fnr", "fpr", "precision", "f1", "tn", "fp", "fn", "tp")
    return {f"{prefix}_{key}": rates[key] for key in keys if key in rates}


def single_review_latency_ms(model_dir: Path, texts: list[str]) -> float:
    """The median milliseconds of a plain pipeline call on one review (validation reviews; the first few warm up)."""
    classify = pipeline("text-classification", model=str(model_dir), top_k=None)
    latencies = []
    for position, text in enumerate(texts):
        started = time.perf_counter()
        classify(text)
        if position >= LATENCY_WARMUP:
            latencies.append((time.perf_counter() - started) * 1000)
    return round(float(np.median(latencies)), 2)


def test_stage(config: dict, staging: Path, records: StageRecords) -> dict:
    """The shipped folder scored once on the whole test split: through a plain pipeline (the user's path, its
    default dtype; timed), then in float32 joined and without the n-gram branch."""
    settings = {"model": str(staging), "dataset": config["dataset"],
                "weights_sha256": hashlib.sha256((staging / "model.safetensors").read_bytes()).hexdigest()}
    if (done := records.finished("test", settings)) is not None:
        return done
    test = load_labelled(config["dataset"])[0]["test"]
    texts, labels = list(test["text"]), list(test["label"])
    classify = pipeline("text-classification", model=str(staging), top_k=None, batch_size=TEST_BATCH_SIZE)
    label2id = classify.model.config.label2id
    started = time.perf_counter()
    outputs = classify(texts)
    pipeline_seconds = time.perf_counter() - started
    scores = np.array([[next(o["score"] for o in row if label2id[o["label"]] == i) for i in range(2)] for row in outputs])
    results = binary_results("test", scores, labels)
    model, tokenizer = load_classifier(staging)
    results.update(binary_results("test_float32", predict_logits(model, tokenizer, texts, 256, "float32").numpy(), labels))
    if model.ngram is not None:
        model.config.ngram_weight = 0.0
        recurrent = predict_logits(model, tokenizer, texts, 256, "float32").numpy()
        results.update(binary_results("test_recurrent", recurrent, labels))
    results["test_samples"] = len(texts)
    logger.info("Test (read once): %s", {k: v for k, v in results.items() if k.endswith("accuracy")})
    return records.save("test", settings, results=results, seconds=round(time.perf_counter() - started, 1),
                        pipeline_seconds=round(pipeline_seconds, 1),
                        reviews_per_s=round(len(texts) / pipeline_seconds, 1), batch_size=TEST_BATCH_SIZE)


def install(staging: Path, output_dir: Path) -> None:
    """Copy the model files into the shipped folder, replacing what was there (`check_output_dir` allowed it before
    the build started)."""
    if output_dir.exists():
        shutil.rmtree(output_dir)
    shutil.copytree(staging, output_dir)


def build(args: argparse.Namespace, argv: list[str]) -> dict:
    config = read_config(args)
    work_dir, output_dir = Path(config["work_dir"]), Path(config["output_dir"])
    check_output_dir(output_dir, config, args.overwrite)
    check_splits(config["dataset"])
    started = time.perf_counter()
    records = StageRecords(work_dir)
    vectors = word_vectors_stage(config, work_dir, records)
    classifier = classifier_stage(config, work_dir, vectors["output"], records)
    staging = work_dir / "shipped"
    compression = compression_stage(config, classifier["output_dir"], staging, records)
    test = test_stage(config, staging, records)
    install(staging, output_dir)

    classifier_info = json.loads((Path(classifier["output_dir"]) / "run_info.json").read_text())
    validation_texts, _ = validation_split(config["dataset"], classifier_info["arguments"]["data"])
    validation = compression["steps"][-1]["eval_accuracy"]
    eval_results = {"eval_accuracy": validation, **test["results"]}
    recurrent = classifier["candidates"][classifier["chosen"]]["eval_recurrent_accuracy"]
    if recurrent is not None:
        eval_results["eval_recurrent_accuracy"] = recurrent
    stages = {"word_vectors": vectors, "classifier": classifier, "compression": compression, "test": test}
    run_info = {
        "command": ["imdb-lstm-build-default", *redact_secrets(argv)],
        "build_config": config,
        "stages": stages,
        "seconds": round(sum(stage["seconds"] for stage in stages.values()), 1),
        "wall_seconds_this_run": round(time.perf_counter() - started, 1),
        "arguments": classifier_info["arguments"],
        **({"ensemble": classifier_info["ensemble"]} if "ensemble" in classifier_info else {}),
        "versions": {**classifier_info.get("versions", {}), "imdb_lstm": __version__},
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpu": machine_description(),
                    "torch_threads": torch.get_num_threads()},
        "serving": {"reviews_per_s": test["reviews_per_s"], "batch_size": TEST_BATCH_SIZE, "machine": machine_description(),
                    "latency_p50_ms": single_review_latency_ms(output_dir, validation_texts[:LATENCY_REVIEWS]),
                    "how": "a plain pipeline('text-classification', top_k=None) over the whole test split in input "
                           "order; the latency: one validation review a call"},
    }
    (output_dir / "eval_results.json").write_text(json.dumps(eval_results, indent=2))
    (output_dir / "run_info.json").write_text(json.dumps(run_info, indent=2))
    render_default_model_card(output_dir).save(output_dir / "README.md")
    logger.info("Wrote %s (%.2f MB): validation %.4f, test %.4f", output_dir,
                (output_dir / "model.safetensors").stat().st_size / 1e6, validation, eval_results["test_accuracy"])
    return run_info


def main(argv=None) -> dict:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    argv = sys.argv[1:] if argv is None else list(argv)
    return build(parse_args(argv), argv)


def cli_main() -> None:
    exit_on_errors(main, (DataError, ValueError))
