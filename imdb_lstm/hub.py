"""Share a trained model on the Hugging Face Hub: choose the files, guard the token, push the output folder with its
card freshly rendered (`imdb_lstm.cards`).

    from imdb_lstm.hub import push_trained_model
    push_trained_model("outputs/imdb-bilstm", repo_id="you/imdb-bilstm")        # token: HF_TOKEN or `hf auth login`
    imdb-lstm-push --model_dir outputs/imdb-lm --repo_id you/imdb-lm             # the same from a shell
    imdb-lstm-push --model_dir outputs/imdb-bilstm --benchmarks_file benchmarks/accuracy.json   # + the recipe's row
    imdb-lstm-push --model_dir outputs/genres --dataset_name you/genres --dataset_description "..." --license mit

Only the files that belong in a model repo are pushed (weights, config, model code, tokenizer, card, plots,
results), never checkpoints, optimizer states or `training_args.bin`; with `onnx`, the classifier is exported first
(`imdb_lstm.onnx_export`).
"""

import logging
import sys
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, get_token

from .cards import (EXAMPLE_PICTURE, MODEL_FOLDER_FILES, OPTIONAL_MODEL_FOLDER_FILES, check_model_dir,
                    is_language_model_dir, render_language_model_card, render_model_card)
from .onnx_export import ONNX_FILE, export_model_dir

logger = logging.getLogger(__name__)

# What a model repo holds (file names or patterns): the model folder's own files (cards.MODEL_FOLDER_FILES, the one
# list of them), its weights, card and results; everything else in an output folder (checkpoint-*/,
# training_args.bin, trainer_state.json, test_predictions.jsonl) stays local.
MODEL_REPO_FILES = (
    *MODEL_FOLDER_FILES,
    *OPTIONAL_MODEL_FOLDER_FILES,
    "README.md",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "special_tokens_map.json",
    "confusion_matrix.png",
    "training_curves.png",
    "eval_results.json",
    "all_results.json",
    "train_results.json",
    "run_info.json",
    ONNX_FILE,  # from imdb-lstm-export; pushed when present and not older than the weights (see push_trained_model)
    EXAMPLE_PICTURE,
)

NO_TOKEN_MESSAGE = (
    "No Hugging Face token found; pushing needs one with write access (create it at "
    "https://huggingface.co/settings/tokens). Give it in one of these ways: set the HF_TOKEN environment variable, "
    "run `hf auth login` once, or pass --token (scripts/push_to_hub.py) / --hub_token (scripts/train.py)."
)


class MissingTokenError(ValueError):
    """No token was given and none is configured (HF_TOKEN, `hf auth login`)."""


def resolve_token(token: str | None = None) -> str:
    """The token to push with: the one given, else HF_TOKEN, else the `hf auth login` cache."""
    token = token or get_token()
    if not token:
        raise MissingTokenError(NO_TOKEN_MESSAGE)
    return token


def files_to_push(model_dir: Path, onnx: bool = True) -> list[Path]:
    """The files of `model_dir` that belong in the model repo (see MODEL_REPO_FILES), sorted; model.onnx only with
    `onnx` and only when it is not older than the weights (an export of an earlier model is left out, with a
    warning)."""
    paths = sorted(path for path in model_dir.iterdir()
                   if path.is_file() and any(fnmatch(path.name, pattern) for pattern in MODEL_REPO_FILES))
    onnx_path = model_dir / ONNX_FILE
    if onnx_path in paths:
        newest_weights = max(path.stat().st_mtime for path in model_dir.glob("*.safetensors"))
        if not onnx:
            paths.remove(onnx_path)
        elif onnx_path.stat().st_mtime < newest_weights:
            logger.warning("Leaving out %s: it is older than the weights (exported from an earlier model). Export "
                           "again (imdb-lstm-export, or push_trained_model(..., onnx=True)).", onnx_path)
            paths.remove(onnx_path)
    return paths


def refuse_files_holding_token(paths: list[Path], token: str) -> None:
    """A token written into a file (e.g. a command line with --hub_token in run_info.json) must not be published."""
    secret = token.encode()
    for path in paths:
        if secret in path.read_bytes():
            raise ValueError(f"{path} contains your Hugging Face token; refusing to push it. Remove the token from "
                             "that file (and pass tokens through HF_TOKEN rather than on the command line).")


