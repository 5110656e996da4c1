"""The console entry points, one module each (`pyproject.toml` [project.scripts]): the top layer, the only place
that chains training → push and classifying → explaining. Each module has `parse_args(argv)` (its command line,
parse only) and `main(argv)`; a console script that turns errors into one line and an exit status is `cli_main()`.

- `train`: `imdb-lstm-train` (`imdb_lstm.training.finetune`, then the push with `--push_to_hub`);
- `distill`: `imdb-lstm-distill` (the same recipe with `--teacher_model` required);
- `pretrain`: `imdb-lstm-pretrain` (`imdb_lstm.training.pretrain`, then the push);
- `word_vectors`: `imdb-lstm-word-vectors` (`imdb_lstm.word_vectors`);
- `predict`: `imdb-lstm-predict` (`imdb_lstm.predict`, and `imdb_lstm.explain` with `--explain`).

`imdb-lstm-push`, `imdb-lstm-export` and `imdb-lstm-demo` live with what they run (`imdb_lstm.hub`,
`imdb_lstm.onnx_export`, `imdb_lstm.demo`), which nothing below them imports.
"""

import sys
from pathlib import Path

from ..hub import push_output


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
