"""A short real training through scripts/train.py on the shipped sample: loss goes down, outputs are complete."""

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import load_script
from imdb_lstm.training import finetune as train

TINY = [
    "--dataset", "sample", "--max_train_samples", "400", "--max_eval_samples", "200", "--hidden_size", "32",
    "--max_length", "128", "--vocab_size", "5000", "--num_train_epochs", "3", "--learning_rate", "5e-3",
    "--per_device_train_batch_size", "32", "--logging_steps", "5", "--disable_tqdm", "true",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("run")
    results = train.main([*TINY, "--output_dir", str(output_dir)])
    return output_dir, results


def test_training_lowers_the_loss(trained):
    output_dir, _ = trained
    state = json.loads((output_dir / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses) >= 6
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.02


def test_outputs_are_complete_and_consistent(trained):
    output_dir, results = trained
    for name in ("model.safetensors", "config.json", "tokenizer.json", "modeling_imdb_lstm.py", "all_results.json",
                 "eval_results.json", "train_results.json", "run_info.json", "test_predictions.jsonl",
                 "confusion_matrix.png", "training_curves.png"):
        assert (output_dir / name).exists(), name
    eval_results = json.loads((output_dir / "eval_results.json").read_text())
    for prefix in ("eval", "test"):  # each rate from its split's confusion counts, as its definition reads
        tp, fp, tn, fn = (eval_results[f"{prefix}_{count}"] for count in ("tp", "fp", "tn", "fn"))
        expected = {"accuracy": (tp + tn) / (tp + tn + fp + fn), "tpr": tp / (tp + fn), "tnr": tn / (tn + fp),
                    "fnr": fn / (tp + fn), "fpr": fp / (tn + fp), "precision": tp / (tp + fp) if tp + fp else 0.0,
                    "f1": 2 * tp / (2 * tp + fp + fn)}
        for key, value in expected.items():
            assert eval_results[f"{prefix}_{key}"] == pytest.approx(value), (prefix, key)
    assert eval_results["test_tp"] + eval_results["test_fn"] + eval_results["test_tn"] + eval_results["test_fp"] == 200
    rows = [json.loads(line) for line in (output_dir / "test_predictions.jsonl").read_text().splitlines()]
    assert [row["row"] for row in rows] == list(range(200))
    accuracy = np.mean([row["prediction"] == row["label"] for row in rows])
    assert accuracy == pytest.approx(eval_results["test_accuracy"])
    assert all(abs(row["p_negative"] + row["p_positive"] - 1) < 1e-5 for row in rows)
    assert results["test_accuracy"] == eval_results["test_accuracy"]


def test_run_info_records_the_resolved_model_config(trained):
    """Flags left unset are the config's values (ImdbLstmConfig's defaults here), recorded as used."""
    output_dir, _ = trained
    info = json.loads((output_dir / "run_info.json").read_text())
    recorded, saved = info["model_config"], json.loads((output_dir / "config.json").read_text())
    assert (recorded["hidden_size"], recorded["vocab_size"], recorded["model_max_length"]) == (32, 5000, 128)
    assert info["arguments"]["model"]["pooling"] == recorded["pooling"] == saved["pooling"] == "last"
    assert info["arguments"]["data"]["truncation_side"] == saved["truncation_side"] == "right"


def test_predictions_file_follows_dataset_order(trained):
    """Length-grouped evaluation permutes batches: the file must still line up with the test split's rows."""
    output_dir, _ = trained
    from imdb_lstm.data import load_imdb
    from imdb_lstm.predict import load_classifier, predict_proba

    test = load_imdb("sample")["test"].shuffle(seed=42).select(range(200))
    model, tokenizer = load_classifier(str(output_dir))
    probabilities = predict_proba(model, tokenizer, test["text"][:40], dtype="float32").numpy()
    rows = [json.loads(line) for line in (output_dir / "test_predictions.jsonl").read_text().splitlines()[:40]]
    assert [row["label"] for row in rows] == test["label"][:40]
    np.testing.assert_allclose([row["p_positive"] for row in rows], probabilities[:, 1], atol=1e-5)


def test_json_config_file_is_accepted(tmp_path):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"dataset": "sample", "output_dir": str(tmp_path / "out"), "hidden_size": 8}))
    model_args, data_args, training_args = train.parse_args([str(config)])
    assert model_args.hidden_size == 8 and data_args.dataset == "sample"
    assert training_args.train_sampling_strategy == "group_by_length"


