"""Serving speed features: bfloat16 inference by default where the CPU computes it natively
(`config.inference_dtype`), a distilled fast
model (`imdb-lstm-distill`) that loads through remote code and `pipeline`, and one pipeline shared by several
threads (what a server does) answering as one thread does."""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from helpers import sample_texts, tiny_model
from sklearn.metrics import accuracy_score
from transformers import AutoModelForSequenceClassification, pipeline

from imdb_lstm import ImdbLstmConfig
from imdb_lstm import serving_imdb_lstm as serving
from imdb_lstm.data import DataError, load_imdb, load_unlabelled_texts
from imdb_lstm.training.distill import distillation_loss
from imdb_lstm.predict import load_classifier, predict_proba


def mixed_reviews(count: int = 24) -> list[str]:
    texts = list(sample_texts())
    return [" ".join(texts[i].split()[: [1, 3, 200, 12, 40, 2, 90, 7][i % 8]]) for i in range(count)] + [""]


# ---------------------------------------------------------------- bfloat16 by default where it is free


def test_bfloat16_is_not_native_where_onednn_is_capped_below_it(monkeypatch):
    # PyTorch reads the CPU's flags, oneDNN its cap: a capped oneDNN cannot build the bfloat16 LSTM autocast would ask for.
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert not serving.bfloat16_is_native(torch.device("cpu"))
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "ALL")
    cpu_has_it = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert serving.bfloat16_is_native(torch.device("cpu")) == cpu_has_it


