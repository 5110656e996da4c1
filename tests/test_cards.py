"""Model cards (`imdb_lstm.cards`): the default model's card, rendered from a fake default-model folder (a trained
sample model plus the `eval_results.json` and `run_info.json` that `imdb-lstm-build-default` writes, with distinct
numbers), what the ordinary card says about long reviews, and the card of a model of the user's own data for each
problem type (tiny trainings on planted-word CSVs): labels, metrics equal to eval_results.json's, the data as named
and described, the metadata, and clear refusals.

Pushing such a folder and loading it back by repo id is tested in tests/test_hub.py against the local Hub.
"""

import json
import logging
import shutil
from pathlib import Path

import pytest
from datasets import Dataset
from huggingface_hub import ModelCard

from helpers import PLANTED, TINY_FINETUNING, write_multi_label_and_regression_csvs, write_three_class_csvs
from imdb_lstm.cards import (DEFAULT_MODEL_NAME, describe_architecture, describe_training, is_default_model_dir,
                             render_default_model_card, render_model_card)
from imdb_lstm.commands import train as train_command
from imdb_lstm.hub import parse_args as parse_push_args

# The build's final scoring (distinct, mutually consistent numbers: 12,500 reviews of each label).
DEFAULT_EVAL_RESULTS = {
    "eval_accuracy": 0.9313, "eval_recurrent_accuracy": 0.9105,
    "test_accuracy": 0.9234, "test_tpr": 0.9187, "test_tnr": 0.9281, "test_fnr": 0.0813, "test_fpr": 0.0719,
    "test_precision": 0.9274, "test_f1": 0.9230, "test_tn": 11601, "test_fp": 899, "test_fn": 1016, "test_tp": 11484,
    "test_recurrent_accuracy": 0.9076, "test_float32_accuracy": 0.9238, "test_samples": 25000,
}
MACHINE = {"platform": "Linux-6.1.0-x86_64-with-glibc2.36", "processor": "x86_64", "cpu": "AMD EPYC 7B13",
           "torch_threads": 2}
SERVING = {"reviews_per_s": 412.4, "latency_p50_ms": 151.2, "batch_size": 64, "machine": "Intel Xeon 8481C, 4 threads"}


def default_run_info(arguments: dict, versions: dict) -> dict:
    """A run_info.json of the shape imdb-lstm-build-default writes; `arguments` and `versions` are the chosen
    classifier's own (a training run's run_info.json)."""
    return {
        "command": ["/home/me/imdb-lstm/.venv/bin/imdb-lstm-build-default", "configs/default_model.json",
                    "--dataset", "../shared/data/imdb"],
        "build_config": {"word_vectors": {"dataset_splits": "train,unsupervised", "method": "word2vec",
                                          "dimension": 100, "epochs": 5, "skip_gram": True},
                         "compression": {"ngram_tolerance": 0.001, "embedding_dtype": "bfloat16"}},
        "stages": {
            "word_vectors": {"seconds": 611.4, "texts": 47321, "excluded_texts": 27345, "words": 11234567,
                             "vocabulary": 61234},
            "classifier": {"seconds": 3702.6, "chosen": "bilstm128_normalised", "candidates": {
                "bilstm128_normalised": {"eval_accuracy": 0.9316, "eval_recurrent_accuracy": 0.9108},
                "bigru96": {"eval_accuracy": 0.9288, "eval_recurrent_accuracy": 0.9051}}},
            "compression": {"seconds": 95.2, "steps": [
                {"step": "full", "size_mb": 41.7, "eval_accuracy": 0.9316, "detail": "1,204,311 n-grams"},
                {"step": "ngram_pruning", "size_mb": 22.3, "eval_accuracy": 0.9308, "detail": "200,000 n-grams kept"},
                {"step": "embedding_bfloat16", "size_mb": 18.4, "eval_accuracy": 0.9313, "detail": "20,000 x 100"},
            ]},
            "test": {"seconds": 87.9, "reviews_per_s": 284.4, "batch_size": 64},
        },
        "arguments": arguments,
        "versions": versions,
        "machine": MACHINE,
        "serving": SERVING,
    }


