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
