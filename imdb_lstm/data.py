"""IMDB through `datasets`: where it comes from, how it is split, and checks that it is what the model expects.

Sources (`load_imdb(source)`):
- a Hub dataset id, by default `stanfordnlp/imdb` (needs the internet once; then cached);
- a local folder in the Hub parquet layout, e.g. `../shared/data/imdb` (anything `load_dataset(folder)` reads);
- a raw `aclImdb` folder as Stanford distributes it (`train/pos/*.txt`, `train/neg/*.txt`, `test/...`);
- `"sample"`: 2,000 train + 1,000 test real reviews shipped inside this package (offline demo and tests).

Any other labelled texts, of any problem type (`load_labelled`): `imdb_lstm.labelled_data`.

Unlabelled texts (`load_unlabelled_texts(source, splits, use=...)`) for every use that reads them: pretraining,
word vectors, VAT and distillation. Any `datasets` source's splits (IMDB's `train` + `unsupervised` by default; a
split named `test` is always refused, `check_unlabelled_splits`), or the shipped sample's train and 500 unlabelled
reviews; streamed on request; tokenised for training by `tokenize_unlabelled_texts`. Every such stage leaves out
the validation and test reviews of the classifier run (by normalised text, `without_texts`): the word vectors and
pretraining those of `--exclude_dataset` (`unlabelled_exclusion`), VAT and distillation those of their own run.

Split protocols (`make_splits(dataset, protocol)`):
- `"canonical"`: IMDB's own train/test; a stratified `validation_fraction` of train is held out for model selection;
- `"A/B/C"`, e.g. `"50/25/25"` or `"50/0/50"` (the original study's): all labelled reviews pooled and re-split
  train/validation/test in those percentages, stratified and seeded (scikit-learn).
"""

import logging
import re
import unicodedata
from pathlib import Path
from typing import NamedTuple

import numpy as np
from datasets import (ClassLabel, Dataset, DatasetDict, Features, IterableDataset, Value, concatenate_datasets,
                      interleave_datasets, load_dataset)
from sklearn.model_selection import train_test_split

from .labelled_data import DataError, load_labelled_files, load_named_split

HUB_DATASET = "stanfordnlp/imdb"
SAMPLE = "sample"
SAMPLE_DIR = Path(__file__).parent / "sample_data"
LABELS = ("neg", "pos")
# Splits no unlabelled use may read: they score the classifiers.
FORBIDDEN_SPLITS = ("test",)
# The shipped sample's unlabelled texts for pretraining (its test file is never read for it).
SAMPLE_PRETRAINING_SPLITS = ("train", "unsupervised")
FEATURES = Features({"text": Value("string"), "label": ClassLabel(names=list(LABELS))})
# `--exclude_dataset`'s values besides a dataset: the unlabelled source itself when it is labelled, or nothing.
EXCLUDE_AUTO, EXCLUDE_NONE = "auto", "none"
# The help of the flags with which the word vectors and pretraining name the reviews they leave out.
EXCLUDE_HELP = {
    "exclude_dataset": "the labelled dataset whose validation and test reviews (split as imdb-lstm-train splits it, "
                       "see --exclude_split_protocol, --exclude_validation_fraction, --exclude_split_seed) are left "
                       "out of the texts read, matched by normalised text (case, <br />, white space); 'auto' "
                       "(default): --dataset itself when it has labelled train and test splits (IMDB, 'sample'), "
                       "otherwise nothing is left out and the log says so; 'none': nothing left out",
    "exclude_split_protocol": "the fine-tuning run's --split_protocol ('canonical' or e.g. '50/25/25')",
    "exclude_validation_fraction": "the fine-tuning run's --validation_fraction (canonical protocol)",
    "exclude_split_seed": "the fine-tuning run's --split_seed",
}

logger = logging.getLogger(__name__)


class UnlabelledUse(NamedTuple):
    """How one use of unlabelled text is configured, so that its errors name its own flags."""

    dataset_flag: str
    splits_flag: str
    text_column_flag: str | None  # None: the texts are always read from a `text` column
    why_not_test: str
    example_splits: str


