"""What the benchmark scripts share: the machine and the time of a run, the command that reproduces it, the default
IMDB source of a checkout and their own section of BENCHMARKS.md (every script that reports); the options of a run
and its folders, and the running of a part of a benchmark in its own process (`scripts/benchmark.py` and
`scripts/bench_speed.py`, which run the scripts of their parts: `bench_recipe.py`, `bench_baselines.py`,
`bench_training_speed.py`, `bench_serving_speed.py`, `bench_pretrain_speed.py`); what every part's script does
around its own measuring (`parse_part_options`, `part_main`); the options of the speed benchmark's parts; the accuracy
benchmark's shared pieces (the smoke sizes, the rates of a row, train times).
The scripts pass in every path (their checkout's root, the report files); nothing here reads a file of the
repository.
"""

import argparse
import dataclasses
import datetime
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from transformers import HfArgumentParser

from .data import HUB_DATASET

__all__ = [
    "ACCURACY_SMOKE_DATA", "RATE_KEYS", "SMOKE_VECTORS", "SPEED_SMOKE", "PartArguments", "PretrainingSpeedArguments",
    "ReportArguments", "RunArguments", "ServingSpeedArguments", "SpeedArguments", "TrainingSpeedArguments",
    "apply_smoke", "as_argv", "command_line", "default_dataset", "file_mb", "machine_description",
    "optimisation_seconds", "options_namespace", "parse_part_options", "part_main", "relative_to", "replace_section",
    "resolve_run", "run_part", "time_training", "utc_now", "write_part", "write_report",
]  # fmt: skip
logger = logging.getLogger(__name__)


def default_dataset(repo_root: Path) -> str:
    """The local IMDB copy next to the checkout `repo_root` (`../shared/data/imdb`) if there is one, else the Hub's."""
    local = Path(repo_root).parent / "shared" / "data" / "imdb"
    return str(local) if local.is_dir() else HUB_DATASET


def machine_description() -> str:
    """CPU model (from /proc/cpuinfo) and the cores this process may use."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores"


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def command_line(script: str, argv) -> str:
    """The command that reproduces this run, relative to the repository root."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    return shlex.join(["python", f"scripts/{script}", *arguments])


def relative_to(source: str, root: Path) -> str:
    """An absolute path as a path relative to `root` (no absolute path of this machine in reports); others as given."""
    if not os.path.isabs(source):
        return source
    return os.path.relpath(source, root)