def make_default_model_dir(trained_dir: Path, destination: Path, **run_info_changes) -> Path:
    """A fake default-model folder: a copy of the trained folder `trained_dir` (no checkpoints) with the build's
    eval_results.json and run_info.json; `run_info_changes` replace top-level keys of the run_info (None removes)."""
    model_dir = Path(shutil.copytree(trained_dir, destination, ignore=shutil.ignore_patterns("checkpoint-*")))
    trained_run_info = json.loads((trained_dir / "run_info.json").read_text())
    run_info = default_run_info(trained_run_info["arguments"], trained_run_info["versions"])
    for key, value in run_info_changes.items():
        if value is None:
            run_info.pop(key, None)
        else:
            run_info[key] = value
    (model_dir / "eval_results.json").write_text(json.dumps(DEFAULT_EVAL_RESULTS, indent=2))
    (model_dir / "run_info.json").write_text(json.dumps(run_info, indent=2))
    (model_dir / "README.md").unlink(missing_ok=True)
    return model_dir


@pytest.fixture
def default_dir(sample_model_dir, tmp_path) -> Path:
    return make_default_model_dir(sample_model_dir, tmp_path / "default_model")


def row(text: str, first_cell: str) -> str:
    """The card's table row whose first cell is `first_cell` (an assertion error if there is none or several)."""
    rows = [line for line in text.splitlines() if line.startswith(f"| {first_cell} |")]
    assert len(rows) == 1, (first_cell, rows)
    return rows[0]


def test_default_card_reports_the_builds_measured_numbers_in_their_rows(default_dir):
    text = render_default_model_card(default_dir).text
    max_length = json.loads((default_dir / "tokenizer_config.json").read_text())["model_max_length"]

    assert row(text, "Accuracy") == "| Accuracy | 0.9234 |"
    assert row(text, "True positive rate (recall of POSITIVE)").endswith("| 0.9187 |")
    assert row(text, "True negative rate (recall of NEGATIVE)").endswith("| 0.9281 |")
    assert row(text, "False negative rate") == "| False negative rate | 0.0813 |"
    assert row(text, "False positive rate") == "| False positive rate | 0.0719 |"
    assert row(text, "Precision (of POSITIVE)").endswith("| 0.9274 |")
    assert row(text, "F1 (of POSITIVE)").endswith("| 0.9230 |")
    assert row(text, "Accuracy in float32 (the dtype validation is scored in)").endswith("| 0.9238 |")
    assert row(text, "Accuracy of the recurrent part alone (n-gram branch left out, float32)").endswith("| 0.9076 |")
    assert row(text, "Confusion counts").endswith("| TN 11,601, FP 899, FN 1,016, TP 11,484 |")
    validation = row(text, "Validation accuracy (2,500 held-out training reviews, float32, after compression)")
    assert validation.endswith("| 0.9313 (recurrent part alone: 0.9105) |")
    model_mb = (default_dir / "model.safetensors").stat().st_size / 1e6  # MB as the build and the benchmarks count them
    assert row(text, "Size").startswith(f"| Size | {model_mb:.1f} MB (`model.safetensors`), ")
    assert row(text, "Speed") == ("| Speed | 284 reviews/s through a plain `pipeline`, batch 64, on AMD EPYC 7B13 "
                                  f"(2 torch threads; {MACHINE['platform']}), during the test pass |")
    assert row(text, "Speed, serving") == ("| Speed, serving | 412 reviews/s, median latency 151.2 ms, batch 64, on "
                                           "Intel Xeon 8481C, 4 threads |")
    assert "over IMDB's test split (25,000 reviews)" in text

    # Validation accuracy at each compression step, in the build's order.
    steps = [row(text, f"`{step}`") for step in ("full", "ngram_pruning", "embedding_bfloat16")]
    assert "| 41.7 MB | 0.9316 | 1,204,311 n-grams |" in steps[0]
    assert "| 22.3 MB | 0.9308 | 200,000 n-grams kept |" in steps[1]
    assert "| 18.4 MB | 0.9313 | 20,000 x 100 |" in steps[2]
    assert text.index(steps[0]) < text.index(steps[1]) < text.index(steps[2])
    assert row(text, "`bilstm128_normalised` (chosen)") == "| `bilstm128_normalised` (chosen) | 0.9316 | 0.9108 |"
    assert row(text, "`bigru96`") == "| `bigru96` | 0.9288 | 0.9051 |"

    # The data, and the held-out texts kept out of the unlabelled stages.
    assert row(text, "Training the classifier").endswith("| 22,500 reviews of IMDB's `train` split |")
    assert "| Validation | 2,500 reviews of IMDB's `train` split, held out" in text
    assert row(text, "Learning the word vectors") == (
        "| Learning the word vectors | The training reviews and the 50,000 unlabelled reviews (IMDB's `train` and "
        "`unsupervised` splits, no labels): 47,321 texts |")
    assert "The 27,345 validation and test review texts" in text and "never read by any stage before" in text

    # How it was built: the command (its program's name, not the builder's path) and each stage with its seconds.
    assert "imdb-lstm-build-default configs/default_model.json --dataset ../shared/data/imdb" in text
    assert "/home/me" not in text
    assert row(text, "`word_vectors`").endswith("| 611 s (10 min) |")
    assert "47,321 texts, the 27,345 validation and test texts left out" in row(text, "`word_vectors`")
    assert row(text, "`classifier`").endswith("| 3,703 s (62 min) |")
    assert "2 candidates trained on 22,500 reviews; `bilstm128_normalised` chosen" in row(text, "`classifier`")
    assert row(text, "`compression`").endswith("| 95 s |")
    assert row(text, "`test`") == ("| `test` | 25,000 test reviews through a plain `pipeline`, batch 64 "
                                   "(284 reviews/s) | 88 s |")
    assert row(text, "Total") == "| Total | | 4,497 s (75 min) |"
    assert "| `hidden_size` | `64` |" in text  # the chosen classifier's arguments

    # Use and limitations.
    assert 'pipeline("text-classification", model=imdb_lstm.DEFAULT_MODEL)' in text
    assert 'imdb-lstm-predict "A wonderful' in text
    assert f"Reviews longer than {max_length} tokens are cut from the front" in text
    for words in ("tweets", "product reviews", "sarcasm", "2017-era design", "fine-tuned transformers"):
        assert words.lower() in text.lower(), words


