"""Training on two processes: `torchrun --nproc_per_node 2 scripts/train.py` on CPU (gloo), Trainer wrapping the model
in DistributedDataParallel.

The check is an equivalence, not a score: without dropout, two processes with 8 reviews each per step take the same
optimiser steps as one process with 16 (the gradients are averaged across processes), so both runs must end with
nearly the same model. A run where the processes trained alone, or synchronised wrongly, ends elsewhere."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from imdb_lstm.data import load_imdb

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).parent / "torchrun"
TRAIN_SAMPLES, EVAL_SAMPLES, GLOBAL_BATCH = 192, 100, 16
ARGS = [
    "--dataset", "sample", "--max_train_samples", str(TRAIN_SAMPLES), "--max_eval_samples", str(EVAL_SAMPLES),
    "--hidden_size", "16", "--max_length", "128", "--num_train_epochs", "1", "--seed", "42",
    # No dropout: each process would draw its own masks, and the runs could not be compared.
    "--embedding_dropout", "0", "--dropout", "0",
    "--logging_steps", "4", "--disable_tqdm", "true", "--report_to", "none",
]


def run(command: list[str], log: Path) -> None:
    # One torch thread per process, as torchrun gives each of its processes: fast on a busy machine, and alike.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"{command[:3]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("distributed")
    start, single, ddp = root / "start", root / "single", root / "ddp"
    # The same command trained for zero epochs saves the model every run here starts from.
    run([sys.executable, "scripts/train.py", *ARGS, "--per_device_train_batch_size", str(GLOBAL_BATCH),
         "--num_train_epochs", "0", "--output_dir", str(start)], root / "start.log")
    run([sys.executable, "scripts/train.py", *ARGS, "--per_device_train_batch_size", str(GLOBAL_BATCH),
         "--output_dir", str(single)], root / "single.log")
    run([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "scripts/train.py", *ARGS,
         "--per_device_train_batch_size", str(GLOBAL_BATCH // 2), "--output_dir", str(ddp)], root / "ddp.log")
    return {"start": start, "single": single, "ddp": ddp}


def results(output_dir: Path) -> dict:
    return json.loads((output_dir / "all_results.json").read_text())


def distance(a: dict, b: dict) -> float:
    return float(torch.sqrt(sum(((a[name] - b[name]) ** 2).sum() for name in a)))


@pytest.mark.slow
def test_two_processes_share_the_steps(runs):
    """Each optimiser step consumed 16 reviews across both processes: 192 / 16 = 12 steps, not 24 per process."""
    for name in ("single", "ddp"):
        output_dir = runs[name]
        state = json.loads((output_dir / "trainer_state.json").read_text())
        assert state["global_step"] == TRAIN_SAMPLES // GLOBAL_BATCH, (
            f"{name}: {state['global_step']} steps; 24 would mean each process trained alone on all the data "
            "(on CPU, torchrun needs Trainer's use_cpu / ACCELERATE_USE_CPU to set up DDP)"
        )
    run_info = json.loads((runs["ddp"] / "run_info.json").read_text())
    assert run_info["arguments"]["training"]["per_device_train_batch_size"] == GLOBAL_BATCH // 2


@pytest.mark.slow
def test_two_processes_train_the_same_model_as_one(runs):
    start, single, ddp = (load_file(runs[name] / "model.safetensors") for name in ("start", "single", "ddp"))
    assert json.loads((runs["start"] / "trainer_state.json").read_text())["global_step"] == 0  # untrained
    moved, apart = distance(start, single), distance(single, ddp)
    assert moved > 0.1  # training changed the model, so "apart" is measured against a real change
    # Float sums in another order (gradients all-reduced across processes) leave small differences, which Adam
    # enlarges for rarely seen words; a different training (no gradient sharing) ends about as far as it moved.
    assert apart < 0.1 * moved, f"DDP model is {apart:.3f} from the single-process one, which moved {moved:.3f}"
    first, second = results(runs["single"]), results(runs["ddp"])
    for prefix in ("eval", "test"):
        assert second[f"{prefix}_loss"] == pytest.approx(first[f"{prefix}_loss"], abs=0.01)
        assert second[f"{prefix}_accuracy"] == pytest.approx(first[f"{prefix}_accuracy"], abs=0.03)


@pytest.mark.slow
def test_two_process_run_writes_a_complete_model_and_ordered_predictions(runs):
    output_dir = runs["ddp"]
    for name in ("model.safetensors", "config.json", "tokenizer.json", "modeling_imdb_lstm.py", "run_info.json",
                 "test_predictions.jsonl", "confusion_matrix.png", "training_curves.png"):
        assert (output_dir / name).is_file(), name
    # Evaluation batches are spread over both processes and gathered back; the file must still be in dataset order.
    test = load_imdb("sample")["test"].shuffle(seed=42).select(range(EVAL_SAMPLES))
    rows = [json.loads(line) for line in (output_dir / "test_predictions.jsonl").read_text().splitlines()]
    assert [row["row"] for row in rows] == list(range(EVAL_SAMPLES))
    assert [row["label"] for row in rows] == test["label"]
    single_rows = [json.loads(line) for line in (runs["single"] / "test_predictions.jsonl").read_text().splitlines()]
    p_ddp, p_single = (np.array([row["p_positive"] for row in r]) for r in (rows, single_rows))
    assert np.abs(p_ddp - p_single).max() < 0.05
    assert np.mean([row["prediction"] == row["label"] for row in rows]) == pytest.approx(
        results(output_dir)["test_accuracy"])
