"""Pretraining (imdb_lstm.training.pretrain, and its command imdb_lstm.commands.pretrain) on small data: the
language-model loss falls, the output folder loads with the Auto classes and fine-tunes into a classifier, no `test`
review ever reaches pretraining, streaming sources work, bad sources get clear errors, and a killed run resumes from
its last checkpoint. Fine-tuning from a pretrained folder: tests/test_pretrained.py (its checks) and
tests/test_trainer.py (discriminative learning rates, gradual unfreezing)."""

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from sklearn.metrics import accuracy_score
from transformers import AutoModelForCausalLM, AutoTokenizer

from helpers import TINY_PRETRAINING as TINY
from helpers import pretrain
from test_data import PLANTED_WORD, marker, planted_imdb_folder

from imdb_lstm import ImdbLstmForCausalLM, ImdbLstmForSequenceClassification
from imdb_lstm.commands import pretrain as pretrain_command
from imdb_lstm.data import DataError, held_out_texts, load_imdb, make_splits
from imdb_lstm.training import finetune as training
from imdb_lstm.training import pretrain as pretraining

LEAK_MARKER = "zzqtestreviewonly"


def test_language_model_loss_falls_on_the_sample(pretrained):
    output_dir, results = pretrained
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert len(losses) >= 6
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.5, losses
    evaluations = [entry for entry in history if "eval_perplexity" in entry]
    assert len(evaluations) >= 2  # perplexity at each evaluation, from the logged loss
    for entry in evaluations:
        assert entry["eval_perplexity"] == pytest.approx(math.exp(entry["eval_loss"]))
    assert evaluations[-1]["eval_loss"] < evaluations[0]["eval_loss"]
    assert results["eval_perplexity"] < 3000  # far below a uniform guess over the vocabulary


def test_output_folder_loads_with_the_auto_classes_and_records_the_run(pretrained):
    output_dir, results = pretrained
    for name in ("model.safetensors", "config.json", "tokenizer.json", "modeling_imdb_lstm.py", "run_info.json",
                 "eval_results.json", "train_results.json", "training_curves.png"):
        assert (output_dir / name).is_file(), name
    model = AutoModelForCausalLM.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    assert isinstance(model, ImdbLstmForCausalLM) and model.config.vocab_size == len(tokenizer)
    batch = tokenizer(["a wonderful film with a brilliant cast"], return_tensors="pt")
    with torch.no_grad():
        output = model(**batch, labels=batch["input_ids"])
        scores = model(**batch)  # the adaptive softmax scores every word when no labels are given
    assert scores.logits.shape == (1, batch["input_ids"].size(1), len(tokenizer)) and torch.isfinite(output.loss)
    train_results = json.loads((output_dir / "train_results.json").read_text())
    assert train_results["train_tokens"] == results["train_tokens"] == 40 * 16 * 32
    run_info = json.loads((output_dir / "run_info.json").read_text())
    assert run_info["arguments"]["data"]["dataset_splits"] == "train,unsupervised"
    # The config the run resolved: the flags given, the config's defaults for the rest (recorded as used).
    recorded = run_info["model_config"]
    assert (recorded["hidden_size"], recorded["lm_output"]) == (16, "adaptive")
    assert recorded["lm_adaptive_cutoffs"] == model.config.lm_adaptive_cutoffs  # kept inside the vocabulary
    assert run_info["arguments"]["model"]["dropout"] == recorded["dropout"] == model.config.dropout == 0.5


def test_a_classifier_fine_tunes_from_the_pretrained_folder(pretrained, tmp_path):
    lm_dir, _ = pretrained
    output_dir = tmp_path / "classifier"
    results = training.main([
        "--dataset", "sample", "--model_name_or_path", str(lm_dir), "--output_dir", str(output_dir),
        "--num_train_epochs", "1", "--max_train_samples", "200", "--max_eval_samples", "100", "--max_length", "64",
        "--disable_tqdm", "true", "--report_to", "none",
    ])
    predictions = [json.loads(line) for line in (output_dir / "test_predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 100 and results["test_accuracy"] == pytest.approx(
        accuracy_score([row["label"] for row in predictions], [row["prediction"] for row in predictions]))
    classifier = ImdbLstmForSequenceClassification.from_pretrained(output_dir)
    lm_tokenizer, tokenizer = AutoTokenizer.from_pretrained(lm_dir), AutoTokenizer.from_pretrained(output_dir)
    assert tokenizer.get_vocab() == lm_tokenizer.get_vocab()  # the pretrained vocabulary, not a new one
    assert tokenizer.model_max_length == classifier.config.model_max_length == 64
    assert classifier.config.hidden_size == 16 and "pretrained" in classifier.config.embedding_source


def write_imdb_like_folder(folder: Path, test_marker: str = LEAK_MARKER) -> Path:
    """A local dataset folder with IMDB's three splits in the Hub's file naming (as ../shared/data/imdb); every test
    review carries `test_marker`."""
    folder.mkdir(parents=True, exist_ok=True)
    sample = load_imdb("sample")
    train = sample["train"].select(range(200))
    Dataset.from_dict({"text": train["text"], "label": train["label"]}).to_parquet(str(folder / "train-00000-of-00001.parquet"))
    test = sample["test"].select(range(50))
    Dataset.from_dict({"text": [f"{text} {test_marker}" for text in test["text"]], "label": test["label"]}).to_parquet(
        str(folder / "test-00000-of-00001.parquet"))
    unlabelled = sample["train"].select(range(200, 300))
    Dataset.from_dict({"text": unlabelled["text"], "label": [-1] * 100}).to_parquet(
        str(folder / "unsupervised-00000-of-00001.parquet"))
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: plain_text\n  data_files:\n"
        + "".join(f"  - split: {split}\n    path: {split}-*\n" for split in ("train", "test", "unsupervised"))
        + "---\n")
    return folder


