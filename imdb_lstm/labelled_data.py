"""Labelled texts of any problem type from any `datasets` source: a Hub id, a local folder `load_dataset` reads
(e.g. one with train.csv and test.csv), or a loader name ("csv", "parquet", "json") with `data_files`
{"train": path, "test": path}. Each split comes back with a `text` and a `label` column; IMDB sources give exactly
what `imdb_lstm.data.load_imdb` gives (`imdb_lstm.data.load_labelled` reads both; this module sits below it).

What `label` holds, by problem type (transformers' `problem_type`):
- single label (None, "single_label_classification"): a class id. String labels become the index of their sorted
  name (the names are returned for the model's id2label); integer labels are class ids as they are (0..N-1), a
  ClassLabel's ids too.
- "multi_label_classification": a 0/1 float per label (multi-hot). From one column holding a list of label names
  per text (a list feature, or strings split on `label_separator`, "sports,politics"), or from several 0/1 columns
  named by `label_columns` (their names are the labels).
- "regression": a float target, or one float per column of `label_columns`.

The label set is the training split's: a label that validation or test holds and training never saw is refused,
as are an empty label list and a non-numeric regression target, each naming the split, the row and the value.
"""

import math
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Sequence, load_dataset
from datasets.exceptions import DatasetGenerationError

__all__ = ["DataError", "MULTI_LABEL", "PROBLEM_TYPES", "REGRESSION", "SINGLE_LABEL", "check_labelled_source",
           "load_labelled_files", "load_named_split", "parse_data_files", "read_labelled_splits"]

SINGLE_LABEL, MULTI_LABEL, REGRESSION = "single_label_classification", "multi_label_classification", "regression"
PROBLEM_TYPES = (SINGLE_LABEL, MULTI_LABEL, REGRESSION)


class DataError(ValueError):
    """The data is not usable (as labelled IMDB reviews, or as the labelled texts given); the message says what is
    wrong and what to give instead."""


def load_named_split(source: str, split: str) -> Dataset:
    """Split `split` of a Hub id or local folder; the Hub unreachable, or the split missing or empty, refused."""
    try:
        return load_dataset(source, split=split)
    except ConnectionError as error:  # datasets' "Couldn't reach '<id>' on the Hub (<reason>)"
        raise DataError(
            f"Hub unreachable: cannot download the dataset {source!r} ({error}). Offline, use --dataset sample "
            "(reviews shipped with this package) or a local folder such as ../shared/data/imdb."
        ) from error
    except DatasetGenerationError as error:
        # A folder's file with a header and no rows: datasets cannot type its columns ("the first 0 values").
        if "the first 0 values" in str(error.__cause__):
            raise DataError(f"Split {split!r} of {source} has no rows (a header only?): there is nothing to train "
                            "or evaluate on.") from error
        raise
    except ValueError as error:
        # datasets refuses a split with no rows before our own checks see it ("Instruction 'test' corresponds to no data").
        if "corresponds to no data" in str(error) or "Unknown split" in str(error):
            raise DataError(f"Split {split!r} of {source} is empty or missing (it has no rows): a labelled dataset "
                            "needs train and test rows.") from error
        raise


def parse_data_files(entries: list[str] | None) -> dict[str, str] | None:
    """`["train=a.csv", "test=b.csv"]` (the `--data_files` flag) → {"train": "a.csv", "test": "b.csv"}."""
    if not entries:
        return None
    files = {}
    for entry in entries:
        split, separator, path = entry.partition("=")
        if not separator or not split or not path:
            raise DataError(f"--data_files {entry!r}: give SPLIT=PATH for each split, e.g. --data_files "
                            "train=reviews_train.csv test=reviews_test.csv (with --dataset csv).")
        files[split] = path
    return files


def check_labelled_source(source: str, path: Path, data_files: dict[str, str] | None, splits: tuple[str, ...]) -> None:
    """Refuse, before anything is downloaded, a source that is neither a folder nor a Hub id (a mistyped path would
    otherwise reach the Hub) and `data_files` that leave out one of `splits`."""
    if data_files is None and not path.exists() and (source.startswith((".", "/", "~")) or source.count("/") != 1):
        raise DataError(
            f"Dataset source {source!r} is neither an existing folder nor a Hub id like 'stanfordnlp/imdb'; use a "
            "Hub id, a folder (e.g. with train.csv and test.csv), a loader name such as 'csv' with --data_files "
            "train=PATH test=PATH, an aclImdb folder, or 'sample'."
        )
    if data_files is not None:
        missing = [split for split in splits if split not in data_files]
        if missing:
            raise DataError(f"--data_files names no {' or '.join(missing)} file; give "
                            f"{' '.join(f'{split}=PATH' for split in splits)}.")


def read_split(source: str, split: str, data_files: dict[str, str] | None) -> Dataset:
    """One split as `load_dataset` reads it; a file with a header and no rows is refused by name."""
    if data_files is None:
        return load_named_split(source, split)
    try:
        return load_dataset(source, data_files={split: data_files[split]}, split=split)
    except ValueError as error:  # datasets: "Instruction 'train' corresponds to no data!"
        if "corresponds to no data" in str(error):
            raise DataError(f"Split {split!r} ({data_files[split]}) has no rows: there is nothing to train or "
                            "evaluate on.") from error
        raise


