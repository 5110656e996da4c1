"""The model package: config validation and round trips, save/load, padding invariance, remote-code loading."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import tiny_model, tiny_tokenizer
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from imdb_lstm import ImdbLstmConfig, ImdbLstmForSequenceClassification

ENCODERS = [
    {"cell": "lstm", "bidirectional": False, "pooling": "last"},
    {"cell": "lstm", "bidirectional": True, "pooling": "last"},
    {"cell": "gru", "bidirectional": False, "pooling": "max"},
    {"cell": "gru", "bidirectional": True, "pooling": "mean"},
    {"cell": "lstm", "bidirectional": True, "pooling": "max_mean", "num_layers": 2},
    {"encoder": "cnn", "pooling": "max", "cnn_kernel_sizes": [3, 5], "cnn_num_filters": 8},
    {"encoder": "cnn", "pooling": "max_mean", "cnn_kernel_sizes": [2, 4], "cnn_num_filters": 8},
]
REVIEWS = [
    "A wonderful, moving film with a brilliant cast. I loved every minute of it!",
    "Terrible. The plot made no sense and the acting was wooden.",
    "ok",
    "",
    "<br /><br />",
    "Ein großartiger Film 😀 素晴らしい映画 فيلم رائع",
]


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.mark.float_sensitive
@pytest.mark.parametrize("kwargs", ENCODERS, ids=lambda k: "-".join(str(v) for v in k.values()))
def test_padding_does_not_change_logits(tokenizer, kwargs):
    model, _ = tiny_model(tokenizer, **kwargs)
    batch = tokenizer(REVIEWS, padding=True, truncation=True, return_tensors="pt")
    assert batch["attention_mask"].sum(1).min() == 0  # the batch really mixes lengths, an empty review included
    with torch.no_grad():
        together = model(**batch).logits
        alone = torch.cat([model(**tokenizer([text], truncation=True, return_tensors="pt")).logits for text in REVIEWS])
        # the same review padded much further still gives the same logits
        padded = tokenizer(REVIEWS[:1], padding="max_length", max_length=60, truncation=True, return_tensors="pt")
        far = model(**padded).logits
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(far, alone[:1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kwargs", ENCODERS[:1] + ENCODERS[4:6], ids=["lstm", "bilstm2", "cnn"])
def test_save_load_round_trip_gives_identical_logits(tmp_path, tokenizer, kwargs):
    model, _ = tiny_model(tokenizer, **kwargs)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and not (tmp_path / "pytorch_model.bin").exists()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_imdb_lstm.ImdbLstmConfig",
        "AutoModel": "modeling_imdb_lstm.ImdbLstmModel",
        "AutoModelForCausalLM": "modeling_imdb_lstm.ImdbLstmForCausalLM",
        "AutoModelForSequenceClassification": "modeling_imdb_lstm.ImdbLstmForSequenceClassification",
    }
    assert (tmp_path / "modeling_imdb_lstm.py").exists() and (tmp_path / "configuration_imdb_lstm.py").exists()
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, ImdbLstmForSequenceClassification)
    batch = AutoTokenizer.from_pretrained(tmp_path)(REVIEWS, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)
    assert loaded.embedding.weight[loaded.config.pad_token_id].abs().sum() == 0


def test_loss_is_cross_entropy_and_labels_are_checked(tokenizer):
    model, _ = tiny_model(tokenizer)
    batch = tokenizer(REVIEWS[:2], padding=True, return_tensors="pt")
    labels = torch.tensor([1, 0])
    output = model(**batch, labels=labels)
    torch.testing.assert_close(output.loss, torch.nn.functional.cross_entropy(output.logits, labels))
    with pytest.raises(ValueError, match="labels must be in"):
        model(**batch, labels=torch.tensor([1, 2]))


def test_ids_outside_the_vocabulary_are_refused(tokenizer):
    """(Left padding is accepted and exact: see tests/test_reference.py.)"""
    model, _ = tiny_model(tokenizer)
    with pytest.raises(ValueError, match="tokenizer does not match"):
        model(input_ids=torch.tensor([[3, len(tokenizer)]]))


def test_frozen_embedding_gets_no_gradient(tokenizer):
    model, _ = tiny_model(tokenizer, freeze_embedding=True)
    model.train()
    batch = tokenizer(REVIEWS[:2], padding=True, return_tensors="pt")
    model(**batch, labels=torch.tensor([1, 0])).loss.backward()
    assert model.embedding.weight.grad is None
    assert model.classifier.weight.grad is not None


REMOTE_CODE_CHECK = textwrap.dedent(
    """
    import json, sys
    sys.modules["imdb_lstm"] = None  # the package must not be importable: only the folder's own code may run
    try:
        import imdb_lstm
    except ImportError:
        pass
    else:
        raise SystemExit("imdb_lstm should not be importable here")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
    folder, texts = sys.argv[1], json.loads(open(sys.argv[2]).read())
    model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)
    assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    assert type(tokenizer).__name__ == "ImdbLstmTokenizer", type(tokenizer)
    assert type(tokenizer).__module__.startswith("transformers_modules."), type(tokenizer).__module__
    classify = pipeline("text-classification", model=folder, trust_remote_code=True, top_k=None, truncation=True)
    print(json.dumps(classify(texts)))
    """
)


def test_remote_code_loading_without_the_package(tmp_path, tokenizer):
    model, _ = tiny_model(tokenizer, bidirectional=True, pooling="max_mean")
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    texts = REVIEWS + ["word " * 200_000]  # ~1 MB review: truncated to model_max_length, still answered
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PYTHONPATH": ""}
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_CODE_CHECK, str(folder), str(tmp_path / "texts.json")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])

    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    assert batch["input_ids"].shape[1] == tokenizer.model_max_length
    with torch.no_grad():
        expected = model(**batch).logits.softmax(-1)
    for answer, probabilities in zip(remote, expected):
        scores = {entry["label"]: entry["score"] for entry in answer}
        assert set(scores) == {"NEGATIVE", "POSITIVE"}
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-6)
        assert scores["NEGATIVE"] == pytest.approx(probabilities[0].item(), abs=1e-5)
        assert scores["POSITIVE"] == pytest.approx(probabilities[1].item(), abs=1e-5)
