"""Training recipes, one module each:

- `common`: what the recipes share (arguments that accept bf16 on a CPU, parsing the command line or a JSON file,
  checkpoint resolution, `run_info.json`, the one `run` skeleton, train-and-save);
- `finetune`: the fine-tuning recipe (`imdb-lstm-train`), read top to bottom, in the shape of transformers'
  `run_classification.py`; below it `trainer` (`FineTuningTrainer` and its callbacks: the weights' moving average,
  gradual unfreezing), `adversarial` (adversarial and virtual adversarial terms on the embeddings, embedding
  normalisation, and their `AdversarialArguments`), `distill` (soft labels, the transfer set and its loss, and
  `DistillationArguments`), `averaging` (the moving average itself), `teachers`, `pretrained` (starting from a
  pretrained imdb-lstm model) and `scoring` (the n-gram branch, test predictions after training);
- `pretrain`: the encoder as a language model on unlabelled text (`imdb-lstm-pretrain`).

Training never imports the modules that publish or serve a saved model (`hub`, `cards`, `explain`,
`onnx_export`, `demo`): the commands (`imdb_lstm.commands`) push once a recipe's `run` has returned.
"""
