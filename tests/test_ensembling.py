"""imdb_lstm.ensembling: N classifiers merged into one wider classifier whose recurrent logits are their mean."""

import numpy as np
import pytest
import torch

from helpers import SHORT_REVIEWS, tiny_model, tiny_tokenizer
from imdb_lstm import ImdbLstmConfig, ImdbLstmForSequenceClassification
from imdb_lstm.ensembling import choose_ngram_share, merge_classifiers, merge_saved_classifiers
from imdb_lstm.ngrams import attach_ngram_branch, fit_ngram_logistic_regressions
from imdb_lstm.predict import load_classifier, predict_logits


def members(tokenizer, seeds=(1, 2), **config):
    """Randomly initialised classifiers of different widths on one tokenizer (merging needs no training)."""
    models = []
    for seed, hidden in zip(seeds, (16, 8, 12)):
        torch.manual_seed(seed)
        member_config = ImdbLstmConfig(vocab_size=len(tokenizer), embedding_dim=8 + seed, hidden_size=hidden,
                                       pad_token_id=tokenizer.pad_token_id, model_max_length=64,
                                       truncation_side="left", inference_dtype="float32", **config)
        models.append(ImdbLstmForSequenceClassification(member_config).eval())
    return models


def logits(model, tokenizer, texts=SHORT_REVIEWS):
    return predict_logits(model, tokenizer, texts, dtype="float32")


# The merged model's matmuls are wider than the members' (zero blocks included), so other kernels sum in another
# order: equal to 1e-5, not bit for bit.
@pytest.mark.float_sensitive
@pytest.mark.parametrize("config", [
    {"cell": "lstm", "bidirectional": True, "pooling": "max_mean"},
    {"cell": "gru", "bidirectional": True, "pooling": "last"},
    {"cell": "lstm", "bidirectional": False, "pooling": "mean"},
    {"cell": "lstm", "bidirectional": True, "pooling": "max"},
])
def test_the_merged_logits_are_the_members_mean(config):
    tokenizer = tiny_tokenizer()
    parts = members(tokenizer, seeds=(1, 2, 3), **config)
    merged = merge_classifiers(parts)
    assert (merged.config.hidden_size, merged.config.embedding_dim) == (16 + 8 + 12, 9 + 10 + 11)
    expected = torch.stack([logits(part, tokenizer) for part in parts]).mean(dim=0)
    assert not torch.allclose(logits(parts[0], tokenizer), expected, atol=1e-3)  # members that disagree
    torch.testing.assert_close(logits(merged, tokenizer), expected, atol=1e-5, rtol=1e-5)


def test_a_merged_folder_saves_and_loads_as_any_classifier(tmp_path):
    tokenizer = tiny_tokenizer()
    for index, part in enumerate(members(tokenizer)):
        part.save_pretrained(tmp_path / f"member{index}")
        tokenizer.save_pretrained(tmp_path / f"member{index}")
    merged, merged_tokenizer = merge_saved_classifiers([tmp_path / "member0", tmp_path / "member1"])
    merged.save_pretrained(tmp_path / "merged")
    merged_tokenizer.save_pretrained(tmp_path / "merged")
    loaded, loaded_tokenizer = load_classifier(tmp_path / "merged")
    assert isinstance(loaded, ImdbLstmForSequenceClassification)
    torch.testing.assert_close(logits(loaded, loaded_tokenizer), logits(merged, tokenizer))


def test_the_n_gram_share_is_chosen_again_on_the_given_reviews():
    tokenizer = tiny_tokenizer()
    texts = list(SHORT_REVIEWS) * 3
    labels = [1, 0, 1, 0] * 3
    parts = members(tokenizer)
    ids = tokenizer(texts, truncation=True)["input_ids"]
    (ngrams,) = fit_ngram_logistic_regressions(ids, labels, parts[0].config.vocab_size, order=2, min_count=1,
                                               Cs=[1.0])
    for part in parts:
        attach_ngram_branch(part, ngrams, 0.3)
    merged = merge_classifiers(parts)
    torch.testing.assert_close(merged.ngram.weights, parts[0].ngram.weights)
    chosen = choose_ngram_share(merged, tokenizer, texts, labels)
    assert merged.config.ngram_weight == chosen["ngram_weight"]
    joined = logits(merged, tokenizer, texts)
    assert chosen["eval_accuracy"] == float(np.mean(joined.argmax(-1).numpy() == np.asarray(labels)))


def test_members_that_cannot_be_merged_are_refused_with_the_reason():
    tokenizer = tiny_tokenizer()
    lstm, gru = tiny_model(tokenizer, cell="lstm")[0], tiny_model(tokenizer, cell="gru")[0]
    with pytest.raises(ValueError, match="differs from member 0 in .*cell"):
        merge_classifiers([lstm, gru])
    with pytest.raises(ValueError, match="at least two"):
        merge_classifiers([lstm])
    deep = [tiny_model(tokenizer, num_layers=2, bidirectional=False)[0] for _ in range(2)]
    with pytest.raises(ValueError, match="single recurrent layer"):
        merge_classifiers(deep)


def test_members_with_different_tokenizers_are_refused(tmp_path):
    for index, max_length in enumerate((64, 32)):
        model, tokenizer = tiny_model(tiny_tokenizer(max_length))
        model.save_pretrained(tmp_path / f"member{index}")
        tokenizer.save_pretrained(tmp_path / f"member{index}")
    with pytest.raises(ValueError, match="tokenizer differs"):
        merge_saved_classifiers([tmp_path / "member0", tmp_path / "member1"])
