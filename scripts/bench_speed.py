#!/usr/bin/env python
"""Speed benchmark on this CPU, in one run: the machine's sgemm rate, our model's training throughput (tokens/s and
achieved model FLOP/s) against a `pack_padded_sequence` reference, `transformers.pipeline` inference (batched
reviews/s and single-review latency), the saved model's size and the peak memory of a training process.

    python scripts/bench_speed.py                 # full: IMDB lengths and reviews; writes BENCHMARKS.md, benchmarks/
    python scripts/bench_speed.py --threads 1     # pin torch's thread count
    python scripts/bench_speed.py --smoke         # tiny shapes, seconds; writes to a temp dir only

What is measured and how:
1. sgemm: `torch.mm` of float32 n×n matrices, best of `--sgemm_reps`, 2n³ FLOPs each.
2. A real training process (`scripts/train.py` with the recipe's defaults, `--max_steps` steps) is run first: its
   peak RSS (getrusage of the child) and its saved `model.safetensors` (vocabulary learnt from the training texts,
   `vocab_size` 40000, `min_frequency` 2) are items 5; the saved folder is the model of items 2-4.
3. Training throughput: the recipe architecture (BiLSTM 128, GloVe width 50, batch 64) on real training reviews
   tokenised by that tokenizer (≤ `max_length` tokens), batched as Trainer's `group_by_length` batches them
   (`get_length_grouped_indices`), forward + backward + gradient clipping + Trainer's optimizer step; a random
   seeded sample of those batches is timed after warm-up. Model FLOPs count the recurrent and projection matmuls
   per real token (LSTM: 2·4H·(I+H) per direction and layer, GRU: 3 gates) plus the classifier, ×3 for
   forward + backward; padded positions are computed but not counted, so padding lowers the figure.
4. The reference: the same architecture with one `nn.LSTM(bidirectional=True)` over `pack_padded_sequence`, on
   the first `--ref_batches` of the same batches, with the same optimizer.
5. Inference, on `--model` (a trained folder, e.g. outputs/imdb-bilstm; default: the folder of item 2): a plain
   `pipeline("text-classification", model=..., top_k=None, batch_size=64)` call on real test reviews in input order
   (the model splits each batch by length itself and cuts reviews at its maximum length), the same with the reviews
   sorted by length first, both after warm-up; then p50/p90/p99 latency of single-review calls.
   `model_test_accuracy`: the model's test accuracy from its eval_results.json (the full test split), else its
   accuracy on the benchmarked reviews (`model_test_accuracy_reviews` says which).
6. ONNX: the model exported with `imdb_lstm.onnx_export` (TorchScript exporter), run by onnxruntime with
   `--threads` intra-op threads on the same reviews, tokenised and batched by length (64 per batch) as
   `predict_proba` batches them; `onnx_max_abs_diff` is the largest |logit| difference from PyTorch float32 on them.
7. bfloat16 training: item 3 again under `torch.autocast("cpu", torch.bfloat16)` (what Trainer's `--bf16` does on
   a CPU); null where the CPU has no native bfloat16 (AVX512_BF16/AMX).
8. `pretrain_tokens_per_s`: the semi-supervised recipe's language model (`configs/ssl_pretrain.json`: its
   architecture, output layer, block size, batch size and bf16 choice; a random embedding as wide as
   `configs/ssl_word_vectors.json`'s vectors) training on blocks of real IMDB training reviews tokenised by the
   model's tokenizer: forward + backward + clipping + optimizer step, `--pretrain_steps` timed after warm-up;
   `pretrain_tied_tokens_per_s`: the same with the first version's full softmax tied to the embedding (fp32).
   `--pretraining_only` measures just this and updates an existing `benchmarks/speed.json`.
9. Serving, on `--model` (with its default `inference_dtype`, bfloat16 where the CPU has it): the plain pipeline at
   each of `--batch_sizes` on `--sweep_reviews` reviews in input order; at batch `--pipeline_batch_size` with
   `inference_dtype="float32"`; validation accuracy (the recipe's canonical
   10 % of train, never test) in float32 and in the default dtype.
10. `--fast_model` (imdb-lstm-distill's output): items 5 and 9 again, prefixed `fast_`, and its file size.
11. The peer a transformers user would pick: a DistilBERT-sized classifier (random weights, `DistilBertConfig()`
   defaults at our tokenizer's vocabulary, reviews cut at 512 tokens) through the same plain pipeline call on
   `--distilbert_reviews` of the same reviews; `speedup_vs_distilbert` is item 5's rate over its rate.
   `serving_reviews_per_s`: the faster of --model and --fast_model among those whose test accuracy is ≥ 0.920.
"""