UNLABELLED_USES = {
    "pretraining": UnlabelledUse(
        "--dataset", "--dataset_splits", "--text_column",
        "test reviews must never reach pretraining (classifiers fine-tuned from this model are scored on them)",
        "train,unsupervised"),
    "word vectors": UnlabelledUse(
        "--dataset", "--dataset_splits", "--text_column",
        "test reviews must never shape the word vectors (classifiers built on them are scored on test reviews)",
        "train,unsupervised"),
    "VAT": UnlabelledUse(
        "--vat_dataset", "--vat_splits", "--vat_text_column",
        "VAT reads its unlabelled reviews from splits other than test (test reviews score the classifier and must "
        "never reach training, not even unlabelled)",
        "train,unsupervised"),
    "distillation": UnlabelledUse(
        "--distill_dataset", "--distill_splits", None,
        "the student learns the teacher's labels on reviews other than test (test reviews score the student and "
        "must never reach its training, not even through the teacher)",
        "unsupervised"),
}


def load_imdb(source: str = HUB_DATASET, splits: tuple[str, ...] = ("train", "test")) -> DatasetDict:
    """The labelled IMDB splits `splits` from `source` (see the module docstring), validated."""
    path = Path(source).expanduser()
    if source == SAMPLE:
        data_files = {split: str(SAMPLE_DIR / f"{split}.parquet") for split in splits}
        dataset = DatasetDict({s: load_dataset("parquet", data_files=data_files, split=s) for s in splits})
    elif path.is_dir() and (path / "train" / "pos").is_dir():
        dataset = DatasetDict({split: load_aclimdb_split(path, split) for split in splits})
    else:
        if not path.exists() and (source.startswith((".", "/", "~")) or source.count("/") != 1):
            raise DataError(
                f"Dataset source {source!r} is neither an existing folder nor a Hub id like {HUB_DATASET!r}; "
                f"use a Hub id, a parquet/Hub-layout folder, an aclImdb folder, or {SAMPLE!r}."
            )
        # Name the splits: a local IMDB folder would otherwise also build its 50k-review unsupervised split.
        dataset = DatasetDict({split: load_named_split(source, split) for split in splits})
    for name, split in dataset.items():
        validate_split(split, name)
    return dataset


def load_labelled(source: str = HUB_DATASET, text_column: str = "text", label_column: str = "label",
                  data_files: dict[str, str] | None = None, splits: tuple[str, ...] = ("train", "test"),
                  problem_type: str | None = None, label_columns: list[str] | None = None,
                  label_separator: str = ",") -> tuple[DatasetDict, list[str] | None]:
    """Labelled texts for a classifier or a regression and their label names: IMDB's own layouts (the sample, an
    aclImdb folder) as `load_imdb` gives them, any other source as `imdb_lstm.labelled_data.load_labelled_files`
    reads it (every problem type; None for IMDB, whose config names NEGATIVE and POSITIVE)."""
    path = Path(source).expanduser()
    if source == SAMPLE or (path.is_dir() and (path / "train" / "pos").is_dir()):
        if (text_column, label_column) != ("text", "label") or data_files or label_columns or problem_type not in (
                None, "single_label_classification"):
            raise DataError(f"--dataset {source} is IMDB in this package's own layout (a 'text' and a 0/1 'label' "
                            "column): --text_column, --label_column(s), --data_files and --problem_type are for other "
                            "sources.")
        return load_imdb(source, splits), None
    return load_labelled_files(source, text_column, label_column, data_files, splits, problem_type, label_columns,
                               label_separator)


def load_aclimdb_split(root: Path, split: str) -> Dataset:
    """One split of Stanford's raw `aclImdb` folder: `root/split/{neg,pos}/*.txt`, sorted by file name."""
    texts, labels = [], []
    for label, name in enumerate(LABELS):
        folder = root / split / name
        if not folder.is_dir():
            raise DataError(f"{folder} is missing: an aclImdb folder has {split}/neg and {split}/pos with one .txt per review.")
        for file in sorted(folder.glob("*.txt")):
            texts.append(file.read_text(encoding="utf-8"))
            labels.append(label)
    return Dataset.from_dict({"text": texts, "label": labels}, features=FEATURES)


