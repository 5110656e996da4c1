"""The teachers of distillation (`imdb-lstm-distill --teacher_model A [B ...]`) and their soft labels.

A teacher is a trained classifier (a folder or Hub repo of imdb-lstm-train's output) or `ngram:N`, an NB-weighted
logistic regression over word 1..N-grams (Wang & Manning 2012) fitted on the run's training reviews: a fast member
whose mistakes differ from a recurrent network's. Several teachers are one ensemble: their log-probabilities are
averaged with weights chosen on the run's validation reviews (lowest log-loss over a grid on the simplex).

Soft labels are computed once per teacher and set of texts, and cached (`--soft_label_cache DIR`): an entry holds
the teacher's logits with a fingerprint of the teacher (its files' bytes, or the n-gram recipe and its training
data) and of the texts. A second student, or a second round, reads them instead of scoring again; an entry whose
fingerprints do not match is recomputed with a warning, never reused.

Targets on the labelled (training) reviews (`--distill_labelled_targets`): a neural teacher scored the reviews it
was trained on, so its soft labels there mostly repeat the gold label it memorised. `gold` (the default) trains the
student on the gold label, smoothed by `--distill_label_smoothing`, and on soft labels only for unlabelled reviews;
`out_of_fold` takes every teacher's scores from a model that did not train on the review (k-fold fits for n-gram
teachers; neural teachers have no such scores and are refused); `teacher` keeps the in-sample soft labels (the
first version's behaviour, for comparison).

Split protocol: a classifier teacher must have been trained under the student's split protocol
(`--split_protocol`, with `--validation_fraction` and `--split_seed` where they shape the splits), as its
`run_info.json` records it; under another protocol it may have trained on the student's validation or test reviews,
so it is refused (`TeacherError`). A teacher with no such record (no `run_info.json`) is used with a warning.
"""

import functools
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np

from ..data import DataError, parse_split_spec
from ..ngrams import nb_log_count_ratio
from ..predict import check_classifier_config, load_classifier, predict_logits
from ..word_vectors import word_splitter

logger = logging.getLogger(__name__)

NGRAM_TEACHER = re.compile(r"ngram:([1-9])")
LABELLED_TARGETS = ("gold", "out_of_fold", "teacher")
WEIGHT_STEP = 0.05


class TeacherError(DataError):
    """A teacher that cannot teach this run; the message says what was found and what to give."""