def read_labelled_splits(source: str, text_column: str, label_columns: list[str], data_files: dict[str, str] | None,
                         splits: tuple[str, ...]) -> dict[str, Dataset]:
    """The `splits` of `source` as read, each checked to have its columns, rows, and texts in `text_column`."""
    loaded = {split: read_split(source, split, data_files) for split in splits}
    for name, split in loaded.items():
        missing = [column for column in (text_column, *label_columns) if column not in split.column_names]
        if missing:
            flags = "--label_columns" if len(label_columns) > 1 else "--label_column"
            raise DataError(f"Split {name!r} has no {' or '.join(repr(c) for c in missing)} column; its columns are "
                            f"{split.column_names}. Name the texts' column with --text_column and the labels' with "
                            f"{flags}.")
        if len(split) == 0:
            raise DataError(f"Split {name!r} of {source} has no rows: there is nothing to train or evaluate on.")
        if split.features[text_column].dtype not in ("string", "large_string"):
            raise DataError(f"Column {text_column!r} of split {name!r} holds {split.features[text_column]}, not "
                            "text; give the column with the texts as --text_column.")
    return loaded


def refuse_unseen(values_by_split: dict, known: set, what: str) -> None:
    """A `DataError` when a split other than train holds a value (`values_by_split`: split name -> its labels)
    outside `known`, the training split's: a model predicts only what it was trained on."""
    for name, values in values_by_split.items():
        unseen = sorted({value for value in values if value not in known}, key=str)
        if name != "train" and unseen:
            raise DataError(f"Split {name!r} holds {what} {unseen[:10]} that the training split never has (training "
                            f"has {sorted(known, key=str)[:20]}). A model predicts only labels it was trained on: "
                            "add training rows with them, or drop those rows.")


def string_labels(values, name: str, label_column: str) -> list[str]:
    """`values` of a string label column, each a non-empty label."""
    for row, value in enumerate(values):
        if value is None or not str(value).strip():
            raise DataError(f"Row {row} of split {name!r} has an empty label in column {label_column!r}; every text "
                            "needs a label.")
    return values


def single_label_names(loaded: dict[str, Dataset], label_column: str) -> list[str] | None:
    """The class names of a single-label column: a ClassLabel's names (None for IMDB's own neg/pos, which the
    config names NEGATIVE and POSITIVE), the training split's sorted string labels, or None for integer class ids
    (0..N-1: `finetune.choose_labels` counts them); validation and test may hold no label training lacks."""
    feature = loaded["train"].features[label_column]
    if isinstance(feature, ClassLabel):
        return None if feature.names == ["neg", "pos"] else list(feature.names)
    dtype = str(getattr(feature, "dtype", ""))
    if dtype in ("string", "large_string"):
        values = {name: string_labels(split[label_column], name, label_column) for name, split in loaded.items()}
        known = set(values["train"])
        refuse_unseen(values, known, "labels")
        return sorted(known)
    if not dtype.startswith(("int", "uint")):
        raise DataError(f"Column {label_column!r} holds {feature}: single-label classes are names (strings) or "
                        "class ids (integers 0..N-1); float targets are trained with --problem_type regression, label "
                        "lists with --problem_type multi_label_classification.")
    known = set(loaded["train"][label_column])
    if min(known) < 0:
        raise DataError(f"Column {label_column!r} holds the negative labels {sorted(k for k in known if k < 0)} in "
                        "training: integer labels are class ids 0..N-1 (-1 marks IMDB's unlabelled reviews, which "
                        "supervised training cannot use); drop those rows.")
    refuse_unseen({name: split[label_column] for name, split in loaded.items()}, known, "labels")
    return None


def label_lists(split: Dataset, name: str, label_column: str, separator: str) -> list[list[str]]:
    """Each row's label names: a list feature's lists, or strings split on `separator`; an empty list refused."""
    lists = []
    for row, value in enumerate(split[label_column]):
        labels = value if isinstance(value, list) else str(value or "").split(separator)
        labels = [str(label).strip() for label in labels if str(label).strip()]
        if not labels:
            raise DataError(f"Row {row} of split {name!r} has an empty label list in column {label_column!r}: a "
                            "multi-label row needs at least one label (add a label such as 'none' if no label is a "
                            f"real answer; labels are separated by {separator!r}, see --label_separator).")
        lists.append(labels)
    return lists