def validate_split(split: Dataset, name: str, num_labels: int = 2, problem_type: str | None = None) -> None:
    """Raise `DataError` unless `split` has a string `text` column and `label`s in {0, 1} (0..num_labels-1), and
    is not empty. Multi-label and regression labels (`problem_type`) were checked as they were read
    (`imdb_lstm.labelled_data`): only the columns and the rows are checked here."""
    missing = [column for column in ("text", "label") if column not in split.column_names]
    if missing:
        raise DataError(
            f"Split {name!r} has no {' or '.join(repr(c) for c in missing)} column (it has {split.column_names}); "
            "rename your columns to 'text' and 'label' (0 = negative, 1 = positive)."
        )
    if len(split) == 0:
        raise DataError(f"Split {name!r} is empty: there is nothing to train or evaluate on.")
    if problem_type in ("multi_label_classification", "regression"):
        return
    labels = np.asarray(split["label"])
    if num_labels != 2:
        unexpected = sorted(set(np.unique(labels).tolist()) - set(range(num_labels)))
        if unexpected:
            raise DataError(f"Split {name!r} has labels {unexpected} outside 0..{num_labels - 1} ({num_labels} labels); "
                            "give --num_labels covering every label id, or string labels (names).")
        return
    unexpected = sorted(set(np.unique(labels).tolist()) - {0, 1})
    if unexpected:
        raise DataError(
            f"Split {name!r} has labels {unexpected} outside {{0, 1}} (0 = negative, 1 = positive); "
            "unlabelled reviews (-1, IMDB's 'unsupervised' split) cannot be used for supervised training; integer "
            "labels of more classes need --num_labels N."
        )


def parse_split_spec(spec: str) -> tuple[float, float, float]:
    """`"50/25/25"` → (0.5, 0.25, 0.25): train/validation/test percentages that sum to 100."""
    parts = spec.split("/")
    try:
        percents = [float(part) for part in parts]
    except ValueError:
        percents = []
    if len(percents) != 3 or any(p < 0 for p in percents) or abs(sum(percents) - 100) > 1e-9:
        raise DataError(
            f"Split protocol {spec!r} is not 'canonical' nor three non-negative percentages train/validation/test "
            "that sum to 100, like '50/25/25' or '50/0/50'."
        )
    if percents[0] == 0 or percents[2] == 0:
        raise DataError(f"Split protocol {spec!r} needs a non-zero train and test share.")
    return tuple(p / 100 for p in percents)


def _stratified_partition(labels: np.ndarray | None, fractions: tuple[float, ...], seed: int,
                          size: int | None = None) -> list[np.ndarray]:
    """Indices 0..size-1 split into len(fractions) parts of those fractions, each with the label balance of the
    whole (`labels`; None: a seeded shuffle of `size` rows, not stratified)."""
    remaining = np.arange(len(labels) if labels is not None else size)
    parts, left = [], 1.0
    for fraction in fractions[:-1]:
        if fraction == 0:
            parts.append(np.array([], dtype=int))
            continue
        share = fraction / left
        if share >= 1:
            parts.append(remaining)
            remaining = np.array([], dtype=int)
        else:
            refuse_single_row_classes(labels, remaining)
            taken, remaining = train_test_split(
                remaining, train_size=share, stratify=labels[remaining] if labels is not None else None,
                random_state=seed
            )
            parts.append(np.sort(taken))
        left -= fraction
    parts.append(np.sort(remaining))
    return parts


def refuse_single_row_classes(labels: np.ndarray | None, rows: np.ndarray) -> None:
    """A stratified split puts each class on both sides: a class with one row cannot be, so it is refused by name
    (scikit-learn's own error names no class and no flag)."""
    if labels is None:
        return
    classes, counts = np.unique(labels[rows], return_counts=True)
    single = classes[counts < 2].tolist()
    if single:
        raise DataError(f"Class ids {single[:10]} have a single row in the data being split: a stratified split "
                        "needs at least two rows of each class. Add rows of those classes, drop them, or split "
                        "without a validation part (--validation_fraction 0).")


