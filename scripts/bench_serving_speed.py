#!/usr/bin/env python
"""The serving side of the speed benchmark (`scripts/bench_speed.py` runs it in its own process; its numbers are that
report's, items 5, 6, 9, 10 and 11 of its list):

5. Inference, on `--model` (a trained folder, e.g. outputs/imdb-bilstm): a plain
   `pipeline("text-classification", model=..., top_k=None, batch_size=64)` call on real test reviews in input order
   (the model splits each batch by length itself and cuts reviews at its maximum length), the same with the reviews
   sorted by length first, both after warm-up; then p50/p90/p99 latency of single-review calls.
   `model_test_accuracy`: the model's test accuracy from its eval_results.json (the full test split), else its
   accuracy on the benchmarked reviews (`model_test_accuracy_reviews` says which).
6. ONNX: the model exported with `imdb_lstm.onnx_export` (TorchScript exporter), run by onnxruntime with
   `--threads` intra-op threads on the same reviews, tokenised and batched by length (64 per batch) as
   `predict_proba` batches them; `onnx_max_abs_diff` is the largest |logit| difference from PyTorch float32 on them.
9. Serving, on `--model` (with its default `inference_dtype`, bfloat16 where the CPU has it): the plain pipeline at
   each of `--batch_sizes` on `--sweep_reviews` reviews in input order; at batch `--pipeline_batch_size` with
   `inference_dtype="float32"`; validation accuracy (the recipe's canonical 10 % of train, never test) in float32
   and in the default dtype.
10. `--fast_model` (imdb-lstm-distill's output): items 5 and 9 again, prefixed `fast_`, and its file size.
11. The peer a transformers user would pick: a DistilBERT-sized classifier (random weights, `DistilBertConfig()`
   defaults at our tokenizer's vocabulary, reviews cut at 512 tokens) through the same plain pipeline call on
   `--distilbert_reviews` of the same reviews.

    python scripts/bench_serving_speed.py --model imdb_lstm/default_model --output /tmp/serving_speed.json
"""

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DistilBertConfig,
                          DistilBertForSequenceClassification, pipeline)

import imdb_lstm  # noqa: F401  (registers the Auto classes the pipeline loads the model with)
from imdb_lstm.benchmarking import (SPEED_SMOKE, ServingSpeedArguments, SpeedArguments, file_mb, options_namespace,
                                    parse_part_options, part_main, relative_to)
from imdb_lstm.data import load_imdb, make_splits
from imdb_lstm.onnx_export import export_onnx, onnx_logits, onnx_session
from imdb_lstm.predict import length_sorted_batches, load_classifier, predict_proba
from imdb_lstm.serving_imdb_lstm import bfloat16_is_native
from imdb_lstm.training.finetune import DataArguments

REPO_ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("bench_serving_speed")


def parse_args(argv=None) -> argparse.Namespace:
    parsed = parse_part_options((SpeedArguments, ServingSpeedArguments), argv, "bench_speed", REPO_ROOT, SPEED_SMOKE)
    args = options_namespace(*parsed)
    if not args.model:
        raise ValueError("--model is needed: the trained folder whose serving is measured.")
    return args


# ---------------------------------------------------------------- 5./6./9./11.


def benchmark_reviews(args):
    test = load_imdb(args.dataset, splits=("test",))["test"].shuffle(seed=args.seed)
    test = test.select(range(min(args.pipeline_reviews, len(test))))
    return list(test["text"]), list(test["label"])


