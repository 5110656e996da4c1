"""The benchmark scripts (scripts/benchmark.py, scripts/bench_speed.py, and the scripts of their parts) run end to end
in smoke mode, write sane JSON and their BENCHMARKS.md section into the folder they are given, and never touch the
repository's own files; what they share (imdb_lstm.benchmarking) hands a part every option it was given."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import HfArgumentParser

from helpers import load_script
from imdb_lstm import ImdbLstmConfig
from imdb_lstm.benchmarking import (RATE_KEYS, ReportArguments, RunArguments, ServingSpeedArguments, SpeedArguments,
                                    TrainingSpeedArguments, apply_smoke, as_argv, options_namespace,
                                    parse_part_options, part_main, replace_section, resolve_run)
from imdb_lstm.metrics import binary_rates

REPO = Path(__file__).resolve().parents[1]
bench_speed = load_script("bench_speed")
bench_training_speed = load_script("bench_training_speed")
benchmark = load_script("benchmark")

ACCURACY_KEYS = {"name", "accuracy", "tpr", "tnr", "fnr", "fpr", "train_seconds", "model_mb", "machine", "date", "recipe"}
SPEED_KEYS = {
    "sgemm_gflops", "train_tokens_per_s", "train_gflops", "ref_packed_tokens_per_s", "pipeline_reviews_per_s",
    "latency_p50_ms", "model_mb", "peak_rss_mb", "threads", "machine", "date", "onnx_reviews_per_s",
    "model_test_accuracy",
}  # fmt: skip


def repository_reports() -> dict:
    """Everything the benchmarks may write in the repository, byte for byte (absent files as None)."""
    files = [REPO / "BENCHMARKS.md", *sorted((REPO / "benchmarks").rglob("*"))]
    return {str(path): path.read_bytes() if path.is_file() else None for path in files}


def run_smoke(script: str, output_dir: Path) -> None:
    # One thread: on a busy 2-core machine, OpenMP threads spin-waiting on each other make tiny models crawl.
    command = [sys.executable, str(REPO / "scripts" / script), "--smoke", "--threads", "1", "--output_dir", str(output_dir)]
    # The scripts (and the scripts of their parts) import this checkout's package, wherever it is installed from.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]


def predictions_file_rates(folder: Path) -> dict:
    """The binary rates of a fine-tuned folder's test predictions (`test_predictions.jsonl`), computed here."""
    rows = [json.loads(line) for line in (folder / "test_predictions.jsonl").read_text().splitlines()]
    return binary_rates([row["prediction"] for row in rows], [row["label"] for row in rows])