def make_splits(
    dataset: DatasetDict, protocol: str = "canonical", validation_fraction: float = 0.1, seed: int = 42,
    num_labels: int = 2, problem_type: str | None = None,
) -> DatasetDict:
    """`train`, `validation` (when the protocol has one) and `test` splits per `protocol` (module docstring), the
    labels checked to lie in 0..num_labels-1; stratified by class for single-label data, shuffled (seeded) for
    multi-label and regression data (`problem_type`), which have no single class to stratify by."""
    for name in ("train", "test"):
        if name not in dataset:
            raise DataError(f"The dataset has no {name!r} split (it has {list(dataset)}).")
        validate_split(dataset[name], name, num_labels, problem_type)
    stratified = problem_type not in ("multi_label_classification", "regression")
    if protocol == "canonical":
        if not 0 <= validation_fraction < 1:
            raise DataError(f"validation_fraction={validation_fraction} must be in [0, 1).")
        train = dataset["train"]
        result = {"test": dataset["test"]}
        if validation_fraction > 0:
            labels = np.asarray(train["label"]) if stratified else None
            kept, held_out = _stratified_partition(labels, (1 - validation_fraction, validation_fraction), seed,
                                                   size=len(train))
            result["train"], result["validation"] = train.select(kept), train.select(held_out)
        else:
            result["train"] = train
    else:
        fractions = parse_split_spec(protocol)
        pooled = concatenate_datasets([dataset["train"], dataset["test"]])
        parts = _stratified_partition(np.asarray(pooled["label"]) if stratified else None, fractions, seed,
                                      size=len(pooled))
        result = {name: pooled.select(part) for name, part in zip(("train", "validation", "test"), parts) if len(part)}
    for name, split in result.items():
        validate_split(split, name, num_labels, problem_type)
    order = [name for name in ("train", "validation", "test") if name in result]
    return DatasetDict({name: result[name] for name in order})


def held_out_texts(source: str = HUB_DATASET, protocol: str = "canonical", validation_fraction: float = 0.1,
                   seed: int = 42) -> list[str]:
    """The texts a classifier run on labelled IMDB-like `source` holds out (its validation and test reviews under
    `protocol`), for unlabelled stages to leave out: IMDB repeats some test reviews in `train` and `unsupervised`."""
    splits = make_splits(load_labelled(source)[0], protocol, validation_fraction, seed)
    return [text for name in ("validation", "test") if name in splits for text in splits[name]["text"]]


class Exclusion(NamedTuple):
    """What an unlabelled stage leaves out (`unlabelled_exclusion`): `texts`, or None for nothing, and the labelled
    dataset they are the validation and test reviews of."""

    texts: list[str] | None
    source: str | None

    @property
    def count(self) -> int | None:
        """The number of distinct texts left out (None: no exclusion), as run_info.json records it."""
        return None if self.texts is None else len(set(self.texts))


def unlabelled_exclusion(dataset: str, splits: list[str], exclude_dataset: str = EXCLUDE_AUTO,
                         protocol: str = "canonical", validation_fraction: float = 0.1, seed: int = 42,
                         use: str = "pretraining") -> Exclusion:
    """The texts an unlabelled stage (`use`, reading `splits` of `dataset`) leaves out: the validation and test
    reviews (`held_out_texts`) of `exclude_dataset` under the fine-tuning run's protocol, validation fraction and
    seed. `"auto"`: `dataset` itself when it reads as labelled train and test splits, else nothing (logged, as is
    `"none"`). The split expressions are checked first (`check_unlabelled_splits`), the protocol before any data
    is read (so that a typo there never passes for an unlabelled source)."""
    check_unlabelled_splits(splits, use)
    if protocol == "canonical":
        if not 0 <= validation_fraction < 1:
            raise DataError(f"--exclude_validation_fraction {validation_fraction} must be in [0, 1).")
    else:
        try:
            parse_split_spec(protocol)
        except DataError as error:
            raise DataError(f"--exclude_split_protocol: {error}") from error
    if exclude_dataset.lower() == EXCLUDE_NONE:
        logger.warning("--exclude_dataset none: no text is left out of the %s texts; reviews a classifier is "
                       "validated or scored on may be read.", use)
        return Exclusion(None, None)
    source = dataset if exclude_dataset.lower() == EXCLUDE_AUTO else exclude_dataset
    try:
        texts = held_out_texts(source, protocol, validation_fraction, seed)
    except (DataError, FileNotFoundError) as error:
        if exclude_dataset.lower() != EXCLUDE_AUTO:
            raise DataError(f"--exclude_dataset {exclude_dataset}: its validation and test reviews cannot be read "
                            f"({error}); give the labelled dataset the classifier is trained on, or 'none'.") from error
        logger.warning("--exclude_dataset auto: --dataset %s has no labelled train and test splits (%s), so no text "
                       "is left out of the %s texts. If a classifier will be validated or scored on reviews these "
                       "texts may hold, name its labelled dataset with --exclude_dataset.", dataset, error, use)
        return Exclusion(None, None)
    exclusion = Exclusion(texts, source)
    logger.info("Leaving out of the %s texts the %d validation and test reviews of %s (split protocol %s, validation "
                "fraction %s, seed %d), wherever %s repeats them.", use, exclusion.count, source, protocol,
                validation_fraction, seed, dataset)
    return exclusion


