"""IMDB through `datasets`: where it comes from, how it is split, and checks that it is what the model expects.

Sources (`load_imdb(source)`):
- a Hub dataset id, by default `stanfordnlp/imdb` (needs the internet once; then cached);
- a local folder in the Hub parquet layout, e.g. `../shared/data/imdb` (anything `load_dataset(folder)` reads);
- a raw `aclImdb` folder as Stanford distributes it (`train/pos/*.txt`, `train/neg/*.txt`, `test/...`);
- `"sample"`: 2,000 train + 1,000 test real reviews shipped inside this package (offline demo and tests).

Unlabelled texts for pretraining (`load_unlabelled_texts(source, splits)`): any `datasets` source's splits (IMDB's
`train` + `unsupervised` by default in `imdb-lstm-pretrain`; a split named `test` is always refused), or the shipped
sample's train and 500 unlabelled reviews; streamed on request.

Split protocols (`make_splits(dataset, protocol)`):
- `"canonical"`: IMDB's own train/test; a stratified `validation_fraction` of train is held out for model selection;
- `"A/B/C"`, e.g. `"50/25/25"` or `"50/0/50"` (the original study's): all labelled reviews pooled and re-split
  train/validation/test in those percentages, stratified and seeded (scikit-learn).
"""

from pathlib import Path

import numpy as np
from datasets import (ClassLabel, Dataset, DatasetDict, Features, IterableDataset, Value, concatenate_datasets,
                      interleave_datasets, load_dataset)
from sklearn.model_selection import train_test_split

HUB_DATASET = "stanfordnlp/imdb"
SAMPLE = "sample"
SAMPLE_DIR = Path(__file__).parent / "sample_data"
LABELS = ("neg", "pos")
# Splits no pretraining may read: they score the classifiers fine-tuned from the language model.
FORBIDDEN_SPLITS = ("test",)
# The shipped sample's unlabelled texts for pretraining (its test file is never read for it).
SAMPLE_PRETRAINING_SPLITS = ("train", "unsupervised")
FEATURES = Features({"text": Value("string"), "label": ClassLabel(names=list(LABELS))})


class DataError(ValueError):
    """The data is not usable as labelled IMDB reviews; the message says what is wrong."""


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
        dataset = DatasetDict({split: _load_named_split(source, split) for split in splits})
    for name, split in dataset.items():
        validate_split(split, name)
    return dataset


def _load_named_split(source: str, split: str) -> Dataset:
    try:
        return load_dataset(source, split=split)
    except ConnectionError as error:  # datasets' "Couldn't reach '<id>' on the Hub (<reason>)"
        raise DataError(
            f"Hub unreachable: cannot download the dataset {source!r} ({error}). Offline, use --dataset {SAMPLE} "
            "(reviews shipped with this package) or a local folder such as ../shared/data/imdb."
        ) from error
    except ValueError as error:
        # datasets refuses a split with no rows before our own checks see it ("Instruction 'test' corresponds to no data").
        if "corresponds to no data" in str(error) or "Unknown split" in str(error):
            raise DataError(f"Split {split!r} of {source} is empty or missing: IMDB needs labelled train and test reviews.") from error
        raise


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


