#!/usr/bin/env python
"""Train and evaluate an IMDB sentiment model with `transformers.Trainer` (the recipe lives in
`imdb_lstm.training.finetune`; installed, the same command is `imdb-lstm-train`).

    python scripts/train.py configs/imdb_bilstm.json --dataset ../shared/data/imdb           # the supervised recipe
    python scripts/train.py configs/imdb_bilstm.json --config_overrides "hidden_size=256,cell=gru"   # its config changed
    python scripts/train.py --dataset sample --output_dir outputs/demo --num_train_epochs 3  # ImdbLstmConfig(), offline
    python scripts/train.py --dataset sample --model_name_or_path outputs/lm --output_dir outputs/ft  # from a pretrained LM
"""

from imdb_lstm.commands.train import cli_main

if __name__ == "__main__":
    cli_main()