def fingerprint(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else str(part).encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def texts_fingerprint(texts) -> str:
    return fingerprint(len(texts), *texts)


@dataclass
class Teacher:
    """One member of the ensemble: `score(texts)` gives (n, num_labels) float32 logits; `calls` counts the texts
    it scored (the cache's tests read it)."""

    name: str
    id2label: dict
    fingerprint: str
    calls: int = 0
    _score: object = field(default=None, repr=False)
    _out_of_fold: object = field(default=None, repr=False)

    def score(self, texts: list[str]) -> np.ndarray:
        self.calls += len(texts)
        return np.asarray(self._score(list(texts)), dtype=np.float32)

    @functools.cached_property
    def out_of_fold(self) -> np.ndarray | None:
        """Logits on the training reviews from models that did not train on them (None: the teacher has none)."""
        return None if self._out_of_fold is None else np.asarray(self._out_of_fold(), dtype=np.float32)


def split_protocol_of(data_arguments) -> dict:
    """What decides which reviews a run trains, selects and is scored on: its `split_protocol`, with the
    `validation_fraction` and `split_seed` that shape the splits under it (canonical with no validation share: the
    seed shapes nothing). `data_arguments`: fine-tuning's `DataArguments`, or their record in a `run_info.json`
    (`arguments.data`, a dict; a field it lacks takes the default)."""
    def get(name, default):
        value = data_arguments.get(name) if isinstance(data_arguments, dict) else getattr(data_arguments, name, None)
        return default if value is None else value

    protocol = str(get("split_protocol", "canonical")).strip()
    if protocol == "canonical":
        fraction = float(get("validation_fraction", 0.1))
        return {"split_protocol": protocol, "validation_fraction": fraction,
                "split_seed": int(get("split_seed", 42)) if fraction > 0 else None}
    try:  # "50/25/25" and "50.0/25/25" are one protocol
        protocol = "/".join(f"{100 * share:g}" for share in parse_split_spec(protocol))
    except DataError:
        pass
    return {"split_protocol": protocol, "split_seed": int(get("split_seed", 42))}


def describe_split_protocol(protocol: dict) -> str:
    """`split_protocol_of`'s record as the flags that give it, e.g. "--split_protocol canonical
    --validation_fraction 0.1 --split_seed 42"."""
    words = [f"--split_protocol {protocol['split_protocol']}"]
    if "validation_fraction" in protocol:
        words.append(f"--validation_fraction {protocol['validation_fraction']:g}")
    if protocol.get("split_seed") is not None:
        words.append(f"--split_seed {protocol['split_seed']}")
    return " ".join(words)


def recorded_split_protocol(source: str) -> dict | None:
    """The split protocol (`split_protocol_of`) the classifier at `source` (a folder or Hub repo) was trained
    under, read from the `run_info.json` that imdb-lstm-train writes (and pushes) beside the model; None where there
    is no such record."""
    local = Path(source)
    if local.is_dir():
        path = local / "run_info.json"
        if not path.is_file():
            return None
    else:
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(source, "run_info.json"))
        except Exception as error:  # offline, no such repo or file: whatever the Hub client raises, no record
            logger.info("No run_info.json read for %s (%s).", source, error)
            return None
    try:
        data_arguments = json.loads(path.read_text())["arguments"]["data"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return split_protocol_of(data_arguments) if isinstance(data_arguments, dict) else None


def check_split_protocol(source: str, split_protocol: dict, warn_unrecorded: bool = True) -> None:
    """Refuse (`TeacherError`) the classifier at `source` when its `run_info.json` records another split protocol
    than `split_protocol` (the student's, `split_protocol_of`); warn when it records none (with
    `warn_unrecorded`). `ngram:N` teachers fit on the run's own training reviews: nothing to check."""
    if NGRAM_TEACHER.fullmatch(source):
        return
    recorded = recorded_split_protocol(source)
    if recorded is None:
        if not warn_unrecorded:
            return
        logger.warning("--teacher_model %s records no split protocol (no run_info.json with arguments.data): it "
                       "cannot be checked to have been trained under this run's (%s), so that it never saw this "
                       "run's validation or test reviews.", source, describe_split_protocol(split_protocol))
    elif recorded != split_protocol:
        raise TeacherError(
            f"--teacher_model {source} was trained under the split protocol {describe_split_protocol(recorded)}, "
            f"but this run's is {describe_split_protocol(split_protocol)}: under another protocol the teacher may "
            "have trained on this run's validation or test reviews, and the student would learn them through its "
            f"soft labels. Run the student with {describe_split_protocol(recorded)}, or distil from a teacher trained "
            "under this run's protocol."
        )


def classifier_teacher(source: str, batch_size: int = 256, split_protocol: dict | None = None) -> Teacher:
    """A trained imdb-lstm classifier (folder or Hub repo) as a teacher, scoring in float32 (targets should not
    carry bfloat16 noise). Raises `TeacherError` for anything that is not one, and, given the student's
    `split_protocol` (`split_protocol_of`), for one trained under another (see `check_split_protocol`)."""
    try:
        model, tokenizer = load_classifier(source)
    except (OSError, ValueError) as error:
        raise TeacherError(f"--teacher_model {source}: not a trained imdb-lstm classifier ({error}).") from error
    check_classifier_config(model.config, source)
    if split_protocol is not None:
        check_split_protocol(source, split_protocol)
    local = Path(source)
    if local.is_dir():
        files = sorted(path for path in local.iterdir() if path.suffix in (".json", ".safetensors"))
        identity = fingerprint(*(path.name.encode() + path.read_bytes() for path in files))
    else:  # a Hub repo: its resolved commit names the weights
        identity = fingerprint(source, getattr(model.config, "_commit_hash", None) or "")

    def score(texts):
        return predict_logits(model, tokenizer, texts, batch_size=batch_size, dtype="float32").numpy()

    id2label = {int(key): value for key, value in model.config.id2label.items()}
    return Teacher(name=source, id2label=id2label, fingerprint=identity, _score=score)


def fit_nblr(texts, labels, order: int, C: float = 1.0, min_count: int = 2):
    """NB-weighted logistic regression over binary word 1..`order`-grams seen in `min_count` reviews, words split
    as the package's tokenizer splits them; returns a function texts -> (n, 2) logits."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = CountVectorizer(tokenizer=word_splitter(), lowercase=False, token_pattern=None,
                                 ngram_range=(1, order), binary=True, min_df=min_count)
    features = vectorizer.fit_transform(texts)
    labels = np.asarray(labels)
    ratio = nb_log_count_ratio(features, labels)
    classifier = LogisticRegression(C=C, solver="liblinear", max_iter=1000).fit(features.multiply(ratio).tocsr(),
                                                                               labels)

    def score(new_texts):
        log_odds = classifier.decision_function(vectorizer.transform(new_texts).multiply(ratio).tocsr())
        return np.stack([-log_odds / 2, log_odds / 2], axis=1)

    return score


def fold_assignment(count: int, folds: int, seed: int) -> np.ndarray:
    """Which of `folds` folds each of `count` training reviews belongs to (a seeded shuffle, sizes within one)."""
    return np.random.default_rng(seed).permutation(np.arange(count) % folds)


def ngram_teacher(spec: str, train_texts, train_labels, id2label: dict, folds: int = 5, seed: int = 42,
                  C: float = 1.0) -> Teacher:
    """`ngram:N`: NB-LR on the run's training reviews (see `fit_nblr`); its scores on those reviews come from
    `folds` models each fitted without the fold it scores (out of fold), its scores on any other text from the
    model fitted on all of them."""
    order = int(NGRAM_TEACHER.fullmatch(spec).group(1))
    if sorted(id2label) != [0, 1]:
        raise TeacherError(f"--teacher_model {spec}: the n-gram teacher is binary by nature (NB log-count ratios of "
                           f"two classes); this run has labels {id2label}. Use classifier teachers.")
    train_texts, train_labels = list(train_texts), np.asarray(train_labels)
    if folds < 2:
        raise TeacherError(f"--teacher_folds {folds}: out-of-fold scores need at least 2 folds.")

    def out_of_fold():
        assignment = fold_assignment(len(train_texts), folds, seed)
        logits = np.zeros((len(train_texts), 2), dtype=np.float32)
        for fold in range(folds):
            held = assignment == fold
            score = fit_nblr([t for t, h in zip(train_texts, held) if not h], train_labels[~held], order, C)
            logits[held] = score([t for t, h in zip(train_texts, held) if h])
        return logits

    @functools.cache
    def full_model():  # fitted once, when a text is first scored (a run that reads the cache never fits it)
        return fit_nblr(train_texts, train_labels, order, C)

    # What it scores beyond the training reviews comes from the model fitted on all of them: folds and seed only
    # shape the out-of-fold scores, which are computed here and never cached.
    identity = fingerprint(spec, C, texts_fingerprint(train_texts), train_labels.tobytes())
    return Teacher(name=spec, id2label=dict(id2label), fingerprint=identity, _score=lambda texts: full_model()(texts),
                   _out_of_fold=out_of_fold)


def load_teachers(sources: list[str], train_texts, train_labels, id2label: dict, folds: int = 5, seed: int = 42,
                  batch_size: int = 256, split_protocol: dict | None = None) -> list[Teacher]:
    """The teachers named by `--teacher_model`, each checked to have the run's label set, and each classifier
    teacher, given the run's `split_protocol` (`split_protocol_of`), to have been trained under it."""
    if not sources:
        raise TeacherError("--teacher_model: give at least one trained classifier (folder or Hub repo) or ngram:N.")
    teachers = []
    for source in sources:
        if NGRAM_TEACHER.fullmatch(source):
            teacher = ngram_teacher(source, train_texts, train_labels, id2label, folds, seed)
        else:
            teacher = classifier_teacher(source, batch_size, split_protocol)
        if teacher.id2label != id2label:
            raise TeacherError(
                f"--teacher_model {source} has the labels {teacher.id2label}, but this run's are {id2label}: teachers "
                "and student must share one label set (same ids, same names)."
            )
        teachers.append(teacher)
    return teachers


class SoftLabelCache:
    """Teachers' logits on sets of texts, one `.npz` file per (teacher, part) under `directory` (None: no cache),
    each recording the teacher's and the texts' fingerprints."""

    def __init__(self, directory: str | Path | None):
        self.directory = Path(directory) if directory else None

    def path(self, teacher: Teacher, part: str) -> Path:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", teacher.name).strip("_.") or "teacher"
        return self.directory / f"{slug}-{fingerprint(teacher.name)[:8]}" / f"{part}.npz"

    def logits(self, teacher: Teacher, part: str, texts: list[str]) -> np.ndarray:
        """The teacher's logits on `texts`: from the cache when its entry matches, else scored (and stored)."""
        if self.directory is None:
            return teacher.score(texts)
        path, texts_id = self.path(teacher, part), texts_fingerprint(texts)
        if path.is_file():
            with np.load(path) as entry:
                if str(entry["teacher"]) == teacher.fingerprint and str(entry["texts"]) == texts_id:
                    logger.info("Soft labels of %s on %d %s texts read from %s.", teacher.name, len(texts), part, path)
                    return entry["logits"]
                what = "teacher's weights" if str(entry["teacher"]) != teacher.fingerprint else "texts"
            logger.warning("Soft-label cache %s was made for other %s than this run's: recomputing it.", path, what)
        logits = teacher.score(texts)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, logits=logits, teacher=teacher.fingerprint, texts=texts_id)
        (path.parent / "teacher.json").write_text(json.dumps({"teacher": teacher.name}, indent=2))
        return logits


