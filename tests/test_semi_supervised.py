"""The semi-supervised recipe's parts on small data: the adaptive-softmax language model (exact against its full
distribution; the same alone or padded: tests/test_model_family.py), domain word vectors (test refused, full coverage
through --glove), and the whole chain word vectors → pretraining → fine-tuning with the n-gram branch (the embedding
normalised at every step, the weights averaged). The n-gram branch alone: tests/test_ngrams.py; fitted and weighted
in a training run: tests/test_scoring.py."""

import json

import numpy as np
import pytest
import torch
from datasets import Dataset
from gensim.models import KeyedVectors
from helpers import assert_remote_code_logits, tiny_tokenizer
from sklearn.metrics import accuracy_score
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from imdb_lstm import ImdbLstmConfig, ImdbLstmForCausalLM, build_model, build_tokenizer
from imdb_lstm.data import DataError, held_out_texts, load_imdb, make_splits, without_texts
from imdb_lstm.glove import load_glove
from imdb_lstm.training import finetune as training
from imdb_lstm.training import pretrain as pretraining
from imdb_lstm.training.pretrained import PretrainedModelError
from imdb_lstm.word_vectors import WordVectorArguments, learn_word_vectors

REVIEWS = [
    "A wonderful, moving film with a brilliant cast. I loved every minute of it!",
    "Terrible. The plot made no sense and the acting was wooden.",
    "ok",
    "Not bad at all, though far too long.",
]
QUIET = ["--disable_tqdm", "true", "--report_to", "none"]


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def adaptive_lm(tokenizer, bidirectional=True):
    return build_model(tokenizer, model_class=ImdbLstmForCausalLM, hidden_size=32, bidirectional=bidirectional,
                       dropout=0.0, lm_output="adaptive", lm_adaptive_cutoffs=[50, 500]).eval()


# ---------------------------------------------------------------- the adaptive-softmax language model


@pytest.mark.float_sensitive
@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "forward+backward"])
def test_adaptive_loss_is_the_negative_log_likelihood_of_its_full_distribution(tokenizer, bidirectional):
    model = adaptive_lm(tokenizer, bidirectional)
    batch = tokenizer(REVIEWS, padding=True, return_tensors="pt")
    with torch.no_grad():
        output = model(**batch, labels=batch["input_ids"])
        scores = model(**batch)  # without labels: log-probabilities of every word
    log_probabilities = scores.logits
    assert log_probabilities.shape == (*batch["input_ids"].shape, len(tokenizer))
    torch.testing.assert_close(log_probabilities.exp().sum(-1), torch.ones(batch["input_ids"].shape), atol=1e-4, rtol=0)
    # Reference: next-word NLL read off the full distribution, real positions only.
    lengths = batch["attention_mask"].sum(1).tolist()
    forward, backward = [], []
    for row, length in enumerate(lengths):
        ids = batch["input_ids"][row, :length]
        forward.append(log_probabilities[row, torch.arange(length - 1), ids[1:]])
        if bidirectional:
            backward.append(scores.backward_logits[row, torch.arange(1, length), ids[:-1]])
    forward_loss = -torch.cat(forward).mean()
    torch.testing.assert_close(output.forward_loss, forward_loss, atol=1e-5, rtol=1e-5)
    expected = forward_loss if not bidirectional else (forward_loss - torch.cat(backward).mean()) / 2
    torch.testing.assert_close(output.loss, expected, atol=1e-5, rtol=1e-5)
    assert "logits" not in output  # training makes no scores for every word


def test_adaptive_lm_folder_round_trips_and_a_classifier_starts_from_it(tmp_path, tokenizer):
    model = adaptive_lm(tokenizer)
    model.save_pretrained(tmp_path)
    reloaded = ImdbLstmForCausalLM.from_pretrained(tmp_path).eval()
    batch = tokenizer(REVIEWS, padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits, atol=0, rtol=0)
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert torch.equal(classifier.imdb_lstm.embedding.weight, model.imdb_lstm.embedding.weight)


def test_adaptive_cutoffs_are_checked():
    with pytest.raises(ValueError, match="lm_adaptive_cutoffs"):
        ImdbLstmConfig(vocab_size=100, lm_output="adaptive", lm_adaptive_cutoffs=[2000, 10000])
    with pytest.raises(ValueError, match="lm_adaptive_cutoffs"):
        ImdbLstmConfig(vocab_size=100, lm_output="adaptive", lm_adaptive_cutoffs=[50, 20])
    assert pretraining.adaptive_cutoffs(None, 40000) == [2000, 10000]
    assert pretraining.adaptive_cutoffs(None, 3000) == [2000]
    assert pretraining.adaptive_cutoffs(None, 500) == [250]


# ---------------------------------------------------------------- domain word vectors


