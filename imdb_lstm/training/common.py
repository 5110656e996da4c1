"""What fine-tuning (`imdb_lstm.training.finetune`, `imdb-lstm-train`) and pretraining
(`imdb_lstm.training.pretrain`, `imdb-lstm-pretrain`) share: argument parsing (dataclasses on the command line or
one JSON file), `TrainingArguments` that accept bf16 on a CPU, the one `run` skeleton (`run_recipe`), checkpoint
resolution (`--resume_from_checkpoint last` skips checkpoints a killed run left incomplete), `run_info.json`
(arguments, versions, machine, the command with its token redacted) and train-and-save. Pushing the finished
folder is the command layer's (`imdb_lstm.commands`), once `run` has returned: nothing in training imports the Hub
publishing code.
"""

import copy
import json
import logging
import os
import platform
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors import SafetensorError, safe_open
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .. import __version__
from ..plots import plot_training_curves

__all__ = [
    "CpuTrainingArguments", "PreparedRun",
    "is_complete_checkpoint", "parse_arguments", "redact_secrets", "resolve_checkpoint",
    "run_information", "run_recipe", "train_and_save", "write_run_info",
]

logger = logging.getLogger(__name__)


@dataclass
class CpuTrainingArguments(TrainingArguments):
    """`TrainingArguments` that accept `--bf16` on a CPU (pretraining and fine-tuning both build on it)."""

    def __post_init__(self):
        # Trainer refuses --bf16 without a bf16 GPU unless told to use the CPU; on a CPU with AVX512_BF16 or AMX,
        # bf16 autocast is what makes training faster, so say so for the user instead of failing.
        if (self.bf16 or self.bf16_full_eval) and not torch.cuda.is_available():
            self.use_cpu = True
        super().__post_init__()

    # Trainer pickles its arguments into every output folder and checkpoint (training_args.bin), and a checkpoint
    # pushed with `hub_strategy` carries that file to the Hub: the pickle leaves every token out (as `to_dict` masks
    # it), while copies made in the process keep it for the push itself.
    def __getstate__(self):
        return {name: None if name.endswith("_token") and isinstance(value, str) else value
                for name, value in self.__dict__.items()}

    def __copy__(self):
        duplicate = object.__new__(type(self))
        duplicate.__dict__.update(self.__dict__)
        return duplicate

    def __deepcopy__(self, memo):
        duplicate = object.__new__(type(self))
        memo[id(self)] = duplicate
        duplicate.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return duplicate


