"""Scoring after fine-tuning (imdb_lstm.training.scoring): through the real command on a tiny IMDB whose test split
differs from validation, the n-gram branch is fitted on the run's training reviews only, and its C and its share of
the log-odds are chosen with validation's labels."""

import sys

import numpy as np
import pytest
from test_data import PLANTED_WORD, planted_imdb_folder

from imdb_lstm import ngrams
from imdb_lstm.data import load_imdb, make_splits
from imdb_lstm.predict import load_classifier
from imdb_lstm.training import finetune as training


def spy(monkeypatch, name: str, calls: list):
    """Record every call of the package function `name`, wherever a module of the package imported it from."""
    import importlib

    real = getattr(importlib.import_module("imdb_lstm.ngrams"), name)

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)
    for module in [module for module_name, module in sys.modules.items() if module_name.startswith("imdb_lstm")]:
        if getattr(module, name, None) is real:
            monkeypatch.setattr(module, name, recording)


def test_a_training_run_fits_the_ngram_branch_on_training_reviews_and_chooses_it_on_validation_labels(
        tmp_path, monkeypatch):
    """Through the real command on a tiny IMDB whose test split differs from validation: the n-gram regressions see
    the run's training reviews only, and C and the branch's share are chosen with validation's labels."""
    folder, _ = planted_imdb_folder(tmp_path / "planted_imdb", monkeypatch)
    fits, choices = [], []
    spy(monkeypatch, "fit_ngram_logistic_regressions", fits)
    spy(monkeypatch, "choose_ngram_weight", choices)
    output_dir = tmp_path / "run"
    results = training.main([
        "--dataset", str(folder), "--ngram_order", "2", "--ngram_min_count", "1", "--ngram_c", "0.1", "1.0",
        "--hidden_size", "8", "--max_length", "64", "--vocab_size", "2000", "--min_frequency", "1",
        "--max_steps", "2", "--per_device_train_batch_size", "8", "--save_strategy", "no", "--eval_strategy", "no",
        "--load_best_model_at_end", "false", "--report_to", "none", "--disable_tqdm", "true",
        "--output_dir", str(output_dir)])

    splits = make_splits(load_imdb(str(folder)), "canonical", 0.1, 42)
    tokenizer = load_classifier(str(output_dir))[1]
    encode = lambda texts: sorted(tuple(ids) for ids in tokenizer(list(texts), truncation=True)["input_ids"])  # noqa: E731
    (id_lists, labels, *_), _ = fits[0]
    assert len(fits) == 1 and sorted(tuple(ids) for ids in id_lists) == encode(splits["train"]["text"])
    planted = tokenizer(PLANTED_WORD, add_special_tokens=False)["input_ids"]
    assert not any(set(planted) <= set(ids) for ids in id_lists)  # the test review carrying it was not read
    validation_labels = list(splits["validation"]["label"])
    assert len(choices) == 2  # one per C
    for (recurrent, ngram_log_odds, chosen_on), _ in choices:
        assert list(chosen_on) == validation_labels and len(ngram_log_odds) == len(validation_labels)
    # The chosen C is the one whose joined validation accuracy is best (the first on a tie), recomputed here.
    monkeypatch.undo()
    accuracies = [ngrams.choose_ngram_weight(*args)[1] for args, _ in list(choices)]
    assert results["ngram_c"] == [0.1, 1.0][int(np.argmax(accuracies))]
    assert results["eval_recurrent_accuracy"] == pytest.approx(ngrams.accuracy(choices[0][0][0], validation_labels))
