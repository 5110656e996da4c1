"""Speed features: length buckets inside forward (a plain pipeline in input order), truncation to the model's maximum
length without asking the tokenizer, the bfloat16 option of predict, and the ONNX export (parity with PyTorch)."""

import json
from pathlib import Path

import pytest
import torch
from helpers import sample_texts, tiny_model
from transformers import pipeline

from imdb_lstm import build_tokenizer
from imdb_lstm import serving_imdb_lstm as serving
from imdb_lstm.commands.predict import main as predict_main
from imdb_lstm.predict import predict_proba, resolve_dtype

CONFIGS = {
    "bilstm": {"bidirectional": True, "pooling": "max_mean"},
    "gru": {"cell": "gru", "pooling": "last"},
    "cnn": {"encoder": "cnn", "pooling": "max", "cnn_num_filters": 8},
}


def mixed_reviews(count: int = 24) -> list[str]:
    """Reviews from 1 word to past the tiny tokenizer's 64 tokens, in no particular order of length."""
    texts = list(sample_texts())
    reviews = [" ".join(texts[i].split()[: [1, 3, 200, 12, 40, 2, 90, 7][i % 8]]) for i in range(count)]
    return reviews + ["", "Wonderful!"]


def pipeline_probabilities(classifier, reviews) -> torch.Tensor:
    outputs = classifier(reviews)
    return torch.tensor([[{r["label"]: r["score"] for r in row}[label] for label in ("NEGATIVE", "POSITIVE")]
                         for row in outputs])  # fmt: skip