def test_the_card_says_what_training_added_to_cross_entropy_and_says_nothing_for_a_plain_run(sample_model_dir,
                                                                                              default_dir, tmp_path):
    arguments = json.loads((sample_model_dir / "run_info.json").read_text())["arguments"]
    assert not arguments["training"].get("vat_epsilon") and not arguments["training"].get("ema_decay")
    plain = render_default_model_card(default_dir).text
    assert "| Training |" not in plain

    arguments["training"].update(vat_epsilon=5.0, vat_batch_size=32, vat_splits="train,unsupervised",
                                 normalize_embeddings="every_step", ema_decay=0.999, adversarial_epsilon=0.0)
    model_dir = make_default_model_dir(sample_model_dir, tmp_path / "vat_model", arguments=arguments)
    text = render_default_model_card(model_dir).text
    training = row(text, "Training")
    assert "virtual adversarial training (Miyato et al., 2017) on unlabelled texts of IMDB's `train` and " \
           "`unsupervised`, validation and test texts left out (perturbation norm ε 5, 32 reviews a step)" in training
    assert "normalised at every step" in training and "moving average of the weights (decay 0.999)" in training
    assert "adversarial training on the labelled reviews" not in training  # ε 0: not used
    assert "| `vat_epsilon` | `5.0` |" in text and "| `ema_decay` | `0.999` |" in text  # and in the arguments


def test_an_ensembles_training_row_says_how_its_members_were_joined_then_how_each_was_trained():
    run_info = {"arguments": {"training": {"vat_epsilon": 3.0, "ema_decay": 0.999}},
                "ensemble": {"members": ["seed42", "seed43"]}}
    text = describe_training(run_info)
    assert text.startswith("An ensemble of 2 classifiers trained apart (seed42, seed43), merged into one whose "
                           "recurrent logits are the mean of theirs")
    assert "Each member: cross-entropy on the labelled reviews, with virtual adversarial training" in text
    assert describe_training({"arguments": {"training": {}}, "ensemble": {"members": ["a", "b"]}}).endswith(
        "Each member: cross-entropy on the labelled reviews")
    assert describe_training({"arguments": {"training": {}}}) is None


