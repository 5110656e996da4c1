"""Training recipes, one module each:

- `common`: what both recipes share (arguments that accept bf16 on a CPU, parsing the command line or a JSON file,
  checkpoint resolution, `run_info.json`, the one `run` skeleton, train-and-save, the push at the end);
- `finetune`: the fine-tuning recipe (`imdb-lstm-train`), with `adversarial` (adversarial and virtual adversarial
  terms on the embeddings) beside it;
- `pretrain`: the encoder as a language model on unlabelled text (`imdb-lstm-pretrain`).
"""
