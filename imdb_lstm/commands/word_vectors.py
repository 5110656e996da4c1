"""The `imdb-lstm-word-vectors` command (and `scripts/word_vectors.py`): domain word vectors learnt with gensim
(`imdb_lstm.word_vectors`).

    imdb-lstm-word-vectors --dataset ../shared/data/imdb --output outputs/vectors/imdb-w2v-100.kv
    imdb-lstm-word-vectors configs/ssl_word_vectors.json      # the semi-supervised recipe's vectors
    imdb-lstm-word-vectors --dataset text --data_files corpus.txt --dataset_splits train \\
        --exclude_dataset ../shared/data/imdb --output outputs/vectors/corpus.kv

Every validation and test review of the fine-tuning run is left out of the texts read (`--exclude_dataset`: by
default `--dataset` itself when it has labelled train and test splits; a text file has none, so name the labelled
dataset as above); the count is logged and written to `<output>.json` (`excluded_texts`).
"""

import logging

from ..data import DataError
from ..training.common import parse_arguments
from ..word_vectors import WordVectorArguments, learn_word_vectors
from . import exit_on_errors

__all__ = ["cli_main", "main", "parse_args"]


def parse_args(argv=None) -> tuple[WordVectorArguments]:
    """Flags, or one JSON file of them (`configs/ssl_word_vectors.json`)."""
    return parse_arguments((WordVectorArguments,), argv)


def main(argv=None) -> dict:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    (args,) = parse_args(argv)
    return learn_word_vectors(args)


def cli_main() -> None:
    exit_on_errors(main, (DataError, ValueError))
