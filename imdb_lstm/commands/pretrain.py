"""The `imdb-lstm-pretrain` command (and `scripts/pretrain.py`): the pretraining recipe
(`imdb_lstm.training.pretrain`), then the push with `--push_to_hub`.

    imdb-lstm-pretrain --dataset ../shared/data/imdb --output_dir outputs/imdb-lm      # IMDB train + unsupervised
    imdb-lstm-pretrain configs/my_lm.json                                              # all arguments from JSON
"""

from ..data import DataError
from ..training.pretrain import parse_args, run
from . import exit_on_errors, run_then_push

__all__ = ["cli_main", "main", "parse_args"]


def main(argv=None) -> dict:
    return run_then_push(run, *parse_args(argv))


def cli_main() -> None:
    exit_on_errors(main, (DataError,))