@pytest.mark.parametrize("network, expected", [
    ({"cell": "lstm", "bidirectional": False, "hidden_size": 128}, "an LSTM (128 units), then max"),
    ({"cell": "lstm", "bidirectional": True, "hidden_size": 256}, "a bidirectional LSTM (256 units per direction)"),
    ({"cell": "gru", "bidirectional": False, "hidden_size": 64, "num_layers": 2}, "a 2-layer GRU (64 units), then"),
])
def test_the_architecture_line_counts_units_per_direction_only_for_a_bidirectional_network(network, expected):
    config = {"encoder": "rnn", "num_layers": 1, "pooling": "max_mean", **network}
    assert describe_architecture(config).startswith(expected)


def test_default_card_metadata_is_a_model_index_the_hub_reads(default_dir, tmp_path):
    render_default_model_card(default_dir).save(tmp_path / "README.md")
    card = ModelCard.load(tmp_path / "README.md")

    assert card.data.license == "apache-2.0" and card.data.language == "en"
    assert card.data.pipeline_tag == "text-classification" and card.data.library_name == "transformers"
    assert card.data.datasets == ["stanfordnlp/imdb"]
    assert {"sentiment-analysis", "imdb", "custom_code"} <= set(card.data.tags)
    assert card.data.model_name == DEFAULT_MODEL_NAME
    reported = {result.metric_type: result.metric_value for result in card.data.eval_results}
    assert reported == {key: DEFAULT_EVAL_RESULTS[f"test_{key}"] for key in ("accuracy", "tpr", "tnr", "fnr", "fpr")}
    assert {(r.dataset_type, r.dataset_split, r.task_type) for r in card.data.eval_results} == {
        ("stanfordnlp/imdb", "test", "text-classification")}
    assert "model-index" in (tmp_path / "README.md").read_text()


def test_default_card_for_a_hub_repo_and_through_render_model_card(default_dir):
    assert is_default_model_dir(default_dir)
    card = render_model_card(default_dir, "tester/imdb-lstm-default", explain_example=False)

    assert card.text.startswith("\n<!-- Rendered by imdb_lstm.cards.render_default_model_card")
    assert "# tester/imdb-lstm-default" in card.text and "## How it was built" in card.text
    assert 'pipeline("text-classification", model="tester/imdb-lstm-default", trust_remote_code=True)' in card.text
    assert "imdb_lstm.DEFAULT_MODEL" in card.text  # and the package's own copy
    assert card.data.model_name == "tester/imdb-lstm-default"
    assert "## Evaluation" not in card.text  # not the ordinary card


def test_default_card_without_optional_records(sample_model_dir, tmp_path):
    """No serving measurement, a test set that is not IMDB's full one: the card says what it has, nothing more."""
    model_dir = make_default_model_dir(sample_model_dir, tmp_path / "default_model", serving=None)
    eval_results = {**DEFAULT_EVAL_RESULTS, "test_samples": 1000}
    del eval_results["test_recurrent_accuracy"], eval_results["test_precision"], eval_results["test_f1"]
    (model_dir / "eval_results.json").write_text(json.dumps(eval_results))
    text = render_default_model_card(model_dir).text

    assert "Speed, serving" not in text and "recurrent part alone (n-gram" not in text and "Precision" not in text
    assert "1,000 reviews of a test split (not the full 25,000-review IMDB test split" in text
    assert row(text, "Accuracy") == "| Accuracy | 0.9234 |"


def test_default_card_refuses_a_folder_without_test_metrics_or_build_record(sample_model_dir, default_dir):
    eval_results = {key: value for key, value in DEFAULT_EVAL_RESULTS.items()
                    if key not in ("test_tpr", "test_fpr")}
    (default_dir / "eval_results.json").write_text(json.dumps(eval_results))
    with pytest.raises(ValueError, match=r"eval_results.json has no test_tpr, test_fpr: .*imdb-lstm-build-default"):
        render_default_model_card(default_dir)
    with pytest.raises(ValueError, match=r"has no test_tpr, test_fpr"):
        render_model_card(default_dir, "tester/x")  # the same folder through the ordinary entry point

    # An ordinary training folder is not a build: a clear refusal, and render_model_card still renders it.
    assert not is_default_model_dir(sample_model_dir)
    with pytest.raises(ValueError, match=r"run_info.json is missing or has no `stages`.*render_model_card"):
        render_default_model_card(sample_model_dir)


