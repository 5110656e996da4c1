"""imdb_lstm.compression: n-gram pruning by |weight|, the smallest table within tolerance, the embedding stored in
bfloat16 and read back as float32."""

import numpy as np
import pytest
import torch
from safetensors import safe_open

from imdb_lstm.compression import (EMBEDDING_KEY, choose_ngram_table, prune_ngram_branch, round_embedding,
                                   save_compact, saved_size_mb)
from imdb_lstm.ngrams import NgramLogisticRegression, attach_ngram_branch
from imdb_lstm.predict import load_classifier, predict_logits

from helpers import SHORT_REVIEWS, tiny_model


def model_with_ngrams(weights):
    """A tiny classifier with an n-gram branch of unigrams 1..len(weights) (keys = id + 1) and these weights."""
    model, tokenizer = tiny_model()
    keys = np.arange(1, len(weights) + 1, dtype=np.int64) + 10
    ngrams = NgramLogisticRegression(order=1, vocab_size=model.config.vocab_size, keys=keys,
                                     weights=np.asarray(weights, dtype=np.float32), bias=0.25, C=1.0, fit_seconds=0.0)
    attach_ngram_branch(model, ngrams, 0.5)
    return model.eval(), tokenizer


def test_pruning_keeps_the_largest_weights_with_keys_sorted():
    model, _ = model_with_ngrams([0.1, -3.0, 0.2, 2.0, -0.05, 1.0])
    prune_ngram_branch(model, 3)
    assert model.ngram.keys.tolist() == [12, 14, 16]  # the n-grams of weights -3.0, 2.0 and 1.0, in key order
    assert model.ngram.weights.tolist() == pytest.approx([-3.0, 2.0, 1.0])
    assert model.config.ngram_features == 3
    assert float(model.ngram.bias) == pytest.approx(0.25)


def test_pruning_refuses_a_model_without_ngrams_and_an_empty_table():
    with pytest.raises(ValueError, match="no n-gram branch"):
        prune_ngram_branch(tiny_model()[0], 2)
    model, _ = model_with_ngrams([1.0, -1.0])
    with pytest.raises(ValueError, match="at least one"):
        prune_ngram_branch(model, 0)


def test_the_smallest_table_within_tolerance_is_chosen(monkeypatch):
    """Accuracy as a function of table size (6 → 0.90, 4 → 0.899, 2 → 0.85): within 0.001 of the full table, 4."""
    import imdb_lstm.compression as compression

    model, tokenizer = model_with_ngrams([0.1, -3.0, 0.2, 2.0, -0.05, 1.0])
    by_size = {6: 0.90, 4: 0.8991, 2: 0.85}
    monkeypatch.setattr(compression, "validation_accuracy",
                        lambda model, *_: by_size[int(model.ngram.keys.numel())])
    chosen, trials = choose_ngram_table(model, tokenizer, ["x"], [1], sizes=[4, 2, 100], tolerance=0.001)
    assert chosen == 4 and model.ngram.keys.numel() == 4
    assert [trial["ngrams"] for trial in trials] == [6, 4, 2]
    chosen, _ = choose_ngram_table(*model_with_ngrams([0.1, -3.0, 0.2, 2.0, -0.05, 1.0]), ["x"], [1], sizes=[4, 2],
                                   tolerance=0.0)
    assert chosen == 6  # nothing smaller holds the full table's accuracy


def test_the_embedding_is_stored_in_bfloat16_and_loads_as_the_rounded_float32_model(tmp_path):
    model, tokenizer = model_with_ngrams([0.5, -0.5, 1.5])
    full_mb = saved_size_mb(model, tokenizer)
    round_embedding(model, "bfloat16")
    save_compact(model, tokenizer, tmp_path, "bfloat16")
    with safe_open(tmp_path / "model.safetensors", framework="pt") as weights:
        dtypes = {key: weights.get_slice(key).get_dtype() for key in weights.keys()}
    assert dtypes[EMBEDDING_KEY] == "BF16"
    assert {dtype for key, dtype in dtypes.items() if key != EMBEDDING_KEY} <= {"F32", "I64"}
    assert (tmp_path / "model.safetensors").stat().st_size / 1e6 < full_mb
    loaded, loaded_tokenizer = load_classifier(tmp_path)
    assert all(parameter.dtype == torch.float32 for parameter in loaded.parameters())
    assert torch.equal(loaded.get_input_embeddings().weight, model.get_input_embeddings().weight)
    # The same weights and the same float32 kernels on the same inputs: the same logits.
    torch.testing.assert_close(predict_logits(loaded, loaded_tokenizer, SHORT_REVIEWS, dtype="float32"),
                               predict_logits(model, tokenizer, SHORT_REVIEWS, dtype="float32"))


def test_an_unknown_embedding_dtype_is_refused(tmp_path):
    model, tokenizer = model_with_ngrams([1.0])
    with pytest.raises(ValueError, match="embedding_dtype='int4'"):
        save_compact(model, tokenizer, tmp_path, "int4")
