"""Word vectors through gensim: the offline default, local files, coverage, clear errors."""

import gensim.downloader
import numpy as np
import pytest
from gensim.models import KeyedVectors
from helpers import tiny_tokenizer

from imdb_lstm import build_model
from imdb_lstm.glove import DEFAULT_GLOVE, GloveSourceError, embedding_matrix, load_glove

# glove.6B.50d.txt, first line: "the 0.418 0.24968 -0.41242 0.1217 0.34527 -0.044457 -0.49688 -0.17862 ..."
THE_PREFIX = [0.418, 0.24968, -0.41242, 0.1217, 0.34527, -0.044457, -0.49688, -0.17862]


def test_default_source_is_glove_6b_50d_offline():
    vectors = load_glove()
    assert vectors.vector_size == 50 and len(vectors) == 400_000
    np.testing.assert_allclose(vectors["the"][:8], THE_PREFIX, rtol=1e-6)
    assert vectors.index_to_key[:4] == ["the", ",", ".", "of"]


@pytest.fixture()
def small_vectors():
    vectors = KeyedVectors(vector_size=3)
    vectors.add_vectors(["good", "bad", "film"], np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.float32))
    return vectors


def test_local_files_in_every_accepted_format(tmp_path, small_vectors):
    (tmp_path / "glove.txt").write_text("good 1 2 3\nbad 4 5 6\nfilm 7 8 9\n")
    small_vectors.save_word2vec_format(str(tmp_path / "w2v.txt"), binary=False)
    small_vectors.save_word2vec_format(str(tmp_path / "w2v.bin"), binary=True)
    small_vectors.save(str(tmp_path / "vectors.kv"))
    for name in ("glove.txt", "w2v.txt", "w2v.bin", "vectors.kv"):
        loaded = load_glove(str(tmp_path / name))
        np.testing.assert_array_equal(loaded["bad"], [4, 5, 6])
        assert len(loaded) == 3


@pytest.mark.parametrize("content", ["good 1 2 3\nbad 4 5\n", "\x00\x01garbage\xff"])
def test_malformed_file_gives_clear_error(tmp_path, content):
    path = tmp_path / "broken.txt"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(GloveSourceError, match="Could not read word vectors") as error:
        load_glove(str(path))
    assert "gensim-data name" in str(error.value)  # lists the accepted forms


def test_unknown_source_lists_accepted_forms():
    with pytest.raises(GloveSourceError, match="glove-wiki-gigaword-100") as error:
        load_glove("glove-does-not-exist")
    assert "no file and no gensim-data name" in str(error.value)


def test_gensim_data_failure_is_explained(monkeypatch):
    def offline(name):
        raise OSError("network unreachable")

    monkeypatch.setattr(gensim.downloader, "load", offline)
    with pytest.raises(GloveSourceError, match="needs the internet once"):
        load_glove.__wrapped__("glove-wiki-gigaword-100")


def test_embedding_matrix_and_coverage(small_vectors):
    vocab = {"[PAD]": 0, "[UNK]": 1, "good": 2, "film": 3, "zzz": 4}
    matrix, coverage = embedding_matrix(vocab, small_vectors, special_ids={0, 1})
    assert (coverage.found, coverage.total) == (2, 3)
    assert "2/3 vocabulary words" in str(coverage)
    np.testing.assert_array_equal(matrix[2], [1, 2, 3])
    np.testing.assert_array_equal(matrix[[0, 1, 4]], np.zeros((3, 3)))
    random_matrix, _ = embedding_matrix(vocab, small_vectors, special_ids={0, 1}, oov="random")
    assert np.abs(random_matrix[4]).sum() > 0 and np.abs(random_matrix[:2]).sum() == 0
    with pytest.raises(ValueError, match="oov"):
        embedding_matrix(vocab, small_vectors, oov="mean")


def test_build_model_copies_glove_into_the_embedding():
    tokenizer = tiny_tokenizer()
    model = build_model(tokenizer, hidden_size=8)
    vectors = load_glove(DEFAULT_GLOVE)
    weight = model.get_input_embeddings().weight.detach().numpy()
    vocab = tokenizer.get_vocab()
    np.testing.assert_array_equal(weight[vocab["movie"]], vectors["movie"])
    assert np.abs(weight[tokenizer.pad_token_id]).sum() == 0
    assert model.config.embedding_source == DEFAULT_GLOVE
    assert 0.9 < model.config.embedding_coverage <= 1.0
    assert model.config.vocab_size == len(tokenizer) and model.config.embedding_dim == 50


def test_build_model_copies_the_vectors_into_an_untied_language_models_output_layer():
    import torch

    from imdb_lstm import ImdbLstmForCausalLM

    tokenizer = tiny_tokenizer()
    untied = build_model(tokenizer, hidden_size=8, model_class=ImdbLstmForCausalLM, tie_word_embeddings=False)
    output, embedding = untied.get_output_embeddings().weight, untied.get_input_embeddings().weight
    assert torch.equal(output, embedding) and output.data_ptr() != embedding.data_ptr()  # a copy of its own
    assert torch.equal(embedding[tokenizer.get_vocab()["movie"]], torch.tensor(load_glove(DEFAULT_GLOVE)["movie"]))
    # Tied, the output layer is the embedding itself; a classifier has none.
    assert build_model(tokenizer, hidden_size=8, model_class=ImdbLstmForCausalLM).get_output_embeddings() is None