def test_ordinary_card_says_which_end_of_a_long_review_is_cut(sample_model_dir):
    tokenizer_config = json.loads((sample_model_dir / "tokenizer_config.json").read_text())
    text = render_model_card(sample_model_dir, "tester/x", explain_example=False).text

    assert tokenizer_config["truncation_side"] == "left"  # the shipped recipe keeps the ending
    assert f"{tokenizer_config['model_max_length']} tokens (`tokenizer.model_max_length`); longer reviews are cut " \
           "from the front (their ending is kept)" in text
    assert "cut at the end" not in text
    assert "## Evaluation" in text and "## How it was built" not in text


# ------------------------------------------------------------------------ cards of models of the user's own data

GENRES = sorted(PLANTED)


def train_own_data(output_dir: Path, *flags: str) -> Path:
    train_command.main([*flags, *TINY_FINETUNING, "--output_dir", str(output_dir)])
    return output_dir


@pytest.fixture(scope="module")
def planted_csvs(tmp_path_factory) -> Path:
    return write_multi_label_and_regression_csvs(tmp_path_factory.mktemp("planted"), train_count=80, test_count=20)


@pytest.fixture(scope="module")
def three_class_dir(tmp_path_factory) -> Path:
    """Three genres from a folder of CSVs, named and described at training."""
    data = write_three_class_csvs(tmp_path_factory.mktemp("genres"), train_count=80, test_count=20)
    return train_own_data(tmp_path_factory.mktemp("genre_model"), "--dataset", str(data), "--text_column", "review",
                          "--label_column", "genre", "--dataset_name", "Planted genres",
                          "--dataset_description", "Sample reviews, each given a genre whose word is planted.")


@pytest.fixture(scope="module")
def two_class_dir(tmp_path_factory) -> Path:
    """Two genres (string labels) of the user's own data: the binary rates, named by the labels."""
    data = write_three_class_csvs(tmp_path_factory.mktemp("two_genres"), train_count=80, test_count=20)
    for split in ("train", "test"):
        path = data / f"{split}.csv"
        Dataset.from_csv(str(path)).filter(lambda row: row["genre"] != "horror").to_csv(str(path))
    return train_own_data(tmp_path_factory.mktemp("two_genre_model"), "--dataset", str(data), "--text_column",
                          "review", "--label_column", "genre", "--dataset_name", "Two planted genres")


@pytest.fixture(scope="module")
def multi_label_dir(planted_csvs, tmp_path_factory) -> Path:
    """Multi-label from --data_files given as absolute paths, the data neither named nor described."""
    return train_own_data(tmp_path_factory.mktemp("multi_model"), "--dataset", "csv", "--data_files",
                          f"train={planted_csvs / 'train.csv'}", f"test={planted_csvs / 'test.csv'}",
                          "--text_column", "review", "--label_column", "genres", "--problem_type",
                          "multi_label_classification")


@pytest.fixture(scope="module")
def regression_dir(planted_csvs, tmp_path_factory) -> Path:
    return train_own_data(tmp_path_factory.mktemp("regression_model"), "--dataset", str(planted_csvs),
                          "--text_column", "review", "--label_column", "intensity", "--problem_type", "regression")


def saved(model_dir: Path, name: str) -> dict:
    return json.loads((model_dir / name).read_text())


def metric_row_value(text: str, name: str) -> str:
    """The value cell of the card's metric row `name`."""
    return row(text, name).split(" | ")[-1].rstrip(" |")


def reported(card: ModelCard) -> dict:
    """{(metric type, its arguments): value} of the card's model-index."""
    return {(result.metric_type, json.dumps(result.metric_args, sort_keys=True)): result.metric_value
            for result in card.data.eval_results}