import dataclasses
import json
import logging
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from transformers import AutoTokenizer, DataCollatorWithPadding, HfArgumentParser, Trainer, pipeline
from transformers.trainer_pt_utils import get_length_grouped_indices

import imdb_lstm  # noqa: F401  (registers the Auto classes the pipeline loads the model with)
from imdb_lstm import ImdbLstmForSequenceClassification
from imdb_lstm.benchmarking import command_line, default_dataset, machine_description, relative_to, replace_section, utc_now
from imdb_lstm.cards import describe_architecture, describe_language_model
from imdb_lstm.data import load_imdb
from imdb_lstm.serving_imdb_lstm import bfloat16_is_native
from imdb_lstm.predict import length_sorted_batches, predict_proba
from imdb_lstm.training import pretrain as pretraining
from imdb_lstm.training.finetune import DataArguments, ImdbTrainingArguments

REPO_ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("bench_speed")

GOALS = {  # field: (description, test)
    # The same run's fp32 sgemm is the yardstick; the faster of fp32 and bf16-autocast training counts.
    "flops_share_of_sgemm": ("model FLOP/s ≥ 50% of fp32 sgemm (fp32 or bf16 training)", lambda value: value >= 0.5),
    "speedup_vs_packed": ("≥ 10× the packed reference's tokens/s", lambda value: value >= 10),
    # The faster of the shipped and the fast model among those scoring ≥ 0.920 on the test split (above NB-LR).
    "serving_reviews_per_s": ("pipeline ≥ 1,000 reviews/s batched, model test accuracy ≥ 0.920",
                              lambda value: value is not None and value >= 1000),
    "latency_p50_ms": ("p50 single-review latency ≤ 10 ms", lambda value: value <= 10),
    "model_mb": ("model file ≤ 20 MB", lambda value: value <= 20),
    "fast_model_mb": ("fast model file ≤ 20 MB", lambda value: value is not None and value <= 20),
    "onnx_max_abs_diff": ("ONNX logits within 1e-4 of PyTorch", lambda value: value <= 1e-4),
}


@dataclass
class SpeedArguments:
    dataset: str = field(
        default_factory=lambda: default_dataset(REPO_ROOT),
        metadata={"help": "IMDB source for review lengths and texts (default ../shared/data/imdb if present)"},
    )
    output_dir: str | None = field(
        default=None,
        metadata={"help": "work folder for the saved model (default outputs/bench_speed; a temp dir with --smoke)"},
    )
    threads: int | None = field(default=None, metadata={"help": "torch threads here and in the training process"})
    model: str | None = field(
        default=None,
        metadata={"help": "trained model folder whose inference is measured (default: the 20-step model of item 2)"},
    )
    batch_size: int = field(
        default=ImdbTrainingArguments.per_device_train_batch_size, metadata={"help": "training batch size (the recipe's)"}
    )
    max_length: int = field(default=DataArguments.max_length, metadata={"help": "tokens kept per review (the recipe's)"})
    sgemm_sizes: list[int] = field(default_factory=lambda: [1024, 2048])
    sgemm_reps: int = field(default=5)
    rss_steps: int = field(default=20, metadata={"help": "optimisation steps of the measured training process"})
    warmup_batches: int = field(default=3)
    train_batches: int = field(default=40, metadata={"help": "timed training batches of our model"})
    ref_batches: int = field(default=8, metadata={"help": "timed training batches of the packed reference"})
    pipeline_reviews: int = field(default=2000, metadata={"help": "test reviews through the batched pipeline"})
    pipeline_batch_size: int = field(default=64)
    latency_reviews: int = field(default=200, metadata={"help": "single-review pipeline calls timed"})
    fast_model: str | None = field(
        default=None,
        metadata={"help": "the distilled fast model's folder (imdb-lstm-distill's output), measured beside --model"},
    )
    batch_sizes: list[int] = field(default_factory=lambda: [1, 8, 64, 256],
                                   metadata={"help": "pipeline batch sizes of the sweep (input order)"})
    sweep_reviews: int = field(default=512, metadata={"help": "test reviews per batch size of the sweep"})
    distilbert_reviews: int = field(default=128, metadata={"help": "test reviews through the DistilBERT-sized peer"})
    pretrain_steps: int = field(default=30, metadata={"help": "timed language-model training steps"})
    pretraining_only: bool = field(
        default=False, metadata={"help": "measure only the LM pretraining and update the existing speed.json"}
    )
    seed: int = field(default=42)
    smoke: bool = field(
        default=False, metadata={"help": "a plumbing check in seconds: the shipped sample and tiny sizes (overrides them)"}
    )
    write: bool = field(default=False, metadata={"help": "with --smoke: still write the repository's BENCHMARKS.md"})
    report_dir: str | None = field(
        default=None,
        metadata={"help": "where BENCHMARKS.md and benchmarks/ go (default: the repository; output_dir with --smoke)"},
    )