@pytest.mark.forces_bfloat16
@pytest.mark.float_sensitive
def test_auto_inference_dtype_autocasts_only_inference_and_only_where_bfloat16_is_native(monkeypatch):
    model, tokenizer = tiny_model(bidirectional=True, pooling="max_mean", inference_dtype="auto")
    batch = tokenizer(mixed_reviews(), padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        model.config.inference_dtype = "float32"
        exact = model(**batch).logits
        model.config.inference_dtype = "auto"
        monkeypatch.setattr(serving, "bfloat16_is_native", lambda device: False)
        assert torch.equal(model(**batch).logits, exact)  # a CPU without bfloat16: float32, bit for bit
        monkeypatch.setattr(serving, "bfloat16_is_native", lambda device: True)
        half = model(**batch).logits
    assert half.dtype == torch.float32
    assert not torch.equal(half, exact)  # bfloat16 really computed
    torch.testing.assert_close(half, exact, rtol=0, atol=0.05)
    # With gradients (training, attributions) or hidden states asked for: never autocast. The encoder itself reports
    # whether it ran under autocast; the logits agree with float32 ones far more tightly than bfloat16's ~1e-2 (not
    # bit for bit: oneDNN may take another kernel path with gradients enabled than under no_grad).
    seen = []
    hook = model.encoder.register_forward_pre_hook(lambda module, args: seen.append(torch.is_autocast_enabled("cpu")))
    try:
        with torch.no_grad():
            model(**batch)
        assert seen and all(seen)  # the hook sees autocast where forward applies it (once per length bucket)
        seen.clear()
        torch.testing.assert_close(model(**batch).logits.detach(), exact, rtol=1e-5, atol=1e-5)
        with torch.no_grad():
            torch.testing.assert_close(model(**batch, output_hidden_states=True).logits, exact, rtol=1e-5, atol=1e-5)
    finally:
        hook.remove()
    assert seen == [False, False]
    with torch.no_grad():
        model.config.inference_dtype = "bfloat16"  # always, whatever the CPU
        monkeypatch.setattr(serving, "bfloat16_is_native", lambda device: False)
        torch.testing.assert_close(model(**batch).logits, half, rtol=0, atol=0)
    with pytest.raises(ValueError, match="inference_dtype='float16' is not allowed"):
        ImdbLstmConfig(inference_dtype="float16")


@pytest.mark.forces_bfloat16
@pytest.mark.float_sensitive
def test_trained_model_serves_in_bfloat16_by_default_and_flips_at_most_one_percent_of_labels(sample_model_dir,
                                                                                             monkeypatch):
    model, tokenizer = load_classifier(str(sample_model_dir))
    assert model.config.inference_dtype == "auto"  # what training saves
    if not serving.bfloat16_is_native(torch.device("cpu")):
        # Emulated bfloat16 computes the same numbers, only slower: the label check runs on any CPU.
        monkeypatch.setattr(serving, "bfloat16_is_native", lambda device: True)
    texts = list(load_imdb("sample")["test"]["text"])
    default = predict_proba(model, tokenizer, texts)
    exact = predict_proba(model, tokenizer, texts, dtype="float32")
    assert not torch.equal(default, exact)
    flipped = (default.argmax(dim=1) != exact.argmax(dim=1)).float().mean().item()
    assert flipped <= 0.01, f"{flipped:.2%} of labels flipped under bfloat16"

    # A plain pipeline call gets the bfloat16 model too.
    classifier = pipeline("text-classification", model=str(sample_model_dir), top_k=None, batch_size=16)
    rows = classifier(texts[:32])
    p_positive = torch.tensor([{r["label"]: r["score"] for r in row}["POSITIVE"] for row in rows])
    assert not torch.equal(p_positive, exact[:32, 1])
    torch.testing.assert_close(p_positive, exact[:32, 1], rtol=0, atol=0.05)


# ---------------------------------------------------------------- one pipeline, several threads


def verdicts_and_scores(rows) -> tuple[list[str], torch.Tensor]:
    """The labels (top row of each `top_k=None` answer) and the (n, labels) scores in label order."""
    labels = sorted(rows[0], key=lambda row: row["label"])
    names = [row["label"] for row in labels]
    scores = torch.tensor([[{row["label"]: row["score"] for row in answer}[name] for name in names] for answer in rows])
    return [answer[0]["label"] for answer in rows], scores


@pytest.mark.float_sensitive
def test_one_pipeline_called_from_four_threads_at_once_answers_as_one_thread_does(sample_model_dir):
    """A web server calls one loaded pipeline from several worker threads at once. Nothing in the model (length
    buckets, the per-thread float32 switch, bfloat16 autocast, which is per thread too) may leak from one call into
    another: each thread's answers equal the single-threaded ones, probabilities up to the last bits that another
    kernel path (another OpenMP team, another bucket order) may change."""
    classifier = pipeline("text-classification", model=str(sample_model_dir), top_k=None, batch_size=8)
    texts = list(load_imdb("sample")["test"]["text"][:40])
    alone_labels, alone_scores = verdicts_and_scores(classifier(texts))
    assert set(alone_labels) == {"NEGATIVE", "POSITIVE"}  # a real mixture, not one constant answer

    def several_times(_):
        return [verdicts_and_scores(classifier(texts)) for _ in range(3)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = [run for thread in pool.map(several_times, range(4)) for run in thread]
    assert len(runs) == 12
    for labels, scores in runs:
        assert labels == alone_labels
        torch.testing.assert_close(scores, alone_scores, rtol=0, atol=1e-5)


# ---------------------------------------------------------------- concurrent directions (removed)


def test_a_config_saved_with_concurrent_directions_loads_and_ignores_it(tmp_path):
    """The option ran a BiLSTM's two directions on torch's inter-op pool; measured without a reliable gain, it was
    removed. Folders that saved it still load, and saving again drops the key."""
    model, _ = tiny_model(bidirectional=True)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**saved, "concurrent_directions": True}))
    loaded = type(model).from_pretrained(tmp_path)
    assert not hasattr(loaded.config, "concurrent_directions")
    loaded.save_pretrained(tmp_path / "again")
    assert "concurrent_directions" not in json.loads((tmp_path / "again" / "config.json").read_text())

# ---------------------------------------------------------------- distillation