def test_three_class_card_shows_labels_metrics_data_and_an_explained_test_review(three_class_dir, tmp_path):
    eval_results = saved(three_class_dir, "eval_results.json")
    card = render_model_card(three_class_dir, "tester/genres")
    text = card.text

    assert text.startswith("\n<!-- Rendered by imdb_lstm.cards.render_labelled_model_card")
    assert "movie-review sentiment" not in text and "NEGATIVE" not in text  # not IMDB's card
    assert [row(text, str(i)) for i in range(3)] == [f"| {i} | {genre} |" for i, genre in enumerate(GENRES)]
    assert metric_row_value(text, "Accuracy") == f"{eval_results['test_accuracy']:.4f}"
    assert metric_row_value(text, "Macro-F1") == f"{eval_results['test_macro_f1']:.4f}"
    for genre in GENRES:
        values = [eval_results[f"test_{measure}_{genre}"] for measure in ("precision", "recall", "f1")]
        assert f"\n| {genre} | " + " | ".join(f"{value:.4f}" for value in values) + " |\n" in text, genre
    matrix = eval_results["test_confusion_matrix"]
    assert row(text, "True \\ predicted") == "| True \\ predicted | comedy | drama | horror |"
    assert "\n".join(f"| {genre} | " + " | ".join(str(count) for count in counts) + " |"
                     for genre, counts in zip(GENRES, matrix)) in text
    assert "![Confusion matrix on the test split](confusion_matrix.png)" in text

    # The data as described at training, its split sizes and the command, without the machine's paths.
    assert "Sample reviews, each given a genre whose word is planted." in text
    assert row(text, "Name") == "| Name | Planted genres |"
    assert row(text, "Splits") == "| Splits | train 72, validation 8, test 20 texts |"
    assert row(text, "Columns") == "| Columns | text `review`; labels `genre` |"
    assert "has not been described" not in text and str(tmp_path.parent) not in text

    # The first test review explained, with its label in the data and the recorded prediction.
    first = json.loads((three_class_dir / "test_predictions.jsonl").read_text().splitlines()[0])
    assert f"The first text of the test split (in the data: {GENRES[first['label']]})" in text
    assert f"The model calls it **{GENRES[first['prediction']]}**" in text
    assert "![The first test text" in text and (three_class_dir / "example_explained.png").stat().st_size > 0

    # Metadata: the task, the named data and the test results the Hub shows.
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    assert loaded.data.pipeline_tag == "text-classification" and loaded.data.datasets == ["Planted genres"]
    assert loaded.data.license is None and loaded.data.model_name == "tester/genres"
    assert reported(loaded) == {
        ("accuracy", "null"): eval_results["test_accuracy"],
        ("f1", '{"average": "macro"}'): eval_results["test_macro_f1"],
        ("precision", '{"average": "macro"}'): eval_results["test_macro_precision"],
        ("recall", '{"average": "macro"}'): eval_results["test_macro_recall"],
    }
    assert {(r.task_name, r.dataset_name, r.dataset_split) for r in loaded.data.eval_results} == {
        ("Text classification", "Planted genres", "test")}


def test_two_class_card_of_own_data_names_the_positive_label(two_class_dir):
    eval_results = saved(two_class_dir, "eval_results.json")
    card = render_model_card(two_class_dir, "tester/two", explain_example=False, license="mit")
    text = card.text
    assert card.data.license == "mit" and card.data.datasets == ["Two planted genres"]

    assert metric_row_value(text, "Accuracy") == f"{eval_results['test_accuracy']:.4f}"
    assert metric_row_value(text, "Precision of drama") == f"{eval_results['test_precision']:.4f}"
    assert metric_row_value(text, "Recall of drama (TPR)") == f"{eval_results['test_tpr']:.4f}"
    assert metric_row_value(text, "Recall of comedy (TNR)") == f"{eval_results['test_tnr']:.4f}"
    assert metric_row_value(text, "F1 of drama") == f"{eval_results['test_f1']:.4f}"
    cells = [eval_results[f"test_{cell}"] for cell in ("tn", "fp", "fn", "tp")]
    assert row(text, "comedy") == f"| comedy | {cells[0]} | {cells[1]} |"
    assert row(text, "drama") == f"| drama | {cells[2]} | {cells[3]} |"
    assert "No licence is given" not in text


