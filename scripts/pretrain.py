#!/usr/bin/env python
"""Pretrain the encoder as a language model on unlabelled text (the recipe lives in `imdb_lstm.training.pretrain`;
installed, the same command is `imdb-lstm-pretrain`).

    python scripts/pretrain.py configs/ssl_pretrain.json --dataset ../shared/data/imdb     # the recipe's language model
    python scripts/pretrain.py --dataset ../shared/data/imdb --output_dir outputs/imdb-lm    # ImdbLstmConfig()'s
    python scripts/pretrain.py --dataset sample --output_dir outputs/demo-lm --max_steps 20  # offline, a minute
    python scripts/train.py --dataset sample --model_name_or_path outputs/demo-lm --output_dir outputs/demo-ft
"""

from imdb_lstm.commands.pretrain import cli_main

if __name__ == "__main__":
    cli_main()