def validate_split(split: Dataset, name: str) -> None:
    """Raise `DataError` unless `split` has a string `text` column and `label`s in {0, 1}, and is not empty."""
    missing = [column for column in ("text", "label") if column not in split.column_names]
    if missing:
        raise DataError(
            f"Split {name!r} has no {' or '.join(repr(c) for c in missing)} column (it has {split.column_names}); "
            "rename your columns to 'text' and 'label' (0 = negative, 1 = positive)."
        )
    if len(split) == 0:
        raise DataError(f"Split {name!r} is empty: there is nothing to train or evaluate on.")
    labels = np.asarray(split["label"])
    unexpected = sorted(set(np.unique(labels).tolist()) - {0, 1})
    if unexpected:
        raise DataError(
            f"Split {name!r} has labels {unexpected} outside {{0, 1}} (0 = negative, 1 = positive); "
            "unlabelled reviews (-1, IMDB's 'unsupervised' split) cannot be used for supervised training."
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


def _stratified_partition(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Indices split into len(fractions) parts of those fractions, each with the label balance of the whole."""
    remaining = np.arange(len(labels))
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
            taken, remaining = train_test_split(
                remaining, train_size=share, stratify=labels[remaining], random_state=seed
            )
            parts.append(np.sort(taken))
        left -= fraction
    parts.append(np.sort(remaining))
    return parts


def make_splits(
    dataset: DatasetDict, protocol: str = "canonical", validation_fraction: float = 0.1, seed: int = 42
) -> DatasetDict:
    """`train`, `validation` (when the protocol has one) and `test` splits per `protocol` (module docstring)."""
    for name in ("train", "test"):
        if name not in dataset:
            raise DataError(f"The dataset has no {name!r} split (it has {list(dataset)}).")
        validate_split(dataset[name], name)
    if protocol == "canonical":
        if not 0 <= validation_fraction < 1:
            raise DataError(f"validation_fraction={validation_fraction} must be in [0, 1).")
        train = dataset["train"]
        result = {"test": dataset["test"]}
        if validation_fraction > 0:
            labels = np.asarray(train["label"])
            kept, held_out = _stratified_partition(labels, (1 - validation_fraction, validation_fraction), seed)
            result["train"], result["validation"] = train.select(kept), train.select(held_out)
        else:
            result["train"] = train
    else:
        fractions = parse_split_spec(protocol)
        pooled = concatenate_datasets([dataset["train"], dataset["test"]])
        parts = _stratified_partition(np.asarray(pooled["label"]), fractions, seed)
        result = {name: pooled.select(part) for name, part in zip(("train", "validation", "test"), parts) if len(part)}
    for name, split in result.items():
        validate_split(split, name)
    order = [name for name in ("train", "validation", "test") if name in result]
    return DatasetDict({name: result[name] for name in order})


def subsample(dataset: Dataset, count: int | None, seed: int) -> Dataset:
    """`count` rows of `dataset` drawn at random with `seed` (shuffled, then the first ones), or all of it when
    `count` is None: what `--max_train_samples`, `--max_eval_samples` and `--max_train_texts` take."""
    if count is None:
        return dataset
    return dataset.shuffle(seed=seed).select(range(min(count, len(dataset))))


def check_pretraining_splits(splits: list[str]) -> None:
    """Refuse an empty list of splits, and the splits no pretraining may read."""
    if not splits:
        raise DataError("--dataset_splits names no split; give e.g. 'train,unsupervised'.")
    forbidden = [name for name in splits if name.lower() in FORBIDDEN_SPLITS]
    if forbidden:
        raise DataError(
            f"--dataset_splits includes {forbidden}: test reviews must never reach pretraining (classifiers "
            "fine-tuned from this model are scored on them). Pretrain on 'train' and 'unsupervised'."
        )


def without_texts(texts: Dataset, excluded_texts=()) -> Dataset:
    """The rows of `texts` (a `text` column) that hold a non-empty string not in `excluded_texts` (e.g. a run's
    validation and test reviews, so that model selection and the score stay clean when a source overlaps them)."""
    excluded = set(excluded_texts)
    # Chosen by index rather than with Dataset.filter, which would hash the excluded texts into its fingerprint.
    return texts.select([row for row, text in enumerate(texts["text"])
                         if isinstance(text, str) and text.strip() and text not in excluded])


def load_unlabelled_texts(
    source: str,
    splits: list[str],
    text_column: str = "text",
    config_name: str | None = None,
    data_files: list[str] | None = None,
    streaming: bool = False,
) -> Dataset | IterableDataset:
    """Texts to pretrain on: the `splits` of a `datasets` source (a Hub id, a local folder, a loader name such as
    "text" with `data_files`, or "sample": the shipped sample's train and unsupervised reviews) as one dataset
    with a single `text` column, an `IterableDataset` with `streaming`. Refuses a `test` split (see
    `check_pretraining_splits`) and a source without `text_column` or whose column holds no strings."""
    check_pretraining_splits(splits)
    if source == SAMPLE:
        unknown = [name for name in splits if name not in SAMPLE_PRETRAINING_SPLITS]
        if unknown:
            raise DataError(f"The shipped sample has no split {unknown} to pretrain on; it has {list(SAMPLE_PRETRAINING_SPLITS)}.")
        files = {name: str(SAMPLE_DIR / f"{name}.parquet") for name in splits}
        parts = [load_dataset("parquet", data_files={name: path}, split=name, streaming=streaming)
                 for name, path in files.items()]
    else:
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
                raise DataError(f"Cannot read split {name!r} of {source!r} ({error}). Give --dataset_splits "
                                "that the source has, e.g. 'train' for most corpora.") from error
    columns = [part.column_names for part in parts]
    for name, names in zip(splits, columns):
        if names is not None and text_column not in names:
            raise DataError(
                f"Split {name!r} of {source!r} has no {text_column!r} column (it has {names}); "
                "give the column that holds the texts with --text_column."
            )
    parts = [part.select_columns([text_column]) for part in parts]
    if text_column != "text":
        parts = [part.rename_column(text_column, "text") for part in parts]
    if streaming:
        return parts[0] if len(parts) == 1 else interleave_datasets(parts, stopping_strategy="all_exhausted")
    texts = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
    if getattr(texts.features["text"], "dtype", None) not in ("string", "large_string"):
        raise DataError(f"Column {text_column!r} of {source!r} holds {texts.features['text']}, "
                        "not text; give the column that holds the texts with --text_column.")
    return texts
