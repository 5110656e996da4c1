#!/usr/bin/env python
"""Three public datasets, none of them IMDB, as the `train.csv` / `test.csv` folders that README's "Fine-tune on
your own data" trains on, one per problem type. Each is read from a clone of its public repository (a working
tree, or a bare git directory, read at HEAD); nothing is downloaded here, and nothing of them is shipped:

    git clone https://github.com/PolyAI-LDN/task-specific-datasets banking77-src
    python scripts/prepare_public_data.py banking77 banking77-src data/own/banking77

- `banking77` (PolyAI, CC BY 4.0; Casanueva et al. 2020): 77 banking intents, one per question
  (single_label_classification). train 10,003, test 3,080; columns `text,label`.
- `goemotions` (Google, Apache-2.0; Demszky et al. 2020; the TSVs of github.com/monologg/GoEmotions-pytorch,
  byte-equal to google-research's): Reddit comments with any of 28 emotions (multi_label_classification).
  train 43,410, test 5,427 (the official dev split is not used: imdb-lstm-train holds out its own validation);
  columns `text,emotions`, the emotions separated by ",".
- `emobank` (JULIELab, CC BY-SA 4.0; Buechel & Hahn 2017): sentences rated for valence, arousal and dominance on
  1-5 (regression). The official split: train 8,062, test 1,000 (dev left out, as above); columns
  `text,valence,arousal,dominance`.

Each folder also gets a README.md with the source, its commit and licence, and the counts.
"""

import argparse
import csv
import io
import subprocess
import sys
from pathlib import Path

SOURCES = {
    "banking77": ("https://github.com/PolyAI-LDN/task-specific-datasets", "CC BY 4.0",
                  "Casanueva et al. 2020, Efficient Intent Detection with Dual Sentence Encoders"),
    "goemotions": ("https://github.com/monologg/GoEmotions-pytorch (google-research/goemotions's data)", "Apache-2.0",
                   "Demszky et al. 2020, GoEmotions: A Dataset of Fine-Grained Emotions"),
    "emobank": ("https://github.com/JULIELab/EmoBank", "CC BY-SA 4.0",
                "Buechel & Hahn 2017, EmoBank: Studying the Impact of Annotation Perspective and Representation Format"),
}


class Repository:
    """Files of a clone at HEAD: from its working tree, or with `git show` from a bare git directory."""

    def __init__(self, path: str):
        self.path = Path(path)
        if not self.path.is_dir():
            raise SystemExit(f"error: {path} is not a folder: give a clone of the dataset's repository (git clone URL).")
        self.bare = not (self.path / ".git").exists() and (self.path / "HEAD").is_file()

    def read(self, name: str) -> str:
        if not self.bare:
            file = self.path / name
            if not file.is_file():
                raise SystemExit(f"error: {file} is missing: is {self.path} a clone of the right repository?")
            return file.read_text(encoding="utf-8")
        shown = subprocess.run(["git", f"--git-dir={self.path}", "show", f"HEAD:{name}"], capture_output=True,
                               text=True)
        if shown.returncode:
            raise SystemExit(f"error: {name} is not in {self.path} at HEAD ({shown.stderr.strip()}): is it a clone of "
                             "the right repository?")
        return shown.stdout

    def commit(self) -> str:
        git = ["git", f"--git-dir={self.path}"] if self.bare else ["git", "-C", str(self.path)]
        return subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"


def banking77(repository: Repository) -> dict[str, tuple[list[str], list[list]]]:
    splits = {}
    for split in ("train", "test"):
        rows = list(csv.DictReader(io.StringIO(repository.read(f"banking_data/{split}.csv"))))
        splits[split] = (["text", "label"], [[row["text"], row["category"]] for row in rows])
    return splits


def goemotions(repository: Repository) -> dict[str, tuple[list[str], list[list]]]:
    emotions = repository.read("data/original/labels.txt").split()
    splits = {}
    for split in ("train", "test"):
        rows = csv.reader(io.StringIO(repository.read(f"data/original/{split}.tsv")), delimiter="\t")
        splits[split] = (["text", "emotions"],
                         [[text, ",".join(emotions[int(i)] for i in ids.split(","))] for text, ids, _ in rows])
    return splits


def emobank(repository: Repository) -> dict[str, tuple[list[str], list[list]]]:
    rows = list(csv.DictReader(io.StringIO(repository.read("corpus/emobank.csv"))))
    columns = ["text", "valence", "arousal", "dominance"]
    return {split: (columns, [[row["text"], row["V"], row["A"], row["D"]] for row in rows if row["split"] == split])
            for split in ("train", "test")}


PREPARE = {"banking77": banking77, "goemotions": goemotions, "emobank": emobank}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(PREPARE))
    parser.add_argument("source", help="a clone of the dataset's repository (working tree or bare git directory)")
    parser.add_argument("output_dir", help="the folder to write train.csv, test.csv and README.md to")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    repository = Repository(args.source)
    splits = PREPARE[args.dataset](repository)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for split, (columns, rows) in splits.items():
        with open(output / f"{split}.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(rows)
    url, licence, citation = SOURCES[args.dataset]
    counts = ", ".join(f"{split} {len(rows):,}" for split, (_, rows) in splits.items())
    (output / "README.md").write_text(
        f"# {args.dataset}\n\nFrom {url}, commit {repository.commit()}; licence {licence}. Cite: {citation}.\n"
        f"Written by imdb-lstm's scripts/prepare_public_data.py: {counts} rows.\n", encoding="utf-8")
    print(f"wrote {output}: {counts} rows ({licence})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
