"""Reliability: bad input gets a clear error or a sane answer; a killed training resumes to the same result; the
same seed gives the same run; weights only from safetensors; one loaded model serves several threads."""

import ast
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from datasets import Dataset
from helpers import sample_texts, tiny_model, tiny_tokenizer, truncate
from safetensors import SafetensorError
from safetensors.torch import load_file
from transformers import pipeline

from imdb_lstm import build_model, build_tokenizer
from imdb_lstm.data import DataError
from imdb_lstm.glove import GloveSourceError
from imdb_lstm.predict import load_classifier, predict
from imdb_lstm.commands.predict import main as predict_main

from imdb_lstm.training import common
from imdb_lstm.training import finetune as train

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

MAX_LENGTH = 64
REVIEW = "A wonderful, moving film with a brilliant cast. I loved every minute of it and would see it again!"


# ---------------------------------------------------------------------------------------------------------------------
# 1. Bad input: one table, each case a clear error that names the problem, or a sane answer.


@dataclass
class Env:
    """What the cases act on: a tiny saved model, loaded both ways, and a scratch folder."""

    model_dir: Path
    model: Any
    tokenizer: Any
    classify: Any  # transformers.pipeline("text-classification", ...)
    scratch: Path

    def folder_copy(self, name: str) -> Path:
        """A fresh copy of the saved model folder to break."""
        folder = self.scratch / name
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(self.model_dir, folder)
        return folder


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    model_dir = tmp_path_factory.mktemp("tiny-model")
    model, tokenizer = tiny_model(tiny_tokenizer(max_length=MAX_LENGTH))
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    model, tokenizer = load_classifier(str(model_dir))
    classify = pipeline("text-classification", model=str(model_dir), top_k=None, truncation=True)
    return Env(model_dir, model, tokenizer, classify, tmp_path_factory.mktemp("scratch"))


@dataclass
class Case:
    name: str
    act: Callable[[Env], Any]
    error: tuple[type[BaseException] | tuple, str | None] | None = None  # (type(s), regex the message must contain)
    check: Callable[[Any, Env], None] | None = None  # for a sane answer


# -- sane-answer checks


def one_answer(results, env):
    """predict(): one result, probabilities in [0, 1] that sum to 1, the label is the likelier one."""
    assert len(results) == 1
    p_neg, p_pos = results[0]["p_negative"], results[0]["p_positive"]
    assert 0 <= p_neg <= 1 and 0 <= p_pos <= 1 and abs(p_neg + p_pos - 1) < 1e-5
    assert results[0]["label"] == ("POSITIVE" if p_pos > p_neg else "NEGATIVE")


def no_evidence_answer(results, env):
    """Text with no tokens gets the model's answer for an empty review, whatever it looked like."""
    one_answer(results, env)
    empty = predict(env.model, env.tokenizer, "")[0]
    assert results[0]["p_positive"] == pytest.approx(empty["p_positive"], abs=1e-6)


def pipeline_scores(output) -> dict:
    """{label: score} from pipeline(top_k=None) on one text (transformers 5 wraps it in a one-item list)."""
    rows = output[0] if isinstance(output[0], list) else output
    return {row["label"]: row["score"] for row in rows}


def one_pipeline_answer(output, env):
    """pipeline(top_k=None) on one text: both labels, scores that sum to 1."""
    scores = pipeline_scores(output)
    assert set(scores) == {"NEGATIVE", "POSITIVE"}
    assert abs(sum(scores.values()) - 1) < 1e-5


def pipeline_agrees_with_predict(text):
    def check(output, env):
        one_pipeline_answer(output, env)
        expected = predict(env.model, env.tokenizer, text)[0]["p_positive"]
        assert pipeline_scores(output)["POSITIVE"] == pytest.approx(expected, abs=1e-5)

    return check


def long_review_is_cut(results, env):
    """A 1 MB review is answered from `model_max_length` tokens on the tokenizer's kept side: the same as its
    first 2,000 characters (truncation_side "right") or its last 2,000 (truncation_side "left")."""
    one_answer(results, env)
    kept = MEGABYTE_REVIEW[:2000] if env.tokenizer.truncation_side == "right" else MEGABYTE_REVIEW[-2000:]
    assert results[0]["p_positive"] == pytest.approx(predict(env.model, env.tokenizer, kept)[0]["p_positive"], abs=1e-6)


