#!/usr/bin/env python
"""Train and evaluate an IMDB sentiment model with `transformers.Trainer` (the recipe lives in
`imdb_lstm.training.finetune`; installed, the same command is `imdb-lstm-train`).

    python scripts/train.py --dataset ../shared/data/imdb --output_dir outputs/imdb-bilstm   # the shipped recipe
    python scripts/train.py configs/imdb_bilstm.json                                         # the same, from JSON
    python scripts/train.py --dataset sample --output_dir outputs/demo --num_train_epochs 3  # offline, minutes
    python scripts/train.py --dataset sample --model_name_or_path outputs/lm --output_dir outputs/ft  # from a pretrained LM
"""

from imdb_lstm.commands.train import cli_main

if __name__ == "__main__":
    cli_main()