def parse_arguments(dataclass_types: tuple, argv=None) -> tuple:
    """Parse `argv` (default: the command line) into `dataclass_types` with `HfArgumentParser`; a first argument
    ending in `.json` is read as a JSON file of the arguments, which the flags after it may override."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        # Under torchrun on CPUs, Trainer only warns and trains independent copies unless told to use the CPU.
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")
    parser = HfArgumentParser(dataclass_types)
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=os.path.abspath(argv[0]))
    if argv and argv[0].endswith(".json"):
        # A JSON file, then flags that override some of its values: `train.py configs/x.json --dataset DIR`.
        values = json.loads(Path(argv[0]).read_text())
        known = {action.dest for action in parser._actions}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{argv[0]} has keys that are no argument: {unknown}.")
        # A value the file gives counts as given: argparse would otherwise still demand a required argument
        # (e.g. word vectors' --output) on the command line, although the file has it.
        for action in parser._actions:
            if action.dest in values:
                action.required = False
        parser.set_defaults(**values)
        return parser.parse_args_into_dataclasses(args=argv[1:])
    return parser.parse_args_into_dataclasses(args=argv)


def write_run_info(trainer: Trainer, output_dir: Path, argument_groups: dict, training_args: TrainingArguments,
                   record: dict | None = None) -> None:
    """`output_dir/run_info.json` (see `run_information`, plus the recipe's `record`: the model config it
    resolved), written by the main process only."""
    output_dir.mkdir(parents=True, exist_ok=True)
    if trainer.is_world_process_zero():
        information = run_information(*argument_groups.values(), training_args, group_names=tuple(argument_groups))
        information.update(record or {})
        (output_dir / "run_info.json").write_text(json.dumps(information, indent=2, default=str))


def train_and_save(trainer: Trainer, training_args: TrainingArguments, output_dir: Path, **extra_metrics) -> dict:
    """Train (resuming from `--resume_from_checkpoint`, see `resolve_checkpoint`), save the model (the best
    checkpoint's with `load_best_model_at_end`), the train metrics and Trainer's state; returns the metrics."""
    checkpoint = resolve_checkpoint(training_args.resume_from_checkpoint, output_dir)
    if checkpoint is not None:
        logger.info("Resuming training from %s", checkpoint)
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model()
    metrics = {**train_result.metrics, **extra_metrics}
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)
    trainer.save_state()
    return metrics


def redact_secrets(argv: list[str]) -> list[str]:
    """The command line with the value of `--hub_token` replaced: run_info.json is pushed with the model."""
    redacted, hide_next = [], False
    for argument in argv:
        if hide_next:
            redacted.append("<HUB_TOKEN>")
        elif argument.startswith("--hub_token="):
            redacted.append("--hub_token=<HUB_TOKEN>")
        else:
            redacted.append(argument)
        hide_next = argument == "--hub_token"
    return redacted


def run_information(model_args, data_args, training_args, group_names: tuple[str, str] = ("model", "data")) -> dict:
    """What makes the run reproducible: every argument, the seed, the library versions and the machine. The two
    argument dataclasses are recorded under `group_names` (fine-tuning's "model" and "data" by default)."""
    import datasets
    import gensim
    import huggingface_hub
    import sklearn
    import tokenizers

    return {
        "arguments": {
            group_names[0]: asdict(model_args),
            group_names[1]: asdict(data_args),
            "training": training_args.to_dict(),
        },
        "seed": training_args.seed,
        "versions": {
            "imdb_lstm": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "datasets": datasets.__version__,
            "gensim": gensim.__version__,
            "huggingface_hub": huggingface_hub.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "torch_threads": torch.get_num_threads()},
        "command": redact_secrets(sys.argv),
    }


def is_complete_checkpoint(folder: Path) -> bool:
    """Whether Trainer finished writing this checkpoint: it writes trainer_state.json last, so a run killed while
    saving leaves a folder without it (or with it cut short); the weights must open too (a full disk or a crash
    can leave model.safetensors truncated)."""
    weights, state = folder / "model.safetensors", folder / "trainer_state.json"
    if not weights.is_file() or not state.is_file():
        return False
    try:
        json.loads(state.read_text())
        with safe_open(weights, framework="pt"):
            return True
    except (SafetensorError, OSError, ValueError):
        return False


def resolve_checkpoint(requested: str | None, output_dir: Path) -> str | None:
    """The checkpoint to resume from: None (start afresh), the folder given, or for "last" the newest complete
    `checkpoint-N` in `output_dir`; incomplete ones (a run killed while saving) are never picked."""
    if requested is None:
        return None
    if requested != "last":
        if not is_complete_checkpoint(Path(requested)):
            raise FileNotFoundError(
                f"--resume_from_checkpoint {requested}: not a complete checkpoint (it needs trainer_state.json and a "
                "readable model.safetensors). Give another checkpoint-N folder, or 'last' for the newest complete one."
            )
        return requested
    steps = {}
    for folder in output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        match = re.fullmatch(rf"{PREFIX_CHECKPOINT_DIR}-(\d+)", folder.name)
        if match and folder.is_dir():
            steps[int(match.group(1))] = folder
    for step in sorted(steps, reverse=True):
        if is_complete_checkpoint(steps[step]):
            return str(steps[step])
        logger.warning("Skipping incomplete checkpoint %s (interrupted while saving?).", steps[step])
    raise FileNotFoundError(
        f"--resume_from_checkpoint last: no complete checkpoint in {output_dir}; train without --resume_from_checkpoint."
    )


@dataclass
class PreparedRun:
    """What a recipe's `prepare` hands `run_recipe`: its Trainer, extra train metrics (saved in
    train_results.json), `evaluate(train_metrics) -> results`, called on every process after training (files
    are for the main process to write), and what run_info.json records besides the arguments (`record`: the
    resolved model config)."""

    trainer: Trainer
    evaluate: Callable[[dict], dict]
    train_metrics: dict = field(default_factory=dict)
    record: dict = field(default_factory=dict)


def run_recipe(prepare: Callable[[Path], PreparedRun], argument_groups: dict, training_args: TrainingArguments) -> dict:
    """The skeleton of both recipes' `run`: logging, the seed, `prepare(output_dir)` (the recipe's own part: data,
    tokenizer, model, Trainer), `run_info.json` with `argument_groups`, train and save, the recipe's `evaluate`,
    then on the main process the training-curve plot. Returns what `evaluate` returns. `--push_to_hub` is switched
    off here: the command (`imdb_lstm.commands`) pushes the finished folder with its card once this returns."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    set_seed(training_args.seed)
    output_dir = Path(training_args.output_dir)
    # Trainer would push at every save; the command pushes the finished folder (model + rendered card) instead.
    training_args.push_to_hub = False
    prepared = prepare(output_dir)
    trainer = prepared.trainer
    write_run_info(trainer, output_dir, argument_groups, training_args, prepared.record)
    train_metrics = train_and_save(trainer, training_args, output_dir, **prepared.train_metrics)
    results = prepared.evaluate(train_metrics)
    if trainer.is_world_process_zero():
        plot_training_curves(trainer.state.log_history, output_dir / "training_curves.png")
    return results