def test_the_shipped_recipe_lives_in_its_json_and_the_defaults_in_the_config():
    """configs/imdb_bilstm.json is the recipe: every value it states is the run's (the BiLSTM, its pooling, left
    truncation at 1,000 tokens); without it the model config is ImdbLstmConfig()'s, the one home of the defaults."""
    from imdb_lstm import ImdbLstmConfig

    repo = Path(__file__).resolve().parents[1]
    shipped = json.loads((repo / "configs" / "imdb_bilstm.json").read_text())
    parsed = train.parse_args([str(repo / "configs" / "imdb_bilstm.json")])
    config = train.resolve_model_config(*parsed[:2])
    for key, value in shipped.items():
        actual = next(getattr(args, key) for args in parsed if hasattr(args, key))
        assert actual == value, key
    assert (config.bidirectional, config.pooling, config.truncation_side, config.model_max_length) == (
        True, "max_mean", "left", 1000)
    model_args, data_args, _ = train.parse_args([])
    assert train.resolve_model_config(model_args, data_args).to_dict() == ImdbLstmConfig().to_dict()


def test_seed_table_reproduction_runs_in_smoke_mode(tmp_path, capsys, monkeypatch):
    # The script itself is under test here, so it is loaded from scripts/.
    reproduce_seed_table = load_script("reproduce_seed_table")

    result = reproduce_seed_table.main(["--smoke", "--output_dir", str(tmp_path)])
    rows = result["rows"]
    assert [(row["protocol"], row["epochs"]) for row in rows] == [("50/25/25", 2), ("50/25/25", 4), ("50/0/50", 2), ("50/0/50", 4)]
    assert [model["model"] for model in result["models"]] == ["LSTM", "GRU", "BiLSTM", "CNN"]
    for row in rows + result["models"]:
        assert row["tpr"] + row["fnr"] == pytest.approx(1) and row["tnr"] + row["fpr"] == pytest.approx(1)
        assert min(row["tpr"], row["tnr"]) <= row["accuracy"] <= max(row["tpr"], row["tnr"])
    # The comparison trained different networks, and each long review kept its ending as the study's Keras did.
    configs = {name: json.loads((tmp_path / name / "config.json").read_text()) for name in ("gru-2ep", "bilstm-2ep", "cnn-2ep")}
    assert configs["gru-2ep"]["cell"] == "gru" and configs["bilstm-2ep"]["bidirectional"] and configs["cnn-2ep"]["encoder"] == "cnn"
    assert json.loads((tmp_path / "lstm-2ep" / "tokenizer_config.json").read_text())["truncation_side"] == "left"
    assert json.loads((tmp_path / "seed_table.json").read_text())["rows"] == rows
    table = capsys.readouterr().out
    # Each printed row shows this run's rates next to the study's for the same protocol and epochs.
    from imdb_lstm.study import STUDY_RATES, STUDY_TABLE

    printed = {tuple(line.split()[:2]): line for line in table.splitlines() if line.startswith(("50/25/25", "50/0/50"))}
    assert len(printed) == len(rows)
    for row in rows:
        line = printed[(row["protocol"], str(row["epochs"]))]
        for name, study_value in zip(STUDY_RATES, STUDY_TABLE[(row["protocol"], row["epochs"])]):
            assert f"{row[name]:.4f} / {study_value:.4f}" in line, (name, line)
    assert "BiLSTM" in table