def test_distillation_loss_is_the_kl_divergence_from_the_teacher():
    teacher = torch.tensor([[2.0, -1.0], [0.0, 3.0]])
    assert distillation_loss(teacher.clone(), teacher, None).item() == pytest.approx(0.0, abs=1e-7)
    student = torch.zeros(2, 2, requires_grad=True)
    loss = distillation_loss(student, teacher, None)
    p = teacher.softmax(-1)
    expected = (p * (p.log() - torch.log(torch.tensor(0.5)))).sum(-1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()  # at T = 1 the gradient is (student probabilities − teacher probabilities) / rows
    torch.testing.assert_close(student.grad, (torch.full((2, 2), 0.5) - p) / 2)
    # T² scaling and the true-label term on the labelled rows only.
    hot = distillation_loss(student.detach(), teacher, None, temperature=2.0)
    p2 = (teacher / 2).softmax(-1)
    assert hot.item() == pytest.approx(4 * (p2 * (p2.log() - torch.log(torch.tensor(0.5)))).sum(-1).mean().item(), rel=1e-5)
    labelled = distillation_loss(student.detach(), teacher, torch.tensor([1, -100]), label_weight=0.5)
    assert labelled.item() == pytest.approx(expected.item() + 0.5 * torch.log(torch.tensor(2.0)).item(), rel=1e-5)


def load_transfer_texts(source, splits, excluded_texts=()):
    """The unlabelled transfer texts, as fine-tuning loads them (`finetune.prepare_distillation`)."""
    return load_unlabelled_texts(source, splits, use="distillation", excluded_texts=excluded_texts)


def test_transfer_texts_refuse_test_and_leave_out_held_out_reviews():
    with pytest.raises(DataError, match="--distill_splits test"):
        load_transfer_texts("sample", ["test"])
    everything = load_transfer_texts("sample", ["unsupervised"])
    held_out = list(everything["text"][:5])
    kept = load_transfer_texts("sample", ["unsupervised"], excluded_texts=held_out)
    assert not set(held_out) & set(kept["text"])
    assert len(kept) == len(everything) - len(set(held_out))


def test_distilled_student_records_its_teacher_and_loads_through_remote_code_and_pipeline(sample_model_dir, tmp_path):
    from imdb_lstm.commands import distill as distillation

    output_dir = tmp_path / "student"
    with pytest.raises(DataError, match="needs --teacher_model"):
        distillation.main(["--dataset", "sample", "--output_dir", str(output_dir)])
    results = distillation.main([
        "--dataset", "sample", "--teacher_model", str(sample_model_dir), "--output_dir", str(output_dir),
        "--bidirectional", "false", "--hidden_size", "32", "--max_length", "128", "--vocab_size", "5000",
        "--num_train_epochs", "2", "--learning_rate", "5e-3", "--per_device_train_batch_size", "32",
        "--save_strategy", "no", "--load_best_model_at_end", "false", "--report_to", "none", "--disable_tqdm", "true",
    ])
    config = json.loads((output_dir / "config.json").read_text())
    assert config["distilled_from"] == str(sample_model_dir)
    assert config["bidirectional"] is False and config["inference_dtype"] == "auto"
    scored = [json.loads(line) for line in (output_dir / "test_predictions.jsonl").read_text().splitlines()]
    assert results["test_accuracy"] == pytest.approx(
        accuracy_score([row["label"] for row in scored], [row["prediction"] for row in scored]))
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    # 1,800 labelled + 500 unlabelled sample reviews, 32 per step, 2 epochs: the unlabelled ones were trained on.
    assert history[-1]["step"] == 2 * -(-(1800 + 500) // 32)

    # The student learnt the teacher: it agrees with it on most test reviews.
    texts = list(load_imdb("sample")["test"]["text"][:200])
    teacher = predict_proba(*load_classifier(str(sample_model_dir)), texts, dtype="float32").argmax(dim=1)
    student = predict_proba(*load_classifier(str(output_dir)), texts, dtype="float32").argmax(dim=1)
    assert (teacher == student).float().mean() >= 0.7

    # Remote code, where imdb_lstm is not importable, and pipeline.
    script = (
        "import sys, json; sys.modules['imdb_lstm'] = None\n"
        "from transformers import AutoModelForSequenceClassification, pipeline\n"
        f"folder = {str(output_dir)!r}\n"
        "model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)\n"
        "assert type(model).__module__.startswith('transformers_modules'), type(model).__module__\n"
        "classifier = pipeline('text-classification', model=model, tokenizer=folder, trust_remote_code=True)\n"
        f"print('LABELS', json.dumps([row['label'] for row in classifier({texts[:8]!r})]))\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert output.returncode == 0, output.stderr[-2000:]
    labels = json.loads(output.stdout.split("LABELS ", 1)[1])
    local = pipeline("text-classification", model=str(output_dir))(texts[:8])
    assert labels == [row["label"] for row in local]
    assert AutoModelForSequenceClassification.from_pretrained(output_dir).config.distilled_from == str(sample_model_dir)

    # Its card names the teacher and says how it serves.
    from imdb_lstm.cards import render_model_card

    card = str(render_model_card(output_dir, "tester/imdb-lstm-fast", explain_example=False))
    assert f"| Distilled from | `{sample_model_dir}`" in card
    assert "| Inference dtype | `auto`: bfloat16 autocast" in card
