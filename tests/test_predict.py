"""Prediction for people: the predict command's text and JSON output, files (.txt, .csv, .jsonl, .parquet) and
stdin, `--output`, warnings and progress, models of any number of labels, and the model shipped in the package."""

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from helpers import tiny_model

from imdb_lstm.commands.predict import EMPTY_WARNINGS_SHOWN, EXAMPLE_REVIEW, PROGRESS_AT, format_line, main
from imdb_lstm.predict import DefaultModelMissingError, load_classifier, predict


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


# --- the model shipped in the package (imdb_lstm.DEFAULT_MODEL) -------------------------------------------------


def test_default_model_is_the_folder_inside_the_package():
    import imdb_lstm

    assert imdb_lstm.DEFAULT_MODEL == imdb_lstm.predict.DEFAULT_MODEL
    assert Path(imdb_lstm.DEFAULT_MODEL) == Path(imdb_lstm.__file__).resolve().parent / "default_model"


def test_no_model_named_loads_the_default(model_dir, monkeypatch, capsys):
    monkeypatch.setattr("imdb_lstm.predict.DEFAULT_MODEL", str(model_dir))
    (default,) = predict(*load_classifier(), ["Great film!"])
    (named,) = predict(*load_classifier(str(model_dir)), ["Great film!"])
    assert default["label"] == named["label"] and default["p_positive"] == pytest.approx(named["p_positive"])
    assert main(["Great film!"]) == 0
    assert main(["--model", str(model_dir), "Great film!"]) == 0
    default, named = capsys.readouterr().out.splitlines()
    assert default == named


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


