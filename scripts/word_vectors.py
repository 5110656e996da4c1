#!/usr/bin/env python
"""Learn domain word vectors with gensim on unlabelled text (the code lives in `imdb_lstm.word_vectors`; installed,
the same command is `imdb-lstm-word-vectors`).

    python scripts/word_vectors.py --dataset ../shared/data/imdb --output outputs/vectors/imdb-w2v-100.kv
    python scripts/train.py --dataset ../shared/data/imdb --glove outputs/vectors/imdb-w2v-100.kv ...
"""

from imdb_lstm.commands.word_vectors import cli_main

if __name__ == "__main__":
    cli_main()
