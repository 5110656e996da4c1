#!/usr/bin/env python
"""Push a trained model (an output folder of scripts/train.py or scripts/pretrain.py) to the Hugging Face Hub with
a rendered model card (the code lives in `imdb_lstm.hub`; installed, the same command is `imdb-lstm-push`).

    HF_TOKEN=hf_... python scripts/push_to_hub.py --model_dir outputs/imdb-bilstm --repo_id you/imdb-bilstm
    python scripts/push_to_hub.py --model_dir outputs/demo --repo_id you/imdb-demo --private --revision dev
    python scripts/push_to_hub.py --model_dir outputs/imdb-lm --repo_id you/imdb-lm        # a pretrained LM

The token comes from --token, else HF_TOKEN, else the `hf auth login` cache; prefer the last two, since a token on
the command line ends up in shell history. Loading it back: see the card, or the README's "Share on the Hub".
"""

from imdb_lstm.hub import PushArguments, cli_main, main  # noqa: F401  (PushArguments, main: for code importing this script)

if __name__ == "__main__":
    cli_main()
