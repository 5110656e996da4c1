"""The `imdb-lstm-distill` command (and `scripts/distill.py`): `imdb-lstm-train` with `--teacher_model` required
(the pieces of distillation are in `imdb_lstm.training.distill`).

    imdb-lstm-distill configs/distill_fast.json
    imdb-lstm-distill --dataset sample --teacher_model outputs/demo --output_dir outputs/demo-fast
"""

from ..data import DataError
from ..training import finetune
from ..training.pretrained import PretrainedModelError
from ..training.model_config import ConfigArgumentError
from . import exit_on_errors, run_then_push

__all__ = ["cli_main", "main", "parse_args"]


def parse_args(argv=None) -> tuple:
    """`imdb-lstm-distill`'s command line: `imdb-lstm-train`'s arguments, `--teacher_model` required."""
    model_args, data_args, training_args = finetune.parse_args(argv)
    if not training_args.teacher_model:
        raise DataError("imdb-lstm-distill needs --teacher_model: the folder (or Hub repo) of a trained imdb-lstm "
                        "classifier whose soft labels the student learns, e.g. --teacher_model outputs/recipe.")
    return model_args, data_args, training_args


def main(argv=None) -> dict:
    return run_then_push(finetune.run, *parse_args(argv))


def cli_main() -> None:
    exit_on_errors(main, (DataError, PretrainedModelError, ConfigArgumentError))
