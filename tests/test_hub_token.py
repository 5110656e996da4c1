"""A Hugging Face token given on the command line (`--hub_token`) stays in the process: a training given one writes
it to no log, no output and no file of its folder (run_info.json, which `imdb-lstm-push` publishes, included; the
masking itself, `redact_secrets`: tests/test_common.py)."""

import copy
import json
import logging
import pickle
import sys

import pytest
import torch

from imdb_lstm.commands import train as train_command
from imdb_lstm.training.finetune import ImdbTrainingArguments
from imdb_lstm.training.pretrain import PretrainingArguments

SECRET = "hf_zzqNeverWrittenAnywhere0123456789abcdef"
TINY = ["--dataset", "sample", "--max_train_samples", "64", "--max_eval_samples", "32", "--max_length", "32",
        "--hidden_size", "8", "--vocab_size", "2000", "--num_train_epochs", "1", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--disable_tqdm", "true", "--report_to", "none"]


def test_a_token_given_by_hub_token_is_in_no_log_output_or_file(tmp_path, monkeypatch, capfd, caplog):
    output_dir = tmp_path / "run"
    argv = [*TINY, "--output_dir", str(output_dir), "--hub_token", SECRET]
    monkeypatch.setattr(sys, "argv", ["scripts/train.py", *argv])  # the command line run_info.json records
    caplog.set_level(logging.INFO)
    train_command.main(argv)

    out, err = capfd.readouterr()
    assert SECRET not in out and SECRET not in err and SECRET not in caplog.text
    run_info = json.loads((output_dir / "run_info.json").read_text())
    assert run_info["command"][-2:] == ["--hub_token", "<HUB_TOKEN>"]
    assert run_info["arguments"]["training"]["hub_token"] == "<HUB_TOKEN>"
    written = [path for path in output_dir.rglob("*") if path.is_file()]
    leaked = sorted(str(path.relative_to(output_dir)) for path in written if SECRET.encode() in path.read_bytes())
    assert written and not leaked, leaked
    # Trainer's pickle of its arguments is still there, readable, with the token left out.
    saved = torch.load(output_dir / "training_args.bin", weights_only=False)
    assert saved.hub_token is None and saved.output_dir == str(output_dir)


@pytest.mark.parametrize("arguments_class", [ImdbTrainingArguments, PretrainingArguments])
def test_pickled_arguments_leave_the_token_out_and_copies_in_the_process_keep_it(tmp_path, arguments_class):
    arguments = arguments_class(output_dir=str(tmp_path), hub_token=SECRET, report_to="none")
    pickled = pickle.dumps(arguments)
    assert SECRET.encode() not in pickled
    restored = pickle.loads(pickled)
    assert type(restored) is arguments_class and restored.hub_token is None
    assert restored.output_dir == arguments.output_dir and restored.learning_rate == arguments.learning_rate
    # The push itself reads the token from the arguments Trainer holds, and from copies of them.
    assert arguments.hub_token == SECRET
    assert copy.copy(arguments).hub_token == SECRET and copy.deepcopy(arguments).hub_token == SECRET
    assert copy.deepcopy(arguments).to_dict() == arguments.to_dict()
