"""The `imdb-lstm-train` command (and `scripts/train.py`): the fine-tuning recipe (`imdb_lstm.training.finetune`),
then the push with `--push_to_hub`.

    imdb-lstm-train configs/imdb_bilstm.json --dataset ../shared/data/imdb           # the supervised recipe
    imdb-lstm-train configs/imdb_bilstm.json --config_overrides "hidden_size=256,cell=gru"   # its config changed
    imdb-lstm-train --dataset sample --output_dir outputs/demo --num_train_epochs 3  # ImdbLstmConfig(), offline
"""

from ..data import DataError
from ..training.finetune import parse_args, run
from ..training.pretrained import PretrainedModelError
from ..training.model_config import ConfigArgumentError
from . import exit_on_errors, run_then_push

__all__ = ["cli_main", "main", "parse_args"]


def main(argv=None) -> dict:
    return run_then_push(run, *parse_args(argv))


def cli_main() -> None:
    exit_on_errors(main, (DataError, PretrainedModelError, ConfigArgumentError))
