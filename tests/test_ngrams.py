"""The classifier's n-gram branch (imdb_lstm.ngrams): fitted on the sample, it computes its scikit-learn regression
alone or joined to the recurrent log-odds by the weight chosen on validation, exact under padding (left or right);
the classifier carrying it saves, reloads, loads through remote code and exports to ONNX with the same logits.
(The branch's lookup inside the model: tests/test_modeling_imdb_lstm.py.)"""

import numpy as np
import pytest
import torch
from helpers import SHORT_REVIEWS as REVIEWS
from helpers import assert_remote_code_logits, tiny_model, tiny_tokenizer
from transformers import AutoModelForSequenceClassification

from imdb_lstm import ngrams
from imdb_lstm.data import load_imdb


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def fitted_ngrams(tokenizer):
    data = load_imdb("sample")["train"]
    ids = tokenizer(data["text"][:800], truncation=True)["input_ids"]
    return ngrams.fit_ngram_logistic_regression(ids, data["label"][:800], len(tokenizer), order=3, min_count=2, C=1.0)


@pytest.mark.float_sensitive
def test_ngram_branch_computes_the_fitted_regression_alone_or_padded(tokenizer, fitted_ngrams):
    model, _ = tiny_model(tokenizer)
    ngrams.attach_ngram_branch(model, fitted_ngrams, weight=1.0)  # the n-gram log-odds alone
    texts = load_imdb("sample")["test"]["text"][:6] + ["ok", "bad bad bad bad"]
    expected = fitted_ngrams.log_odds(tokenizer(texts, truncation=True)["input_ids"])
    for side in ("right", "left"):
        tokenizer.padding_side = side
        batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        tokenizer.padding_side = "right"
        with torch.no_grad():
            logits = model(**batch).logits
        np.testing.assert_allclose((logits[:, 1] - logits[:, 0]).numpy(), expected, atol=1e-4)
    # A repeated n-gram counts once: "bad" four times scores as the distinct n-grams it forms.
    assert len(ngrams.review_keys([5, 5, 5, 5], 3, len(tokenizer))) == 3


def test_ngram_weight_joins_the_log_odds_and_is_chosen_on_validation(tokenizer, fitted_ngrams):
    model, _ = tiny_model(tokenizer)
    batch = tokenizer(REVIEWS, padding=True, return_tensors="pt")
    with torch.no_grad():
        recurrent = model(**batch).logits
        ngrams.attach_ngram_branch(model, fitted_ngrams, weight=0.3)
        joined = model(**batch).logits
    ngram_log_odds = torch.tensor(fitted_ngrams.log_odds(tokenizer(REVIEWS)["input_ids"]), dtype=torch.float32)
    expected = 0.7 * (recurrent[:, 1] - recurrent[:, 0]) + 0.3 * ngram_log_odds
    torch.testing.assert_close(joined[:, 1] - joined[:, 0], expected, atol=1e-5, rtol=1e-5)
    labels = np.array([1, 0, 1, 0])
    weight, accuracy = ngrams.choose_ngram_weight(np.array([-1.0, 1.0, 2.0, -2.0]), np.array([3.0, -3.0, 1.0, 1.0]), labels)
    assert accuracy == 1.0 and 0 < weight < 1  # only a mix gets all four right


def test_ngram_classifier_saves_reloads_and_loads_through_remote_code(tmp_path, tokenizer, fitted_ngrams):
    model, _ = tiny_model(tokenizer)
    ngrams.attach_ngram_branch(model, fitted_ngrams, weight=0.4)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    batch = tokenizer(REVIEWS, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(**batch).logits
        assert torch.equal(reloaded(**batch).logits, expected)
    assert torch.equal(reloaded.ngram.keys, model.ngram.keys)
    assert_remote_code_logits(tmp_path, expected)


@pytest.mark.float_sensitive
def test_ngram_classifier_exports_to_onnx_with_the_same_logits(tmp_path, tokenizer, fitted_ngrams):
    pytest.importorskip("onnxruntime")
    from imdb_lstm.onnx_export import export_onnx, exportable_ngram_log_odds, max_abs_difference, onnx_session

    model, _ = tiny_model(tokenizer, bidirectional=True, pooling="max_mean")
    ngrams.attach_ngram_branch(model, fitted_ngrams, weight=0.6)
    texts = [*REVIEWS, REVIEWS[0] + " " + REVIEWS[0]]  # a repeated n-gram counts once there too
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    lengths = batch["attention_mask"].sum(dim=1)
    with torch.no_grad():  # the formulation used while exporting (no searchsorted, no unique) gives the same scores
        torch.testing.assert_close(exportable_ngram_log_odds(model.ngram, batch["input_ids"], lengths),
                                   model.ngram(batch["input_ids"], lengths), atol=1e-5, rtol=0)
    session = onnx_session(export_onnx(model, tmp_path / "model.onnx", tokenizer))
    assert max_abs_difference(model, session, tokenizer, texts) <= 1e-4
    assert max_abs_difference(model, session, tokenizer, texts[:1]) <= 1e-4