SMOKE = {
    "dataset": "sample",
    "batch_size": 8,
    "max_length": 64,
    "sgemm_sizes": [256],
    "sgemm_reps": 2,
    "rss_steps": 2,
    "warmup_batches": 1,
    "train_batches": 2,
    "ref_batches": 1,
    "pipeline_reviews": 32,
    "pipeline_batch_size": 8,
    "latency_reviews": 10,
    "pretrain_steps": 2,
    "batch_sizes": [1, 8],
    "sweep_reviews": 16,
    "distilbert_reviews": 8,
}
# The training process under --smoke: a tiny network on a few shipped reviews.
SMOKE_TRAIN_ARGS = ["--hidden_size", "8", "--max_train_samples", "200"]


def parse_args(argv=None) -> SpeedArguments:
    (args,) = HfArgumentParser(SpeedArguments).parse_args_into_dataclasses(args=argv)
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
    if args.output_dir is None:
        args.output_dir = tempfile.mkdtemp(prefix="imdb-bench-speed-smoke-") if args.smoke else "outputs/bench_speed"
    if args.report_dir is None:
        args.report_dir = str(REPO_ROOT) if (args.write or not args.smoke) else args.output_dir
    for name in ("batch_size", "max_length", "sgemm_reps", "rss_steps", "train_batches", "ref_batches", "pretrain_steps",
                 "pipeline_reviews", "pipeline_batch_size", "latency_reviews", "sweep_reviews", "distilbert_reviews"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be at least 1; got {getattr(args, name)}.")
    return args


# ---------------------------------------------------------------- 1. sgemm


def sgemm_gflops(sizes: list[int], reps: int) -> tuple[float, int]:
    """Best float32 matmul rate over `sizes` (GFLOP/s) and the size that reached it."""
    best, best_size = 0.0, sizes[0]
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)  # warm-up: thread pool, page faults
        for _ in range(reps):
            started = time.perf_counter()
            torch.mm(a, b)
            rate = 2 * n**3 / (time.perf_counter() - started) / 1e9
            if rate > best:
                best, best_size = rate, n
    return best, best_size


# ---------------------------------------------------------------- 2. a real training process


def run_training_process(args: SpeedArguments, model_dir: Path) -> dict:
    """scripts/train.py with the recipe's defaults for `rss_steps` steps: its peak RSS and the model it saves."""
    command = [
        sys.executable, str(Path(__file__).parent / "train.py"),
        "--dataset", args.dataset, "--output_dir", str(model_dir), "--max_length", str(args.max_length),
        "--per_device_train_batch_size", str(args.batch_size),
        "--max_steps", str(args.rss_steps), "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--do_predict", "false", "--max_eval_samples", "64",
        "--disable_tqdm", "true", "--report_to", "none",
    ]  # fmt: skip
    if args.smoke:
        command += SMOKE_TRAIN_ARGS
    env = dict(os.environ)
    if args.threads is not None:
        env["OMP_NUM_THREADS"] = str(args.threads)
    logger.info("Training process: %s", " ".join(command))
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"The training process failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
    # ru_maxrss is in KiB on Linux; the training process is the only child this process has waited for.
    peak_rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    train_results = json.loads((model_dir / "train_results.json").read_text())
    return {
        "peak_rss_mb": peak_rss_kib * 1024 / 1e6,
        "model_mb": (model_dir / "model.safetensors").stat().st_size / 1e6,
        "trainer_samples_per_s": train_results["train_samples_per_second"],
        "training_process_steps": args.rss_steps,
    }


# ---------------------------------------------------------------- 3./4. training throughput