def pipeline_speed(args, model_dir: Path) -> dict:
    # A plain call, as a user writes it: no truncation=True, no sorting (the model does both itself).
    classifier = pipeline("text-classification", model=str(model_dir), top_k=None, batch_size=args.pipeline_batch_size)
    reviews, labels = benchmark_reviews(args)
    classifier(reviews[: 2 * args.pipeline_batch_size])  # warm-up

    started = time.perf_counter()
    outputs = classifier(reviews)
    input_order = len(reviews) / (time.perf_counter() - started)
    label2id = classifier.model.config.label2id
    predicted = [label2id[max(row, key=lambda r: r["score"])["label"]] for row in outputs]
    accuracy = float(np.mean(np.asarray(predicted) == np.asarray(labels)))
    started = time.perf_counter()
    classifier(sorted(reviews, key=len))  # the sort is part of what a caller pays
    sorted_order = len(reviews) / (time.perf_counter() - started)

    singles = reviews[: args.latency_reviews]
    for review in singles[:5]:
        classifier(review)  # warm-up
    latencies = []
    for review in singles:
        started = time.perf_counter()
        classifier(review)
        latencies.append((time.perf_counter() - started) * 1000)
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99])
    eval_results = model_dir / "eval_results.json"
    test_accuracy = json.loads(eval_results.read_text()).get("test_accuracy") if eval_results.is_file() else None
    return {
        "model_test_accuracy": test_accuracy if test_accuracy is not None else accuracy,
        "model_test_accuracy_reviews": "the full test split (eval_results.json)" if test_accuracy is not None
        else len(reviews),
        "pipeline_accuracy": accuracy,
        "pipeline_reviews_per_s": input_order,
        "pipeline_sorted_reviews_per_s": sorted_order,
        "pipeline_batch_size": args.pipeline_batch_size,
        "pipeline_reviews": len(reviews),
        "latency_p50_ms": float(p50),
        "latency_p90_ms": float(p90),
        "latency_p99_ms": float(p99),
    }


def onnx_speed(args, model_dir: Path) -> dict:
    """onnxruntime on the exported model: reviews/s (tokenising included, batches sorted by length) and the largest
    logit difference from PyTorch float32 on the same batches."""
    model, tokenizer = load_classifier(str(model_dir))
    model.config.inference_dtype = "float32"  # parity against the exact float32 model (the export is float32)
    onnx_path = export_onnx(model, Path(args.output_dir) / "model.onnx", tokenizer)
    session = onnx_session(onnx_path, threads=args.threads)
    reviews, _ = benchmark_reviews(args)

    def batches():
        encoded = tokenizer(reviews, truncation=True)["input_ids"]
        for _, batch in length_sorted_batches(tokenizer, encoded, args.pipeline_batch_size):
            yield batch

    max_difference = 0.0
    for batch in batches():  # warm-up and parity, untimed
        with torch.no_grad():
            expected = model(**batch).logits
        actual = torch.from_numpy(onnx_logits(session, batch["input_ids"], batch["attention_mask"]))
        max_difference = max(max_difference, float((actual - expected).abs().max()))
    started = time.perf_counter()
    for batch in batches():
        onnx_logits(session, batch["input_ids"], batch["attention_mask"])
    return {
        "onnx_reviews_per_s": len(reviews) / (time.perf_counter() - started),
        "onnx_max_abs_diff": max_difference,
        "onnx_mb": onnx_path.stat().st_size / 1e6,
    }


def batch_size_sweep(args, model_dir: Path) -> dict:
    """Plain pipeline calls in input order at each of `--batch_sizes` (reviews/s), on `--sweep_reviews` reviews."""
    reviews = benchmark_reviews(args)[0][: args.sweep_reviews]
    rates = {}
    for batch_size in args.batch_sizes:
        classifier = pipeline("text-classification", model=str(model_dir), top_k=None, batch_size=batch_size)
        classifier(reviews[: max(2 * batch_size, 16)])  # warm-up
        started = time.perf_counter()
        classifier(reviews)
        rates[str(batch_size)] = len(reviews) / (time.perf_counter() - started)
    return rates


def serving_variants(args, model_dir: Path) -> dict:
    """The shipped model's plain pipeline (batch `--pipeline_batch_size`, input order) with float32 inference,
    beside the default measured by `pipeline_speed`."""
    reviews = benchmark_reviews(args)[0]
    rates = {}
    for name, overrides in (("float32", {"inference_dtype": "float32"}),):
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, **overrides)
        classifier = pipeline("text-classification", model=model, tokenizer=str(model_dir), top_k=None,
                              batch_size=args.pipeline_batch_size)
        classifier(reviews[: 2 * args.pipeline_batch_size])  # warm-up
        started = time.perf_counter()
        classifier(reviews)
        rates[f"pipeline_{name}_reviews_per_s"] = len(reviews) / (time.perf_counter() - started)
    return rates


