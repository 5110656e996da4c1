"""The console scripts as a user meets them: every script of pyproject.toml answers `--help`, classifying works
without the `[train]` extra's packages, and a training command run without them ends with one line saying what to
install. Each runs the installed script (`.venv/bin/...`) in a subprocess, as a shell would."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import tiny_model

from imdb_lstm.commands import INSTALL_TRAIN_EXTRA, TRAINING_PACKAGES, missing_training_package

ROOT = Path(__file__).resolve().parents[1]
CONSOLE_SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
BIN = Path(sys.executable).parent
# One process each, started together.
TRAINING_COMMANDS = ["imdb-lstm-train", "imdb-lstm-distill", "imdb-lstm-pretrain", "imdb-lstm-word-vectors",
                     "imdb-lstm-build-default"]
# Makes the [train] extra's packages look uninstalled to the process it starts in (on PYTHONPATH as
# sitecustomize): `import datasets` raises ModuleNotFoundError, and `importlib.util.find_spec` answers None, which
# is how transformers decides whether an optional package (accelerate) is there.
BLOCK_TRAINING_PACKAGES = f"""
import sys
for name in {sorted(TRAINING_PACKAGES)!r}:
    sys.modules[name] = None
"""
REVIEW = "A wonderful, moving film with a brilliant cast."
# Through the Python API (the shipped-model default pointed at a test model) and a plain transformers pipeline.
CLASSIFY_WITHOUT_TRAINING = """
import json, sys
import imdb_lstm, imdb_lstm.predict
from imdb_lstm.predict import load_classifier, predict
from transformers import pipeline
imdb_lstm.predict.DEFAULT_MODEL = sys.argv[1]
model, tokenizer = load_classifier()
api = predict(model, tokenizer, [sys.argv[2]])[0]
piped = pipeline("text-classification", model=sys.argv[1])(sys.argv[2])[0]
blocked = {name: sys.modules.get(name, "absent") for name in sys.argv[3].split(",")}
print(json.dumps({"api": api, "pipeline": piped, "blocked": {k: v is None for k, v in blocked.items()}}))
"""


def script(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the console scripts in the environment predate pyproject.toml; "
                    "reinstall the package (make setup, or pip install -e .)")
    return path


def run(argv, env=None, timeout=240) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def without_training_packages(tmp_path_factory) -> dict:
    """The environment of a process in which the [train] extra's packages cannot be imported."""
    folder = tmp_path_factory.mktemp("block_training")
    (folder / "sitecustomize.py").write_text(BLOCK_TRAINING_PACKAGES)
    return {"PYTHONPATH": str(folder)}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    model, tokenizer = tiny_model()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run_all(commands: dict, env=None, timeout=240) -> dict:
    """`run` for several commands at once (each is mostly Python start-up and imports: two cores do two at a
    time), {name: CompletedProcess}."""
    processes = {name: subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        stdin=subprocess.DEVNULL, text=True,
                                        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})
                 for name, argv in commands.items()}
    results = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=timeout)
        results[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return results


@pytest.fixture(scope="module")
def help_outputs() -> dict:
    return run_all({name: [script(name), "--help"] for name in CONSOLE_SCRIPTS})


@pytest.mark.slow  # the nine --help processes of `help_outputs` take about 40 s
@pytest.mark.parametrize("name", sorted(CONSOLE_SCRIPTS))
def test_every_console_script_answers_help(name, help_outputs):
    """`--help` builds the whole parser and formats every help string (a bare `%` in one crashes argparse)."""
    result = help_outputs[name]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "usage" in result.stdout.lower(), result.stdout[:500]


def test_classifying_needs_no_training_package(model_dir, without_training_packages):
    """`import imdb_lstm`, `imdb_lstm.predict`, `pipeline(...)` and `imdb-lstm-predict` with the [train] packages
    unimportable: nothing on the inference path may import one."""
    names = ",".join(sorted(TRAINING_PACKAGES))
    result = run([sys.executable, "-c", CLASSIFY_WITHOUT_TRAINING, model_dir, REVIEW, names],
                 env=without_training_packages)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(answer["blocked"].values()), answer["blocked"]  # still blocked: none was imported another way
    assert answer["pipeline"]["label"] == answer["api"]["label"]
    assert answer["pipeline"]["score"] == pytest.approx(answer["api"][f"p_{answer['api']['label'].lower()}"], abs=1e-5)

    command = run([script("imdb-lstm-predict"), "--model", model_dir, REVIEW], env=without_training_packages)
    assert command.returncode == 0, command.stderr[-3000:]
    assert command.stdout.split()[0] == answer["api"]["label"]


@pytest.fixture(scope="module")
def outputs_without_training_packages(without_training_packages) -> dict:
    return run_all({name: [script(name), "--help"] for name in TRAINING_COMMANDS}, env=without_training_packages)


@pytest.mark.parametrize("name", TRAINING_COMMANDS)
def test_training_command_without_the_train_extra_says_what_to_install(name, outputs_without_training_packages):
    result = outputs_without_training_packages[name]
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines[0].startswith(f"error: {name} needs ") and INSTALL_TRAIN_EXTRA in lines[0], lines[0]
    assert any(f"needs {package}," in lines[0] for package in TRAINING_PACKAGES.values()), lines[0]


def test_missing_training_package_names_only_packages_really_missing(monkeypatch):
    """The hook speaks for an uninstalled [train] package only: a broken install of one, or any other missing
    module, keeps its traceback."""
    monkeypatch.setattr("imdb_lstm.commands.is_installed", lambda module: module != "sklearn")
    assert missing_training_package(ModuleNotFoundError("no sklearn", name="sklearn.metrics")) == "scikit-learn"
    assert missing_training_package(ModuleNotFoundError("no gensim", name="gensim")) is None  # installed: other cause
    assert missing_training_package(ModuleNotFoundError("no foo", name="foo")) is None
    assert missing_training_package(ValueError("sklearn")) is None
    monkeypatch.setattr("imdb_lstm.commands.is_installed", lambda module: False)
    transformers_error = ImportError("Using the `Trainer` with `PyTorch` requires `accelerate>=1.1.0`: Please run "
                                     "`pip install transformers[torch]` or `pip install 'accelerate>=1.1.0'`")
    assert missing_training_package(transformers_error) == "accelerate"