def length_grouped_batches(input_ids: list[list[int]], args: SpeedArguments) -> list[list[int]]:
    """Row indices per batch as Trainer's group_by_length sampler makes them, then a seeded random sample of
    warm-up + timed batches (an unbiased draw: the sampler puts the longest batch first)."""
    lengths = [len(ids) for ids in input_ids]
    generator = torch.Generator().manual_seed(args.seed)
    order = get_length_grouped_indices(lengths, args.batch_size, generator=generator)
    batches = [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    wanted = args.warmup_batches + args.train_batches
    if len(batches) < wanted:
        raise ValueError(f"{args.dataset} gives {len(batches)} batches; fewer than the {wanted} asked for.")
    chosen = np.random.default_rng(args.seed).choice(len(batches), size=wanted, replace=False)
    return [batches[i] for i in chosen]


def collate(collator: DataCollatorWithPadding, input_ids: list[list[int]], rows: list[int],
            generator: torch.Generator) -> dict:
    """The batch of `rows` padded as Trainer pads it (`DataCollatorWithPadding`: dynamic, right), random labels."""
    batch = dict(collator([{"input_ids": input_ids[row]} for row in rows]))
    batch["labels"] = torch.randint(0, 2, (len(rows),), generator=generator)
    return batch


def forward_flops_per_token(config) -> float:
    """Matmul FLOPs per real token of one forward pass through the encoder."""
    if config.encoder == "cnn":
        return sum(2 * config.embedding_dim * config.cnn_num_filters * k for k in config.cnn_kernel_sizes)
    gates = 4 if config.cell == "lstm" else 3
    directions = 2 if config.bidirectional else 1
    flops, input_size = 0.0, config.embedding_dim
    for _ in range(config.num_layers):
        flops += directions * 2 * gates * config.hidden_size * (input_size + config.hidden_size)
        input_size = config.hidden_size * directions
    return flops


def training_flops(model, real_tokens: int, sequences: int) -> float:
    """Forward + backward (≈ 2× forward) model FLOPs of real tokens and the classifier of each sequence."""
    classifier = 2 * model.classifier.in_features * model.classifier.out_features
    return 3 * (real_tokens * forward_flops_per_token(model.config) + sequences * classifier)


class PackedBiLstmReference(nn.Module):
    """The recipe architecture as tutorials write it: one bidirectional nn.LSTM over a packed batch."""

    def __init__(self, config):
        super().__init__()
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.embedding_dropout = nn.Dropout1d(config.embedding_dropout)
        self.lstm = nn.LSTM(config.embedding_dim, config.hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(4 * config.hidden_size, config.num_labels)

    def forward(self, input_ids, attention_mask, labels):
        lengths = attention_mask.sum(dim=1)
        embedded = self.embedding_dropout(self.embedding(input_ids).transpose(1, 2)).transpose(1, 2)
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, _ = self.lstm(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=input_ids.size(1))
        mask = attention_mask.unsqueeze(-1).bool()
        maximum = states.masked_fill(~mask, torch.finfo(states.dtype).min).amax(dim=1)
        mean = (states * mask).sum(dim=1) / lengths.unsqueeze(1)
        logits = self.classifier(self.dropout(torch.cat([maximum, mean], dim=-1)))
        return nn.functional.cross_entropy(logits, labels)


def time_training(model, batches: list[dict], warmup: int, bf16: bool = False) -> dict:
    """Forward, backward, clipping and Trainer's optimizer step per batch; the first `warmup` batches untimed.
    `bf16`: forward under CPU autocast to bfloat16, as Trainer's `--bf16` runs it."""
    optimizer_class, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(ImdbTrainingArguments(output_dir="unused"))
    optimizer = optimizer_class([p for p in model.parameters() if p.requires_grad], **optimizer_kwargs)
    model.train()
    real_tokens = padded_tokens = sequences = 0
    for i, batch in enumerate(batches):
        if i == warmup:
            started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            output = model(**batch)
        loss = output if isinstance(output, torch.Tensor) else output.loss
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i >= warmup:
            real_tokens += int(batch["attention_mask"].sum())
            padded_tokens += batch["attention_mask"].numel()
            sequences += batch["input_ids"].size(0)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "real_tokens": real_tokens, "padded_tokens": padded_tokens, "sequences": sequences}


def describe(config, language_model: bool = False) -> str:
    """What the network is (the model card's words, `imdb_lstm.cards`) and its embedding width."""
    text = describe_language_model(config.to_dict()) if language_model else describe_architecture(config.to_dict())
    return f"{text}; embedding {config.embedding_dim}"


def training_throughput(args: SpeedArguments, model_dir: Path) -> dict:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = list(load_imdb(args.dataset, splits=("train",))["train"]["text"])
    input_ids = tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]
    generator = torch.Generator().manual_seed(args.seed)
    collator = DataCollatorWithPadding(tokenizer)
    batches = [collate(collator, input_ids, rows, generator) for rows in length_grouped_batches(input_ids, args)]

    torch.manual_seed(args.seed)
    ours = ImdbLstmForSequenceClassification.from_pretrained(model_dir)
    timed = time_training(ours, batches, args.warmup_batches)
    flops = training_flops(ours, timed["real_tokens"], timed["sequences"])
    ref_batches = batches[: args.warmup_batches + args.ref_batches]
    reference = time_training(PackedBiLstmReference(ours.config), ref_batches, args.warmup_batches)
    bf16_tokens_per_s = bf16_gflops = None
    if bfloat16_is_native(torch.device("cpu")):
        torch.manual_seed(args.seed)
        bf16 = time_training(ImdbLstmForSequenceClassification.from_pretrained(model_dir), batches,
                             args.warmup_batches, bf16=True)  # fmt: skip
        bf16_tokens_per_s = bf16["real_tokens"] / bf16["seconds"]
        bf16_gflops = training_flops(ours, bf16["real_tokens"], bf16["sequences"]) / bf16["seconds"] / 1e9
    return {
        "bf16_train_tokens_per_s": bf16_tokens_per_s,
        "bf16_train_gflops": bf16_gflops,
        "architecture": describe(ours.config),
        "train_tokens_per_s": timed["real_tokens"] / timed["seconds"],
        "train_gflops": flops / timed["seconds"] / 1e9,
        "train_reviews_per_s": timed["sequences"] / timed["seconds"],
        "padding_share": 1 - timed["real_tokens"] / timed["padded_tokens"],
        "mean_review_tokens": float(np.mean([len(ids) for ids in input_ids])),
        "ref_packed_tokens_per_s": reference["real_tokens"] / reference["seconds"],
        "timed_batches": args.train_batches,
        "ref_timed_batches": args.ref_batches,
    }