def subsample(dataset: Dataset, count: int | None, seed: int) -> Dataset:
    """`count` rows of `dataset` drawn at random with `seed` (shuffled, then the first ones), or all of it when
    `count` is None: what `--max_train_samples`, `--max_eval_samples` and `--max_train_texts` take."""
    if count is None:
        return dataset
    return dataset.shuffle(seed=seed).select(range(min(count, len(dataset))))


def split_names(expression: str) -> list[str]:
    """The splits a `datasets` split expression reads: "train+unsupervised[:50%]" -> ["train", "unsupervised"]."""
    return [re.sub(r"\[[^\]]*\]", "", part).strip() for part in expression.split("+")]


def check_unlabelled_splits(splits: list[str], use: str = "pretraining") -> None:
    """Refuse an empty list of splits, and any split expression that reads `test` (any case, sliced as `test[:1]`
    or joined as `train+test`), for `use` (a key of `UNLABELLED_USES`)."""
    flags = UNLABELLED_USES[use]
    if not splits or any(name.lower() in FORBIDDEN_SPLITS for split in splits for name in split_names(split)):
        raise DataError(f"{flags.splits_flag} {','.join(splits) or '(empty)'}: {flags.why_not_test}; give e.g. "
                        f"{flags.splits_flag} {flags.example_splits}.")


def normalised_text(text: str) -> str:
    """A review's text as compared for exclusion: NFKC, lower case, line-break markup and runs of white space
    reduced to one space, so that a copy that differs only in those still counts as the same review."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(re.sub(r"<br\s*/?>", " ", text).split())


def without_texts(texts: Dataset, excluded_texts=()) -> Dataset:
    """The rows of `texts` (a `text` column) that hold a non-empty string whose normalised form (`normalised_text`)
    is not that of one of `excluded_texts` (e.g. a run's validation and test reviews, so that model selection and
    the score stay clean when a source repeats them)."""
    excluded = {normalised_text(text) for text in excluded_texts}
    # Chosen by index rather than with Dataset.filter, which would hash the excluded texts into its fingerprint.
    return texts.select([row for row, text in enumerate(texts["text"])
                         if isinstance(text, str) and text.strip() and normalised_text(text) not in excluded])


def read_unlabelled_splits(source: str, splits: list[str], config_name: str | None, data_files: list[str] | None,
                           streaming: bool, flags) -> list[Dataset | IterableDataset]:
    """Each of `splits` of `source` as read (the shipped sample: its train and unsupervised parquet files), with
    errors that name `flags` (an entry of `UNLABELLED_USES`): the command's own options."""
    if source == SAMPLE:
        unknown = [name for name in splits if name not in SAMPLE_PRETRAINING_SPLITS]
        if unknown:
            raise DataError(f"The shipped sample has no split {unknown} to pretrain on; it has {list(SAMPLE_PRETRAINING_SPLITS)}.")
        files = {name: str(SAMPLE_DIR / f"{name}.parquet") for name in splits}
        return [load_dataset("parquet", data_files={name: path}, split=name, streaming=streaming)
                for name, path in files.items()]
    kwargs = {"name": config_name, "streaming": streaming}
    if data_files:
        kwargs["data_files"] = data_files
    parts = []
    for name in splits:
        try:
            parts.append(load_dataset(source, split=name, **kwargs))
        except ConnectionError as error:
            raise DataError(f"Hub unreachable: cannot download {source!r} ({error}). Offline, use "
                            f"--dataset {SAMPLE} or a local folder such as ../shared/data/imdb.") from error
        except (ValueError, FileNotFoundError) as error:
            raise DataError(f"Cannot read split {name!r} of {source!r} ({error}). Give {flags.splits_flag} "
                            "that the source has, e.g. 'train' for most corpora.") from error
    return parts


def unlabelled_stream(parts: list[IterableDataset], excluded_texts) -> IterableDataset:
    """The streamed `parts` (a `text` column each) interleaved into one stream; with `excluded_texts`, empty texts and
    those texts are filtered out as it is read (what `without_texts` leaves out of a dataset read whole)."""
    stream = parts[0] if len(parts) == 1 else interleave_datasets(parts, stopping_strategy="all_exhausted")
    if excluded_texts is None:
        return stream
    excluded = {normalised_text(text) for text in excluded_texts}
    return stream.filter(lambda row: isinstance(row["text"], str) and bool(row["text"].strip())
                         and normalised_text(row["text"]) not in excluded)


