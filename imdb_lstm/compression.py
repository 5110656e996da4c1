"""Making a trained classifier small enough to ship, each step measured on validation reviews (never test):

1. `prune_ngram_branch`: keep only the n-grams whose weights matter most (largest |weight|: an n-gram's whole effect
   on a review that holds it), choosing the smallest table whose validation accuracy stays within a tolerance of
   the full table's (`choose_ngram_table`);
2. `save_compact`: the word embedding stored in bfloat16 (or float16) in `model.safetensors`, everything else in
   float32; `from_pretrained` reads it back into the float32 model, so the stored values are what any user
   computes with. `round_embedding` gives the in-memory model exactly those values, to measure them first.

The build command (`imdb_lstm.commands.build_default`) runs these on its chosen classifier and records each step's
size and validation accuracy.
"""

import logging
import tempfile
from pathlib import Path

import numpy as np
import torch

from .predict import predict_logits

logger = logging.getLogger(__name__)

EMBEDDING_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
EMBEDDING_KEY = "imdb_lstm.embedding.weight"


def validation_accuracy(model, tokenizer, texts: list[str], labels, batch_size: int = 256) -> float:
    """Accuracy on (validation) `texts` in float32: the exact arithmetic, the same on every CPU up to the last bits."""
    logits = predict_logits(model, tokenizer, texts, batch_size=batch_size, dtype="float32")
    return float((logits.argmax(dim=-1).numpy() == np.asarray(labels)).mean())


def ngram_table_size(model) -> int:
    return 0 if getattr(model, "ngram", None) is None else int(model.ngram.keys.numel())


def prune_ngram_branch(model, keep: int) -> None:
    """Keep the `keep` n-grams of largest |weight| in the classifier's n-gram branch (its keys stay sorted, as the
    lookup needs); the bias and the branch's share are unchanged."""
    branch = model.ngram
    if branch is None:
        raise ValueError("The classifier has no n-gram branch to prune (ngram_order=0).")
    if keep >= branch.keys.numel():
        return
    if keep < 1:
        raise ValueError(f"keep={keep}: an n-gram table needs at least one n-gram (or train with ngram_order=0).")
    kept = torch.topk(branch.weights.abs(), keep).indices.sort().values  # ascending index = ascending key
    branch.keys = branch.keys[kept].clone()
    branch.weights = branch.weights[kept].clone()
    model.config.ngram_features = keep


def choose_ngram_table(model, tokenizer, texts, labels, sizes, tolerance: float) -> tuple[int, list[dict]]:
    """Prune `model`'s n-gram table to the smallest of `sizes` whose validation accuracy is at least the full
    table's minus `tolerance` (the model is left pruned to it); returns (that size, one record per size tried)."""
    full_keys, full_weights = model.ngram.keys.clone(), model.ngram.weights.clone()
    full_size = full_keys.numel()
    full_accuracy = validation_accuracy(model, tokenizer, texts, labels)
    trials = [{"ngrams": full_size, "eval_accuracy": full_accuracy}]
    chosen = full_size
    for size in sorted((s for s in sizes if s < full_size), reverse=True):
        prune_ngram_branch(model, size)
        accuracy = validation_accuracy(model, tokenizer, texts, labels)
        trials.append({"ngrams": size, "eval_accuracy": accuracy})
        logger.info("n-gram table of %d: validation accuracy %.4f (full %d: %.4f)", size, accuracy, full_size,
                    full_accuracy)
        if accuracy >= full_accuracy - tolerance:
            chosen = size
        model.ngram.keys, model.ngram.weights = full_keys.clone(), full_weights.clone()
        model.config.ngram_features = full_size
    prune_ngram_branch(model, chosen)
    return chosen, trials


def round_embedding(model, dtype: str) -> None:
    """Give the in-memory float32 model the word vectors `save_compact(..., dtype)` stores."""
    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        weight.copy_(weight.to(EMBEDDING_DTYPES[dtype]).float())


def save_compact(model, tokenizer, folder, embedding_dtype: str = "bfloat16") -> Path:
    """`save_pretrained` with the word embedding stored in `embedding_dtype`; the config keeps float32, so
    `from_pretrained` loads a float32 model (the embedding's stored values cast up). Returns the folder."""
    if embedding_dtype not in EMBEDDING_DTYPES:
        raise ValueError(f"embedding_dtype={embedding_dtype!r}: choose one of {sorted(EMBEDDING_DTYPES)}.")
    state_dict = model.state_dict()
    if EMBEDDING_KEY not in state_dict:
        raise ValueError(f"The model has no {EMBEDDING_KEY!r} to store compactly.")
    state_dict[EMBEDDING_KEY] = state_dict[EMBEDDING_KEY].to(EMBEDDING_DTYPES[embedding_dtype])
    folder = Path(folder)
    model.save_pretrained(folder, state_dict=state_dict)
    tokenizer.save_pretrained(folder)
    return folder


def saved_size_mb(model, tokenizer, embedding_dtype: str = "float32") -> float:
    """The size in MB (10^6 bytes) of `model.safetensors` as `save_compact` would write it now."""
    with tempfile.TemporaryDirectory(prefix="imdb-lstm-size-") as folder:
        save_compact(model, tokenizer, folder, embedding_dtype)
        return (Path(folder) / "model.safetensors").stat().st_size / 1e6
