"""A wheel, installed with no checkout around it, holds everything needed to pretrain, fine-tune and push: the
console entry points, the shipped sample (unlabelled reviews included) and both model-card templates."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {
    "imdb-lstm-train": "imdb_lstm.commands.train:cli_main",
    "imdb-lstm-pretrain": "imdb_lstm.commands.pretrain:cli_main",
    "imdb-lstm-push": "imdb_lstm.hub:cli_main",
    "imdb-lstm-predict": "imdb_lstm.commands.predict:main",
    "imdb-lstm-demo": "imdb_lstm.demo:cli_main",
}
# Runs from the unpacked wheel only: pretrain, fine-tune from it, render both cards as a push would.
WITHOUT_CHECKOUT = r'''
import json, sys
from pathlib import Path
import imdb_lstm
assert Path(imdb_lstm.__file__).resolve().is_relative_to(Path(sys.argv[1]).resolve()), imdb_lstm.__file__
from imdb_lstm import cards
from imdb_lstm.training import finetune as training, pretrain as pretraining
common = ["--disable_tqdm", "true", "--report_to", "none", "--save_strategy", "no"]
pretraining.main(["--dataset", "sample", "--output_dir", "lm", "--max_steps", "2", "--hidden_size", "8",
                  "--block_size", "16", "--max_train_texts", "200", "--glove", "none", "--embedding_dim", "8",
                  "--eval_strategy", "no", *common])
training.main(["--dataset", "sample", "--model_name_or_path", "lm", "--output_dir", "classifier",
               "--num_train_epochs", "1", "--max_train_samples", "64", "--max_eval_samples", "32",
               "--max_length", "32", "--eval_strategy", "no", "--load_best_model_at_end", "false", *common])
print(json.dumps({"lm_card": cards.render_language_model_card("lm", "you/lm").text,
                  "classifier_card": cards.render_model_card("classifier", "you/classifier").text}))
'''


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the project's packaging files (the checkout gets no build/ folder)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "imdb_lstm", source / "imdb_lstm", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source),
                    "-w", str(out)], check=True, capture_output=True, timeout=300)
    (path,) = out.glob("imdb_lstm-*.whl")
    return path


def test_wheel_ships_entry_points_sample_and_card_templates(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(name).decode() for name in names if name.endswith("entry_points.txt"))
    for name in ("model_card.md", "lm_model_card.md", "sample_data/train.parquet", "sample_data/unsupervised.parquet",
                 "modeling_imdb_lstm.py", "training/finetune.py", "training/pretrain.py", "explain.py", "demo.py"):
        assert f"imdb_lstm/{name}" in names, name
    for command, target in ENTRY_POINTS.items():
        assert f"{command} = {target}" in entry_points


def test_unpacked_wheel_pretrains_fine_tunes_and_renders_both_cards_without_a_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    result = subprocess.run([sys.executable, "-c", WITHOUT_CHECKOUT, str(site)], cwd=work, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    cards = json.loads(result.stdout.strip().splitlines()[-1])
    assert "Validation perplexity" in cards["lm_card"] and "Tokens seen" in cards["lm_card"]
    assert "you/classifier" in cards["classifier_card"] and "Accuracy" in cards["classifier_card"]


def test_repository_card_template_is_the_one_the_package_ships():
    """`model_card.md` at the top of the repository is the Hub card template readers look for; the package renders
    cards from its own copy (so that a wheel can push without a checkout). They must not drift apart."""
    repository = Path(__file__).resolve().parents[1]
    assert (repository / "model_card.md").read_text() == (repository / "imdb_lstm" / "model_card.md").read_text()
