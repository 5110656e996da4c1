"""IMDB sources, split protocols and data validation."""

import numpy as np
import pytest
from datasets import Dataset, DatasetDict

from imdb_lstm.data import DataError, load_imdb, make_splits, parse_split_spec, validate_split


@pytest.fixture(scope="module")
def sample():
    return load_imdb("sample")


def balanced(dataset) -> float:
    return float(np.mean(dataset["label"]))


def test_shipped_sample_is_real_balanced_imdb(sample):
    assert {name: len(split) for name, split in sample.items()} == {"train": 2000, "test": 1000}
    assert balanced(sample["train"]) == 0.5 and balanced(sample["test"]) == 0.5
    assert sample["train"].features["label"].names == ["neg", "pos"]
    assert all(len(text) > 20 for text in sample["train"]["text"][:50])


def test_canonical_protocol_holds_out_stratified_validation(sample):
    splits = make_splits(sample, "canonical", validation_fraction=0.1, seed=1)
    assert list(splits) == ["train", "validation", "test"]
    assert (len(splits["train"]), len(splits["validation"]), len(splits["test"])) == (1800, 200, 1000)
    assert balanced(splits["validation"]) == 0.5 and balanced(splits["train"]) == 0.5
    assert not set(splits["train"]["text"]) & set(splits["validation"]["text"])
    again = make_splits(sample, "canonical", validation_fraction=0.1, seed=1)
    assert again["validation"]["text"] == splits["validation"]["text"]
    other = make_splits(sample, "canonical", validation_fraction=0.1, seed=2)
    assert other["validation"]["text"] != splits["validation"]["text"]


@pytest.mark.parametrize("protocol, sizes", [("50/25/25", (1500, 750, 750)), ("50/0/50", (1500, None, 1500))])
def test_pooled_protocols(sample, protocol, sizes):
    # IMDB repeats a few texts, so rows are told apart by an id of their own
    sample = DatasetDict({name: split.add_column("uid", [f"{name}-{i}" for i in range(len(split))])
                          for name, split in sample.items()})
    splits = make_splits(sample, protocol, seed=3)
    names = ("train", "validation", "test")
    assert {n: len(splits[n]) for n in splits} == {n: s for n, s in zip(names, sizes) if s is not None}
    for split in splits.values():
        assert balanced(split) == 0.5
    uids = [set(split["uid"]) for split in splits.values()]
    assert sum(len(u) for u in uids) == len(set().union(*uids)) == 3000  # a partition of all 3,000 reviews


@pytest.mark.parametrize("spec", ["50/30/30", "50/50", "a/b/c", "0/50/50", "50/-10/60"])
def test_bad_split_specs(sample, spec):
    with pytest.raises(DataError, match="Split protocol"):
        make_splits(sample, spec)
    with pytest.raises(DataError):
        parse_split_spec(spec)


def test_aclimdb_folder(tmp_path):
    for split in ("train", "test"):
        for label, texts in (("neg", ["Awful.", "Boring film."]), ("pos", ["Great!", "Loved it.", "Superb."])):
            folder = tmp_path / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i, text in enumerate(texts):
                (folder / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(text)
    (tmp_path / "aclImdb" / "train" / "unsup").mkdir()
    dataset = load_imdb(str(tmp_path / "aclImdb"))
    assert dataset["train"]["text"] == ["Awful.", "Boring film.", "Great!", "Loved it.", "Superb."]
    assert dataset["train"]["label"] == [0, 0, 1, 1, 1]
    assert dataset["test"].features["label"].names == ["neg", "pos"]


def test_parquet_folder(tmp_path, sample):
    for name, split in sample.items():
        split.select(range(10)).to_parquet(str(tmp_path / f"{name}.parquet"))
    dataset = load_imdb(str(tmp_path))
    assert len(dataset["train"]) == 10 and dataset["train"]["text"] == sample["train"]["text"][:10]


@pytest.mark.parametrize(
    "columns, message",
    [
        ({"review": ["a"], "label": [0]}, "no 'text' column"),
        ({"text": ["a"], "sentiment": [0]}, "no 'label' column"),
        ({"text": ["a", "b"], "label": [0, 2]}, r"labels \[2\] outside"),
        ({"text": ["a", "b"], "label": [-1, 1]}, r"labels \[-1\] outside"),
        ({"text": [], "label": []}, "is empty"),
    ],
)
def test_bad_data_is_refused_with_the_reason(columns, message):
    with pytest.raises(DataError, match=message):
        validate_split(Dataset.from_dict(columns), "train")


def test_bad_data_is_refused_by_the_splitter():
    broken = DatasetDict({"train": Dataset.from_dict({"text": ["a"] * 4, "label": [0, 1, 0, 5]}),
                          "test": Dataset.from_dict({"text": ["b"], "label": [1]})})
    with pytest.raises(DataError, match="outside"):
        make_splits(broken, "canonical", validation_fraction=0.5)


def test_unknown_source_is_explained():
    with pytest.raises(DataError, match="neither an existing folder nor a Hub id"):
        load_imdb("./no/such/folder")


def test_unreachable_hub_dataset_says_what_to_use_instead(monkeypatch):
    def unreachable(source, split):
        raise ConnectionError(f"Couldn't reach '{source}' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr("imdb_lstm.data.load_dataset", unreachable)
    with pytest.raises(DataError, match=r"Hub unreachable: .*'stanfordnlp/imdb'.*--dataset sample.*\.\./shared/data/imdb"):
        load_imdb()


def test_training_script_offline_with_the_default_hub_dataset_ends_in_one_line(tmp_path):
    """What a user gets from scripts/train.py on a machine without the Hub: one line, no traceback, at once."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {name: value for name, value in os.environ.items() if not name.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), OMP_NUM_THREADS="1")  # nothing cached
    result = subprocess.run([sys.executable, str(root / "scripts" / "train.py"), "--output_dir", str(tmp_path / "out")],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Hub unreachable" in lines[0] and "--dataset sample" in lines[0], result.stderr[-2000:]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("splits", [["test"], ["TEST"], ["test[:1]"], ["train+test"], ["unsupervised", "test[10%:]"],
                                    ["train[:5]+Test"]])
def test_every_split_expression_that_reads_test_is_refused_for_unlabelled_use(splits):
    from imdb_lstm.data import check_unlabelled_splits

    with pytest.raises(DataError, match="--dataset_splits"):
        check_unlabelled_splits(splits, "word vectors")


def test_split_expressions_without_test_pass_the_guard():
    from imdb_lstm.data import check_unlabelled_splits, split_names

    assert split_names("train[:50%]+unsupervised") == ["train", "unsupervised"]
    check_unlabelled_splits(["train[:10]+unsupervised", "contest"], "VAT")  # "contest" is no test split


def test_excluded_texts_are_matched_after_normalisation():
    from datasets import Dataset

    from imdb_lstm.data import without_texts

    held_out = ["A great film.<br /><br />Truly  great!", "Dull."]
    texts = Dataset.from_dict({"text": ["a GREAT film. truly great!", "A great film. Truly great, really!", "dull.",
                                        "   ", "Something else"]})
    kept = without_texts(texts, held_out)
    assert kept["text"] == ["A great film. Truly great, really!", "Something else"]