def test_word_vectors_cover_the_sample_vocabulary_and_load_through_glove(tmp_path):
    output = tmp_path / "vectors.kv"
    report = learn_word_vectors(WordVectorArguments(output=str(output), dataset="sample", dimension=12, epochs=1))
    # 2,000 train + 500 unlabelled reviews, less what a fine-tuning run holds out: 200 validation reviews and the
    # one training review that repeats a test review (1,199 distinct held-out texts).
    assert report["texts"] == 2299 and report["excluded_texts"] == 1199 and report["words"] > 100_000
    # The classifier's vocabulary: the reviews it trains on that the vectors could read, words seen at least twice.
    train_texts = without_texts(make_splits(load_imdb("sample"))["train"], held_out_texts("sample"))["text"]
    tokenizer = build_tokenizer(train_texts, vocab_size=100_000, min_frequency=2)
    model = build_model(tokenizer, glove_source=str(output), hidden_size=8)
    assert model.config.embedding_dim == 12 and model.config.embedding_coverage == 1.0
    assert load_glove(str(output)).vector_size == 12
    assert json.loads((tmp_path / "vectors.kv.json").read_text())["vocabulary"] == report["vocabulary"]


def test_word_vectors_refuse_test_and_sources_without_text(tmp_path):
    with pytest.raises(DataError, match="test reviews must never"):
        learn_word_vectors(WordVectorArguments(output=str(tmp_path / "v.kv"), dataset="sample",
                                               dataset_splits="train,test"))
    folder = tmp_path / "data"
    folder.mkdir()
    Dataset.from_dict({"body": ["a film", "another"]}).to_parquet(folder / "train.parquet")
    with pytest.raises(DataError, match="no 'text' column"):
        learn_word_vectors(WordVectorArguments(output=str(tmp_path / "v.kv"), dataset=str(folder), dataset_splits="train"))
    Dataset.from_dict({"text": ["", "<br /><br />", "   "]}).to_parquet(folder / "train.parquet")
    with pytest.raises(DataError, match="hold no words"):
        learn_word_vectors(WordVectorArguments(output=str(tmp_path / "v.kv"), dataset=str(folder), dataset_splits="train"))
    with pytest.raises(ValueError, match="end it in .kv"):
        WordVectorArguments(output=str(tmp_path / "vectors.bin"))


# ---------------------------------------------------------------- the chain, through the commands' own code


@pytest.mark.slow
def test_vectors_then_pretraining_then_fine_tuning_with_the_ngram_branch(tmp_path):
    vectors = tmp_path / "vectors.kv"
    learn_word_vectors(WordVectorArguments(output=str(vectors), dataset="sample", dimension=16, epochs=1))
    lm_dir = tmp_path / "lm"
    lm_results = pretraining.main([
        "--dataset", "sample", "--output_dir", str(lm_dir), "--glove", str(vectors), "--hidden_size", "16",
        "--bidirectional", "true", "--lm_output", "adaptive", "--block_size", "32", "--vocab_size", "3000", "--max_train_texts", "300", "--max_steps", "10", "--bf16", "true",
        "--save_strategy", "no", "--eval_strategy", "no", *QUIET,
    ])
    config = json.loads((lm_dir / "config.json").read_text())
    assert config["lm_output"] == "adaptive" and config["embedding_dim"] == 16
    assert np.isfinite(lm_results["eval_perplexity"])

    narrow = KeyedVectors(vector_size=12)
    narrow.add_vectors(["film", "good"], np.ones((2, 12), dtype=np.float32))
    narrow.save(str(tmp_path / "narrow.kv"))
    with pytest.raises(PretrainedModelError, match="12-dimensional vectors.*16-dimensional embedding"):
        training.main(["--dataset", "sample", "--model_name_or_path", str(lm_dir), "--glove", str(tmp_path / "narrow.kv"),
                       "--output_dir", str(tmp_path / "never"), *QUIET])

    output_dir = tmp_path / "classifier"
    results = training.main([
        "--dataset", "sample", "--model_name_or_path", str(lm_dir), "--output_dir", str(output_dir),
        "--ngram_order", "3", "--ngram_c", "0.3", "1.0", "--num_train_epochs", "1", "--max_train_samples", "300",
        "--max_eval_samples", "100", "--max_length", "64", "--normalize_embeddings", "every_step",
        "--ema_decay", "0.99", *QUIET,
    ])
    assert 0 <= results["ngram_weight"] <= 1 and results["ngram_features"] > 0 and results["ngram_c"] in (0.3, 1.0)
    scored = [json.loads(line) for line in (output_dir / "test_predictions.jsonl").read_text().splitlines()]
    assert len(scored) == 100 and results["test_accuracy"] == pytest.approx(
        accuracy_score([row["label"] for row in scored], [row["prediction"] for row in scored]))
    for key in ("eval_recurrent_accuracy", "eval_ngram_accuracy", "test_recurrent_accuracy"):  # k of 100 reviews
        assert results[key] * 100 == pytest.approx(round(results[key] * 100), abs=1e-6), key
    # The n-gram branch joined the averaged model that was evaluated (and checkpointed) in training.
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    evaluations = [entry for entry in history if "eval_accuracy" in entry]
    assert results["eval_recurrent_accuracy"] == evaluations[-1]["eval_accuracy"]
    saved = json.loads((output_dir / "config.json").read_text())
    assert saved["ngram_order"] == 3 and saved["ngram_weight"] == results["ngram_weight"]
    assert saved["embedding_source"].startswith(f"pretrained imdb-lstm model {lm_dir}")
    assert "normalised at every training step" in saved["embedding_source"]
    model = AutoModelForSequenceClassification.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    with torch.no_grad():
        expected = model(**tokenizer(REVIEWS, padding=True, return_tensors="pt")).logits
    assert_remote_code_logits(output_dir, expected)