def count_encoded_batches(model, monkeypatch) -> list[int]:
    """Rows of every batch the base model encodes (each length bucket's sub-batch, or the one padded batch)."""
    sizes = []
    original = type(model.imdb_lstm).encode

    def counting(self, input_ids, *args, **kwargs):
        sizes.append(input_ids.size(0))
        return original(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(type(model.imdb_lstm), "encode", counting)
    return sizes


# ---------------------------------------------------------------- length buckets and truncation


def test_plan_covers_every_row_once_shortest_first_and_skips_batches_without_waste():
    lengths = [900, 5, 7, 300, 6, 880, 8, 310, 4, 905] * 4
    buckets = serving.plan_length_buckets(lengths)
    assert buckets is not None and len(buckets) > 1
    assert sorted(row for bucket in buckets for row in bucket) == list(range(len(lengths)))
    widths = [max(lengths[row] for row in bucket) for bucket in buckets]
    assert widths == sorted(widths)
    # Rows of (nearly) one length: nothing to save, nothing planned.
    assert serving.plan_length_buckets([100] * 64) is None
    assert serving.plan_length_buckets([100, 99, 98, 100] * 16) is None
    assert serving.plan_length_buckets([5]) is None


@pytest.mark.float_sensitive
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bucketed_logits_equal_the_padded_batch_and_only_at_inference(name, monkeypatch):
    model, tokenizer = tiny_model(**CONFIGS[name])
    batch = tokenizer(mixed_reviews(), padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad(), monkeypatch.context() as patch:
        patch.setattr(serving, "plan_length_buckets", lambda lengths: None)
        expected = model(**batch).logits
    sizes = count_encoded_batches(model, monkeypatch)
    with torch.no_grad():
        bucketed = model(**batch).logits
    assert len(sizes) > 1  # the batch was split
    assert sum(sizes) == batch["input_ids"].size(0)  # every row in exactly one sub-batch
    torch.testing.assert_close(bucketed, expected, rtol=0, atol=1e-5)

    sizes.clear()
    model(**batch).logits.sum().backward()  # gradients on: one padded batch, as training computes it
    assert sizes == [batch["input_ids"].size(0)]


@pytest.mark.float_sensitive
@pytest.mark.parametrize("side", ["left", "right"])
def test_plain_pipeline_in_input_order_truncates_like_the_tokenizer_and_equals_sorted_prediction(side, tmp_path,
                                                                                                 monkeypatch):
    tokenizer = build_tokenizer(sample_texts(), vocab_size=2000, min_frequency=1, model_max_length=64,
                                truncation_side=side)
    model, tokenizer = tiny_model(tokenizer, bidirectional=True, pooling="max_mean")
    assert (model.config.model_max_length, model.config.truncation_side) == (64, side)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reviews = mixed_reviews()

    expected = predict_proba(model, tokenizer, reviews)  # sorted by length, tokenizer truncation on
    classifier = pipeline("text-classification", model=str(tmp_path), top_k=None, batch_size=32)
    sizes = count_encoded_batches(classifier.model, monkeypatch)
    torch.testing.assert_close(pipeline_probabilities(classifier, reviews), expected, rtol=0, atol=1e-5)
    assert len(sizes) > 1  # the one batch of 26 reviews was split by length

    # The other side would give other answers: the model really cuts on the tokenizer's side.
    other = "right" if side == "left" else "left"
    monkeypatch.setattr(classifier.model.config, "truncation_side", other)
    assert not torch.allclose(pipeline_probabilities(classifier, reviews), expected, atol=1e-5)


# ---------------------------------------------------------------- bfloat16


@pytest.mark.forces_bfloat16
@pytest.mark.float_sensitive
def test_bfloat16_prediction_is_close_to_float32_and_the_cli_accepts_it(tmp_path, capsys):
    model, tokenizer = tiny_model(bidirectional=True, pooling="max_mean")
    reviews = mixed_reviews()
    full = predict_proba(model, tokenizer, reviews)
    half = predict_proba(model, tokenizer, reviews, dtype="bfloat16")
    assert half.dtype == torch.float32 and half.shape == full.shape
    torch.testing.assert_close(half, full, rtol=0, atol=0.03)
    assert not torch.equal(half, full)  # bfloat16 really computed
    assert resolve_dtype("float32", torch.device("cpu")) == torch.float32
    with pytest.raises(ValueError, match="dtype='float16' is not allowed"):
        predict_proba(model, tokenizer, reviews, dtype="float16")

    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert predict_main(["--model", str(tmp_path), "--json", "--dtype", "bfloat16", reviews[2]]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["p_positive"] == pytest.approx(float(half[2, 1]), abs=1e-6)


# ---------------------------------------------------------------- ONNX


def cpu_flags() -> set[str]:
    """The flags the kernel reports for this machine's CPU (/proc/cpuinfo; Linux only)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="reads the CPU's flags from /proc/cpuinfo (Linux)")
def test_auto_dtype_is_bfloat16_exactly_where_the_cpu_computes_it(monkeypatch):
    """"auto" is bfloat16 on a CPU with bfloat16 instructions (AVX512_BF16, or AMX's bfloat16 tiles) as the kernel
    reports them, float32 elsewhere and wherever oneDNN is capped below them; "bfloat16" whatever the CPU."""
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    native = bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    assert resolve_dtype("auto", torch.device("cpu")) == (torch.bfloat16 if native else torch.float32)
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32


@pytest.mark.float_sensitive
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_onnx_logits_equal_pytorch_on_a_padded_batch_and_a_single_review(name, tmp_path):
    pytest.importorskip("onnxruntime")
    from imdb_lstm.onnx_export import export_onnx, onnx_logits, onnx_session

    model, tokenizer = tiny_model(**CONFIGS[name])
    path = export_onnx(model, tmp_path / "model.onnx", tokenizer)
    session = onnx_session(path)
    reviews = mixed_reviews()
    batch = tokenizer(reviews, padding=True, truncation=True, return_tensors="pt")
    assert batch["attention_mask"][:, -1].sum() < len(reviews)  # right padding really present
    with torch.no_grad():
        expected = model(**batch).logits
    actual = torch.from_numpy(onnx_logits(session, batch["input_ids"], batch["attention_mask"]))
    assert (actual - expected).abs().max() <= 1e-4

    for review in (reviews[4], "Dull."):  # alone, unpadded; one shorter than the CNN's widest filter
        single = tokenizer(review, truncation=True, return_tensors="pt")
        with torch.no_grad():
            expected = model(**single).logits
        actual = torch.from_numpy(onnx_logits(session, single["input_ids"], single["attention_mask"]))
        assert (actual - expected).abs().max() <= 1e-4


def test_export_command_writes_model_onnx_into_the_model_folder(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from imdb_lstm.hub import files_to_push
    from imdb_lstm.onnx_export import main

    model, tokenizer = tiny_model(bidirectional=True, pooling="max_mean")
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert main(["--model", str(tmp_path)]) == 0
    assert (tmp_path / "model.onnx").is_file() and "max |logit diff|" in capsys.readouterr().out
    assert tmp_path / "model.onnx" in files_to_push(tmp_path)
    assert tmp_path / "model.onnx" not in files_to_push(tmp_path, onnx=False)
    assert main(["--model", str(tmp_path / "missing")]) == 2