def log_probabilities(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def ensemble_logits(member_logits: list[np.ndarray], weights) -> np.ndarray:
    """The ensemble's logits: the members' log-probabilities averaged with `weights` (for two labels, the
    weighted mean of their log-odds)."""
    return sum(w * log_probabilities(np.asarray(logits, dtype=np.float64)) for w, logits in
               zip(weights, member_logits)).astype(np.float32)


def log_loss(logits: np.ndarray, labels) -> float:
    return float(-log_probabilities(np.asarray(logits, dtype=np.float64))[np.arange(len(labels)), labels].mean())


def choose_weights(member_logits: list[np.ndarray], labels, step: float = WEIGHT_STEP) -> tuple[tuple, float]:
    """The weights on the simplex grid of `step` (one teacher: 1.0) with the lowest validation log-loss of the
    ensemble; returns (weights, that log-loss)."""
    labels = np.asarray(labels)
    count = len(member_logits)
    if count == 1:
        return (1.0,), log_loss(member_logits[0], labels)
    steps = round(1 / step)
    best = None
    for head in product(range(steps + 1), repeat=count - 1):
        if sum(head) > steps:
            continue
        weights = tuple(h / steps for h in head) + ((steps - sum(head)) / steps,)
        loss = log_loss(ensemble_logits(member_logits, weights), labels)
        if best is None or loss < best[1] - 1e-12:
            best = (weights, loss)
    return best


def labelled_targets(kind: str, teachers: list[Teacher], in_sample: list[np.ndarray], weights, labels,
                     smoothing: float, num_labels: int) -> np.ndarray:
    """The targets (as logits) of the training reviews, see the module docstring."""
    labels = np.asarray(labels)
    if kind == "gold":
        probabilities = np.full((len(labels), num_labels), smoothing / num_labels)
        probabilities[np.arange(len(labels)), labels] += 1 - smoothing
        return np.log(probabilities).astype(np.float32)
    if kind == "out_of_fold":
        missing = [teacher.name for teacher in teachers if teacher.out_of_fold is None]
        if missing:
            raise TeacherError(
                f"--distill_labelled_targets out_of_fold: the teachers {missing} trained on every training review and "
                "have no out-of-fold scores (only ngram:N teachers do). Use --distill_labelled_targets gold."
            )
        return ensemble_logits([teacher.out_of_fold for teacher in teachers], weights)
    if kind == "teacher":
        return ensemble_logits(in_sample, weights)
    raise TeacherError(f"--distill_labelled_targets {kind!r}: choose one of {', '.join(LABELLED_TARGETS)}.")
