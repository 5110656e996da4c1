"""The benchmark scripts (scripts/benchmark.py, scripts/bench_speed.py) run end to end in smoke mode, write sane JSON
and their BENCHMARKS.md section into the folder they are given, and never touch the repository's own files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import load_script
from imdb_lstm import ImdbLstmConfig
from imdb_lstm.benchmarking import replace_section

REPO = Path(__file__).resolve().parents[1]
bench_speed = load_script("bench_speed")
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
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]


@pytest.mark.slow
def test_accuracy_benchmark_smoke_writes_rows_for_every_model_and_leaves_the_repository_alone(tmp_path):
    before = repository_reports()
    run_smoke("benchmark.py", tmp_path)
    assert repository_reports() == before

    rows = json.loads((tmp_path / "benchmarks" / "accuracy.json").read_text())
    assert [row["name"] for row in rows] == list(benchmark.MODEL_NAMES)
    assert [row["name"] for row in rows if row["recipe"]] == ["recipe"]
    for row in rows:
        assert ACCURACY_KEYS <= row.keys(), row["name"]
        for key in benchmark.RATE_KEYS:
            assert 0.0 <= row[key] <= 1.0, (row["name"], key)
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
    assert configs["domain_vectors"]["embedding_source"].endswith(".kv")  # the recipe's own vectors
    # The semi-supervised recipe: pretrained language model, then the classifier with its n-gram branch.
    recipe = next(row for row in rows if row["name"] == "recipe")
    assert recipe["unlabelled_data"] is True and recipe["pretraining_tokens"] > 0
    assert recipe["pretrain_seconds"] > 0 and recipe["validation_perplexity"] > 1
    recipe_config = json.loads((tmp_path / "recipe" / "classifier" / "config.json").read_text())
    assert recipe_config["ngram_order"] == 3 and "pretrained imdb-lstm model" in recipe_config["embedding_source"]
    assert json.loads((tmp_path / "recipe" / "lm" / "config.json").read_text())["lm_output"] == "adaptive"
    assert recipe["model_mb"] == pytest.approx((tmp_path / "recipe" / "classifier" / "model.safetensors").stat().st_size / 1e6, abs=1e-3)
    assert "What each part of the semi-supervised recipe adds" in (tmp_path / "BENCHMARKS.md").read_text()

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
    assert result["model_test_accuracy"] <= 1
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
    assert bench_speed.forward_flops_per_token(bilstm) == 2 * (2 * 4 * 128 * (50 + 128)) + 2 * (2 * 4 * 128 * (256 + 128))
    gru = ImdbLstmConfig(embedding_dim=50, hidden_size=64, cell="gru")
    assert bench_speed.forward_flops_per_token(gru) == 2 * 3 * 64 * (50 + 64)


def test_gpu_sweep_smoke_trains_each_variant_with_the_recipe_and_reads_validation_per_epoch(tmp_path, capsys):
    gpu_sweep = load_script("gpu_sweep")
    rows = gpu_sweep.main(["--smoke", "--variants", "recipe,gru", "--output_dir", str(tmp_path)])
    assert [row["variant"] for row in rows] == ["recipe", "gru"]
    for row in rows:
        assert len(row["val_accuracy_per_epoch"]) == 1 and 0 <= row["best"] <= 1
        assert not (tmp_path / row["variant"] / "test_predictions.jsonl").exists()  # the test split is never scored
    assert json.loads((tmp_path / "gru" / "config.json").read_text())["cell"] == "gru"
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"variant"')]
    assert printed == rows
    with pytest.raises(ValueError, match="unknown variant.*'svm'"):
        gpu_sweep.selected_variants("recipe,svm")
