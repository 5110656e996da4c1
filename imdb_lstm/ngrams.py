"""The classifier's n-gram branch: an NB-weighted logistic regression (Wang & Manning 2012's NB features, fitted
by scikit-learn) over the presence of 1..n-grams of the model's own token ids, stored inside the transformers
model (`ImdbLstmNgramBranch`: sorted integer keys and one weight each) so that `pipeline`, `save_pretrained`,
the Hub and remote code see one model.

Fitting (`fit_ngram_logistic_regression`): the training reviews' token ids (as the model reads them: its
vocabulary, `[UNK]` for the rest, its truncation) → the distinct n-grams of each review → the n-grams found in at
least `min_count` training reviews → binary features → NB log-count ratios r (smoothing `alpha`) → logistic
regression on the features scaled by r (`C`) → one weight per n-gram, `coef * r`, and the intercept. Then
`choose_ngram_weight` picks, on validation only, the share of the n-gram log-odds in the joined ones, and
`attach_ngram_branch` writes everything into the classifier and its config.

The keys are those of `ImdbLstmNgramBranch`: n-gram (t1, ..., tn) → sum over k of (t_k + 1) * (vocab_size + 1) **
(n - k), unique across orders because no digit is zero.
"""

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from .modeling_imdb_lstm import ImdbLstmForSequenceClassification, ImdbLstmNgramBranch

logger = logging.getLogger(__name__)

# Shares of the n-gram log-odds tried on validation.
WEIGHT_GRID = tuple(round(0.05 * step, 2) for step in range(21))


@dataclass
class NgramLogisticRegression:
    """A fitted n-gram model: sorted `keys` (int64), their `weights` (float32) and the `bias` (log-odds)."""

    order: int
    vocab_size: int
    keys: np.ndarray
    weights: np.ndarray
    bias: float
    C: float
    fit_seconds: float

    def log_odds(self, id_lists) -> np.ndarray:
        """Log-odds of POSITIVE for each review's token ids (what the model's branch computes)."""
        matrix = presence_matrix(id_lists, self.keys, self.order, self.vocab_size)
        return matrix @ self.weights.astype(np.float64) + self.bias


def review_keys(ids, order: int, vocab_size: int) -> np.ndarray:
    """The distinct n-gram keys (1..`order` words) of one review's token ids, sorted."""
    digits = np.asarray(ids, dtype=np.int64) + 1
    base = vocab_size + 1
    parts = []
    for n in range(1, order + 1):
        if len(digits) < n:
            break
        key = np.zeros(len(digits) - n + 1, dtype=np.int64)
        for k in range(n):
            key = key * base + digits[k : len(digits) - n + 1 + k]
        parts.append(key)
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def presence_matrix(id_lists, keys: np.ndarray, order: int, vocab_size: int):
    """(reviews × len(keys)) binary CSR matrix: which of the sorted `keys` occur in each review."""
    from scipy.sparse import csr_matrix

    indptr, indices = [0], []
    for ids in id_lists:
        found = review_keys(ids, order, vocab_size)
        position = np.searchsorted(keys, found).clip(max=max(len(keys) - 1, 0))
        hits = position[keys[position] == found] if len(keys) else position[:0]
        indices.append(hits)
        indptr.append(indptr[-1] + len(hits))
    indices = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    data = np.ones(len(indices), dtype=np.float64)
    return csr_matrix((data, indices, np.asarray(indptr)), shape=(len(indptr) - 1, len(keys)))


def nb_log_count_ratio(features, labels, alpha: float = 1.0) -> np.ndarray:
    """Wang & Manning's NB log-count ratio r of each binary feature column, smoothed by `alpha`."""
    labels = np.asarray(labels)
    positive = np.asarray(features[labels == 1].sum(axis=0)).ravel() + alpha
    negative = np.asarray(features[labels == 0].sum(axis=0)).ravel() + alpha
    return np.log(positive / positive.sum()) - np.log(negative / negative.sum())


def fit_ngram_logistic_regression(
    id_lists, labels, vocab_size: int, order: int = 3, min_count: int = 2, C: float = 1.0, alpha: float = 1.0,
) -> NgramLogisticRegression:
    """Fit the NB-weighted logistic regression on training reviews only (see the module docstring)."""
    return fit_ngram_logistic_regressions(id_lists, labels, vocab_size, order, min_count, [C], alpha)[0]


