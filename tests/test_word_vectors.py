"""imdb-lstm-word-vectors (imdb_lstm.commands.word_vectors) through the real command, on a tiny IMDB with a test
review planted in its unlabelled split: the vectors never see a validation or test review, whatever split repeats
it; a plain text file excludes nothing unless told which labelled dataset to leave out; a split expression that
reads `test` is refused."""

import json
import logging

import pytest
from gensim.models import KeyedVectors
from test_data import PLANTED_WORD, disguised, marker, planted_imdb_folder

from imdb_lstm.commands import word_vectors as command
from imdb_lstm.data import DataError, held_out_texts, load_imdb, make_splits

TINY = ["--dimension", "8", "--epochs", "1", "--min_count", "1", "--workers", "1"]


def vocabulary(path) -> set[str]:
    return set(KeyedVectors.load(str(path)).key_to_index)


def test_the_vectors_never_see_a_validation_or_test_review(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="imdb_lstm")
    folder, unlabelled = planted_imdb_folder(tmp_path / "planted_imdb", monkeypatch)
    output = tmp_path / "vectors.kv"
    report = command.main(["--dataset", str(folder), "--output", str(output), *TINY])

    # The default split protocol of imdb-lstm-train: 10 % of train held out for validation, seed 42.
    splits = make_splits(load_imdb(str(folder)), "canonical", 0.1, 42)
    words = vocabulary(output)
    training_markers = {text.split()[-1] for text in splits["train"]["text"]}
    validation_markers = {marker("zqtrain", i) for i in range(40)} - training_markers
    assert len(validation_markers) == 4 and not validation_markers & words
    assert PLANTED_WORD not in words  # the disguised copy of a test review in the unlabelled split
    # Everything else was read: the training part of train and every other unlabelled review.
    assert training_markers <= words
    assert {marker("zqunlabelled", i) for i in range(20)} <= words
    assert report["texts"] == 36 + 20
    assert report["excluded_texts"] == len(set(held_out_texts(str(folder)))) == 24
    assert report["excluded_from"] == str(folder)
    assert json.loads((tmp_path / "vectors.kv.json").read_text())["excluded_texts"] == 24
    assert "the 24 validation and test reviews of" in caplog.text
    assert "5 of the 61 texts read left out" in caplog.text

    # Another split protocol holds out other reviews, and those are the ones left out.
    pooled = command.main(["--dataset", str(folder), "--output", str(tmp_path / "pooled.kv"), "--dataset_splits",
                           "train", "--exclude_split_protocol", "50/25/25", "--exclude_split_seed", "7", *TINY])
    kept = {text.split()[-1] for text in make_splits(load_imdb(str(folder)), "50/25/25", seed=7)["train"]["text"]}
    train_markers = {marker("zqtrain", i) for i in range(40)}
    assert vocabulary(tmp_path / "pooled.kv") & train_markers == kept & train_markers
    assert pooled["excluded_texts"] == 30


def test_a_plain_text_file_excludes_nothing_unless_told_which_dataset_to_leave_out(tmp_path, monkeypatch, caplog):
    folder, unlabelled = planted_imdb_folder(tmp_path / "planted_imdb", monkeypatch)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(unlabelled) + "\n")
    source = ["--dataset", "text", "--data_files", str(corpus), "--dataset_splits", "train", *TINY]

    report = command.main([*source, "--output", str(tmp_path / "all.kv")])
    assert "--dataset text has no labelled train and test splits" in caplog.text and "--exclude_dataset" in caplog.text
    assert report["excluded_texts"] is None and report["texts"] == 21
    assert PLANTED_WORD in vocabulary(tmp_path / "all.kv")  # nothing left out: the planted copy is read

    report = command.main([*source, "--output", str(tmp_path / "clean.kv"), "--exclude_dataset", str(folder)])
    assert report["excluded_texts"] == 24 and report["texts"] == 20
    assert PLANTED_WORD not in vocabulary(tmp_path / "clean.kv")


@pytest.mark.parametrize("splits", ["train+test", "test[:1]", "unsupervised,TEST", "train[:10]+Test[50%:]"])
def test_a_split_expression_that_reads_test_is_refused(tmp_path, splits):
    with pytest.raises(DataError, match="test reviews must never shape the word vectors"):
        command.main(["--dataset", "sample", "--dataset_splits", splits, "--output", str(tmp_path / "v.kv"), *TINY])
    assert not (tmp_path / "v.kv").exists()


def test_the_disguise_is_a_different_spelling_of_the_same_review():
    from imdb_lstm.data import normalised_text

    text = "A fine film, truly fine."
    assert disguised(text) != text and normalised_text(disguised(text)) == normalised_text(text)


def test_texts_a_caller_passes_are_left_out_instead(tmp_path, monkeypatch):
    """The default model's build passes its own run's held-out reviews (tests/test_build_default.py): those, and
    only those, are left out; --exclude_dataset is not consulted."""
    from imdb_lstm.word_vectors import WordVectorArguments, learn_word_vectors

    folder, unlabelled = planted_imdb_folder(tmp_path / "planted_imdb", monkeypatch)
    arguments = WordVectorArguments(output=str(tmp_path / "v.kv"), dataset=str(folder), dataset_splits="unsupervised",
                                    dimension=8, epochs=1, min_count=1, workers=1)
    report = learn_word_vectors(arguments, excluded_texts=[unlabelled[0].upper()])
    words = vocabulary(tmp_path / "v.kv")
    assert report["excluded_texts"] == 1 and report["texts"] == 20
    assert marker("zqunlabelled", 0) not in words and PLANTED_WORD in words