def test_no_test_review_reaches_pretraining(tmp_path):
    folder = write_imdb_like_folder(tmp_path / "imdb")
    texts = pretraining.load_text_source(pretraining.PretrainingDataArguments(dataset=str(folder)))
    # 200 train + 100 unlabelled reviews, less the 20 train reviews a fine-tuning run holds out for validation.
    assert len(texts) == 280 and not any(LEAK_MARKER in text for text in texts["text"])
    # End to end: a word found only in test reviews never enters the vocabulary (every word is kept here).
    output_dir = tmp_path / "lm"
    pretrain(output_dir, "--dataset", str(folder), "--max_steps", "2", "--min_frequency", "1", "--vocab_size", "100000")
    vocabulary = AutoTokenizer.from_pretrained(output_dir).get_vocab()
    assert LEAK_MARKER not in vocabulary and "wonderful" in vocabulary
    with pytest.raises(DataError, match="test reviews must never reach pretraining"):
        pretraining.load_text_source(pretraining.PretrainingDataArguments(dataset=str(folder),
                                                                          dataset_splits="train,test"))


def vocabulary(output_dir: Path) -> set[str]:
    return set(AutoTokenizer.from_pretrained(output_dir).get_vocab())


def test_pretraining_never_reads_a_validation_or_test_review(tmp_path, monkeypatch):
    """Through the command: a test review planted (disguised) in the unlabelled split, and the train reviews a
    fine-tuning run holds out for validation, never reach the vocabulary learnt on every word read."""
    folder, _ = planted_imdb_folder(tmp_path / "planted_imdb", monkeypatch)
    output_dir = tmp_path / "lm"
    results = pretrain_command.main([*TINY, "--output_dir", str(output_dir), "--dataset", str(folder),
                                     "--max_steps", "1", "--min_frequency", "1", "--vocab_size", "100000"])
    words = vocabulary(output_dir)
    training_part = make_splits(load_imdb(str(folder)), "canonical", 0.1, 42)["train"]["text"]
    kept = {text.split()[-1] for text in training_part} | {marker("zqunlabelled", i) for i in range(20)}
    validation = {marker("zqtrain", i) for i in range(40)} - kept
    assert len(validation) == 4 and not validation & words and PLANTED_WORD not in words
    assert len(kept - words) <= 1  # all else was read (one text is the language model's own validation text)
    run_info = json.loads((output_dir / "run_info.json").read_text())
    assert run_info["excluded_texts"] == results["excluded_texts"] == len(set(held_out_texts(str(folder)))) == 24
    assert run_info["excluded_from"] == str(folder) and run_info["pretraining_texts"] == 36 + 20
    assert run_info["arguments"]["data"]["exclude_dataset"] == "auto"


def test_a_streamed_text_file_leaves_out_the_reviews_of_the_dataset_named(tmp_path, monkeypatch):
    folder, unlabelled = planted_imdb_folder(tmp_path / "planted_imdb", monkeypatch)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(unlabelled) + "\n")  # the planted copy last, among the training texts
    source = [*TINY, "--dataset", "text", "--data_files", str(corpus), "--dataset_splits", "train", "--streaming",
              "true", "--max_steps", "1", "--max_validation_texts", "2", "--min_frequency", "1",
              "--vocab_size", "100000"]
    # A text file has no labelled test split: nothing is left out (the log says so), the planted copy is read.
    pretrain_command.main([*source, "--output_dir", str(tmp_path / "all")])
    assert PLANTED_WORD in vocabulary(tmp_path / "all")
    assert json.loads((tmp_path / "all" / "run_info.json").read_text())["excluded_texts"] is None
    pretrain_command.main([*source, "--output_dir", str(tmp_path / "clean"), "--exclude_dataset", str(folder)])
    words = vocabulary(tmp_path / "clean")
    assert PLANTED_WORD not in words and marker("zqunlabelled", 19) in words
    run_info = json.loads((tmp_path / "clean" / "run_info.json").read_text())
    assert run_info["excluded_texts"] == 24 and run_info["pretraining_texts"] is None  # a stream's length is unknown


