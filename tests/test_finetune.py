"""Fine-tuning (imdb_lstm.training.finetune, through the train command) beyond IMDB: a 3-class CSV with string labels
trains, reports macro-F1 and per-class figures, saves and reloads through `pipeline`; an IMDB classifier is re-headed
to 5 labels with its encoder kept (the loading itself: tests/test_pretrained.py); the parts that are binary by nature
(the n-gram branch, distillation) and bad label columns are refused clearly; the model gets a card of its own labels.
(The IMDB recipe's own run: tests/test_train.py.)"""

import json

import numpy as np
import pytest
import torch
from datasets import Dataset
from helpers import (PLANTED, TINY_FINETUNING, finetune_on_csvs, write_multi_label_and_regression_csvs,
                     write_three_class_csvs)
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from imdb_lstm.commands import train as train_command
from imdb_lstm.data import DataError, load_imdb


@pytest.fixture(scope="module")
def three_class_run(tmp_path_factory):
    data = write_three_class_csvs(tmp_path_factory.mktemp("genres"))
    output_dir = tmp_path_factory.mktemp("genre_model")
    return output_dir, finetune_on_csvs(data, output_dir, "--label_column", "genre")


def test_three_string_labels_train_with_macro_f1_and_per_class_figures(three_class_run):
    output_dir, results = three_class_run
    config = json.loads((output_dir / "config.json").read_text())
    assert config["id2label"] == {"0": "comedy", "1": "drama", "2": "horror"}
    saved = json.loads((output_dir / "eval_results.json").read_text())
    # Test: every figure from the test confusion matrix (rows: truth), by its definition.
    matrix = np.asarray(saved["test_confusion_matrix"], dtype=float)
    hits, present, predicted = np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)
    recall = np.divide(hits, present, out=np.zeros(3), where=present > 0)
    precision = np.divide(hits, predicted, out=np.zeros(3), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(3), where=precision + recall > 0)
    expected = {"accuracy": hits.sum() / matrix.sum(), "macro_f1": f1.mean()}
    for i, genre in enumerate(sorted(PLANTED)):  # class ids follow the sorted names (id2label above)
        expected |= {f"recall_{genre}": recall[i], f"precision_{genre}": precision[i], f"f1_{genre}": f1[i]}
    for key, value in expected.items():
        assert saved[f"test_{key}"] == pytest.approx(value), key
    # Validation (no matrix saved): F1 from precision and recall, macro figures the class means, and the accuracy a
    # mean of the class recalls weighted by the class shares.
    recalls = [saved[f"eval_recall_{genre}"] for genre in PLANTED]
    for genre in PLANTED:
        p, r = saved[f"eval_precision_{genre}"], saved[f"eval_recall_{genre}"]
        assert saved[f"eval_f1_{genre}"] == pytest.approx(2 * p * r / (p + r) if p + r else 0.0), genre
    assert saved["eval_macro_f1"] == pytest.approx(np.mean([saved[f"eval_f1_{genre}"] for genre in PLANTED]))
    assert saved["eval_macro_recall"] == pytest.approx(np.mean(recalls))
    assert min(recalls) - 1e-9 <= saved["eval_accuracy"] <= max(recalls) + 1e-9
    assert "eval_tpr" not in saved and "test_tpr" not in saved
    assert np.sum(saved["test_confusion_matrix"]) == 30
    # The planted words are learnable within a few steps: well above the 1/3 of guessing.
    assert saved["test_macro_f1"] > 0.6, saved
    rows = [json.loads(line) for line in (output_dir / "test_predictions.jsonl").read_text().splitlines()]
    counted = np.zeros((3, 3), dtype=int)
    for row in rows:
        counted[row["label"], row["prediction"]] += 1
    assert counted.tolist() == saved["test_confusion_matrix"]  # the matrix is the saved predictions' own
    assert len(rows) == 30 and set(rows[0]["probabilities"]) == set(PLANTED)
    assert (output_dir / "confusion_matrix.png").exists()


def test_three_class_model_reloads_and_runs_through_the_pipeline(three_class_run):
    output_dir, results = three_class_run
    classify = pipeline("text-classification", model=str(output_dir), tokenizer=str(output_dir), top_k=None)
    answers = classify(["tearful, truly tearful: a tearful story", "hilarious and hilarious again"])
    assert all(len(answer) == 3 and {a["label"] for a in answer} == set(PLANTED) for answer in answers)
    assert all(sum(a["score"] for a in answer) == pytest.approx(1, abs=1e-4) for answer in answers)