@pytest.mark.parametrize("damage", ["no folder", "no weights", "weights cut in the header", "weights cut in half"])
def test_an_install_without_its_model_files_says_to_reinstall(damage, model_dir, tmp_path, monkeypatch, capsys):
    """A wheel built without the model, or a download cut short: the error blames the install and says what to do,
    from the Python API and from the command."""
    folder = tmp_path / "default_model"
    if damage != "no folder":
        copy_model(model_dir, folder)
    if damage == "no weights":
        (folder / "model.safetensors").unlink()
    weights = folder / "model.safetensors"
    if damage == "weights cut in the header":
        weights.write_bytes(weights.read_bytes()[:100])  # safetensors: "invalid header length"
    if damage == "weights cut in half":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # "incomplete metadata"
    monkeypatch.setattr("imdb_lstm.predict.DEFAULT_MODEL", str(folder))
    with pytest.raises(DefaultModelMissingError) as caught:
        load_classifier()
    message = str(caught.value)
    assert str(folder) in message and "Reinstall imdb-lstm" in message and "--model FOLDER" in message, message
    assert {"no folder": "no folder", "no weights": "has no model.safetensors",
            "weights cut in the header": "truncated or corrupt",
            "weights cut in half": "incomplete metadata, file not fully covered): the installed file is truncated "
            "or corrupt"}[damage] in message, message
    assert main(["hello"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The default model") and "Reinstall imdb-lstm" in err and "Traceback" not in err


# --- the batch tool: files in, a file out --------------------------------------------------------------------------

REVIEWS = ["A wonderful, moving film.", "Dull, dull, dull.", "The best film of the year, funny and wise."]


def write_reviews(path: Path, reviews: list[str], column: str = "text") -> Path:
    """`reviews` in the file kind of `path`'s extension, under `column` (with a second column beside it)."""
    rows = [{"id": i, column: review} for i, review in enumerate(reviews)]
    if path.suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["id", column])
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_text("\n".join(reviews) + "\n")
    return path


@pytest.mark.parametrize("name", ["reviews.csv", "reviews.jsonl", "reviews.json", "reviews.parquet", "reviews.txt"])
def test_file_kinds_are_read_by_extension(name, model_dir, tmp_path, capsys):
    path = write_reviews(tmp_path / name, REVIEWS, column="review")
    text_column = [] if name.endswith(".txt") else ["--text_column", "review"]
    assert main(["--model", str(model_dir), "--json", "--file", str(path), *text_column]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [record["text"] for record in records] == REVIEWS
    expected = predict(*load_classifier(str(model_dir)), REVIEWS)
    assert [record["label"] for record in records] == [result["label"] for result in expected]


@pytest.mark.parametrize("name", ["reviews.csv", "reviews.jsonl", "reviews.parquet"])
def test_a_missing_column_names_the_columns_the_file_has(name, model_dir, tmp_path, capsys):
    path = write_reviews(tmp_path / name, REVIEWS, column="review")
    assert main(["--model", str(model_dir), "--file", str(path)]) == 2  # --text_column left at "text"
    err = capsys.readouterr().err
    assert f"{path} has no column 'text' (its columns: id, review)" in err and "--text_column" in err, err


def test_a_column_that_is_not_text_is_refused_with_its_row(model_dir, tmp_path, capsys):
    path = tmp_path / "reviews.jsonl"
    path.write_text('{"text": "Fine."}\n{"text": 4}\n')
    assert main(["--model", str(model_dir), "--file", str(path)]) == 2
    assert "row 2 of" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_output_writes_one_row_per_review(suffix, model_dir, tmp_path, capsys):
    output = tmp_path / "out" / f"verdicts{suffix}"
    assert main(["--model", str(model_dir), "--output", str(output), *REVIEWS]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and f"wrote 3 verdicts to {output}" in captured.err
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in output.read_text().splitlines()]
    else:
        with open(output, newline="", encoding="utf-8") as handle:
            rows = [{**row, "p_negative": float(row["p_negative"]), "p_positive": float(row["p_positive"])}
                    for row in csv.DictReader(handle)]
    assert [list(row) for row in rows] == [["text", "label", "p_negative", "p_positive"]] * 3
    expected = predict(*load_classifier(str(model_dir)), REVIEWS)
    assert [row["text"] for row in rows] == REVIEWS
    assert [row["label"] for row in rows] == [r["label"] for r in expected]
    assert [row["p_positive"] for row in rows] == pytest.approx([r["p_positive"] for r in expected], abs=1e-6)


def test_an_output_of_unknown_kind_is_refused_before_any_work(model_dir, tmp_path, capsys):
    assert main(["--model", str(model_dir), "--output", str(tmp_path / "verdicts.xlsx"), "Fine."]) == 2
    assert "--output" in capsys.readouterr().err and not (tmp_path / "verdicts.xlsx").exists()


def test_progress_bar_only_for_long_inputs(model_dir, tmp_path, capsys):
    assert main(["--model", str(model_dir), *REVIEWS]) == 0
    assert capsys.readouterr().err == ""
    path = write_reviews(tmp_path / "many.txt", [f"film {i} was good" for i in range(PROGRESS_AT)])
    assert main(["--model", str(model_dir), "--batch_size", "256", "--file", str(path)]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == PROGRESS_AT
    assert "classifying" in captured.err and f"{PROGRESS_AT}/{PROGRESS_AT}" in captured.err, captured.err[-500:]


def test_empty_reviews_are_warned_about(model_dir, capsys):
    assert main(["--model", str(model_dir), "Great film!", "", "   ", "<br />"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 4  # still answered, in order
    warnings = captured.err.splitlines()
    assert warnings == [
        "warning: review #2 is empty: its verdict is the model's no-evidence answer",
        "warning: review #3 is empty: its verdict is the model's no-evidence answer",
        "warning: review #4 has no words the model reads: its verdict is the model's no-evidence answer",
    ]
    assert main(["--model", str(model_dir), *[""] * 12]) == 0
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == EMPTY_WARNINGS_SHOWN + 1 and warnings[-1].startswith("warning: 2 more reviews are empty")


def test_no_review_and_a_terminal_on_stdin_is_an_error_not_a_wait(model_dir, monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal("never read\n"))
    with pytest.raises(SystemExit) as caught:
        main(["--model", str(model_dir)])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "no review given" in err and "--file" in err and "| imdb-lstm-predict" in err, err


# --- a model of more than two labels -------------------------------------------------------------------------------

GENRES = {0: "comedy", 1: "drama", 2: "horror"}


@pytest.fixture(scope="module")
def genre_model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("genres")
    model, tokenizer = tiny_model(id2label=GENRES)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_three_labels_are_named_from_the_models_config(genre_model_dir, tmp_path, capsys):
    assert main(["--model", str(genre_model_dir), *REVIEWS]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = predict(*load_classifier(str(genre_model_dir)), REVIEWS)
    for line, result in zip(lines, expected, strict=True):
        label, *probabilities = line.split()
        assert label == result["label"] in GENRES.values()
        assert [p.split("=")[0] for p in probabilities] == ["p(com)", "p(dra)", "p(hor)"]
        for p, genre in zip(probabilities, GENRES.values()):
            assert float(p.split("=")[1]) == pytest.approx(result[f"p_{genre}"], abs=0.005 + 1e-9)

    assert main(["--model", str(genre_model_dir), "--json", "--output", str(tmp_path / "v.csv"), *REVIEWS]) == 0
    assert main(["--model", str(genre_model_dir), "--json", *REVIEWS]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [list(record) for record in records] == [["text", "label", "p_comedy", "p_drama", "p_horror"]] * 3
    assert sum(records[0][f"p_{genre}"] for genre in GENRES.values()) == pytest.approx(1.0)
    with open(tmp_path / "v.csv", newline="", encoding="utf-8") as handle:
        assert csv.DictReader(handle).fieldnames == ["text", "label", "p_comedy", "p_drama", "p_horror"]


def test_format_line_spells_labels_out_when_three_letters_do_not_tell_them_apart():
    line = format_line({"label": "LABEL_1", "p_label_0": 0.25, "p_label_1": 0.75})
    assert line.split() == ["LABEL_1", "p(label_0)=0.25", "p(label_1)=0.75"]
    assert format_line({"label": "NEGATIVE", "p_negative": 0.93, "p_positive": 0.07}) == \
        "NEGATIVE  p(neg)=0.93  p(pos)=0.07"
