"""The README's commands, tested as written: every command line of its fenced `bash` blocks that runs one of the
package's console scripts or a `scripts/*.py` goes through that command's own argument parser (parse only), and the
semi-supervised chain runs exactly as the README gives it, on the shipped sample with small sizes."""

import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONSOLE_SCRIPTS = PROJECT["project"]["scripts"]  # name -> "module:function"


def readme_commands(text: str) -> list[tuple[int, list[str]]]:
    """(line number, argv) of each line in a ```bash block that runs a console script of this package or a
    scripts/*.py: the words from the command on (environment assignments and the interpreter dropped, comments
    and line continuations handled as the shell does)."""
    commands, in_bash, pending, start = [], False, "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            in_bash = line.strip() == "```bash"
            continue
        if not in_bash:
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        words, pending = shlex.split(pending + line, comments=True), ""
        for index, word in enumerate(words):
            if Path(word).name in CONSOLE_SCRIPTS or re.fullmatch(r"(\./)?scripts/\w+\.py", word):
                commands.append((start, [word, *words[index + 1:]]))
                break
    return commands


def parse_function(command: str):
    """The `parse_args(argv)` of the command a README line runs: a console script's module, or a script's own (or
    that of the package module whose `cli_main` it runs)."""
    name = Path(command).name
    if name in CONSOLE_SCRIPTS:
        module = importlib.import_module(CONSOLE_SCRIPTS[name].split(":")[0])
    else:
        script = load_script(Path(command).stem)
        module = script if hasattr(script, "parse_args") else sys.modules[script.cli_main.__module__]
    if not hasattr(module, "parse_args"):
        raise AssertionError(f"{command}: {module.__name__} has no parse_args(argv) to check its command line with")
    return module.parse_args


COMMANDS = readme_commands(README.read_text())


def test_the_readme_has_commands_of_every_kind():
    names = {Path(argv[0]).name for _, argv in COMMANDS}
    assert {"imdb-lstm-word-vectors", "imdb-lstm-pretrain", "imdb-lstm-train", "imdb-lstm-distill",
            "imdb-lstm-predict", "train.py", "push_to_hub.py"} <= names, names


@pytest.mark.parametrize("line,argv", COMMANDS, ids=[f"README.md:{line}" for line, _ in COMMANDS])
def test_readme_command_parses(line, argv, monkeypatch):
    """Parse only (nothing trains, loads or pushes): an unknown flag, a missing required argument or a config
    file that does not exist fails here, naming the README line."""
    monkeypatch.chdir(ROOT)  # config files are named relative to the checkout, as the README's commands run there
    parse_args = parse_function(argv[0])
    try:
        parse_args(argv[1:])
    except SystemExit as error:  # argparse's error exit, after printing the reason
        pytest.fail(f"README.md line {line}: `{shlex.join(argv)}` does not parse (exit {error.code}); see the "
                    "captured stderr for argparse's reason.")
    except (ValueError, OSError) as error:
        pytest.fail(f"README.md line {line}: `{shlex.join(argv)}` does not parse: {error}")


def test_a_misspelt_flag_fails_naming_the_line():
    (line, argv), = readme_commands("text\n```bash\n\n.venv/bin/imdb-lstm-train configs/ssl_finetune.json "
                                    "--datset sample\n```\n")
    assert line == 4
    with pytest.raises((SystemExit, ValueError)):
        parse_function(argv[0])(argv[1:])


def test_continued_lines_and_environment_assignments_are_read_as_the_shell_does():
    text = "```bash\nHF_HUB_OFFLINE=1 python scripts/train.py --dataset sample \\\n  --output_dir x  # a note\n```\n"
    assert readme_commands(text) == [(2, ["scripts/train.py", "--dataset", "sample", "--output_dir", "x"])]


# The README's semi-supervised chain, each step's line as written, with --dataset sample and small sizes added.
CHAIN_SIZES = {
    "imdb-lstm-word-vectors": ["--max_texts", "300", "--epochs", "1"],
    "imdb-lstm-pretrain": ["--max_steps", "4", "--max_train_texts", "300", "--max_validation_texts", "50", "--logging_steps", "2",
                           "--report_to", "none", "--disable_tqdm", "true"],
    "imdb-lstm-train": ["--max_steps", "6", "--max_eval_samples", "100", "--report_to", "none", "--disable_tqdm", "true"],
    "imdb-lstm-distill": ["--max_steps", "6", "--max_eval_samples", "100", "--hidden_size", "16", "--report_to", "none",
                          "--disable_tqdm", "true"],
}


@pytest.mark.slow
def test_the_semi_supervised_chain_runs_as_the_readme_writes_it(tmp_path):
    chain = [argv for _, argv in COMMANDS if Path(argv[0]).name in CHAIN_SIZES and argv[1].startswith("configs/")]
    names = [Path(argv[0]).name for argv in chain]
    assert names[:4] == list(CHAIN_SIZES) and set(names[4:]) <= {"imdb-lstm-distill"}, chain
    # Further students (the several-teachers example) only parse here (test above): tests/test_teachers.py runs two
    # teachers end to end, and the suite's 10 minutes have no room for a fifth process.
    chain = chain[:4]
    # The configs write and read outputs/... relative to where the commands run: a scratch copy of the checkout's
    # configs/ keeps the real outputs/ untouched.
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    bin_dir = Path(sys.executable).parent
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    for argv in chain:
        name = Path(argv[0]).name
        assert argv[argv.index("--dataset") + 1] == "../shared/data/imdb", argv
        arguments = [*argv[1:], "--dataset", "sample", *CHAIN_SIZES[name]]
        result = subprocess.run([str(bin_dir / name), *arguments], cwd=tmp_path, env=environment,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{shlex.join([name, *arguments])}:\n{result.stderr[-3000:]}"
    config = json.loads((tmp_path / "outputs/ssl/fast/config.json").read_text())
    assert config["distilled_from"] == "outputs/ssl/classifier"
    assert (tmp_path / "outputs/ssl/vectors/imdb-w2v-100.kv").is_file()
    assert json.loads((tmp_path / "outputs/ssl/classifier/config.json").read_text())["ngram_order"] == 3
