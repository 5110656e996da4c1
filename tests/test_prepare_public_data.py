"""scripts/prepare_public_data.py: each public dataset's files, from a clone's working tree or a bare git directory,
become the train.csv / test.csv that imdb-lstm-train reads for its problem type (small stand-in repositories of the
same layout here; the real ones are measured in README's "Fine-tune on your own data")."""

import subprocess

import pytest
from helpers import load_script

from imdb_lstm.data import load_labelled

prepare = load_script("prepare_public_data")


def write_files(folder, files: dict[str, str]):
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


STAND_INS = {
    "banking77": {
        "banking_data/train.csv": 'text,category\nWhere is my card?,card_arrival\n"Fee, again?",card_payment_fee_charged\n',
        "banking_data/test.csv": "text,category\nMy card has not come,card_arrival\n",
    },
    "goemotions": {
        "data/original/labels.txt": "admiration\namusement\nanger\n",
        "data/original/train.tsv": "So funny!\t1\tc1\nGreat work, you idiot\t0,2\tc2\n",
        "data/original/test.tsv": '"He said ""wow"""\t0\tc3\n',
    },
    "emobank": {
        "corpus/emobank.csv": "id,split,V,A,D,text\na,train,3.2,3.0,3.1,A fine day.\nb,dev,2.0,3.0,3.0,Dev row.\n"
                              "c,test,2.5,3.4,2.9,\"Well, no.\"\nd,train,4.0,3.5,3.2,Joy!\n",
    },
}


def test_each_dataset_becomes_the_csvs_its_problem_type_trains_on(tmp_path):
    banking = prepare.main(["banking77", str(write_files(tmp_path / "b", STAND_INS["banking77"])), str(tmp_path / "B")])
    emotions = prepare.main(["goemotions", str(write_files(tmp_path / "g", STAND_INS["goemotions"])),
                             str(tmp_path / "G")])
    assert banking == emotions == 0
    single, intents = load_labelled(str(tmp_path / "B"))
    assert intents == ["card_arrival", "card_payment_fee_charged"]
    assert single["train"]["text"] == ["Where is my card?", "Fee, again?"]
    assert single["test"]["text"] == ["My card has not come"]
    multi, emotions = load_labelled(str(tmp_path / "G"), label_column="emotions",
                                    problem_type="multi_label_classification")
    assert emotions == ["admiration", "amusement", "anger"]
    assert multi["train"]["text"] == ["So funny!", "Great work, you idiot"] and multi["test"]["text"] == ['He said "wow"']
    assert multi["train"]["label"] == [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    assert "Apache-2.0" in (tmp_path / "G" / "README.md").read_text()


def test_a_bare_git_directory_is_read_at_head_and_the_official_split_kept(tmp_path):
    work = write_files(tmp_path / "EmoBank", STAND_INS["emobank"])
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "stand-in"], check=True)
    bare = tmp_path / "EmoBank.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    assert prepare.main(["emobank", str(bare), str(tmp_path / "E")]) == 0
    data, _ = load_labelled(str(tmp_path / "E"), label_column="valence", problem_type="regression")
    assert data["train"]["text"] == ["A fine day.", "Joy!"] and data["train"]["label"] == [3.2, 4.0]
    assert data["test"]["text"] == ["Well, no."]  # the dev row is in neither
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert commit in (tmp_path / "E" / "README.md").read_text()


def test_a_folder_that_is_not_the_datasets_clone_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="is not a folder: give a clone"):
        prepare.main(["emobank", str(tmp_path / "missing"), str(tmp_path / "out")])
    with pytest.raises(SystemExit, match=r"corpus/emobank.csv is missing: is .* a clone of the right repository"):
        prepare.main(["emobank", str(write_files(tmp_path / "g", STAND_INS["goemotions"])), str(tmp_path / "out")])
