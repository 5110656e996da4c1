"""Fixtures shared by several test files, each built once per session: one small model trained on the shipped sample,
and one tiny language model pretrained on it."""

import pytest

# tests/test_learning.py's recipe (a BiLSTM-64 with max+mean pooling, reviews up to 256 tokens keeping their end, 4
# epochs on the sample's 1,800 training reviews: test accuracy about 0.84), without checkpoints: about 20 s on an idle
# 2-core CPU.
SAMPLE_MODEL_RECIPE = [
    "--dataset", "sample", "--hidden_size", "64", "--bidirectional", "true", "--pooling", "max_mean",
    "--embedding_dropout", "0.25", "--max_length", "256", "--truncation_side", "left", "--vocab_size", "10000",
    "--num_train_epochs", "4", "--learning_rate", "5e-3", "--per_device_train_batch_size", "32", "--seed", "42",
    "--logging_steps", "20", "--disable_tqdm", "true", "--report_to", "none", "--save_strategy", "no",
    "--load_best_model_at_end", "false",
]


@pytest.fixture(scope="session")
def sample_model_dir(tmp_path_factory):
    """The output folder of a short training on the shipped sample (an LSTM that has learnt sentiment words)."""
    from imdb_lstm.training import finetune as training

    output_dir = tmp_path_factory.mktemp("sample_model")
    training.main([*SAMPLE_MODEL_RECIPE, "--output_dir", str(output_dir)])
    return output_dir


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory):
    """(output folder, results) of a 40-step pretraining of a tiny language model on the shipped sample
    (tests/test_pretrain.py, tests/test_pretrained.py, tests/test_trainer.py)."""
    from helpers import pretrain

    output_dir = tmp_path_factory.mktemp("lm")
    results = pretrain(output_dir, "--dataset", "sample", "--max_train_texts", "600", "--max_steps", "40",
                       "--learning_rate", "1e-2", "--logging_steps", "5", "--eval_strategy", "steps",
                       "--eval_steps", "20")
    return output_dir, results