# ---------------------------------------------------------------- 5. inference


def benchmark_reviews(args: SpeedArguments):
    test = load_imdb(args.dataset, splits=("test",))["test"].shuffle(seed=args.seed)
    test = test.select(range(min(args.pipeline_reviews, len(test))))
    return list(test["text"]), list(test["label"])


def pipeline_speed(args: SpeedArguments, model_dir: Path) -> dict:
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


def onnx_speed(args: SpeedArguments, model_dir: Path) -> dict:
    """onnxruntime on the exported model: reviews/s (tokenising included, batches sorted by length) and the largest
    logit difference from PyTorch float32 on the same batches."""
    from imdb_lstm.onnx_export import export_onnx, onnx_logits, onnx_session
    from imdb_lstm.predict import load_classifier

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


def batch_size_sweep(args: SpeedArguments, model_dir: Path) -> dict:
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


def serving_variants(args: SpeedArguments, model_dir: Path) -> dict:
    """The shipped model's plain pipeline (batch `--pipeline_batch_size`, input order) with float32 inference,
    beside the default measured by `pipeline_speed`."""
    from transformers import AutoModelForSequenceClassification

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


def validation_accuracy_by_dtype(args: SpeedArguments, model_dir: Path) -> dict:
    """Accuracy on the recipe's validation reviews (canonical protocol, 10 %, split seed 42: the reviews the model
    was selected on, never test) in exact float32 and with the model's default inference dtype."""
    from imdb_lstm.data import make_splits
    from imdb_lstm.predict import load_classifier

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


def distilbert_speed(args: SpeedArguments, tokenizer_dir: Path) -> dict:
    """The peer a transformers user would pick: a DistilBERT-sized classifier (random weights, `DistilBertConfig()`
    defaults, our tokenizer, reviews cut at 512 tokens) through the same plain pipeline call (batch
    `--pipeline_batch_size`, test reviews in input order)."""
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

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



