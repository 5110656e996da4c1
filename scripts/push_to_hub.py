#!/usr/bin/env python
"""Push a trained model (an output folder of scripts/train.py) to the Hugging Face Hub with a rendered model card.

    HF_TOKEN=hf_... python scripts/push_to_hub.py --model_dir outputs/imdb-bilstm --repo_id you/imdb-bilstm
    python scripts/push_to_hub.py --model_dir outputs/demo --repo_id you/imdb-demo --private --revision dev

The token comes from --token, else HF_TOKEN, else the `hf auth login` cache; prefer the last two, since a token on
the command line ends up in shell history. Loading it back: see the card, or the README's "Share on the Hub".
"""

import logging
import sys
from dataclasses import dataclass, field

from huggingface_hub.errors import HfHubHTTPError
from transformers import HfArgumentParser

from imdb_lstm.hub import push_trained_model


@dataclass
class PushArguments:
    model_dir: str = field(metadata={"help": "output folder of scripts/train.py (model, tokenizer, eval_results.json)"})
    repo_id: str | None = field(
        default=None, metadata={"help": "Hub repo 'owner/name'; unset: the folder's name in the token's namespace"}
    )
    token: str | None = field(
        default=None, metadata={"help": "Hub token with write access; unset: HF_TOKEN, else the `hf auth login` cache"}
    )
    private: bool = field(default=False, metadata={"help": "create the repo private (an existing repo keeps its visibility)"})
    revision: str | None = field(default=None, metadata={"help": "branch to push to (created from main if missing)"})
    commit_message: str | None = field(default=None)


def main(argv=None) -> int:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger("imdb_lstm").setLevel(logging.INFO)  # what is pushed where; HTTP chatter stays quiet
    (args,) = HfArgumentParser(PushArguments).parse_args_into_dataclasses(args=argv)
    try:
        commit = push_trained_model(args.model_dir, repo_id=args.repo_id, token=args.token, private=args.private,
                                    revision=args.revision, commit_message=args.commit_message)
    except (OSError, ValueError, HfHubHTTPError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(commit.commit_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