def many_in_input_order(results, env):
    """10,000 short texts: one answer each, in input order (two texts alternate, so must their answers)."""
    assert len(results) == len(TEN_THOUSAND)
    first, second = predict(env.model, env.tokenizer, TEN_THOUSAND[:2])
    assert first["p_positive"] != pytest.approx(second["p_positive"], abs=1e-4)  # the check below can fail
    for position in (0, 1, 2, 3, 4_999, 5_000, 9_998, 9_999):
        expected = first if position % 2 == 0 else second
        assert results[position]["p_positive"] == pytest.approx(expected["p_positive"], abs=1e-5)


def many_pipeline_answers(outputs, env):
    assert len(outputs) == len(TEN_THOUSAND)
    first, second = predict(env.model, env.tokenizer, TEN_THOUSAND[:2])
    for position in (0, 1, 9_998, 9_999):
        expected = first if position % 2 == 0 else second
        assert pipeline_scores(outputs[position])["POSITIVE"] == pytest.approx(expected["p_positive"], abs=1e-5)


def empty_batch(results, env):
    assert results == []


# -- inputs and broken artefacts

MEGABYTE_REVIEW = (REVIEW + " ") * (1_000_000 // (len(REVIEW) + 1) + 1)
WORLD_TEXT = "😀😀 great film 素晴らしい映画 فيلم رائع סרט נהדר 🎬"
TEN_THOUSAND = ["great film, loved it", "awful, boring and far too long"] * 5_000


def save_parquet_dataset(folder: Path, train: dict, test: dict) -> str:
    """A local dataset folder in the Hub parquet layout (train.parquet, test.parquet)."""
    folder.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(train).to_parquet(str(folder / "train.parquet"))
    Dataset.from_dict(test).to_parquet(str(folder / "test.parquet"))
    return str(folder)


def train_on(env, name, train_columns, test_columns=None):
    """Run the training script on a parquet folder (the test split like train unless given)."""
    folder = save_parquet_dataset(env.scratch / name, train_columns, test_columns or train_columns)
    return train.main(["--dataset", folder, "--output_dir", str(env.scratch / f"{name}-out")])


def train_on_aclimdb_without_test_reviews(env):
    """An aclImdb folder whose test/pos and test/neg are there but empty (an archive half extracted)."""
    root = env.scratch / "aclImdb"
    for split, label in (("train", "pos"), ("train", "neg"), ("test", "pos"), ("test", "neg")):
        (root / split / label).mkdir(parents=True, exist_ok=True)
    (root / "train" / "pos" / "0_9.txt").write_text("A fine film.")
    (root / "train" / "neg" / "1_2.txt").write_text("A dull film.")
    return train.main(["--dataset", str(root), "--output_dir", str(env.scratch / "aclimdb-out")])


def without_weights(env):
    folder = env.folder_copy("no-weights")
    (folder / "model.safetensors").unlink()
    return folder


def with_truncated_weights(env):
    folder = env.folder_copy("truncated-weights")
    truncate(folder / "model.safetensors")
    return folder


def with_garbage_weights(env):
    folder = env.folder_copy("garbage-weights")
    (folder / "model.safetensors").write_bytes(b"this is not a safetensors file")
    return folder


def with_config_value(env, field, value):
    folder = env.folder_copy(f"config-{field}")
    config = json.loads((folder / "config.json").read_text())
    config[field] = value
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def bigger_tokenizer(env):
    """A tokenizer with more words than the model's embedding has rows."""
    tokenizer = build_tokenizer(sample_texts() * 2, vocab_size=env.model.config.vocab_size * 3, min_frequency=1)
    assert len(tokenizer) > env.model.config.vocab_size
    return tokenizer


def with_other_tokenizer(env):
    folder = env.folder_copy("other-tokenizer")
    bigger_tokenizer(env).save_pretrained(folder)
    return folder


def predict_command(env, folder: Path) -> tuple[int, str]:
    """The imdb-lstm-predict command on a model folder: (exit status, what it printed on stderr)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = predict_main(["--model", str(folder), "A fine film."])
    return status, stderr.getvalue()


def says_weights_are_broken(outcome, env):
    status, stderr = outcome
    assert status == 2
    assert "model.safetensors) cannot be read" in stderr and "truncated or corrupt" in stderr
    assert "Traceback" not in stderr


def glove_file(env, content: str) -> str:
    path = env.scratch / "vectors.txt"
    path.write_text(content)
    return str(path)


def pipeline_with_bigger_tokenizer(env):
    tokenizer = bigger_tokenizer(env)
    rare = [word for word, index in tokenizer.get_vocab().items() if index >= env.model.config.vocab_size][:5]
    classify = pipeline("text-classification", model=env.model, tokenizer=tokenizer, top_k=None, truncation=True)
    return classify(" ".join(rare))


# Config fields are checked by the config itself, however the model is made (build_model passes them through).
CONFIG_CASES = [
    ({"cell": "transformer"}, r"cell='transformer' is not allowed; use one of \('lstm', 'gru'\)"),
    ({"pooling": "attention"}, r"pooling='attention' is not allowed"),
    ({"encoder": "transformer"}, r"encoder='transformer' is not allowed; use one of \('rnn', 'cnn'\)"),
    ({"hidden_size": 0}, r"hidden_size=0 must be a positive integer"),
    ({"num_layers": -1}, r"num_layers=-1 must be a positive integer"),
    ({"cnn_num_filters": 0}, r"cnn_num_filters=0 must be a positive integer"),
    ({"cnn_kernel_sizes": [3, 0]}, r"cnn_kernel_sizes=\[3, 0\] must be a non-empty list of positive integers"),
    ({"dropout": 1.5}, r"dropout=1.5 must be a number in \[0, 1\)"),
]

CASES = [
    # Texts to classify, through our API (predict) and the raw transformers pipeline.
    Case("predict-empty", lambda e: predict(e.model, e.tokenizer, ""), check=one_answer),
    Case("pipeline-empty", lambda e: e.classify(""), check=pipeline_agrees_with_predict("")),
    Case("predict-whitespace", lambda e: predict(e.model, e.tokenizer, " \n\t  "), check=no_evidence_answer),
    Case("pipeline-whitespace", lambda e: e.classify(" \n\t  "), check=pipeline_agrees_with_predict("")),
    Case("predict-html-only", lambda e: predict(e.model, e.tokenizer, "<br /><br />"), check=no_evidence_answer),
    Case("pipeline-html-only", lambda e: e.classify("<br /><br />"), check=pipeline_agrees_with_predict("")),
    Case("predict-emoji-cjk-rtl", lambda e: predict(e.model, e.tokenizer, WORLD_TEXT), check=one_answer),
    Case("pipeline-emoji-cjk-rtl", lambda e: e.classify(WORLD_TEXT), check=pipeline_agrees_with_predict(WORLD_TEXT)),
    Case("predict-1MB-review", lambda e: predict(e.model, e.tokenizer, MEGABYTE_REVIEW), check=long_review_is_cut),
    Case("pipeline-1MB-review", lambda e: e.classify(MEGABYTE_REVIEW),
         check=pipeline_agrees_with_predict(MEGABYTE_REVIEW)),
    Case("predict-10000-texts", lambda e: predict(e.model, e.tokenizer, TEN_THOUSAND), check=many_in_input_order),
    Case("pipeline-10000-texts", lambda e: e.classify(TEN_THOUSAND, batch_size=256), check=many_pipeline_answers),
    Case("predict-empty-batch", lambda e: predict(e.model, e.tokenizer, []), check=empty_batch),
    Case("predict-None-in-batch", lambda e: predict(e.model, e.tokenizer, ["good", None]),
         error=(TypeError, r"Review #1 is NoneType \(None\), not str")),
    Case("predict-None", lambda e: predict(e.model, e.tokenizer, None), error=(TypeError, r"got NoneType")),
    Case("predict-int", lambda e: predict(e.model, e.tokenizer, 5), error=(TypeError, r"got int \(5\)")),
    Case("predict-int-in-batch", lambda e: predict(e.model, e.tokenizer, ["good", 3]),
         error=(TypeError, r"Review #1 is int \(3\), not str")),
    Case("predict-bytes", lambda e: predict(e.model, e.tokenizer, b"good film"),
         error=(TypeError, r"got bytes: decode")),
    Case("predict-bytes-in-batch", lambda e: predict(e.model, e.tokenizer, ["good", b"bad"]),
         error=(TypeError, r"Review #1 is bytes .*decode bytes first")),
    # The raw pipeline: transformers' own tokenizer checks answer, in transformers' words (not pinned here: what
    # matters is that the bad input is refused, not classified).
    Case("pipeline-None-in-batch", lambda e: e.classify(["good", None]), error=((TypeError, ValueError), None)),
    Case("pipeline-int", lambda e: e.classify(5), error=((TypeError, ValueError), None)),
    Case("pipeline-bytes", lambda e: e.classify(b"good film"), error=((TypeError, ValueError), None)),
    # Training data, through the training script itself (it stops before any training).
    Case("train-no-text-column", lambda e: train_on(e, "no-text", {"review": ["a good film"] * 4, "label": [0, 1] * 2}),
         error=(DataError, r"Split 'train' has no 'text' column; its columns are \['review', 'label'\].*--text_column")),
    Case("train-no-label-column", lambda e: train_on(e, "no-label", {"text": ["a good film"] * 4, "stars": [1, 9] * 2}),
         error=(DataError, r"Split 'train' has no 'label' column")),
    # Integer labels are class ids counted from training (0, 1, 2: three classes); one only test holds is refused.
    Case("train-labels-outside-0-1", lambda e: train_on(e, "bad-labels", {"text": ["a", "b", "c"], "label": [0, 1, 0]},
                                                        {"text": ["d"], "label": [2]}),
         error=(DataError, r"Split 'test' holds labels \[2\] that the training split never has")),
    Case("train-unlabelled-reviews", lambda e: train_on(e, "unlabelled", {"text": ["a", "b"], "label": [-1, -1]}),
         error=(DataError, r"negative labels \[-1\].*IMDB's unlabelled reviews")),
    Case("train-empty-test-split", train_on_aclimdb_without_test_reviews, error=(DataError, r"Split 'test' is empty")),
    # `datasets` refuses an empty parquet split before our check; load_imdb turns that into our error.
    Case("train-empty-parquet-split",
         lambda e: train_on(e, "empty-test", {"text": ["a", "b"], "label": [0, 1]}, {"text": [], "label": []}),
         error=(DataError, r"Split 'test' of .* is empty or missing")),
    Case("train-split-50-30-30", lambda e: train.main(["--dataset", "sample", "--split_protocol", "50/30/30",
                                                        "--output_dir", str(e.scratch / "split-out")]),
         error=(DataError, r"'50/30/30' .*sum to 100")),
    # Configurations.
    *[
        Case(f"config-{next(iter(fields))}", lambda e, fields=fields: build_model(e.tokenizer, **fields),
             error=(ValueError, message))
        for fields, message in CONFIG_CASES
    ],
    Case("saved-config-with-unknown-cell", lambda e: load_classifier(str(with_config_value(e, "cell", "transformer"))),
         error=(ValueError, r"cell='transformer' is not allowed")),
    # Model folders.
    Case("folder-without-weights", lambda e: load_classifier(str(without_weights(e))),
         error=(OSError, r"no file named model\.safetensors")),
    Case("truncated-safetensors", lambda e: load_classifier(str(with_truncated_weights(e))),
         error=(OSError, r"model\.safetensors\) cannot be read .*truncated or corrupt")),
    Case("garbage-safetensors", lambda e: load_classifier(str(with_garbage_weights(e))),
         error=(OSError, r"model\.safetensors\) cannot be read .*truncated or corrupt")),
    Case("command-truncated-safetensors", lambda e: predict_command(e, with_truncated_weights(e)),
         check=says_weights_are_broken),
    # The raw pipeline refuses a truncated file too, in safetensors' own words (not pinned here).
    Case("pipeline-truncated-safetensors",
         lambda e: pipeline("text-classification", model=str(with_truncated_weights(e)), top_k=None),
         error=((SafetensorError, OSError), None)),
    # Word vectors.
    Case("glove-missing-file", lambda e: build_model(e.tokenizer, glove_source=str(e.scratch / "no-such-vectors.txt")),
         error=(GloveSourceError, r"Unknown word-vector source .*no file and no gensim-data name")),
    Case("glove-malformed-file",
         lambda e: build_model(e.tokenizer, glove_source=glove_file(e, "good 1 2 3\nbad 4 5\n")),
         error=(GloveSourceError, r"Could not read word vectors from .*vectors\.txt")),
    # A tokenizer that does not belong to the model.
    Case("folder-with-other-tokenizer", lambda e: load_classifier(str(with_other_tokenizer(e))),
         error=(ValueError, r"tokenizer .* has \d+ tokens but the model's embedding has \d+ rows")),
    Case("pipeline-with-bigger-tokenizer", pipeline_with_bigger_tokenizer,
         error=(ValueError, r"input_ids hold ids outside \[0, vocab_size=\d+\): the tokenizer does not match")),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case, env):
    if case.error:
        error_type, message = case.error
        with pytest.raises(error_type, match=message):
            case.act(env)
    else:
        case.check(case.act(env), env)


# The kinds of bad input the table must keep covering, by case name: dropping or renaming one fails below.
REQUIRED_CASES = {
    *(f"{api}-{kind}" for api in ("predict", "pipeline")
      for kind in ("empty", "whitespace", "html-only", "emoji-cjk-rtl", "1MB-review", "10000-texts")),
    "predict-empty-batch", "predict-None", "predict-None-in-batch", "predict-int", "predict-int-in-batch",
    "predict-bytes", "predict-bytes-in-batch", "pipeline-None-in-batch", "pipeline-int", "pipeline-bytes",
    "train-no-text-column", "train-no-label-column", "train-labels-outside-0-1", "train-unlabelled-reviews",
    "train-empty-test-split", "train-empty-parquet-split", "train-split-50-30-30",
    *(f"config-{next(iter(fields))}" for fields, _ in CONFIG_CASES), "saved-config-with-unknown-cell",
    "folder-without-weights", "truncated-safetensors", "garbage-safetensors", "command-truncated-safetensors",
    "pipeline-truncated-safetensors", "glove-missing-file", "glove-malformed-file", "folder-with-other-tokenizer",
    "pipeline-with-bigger-tokenizer",
}


def test_bad_input_table_covers_every_kind():
    """Every kind of bad input stays in the table, each case once, each either a checked answer or an error."""
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    assert not REQUIRED_CASES - set(names), f"cases missing from the table: {sorted(REQUIRED_CASES - set(names))}"
    assert all((case.error is None) != (case.check is None) for case in CASES)


# ---------------------------------------------------------------------------------------------------------------------
# 2-3. Interrupted training and reproducibility, through the training script as a user runs it.

RUN_ARGS = [
    "--dataset", "sample", "--max_train_samples", "200", "--max_eval_samples", "100", "--hidden_size", "16",
    "--max_length", "128", "--num_train_epochs", "2", "--per_device_train_batch_size", "8",
    "--eval_strategy", "steps", "--eval_steps", "10", "--save_strategy", "steps", "--save_steps", "10",
    "--logging_steps", "5", "--seed", "7", "--disable_tqdm", "true", "--report_to", "none",
]
# Keys that measure time, not the model.
TIMING = ("runtime", "per_second")


def train_command(output_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, str(SCRIPTS / "train.py"), *RUN_ARGS, "--output_dir", str(output_dir), *extra]


@pytest.fixture(scope="module")
def training_env(tmp_path_factory) -> dict:
    """Environment of the training runs. Their own, initially empty `datasets` cache: the first run tokenises, the
    later ones are served from the cache, as on a user's machine, and must still produce the same files. One torch
    thread: on a busy machine two spinning OpenMP threads make these short runs ten times slower; every run
    compared here uses the same count, so the comparisons hold."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1", "HF_DATASETS_CACHE": str(tmp_path_factory.mktemp("datasets-cache"))}