def validation_accuracy_by_dtype(args, model_dir: Path) -> dict:
    """Accuracy on the recipe's validation reviews (canonical protocol, 10 %, split seed 42: the reviews the model
    was selected on, never test) in exact float32 and with the model's default inference dtype."""
    splits = make_splits(load_imdb(args.dataset), "canonical", DataArguments.validation_fraction, DataArguments.split_seed)
    validation = splits["validation"]
    model, tokenizer = load_classifier(str(model_dir))
    labels = np.asarray(validation["label"])
    accuracies = {}
    for name, dtype in (("float32", "float32"), ("default", None)):
        predicted = predict_proba(model, tokenizer, list(validation["text"]), dtype=dtype).argmax(dim=1).numpy()
        accuracies[name] = float(np.mean(predicted == labels))
    return {"validation_accuracy_float32": accuracies["float32"], "validation_accuracy_default_dtype": accuracies["default"],
            "default_inference_dtype": "bfloat16" if bfloat16_is_native(torch.device("cpu")) else "float32"}


def distilbert_speed(args, tokenizer_dir: Path) -> dict:
    """The peer a transformers user would pick: a DistilBERT-sized classifier (random weights, `DistilBertConfig()`
    defaults, our tokenizer, reviews cut at 512 tokens) through the same plain pipeline call (batch
    `--pipeline_batch_size`, test reviews in input order)."""
    folder = Path(args.output_dir) / "distilbert_random"
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.model_max_length = 512
    torch.manual_seed(args.seed)
    # --smoke: a tiny one (plumbing only); otherwise DistilBERT's own sizes (66 M parameters at its vocabulary).
    sizes = {"dim": 32, "hidden_dim": 64, "n_layers": 1, "n_heads": 2} if args.smoke else {}
    config = DistilBertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, num_labels=2, **sizes)
    DistilBertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    classifier = pipeline("text-classification", model=str(folder), top_k=None, batch_size=args.pipeline_batch_size)
    reviews = benchmark_reviews(args)[0][: args.distilbert_reviews]
    classifier(reviews[:4], truncation=True)  # warm-up
    started = time.perf_counter()
    classifier(reviews, truncation=True)  # 512 positions: the reviews must be cut
    return {"distilbert_pipeline_reviews_per_s": len(reviews) / (time.perf_counter() - started),
            "distilbert_reviews": len(reviews), "distilbert_parameters": sum(p.numel() for p in
                                                                             classifier.model.parameters())}


# ---------------------------------------------------------------- 10. and all together


def fast_model_speed(args, fast_dir: Path) -> dict:
    """Items 5 and 9 on the fast model, prefixed `fast_`, its teacher and its file size."""
    teacher = json.loads((fast_dir / "config.json").read_text()).get("distilled_from")
    result = {"fast_model_teacher": relative_to(teacher, REPO_ROOT) if teacher else None}
    result.update({f"fast_{key}": value for key, value in pipeline_speed(args, fast_dir).items()})
    result.update({f"fast_pipeline_batch_{size}_reviews_per_s": rate
                   for size, rate in batch_size_sweep(args, fast_dir).items()})
    result.update({f"fast_{key}": value for key, value in validation_accuracy_by_dtype(args, fast_dir).items()})
    result["fast_model_mb"] = file_mb(fast_dir / "model.safetensors")
    return result


def measure(args) -> dict:
    """Items 5, 6 and 9-11, as one dict of speed.json's keys."""
    model_dir = Path(args.model)
    logger.info("pipeline")
    result = pipeline_speed(args, model_dir)
    result.update({f"pipeline_batch_{size}_reviews_per_s": rate
                   for size, rate in batch_size_sweep(args, model_dir).items()})
    result.update(serving_variants(args, model_dir))
    result.update(validation_accuracy_by_dtype(args, model_dir))
    result["inference_model_mb"] = file_mb(model_dir / "model.safetensors")
    if args.fast_model:
        logger.info("fast model")
        result.update(fast_model_speed(args, Path(args.fast_model)))
    logger.info("DistilBERT-sized peer")
    result.update(distilbert_speed(args, model_dir))
    logger.info("onnx")
    result.update(onnx_speed(args, model_dir))
    return result


def main(argv=None) -> dict:
    return part_main(parse_args, measure, argv)


if __name__ == "__main__":
    main()