def replace_section(markdown_path: Path, name: str, body: str) -> None:
    """Create or replace the part of `markdown_path` between `<!-- name:begin -->` and `<!-- name:end -->`,
    keeping everything else (other scripts own the other sections)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = f"{begin}\n{body.strip()}\n{end}\n"
    text = markdown_path.read_text(encoding="utf-8") if markdown_path.exists() else "# Benchmarks\n"
    start, stop = text.find(begin), text.find(end)
    if start != -1 and stop > start:
        text = text[:start] + section + text[stop + len(end) :].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(text, encoding="utf-8")


def write_report(report_dir, name: str, data, section: str) -> Path:
    """`<report_dir>/benchmarks/<name>.json` and the `name` section of `<report_dir>/BENCHMARKS.md`; prints both."""
    report_dir = Path(report_dir)
    json_path = report_dir / "benchmarks" / f"{name}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    replace_section(report_dir / "BENCHMARKS.md", name, section)
    print(section)
    print(f"\nWrote {json_path} and {report_dir / 'BENCHMARKS.md'}")
    return json_path


# ---------------------------------------------------------------- a run's options and folders


@dataclass
class RunArguments:
    """The options of every benchmark script that writes a report or a part of one."""

    dataset: str | None = field(
        default=None,
        metadata={"help": "IMDB source (default ../shared/data/imdb next to the checkout if present, else "
                          "stanfordnlp/imdb; the shipped sample with --smoke)"},
    )
    output_dir: str | None = field(
        default=None,
        metadata={"help": "work folder for models and files (default outputs/<benchmark>; a temp dir with --smoke)"},
    )
    threads: int | None = field(default=None, metadata={"help": "torch threads (default: torch's, one per core)"})
    smoke: bool = field(
        default=False, metadata={"help": "a plumbing check: the shipped sample, tiny models and sizes (overrides them)"}
    )


@dataclass
class ReportArguments:
    """Where a benchmark that owns a section of BENCHMARKS.md writes it."""

    write: bool = field(default=False, metadata={"help": "with --smoke: still write the repository's BENCHMARKS.md"})
    report_dir: str | None = field(
        default=None,
        metadata={"help": "where BENCHMARKS.md and benchmarks/ go (default: the repository; output_dir with --smoke)"},
    )


@dataclass
class PartArguments:
    """What a part of a benchmark (a script another benchmark script runs) adds: where its measurements go."""

    output: str | None = field(default=None, metadata={"help": "JSON file for the measurements (default: print only)"})


def resolve_run(run: RunArguments, report: ReportArguments | None, name: str, repo_root: Path) -> None:
    """Fill in the defaults that depend on the run: the dataset (the shipped sample under --smoke), the work folder
    (`outputs/<name>`, a temp dir under --smoke) and the report folder (the repository unless a smoke run does not
    `--write`)."""
    if run.smoke:
        run.dataset = "sample"  # a plumbing check that runs anywhere, offline
    elif run.dataset is None:
        run.dataset = default_dataset(repo_root)
    if run.output_dir is None:
        run.output_dir = tempfile.mkdtemp(prefix=f"imdb-{name.replace('_', '-')}-smoke-") if run.smoke else f"outputs/{name}"
    if report is not None and report.report_dir is None:
        report.report_dir = str(repo_root) if (report.write or not run.smoke) else run.output_dir


def apply_smoke(sizes: dict, *arguments) -> None:
    """Set each field of `arguments` (dataclass instances) that `sizes` names to its smoke value."""
    for instance in arguments:
        names = {item.name for item in dataclasses.fields(instance)}
        for key, value in sizes.items():
            if key in names:
                setattr(instance, key, value)


def as_argv(*arguments) -> list[str]:
    """The command-line flags that give a script the values of `arguments` (dataclass instances; None: left out)."""
    argv = []
    for instance in arguments:
        for item in dataclasses.fields(instance):
            value = getattr(instance, item.name)
            if value is None:
                continue
            if isinstance(value, bool):
                argv += [f"--{item.name}", str(value).lower()]
            elif isinstance(value, (list, tuple)):
                argv += [f"--{item.name}", *map(str, value)]
            else:
                argv += [f"--{item.name}", str(value)]
    return argv


def run_part(script: Path, argv: list[str], output: Path):
    """Run `script` (a part of a benchmark, in its own process: no script imports another) with `argv` and
    `--output output`; its log goes where this process's goes. Returns the JSON it wrote."""
    command = [sys.executable, str(script), *argv, "--output", str(output)]
    logger.info("Running %s", shlex.join(command))
    completed = subprocess.run(command)
    if completed.returncode != 0:
        raise RuntimeError(f"{Path(script).name} failed (exit {completed.returncode}); its log is above.")
    return json.loads(Path(output).read_text())


def write_part(output: str | None, measured) -> None:
    """A part's measurements: printed as JSON, and written to `output` when given."""
    text = json.dumps(measured, indent=2) + "\n"
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text)
    print(text, end="")


def parse_part_options(own_options: tuple, argv, benchmark: str, repo_root: Path, smoke_sizes: dict | None = None
                       ) -> tuple:
    """A part's command line: `RunArguments`, the part's `own_options` (dataclass types) and `PartArguments`,
    parsed from `argv` (None: sys.argv); the run's defaults filled in as `benchmark`'s (`resolve_run`, no report:
    the benchmark that runs the part writes it) and, under --smoke, `smoke_sizes` set on the part's own options.
    Returns the parsed instances in that order."""
    parsed = HfArgumentParser((RunArguments, *own_options, PartArguments)).parse_args_into_dataclasses(args=argv)
    run = parsed[0]
    resolve_run(run, None, benchmark, repo_root)
    if run.smoke and smoke_sizes:
        apply_smoke(smoke_sizes, *parsed[1:-1])
    return parsed


def options_namespace(*arguments) -> argparse.Namespace:
    """The fields of `arguments` (dataclass instances, no field name twice) as one namespace, as a part reads them."""
    return argparse.Namespace(**{key: value for item in arguments for key, value in dataclasses.asdict(item).items()})


