#!/usr/bin/env python
"""Speed benchmark on this CPU, in one run: the machine's sgemm rate, our model's training throughput (tokens/s and
achieved model FLOP/s) against a `pack_padded_sequence` reference, `transformers.pipeline` inference (batched
reviews/s and single-review latency), the saved model's size and the peak memory of a training process.

    python scripts/bench_speed.py                 # full: IMDB lengths and reviews; writes BENCHMARKS.md, benchmarks/
    python scripts/bench_speed.py --threads 1     # pin torch's thread count
    python scripts/bench_speed.py --smoke         # tiny shapes, seconds; writes to a temp dir only
    python scripts/bench_speed.py --model imdb_lstm/default_model --fast_model outputs/fast  # serving of these
    python scripts/bench_speed.py --pretraining_only --model imdb_lstm/default_model  # item 8 into speed.json

Its parts run one after the other, each in its own process (the scripts that measure them document how):
`scripts/bench_training_speed.py` items 1-4 and 7, `scripts/bench_serving_speed.py` items 5, 6 and 9-11,
`scripts/bench_pretrain_speed.py` item 8. This script gives them its options, gathers what they measured into
`<report_dir>/benchmarks/speed.json` and writes the "## Speed" section of `<report_dir>/BENCHMARKS.md`.

1. sgemm: `torch.mm` of float32 n×n matrices. 2. A real training process (`scripts/train.py`, `--rss_steps` steps):
its peak RSS and saved model, the model of items 5-11 unless `--model` is given. 3. Training throughput of the
recipe architecture on Trainer's length-grouped batches of real reviews (tokens/s, model FLOP/s). 4. The same with
a packed `nn.LSTM` reference. 5. The plain pipeline on `--model`: batched reviews/s, single-review latency.
6. ONNX (onnxruntime) reviews/s and logit parity. 7. Item 3 under bfloat16 autocast (null without native bfloat16).
8. The recipe's language model's pretraining tokens/s (adaptive softmax; tied full softmax). 9. The pipeline by
batch size, in float32, and validation accuracy by dtype. 10. `--fast_model`: items 5 and 9 again, prefixed
`fast_`. 11. A DistilBERT-sized peer through the same pipeline call; `speedup_vs_distilbert` is item 5's rate over
its rate. `serving_reviews_per_s`: the faster of --model and --fast_model among those whose test accuracy is
≥ 0.920.
"""

import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from transformers import HfArgumentParser

from imdb_lstm.benchmarking import (SPEED_SMOKE, PretrainingSpeedArguments, ReportArguments, RunArguments,
                                    ServingSpeedArguments, SpeedArguments, TrainingSpeedArguments, apply_smoke, as_argv,
                                    command_line, machine_description, relative_to, replace_section, resolve_run,
                                    run_part, utc_now, write_report)

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent
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
class PretrainingOnlyArguments:
    """The option of this script alone."""

    pretraining_only: bool = field(
        default=False, metadata={"help": "measure only the LM pretraining (item 8, with the tokenizer of --model) and "
                                         "update the existing speed.json"},
    )


def parse_args(argv=None) -> tuple:
    """(run, report, speed, training, pretraining, serving, only) options, smoke sizes applied."""
    parser = HfArgumentParser((RunArguments, ReportArguments, SpeedArguments, TrainingSpeedArguments,
                               PretrainingSpeedArguments, ServingSpeedArguments, PretrainingOnlyArguments))
    parsed = parser.parse_args_into_dataclasses(args=argv)
    run, report = parsed[:2]
    resolve_run(run, report, "bench_speed", REPO_ROOT)
    if run.smoke:
        apply_smoke(SPEED_SMOKE, *parsed)
    return parsed


# ---------------------------------------------------------------- the parts


