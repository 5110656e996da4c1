"""Training recipes, one module each:

- `common`: what the recipes share (arguments that accept bf16 on a CPU, parsing the command line or a JSON file,
  checkpoint resolution, `run_info.json`, the one `run` skeleton, train-and-save);
- `finetune`: the fine-tuning recipe (`imdb-lstm-train`), with `adversarial` (adversarial and virtual adversarial
  terms on the embeddings, embedding normalisation), `averaging` (the weights' exponential moving average),
  `distill` (soft labels, the transfer set and its loss) and `teachers` below it;
- `pretrain`: the encoder as a language model on unlabelled text (`imdb-lstm-pretrain`).

Training never imports the modules that publish or serve a saved model (`hub`, `cards`, `explain`,
`onnx_export`, `demo`): the commands (`imdb_lstm.commands`) push once a recipe's `run` has returned.
"""