def part_main(parse_args, measure, argv=None):
    """What every part's `main` does around its own measuring: log at INFO, `parse_args(argv)` (a namespace with
    `threads` and `output`), pin torch's threads where `--threads` is given, `measure(args)`, then print its result
    and write it to `--output` (`write_part`). Returns the result."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = measure(args)
    write_part(args.output, result)
    return result


# ---------------------------------------------------------------- the speed benchmark's options


def _at_least_one(arguments, names) -> None:
    for name in names:
        value = getattr(arguments, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name} must be at least 1; got {value}.")


@dataclass
class SpeedArguments:
    """The options both parts of the speed benchmark read."""

    model: str | None = field(
        default=None,
        metadata={"help": "trained model folder whose inference is measured (default: the model the training process "
                          "saves); with --pretraining_only, the folder whose tokenizer cuts the LM's blocks"},
    )
    seed: int = field(default=42)
    warmup_batches: int = field(default=3, metadata={"help": "untimed training steps before the timed ones"})


@dataclass
class TrainingSpeedArguments:
    """The training side of the speed benchmark (`scripts/bench_training_speed.py`)."""

    batch_size: int | None = field(default=None, metadata={"help": "training batch size (default: the recipe's)"})
    max_length: int | None = field(default=None, metadata={"help": "tokens kept per review (default: the recipe's)"})
    sgemm_sizes: list[int] = field(default_factory=lambda: [1024, 2048])
    sgemm_reps: int = field(default=5)
    rss_steps: int = field(default=20, metadata={"help": "optimisation steps of the measured training process"})
    train_batches: int = field(default=40, metadata={"help": "timed training batches of our model"})
    ref_batches: int = field(default=8, metadata={"help": "timed training batches of the packed reference"})

    def __post_init__(self):
        _at_least_one(self, ("batch_size", "max_length", "sgemm_reps", "rss_steps", "train_batches", "ref_batches"))


@dataclass
class PretrainingSpeedArguments:
    """The language model's side of the speed benchmark (`scripts/bench_pretrain_speed.py`)."""

    pretrain_steps: int = field(default=30, metadata={"help": "timed language-model training steps"})

    def __post_init__(self):
        _at_least_one(self, ("pretrain_steps",))


@dataclass
class ServingSpeedArguments:
    """The serving side of the speed benchmark (`scripts/bench_serving_speed.py`)."""

    fast_model: str | None = field(
        default=None,
        metadata={"help": "the distilled fast model's folder (imdb-lstm-distill's output), measured beside --model"},
    )
    pipeline_reviews: int = field(default=2000, metadata={"help": "test reviews through the batched pipeline"})
    pipeline_batch_size: int = field(default=64)
    latency_reviews: int = field(default=200, metadata={"help": "single-review pipeline calls timed"})
    batch_sizes: list[int] = field(
        default_factory=lambda: [1, 8, 64, 256], metadata={"help": "pipeline batch sizes of the sweep (input order)"}
    )
    sweep_reviews: int = field(default=512, metadata={"help": "test reviews per batch size of the sweep"})
    distilbert_reviews: int = field(default=128, metadata={"help": "test reviews through the DistilBERT-sized peer"})

    def __post_init__(self):
        _at_least_one(self, ("pipeline_reviews", "pipeline_batch_size", "latency_reviews", "sweep_reviews",
                             "distilbert_reviews"))  # fmt: skip


# --smoke: tiny shapes, seconds (the shipped sample: `resolve_run`).
SPEED_SMOKE = {
    "batch_size": 8, "max_length": 64, "sgemm_sizes": [256], "sgemm_reps": 2, "rss_steps": 2, "warmup_batches": 1,
    "train_batches": 2, "ref_batches": 1, "pretrain_steps": 2, "pipeline_reviews": 32, "pipeline_batch_size": 8,
    "latency_reviews": 10, "batch_sizes": [1, 8], "sweep_reviews": 16, "distilbert_reviews": 8,
}  # fmt: skip


def time_training(model, batches: list[dict], warmup: int, optimizer, bf16: bool = False) -> dict:
    """Forward, backward, clipping (norm 1) and `optimizer`'s step per batch (a dict of the model's inputs, labels
    included); the first `warmup` batches untimed. `bf16`: forward under CPU autocast to bfloat16, as Trainer's
    `--bf16` runs it. Returns the timed seconds and the real (attended) and padded tokens and sequences timed."""
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


# ---------------------------------------------------------------- the accuracy benchmark's shared pieces

RATE_KEYS = ("accuracy", "tpr", "tnr", "fnr", "fpr")
# --smoke: a few hundred shipped reviews, short, for every model of the accuracy benchmark.
ACCURACY_SMOKE_DATA = {"max_train_samples": 200, "max_eval_samples": 100, "max_length": 64}
# --smoke: the recipe's domain vectors, tiny.
SMOKE_VECTORS = {"dimension": 8, "epochs": 1, "max_texts": 500}


def file_mb(path: Path) -> float:
    """A file's size in MB (10^6 bytes), as every report counts it."""
    return Path(path).stat().st_size / 1e6


def optimisation_seconds(model_dir: Path) -> tuple[float, float]:
    """(train time without the per-epoch validation passes, Trainer's whole train_runtime) from trainer_state.json."""
    history = json.loads((Path(model_dir) / "trainer_state.json").read_text())["log_history"]
    runtime = next(entry["train_runtime"] for entry in history if "train_runtime" in entry)
    validation = sum(entry["eval_runtime"] for entry in history if "eval_runtime" in entry)
    return runtime - validation, runtime
