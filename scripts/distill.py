#!/usr/bin/env python
"""Distil a trained classifier into a small, fast student (the recipe lives in `imdb_lstm.training.distill`;
installed, the same command is `imdb-lstm-distill`).

    python scripts/distill.py configs/distill_fast.json                      # the shipped fast model
    python scripts/distill.py --dataset sample --teacher_model outputs/demo --output_dir outputs/demo-fast
"""

from imdb_lstm.commands.distill import cli_main

if __name__ == "__main__":
    cli_main()