def fit_ngram_logistic_regressions(
    id_lists, labels, vocab_size: int, order: int = 3, min_count: int = 2, Cs=(1.0,), alpha: float = 1.0,
) -> list[NgramLogisticRegression]:
    """One fitted model per inverse regularisation strength in `Cs`; the n-gram features are built once."""
    from sklearn.linear_model import LogisticRegression

    if order < 1:
        raise ValueError(f"order={order} must be at least 1 (unigrams).")
    if min_count < 1:
        raise ValueError(f"min_count={min_count} must be at least 1 review.")
    for C in Cs:
        if not C > 0:
            raise ValueError(f"C={C} must be a positive number (the inverse regularisation strength).")
    labels = np.asarray(labels)
    if len(labels) != len(id_lists) or set(np.unique(labels).tolist()) != {0, 1}:
        raise ValueError("The n-gram model needs one label per review and both labels (0 and 1) among them.")
    started = time.perf_counter()
    per_review = [review_keys(ids, order, vocab_size) for ids in id_lists]
    every, counts = np.unique(np.concatenate(per_review), return_counts=True)
    keys = every[counts >= min_count]
    if len(keys) == 0:
        raise ValueError(f"No n-gram occurs in min_count={min_count} training reviews; lower the count.")
    features = presence_matrix(id_lists, keys, order, vocab_size)
    ratio = nb_log_count_ratio(features, labels, alpha)
    scaled = features.multiply(ratio).tocsr()
    features_seconds = time.perf_counter() - started
    models = []
    for C in Cs:
        started = time.perf_counter()
        classifier = LogisticRegression(C=C, solver="liblinear", max_iter=1000).fit(scaled, labels)
        weights = (classifier.coef_.ravel() * ratio).astype(np.float32)
        seconds = features_seconds + time.perf_counter() - started
        logger.info("n-gram model: %d n-grams (1..%d, in >= %d reviews), C=%g, fitted in %.1f s", len(keys), order,
                    min_count, C, seconds)
        models.append(NgramLogisticRegression(order=order, vocab_size=vocab_size, keys=keys, weights=weights,
                                              bias=float(classifier.intercept_[0]), C=C, fit_seconds=seconds))
    return models


def accuracy(log_odds: np.ndarray, labels) -> float:
    return float(np.mean((np.asarray(log_odds) > 0).astype(int) == np.asarray(labels)))


def choose_ngram_weight(recurrent_log_odds, ngram_log_odds, labels, grid=WEIGHT_GRID) -> tuple[float, float]:
    """(weight, accuracy): the share w of the n-gram log-odds in `(1 - w) * recurrent + w * n-gram` with the best
    accuracy on these (validation) reviews; ties go to the weight with the lower log-loss."""
    labels = np.asarray(labels)
    signs = np.where(labels == 1, 1.0, -1.0)
    best = None
    for weight in grid:
        joined = (1 - weight) * np.asarray(recurrent_log_odds) + weight * np.asarray(ngram_log_odds)
        score = (accuracy(joined, labels), -float(np.mean(np.logaddexp(0.0, -signs * joined))))
        if best is None or score > best[0]:
            best = (score, weight)
    return best[1], best[0][0]


def attach_ngram_branch(model: ImdbLstmForSequenceClassification, ngrams: NgramLogisticRegression,
                        weight: float) -> None:
    """Write the fitted n-gram model into the classifier (buffers and config), joined with share `weight`."""
    if ngrams.vocab_size != model.config.vocab_size:
        raise ValueError(f"The n-gram model was fitted for {ngrams.vocab_size} token ids, the classifier has "
                         f"{model.config.vocab_size}: fit it on this model's tokenizer.")
    model.config.ngram_order = ngrams.order
    model.config.ngram_features = len(ngrams.keys)
    model.config.ngram_weight = float(weight)
    model.config.validate()
    branch = ImdbLstmNgramBranch(model.config)
    branch.keys.copy_(torch.from_numpy(ngrams.keys))
    branch.weights.copy_(torch.from_numpy(ngrams.weights))
    branch.bias.fill_(ngrams.bias)
    model.ngram = branch.to(next(model.parameters()).device)
