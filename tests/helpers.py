"""Small shared builders for the tests: a tokenizer and a model over the shipped IMDB sample, a tiny pretraining run,
CSVs of other labels (three genres, multi-label genres, a regression target) with a tiny fine-tuning on them, a file
cut short, a folder's logits through remote code only, and a script of scripts/ loaded as a module."""

import functools
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from datasets import Dataset

from imdb_lstm import ImdbLstmForCausalLM, build_model, build_tokenizer
from imdb_lstm.data import load_imdb


@functools.lru_cache(maxsize=1)
def sample_texts(count: int = 300) -> tuple[str, ...]:
    return tuple(load_imdb("sample")["train"]["text"][:count])


def tiny_tokenizer(max_length: int = 64):
    """A small word tokenizer of the sample that keeps a long review's end, as the recipes' do."""
    return build_tokenizer(sample_texts(), vocab_size=2000, min_frequency=1, model_max_length=max_length,
                           truncation_side="left")


def tiny_model(tokenizer=None, **config):
    tokenizer = tokenizer or tiny_tokenizer()
    # Exact float32 logits unless a test asks otherwise: most tests compare logits at 1e-5 (bfloat16 inference, the
    # default where the CPU has it, is tested on its own in test_serving.py).
    config = {"hidden_size": 16, "inference_dtype": "float32", **config}
    return build_model(tokenizer, **config).eval(), tokenizer


# Reviews of a few lengths (one of two tokens), for the model-family tests.
SHORT_REVIEWS = [
    "A wonderful, moving film with a brilliant cast. I loved every minute of it!",
    "Terrible. The plot made no sense and the acting was wooden.",
    "ok",
    "Not bad at all, though far too long.",
]


def tiny_lm(tokenizer, **config):
    """A tiny bidirectional language model (no dropout), in eval mode."""
    return build_model(tokenizer, model_class=ImdbLstmForCausalLM,
                       **{"hidden_size": 8, "bidirectional": True, "dropout": 0.0, **config}).eval()


def load_script(name: str):
    """`scripts/<name>.py` as a module, for a test of the script's own functions (no script imports another, so
    scripts/ need not be on sys.path)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# A tiny language model's pretraining (imdb_lstm.training.pretrain), for tests/test_pretrain.py and the `pretrained`
# fixture (tests/conftest.py): the recipe's kind of language model (configs/ssl_pretrain.json: forward + backward,
# adaptive softmax), tiny.
TINY_PRETRAINING = [
    "--hidden_size", "16", "--bidirectional", "true", "--lm_output", "adaptive", "--block_size", "32",
    "--vocab_size", "3000", "--per_device_train_batch_size", "16",
    "--per_device_eval_batch_size", "32", "--glove", "none", "--embedding_dim", "16", "--disable_tqdm", "true",
    "--report_to", "none", "--save_strategy", "no", "--eval_strategy", "no",
]


def pretrain(output_dir: Path, *extra: str) -> dict:
    from imdb_lstm.training import pretrain as pretraining

    return pretraining.main([*TINY_PRETRAINING, "--output_dir", str(output_dir), *extra])


# A planted word per class, at both ends of each review so that either truncation side keeps it.
PLANTED = {"comedy": "hilarious", "drama": "tearful", "horror": "terrifying"}
# A fine-tuning of seconds (tests/test_finetune.py, tests/test_demo.py): the planted words are learnt within it.
TINY_FINETUNING = [
    "--hidden_size", "16", "--max_length", "64", "--vocab_size", "2000", "--min_frequency", "1",
    "--num_train_epochs", "2", "--learning_rate", "2e-2", "--per_device_train_batch_size", "8",
    "--logging_steps", "10", "--disable_tqdm", "true", "--report_to", "none", "--save_strategy", "no",
    "--load_best_model_at_end", "false", "--seed", "0",
]


def write_three_class_csvs(folder, train_count=160, test_count=30):
    """train.csv and test.csv of the shipped sample's reviews, each given a random genre whose word is planted."""
    rng = np.random.default_rng(0)
    sample = load_imdb("sample")
    for split, count in (("train", train_count), ("test", test_count)):
        genres = rng.choice(sorted(PLANTED), size=count)
        texts = [f"{PLANTED[genre]} {' '.join(text.split()[:40])} {PLANTED[genre]}"
                 for text, genre in zip(sample[split]["text"][:count], genres)]
        Dataset.from_dict({"review": texts, "genre": list(genres)}).to_csv(str(folder / f"{split}.csv"))
    return folder


def write_multi_label_and_regression_csvs(folder, train_count=200, test_count=40):
    """train.csv and test.csv of the shipped sample's reviews with one to three planted genre words: `genres`
    lists them (multi-label), `intensity` counts the planted 'superb's, 0 to 3 (regression)."""
    rng = np.random.default_rng(1)
    sample = load_imdb("sample")
    for split, count in (("train", train_count), ("test", test_count)):
        rows = {"review": [], "genres": [], "intensity": []}
        for text in sample[split]["text"][:count]:
            genres = sorted(rng.choice(sorted(PLANTED), size=rng.integers(1, 3), replace=False))
            intensity = int(rng.integers(0, 4))
            words = " ".join([PLANTED[genre] for genre in genres] + ["superb"] * intensity)
            rows["review"].append(f"{words} {' '.join(text.split()[:30])} {words}")
            rows["genres"].append(",".join(genres))
            rows["intensity"].append(float(intensity))
        Dataset.from_dict(rows).to_csv(str(folder / f"{split}.csv"))
    return folder


def finetune_on_csvs(data_folder: Path, output_dir: Path, *flags: str) -> dict:
    """`TINY_FINETUNING` on the `review` column of the CSVs in `data_folder` (the writers above) into `output_dir`;
    `flags` name the label column and the problem type. Returns the run's results."""
    from imdb_lstm.commands import train as train_command

    return train_command.main(["--dataset", str(data_folder), "--text_column", "review", *TINY_FINETUNING, *flags,
                               "--output_dir", str(output_dir)])


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a file to its first `keep` share of bytes (a save a kill cut short)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


REMOTE_CLASSIFIER = textwrap.dedent(
    """
    import json, sys
    sys.modules["imdb_lstm"] = None  # only the folder's own code may run
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    folder, texts = sys.argv[1], json.loads(sys.argv[2])
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
    assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
    with torch.no_grad():
        print("LOGITS " + json.dumps(model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.tolist()))
    """
)


def assert_remote_code_logits(folder: Path, expected, texts=SHORT_REVIEWS):
    """The classifier saved in `folder`, loaded in a fresh process through its own code only (the package hidden),
    gives `expected` logits for `texts`."""
    import torch

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(folder / "hf_home"), "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", REMOTE_CLASSIFIER, str(folder), json.dumps(texts)],
                            capture_output=True, text=True, cwd=folder, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("LOGITS "))
    remote = torch.tensor(json.loads(line.removeprefix("LOGITS ")))
    torch.testing.assert_close(remote, expected, atol=1e-5, rtol=1e-5)