def pretraining_throughput(args: SpeedArguments, tokenizer_dir: Path) -> dict:
    """Training tokens/s of the recipe's language model (item 8 of the module docstring)."""
    lm_args, lm_data, lm_training = pretraining.parse_args([str(REPO_ROOT / "configs" / "ssl_pretrain.json")])
    dimension = json.loads((REPO_ROOT / "configs" / "ssl_word_vectors.json").read_text())["dimension"]
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    block, batch = lm_data.block_size, lm_training.per_device_train_batch_size
    needed = (args.warmup_batches + args.pretrain_steps) * block * batch
    texts = load_imdb(args.dataset, splits=("train",))["train"].shuffle(seed=args.seed)["text"]
    ids, start = [], 0
    while len(ids) < needed and start < len(texts):
        for row in tokenizer(texts[start : start + 500], add_special_tokens=False)["input_ids"]:
            ids.extend(row)
        start += 500
    blocks = torch.tensor(ids[: len(ids) // block * block]).view(-1, block)
    batches = [{"input_ids": rows, "attention_mask": torch.ones_like(rows), "labels": rows}
               for rows in blocks.split(batch) if len(rows) == batch]
    bf16 = bool(lm_training.bf16) and bfloat16_is_native(torch.device("cpu"))
    results = {"pretrain_architecture": None, "pretrain_bf16": bf16, "pretrain_block_size": block,
               "pretrain_batch_size": batch, "pretrain_vocab_size": len(tokenizer)}
    for output_layer, autocast in (("adaptive", bf16), ("tied", False)):
        overrides = {"lm_output": output_layer, "glove": "none", "embedding_dim": dimension}
        model_args = dataclasses.replace(lm_args, **overrides)
        torch.manual_seed(args.seed)
        model = pretraining.build_language_model(model_args, tokenizer, args.seed)
        steps = batches if output_layer == lm_args.lm_output else batches[: args.warmup_batches + max(2, args.pretrain_steps // 6)]
        timed = time_training(model, steps, args.warmup_batches, bf16=autocast)
        key = "pretrain_tokens_per_s" if output_layer == lm_args.lm_output else "pretrain_tied_tokens_per_s"
        results[key] = timed["real_tokens"] / timed["seconds"]
        if output_layer == lm_args.lm_output:
            results["pretrain_architecture"] = describe(model.config, language_model=True)
            results["pretrain_timed_steps"] = len(steps) - args.warmup_batches
    return results


# ---------------------------------------------------------------- report


def goals(result: dict) -> dict:
    return {name: {"goal": text, "value": result.get(name), "met": bool(test(result.get(name)))}
            for name, (text, test) in GOALS.items()}


def markdown_section(result: dict, command: str) -> str:
    rows = [
        ("sgemm (float32 torch.mm)", f"{result['sgemm_gflops']:.1f} GFLOP/s (n={result['sgemm_size']})"),
        ("training: our model", f"{result['train_tokens_per_s']:,.0f} tokens/s, {result['train_reviews_per_s']:,.1f} reviews/s"),
        ("training: model FLOP/s (fp32)", f"{result['train_gflops']:.2f} GFLOP/s = {result['fp32_flops_share_of_sgemm']:.1%} of fp32 sgemm"),
        ("training: model FLOP/s (bf16 autocast)", "no native bfloat16 on this CPU" if result['bf16_train_gflops'] is None else f"{result['bf16_train_gflops']:.2f} GFLOP/s = {result['bf16_flops_share_of_sgemm']:.1%} of fp32 sgemm"),
        ("training: padding computed", f"{result['padding_share']:.1%} of positions (length-grouped batches)"),
        ("training: packed nn.LSTM reference", f"{result['ref_packed_tokens_per_s']:,.0f} tokens/s"),
        ("training: ours / reference", f"{result['speedup_vs_packed']:.2f}×"),
        ("training: Trainer end to end", f"{result['trainer_samples_per_s']:,.1f} reviews/s ({result['training_process_steps']} steps)"),
        (f"pipeline, batch {result['pipeline_batch_size']}, input order", f"{result['pipeline_reviews_per_s']:,.0f} reviews/s"),
        (f"pipeline, batch {result['pipeline_batch_size']}, sorted by length", f"{result['pipeline_sorted_reviews_per_s']:,.0f} reviews/s"),
        ("pipeline: model accuracy", f"{result['model_test_accuracy']:.4f} (test: {result['model_test_accuracy_reviews']})"),
        ("ONNX (onnxruntime), batches sorted by length", f"{result['onnx_reviews_per_s']:,.0f} reviews/s, max |logit diff| from PyTorch {result['onnx_max_abs_diff']:.1e}"),
        ("training: bfloat16 autocast (Trainer --bf16)", "no native bfloat16 on this CPU" if result['bf16_train_tokens_per_s'] is None else f"{result['bf16_train_tokens_per_s']:,.0f} tokens/s"),
        ("LM pretraining (the recipe's language model)", f"{result['pretrain_tokens_per_s']:,.0f} tokens/s ({result['pretrain_architecture']}, {'bf16' if result['pretrain_bf16'] else 'fp32'}); first version's tied full softmax: {result['pretrain_tied_tokens_per_s']:,.0f} tokens/s"),
        ("pipeline, one review per call", f"p50 {result['latency_p50_ms']:.1f} ms, p90 {result['latency_p90_ms']:.1f} ms, p99 {result['latency_p99_ms']:.1f} ms"),
        ("pipeline by batch size (input order)", ", ".join(f"{size}: {result[f'pipeline_batch_{size}_reviews_per_s']:,.0f}" for size in result['batch_sizes'])),
        ("pipeline, float32 inference (inference_dtype='float32')", f"{result['pipeline_float32_reviews_per_s']:,.0f} reviews/s"),
        ("validation accuracy: float32 / default dtype", f"{result['validation_accuracy_float32']:.4f} / {result['validation_accuracy_default_dtype']:.4f} ({result['default_inference_dtype']})"),
        (f"DistilBERT-sized peer (random weights, 512 tokens), batch {result['pipeline_batch_size']}", f"{result['distilbert_pipeline_reviews_per_s']:,.1f} reviews/s ({result['distilbert_parameters'] / 1e6:.0f} M parameters): ours {result['speedup_vs_distilbert']:,.0f}× faster"),
        ("model.safetensors (recipe, vocabulary from training texts)", f"{result['model_mb']:.1f} MB"),
        ("model.safetensors of the measured model", f"{result['inference_model_mb']:.1f} MB"),
        ("peak RSS of a training process", f"{result['peak_rss_mb']:,.0f} MB"),
    ]  # fmt: skip
    if result.get("fast_model"):
        rows += [
            (f"fast model ({result['fast_model']}, distilled from {result['fast_model_teacher']}): pipeline, batch {result['pipeline_batch_size']}, input order", f"{result['fast_pipeline_reviews_per_s']:,.0f} reviews/s (sorted by length: {result['fast_pipeline_sorted_reviews_per_s']:,.0f}); {result['fast_speedup_vs_distilbert']:,.0f}× the DistilBERT-sized peer"),
            ("fast model: test accuracy", f"{result['fast_model_test_accuracy']:.4f} (test: {result['fast_model_test_accuracy_reviews']})"),
            ("fast model: by batch size", ", ".join(f"{size}: {result[f'fast_pipeline_batch_{size}_reviews_per_s']:,.0f}" for size in result['batch_sizes'])),
            ("fast model: one review per call", f"p50 {result['fast_latency_p50_ms']:.1f} ms, p90 {result['fast_latency_p90_ms']:.1f} ms"),
            ("fast model: validation accuracy float32 / default dtype", f"{result['fast_validation_accuracy_float32']:.4f} / {result['fast_validation_accuracy_default_dtype']:.4f}"),
            ("fast model: model.safetensors", f"{result['fast_model_mb']:.1f} MB"),
        ]  # fmt: skip
    lines = ["## Speed", "", "| measurement | result |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    lines += ["", "| goal | value | met |", "|---|---|---|"]
    for name, goal in result["goals"].items():
        value = "not measured" if goal["value"] is None else f"{goal['value']:.3g}"
        lines.append(f"| {goal['goal']} | {value} | {'yes' if goal['met'] else 'no'} |")
    lines += [
        "",
        f"Training: {result['architecture']}, batch "
        f"{result['batch_size']}, real IMDB training reviews ≤ {result['max_length']} tokens (mean "
        f"{result['mean_review_tokens']:.0f}), Trainer's length-grouped batches, forward + backward + clipping + "
        "optimizer step. Model FLOPs: recurrent and projection matmuls of real tokens only (×3 for backward). "
        "The pipeline's headline figure is a plain call in input order (what a caller gets by default: the model "
        "splits each batch by length and cuts reviews at its maximum length); sorting by length first is shown "
        "beside it. MB = 10^6 bytes.",
        "",
        f"- Machine: {result['machine']} (1-minute load average {result['load_average_at_start']:.1f} at start); "
        f"torch {result['torch']}, {result['threads']} threads",
        f"- Date: {result['date']}",
        f"- Command: `{command}`",
    ]
    if result.get("pretrain_measured"):
        measured = result["pretrain_measured"]
        lines.append(f"- LM pretraining measured apart: {measured['date']}, {measured['threads']} threads, load "
                     f"average {measured['load_average_at_start']:.1f}, `{measured['command']}`")
    if result["smoke"]:
        lines.append("- **Smoke run** (tiny shapes): these numbers say nothing about speed.")
    return "\n".join(lines)


def update_pretraining(args: SpeedArguments, command: str) -> dict:
    """`--pretraining_only`: measure the LM pretraining with the tokenizer of `--model` and update speed.json."""
    if not args.model:
        raise ValueError("--pretraining_only needs --model (a trained folder whose tokenizer cuts the blocks).")
    json_path = Path(args.report_dir) / "benchmarks" / "speed.json"
    result = json.loads(json_path.read_text())
    result.update(pretraining_throughput(args, Path(args.model)))
    result["pretrain_measured"] = {"date": utc_now(), "command": command, "threads": torch.get_num_threads(),
                                   "load_average_at_start": os.getloadavg()[0]}
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    markdown = Path(args.report_dir) / "BENCHMARKS.md"
    # The rest of the section keeps the command of the run that measured it.
    previous = re.search(r"<!-- speed:begin -->.*?- Command: `([^`]*)`", markdown.read_text(), re.S)
    section = markdown_section(result, previous.group(1) if previous else "unrecorded")
    replace_section(markdown, "speed", section)
    print(section)
    return result


def run_benchmark(args: SpeedArguments, command: str) -> dict:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.pretraining_only:
        return update_pretraining(args, command)
    work_dir = Path(args.output_dir)
    model_dir = work_dir / "recipe_model"
    result = {"threads": torch.get_num_threads(), "torch": torch.__version__, "machine": machine_description(),
              # libgomp spin-waits by default: on a busy machine more threads than free cores is many times slower.
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "load_average_at_start": os.getloadavg()[0],
              "date": utc_now(), "dataset": relative_to(args.dataset, REPO_ROOT), "batch_size": args.batch_size,
              "max_length": args.max_length, "smoke": args.smoke, "batch_sizes": args.batch_sizes}  # fmt: skip

    logger.info("sgemm")
    result["sgemm_gflops"], result["sgemm_size"] = sgemm_gflops(args.sgemm_sizes, args.sgemm_reps)
    logger.info("training process")
    result.update(run_training_process(args, model_dir))
    logger.info("training throughput")
    result.update(training_throughput(args, model_dir))
    inference_dir = Path(args.model) if args.model else model_dir
    result["inference_model"] = relative_to(str(inference_dir.resolve()), REPO_ROOT) if args.model else "the training process's"
    logger.info("pipeline")
    result.update(pipeline_speed(args, inference_dir))
    result.update({f"pipeline_batch_{size}_reviews_per_s": rate
                   for size, rate in batch_size_sweep(args, inference_dir).items()})
    result.update(serving_variants(args, inference_dir))
    result.update(validation_accuracy_by_dtype(args, inference_dir))
    result["inference_model_mb"] = (inference_dir / "model.safetensors").stat().st_size / 1e6
    if args.fast_model or args.smoke:
        # --smoke without a fast model: the training process's model stands in, so that the path runs.
        fast_dir = Path(args.fast_model) if args.fast_model else model_dir
        logger.info("fast model")
        result["fast_model"] = (relative_to(str(fast_dir.resolve()), REPO_ROOT) if args.fast_model
                                else "the training process's (smoke stand-in)")
        teacher = json.loads((fast_dir / "config.json").read_text()).get("distilled_from")
        result["fast_model_teacher"] = relative_to(teacher, REPO_ROOT) if teacher else None
        result.update({f"fast_{key}": value for key, value in pipeline_speed(args, fast_dir).items()})
        result.update({f"fast_pipeline_batch_{size}_reviews_per_s": rate
                       for size, rate in batch_size_sweep(args, fast_dir).items()})
        result.update({f"fast_{key}": value for key, value in validation_accuracy_by_dtype(args, fast_dir).items()})
        result["fast_model_mb"] = (fast_dir / "model.safetensors").stat().st_size / 1e6
    logger.info("DistilBERT-sized peer")
    result.update(distilbert_speed(args, inference_dir))
    result["speedup_vs_distilbert"] = result["pipeline_reviews_per_s"] / result["distilbert_pipeline_reviews_per_s"]
    if "fast_model" in result:
        result["fast_speedup_vs_distilbert"] = (result["fast_pipeline_reviews_per_s"]
                                                / result["distilbert_pipeline_reviews_per_s"])
    serving = [(result[f"{prefix}pipeline_reviews_per_s"], prefix) for prefix in ("", "fast_")
               if f"{prefix}model_test_accuracy" in result and (result[f"{prefix}model_test_accuracy"] or 0) >= 0.920]
    result["serving_reviews_per_s"], result["serving_model"] = (
        max(serving) if serving else (None, None))
    result["serving_model"] = {"": "shipped", "fast_": "fast", None: None}[result["serving_model"]]
    logger.info("onnx")
    result.update(onnx_speed(args, inference_dir))
    logger.info("language-model pretraining")
    result.update(pretraining_throughput(args, model_dir))
    result["fp32_flops_share_of_sgemm"] = result["train_gflops"] / result["sgemm_gflops"]
    result["bf16_flops_share_of_sgemm"] = (
        None if result["bf16_train_gflops"] is None else result["bf16_train_gflops"] / result["sgemm_gflops"]
    )
    result["flops_share_of_sgemm"] = max(
        share for share in (result["fp32_flops_share_of_sgemm"], result["bf16_flops_share_of_sgemm"]) if share is not None
    )
    result["speedup_vs_packed"] = result["train_tokens_per_s"] / result["ref_packed_tokens_per_s"]
    result["goals"] = goals(result)

    report_dir = Path(args.report_dir)
    json_path = report_dir / "benchmarks" / "speed.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    section = markdown_section(result, command)
    replace_section(report_dir / "BENCHMARKS.md", "speed", section)
    print(section)
    print(f"\nWrote {json_path} and {report_dir / 'BENCHMARKS.md'}")
    return result


def main(argv=None) -> dict:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    args = parse_args(argv)
    return run_benchmark(args, command_line("bench_speed.py", argv))


if __name__ == "__main__":
    main()