@pytest.mark.slow
def test_accuracy_benchmark_smoke_writes_rows_for_every_model_and_leaves_the_repository_alone(tmp_path):
    before = repository_reports()
    run_smoke("benchmark.py", tmp_path)
    assert repository_reports() == before

    rows = json.loads((tmp_path / "benchmarks" / "accuracy.json").read_text())
    assert [row["name"] for row in rows] == list(benchmark.MODEL_NAMES)
    assert [row["name"] for row in rows if row["recipe"]] == ["recipe"]
    folders = {name: tmp_path / name for name in benchmark.NEURAL_MODELS}
    scored = {name: predictions_file_rates(folder) for name, folder in folders.items()}
    # The recipe's rates: its shipped folder's float32 test scores, as the build recorded them.
    recipe_dir = tmp_path / "recipe" / "model"
    recipe_results = json.loads((recipe_dir / "eval_results.json").read_text())
    scored["recipe"] = {key: recipe_results[f"test_float32_{key}"] for key in RATE_KEYS}
    # Each row's class shares weigh its TPR and TNR into its accuracy. The family and the baselines score the same
    # test rows (under --smoke the first 100), the recipe's build the whole test split (its own counts).
    family = predictions_file_rates(folders["glove_supervised"])
    test_counts = {"recipe": {key: recipe_results[f"test_float32_{key}"] for key in ("tp", "fn", "tn", "fp")}}
    for row in rows:
        assert ACCURACY_KEYS <= row.keys(), row["name"]
        if row["name"] in scored:  # the rates of the model's own test scores
            for key in RATE_KEYS:
                assert row[key] == pytest.approx(scored[row["name"]][key]), (row["name"], key)
        counts = test_counts.get(row["name"], family)
        positives, total = counts["tp"] + counts["fn"], counts["tp"] + counts["fn"] + counts["tn"] + counts["fp"]
        expected = (row["tpr"] * positives + row["tnr"] * (total - positives)) / total
        assert row["accuracy"] == pytest.approx(expected), row["name"]
        # The rates come from one confusion matrix of the test split.
        assert row["tpr"] + row["fnr"] == pytest.approx(1.0)
        assert row["tnr"] + row["fpr"] == pytest.approx(1.0)
        assert min(row["tpr"], row["tnr"]) - 1e-9 <= row["accuracy"] <= max(row["tpr"], row["tnr"]) + 1e-9
        assert row["train_seconds"] > 0 and row["model_mb"] > 0
    for name in benchmark.NEURAL_MODELS:
        saved = tmp_path / name / "model.safetensors"
        assert next(row for row in rows if row["name"] == name)["model_mb"] == pytest.approx(saved.stat().st_size / 1e6, abs=1e-3)
    # The comparison family really differs: a CNN and a GRU were trained, not five copies of the recipe.
    configs = {name: json.loads((tmp_path / name / "config.json").read_text()) for name in benchmark.NEURAL_MODELS}
    assert configs["cnn"]["encoder"] == "cnn" and configs["gru"]["cell"] == "gru"
    assert configs["lstm"]["bidirectional"] is False and configs["glove_supervised"]["pooling"] == "max_mean"
    # The recipe: the accuracy recipe's build (configs/accuracy_recipe.json) from nothing, its classifier the
    # config's (shrunk), over vectors that left out every validation and test text; the domain_vectors row reads them.
    recipe = next(row for row in rows if row["name"] == "recipe")
    assert recipe["unlabelled_data"] is True and recipe["pretrain_seconds"] > 0 and recipe["excluded_texts"] > 0
    assert configs["domain_vectors"]["embedding_source"].endswith(Path(recipe["vectors"]).name)
    assert recipe["vectors"].startswith(str(tmp_path / "recipe" / "work"))
    accuracy_recipe = json.loads((REPO / "configs" / "accuracy_recipe.json").read_text())
    (recipe_flags,) = accuracy_recipe["classifiers"].values()
    (built_flags,) = json.loads((tmp_path / "recipe" / "build_config.json").read_text())["classifiers"].values()
    for key in ("cell", "bidirectional", "pooling", "normalize_embeddings", "vat_epsilon", "adversarial_epsilon",
                "ema_decay", "ngram_order"):
        assert built_flags.get(key) == recipe_flags.get(key), key
    recipe_config = json.loads((recipe_dir / "config.json").read_text())
    assert recipe_config["ngram_order"] == recipe_flags["ngram_order"]
    assert recipe["model_mb"] == pytest.approx((recipe_dir / "model.safetensors").stat().st_size / 1e6, abs=1e-3)
    assert recipe["model_mb"] < recipe["uncompressed_mb"]
    assert "What each part of the accuracy recipe adds" in (tmp_path / "BENCHMARKS.md").read_text()

    markdown = (tmp_path / "BENCHMARKS.md").read_text()
    assert markdown.count("<!-- accuracy:begin -->") == 1 and "## Accuracy" in markdown
    assert all(f"| {name}" in markdown or f"**{name}**" in markdown for name in benchmark.MODEL_NAMES)


