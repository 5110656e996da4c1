#!/usr/bin/env python
"""Validation sweep of recipe variants, meant for a GPU (exploration only; the shipped numbers come from the CPU runs
of scripts/benchmark.py and scripts/train.py).

    python scripts/gpu_sweep.py --dataset ../shared/data/imdb                   # every variant, outputs/gpu_sweep/
    python scripts/gpu_sweep.py --dataset ../shared/data/imdb --variants recipe,gru,hidden256
    python scripts/gpu_sweep.py --smoke                                         # shipped sample, tiny: the plumbing

Each variant is the fine-tuning recipe (`imdb_lstm.training.finetune` with configs/imdb_bilstm.json, canonical split,
a stratified 10 % of train held out, split seed 42) with the differences in VARIANTS, trained by the recipe's own
Trainer on whatever device it finds (the GPU when there is one). Validation accuracy is read after every epoch; the
test split is never scored (`do_predict` off). Prints one JSON line per variant: its settings, validation accuracy
per epoch, the best one and the wall-clock seconds of the run.
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

from imdb_lstm.benchmarking import default_dataset
from imdb_lstm.training import finetune as train

REPO_ROOT = Path(__file__).resolve().parent.parent
RECIPE = REPO_ROOT / "configs" / "imdb_bilstm.json"  # the supervised recipe every variant starts from
# name → what differs from the recipe (ModelArguments, DataArguments or ImdbTrainingArguments fields).
VARIANTS = {
    "recipe": {},
    "hidden256": {"hidden_size": 256},
    "layers2": {"num_layers": 2, "rnn_dropout": 0.3},
    "gru": {"cell": "gru"},
    "maxpool": {"pooling": "max"},
    "emb_drop0.4": {"embedding_dropout": 0.4},
    "lr1e-3_ep8": {"learning_rate": 1e-3, "num_train_epochs": 8},
    "wd0.01": {"weight_decay": 0.01},
    "hidden256_layers2": {"hidden_size": 256, "num_layers": 2, "rnn_dropout": 0.3},
    "frozen": {"freeze_embedding": True},
}
# --smoke: a tiny network on a few hundred shipped reviews, one epoch.
SMOKE = {"hidden_size": 8, "max_train_samples": 200, "max_eval_samples": 100, "max_length": 64, "num_train_epochs": 1}


@dataclass
class SweepArguments:
    dataset: str = field(
        default_factory=lambda: default_dataset(REPO_ROOT),
        metadata={"help": "IMDB source (default ../shared/data/imdb if present, else stanfordnlp/imdb)"},
    )
    output_dir: str = field(default="outputs/gpu_sweep", metadata={"help": "each variant trains into output_dir/<name>"})
    variants: str | None = field(default=None, metadata={"help": f"comma-separated subset of {', '.join(VARIANTS)}"})
    smoke: bool = field(default=False, metadata={"help": "shipped sample (overrides --dataset), tiny network, 1 epoch"})


def selected_variants(variants: str | None) -> list[str]:
    names = [name.strip() for name in (variants or ",".join(VARIANTS)).split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        raise ValueError(f"--variants {variants!r}: unknown variant(s) {unknown}; choose among {', '.join(VARIANTS)}.")
    return names


def variant_arguments(name: str, args: SweepArguments):
    """The recipe's dataclasses (`configs/imdb_bilstm.json`) for one variant: validation every epoch, no
    checkpoints, no test scoring."""
    arguments = train.parse_args([
        str(RECIPE), "--dataset", "sample" if args.smoke else args.dataset,
        "--output_dir", str(Path(args.output_dir) / name),
        "--do_predict", "false", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--disable_tqdm", "true", "--report_to", "none",
    ])  # fmt: skip
    for key, value in {**VARIANTS[name], **(SMOKE if args.smoke else {})}.items():
        group = next((group for group in arguments if hasattr(group, key)), None)
        if group is None:
            raise ValueError(f"Variant {name!r}: {key!r} is no argument of the fine-tuning recipe.")
        setattr(group, key, value)
    return arguments


def validation_accuracies(model_dir: Path) -> list[float]:
    """Validation accuracy after each epoch, from the run's trainer_state.json."""
    history = json.loads((model_dir / "trainer_state.json").read_text())["log_history"]
    return [round(entry["eval_accuracy"], 4) for entry in history if "eval_accuracy" in entry]


def main(argv=None) -> list[dict]:
    (args,) = HfArgumentParser(SweepArguments).parse_args_into_dataclasses(args=argv)
    rows = []
    for name in selected_variants(args.variants):
        model_args, data_args, training_args = variant_arguments(name, args)
        started = time.time()
        train.run(model_args, data_args, training_args)
        accuracies = validation_accuracies(Path(training_args.output_dir))
        row = {"variant": name, "settings": VARIANTS[name], "val_accuracy_per_epoch": accuracies,
               "best": max(accuracies), "seconds": round(time.time() - started, 1)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