def test_multi_label_card_reports_micro_and_macro_f1_per_label_and_the_threshold(multi_label_dir, planted_csvs,
                                                                                caplog):
    eval_results = saved(multi_label_dir, "eval_results.json")
    threshold = saved(multi_label_dir, "config.json")["multilabel_threshold"]
    with caplog.at_level(logging.INFO, logger="imdb_lstm.cards"):
        card = render_model_card(multi_label_dir, "tester/multi")
    text = card.text

    assert "A multi-label text classifier" in text and f"above\n{threshold:.2f}" in text
    assert metric_row_value(text, "Micro-F1") == f"{eval_results['test_micro_f1']:.4f}"
    assert metric_row_value(text, "Macro-F1") == f"{eval_results['test_macro_f1']:.4f}"
    assert metric_row_value(text, "Decision threshold (chosen on validation)") == f"{threshold:.2f}"
    for genre in GENRES:
        values = [eval_results[f"test_{measure}_{genre}"] for measure in ("precision", "recall", "f1")]
        assert row(text, genre) == f"| {genre} | " + " | ".join(f"{value:.4f}" for value in values) + " |"
    assert f"> {threshold:.2f}]" in text  # the usage example applies the threshold
    assert reported(card)[("f1", '{"average": "micro"}')] == eval_results["test_micro_f1"]
    assert card.data.datasets is None  # neither named nor a Hub dataset

    # Neither named nor described: the card names the files (never their folder on this machine) and asks.
    assert "*The data has not been described yet.*" in text and "`--dataset_name`" in text
    assert row(text, "Read from") == "| Read from | the csv files `train=train.csv`, `test=test.csv` |"
    assert str(planted_csvs) not in text and str(multi_label_dir) not in text
    # The explained example: drawn where imdb_lstm.explain explains multi-label models, else left out with a note.
    if "## Why this verdict" in text:
        assert (multi_label_dir / "example_explained.png").is_file()
    else:
        assert "does not explain multi_label_classification models" in caplog.text


def test_regression_card_reports_errors_and_correlations_with_the_data_given_at_push_time(regression_dir):
    eval_results = saved(regression_dir, "eval_results.json")
    card = render_model_card(regression_dir, "tester/intensity", explain_example=False,
                             dataset_name="someone/superb-intensity",
                             dataset_description="How many times a review says superb.")
    text = card.text

    assert "predicts the value of `intensity`" in text and row(text, "0") == "| 0 | `intensity` |"
    for name, key in (("Mean squared error", "mse"), ("Mean absolute error", "mae"),
                      ("Pearson correlation", "pearson"), ("Spearman correlation", "spearman")):
        assert metric_row_value(text, name) == f"{eval_results[f'test_{key}']:.4f}", name
    assert reported(card) == {(metric_type, "null"): eval_results[f"test_{key}"] for metric_type, key in (
        ("mse", "mse"), ("mae", "mae"), ("pearsonr", "pearson"), ("spearmanr", "spearman"))}
    assert card.data.datasets == ["someone/superb-intensity"]  # a Hub id given at push time
    assert "How many times a review says superb." in text and "has not been described" not in text
    assert 'function_to_apply="none"' in text and "Accuracy" not in text


def test_a_two_label_imdb_model_keeps_its_card_unless_its_data_is_named(sample_model_dir):
    imdb_card = render_model_card(sample_model_dir, "tester/x", explain_example=False)
    named = render_model_card(sample_model_dir, "tester/x", explain_example=False, dataset_name="My reviews")

    assert imdb_card.text.startswith("\n<!-- Rendered by imdb_lstm.cards.render_model_card")
    assert named.text.startswith("\n<!-- Rendered by imdb_lstm.cards.render_labelled_model_card")
    assert row(named.text, "Recall of POSITIVE (TPR)") and named.data.datasets == ["My reviews"]


def test_a_card_of_own_data_refuses_missing_or_mismatched_test_metrics(regression_dir, tmp_path):
    model_dir = Path(shutil.copytree(regression_dir, tmp_path / "model"))
    eval_results = saved(model_dir, "eval_results.json")
    (model_dir / "eval_results.json").write_text(json.dumps(
        {key: value for key, value in eval_results.items() if not key.startswith("test_")}))
    with pytest.raises(ValueError, match=r"has no test metrics: .*do_predict"):
        render_model_card(model_dir, "tester/x", explain_example=False)

    (model_dir / "eval_results.json").write_text(json.dumps(
        {"test_accuracy": 0.9, "test_macro_f1": 0.8, "test_loss": 0.3}))
    with pytest.raises(ValueError, match=r"has no test_mse, test_mae, test_pearson, test_spearman, which the card "
                                         r"of a regression reports"):
        render_model_card(model_dir, "tester/x", explain_example=False)


def test_push_takes_the_datas_name_description_and_licence():
    (args,) = parse_push_args(["--model_dir", "out", "--dataset_name", "you/genres", "--dataset_description",
                               "Genres.", "--license", "mit", "--explain_example", "false"])
    assert (args.dataset_name, args.dataset_description, args.license, args.explain_example) == (
        "you/genres", "Genres.", "mit", False)
