"""Labelled texts of every problem type (imdb_lstm.labelled_data, read through imdb_lstm.data.load_labelled): single-label names and class ids, multi-label
from a column of label lists or from several 0/1 columns, regression from float columns; the label set is the
training split's; bad input (a label training never saw, an empty label list, a non-numeric target, a missing
column, a file with a header only) is refused naming what was wrong and what to do. (Training on them:
tests/test_finetune.py.)"""

import pytest
from datasets import Dataset

from imdb_lstm.data import DataError
from imdb_lstm.data import load_labelled
from imdb_lstm.training.finetune import choose_labels


def write_csvs(folder, train: dict, test: dict):
    for name, columns in (("train", train), ("test", test)):
        Dataset.from_dict(columns).to_csv(str(folder / f"{name}.csv"))
    return str(folder)


def test_string_labels_become_sorted_class_ids_from_the_training_split(tmp_path):
    source = write_csvs(tmp_path, {"text": ["a", "b", "c"], "label": ["sports", "arts", "news"]},
                        {"text": ["d"], "label": ["news"]})
    splits, names = load_labelled(source)
    assert names == ["arts", "news", "sports"]
    assert splits["train"]["label"] == [2, 0, 1] and splits["test"]["label"] == [1]


def test_integer_class_ids_give_their_number_of_labels_without_num_labels(tmp_path):
    source = write_csvs(tmp_path, {"text": ["a", "b", "c"], "label": [0, 2, 1]}, {"text": ["d"], "label": [2]})
    splits, names = load_labelled(source)
    assert names is None
    fields = choose_labels(names, None, None, splits["train"]["label"])
    assert fields["id2label"] == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"} and "problem_type" not in fields


def test_multi_label_from_a_column_of_label_lists(tmp_path):
    source = write_csvs(tmp_path, {"text": ["a", "b", "c"], "topics": ["war, history", "love", "history"]},
                        {"text": ["d"], "topics": ["love,war"]})
    splits, names = load_labelled(source, label_column="topics", problem_type="multi_label_classification")
    assert names == ["history", "love", "war"]
    assert splits["train"]["label"] == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    assert splits["test"]["label"] == [[0.0, 1.0, 1.0]] and splits["test"].column_names == ["text", "label"]
    fields = choose_labels(names, None, "multi_label_classification")
    assert fields["problem_type"] == "multi_label_classification" and fields["id2label"][2] == "war"
    # A list feature (JSON lines, parquet) reads the same.
    Dataset.from_dict({"text": ["a", "b"], "topics": [["war", "history"], ["love"]]}).to_json(str(tmp_path / "t.jsonl"))
    Dataset.from_dict({"text": ["d"], "topics": [["love"]]}).to_json(str(tmp_path / "s.jsonl"))
    splits, names = load_labelled("json", label_column="topics", problem_type="multi_label_classification",
                                  data_files={"train": str(tmp_path / "t.jsonl"), "test": str(tmp_path / "s.jsonl")})
    assert names == ["history", "love", "war"] and splits["train"]["label"][0] == [1.0, 0.0, 1.0]


def test_multi_label_from_several_zero_one_columns(tmp_path):
    source = write_csvs(tmp_path, {"text": ["a", "b"], "funny": [1, 0], "sad": [1, 1]},
                        {"text": ["c"], "funny": [1], "sad": [0]})
    splits, names = load_labelled(source, problem_type="multi_label_classification", label_columns=["funny", "sad"])
    assert names == ["funny", "sad"]
    assert splits["train"]["label"] == [[1.0, 1.0], [0.0, 1.0]] and splits["test"]["label"] == [[1.0, 0.0]]


def test_regression_from_one_float_column_or_several(tmp_path):
    source = write_csvs(tmp_path, {"text": ["a", "b"], "score": [0.5, 4.25], "arousal": [1, 2]},
                        {"text": ["c"], "score": [3.0], "arousal": [3]})
    splits, names = load_labelled(source, label_column="score", problem_type="regression")
    assert names is None and splits["train"]["label"] == [0.5, 4.25]
    assert choose_labels(names, None, "regression", label_column="score")["id2label"] == {0: "score"}
    splits, names = load_labelled(source, problem_type="regression", label_columns=["score", "arousal"])
    assert names == ["score", "arousal"] and splits["test"]["label"] == [[3.0, 3.0]]


@pytest.mark.parametrize("train, test, flags, message", [
    ({"text": ["a", "b"], "label": ["x", "y"]}, {"text": ["c"], "label": ["z"]}, {},
     r"Split 'test' holds labels \['z'\] that the training split never has \(training has \['x', 'y'\]\)"),
    ({"text": ["a", "b"], "label": [0, 1]}, {"text": ["c"], "label": [2]}, {},
     r"Split 'test' holds labels \[2\] that the training split never has"),
    ({"text": ["a", "b"], "label": ["x", "x,y"]}, {"text": ["c"], "label": ["y,w"]},
     {"problem_type": "multi_label_classification"}, r"Split 'test' holds labels \['w'\]"),
    ({"text": ["a", "b"], "label": ["x", " , "]}, {"text": ["c"], "label": ["x"]},
     {"problem_type": "multi_label_classification"}, r"Row 1 of split 'train' has an empty label list"),
    ({"text": ["a", "b"], "label": ["1.5", "high"]}, {"text": ["c"], "label": ["2"]},
     {"problem_type": "regression"}, r"Row 1 of split 'train' has 'high' in column 'label', which is no number"),
    ({"text": ["a", "b"], "label": [0, -1]}, {"text": ["c"], "label": [0]}, {},
     r"holds the negative labels \[-1\] in training: integer labels are class ids 0..N-1"),
    ({"text": ["a", "b"], "f": [1, 0], "g": [0, 0]}, {"text": ["c"], "f": [1], "g": [0]},
     {"problem_type": "multi_label_classification", "label_columns": ["f", "g"]},
     r"Row 1 of split 'train' has 0 in every one of \['f', 'g'\]"),
    ({"text": ["a", "b"], "f": [1, 2], "g": [1, 1]}, {"text": ["c"], "f": [1], "g": [1]},
     {"problem_type": "multi_label_classification", "label_columns": ["f", "g"]},
     r"Column 'f' of split 'train' holds \[2.0\]: each of --label_columns is 0 or 1"),
    ({"text": ["a", "b"], "label": [0, 1]}, {"text": ["c"], "label": [0]}, {"label_column": "stars"},
     r"Split 'train' has no 'stars' column; its columns are \['text', 'label'\].*--label_column"),
    ({"text": ["a", "b"], "label": [0, 1]}, {"text": ["c"], "label": [0]}, {"label_columns": ["a", "b"]},
     r"--label_columns names several label columns, for --problem_type multi_label_classification"),
    ({"text": ["a", "b"], "label": [0, 1]}, {"text": ["c"], "label": [0]}, {"problem_type": "ranking"},
     r"--problem_type 'ranking': give one of single_label_classification, multi_label_classification, regression"),
])
def test_bad_labels_are_refused_naming_what_and_where(tmp_path, train, test, flags, message):
    source = write_csvs(tmp_path, train, test)
    with pytest.raises(DataError, match=message):
        load_labelled(source, **flags)


def test_a_csv_with_a_header_only_is_refused(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\n")
    (tmp_path / "test.csv").write_text("text,label\nfine,1\n")
    with pytest.raises(DataError, match=r"Split 'train' .*has no rows: there is nothing to train"):
        load_labelled("csv", data_files={"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")})
    with pytest.raises(DataError, match=r"Split 'train' .*has no rows"):
        load_labelled(str(tmp_path))  # the folder read by name
