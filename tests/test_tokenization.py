"""The word-level tokenizer: GloVe-style splitting, IMDB markup removed, saved and loaded without remote code."""

import pytest
from helpers import sample_texts
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from imdb_lstm import build_tokenizer
from imdb_lstm.tokenization import build_backend


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("I don't like it's ending!!", ["i", "do", "n't", "like", "it", "'s", "ending", "!", "!"]),
        ("Great<br /><br />film", ["great", "film"]),
        ("Can't WON'T they're", ["ca", "n't", "wo", "n't", "they", "'re"]),
        ("10/10, a well-known U.S. film.", ["10", "/", "10", ",", "a", "well-known", "u.s", ".", "film", "."]),
        ("ﬁlm café 😀", ["film", "café", "😀"]),  # NFKC folds the ligature
        ("", []),
        ("   \n\t ", []),
    ],
)
def test_normalisation_and_splitting_follow_glove(text, tokens):
    backend = build_backend()
    normalised = backend.normalizer.normalize_str(text)
    assert [piece for piece, _ in backend.pre_tokenizer.pre_tokenize_str(normalised)] == tokens


def test_vocabulary_is_learnt_with_limits_and_specials_first():
    tokenizer = build_tokenizer(sample_texts(), vocab_size=500, min_frequency=3, model_max_length=32)
    vocab = tokenizer.get_vocab()
    assert len(tokenizer) == 500
    assert vocab["[PAD]"] == 0 and vocab["[UNK]"] == 1
    assert tokenizer.pad_token_id == 0 and tokenizer.padding_side == "right"
    assert "the" in vocab and "," in vocab
    encoded = tokenizer("zzzqqq the movie", truncation=True)
    assert encoded["input_ids"][0] == 1  # unknown word
    assert list(encoded) == ["input_ids", "attention_mask"]
    long = tokenizer(" ".join(["the"] * 100), truncation=True)
    assert len(long["input_ids"]) == 32


def test_save_and_load_with_auto_tokenizer(tmp_path):
    tokenizer = build_tokenizer(sample_texts(), vocab_size=300, model_max_length=48)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").exists()
    for loaded in (AutoTokenizer.from_pretrained(tmp_path), PreTrainedTokenizerFast.from_pretrained(tmp_path)):
        assert isinstance(loaded, PreTrainedTokenizerFast)
        assert loaded.model_max_length == 48
        assert loaded("A fine film")["input_ids"] == tokenizer("A fine film")["input_ids"]


@pytest.mark.parametrize(
    "kwargs, message",
    [({"vocab_size": 2}, "vocab_size"), ({"min_frequency": 0}, "min_frequency"), ({"model_max_length": 0}, "model_max_length")],
)
def test_bad_tokenizer_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_tokenizer(["a b c"], **kwargs)


def test_no_word_frequent_enough():
    with pytest.raises(ValueError, match="min_frequency"):
        build_tokenizer(["one two three"], min_frequency=5)


def test_truncation_side_is_validated():
    with pytest.raises(ValueError, match="truncation_side='middle'.*'left' \\(keep the end\\)"):
        build_tokenizer(["a b c a b c"], min_frequency=1, truncation_side="middle")


@pytest.mark.parametrize("side, kept", [("left", slice(-6, None)), ("right", slice(0, 6))])
def test_truncation_side_survives_save_and_load_and_is_applied_by_the_pipeline(tmp_path, side, kept):
    import torch
    from transformers import pipeline

    from imdb_lstm import build_model

    tokenizer = build_tokenizer(sample_texts(), vocab_size=800, min_frequency=1, model_max_length=6, truncation_side=side)
    model = build_model(tokenizer, hidden_size=8, pooling="last").eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.truncation_side == side

    review = "the acting was dreadful and the plot was dull but the ending was wonderful and moving"
    words = loaded(review)["input_ids"]
    assert len(words) > 6
    assert loaded(review, truncation=True)["input_ids"] == words[kept]
    with torch.no_grad():
        expected = model(input_ids=torch.tensor([words[kept]])).logits.softmax(-1)[0]
        other_side = model(input_ids=torch.tensor([words[slice(0, 6) if side == "left" else slice(-6, None)]])).logits
    assert not torch.allclose(expected, other_side.softmax(-1)[0], atol=1e-4)  # the side makes a difference here
    classify = pipeline("text-classification", model=str(tmp_path), top_k=None, truncation=True)
    scores = {item["label"]: item["score"] for item in classify([review])[0]}
    assert [scores["NEGATIVE"], scores["POSITIVE"]] == pytest.approx(expected.tolist(), abs=1e-6)
