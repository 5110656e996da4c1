"""Prediction for people: the predict command's text and JSON output, files and stdin."""

import io
import json

import pytest
from helpers import tiny_model

from imdb_lstm.commands.predict import EXAMPLE_REVIEW, format_line, main
from imdb_lstm.predict import load_classifier, predict


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    model, tokenizer = tiny_model()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_text_output(model_dir, capsys):
    texts = [EXAMPLE_REVIEW, "Great film!", "Dull.", ""]
    assert main(["--model", str(model_dir), *texts]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    model, tokenizer = load_classifier(str(model_dir))
    expected = predict(model, tokenizer, texts)
    assert len(lines) == len(texts)
    for line, result in zip(lines, expected):
        label, p_neg, p_pos = line.split()
        assert label == result["label"] == max(("NEGATIVE", "POSITIVE"), key=lambda l: result[f"p_{l.lower()}"])
        # Printed with two decimals: each within rounding of the Python API's probability.
        assert p_neg.startswith("p(neg)=") and p_pos.startswith("p(pos)=")
        assert abs(float(p_neg.removeprefix("p(neg)=")) - result["p_negative"]) <= 0.005 + 1e-9
        assert abs(float(p_pos.removeprefix("p(pos)=")) - result["p_positive"]) <= 0.005 + 1e-9


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


@pytest.mark.float_sensitive
def test_file_and_stdin_are_batched_in_order(model_dir, tmp_path, capsys, monkeypatch):
    """Reviews are sorted by length into batches; each answer must still belong to its own review. The reviews
    differ in length and in what they say, so an answer given to the wrong review shows."""
    reviews = [f"review number {i} " + "good " * (i % 7) + "bad " * (i % 3) + "film " * (i % 11) for i in range(150)]
    path = tmp_path / "reviews.txt"
    path.write_text("\n".join(reviews) + "\n")
    model, tokenizer = load_classifier(str(model_dir))
    one_by_one = [predict(model, tokenizer, [review])[0]["p_positive"] for review in reviews]
    assert len({round(p, 4) for p in one_by_one}) > 100  # answers differ, so a mix-up would show

    assert main(["--model", str(model_dir), "--json", "--batch_size", "16", "--file", str(path)]) == 0
    from_file = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in from_file] == reviews
    assert [r["p_positive"] for r in from_file] == pytest.approx(one_by_one, abs=1e-5)
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(reviews[:5]) + "\n"))
    assert main(["--model", str(model_dir), "--json"]) == 0
    from_stdin = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # Batches of 16 and of 64 take different kernel paths, so probabilities agree to float32 rounding, not bit for
    # bit; the first five reviews' answers differ from one another by far more than 1e-5.
    assert [(r["text"], r["label"]) for r in from_stdin] == [(r["text"], r["label"]) for r in from_file[:5]]
    for key in ("p_positive", "p_negative"):
        assert [r[key] for r in from_stdin] == pytest.approx([r[key] for r in from_file[:5]], abs=1e-5)


def test_missing_model_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for model in (str(tmp_path / "nothing"), "./nothing", "../nothing/here"):
        assert main(["--model", model, "hello"]) == 2
        err = capsys.readouterr().err
        assert f"cannot load a model from {model!r}: no such folder and not a Hub repo id" in err, err
        assert "Traceback" not in err and "Repo id must be" not in err
