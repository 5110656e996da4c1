"""Builds train.csv and test.csv here: the first 400 train and 100 test reviews of the package's shipped IMDB
sample, cut to 50 words, each given a random genre (comedy, drama, horror) whose word (hilarious, tearful,
terrifying) is inserted once at a random place. A synthetic 3-class task for trying train.py on your own CSV;
the planted word decides the label, so a model can learn it from few examples.

    python data/genres_sample/build.py
"""

from pathlib import Path

import numpy as np
from datasets import Dataset

from imdb_lstm.data import load_imdb

GENRE_WORDS = {"comedy": "hilarious", "drama": "tearful", "horror": "terrifying"}

if __name__ == "__main__":
    rng = np.random.default_rng(0)
    sample = load_imdb("sample")
    for split, count in (("train", 400), ("test", 100)):
        genres = rng.choice(sorted(GENRE_WORDS), size=count)
        reviews = []
        for text, genre in zip(sample[split]["text"][:count], genres):
            words = text.split()[:50]
            words.insert(int(rng.integers(0, len(words) + 1)), GENRE_WORDS[genre])
            reviews.append(" ".join(words))
        Dataset.from_dict({"review": reviews, "genre": list(genres)}).to_csv(str(Path(__file__).parent / f"{split}.csv"),
                                                                             index=False)
