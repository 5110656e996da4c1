"""IMDB sources, split protocols and data validation; what unlabelled stages leave out (a test review planted in
the unlabelled data: `planted_imdb_folder`, which tests/test_word_vectors.py and tests/test_pretrain.py use)."""

import logging

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


# ---------------------------------------------------------------- a test review planted in the unlabelled data

# The Hub's IMDB layout: the split each file holds is named in the dataset card.
PLANTED_LAYOUT_CARD = ("---\nconfigs:\n- config_name: plain_text\n  default: true\n  data_files:\n"
                       + "".join(f"  - split: {split}\n    path: plain_text/{split}-*\n"
                                 for split in ("train", "test", "unsupervised")) + "---\n")
# A word only one test review holds; a disguised copy of that review is planted in the unlabelled split.
PLANTED_WORD = "zzqplantedtestword"


def marker(prefix: str, number: int) -> str:
    """A word of letters only, unique to one review: marker("zqtrain", 27) = "zqtrainbb"."""
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters = chr(ord("a") + digit) + letters
        if number == 0:
            return prefix + letters.rjust(2, "a")


def disguised(text: str) -> str:
    """The same review as `normalised_text` compares it, spelt otherwise: upper case, line-break markup, runs of
    spaces and tabs (no newline, so that it is one line of a text file too)."""
    words = text.upper().split()
    return "  ".join(words[:3]) + " <br /><br />\t" + " ".join(words[3:]) + "   "


def planted_imdb_folder(folder, monkeypatch, train_size: int = 40, test_size: int = 20, unlabelled_size: int = 20):
    """A tiny IMDB in the Hub parquet layout, from the shipped sample's reviews cut to 50 words: balanced train
    and test splits, each train review carrying its own `marker("zqtrain", i)`, each unlabelled review its own
    `marker("zqunlabelled", i)`, test review 0 carrying PLANTED_WORD; the unlabelled split ends with a disguised copy
    of that test review (IMDB's unsupervised and train splits repeat 392 test reviews). Returns (folder, the
    unlabelled split's texts).

    `datasets` gets a cache of its own in the folder's parent: offline (HF_HUB_OFFLINE), datasets 5.2 answers a
    local folder from its cache of any earlier folder of the same name and dataset card, whatever the files hold
    (tests/test_build_default.py's `planted_imdb` holds the whole sample)."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    from imdb_lstm.data import SAMPLE_DIR

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", folder.parent / "datasets_cache")

    def balanced_rows(split: str, count: int) -> tuple[list[str], list[int]]:
        table = pq.read_table(SAMPLE_DIR / f"{split}.parquet").to_pydict()
        rows = [[i for i, label in enumerate(table["label"]) if label == value][: count // 2] for value in (0, 1)]
        chosen = sorted(rows[0] + rows[1])
        return [" ".join(table["text"][i].split()[:50]) for i in chosen], [table["label"][i] for i in chosen]

    train_texts, train_labels = balanced_rows("train", train_size)
    train_texts = [f"{text} {marker('zqtrain', i)}" for i, text in enumerate(train_texts)]
    test_texts, test_labels = balanced_rows("test", test_size)
    test_texts[0] = f"{test_texts[0]} {PLANTED_WORD}"
    unlabelled = pq.read_table(SAMPLE_DIR / "unsupervised.parquet")["text"].to_pylist()[:unlabelled_size]
    unlabelled = [f"{' '.join(text.split()[:50])} {marker('zqunlabelled', i)}" for i, text in enumerate(unlabelled)]
    unlabelled.append(disguised(test_texts[0]))
    (folder / "plain_text").mkdir(parents=True)
    (folder / "README.md").write_text(PLANTED_LAYOUT_CARD)
    for split, texts, labels in (("train", train_texts, train_labels), ("test", test_texts, test_labels),
                                 ("unsupervised", unlabelled, [-1] * len(unlabelled))):
        pq.write_table(pa.table({"text": texts, "label": labels}),
                       folder / "plain_text" / f"{split}-00000-of-00001.parquet")
    return folder, unlabelled


def test_unlabelled_stages_leave_out_the_held_out_reviews_of_a_labelled_source(tmp_path, monkeypatch, caplog):
    from imdb_lstm.data import held_out_texts, load_unlabelled_texts, normalised_text, unlabelled_exclusion

    caplog.set_level(logging.INFO, logger="imdb_lstm")
    folder, unlabelled = planted_imdb_folder(tmp_path / "planted_imdb", monkeypatch)
    planted = unlabelled[-1]
    exclusion = unlabelled_exclusion(str(folder), ["train", "unsupervised"])  # "auto": the source itself
    assert exclusion.texts == held_out_texts(str(folder)) and exclusion.source == str(folder)
    assert exclusion.count == 4 + 20  # validation (10 % of 40 train reviews) and test
    assert normalised_text(planted) in {normalised_text(text) for text in exclusion.texts}
    assert "the 24 validation and test reviews of" in caplog.text
    # Read as a stream, the planted copy is filtered out as well.
    stream = load_unlabelled_texts(str(folder), ["unsupervised"], streaming=True, excluded_texts=exclusion.texts)
    assert [row["text"] for row in stream] == unlabelled[:-1]
    # A pooled protocol holds out other reviews: those of its own validation and test parts.
    pooled = unlabelled_exclusion(str(folder), ["unsupervised"], protocol="50/25/25")
    assert pooled.count == 30 and pooled.texts == held_out_texts(str(folder), "50/25/25")
    # "none" leaves nothing out, and says so.
    caplog.clear()
    assert unlabelled_exclusion(str(folder), ["unsupervised"], "none") == (None, None)
    assert "--exclude_dataset none: no text is left out" in caplog.text


def test_a_source_without_labelled_splits_excludes_nothing_unless_told(tmp_path, caplog):
    from imdb_lstm.data import unlabelled_exclusion

    assert unlabelled_exclusion("text", ["train"]) == (None, None)
    assert "--dataset text has no labelled train and test splits" in caplog.text and "--exclude_dataset" in caplog.text
    # A typo in the protocol is an error even where nothing would be left out; so is an unreadable --exclude_dataset.
    with pytest.raises(DataError, match="--exclude_split_protocol.*'60/40'"):
        unlabelled_exclusion("text", ["train"], protocol="60/40")
    with pytest.raises(DataError, match="--exclude_validation_fraction"):
        unlabelled_exclusion("text", ["train"], validation_fraction=1.0)
    with pytest.raises(DataError, match=f"--exclude_dataset {tmp_path / 'missing'}.*cannot be read"):
        unlabelled_exclusion("text", ["train"], str(tmp_path / "missing"))
    with pytest.raises(DataError, match="--dataset_splits train\\+test"):
        unlabelled_exclusion("text", ["train+test"])


def test_a_class_of_one_row_is_refused_by_name_before_a_stratified_split():
    dataset = DatasetDict({"train": Dataset.from_dict({"text": list("abcde"), "label": [0, 0, 1, 1, 2]}),
                           "test": Dataset.from_dict({"text": ["f"], "label": [0]})})
    with pytest.raises(DataError, match=r"Class ids \[2\] have a single row .*--validation_fraction 0"):
        make_splits(dataset, "canonical", validation_fraction=0.2, num_labels=3)
