"""The `imdb-lstm-pretrain` command (and `scripts/pretrain.py`): the pretraining recipe
(`imdb_lstm.training.pretrain`), then the push with `--push_to_hub`.

    imdb-lstm-pretrain --dataset ../shared/data/imdb --output_dir outputs/imdb-lm      # IMDB train + unsupervised
    imdb-lstm-pretrain configs/my_lm.json                                              # all arguments from JSON
    imdb-lstm-pretrain --dataset text --data_files corpus.txt --dataset_splits train \\
        --exclude_dataset ../shared/data/imdb --output_dir outputs/corpus-lm

Every validation and test review of the fine-tuning run is left out of the texts read (`--exclude_dataset`: by
default `--dataset` itself when it has labelled train and test splits; a text file has none, so name the labelled
dataset as above); the count is logged and written to `run_info.json` (`excluded_texts`).
"""

from ..data import DataError
from ..training.pretrain import parse_args, run
from ..training.model_config import ConfigArgumentError
from . import exit_on_errors, run_then_push

__all__ = ["cli_main", "main", "parse_args"]


def main(argv=None) -> dict:
    return run_then_push(run, *parse_args(argv))


def cli_main() -> None:
    exit_on_errors(main, (DataError, ConfigArgumentError))
