#!/usr/bin/env python
"""The training side of the speed benchmark (`scripts/bench_speed.py` runs it in its own process; its numbers are that
report's): this CPU's sgemm rate, our model's training throughput (tokens/s and achieved model FLOP/s) against a
`pack_padded_sequence` reference and the peak memory of a real training process (items of bench_speed.py's list):

1. sgemm: `torch.mm` of float32 n×n matrices, best of `--sgemm_reps`, 2n³ FLOPs each.
2. A real training process (`scripts/train.py configs/imdb_bilstm.json`, `--max_steps` steps) is run first: its
   peak RSS (getrusage of the child) and its saved `model.safetensors` (vocabulary learnt from the training texts,
   `vocab_size` 40000, `min_frequency` 2); the saved folder (`<output_dir>/recipe_model`) is the default model of
   the serving side.
3. Training throughput: the recipe architecture (BiLSTM 128, GloVe width 50, batch 64) on real training reviews
   tokenised by that tokenizer (≤ `max_length` tokens), batched as Trainer's `group_by_length` batches them
   (`get_length_grouped_indices`), forward + backward + gradient clipping + Trainer's optimizer step; a random
   seeded sample of those batches is timed after warm-up. Model FLOPs count the recurrent and projection matmuls
   per real token (LSTM: 2·4H·(I+H) per direction and layer, GRU: 3 gates) plus the classifier, ×3 for
   forward + backward; padded positions are computed but not counted, so padding lowers the figure.
4. The reference: the same architecture with one `nn.LSTM(bidirectional=True)` over `pack_padded_sequence`, on
   the first `--ref_batches` of the same batches, with the same optimizer.
7. bfloat16 training: item 3 again under `torch.autocast("cpu", torch.bfloat16)` (what Trainer's `--bf16` does on
   a CPU); null where the CPU has no native bfloat16 (AVX512_BF16/AMX).

    python scripts/bench_training_speed.py --smoke --output /tmp/training_speed.json
"""

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer
from transformers.trainer_pt_utils import get_length_grouped_indices

from imdb_lstm import ImdbLstmForSequenceClassification
from imdb_lstm.benchmarking import (SPEED_SMOKE, SpeedArguments, TrainingSpeedArguments, file_mb, options_namespace,
                                    parse_part_options, part_main, time_training)
from imdb_lstm.cards import describe_architecture
from imdb_lstm.data import load_imdb
from imdb_lstm.serving_imdb_lstm import bfloat16_is_native
from imdb_lstm.training.finetune import ImdbTrainingArguments

REPO_ROOT = Path(__file__).resolve().parent.parent
RECIPE = REPO_ROOT / "configs" / "imdb_bilstm.json"  # the supervised recipe the training process runs
logger = logging.getLogger("bench_training_speed")
# The training process under --smoke: a tiny network on a few shipped reviews.
SMOKE_TRAIN_ARGS = ["--hidden_size", "8", "--max_train_samples", "200"]


def parse_args(argv=None) -> argparse.Namespace:
    """The options as one namespace; the recipe's batch size and max length where none is given."""
    args = options_namespace(*parse_part_options((SpeedArguments, TrainingSpeedArguments), argv, "bench_speed",
                                                 REPO_ROOT, SPEED_SMOKE))
    recipe = json.loads(RECIPE.read_text())
    if args.batch_size is None:
        args.batch_size = recipe["per_device_train_batch_size"]
    if args.max_length is None:
        args.max_length = recipe["max_length"]
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


def run_training_process(args, model_dir: Path) -> dict:
    """scripts/train.py with the recipe (`configs/imdb_bilstm.json`) for `rss_steps` steps: its peak RSS and the
    model it saves."""
    command = [
        sys.executable, str(Path(__file__).parent / "train.py"), str(RECIPE),
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
        "model_mb": file_mb(model_dir / "model.safetensors"),
        "trainer_samples_per_s": train_results["train_samples_per_second"],
        "training_process_steps": args.rss_steps,
    }


# ---------------------------------------------------------------- 3./4./7. training throughput


def length_grouped_batches(input_ids: list[list[int]], args) -> list[list[int]]:
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


def recipe_optimizer(model):
    """The optimizer Trainer builds for the recipe's training arguments."""
    optimizer_class, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(ImdbTrainingArguments(output_dir="unused"))
    return optimizer_class([p for p in model.parameters() if p.requires_grad], **optimizer_kwargs)


def timed(model, batches: list[dict], warmup: int, bf16: bool = False) -> dict:
    return time_training(model, batches, warmup, recipe_optimizer(model), bf16=bf16)


def training_throughput(args, model_dir: Path) -> dict:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = list(load_imdb(args.dataset, splits=("train",))["train"]["text"])
    input_ids = tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]
    generator = torch.Generator().manual_seed(args.seed)
    collator = DataCollatorWithPadding(tokenizer)
    batches = [collate(collator, input_ids, rows, generator) for rows in length_grouped_batches(input_ids, args)]

    torch.manual_seed(args.seed)
    ours = ImdbLstmForSequenceClassification.from_pretrained(model_dir)
    measured = timed(ours, batches, args.warmup_batches)
    flops = training_flops(ours, measured["real_tokens"], measured["sequences"])
    ref_batches = batches[: args.warmup_batches + args.ref_batches]
    reference = timed(PackedBiLstmReference(ours.config), ref_batches, args.warmup_batches)
    bf16_tokens_per_s = bf16_gflops = None
    if bfloat16_is_native(torch.device("cpu")):
        torch.manual_seed(args.seed)
        bf16 = timed(ImdbLstmForSequenceClassification.from_pretrained(model_dir), batches, args.warmup_batches,
                     bf16=True)
        bf16_tokens_per_s = bf16["real_tokens"] / bf16["seconds"]
        bf16_gflops = training_flops(ours, bf16["real_tokens"], bf16["sequences"]) / bf16["seconds"] / 1e9
    return {
        "bf16_train_tokens_per_s": bf16_tokens_per_s,
        "bf16_train_gflops": bf16_gflops,
        # What the network is (the model card's words) and its embedding width.
        "architecture": f"{describe_architecture(ours.config.to_dict())}; embedding {ours.config.embedding_dim}",
        "train_tokens_per_s": measured["real_tokens"] / measured["seconds"],
        "train_gflops": flops / measured["seconds"] / 1e9,
        "train_reviews_per_s": measured["sequences"] / measured["seconds"],
        "padding_share": 1 - measured["real_tokens"] / measured["padded_tokens"],
        "mean_review_tokens": float(np.mean([len(ids) for ids in input_ids])),
        "ref_packed_tokens_per_s": reference["real_tokens"] / reference["seconds"],
        "timed_batches": args.train_batches,
        "ref_timed_batches": args.ref_batches,
    }


def measure(args) -> dict:
    """Items 1-4 and 7, as one dict of speed.json's keys (and the saved model's folder, `model_dir`)."""
    model_dir = Path(args.output_dir) / "recipe_model"
    result = {"batch_size": args.batch_size, "max_length": args.max_length}
    logger.info("sgemm")
    result["sgemm_gflops"], result["sgemm_size"] = sgemm_gflops(args.sgemm_sizes, args.sgemm_reps)
    logger.info("training process")
    result.update(run_training_process(args, model_dir))
    logger.info("training throughput")
    result.update(training_throughput(args, model_dir))
    result["model_dir"] = str(model_dir)
    return result


def main(argv=None) -> dict:
    return part_main(parse_args, measure, argv)


if __name__ == "__main__":
    main()