@pytest.mark.slow
def test_speed_benchmark_smoke_writes_positive_measurements_and_leaves_the_repository_alone(tmp_path):
    before = repository_reports()
    run_smoke("bench_speed.py", tmp_path)
    assert repository_reports() == before

    result = json.loads((tmp_path / "benchmarks" / "speed.json").read_text())
    assert SPEED_KEYS <= result.keys()
    for key in SPEED_KEYS - {"threads", "machine", "date"}:
        assert result[key] > 0, key
    assert result["threads"] == 1
    assert result["latency_p50_ms"] <= result["latency_p90_ms"] <= result["latency_p99_ms"]
    assert 0 <= result["padding_share"] < 1
    saved = tmp_path / "recipe_model" / "model.safetensors"
    assert result["model_mb"] == pytest.approx(saved.stat().st_size / 1e6)
    assert set(result["goals"]) == set(bench_speed.GOALS)
    assert 0 <= result["onnx_max_abs_diff"] <= 1e-4
    # No eval_results.json with a test accuracy in the smoke model: its accuracy on the benchmarked reviews, k of 32.
    assert result["model_test_accuracy_reviews"] == result["pipeline_reviews"] == 32
    assert result["model_test_accuracy"] == result["pipeline_accuracy"]
    assert result["model_test_accuracy"] * 32 == pytest.approx(round(result["model_test_accuracy"] * 32), abs=1e-9)
    assert result["bf16_train_tokens_per_s"] is None or result["bf16_train_tokens_per_s"] > 0
    assert result["pretrain_tokens_per_s"] > 0 and result["pretrain_tied_tokens_per_s"] > 0
    text = (tmp_path / "benchmarks" / "speed.json").read_text()
    assert str(REPO) not in text and str(tmp_path) not in text  # no absolute path of this machine
    assert all(not (isinstance(value, str) and value.startswith("/")) for value in result.values())

    markdown = (tmp_path / "BENCHMARKS.md").read_text()
    assert markdown.count("<!-- speed:begin -->") == 1 and "## Speed" in markdown


def test_each_script_replaces_only_its_own_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    replace_section(path, "speed", "## Speed\nfast")
    replace_section(path, "accuracy", "## Accuracy\nold")
    path.write_text(path.read_text() + "\nNotes written by hand.\n")
    replace_section(path, "accuracy", "## Accuracy\nnew")

    text = path.read_text()
    assert "new" in text and "old" not in text and text.count("## Accuracy") == 1
    assert "## Speed\nfast" in text and "Notes written by hand." in text


def test_partial_run_keeps_the_rows_of_models_it_did_not_retrain(tmp_path):
    path = tmp_path / "accuracy.json"
    path.write_text(json.dumps([{"name": "cnn", "accuracy": 0.8}, {"name": "recipe", "accuracy": 0.5}]))
    merged = benchmark.merge_rows(path, [{"name": "recipe", "accuracy": 0.9}])
    assert merged == [{"name": "recipe", "accuracy": 0.9}, {"name": "cnn", "accuracy": 0.8}]


def test_unknown_model_name_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown model.*'svm'.*tfidf_logreg"):
        benchmark.selected_models("recipe,svm")


def test_flops_count_follows_the_gate_formula():
    # Per real token and direction, an LSTM layer does 2·4H·(I+H) matmul FLOPs forward, a GRU 2·3H·(I+H).
    bilstm = ImdbLstmConfig(embedding_dim=50, hidden_size=128, bidirectional=True, num_layers=2)
    expected = 2 * (2 * 4 * 128 * (50 + 128)) + 2 * (2 * 4 * 128 * (256 + 128))
    assert bench_training_speed.forward_flops_per_token(bilstm) == expected
    gru = ImdbLstmConfig(embedding_dim=50, hidden_size=64, cell="gru")
    assert bench_training_speed.forward_flops_per_token(gru) == 2 * 3 * 64 * (50 + 64)