def measure_parts(run, speed, training, pretraining, serving) -> dict:
    """Run the three parts (each a script, in its own process) and gather what they measured."""
    work_dir = Path(run.output_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    measured = run_part(SCRIPTS / "bench_training_speed.py", as_argv(run, speed, training),
                        work_dir / "training_speed.json")
    model_dir = Path(measured.pop("model_dir"))  # the training process's model
    inference_dir = Path(speed.model) if speed.model else model_dir
    # --smoke without a fast model: the training process's model stands in, so that the path runs.
    fast_dir = Path(serving.fast_model) if serving.fast_model else (model_dir if run.smoke else None)
    measured.update(run_part(SCRIPTS / "bench_serving_speed.py",
                             as_argv(run, dataclasses.replace(speed, model=str(inference_dir)),
                                     dataclasses.replace(serving, fast_model=fast_dir and str(fast_dir))),
                             work_dir / "serving_speed.json"))  # fmt: skip
    measured.update(run_part(SCRIPTS / "bench_pretrain_speed.py",
                             as_argv(run, dataclasses.replace(speed, model=str(model_dir)), pretraining),
                             work_dir / "pretrain_speed.json"))  # fmt: skip
    measured["inference_model"] = (relative_to(str(inference_dir.resolve()), REPO_ROOT) if speed.model
                                   else "the training process's")
    if fast_dir is not None:
        measured["fast_model"] = (relative_to(str(fast_dir.resolve()), REPO_ROOT) if serving.fast_model
                                  else "the training process's (smoke stand-in)")
    return measured


def derived(result: dict) -> dict:
    """What the report computes from the parts' measurements: the ratios, the serving figure, the goals."""
    result["speedup_vs_distilbert"] = result["pipeline_reviews_per_s"] / result["distilbert_pipeline_reviews_per_s"]
    if "fast_model" in result:
        result["fast_speedup_vs_distilbert"] = (result["fast_pipeline_reviews_per_s"]
                                                / result["distilbert_pipeline_reviews_per_s"])
    serving = [(result[f"{prefix}pipeline_reviews_per_s"], prefix) for prefix in ("", "fast_")
               if f"{prefix}model_test_accuracy" in result and (result[f"{prefix}model_test_accuracy"] or 0) >= 0.920]
    result["serving_reviews_per_s"], result["serving_model"] = max(serving) if serving else (None, None)
    result["serving_model"] = {"": "shipped", "fast_": "fast", None: None}[result["serving_model"]]
    result["fp32_flops_share_of_sgemm"] = result["train_gflops"] / result["sgemm_gflops"]
    result["bf16_flops_share_of_sgemm"] = (
        None if result["bf16_train_gflops"] is None else result["bf16_train_gflops"] / result["sgemm_gflops"]
    )
    result["flops_share_of_sgemm"] = max(
        share for share in (result["fp32_flops_share_of_sgemm"], result["bf16_flops_share_of_sgemm"]) if share is not None
    )
    result["speedup_vs_packed"] = result["train_tokens_per_s"] / result["ref_packed_tokens_per_s"]
    result["goals"] = goals(result)
    return result


def goals(result: dict) -> dict:
    return {name: {"goal": text, "value": result.get(name), "met": bool(test(result.get(name)))}
            for name, (text, test) in GOALS.items()}


# ---------------------------------------------------------------- report


def measurement_rows(result: dict) -> list[tuple[str, str]]:
    """(measurement, result) rows of the section's first table."""
    return [
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


def fast_model_rows(result: dict) -> list[tuple[str, str]]:
    """The fast model's rows (`--fast_model`)."""
    return [
        (f"fast model ({result['fast_model']}, distilled from {result['fast_model_teacher']}): pipeline, batch {result['pipeline_batch_size']}, input order", f"{result['fast_pipeline_reviews_per_s']:,.0f} reviews/s (sorted by length: {result['fast_pipeline_sorted_reviews_per_s']:,.0f}); {result['fast_speedup_vs_distilbert']:,.0f}× the DistilBERT-sized peer"),
        ("fast model: test accuracy", f"{result['fast_model_test_accuracy']:.4f} (test: {result['fast_model_test_accuracy_reviews']})"),
        ("fast model: by batch size", ", ".join(f"{size}: {result[f'fast_pipeline_batch_{size}_reviews_per_s']:,.0f}" for size in result['batch_sizes'])),
        ("fast model: one review per call", f"p50 {result['fast_latency_p50_ms']:.1f} ms, p90 {result['fast_latency_p90_ms']:.1f} ms"),
        ("fast model: validation accuracy float32 / default dtype", f"{result['fast_validation_accuracy_float32']:.4f} / {result['fast_validation_accuracy_default_dtype']:.4f}"),
        ("fast model: model.safetensors", f"{result['fast_model_mb']:.1f} MB"),
    ]  # fmt: skip


def markdown_section(result: dict, command: str) -> str:
    rows = measurement_rows(result) + (fast_model_rows(result) if result.get("fast_model") else [])
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


def update_pretraining(run, report, speed, pretraining, command: str) -> dict:
    """`--pretraining_only`: measure the LM pretraining with the tokenizer of `--model` and update speed.json."""
    if not speed.model:
        raise ValueError("--pretraining_only needs --model (a trained folder whose tokenizer cuts the blocks).")
    json_path = Path(report.report_dir) / "benchmarks" / "speed.json"
    result = json.loads(json_path.read_text())
    Path(run.output_dir).mkdir(parents=True, exist_ok=True)
    result.update(run_part(SCRIPTS / "bench_pretrain_speed.py", as_argv(run, speed, pretraining),
                           Path(run.output_dir) / "pretrain_speed.json"))
    result["pretrain_measured"] = {"date": utc_now(), "command": command, "threads": torch.get_num_threads(),
                                   "load_average_at_start": os.getloadavg()[0]}
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    markdown = Path(report.report_dir) / "BENCHMARKS.md"
    # The rest of the section keeps the command of the run that measured it.
    previous = re.search(r"<!-- speed:begin -->.*?- Command: `([^`]*)`", markdown.read_text(), re.S)
    section = markdown_section(result, previous.group(1) if previous else "unrecorded")
    replace_section(markdown, "speed", section)
    print(section)
    return result


def run_benchmark(parsed: tuple, command: str) -> dict:
    run, report, speed, training, pretraining, serving, only = parsed
    if run.threads is not None:
        torch.set_num_threads(run.threads)
    if only.pretraining_only:
        return update_pretraining(run, report, speed, pretraining, command)
    result = {"threads": torch.get_num_threads(), "torch": torch.__version__, "machine": machine_description(),
              # libgomp spin-waits by default: on a busy machine more threads than free cores is many times slower.
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "load_average_at_start": os.getloadavg()[0],
              "date": utc_now(), "dataset": relative_to(run.dataset, REPO_ROOT), "smoke": run.smoke,
              "batch_sizes": serving.batch_sizes}  # fmt: skip
    result.update(measure_parts(run, speed, training, pretraining, serving))
    derived(result)
    write_report(report.report_dir, "speed", result, markdown_section(result, command))
    return result


def main(argv=None) -> dict:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    return run_benchmark(parse_args(argv), command_line("bench_speed.py", argv))


if __name__ == "__main__":
    main()
