#!/usr/bin/env python
"""The language model's side of the speed benchmark (`scripts/bench_speed.py` runs it in its own process; its
numbers are that report's, item 8 of its list):

8. `pretrain_tokens_per_s`: the semi-supervised recipe's language model (`configs/ssl_pretrain.json`: its
   architecture, output layer, block size, batch size and bf16 choice; a random embedding as wide as
   `configs/ssl_word_vectors.json`'s vectors) training on blocks of real IMDB training reviews tokenised by the
   tokenizer of `--model`: forward + backward + clipping + Trainer's optimizer step, `--pretrain_steps` timed after
   `--warmup_batches`; `pretrain_tied_tokens_per_s`: the same with the first version's full softmax tied to the
   embedding (fp32).

    python scripts/bench_pretrain_speed.py --model imdb_lstm/default_model --output /tmp/pretrain_speed.json
"""

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import torch

from transformers import AutoTokenizer, Trainer

from imdb_lstm.benchmarking import (SPEED_SMOKE, PretrainingSpeedArguments, SpeedArguments, options_namespace,
                                    parse_part_options, part_main, time_training)
from imdb_lstm.cards import describe_language_model
from imdb_lstm.data import load_imdb
from imdb_lstm.serving_imdb_lstm import bfloat16_is_native
from imdb_lstm.training import pretrain as pretraining
from imdb_lstm.training.finetune import ImdbTrainingArguments

REPO_ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("bench_pretrain_speed")


def parse_args(argv=None) -> argparse.Namespace:
    parsed = parse_part_options((SpeedArguments, PretrainingSpeedArguments), argv, "bench_speed", REPO_ROOT,
                                SPEED_SMOKE)
    args = options_namespace(*parsed)
    if not args.model:
        raise ValueError("--model is needed: a trained folder whose tokenizer cuts the blocks.")
    return args


def recipe_optimizer(model):
    """The optimizer Trainer builds for the fine-tuning recipe's arguments (the classifier's side times the same)."""
    optimizer_class, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(ImdbTrainingArguments(output_dir="unused"))
    return optimizer_class([p for p in model.parameters() if p.requires_grad], **optimizer_kwargs)


def pretraining_throughput(args, tokenizer_dir: Path) -> dict:
    """Training tokens/s of the recipe's language model (item 8)."""
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
        timed = time_training(model, steps, args.warmup_batches, recipe_optimizer(model), bf16=autocast)
        key = "pretrain_tokens_per_s" if output_layer == lm_args.lm_output else "pretrain_tied_tokens_per_s"
        results[key] = timed["real_tokens"] / timed["seconds"]
        if output_layer == lm_args.lm_output:
            described = describe_language_model(model.config.to_dict())  # the model card's words
            results["pretrain_architecture"] = f"{described}; embedding {model.config.embedding_dim}"
            results["pretrain_timed_steps"] = len(steps) - args.warmup_batches
    return results


def measure(args) -> dict:
    """Item 8 with the tokenizer of `--model`."""
    return pretraining_throughput(args, Path(args.model))


def main(argv=None) -> dict:
    return part_main(parse_args, measure, argv)


if __name__ == "__main__":
    main()