def test_a_three_class_model_gets_a_card_of_its_labels_and_metrics(three_class_run):
    """Not IMDB's sentiment card (which it once got refused): its own labels and macro-F1 (the card of every problem
    type: tests/test_cards.py)."""
    from imdb_lstm.cards import render_model_card

    output_dir, results = three_class_run
    text = render_model_card(output_dir, "user/genres", explain_example=False).text
    assert "| 0 | comedy |\n| 1 | drama |\n| 2 | horror |" in text and "NEGATIVE" not in text
    assert f"| Macro-F1 | {results['test_macro_f1']:.4f} |" in text


def test_reheading_an_imdb_classifier_to_five_labels_keeps_its_encoder(sample_model_dir, tmp_path):
    rng = np.random.default_rng(1)
    sample = load_imdb("sample")
    for split, count in (("train", 80), ("test", 20)):
        Dataset.from_dict({"text": sample[split]["text"][:count],
                           "stars": rng.integers(0, 5, count).tolist()}).to_csv(str(tmp_path / f"{split}.csv"))
    output_dir = tmp_path / "stars"
    train_command.main(["--dataset", "csv", "--data_files", f"train={tmp_path / 'train.csv'}",
                        f"test={tmp_path / 'test.csv'}", "--label_column", "stars", "--num_labels", "5",
                        "--model_name_or_path", str(sample_model_dir), "--max_length", "64",
                        "--num_train_epochs", "1", "--learning_rate", "1e-3", "--encoder_learning_rate_factor", "1e-9",
                        "--per_device_train_batch_size", "16", "--disable_tqdm", "true", "--report_to", "none",
                        "--save_strategy", "no", "--load_best_model_at_end", "false", "--weight_decay", "0",
                        "--warmup_steps", "0", "--output_dir", str(output_dir)])
    imdb = AutoModelForSequenceClassification.from_pretrained(sample_model_dir)
    stars = AutoModelForSequenceClassification.from_pretrained(output_dir)
    assert stars.config.num_labels == 5 and imdb.config.num_labels == 2
    assert stars.classifier.weight.shape[0] == 5
    # The encoder (trained at a vanishing learning rate here) is the IMDB classifier's own, not a fresh one.
    for (name, before), after in zip(imdb.base_model.named_parameters(), stars.base_model.parameters()):
        assert torch.allclose(before, after, atol=1e-5), name
    assert AutoTokenizer.from_pretrained(output_dir).get_vocab() == AutoTokenizer.from_pretrained(sample_model_dir).get_vocab()


@pytest.mark.parametrize("flags, message", [
    (["--ngram_order", "3"], r"--ngram_order 3 with 3 labels: the n-gram branch is binary by nature.*drop --ngram_order"),
    (["--teacher_model", "ngram:2"], r"--teacher_model with 3 labels: distillation here is binary by nature"),
])
def test_binary_only_parts_refuse_three_labels(tmp_path, flags, message):
    data = write_three_class_csvs(tmp_path, train_count=30, test_count=10)
    with pytest.raises(DataError, match=message):
        train_command.main(["--dataset", str(data), "--text_column", "review", "--label_column", "genre",
                            *TINY_FINETUNING, *flags, "--output_dir", str(tmp_path / "out")])
    assert not (tmp_path / "out" / "model.safetensors").exists()


@pytest.mark.parametrize("columns, flags, message", [
    ({"text": ["a", "b"], "label": [0, 2]}, [], r"integer labels of training are \[0, 2\]: class ids 0..N-1 with none missing. Give --num_labels 3"),
    ({"text": ["a", "b"], "label": [0, 2]}, ["--num_labels", "2"], r"--num_labels 2, but the training labels go up to 2"),
    ({"text": ["a", "b"], "label": ["x", "y"]}, ["--num_labels", "3"], r"--num_labels 3, but the label column has 2"),
    ({"text": ["a", "b"], "label": [0.5, 1.5]}, [], r"float targets are trained with --problem_type regression"),
    ({"text": ["a", "b"], "genre": ["x", "y"]}, [], r"no 'label' column.*--label_column"),
])
def test_bad_label_columns_are_refused_clearly(tmp_path, columns, flags, message):
    for split in ("train", "test"):
        Dataset.from_dict(columns).to_csv(str(tmp_path / f"{split}.csv"))
    with pytest.raises(DataError, match=message):
        train_command.main(["--dataset", str(tmp_path), *TINY_FINETUNING, *flags, "--output_dir",
                            str(tmp_path / "out")])


