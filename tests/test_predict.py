"""Prediction for people: the predict command's text and JSON output, files and stdin."""

import io
import json

import pytest
from helpers import tiny_model

from imdb_lstm.predict import EXAMPLE_REVIEW, format_line, main, predict


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    model, tokenizer = tiny_model()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_text_output(model_dir, capsys):
    assert main(["--model", str(model_dir), EXAMPLE_REVIEW, "Great film!"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        label, p_neg, p_pos = line.split()
        assert label in ("NEGATIVE", "POSITIVE")
        negative, positive = float(p_neg.split("=")[1]), float(p_pos.split("=")[1])
        assert abs(negative + positive - 1) <= 0.011
        assert (label == "POSITIVE") == (positive > negative)


def test_json_output_matches_the_python_api(model_dir, capsys):
    from imdb_lstm.predict import load_classifier

    assert main(["--model", str(model_dir), "--json", EXAMPLE_REVIEW]) == 0
    record = json.loads(capsys.readouterr().out)
    model, tokenizer = load_classifier(str(model_dir))
    expected = predict(model, tokenizer, [EXAMPLE_REVIEW])[0]
    assert record["text"] == EXAMPLE_REVIEW
    assert record["label"] == expected["label"]
    assert record["p_negative"] == pytest.approx(expected["p_negative"])
    assert format_line(expected).startswith(expected["label"])


def test_file_and_stdin_are_batched_in_order(model_dir, tmp_path, capsys, monkeypatch):
    reviews = [f"review number {i} " + "good " * (i % 7) + "bad " * (i % 3) for i in range(150)]
    path = tmp_path / "reviews.txt"
    path.write_text("\n".join(reviews) + "\n")
    assert main(["--model", str(model_dir), "--json", "--batch_size", "16", "--file", str(path)]) == 0
    from_file = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in from_file] == reviews
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(reviews[:5]) + "\n"))
    assert main(["--model", str(model_dir), "--json"]) == 0
    from_stdin = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert from_stdin == from_file[:5]


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "nothing"), "hello"]) == 2
    assert "cannot load a model" in capsys.readouterr().err