def texts_left_after_exclusion(texts: Dataset, excluded_texts, source: str, splits: list[str], use: str) -> Dataset:
    """`texts` without empty texts and `excluded_texts` (`without_texts`), logged; refused when none is left, since
    a stage trained on nothing would fail later with a less clear error."""
    flags = UNLABELLED_USES[use]
    kept = without_texts(texts, excluded_texts)
    logger.info("%s: %d of the %d texts read left out (empty, or the text of an excluded review).", use,
                len(texts) - len(kept), len(texts))
    if len(kept) == 0:
        outside = " outside the run's validation and test reviews" if excluded_texts else ""
        raise DataError(f"{flags.dataset_flag} {source} ({flags.splits_flag} {','.join(splits)}) holds no non-empty "
                        f"text{outside}; give "
                        f"unlabelled reviews, e.g. {flags.dataset_flag} ../shared/data/imdb {flags.splits_flag} "
                        f"{flags.example_splits}.")
    return kept


def load_unlabelled_texts(
    source: str,
    splits: list[str],
    text_column: str = "text",
    config_name: str | None = None,
    data_files: list[str] | None = None,
    streaming: bool = False,
    use: str = "pretraining",
    excluded_texts=None,
) -> Dataset | IterableDataset:
    """Unlabelled texts for `use` (a key of `UNLABELLED_USES`, whose flags the errors name): the `splits` of a
    `datasets` source (a Hub id, a local folder, a loader name such as "text" with `data_files`, or "sample": the
    shipped sample's train and unsupervised reviews) as one dataset with a single `text` column, an
    `IterableDataset` with `streaming`. Refuses a `test` split (see `check_unlabelled_splits`) and a source without
    `text_column` or whose column holds no strings. With `excluded_texts` (a run's validation and test reviews,
    possibly none: `unlabelled_exclusion`), empty texts and those texts are left out (`without_texts`; a stream is
    filtered as it is read) and a source left with no text is refused; without it every row is kept as read."""
    check_unlabelled_splits(splits, use)
    flags = UNLABELLED_USES[use]
    column_hint = (f"give the column that holds the texts with {flags.text_column_flag}" if flags.text_column_flag
                   else "give a source whose texts are in a 'text' column")
    parts = read_unlabelled_splits(source, splits, config_name, data_files, streaming, flags)
    for name, part in zip(splits, parts):
        names = part.column_names  # None for a stream whose columns are only known once it is read
        if names is not None and text_column not in names:
            raise DataError(
                f"Split {name!r} of {source!r} has no {text_column!r} column (it has {names}); {column_hint}."
            )
    parts = [part.select_columns([text_column]) for part in parts]
    if text_column != "text":
        parts = [part.rename_column(text_column, "text") for part in parts]
    if streaming:
        return unlabelled_stream(parts, excluded_texts)
    texts = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
    if getattr(texts.features["text"], "dtype", None) not in ("string", "large_string"):
        raise DataError(f"Column {text_column!r} of {source!r} holds {texts.features['text']}, not text; {column_hint}.")
    if excluded_texts is None:
        return texts
    return texts_left_after_exclusion(texts, excluded_texts, source, splits, use)


def tokenize_unlabelled_texts(texts: Dataset, tokenizer, max_length: int, keep_text: bool = False) -> Dataset:
    """`texts` (a `text` column) tokenised, cut to `max_length` tokens on the tokenizer's truncation side, with a
    `length` column (and the `text` column with `keep_text`); texts with no token left (only markup, say) dropped.
    VAT's unlabelled batches and distillation's transfer set are tokenised with it."""
    def tokenize(batch):
        encoded = tokenizer(batch["text"], truncation=True, max_length=max_length)
        return {**encoded, "length": [len(ids) for ids in encoded["input_ids"]]}

    removed = [name for name in texts.column_names if not (keep_text and name == "text")]
    tokenized = texts.map(tokenize, batched=True, remove_columns=removed, desc="Tokenising unlabelled texts")
    # As in finetune.tokenize_splits: the tokenizer saved with the model must not keep this truncation.
    tokenizer.backend_tokenizer.no_truncation()
    tokenized = tokenized.filter(lambda batch: [n > 0 for n in batch["length"]], batched=True)
    if len(tokenized) == 0:
        raise DataError("No unlabelled text has a token the tokenizer knows; give unlabelled reviews in the training "
                        "language.")
    return tokenized