def multi_hot_from_lists(loaded: dict[str, Dataset], label_column: str, separator: str):
    """(splits with multi-hot `label`s, label names) from a column of label lists."""
    feature = loaded["train"].features[label_column]
    if not isinstance(feature, Sequence) and str(getattr(feature, "dtype", "")) not in ("string", "large_string"):
        raise DataError(f"Column {label_column!r} holds {feature}: multi-label classes are a list of names per row "
                        f"(or a string of names separated by {separator!r}), or several 0/1 columns named with "
                        "--label_columns.")
    lists = {name: label_lists(split, name, label_column, separator) for name, split in loaded.items()}
    names = sorted({label for labels in lists["train"] for label in labels})
    refuse_unseen({name: [label for labels in rows for label in labels] for name, rows in lists.items()}, set(names),
                  "labels")
    index = {label: i for i, label in enumerate(names)}
    encoded = {}
    for name, split in loaded.items():
        hot = [[0.0] * len(names) for _ in lists[name]]
        for row, labels in zip(hot, lists[name]):
            for label in labels:
                row[index[label]] = 1.0
        encoded[name] = split.remove_columns(label_column).add_column("label", hot)
    return encoded, names


def numbers(split: Dataset, name: str, column: str, kind: str) -> list[float]:
    """The values of `column` as floats; a missing or non-numeric value refused, naming its row."""
    values = []
    for row, value in enumerate(split[column]):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or math.isnan(number) or math.isinf(number):
            raise DataError(f"Row {row} of split {name!r} has {value!r} in column {column!r}, which is no number: "
                            f"{kind} need a finite number in every row (fix or drop that row).")
        values.append(number)
    return values


def multi_hot_from_columns(loaded: dict[str, Dataset], columns: list[str]):
    """(splits with multi-hot `label`s, label names = `columns`) from several 0/1 columns."""
    encoded = {}
    for name, split in loaded.items():
        per_column = [numbers(split, name, column, "multi-label columns") for column in columns]
        for column, values in zip(columns, per_column):
            bad = sorted({value for value in values if value not in (0.0, 1.0)})
            if bad:
                raise DataError(f"Column {column!r} of split {name!r} holds {bad[:5]}: each of --label_columns is "
                                "0 or 1 per row (the label applies or not).")
        hot = [list(row) for row in zip(*per_column)]
        if any(not any(row) for row in hot):
            row = next(i for i, values in enumerate(hot) if not any(values))
            raise DataError(f"Row {row} of split {name!r} has 0 in every one of {columns}: a multi-label row needs "
                            "at least one label (add a column such as 'none' if no label is a real answer).")
        encoded[name] = split.remove_columns(columns).add_column("label", hot)
    return encoded, list(columns)


def regression_targets(loaded: dict[str, Dataset], columns: list[str]):
    """(splits with float `label`s: one target, or one per column; the target names, None for one column)."""
    encoded = {}
    for name, split in loaded.items():
        per_column = [numbers(split, name, column, "regression targets") for column in columns]
        targets = per_column[0] if len(columns) == 1 else [list(row) for row in zip(*per_column)]
        encoded[name] = split.remove_columns(columns).add_column("label", targets)
    return encoded, (None if len(columns) == 1 else list(columns))


def load_labelled_files(source: str, text_column: str = "text", label_column: str = "label",
                        data_files: dict[str, str] | None = None, splits: tuple[str, ...] = ("train", "test"),
                        problem_type: str | None = None, label_columns: list[str] | None = None,
                        label_separator: str = ",") -> tuple[DatasetDict, list[str] | None]:
    """Labelled texts of a source other than IMDB's own layouts (see the module docstring; `imdb_lstm.data.
    load_labelled` reads those) and their label names: the class or label names, or None (integer class ids, one
    regression target)."""
    if problem_type not in (None, *PROBLEM_TYPES):
        raise DataError(f"--problem_type {problem_type!r}: give one of {', '.join(PROBLEM_TYPES)}.")
    if label_columns and problem_type not in (MULTI_LABEL, REGRESSION):
        raise DataError("--label_columns names several label columns, for --problem_type multi_label_classification "
                        "(one 0/1 column per label) or regression (one target per column); a single-label "
                        "classifier reads one --label_column.")
    path = Path(source).expanduser()
    check_labelled_source(source, path, data_files, splits)
    columns = list(label_columns or [label_column])
    loaded = read_labelled_splits(source, text_column, columns, data_files, splits)
    loaded = {name: split.select_columns([text_column, *columns]) for name, split in loaded.items()}
    if problem_type == REGRESSION:
        encoded, names = regression_targets(loaded, columns)
    elif problem_type == MULTI_LABEL:
        encoded, names = (multi_hot_from_columns(loaded, columns) if label_columns
                          else multi_hot_from_lists(loaded, label_column, label_separator))
    else:
        names = single_label_names(loaded, label_column)
        feature = loaded["train"].features[label_column]
        # A ClassLabel already holds class ids; string labels become the index of their sorted name.
        label2id = None if names is None or isinstance(feature, ClassLabel) else {n: i for i, n in enumerate(names)}
        encoded = {}
        for name, split in loaded.items():
            if label2id is not None:
                split = split.map(lambda batch: {"label_id": [label2id[v] for v in batch[label_column]]},
                                  batched=True, remove_columns=[label_column]).rename_column("label_id", label_column)
            encoded[name] = split.rename_column(label_column, "label") if label_column != "label" else split
    result = {name: split.rename_column(text_column, "text") if text_column != "text" else split
              for name, split in encoded.items()}
    return DatasetDict(result), names