def push_trained_model(output_dir, repo_id: str | None = None, token: str | None = None, private: bool = False,
                       revision: str | None = None, commit_message: str | None = None,
                       benchmarks_file: Path | None = None, onnx: bool | None = None,
                       dataset_name: str | None = None, dataset_description: str | None = None,
                       license: str | None = None, explain_example: bool = True):
    """Push an output folder of `imdb-lstm-train` (a classifier) or `imdb-lstm-pretrain` (a language model, with
    its own card) to the Hub repo `repo_id` (created if needed, in the token's
    namespace when `repo_id` has no owner; default name: the folder's) with a freshly rendered model card, which
    is also written to `output_dir/README.md`. `revision`: a branch, created from main if missing. A repo that
    exists keeps its visibility; pushing again updates its files. `onnx`: None pushes model.onnx when the folder
    has a current one, True exports it first (imdb_lstm.onnx_export, needs the `onnx` extra), False never pushes
    it. `benchmarks_file`, `dataset_name`, `dataset_description` (a model of the user's own data: its card's
    description of the data, over what training recorded), `license` (such a model's licence) and
    `explain_example`: see `imdb_lstm.cards.render_model_card`. Returns the `CommitInfo`."""
    model_dir = Path(output_dir)
    check_model_dir(model_dir)
    language_model = is_language_model_dir(model_dir)
    if language_model and onnx:
        raise ValueError(f"{model_dir} holds a language model: ONNX export is for classifiers; push without onnx.")
    token = resolve_token(token)
    if onnx:
        export_model_dir(model_dir)
    refuse_files_holding_token(files_to_push(model_dir), token)
    api = HfApi(token=token)

    repo_url = api.create_repo(repo_id or model_dir.resolve().name, private=private, exist_ok=True)
    repo_id = repo_url.repo_id
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    if language_model:
        card = render_language_model_card(model_dir, repo_id)
    else:
        card = render_model_card(model_dir, repo_id, benchmarks_file=benchmarks_file, dataset_name=dataset_name,
                                 dataset_description=dataset_description, license=license,
                                 explain_example=explain_example)
    card.save(model_dir / "README.md")
    paths = files_to_push(model_dir, onnx=onnx is not False)
    refuse_files_holding_token(paths, token)
    logger.info("Pushing %d files of %s to %s (revision %s): %s", len(paths), model_dir, repo_url,
                revision or "main", ", ".join(path.name for path in paths))
    commit = api.create_commit(
        repo_id,
        operations=[CommitOperationAdd(path_in_repo=path.name, path_or_fileobj=str(path)) for path in paths],
        commit_message=commit_message or f"Upload {model_dir.name} with imdb-lstm",
        revision=revision,
    )
    logger.info("Pushed: %s", commit.commit_url)
    return commit


def push_output(output_dir, training_args):
    """Push a finished training output folder with its rendered card (`push_trained_model`), with the `--hub_*`
    training arguments (what `imdb-lstm-train --push_to_hub` and `imdb-lstm-pretrain --push_to_hub` do)."""
    return push_trained_model(
        output_dir,
        repo_id=training_args.hub_model_id,
        token=training_args.hub_token,
        private=bool(training_args.hub_private_repo),
        revision=getattr(training_args, "hub_revision", None),
    )


@dataclass
class PushArguments:
    model_dir: str = field(metadata={"help": "output folder of imdb-lstm-train or imdb-lstm-pretrain"})
    repo_id: str | None = field(
        default=None, metadata={"help": "Hub repo 'owner/name'; unset: the folder's name in the token's namespace"}
    )
    token: str | None = field(
        default=None, metadata={"help": "Hub token with write access; unset: HF_TOKEN, else the `hf auth login` cache"}
    )
    private: bool = field(default=False, metadata={"help": "create the repo private (an existing repo keeps its visibility)"})
    revision: str | None = field(default=None, metadata={"help": "branch to push to (created from main if missing)"})
    commit_message: str | None = field(default=None)
    benchmarks_file: str | None = field(
        default=None,
        metadata={"help": "the project's benchmarks/accuracy.json: a classifier's card then shows the shipped recipe's "
                  "benchmarked row beside the model's figures (unset: no such section)"},
    )
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "a model of your own data: the data's name on the card and in its `datasets` metadata (a Hub "
                  "dataset id where there is one); unset: what imdb-lstm-train recorded (--dataset_name), else the "
                  "files it read"},
    )
    dataset_description: str | None = field(
        default=None,
        metadata={"help": "a model of your own data: a few sentences on the data for the card (where the texts come "
                  "from, who labelled them and how); unset: what imdb-lstm-train recorded, else the card asks for it"},
    )
    license: str | None = field(
        default=None,
        metadata={"help": "a model of your own data: its licence for the card's metadata (a Hub licence id, e.g. "
                  "apache-2.0 or cc-by-4.0; one the data's licence allows); unset: none"},
    )
    explain_example: bool = field(
        default=True,
        metadata={"help": "draw the explained example on the card: IMDB's study review, or for your own data the "
                  "first test text, which is then published with the card (false: no picture)"},
    )


def parse_args(argv=None) -> tuple[PushArguments]:
    """The `imdb-lstm-push` command line."""
    from transformers import HfArgumentParser

    return HfArgumentParser(PushArguments).parse_args_into_dataclasses(args=argv)


def main(argv=None) -> int:
    """The `imdb-lstm-push` command (and `scripts/push_to_hub.py`): push a folder, print the commit URL."""
    from huggingface_hub.errors import HfHubHTTPError

    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger("imdb_lstm").setLevel(logging.INFO)  # what is pushed where; HTTP chatter stays quiet
    (args,) = parse_args(argv)
    try:
        commit = push_trained_model(args.model_dir, repo_id=args.repo_id, token=args.token, private=args.private,
                                    revision=args.revision, commit_message=args.commit_message,
                                    benchmarks_file=args.benchmarks_file, dataset_name=args.dataset_name,
                                    dataset_description=args.dataset_description, license=args.license,
                                    explain_example=args.explain_example)
    except (OSError, ValueError, HfHubHTTPError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(commit.commit_url)
    return 0


def cli_main() -> None:
    sys.exit(main())