@pytest.fixture(scope="module")
def planted_data(tmp_path_factory):
    return write_multi_label_and_regression_csvs(tmp_path_factory.mktemp("planted"))


def test_multi_label_trains_with_a_threshold_chosen_on_validation_and_reloads(planted_data, tmp_path):
    output_dir = tmp_path / "multi"
    results = finetune_on_csvs(planted_data, output_dir, "--label_column", "genres", "--problem_type",
                               "multi_label_classification", "--num_train_epochs", "4")
    config = json.loads((output_dir / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert config["id2label"] == {"0": "comedy", "1": "drama", "2": "horror"}
    assert config["multilabel_threshold"] == results["multilabel_threshold"]
    assert 0 < results["multilabel_threshold"] < 1
    # The planted words are learnt: far above the micro-F1 of predicting every label (about 0.6 here).
    assert results["test_micro_f1"] > 0.8 and {"test_macro_f1", "test_f1_drama"} <= set(results)
    rows = [json.loads(line) for line in (output_dir / "test_predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and set(rows[0]) == {"row", "labels", "prediction", "probabilities", "text"}
    # A plain pipeline gives each label's sigmoid probability, as the saved test predictions do (float32 there; the
    # pipeline may serve in bfloat16).
    classifier = pipeline("text-classification", model=str(output_dir), top_k=None)
    first_review = load_labelled_test(planted_data)["review"][0]
    scores = {item["label"]: item["score"] for item in classifier([first_review])[0]}
    assert scores == pytest.approx(rows[0]["probabilities"], abs=2e-2)


def test_regression_trains_on_a_float_column_and_reloads(planted_data, tmp_path):
    output_dir = tmp_path / "regression"
    results = finetune_on_csvs(planted_data, output_dir, "--label_column", "intensity", "--problem_type",
                               "regression", "--num_train_epochs", "4")
    config = json.loads((output_dir / "config.json").read_text())
    assert (config["problem_type"], config["id2label"]) == ("regression", {"0": "intensity"})
    targets = np.asarray(load_labelled_test(planted_data)["intensity"])
    # Better than the best constant (the targets' variance), and the correlations say so too.
    assert results["test_mse"] < 0.5 * targets.var() and results["test_pearson"] > 0.7
    assert {"test_mae", "test_spearman"} <= set(results)
    rows = [json.loads(line) for line in (output_dir / "test_predictions.jsonl").read_text().splitlines()]
    model = AutoModelForSequenceClassification.from_pretrained(output_dir)
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    value = pipeline("text-classification", model=model, tokenizer=tokenizer, function_to_apply="none")(
        "superb superb superb a film superb superb superb")[0]["score"]
    assert value > 1.5 and isinstance(rows[0]["prediction"], float)


def load_labelled_test(folder):
    return Dataset.from_csv(str(folder / "test.csv"))


@pytest.mark.parametrize("flags, metric, least", [
    (["--label_column", "genres", "--problem_type", "multi_label_classification"], "micro_f1", 0.8),
    (["--label_column", "intensity", "--problem_type", "regression"], "pearson", 0.7),
])
def test_the_linear_baseline_runs_on_the_same_split_for_each_problem_type(planted_data, tmp_path, flags, metric,
                                                                          least):
    """scripts/bench_own_data.py, README's baseline: TF-IDF and a linear model on train.py's own split of the data,
    scored with the trained model's metrics (the planted words make it learnable)."""
    from helpers import load_script

    row = load_script("bench_own_data").main(["--dataset", str(planted_data), "--text_column", "review", *flags,
                                              "--output", str(tmp_path / "row.json")])
    assert row["splits"] == {"train": 180, "validation": 20, "test": 40}
    assert row["test"][metric] > least and json.loads((tmp_path / "row.json").read_text()) == row