def test_gpu_sweep_smoke_trains_each_variant_with_the_recipe_and_reads_validation_per_epoch(tmp_path, capsys):
    gpu_sweep = load_script("gpu_sweep")
    rows = gpu_sweep.main(["--smoke", "--variants", "recipe,gru", "--output_dir", str(tmp_path)])
    assert [row["variant"] for row in rows] == ["recipe", "gru"]
    for row in rows:
        # One epoch: the accuracy read from the log is the final evaluation's (eval_results.json), rounded.
        final = json.loads((tmp_path / row["variant"] / "eval_results.json").read_text())["eval_accuracy"]
        assert row["val_accuracy_per_epoch"] == [round(final, 4)] and row["best"] == round(final, 4)
        assert not (tmp_path / row["variant"] / "test_predictions.jsonl").exists()  # the test split is never scored
    assert json.loads((tmp_path / "gru" / "config.json").read_text())["cell"] == "gru"
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"variant"')]
    assert printed == rows
    with pytest.raises(ValueError, match="unknown variant.*'svm'"):
        gpu_sweep.selected_variants("recipe,svm")


def test_a_part_gets_every_option_the_benchmark_was_given(tmp_path):
    """bench_speed.py hands its parts its options as flags (`as_argv`): parsed again, they are the same values."""
    given = (RunArguments(dataset="sample", output_dir=str(tmp_path), threads=1, smoke=False),
             SpeedArguments(model="some/folder", seed=7, warmup_batches=2),
             TrainingSpeedArguments(batch_size=16, sgemm_sizes=[64, 128], rss_steps=3),
             ServingSpeedArguments(fast_model=None, batch_sizes=[1, 4], pipeline_reviews=5))
    parser = HfArgumentParser(tuple(type(item) for item in given))
    assert tuple(parser.parse_args_into_dataclasses(args=as_argv(*given))) == given
    assert "--fast_model" not in as_argv(*given)  # None: left to the part's default
    with pytest.raises(ValueError, match="--pipeline_reviews must be at least 1; got 0"):
        ServingSpeedArguments(pipeline_reviews=0)


def test_smoke_sizes_and_folders_are_filled_in_only_where_the_run_leaves_them(tmp_path):
    run, report = RunArguments(dataset="somewhere", smoke=True), ReportArguments()
    resolve_run(run, report, "bench_speed", tmp_path)
    assert run.dataset == "sample" and Path(run.output_dir).name.startswith("imdb-bench-speed-smoke-")
    assert report.report_dir == run.output_dir  # a smoke run never writes the repository's report
    os.rmdir(run.output_dir)
    full, written = RunArguments(dataset="somewhere"), ReportArguments(write=False)
    resolve_run(full, written, "benchmark", tmp_path)
    assert (full.dataset, full.output_dir, written.report_dir) == ("somewhere", "outputs/benchmark", str(tmp_path))
    training, serving = TrainingSpeedArguments(), ServingSpeedArguments()
    apply_smoke({"rss_steps": 2, "sweep_reviews": 16, "not_a_field": 1}, training, serving)
    assert (training.rss_steps, serving.sweep_reviews, training.train_batches) == (2, 16, 40)


def test_a_part_parses_the_shared_options_and_prints_and_writes_what_it_measured(tmp_path, capsys):
    """What every part's `main` shares: the run's options resolved, smoke sizes on the part's own options only, the
    result printed and written to --output."""
    def parse_args(argv):
        return options_namespace(*parse_part_options((SpeedArguments,), argv, "bench_speed", tmp_path,
                                                     {"warmup_batches": 1, "smoke": False}))

    output = tmp_path / "part" / "measured.json"
    argv = ["--smoke", "--output_dir", str(tmp_path), "--output", str(output), "--seed", "7"]
    measured = part_main(parse_args, lambda args: {"dataset": args.dataset, "seed": args.seed,
                                                   "warmup_batches": args.warmup_batches, "smoke": args.smoke}, argv)
    assert measured == {"dataset": "sample", "seed": 7, "warmup_batches": 1, "smoke": True}
    assert json.loads(output.read_text()) == measured
    assert json.loads(capsys.readouterr().out) == measured
    run, speed, part = parse_part_options((SpeedArguments,), ["--dataset", "somewhere"], "benchmark", tmp_path)
    assert (run.dataset, run.output_dir, speed.warmup_batches, part.output) == ("somewhere", "outputs/benchmark", 3, None)
