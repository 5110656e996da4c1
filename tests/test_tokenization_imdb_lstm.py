"""The tokenizer class (`imdb_lstm/tokenization_imdb_lstm.py`): its short path for one text gives exactly what
transformers' generic path gives, every other call goes the generic way, and saved tokenizers carry the class."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerFast

import imdb_lstm
from imdb_lstm import ImdbLstmTokenizer
from imdb_lstm.tokenization import build_tokenizer

TEXTS = [
    "I don't think it's the best film <br /><br />of the year: 3.5 stars, well-known cast.",
    "Great!",
    "",
    "<br />",
    "Ünïcödé ＦＵＬＬＷＩＤＴＨ text, and an emoji 🎬 [PAD] [UNK]",
    " ".join(["long"] * 50),
]


@pytest.fixture(scope="module")
def tokenizers():
    fast = build_tokenizer(TEXTS * 2, vocab_size=40, min_frequency=1, model_max_length=8, truncation_side="left")
    generic = PreTrainedTokenizerFast(tokenizer_object=fast.backend_tokenizer, pad_token="[PAD]", unk_token="[UNK]",
                                      model_max_length=8, padding_side="right", truncation_side="left",
                                      model_input_names=["input_ids", "attention_mask"])
    return fast, generic


def same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape and torch.equal(a[key], b[key]), key
        elif isinstance(a[key], np.ndarray):
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("options", [
    {"return_tensors": "pt"},  # what pipeline("text-classification") asks, once per review: the short path
    {"return_tensors": "pt", "truncation": True},
    {"return_tensors": "pt", "truncation": True, "max_length": 3},
    {"return_tensors": "pt", "return_attention_mask": False},
    {"return_tensors": "pt", "add_special_tokens": False},
    {"return_tensors": "pt", "padding": "max_length", "max_length": 12},  # generic path from here on
    {"return_tensors": "pt", "return_offsets_mapping": True},
    {"return_tensors": "pt", "return_token_type_ids": True},
    {"return_tensors": "np"},
    {},
    {"truncation": True},
])
def test_one_text_gives_what_the_generic_class_gives(tokenizers, text, options):
    fast, generic = tokenizers
    same(fast(text, **options), generic(text, **options))


def test_batches_pairs_and_padding_go_the_generic_way(tokenizers):
    fast, generic = tokenizers
    same(fast(TEXTS, padding=True, return_tensors="pt"), generic(TEXTS, padding=True, return_tensors="pt"))
    same(fast(TEXTS[0], TEXTS[1], return_tensors="pt"), generic(TEXTS[0], TEXTS[1], return_tensors="pt"))
    # A short-path call leaves no padding or truncation behind on the shared Rust tokenizer.
    fast(TEXTS[0], return_tensors="pt", truncation=True, max_length=2)
    same(fast(TEXTS[0], return_tensors="pt"), generic(TEXTS[0], return_tensors="pt"))


def test_the_short_path_tensors_own_their_memory(tokenizers):
    fast, _ = tokenizers
    first = fast(TEXTS[0], return_tensors="pt")["input_ids"].clone()
    encoded = fast(TEXTS[0], return_tensors="pt")
    for _ in range(100):  # buffers of later calls must not overwrite an earlier result
        fast(TEXTS[5], return_tensors="pt")
    assert torch.equal(encoded["input_ids"], first)


def test_a_saved_tokenizer_names_its_class_and_carries_its_file(tokenizers, tmp_path):
    fast, _ = tokenizers
    fast.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "ImdbLstmTokenizer"
    assert config["auto_map"]["AutoTokenizer"][0] == "tokenization_imdb_lstm.ImdbLstmTokenizer"
    assert (tmp_path / "tokenization_imdb_lstm.py").read_bytes() == \
        Path(imdb_lstm.tokenization_imdb_lstm.__file__).read_bytes()
    assert isinstance(AutoTokenizer.from_pretrained(tmp_path), ImdbLstmTokenizer)
    # Without the package: the folder's own file, through remote code.
    script = ("import sys; sys.modules['imdb_lstm'] = None\n"
              "from transformers import AutoTokenizer\n"
              f"t = AutoTokenizer.from_pretrained({str(tmp_path)!r}, trust_remote_code=True)\n"
              "assert type(t).__name__ == 'ImdbLstmTokenizer' and type(t).__module__.startswith('transformers_modules')\n"
              f"print(t({TEXTS[0]!r}, return_tensors='pt')['input_ids'].tolist())")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == fast(TEXTS[0], return_tensors="pt")["input_ids"].tolist()


def test_a_folder_saved_with_the_generic_class_still_loads(tokenizers, tmp_path):
    _, generic = tokenizers
    generic.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    same(loaded(TEXTS[0], return_tensors="pt"), generic(TEXTS[0], return_tensors="pt"))