def run_training(env: dict, output_dir: Path, *extra: str) -> str:
    result = subprocess.run(train_command(output_dir, *extra), capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def model_metrics(output_dir: Path) -> dict:
    results = json.loads((output_dir / "all_results.json").read_text())
    return {key: value for key, value in results.items()
            if key.startswith(("eval_", "test_")) and not key.endswith(TIMING)}


def eval_history(output_dir: Path) -> dict[int, float]:
    """Validation loss at every evaluation of the run: {step: eval_loss}."""
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return {entry["step"]: entry["eval_loss"] for entry in state["log_history"] if "eval_loss" in entry}


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, training_env) -> Path:
    """One uninterrupted run: what the resumed and the repeated runs must reproduce."""
    output_dir = tmp_path_factory.mktemp("reference")
    run_training(training_env, output_dir)
    return output_dir


def wait_for_a_complete_checkpoint(process: subprocess.Popen, output_dir: Path, timeout: float = 300) -> None:
    """Until the run has written any complete checkpoint. Not one by name: the run deletes older checkpoints as
    it saves newer ones (save_total_limit), so a poll could miss a given one."""
    deadline = time.monotonic() + timeout
    while not any(common.is_complete_checkpoint(folder) for folder in output_dir.glob("checkpoint-*")):
        assert process.poll() is None, f"training exited (rc {process.returncode}) before writing a checkpoint"
        assert time.monotonic() < deadline, f"no complete checkpoint after {timeout} s"
        time.sleep(0.05)