@pytest.mark.parametrize("splits", ["train+test", "test[:1]", "unsupervised,Test[10%:]"])
def test_the_command_refuses_a_split_expression_that_reads_test(tmp_path, splits):
    with pytest.raises(DataError, match="test reviews must never reach pretraining"):
        pretrain_command.main([*TINY, "--output_dir", str(tmp_path / "lm"), "--dataset", "sample", "--dataset_splits",
                               splits, "--max_steps", "1"])
    assert not (tmp_path / "lm").exists()


def test_a_streaming_source_pretrains(tmp_path):
    """A plain-text corpus (one text per line, `datasets`' "text" loader) read as a stream."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(text.replace("\n", " ") for text in load_imdb("sample")["train"]["text"][:300]))
    output_dir = tmp_path / "lm"
    source = ["--dataset", "text", "--data_files", str(corpus), "--dataset_splits", "train", "--streaming", "true"]
    results = pretrain(output_dir, *source, "--max_steps", "3", "--max_validation_texts", "20",
                       "--max_tokenizer_texts", "150")
    assert math.isfinite(results["eval_perplexity"]) and results["train_tokens"] == 3 * 16 * 32
    assert isinstance(AutoModelForCausalLM.from_pretrained(output_dir), ImdbLstmForCausalLM)
    with pytest.raises(DataError, match="--max_steps"):
        pretrain(tmp_path / "unbounded", *source)


@pytest.mark.parametrize("columns, message", [
    ({"review": ["a fine film", "a bad film"]}, "has no 'text' column.*'review'.*--text_column"),
    ({"text": ["", "   ", "<br /><br />"] * 4}, "yield no vocabulary.*empty"),
], ids=["no-text-column", "only-empty-texts"])
def test_unusable_pretraining_sources_are_refused_clearly(tmp_path, columns, message):
    folder = tmp_path / "corpus"
    folder.mkdir()
    Dataset.from_dict(columns).to_parquet(str(folder / "train.parquet"))
    with pytest.raises(DataError, match=message):
        pretrain(tmp_path / "lm", "--dataset", str(folder), "--dataset_splits", "train", "--max_steps", "1")


def test_pretraining_resumes_from_its_last_checkpoint(tmp_path):
    """A run killed after a checkpoint and resumed ends with the weights of the same run left alone (same seed, same
    machine: the same kernels, so bit for bit); and it really starts from the checkpoint: one with other weights
    ends elsewhere, where a run that ignored --resume_from_checkpoint would end where the whole run did."""
    from safetensors.torch import load_file, save_file

    source = ["--dataset", "sample", "--max_train_texts", "200", "--save_strategy", "steps", "--save_steps", "2",
              "--save_total_limit", "3", "--max_steps", "4"]
    pretrain(tmp_path / "whole", *source)
    whole = load_file(tmp_path / "whole" / "model.safetensors")

    def resume_from(checkpoint: Path, output_dir: Path) -> dict:
        """Resume in a folder that holds only `checkpoint` (what a run killed after step 2 leaves)."""
        shutil.copytree(checkpoint, output_dir / "checkpoint-2")
        pretrain(output_dir, *source, "--resume_from_checkpoint", "last")
        state = json.loads((output_dir / "trainer_state.json").read_text())
        assert state["global_step"] == 4 and (output_dir / "checkpoint-4").is_dir()
        return load_file(output_dir / "model.safetensors")

    resumed = resume_from(tmp_path / "whole" / "checkpoint-2", tmp_path / "killed")
    assert resumed.keys() == whole.keys()
    assert all(torch.equal(resumed[name], whole[name]) for name in whole), [
        name for name in whole if not torch.equal(resumed[name], whole[name])]

    other = tmp_path / "other-checkpoint"
    shutil.copytree(tmp_path / "whole" / "checkpoint-2", other)
    weights = load_file(other / "model.safetensors")
    save_file({name: value + 0.01 for name, value in weights.items()}, other / "model.safetensors",
              metadata={"format": "pt"})
    moved = resume_from(other, tmp_path / "moved")
    assert not any(torch.equal(moved[name], whole[name]) for name in whole)

    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        pretrain(tmp_path / "fresh", *source, "--resume_from_checkpoint", "last")
