"""What fine-tuning and pretraining share (imdb_lstm.training.common): `redact_secrets` masks a Hub token in the
command line a run records; `resolve_checkpoint` finds the last complete checkpoint, skipping those a killed run
left incomplete. (A killed training resumed end to end: tests/test_reliability.py; a token kept out of a whole run's
files: tests/test_hub_token.py.)"""

import json
import shutil
from pathlib import Path

import pytest
from helpers import tiny_model, truncate

from imdb_lstm.training import common
from imdb_lstm.training.common import redact_secrets

SECRET = "hf_zzqNeverWrittenAnywhere0123456789abcdef"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny saved classifier, whose weights the checkpoints copy."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_model()[0].save_pretrained(folder)
    return folder


def test_redact_secrets_masks_the_token_in_both_spellings_and_nothing_else():
    argv = ["scripts/train.py", "--hub_token", SECRET, "--seed", "1", f"--hub_token={SECRET}", "--output_dir", "x"]
    assert redact_secrets(argv) == ["scripts/train.py", "--hub_token", "<HUB_TOKEN>", "--seed", "1",
                                    "--hub_token=<HUB_TOKEN>", "--output_dir", "x"]
    assert argv[2] == SECRET  # the caller's list is left as it was
    assert redact_secrets(["train.py", "--seed", "1"]) == ["train.py", "--seed", "1"]
    assert redact_secrets(["train.py", "--hub_token"]) == ["train.py", "--hub_token"]  # no value: nothing to hide


def write_checkpoint(folder: Path, source: Path) -> Path:
    """A complete-looking checkpoint folder: trainer_state.json and the weights of `source`."""
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": int(folder.name.split("-")[1])}))
    shutil.copy(source / "model.safetensors", folder / "model.safetensors")
    return folder


def test_last_checkpoint_skips_incomplete_ones(model_dir, tmp_path):
    complete = write_checkpoint(tmp_path / "checkpoint-20", model_dir)
    write_checkpoint(tmp_path / "checkpoint-9", model_dir)  # older, and 9 < 20 although "9" > "20"
    truncate(write_checkpoint(tmp_path / "checkpoint-30", model_dir) / "model.safetensors")
    (write_checkpoint(tmp_path / "checkpoint-40", model_dir) / "trainer_state.json").unlink()
    (write_checkpoint(tmp_path / "checkpoint-50", model_dir) / "model.safetensors").unlink()
    (write_checkpoint(tmp_path / "checkpoint-60", model_dir) / "trainer_state.json").write_text('{"global_st')
    write_checkpoint(tmp_path / "checkpoint-70-old", model_dir)  # not a Trainer checkpoint name

    assert common.resolve_checkpoint("last", tmp_path) == str(complete)
    assert common.resolve_checkpoint(str(complete), tmp_path) == str(complete)
    assert common.resolve_checkpoint(None, tmp_path) is None
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        common.resolve_checkpoint(str(tmp_path / "checkpoint-30"), tmp_path)
    with pytest.raises(FileNotFoundError, match="no complete checkpoint in"):
        common.resolve_checkpoint("last", tmp_path / "checkpoint-30")