@pytest.mark.slow
def test_killed_training_resumes_to_the_uninterrupted_result(reference_run, training_env, tmp_path):
    output_dir = tmp_path / "interrupted"
    with open(tmp_path / "first-attempt.log", "w") as log:
        process = subprocess.Popen(train_command(output_dir), stdout=log, stderr=subprocess.STDOUT, env=training_env)
        try:
            wait_for_a_complete_checkpoint(process, output_dir)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (output_dir / "model.safetensors").exists()  # it really stopped before the end

    # A save cut short by the kill: the newest checkpoint folder is there, its weights are not whole.
    newest = Path(common.resolve_checkpoint("last", output_dir))
    torn = output_dir / f"checkpoint-{int(newest.name.split('-')[1]) + 10}"
    shutil.rmtree(torn, ignore_errors=True)
    shutil.copytree(newest, torn)
    truncate(torn / "model.safetensors", keep=0.6)

    log = run_training(training_env, output_dir, "--resume_from_checkpoint", "last")
    assert f"Skipping incomplete checkpoint {torn}" in log
    assert f"Resuming training from {newest}" in log

    reference, resumed = model_metrics(reference_run), model_metrics(output_dir)
    assert resumed.keys() == reference.keys() and len(reference) >= 20
    for key, value in reference.items():
        assert resumed[key] == pytest.approx(value, abs=1e-5), key
    # Every evaluation along the way, those before the kill (from the checkpoint) and after, matches too.
    reference_history = eval_history(reference_run)
    assert len(reference_history) >= 5
    assert eval_history(output_dir) == pytest.approx(reference_history, abs=1e-5)
    reference_weights, resumed_weights = (load_file(d / "model.safetensors") for d in (reference_run, output_dir))
    for name, tensor in reference_weights.items():
        torch.testing.assert_close(resumed_weights[name], tensor, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.slow
def test_same_seed_gives_identical_weights_and_metrics(reference_run, training_env, tmp_path):
    run_training(training_env, tmp_path)
    assert model_metrics(tmp_path) == model_metrics(reference_run)
    assert eval_history(tmp_path) == eval_history(reference_run)
    first, second = load_file(reference_run / "model.safetensors"), load_file(tmp_path / "model.safetensors")
    assert first.keys() == second.keys()
    different = [name for name in first if not torch.equal(first[name], second[name])]
    assert not different, f"tensors differ between two runs with the same seed: {different}"
    # The saved tokenizer too, although this run's tokenised splits came from the datasets cache.
    tokenizers = [json.loads((folder / "tokenizer.json").read_text()) for folder in (reference_run, tmp_path)]
    assert tokenizers[0] == tokenizers[1], {key for key in tokenizers[0] if tokenizers[0][key] != tokenizers[1][key]}


@pytest.mark.slow
def test_run_info_records_seed_versions_and_every_argument(reference_run):
    import datasets
    import tokenizers
    import transformers

    info = json.loads((reference_run / "run_info.json").read_text())
    assert info["seed"] == 7
    assert info["versions"]["torch"] == torch.__version__
    assert info["versions"]["transformers"] == transformers.__version__
    assert info["versions"]["tokenizers"] == tokenizers.__version__
    assert info["versions"]["datasets"] == datasets.__version__
    model_args, data_args, training_args = train.parse_args([*RUN_ARGS, "--output_dir", str(reference_run)])
    train.resolve_model_config(model_args, data_args)  # the unset config flags take the config's values, as in the run
    # Every field of the three argument groups, as the run saw them (JSON turns tuples into lists).
    assert info["arguments"]["model"] == json.loads(json.dumps(vars(model_args)))
    assert info["arguments"]["data"] == json.loads(json.dumps(vars(data_args)))
    recorded = info["arguments"]["training"]
    assert recorded.keys() == training_args.to_dict().keys()
    for key, value in {"seed": 7, "num_train_epochs": 2, "per_device_train_batch_size": 8, "save_steps": 10,
                       "learning_rate": training_args.learning_rate, "output_dir": str(reference_run)}.items():
        assert recorded[key] == value, key


# ---------------------------------------------------------------------------------------------------------------------
# 4. Safe loading: weights only in safetensors; the code copied next to them imports nothing of ours but its config.


@pytest.mark.slow
def test_trained_model_folder_holds_safetensors_weights_only(reference_run):
    folders = [reference_run, *sorted(reference_run.glob("checkpoint-*"))]
    assert len(folders) >= 2
    for folder in folders:
        assert (folder / "model.safetensors").is_file(), folder
        assert not list(folder.glob("pytorch_model*.bin")), folder


class PickleThatRuns:
    """Unpickling this creates `marker`: proof that someone unpickled it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_loading_and_pushing_never_touch_a_pickle_left_in_the_folder(env):
    """A model folder can hold pickles (Trainer's training_args.bin, an old pytorch_model.bin): loading reads only
    model.safetensors, and a push leaves them behind."""
    import pickle

    from imdb_lstm.hub import files_to_push

    folder = env.folder_copy("with-pickles")
    marker = env.scratch / "a-pickle-was-loaded"
    for name in ("pytorch_model.bin", "training_args.bin"):
        (folder / name).write_bytes(pickle.dumps(PickleThatRuns(marker)))
    model, tokenizer = load_classifier(str(folder))
    answer = predict(model, tokenizer, REVIEW)[0]
    assert answer["p_positive"] == pytest.approx(predict(env.model, env.tokenizer, REVIEW)[0]["p_positive"], abs=1e-6)
    assert not marker.exists()
    assert {path.name for path in files_to_push(folder)}.isdisjoint({"pytorch_model.bin", "training_args.bin"})

    # Without model.safetensors, the pickle is refused rather than run.
    (folder / "model.safetensors").unlink()
    with pytest.raises(Exception):
        load_classifier(str(folder))
    assert not marker.exists()


def imported_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add("." * node.level + (node.module or ""))
    return modules


def test_copied_model_code_imports_only_torch_transformers_its_config_and_the_standard_library(env):
    modeling = imported_modules((env.model_dir / "modeling_imdb_lstm.py").read_text())
    serving = imported_modules((env.model_dir / "serving_imdb_lstm.py").read_text())
    configuration = imported_modules((env.model_dir / "configuration_imdb_lstm.py").read_text())
    assert {".configuration_imdb_lstm", ".serving_imdb_lstm"} <= modeling  # the parse really saw the imports
    for module in modeling | serving | configuration:
        top = module.split(".")[0]
        # The standard library travels with every Python (transformers' own model files use dataclasses).
        allowed = top in ("torch", "transformers") or top in sys.stdlib_module_names
        assert allowed or module in (".configuration_imdb_lstm", ".serving_imdb_lstm"), module
    # The config reads only transformers and the standard library (its typed fields use `typing`).
    assert all(module.split(".")[0] in ("transformers", "typing") for module in configuration), configuration


# ---------------------------------------------------------------------------------------------------------------------
# 6. One loaded model, several threads at once.


def test_pipeline_from_four_threads_matches_serial_calls(env):
    texts = list(sample_texts()[:20]) + ["", "<br />", WORLD_TEXT, REVIEW]
    serial = [pipeline_scores(env.classify(text)) for text in texts]
    assert len({round(scores["POSITIVE"], 6) for scores in serial}) > 10  # answers differ, so a mix-up would show

    def classify_chunk(chunk):
        # One by one and as a batch, so calls from different threads overlap inside the model.
        one_by_one = [pipeline_scores(env.classify(text)) for text in chunk]
        return one_by_one, [pipeline_scores([rows]) for rows in env.classify(chunk)]

    chunks = [texts[i::4] for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(classify_chunk, chunks))
    for index, (one_by_one, batched) in enumerate(answers):
        expected = serial[index::4]
        for got in (one_by_one, batched):
            assert [scores.keys() for scores in got] == [scores.keys() for scores in expected]
            for mine, reference in zip(got, expected):
                assert mine["POSITIVE"] == pytest.approx(reference["POSITIVE"], abs=1e-6)


def test_predict_from_four_threads_matches_serial_calls(env):
    texts = list(sample_texts()[:64])
    serial = predict(env.model, env.tokenizer, texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda _: predict(env.model, env.tokenizer, texts, batch_size=8), range(4)))
    for answers in parallel:
        assert [a["p_positive"] for a in answers] == pytest.approx([s["p_positive"] for s in serial], abs=1e-6)
