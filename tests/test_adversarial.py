"""Adversarial and virtual adversarial training on the embeddings (imdb_lstm.training.adversarial): the
perturbation's norm and place, nothing changed at ε = 0, VAT's KL, the embedding normalisation, short trainings
with each option that save, reload and load through remote code, and the bad input refused (`AdversarialArguments`
on its own and through the command line). The Trainer's side: tests/test_trainer.py."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_model, tiny_tokenizer
from transformers import AutoModelForSequenceClassification

from imdb_lstm.commands.build_default import classifier_arguments
from imdb_lstm.training import finetune as train
from imdb_lstm.training.adversarial import (AdversarialArguments, EmbeddingPerturbation, UnlabelledBatches,
                                            adversarial_loss, bake_normalized_embeddings, kl_from_logits,
                                            normalize_embeddings, real_token_mask, scale_per_review,
                                            token_frequencies, virtual_adversarial_loss)
from imdb_lstm.data import DataError, load_imdb, load_unlabelled_texts, tokenize_unlabelled_texts
from safetensors.torch import load_file
from torch.nn.utils import parametrize

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def load_vat_texts(source, splits, text_column="text", excluded_texts=()):
    """The unlabelled texts VAT reads, as fine-tuning loads them (`adversarial.load_vat_reviews`, untokenised)."""
    return load_unlabelled_texts(source, splits, text_column=text_column, use="VAT", excluded_texts=excluded_texts)

REVIEWS = [
    "A wonderful, moving film with a brilliant cast. I loved every minute of it!",
    "Terrible. The plot made no sense and the acting was wooden.",
    "ok",
    "Not bad at all, though far too long. " * 12,  # longer than the model's 64 tokens: cut inside the model
]


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def batch_of(tokenizer, side="right", labels=True):
    tokenizer.padding_side = side
    try:
        batch = dict(tokenizer(REVIEWS, padding=True, return_tensors="pt"))
    finally:
        tokenizer.padding_side = "right"
    if labels:
        batch["labels"] = torch.tensor([1, 0, 1, 0])
    return batch


def training_model(tokenizer, **config):
    model, _ = tiny_model(tokenizer, **{"bidirectional": True, "embedding_dropout": 0.3, "dropout": 0.5, **config})
    return model.train()


@pytest.mark.parametrize("side", ["right", "left"])
def test_adversarial_perturbation_has_the_norm_per_review_and_is_zero_on_padding(tokenizer, side):
    model = training_model(tokenizer)
    batch = batch_of(tokenizer, side)
    with EmbeddingPerturbation(model) as perturbation:
        perturbation.record(track_gradient=True)
        loss = model(**batch).loss
        gradient = perturbation.gradient(loss)
    mask = real_token_mask(model, batch["input_ids"], batch["attention_mask"])
    # The model's layout: real tokens first, the long review cut to model_max_length (64).
    assert mask.shape == (4, 64, 1)
    assert mask[:, :, 0].sum(dim=1).tolist() == [min(64, n) for n in batch["attention_mask"].sum(dim=1).tolist()]
    assert gradient.shape == (4, 64, model.config.embedding_dim)
    assert gradient[mask.expand_as(gradient) == 0].abs().max() == 0  # padding never reaches the logits
    radius = scale_per_review(gradient, mask, 5.0)
    torch.testing.assert_close(radius.flatten(1).norm(dim=1), torch.full((4,), 5.0))
    assert radius[mask.expand_as(radius) == 0].abs().max() == 0
    # Along the gradient: the loss goes up.
    with EmbeddingPerturbation(model) as perturbation:
        perturbation.record(track_gradient=True)
        clean = model(**batch).loss
        assert adversarial_loss(model, batch, clean, perturbation, 1.0) > clean


def test_perturbation_is_added_after_the_embedding_dropout_with_its_mask(tokenizer):
    """The perturbed pass sees the clean pass's embedding after dropout plus r, r not dropped (hidden_states[0] is
    the embedding output in the model's layout)."""
    model = training_model(tokenizer, embedding_dropout=0.5)
    batch = batch_of(tokenizer, labels=False)
    mask = real_token_mask(model, batch["input_ids"], batch["attention_mask"])
    radius = scale_per_review(torch.randn(*mask.shape[:2], model.config.embedding_dim), mask, 3.0)
    with EmbeddingPerturbation(model) as perturbation:
        perturbation.record()
        clean = model(**batch, output_hidden_states=True).hidden_states[0]
        perturbation.replay(radius)
        perturbed = model(**batch, output_hidden_states=True).hidden_states[0]
        perturbation.replay(None)
        again = model(**batch, output_hidden_states=True).hidden_states[0]
    dropped = clean.abs().sum(dim=1) == 0  # (batch, dim): whole dimensions dropped by Dropout1d
    assert dropped.any() and not dropped.all()
    torch.testing.assert_close(perturbed[:, :64] - clean[:, :64], radius, atol=1e-6, rtol=0)
    assert torch.equal(again, clean)


def test_zero_epsilon_changes_nothing(tokenizer):
    model = training_model(tokenizer)
    batch = batch_of(tokenizer)
    with EmbeddingPerturbation(model) as perturbation:
        perturbation.record(track_gradient=True)
        clean = model(**batch).loss
        assert torch.equal(adversarial_loss(model, batch, clean, perturbation, 0.0), clean)
        assert virtual_adversarial_loss(model, batch, perturbation, epsilon=0.0) == 0
    # The trainer with both terms off: tests/test_trainer.py.


def test_vat_divergence_vanishes_with_epsilon_and_is_positive_otherwise(tokenizer):
    model = training_model(tokenizer)
    batch = batch_of(tokenizer, labels=False)
    divergences = {}
    with EmbeddingPerturbation(model) as perturbation:
        for epsilon in (1e-4, 5.0):
            torch.manual_seed(0)
            divergences[epsilon] = virtual_adversarial_loss(model, batch, perturbation, epsilon, xi=0.1)
        # The power iteration finds a direction more damaging than a random one of the same norm.
        torch.manual_seed(0)
        perturbation.record()
        clean = model(**batch).logits
        mask = real_token_mask(model, batch["input_ids"], batch["attention_mask"])
        perturbation.replay(scale_per_review(torch.randn(*mask.shape[:2], model.config.embedding_dim), mask, 5.0))
        random = kl_from_logits(clean, model(**batch).logits)
    assert abs(divergences[1e-4]) < 1e-7  # float rounding either side of 0
    assert divergences[5.0] > 1e-4
    assert divergences[5.0] > random
    # The loss trains the network: gradients reach the head and the embedding.
    model.zero_grad()
    divergences[5.0].backward()
    assert model.classifier.weight.grad.abs().sum() > 0 and model.embedding.weight.grad.abs().sum() > 0


def test_clean_vat_prediction_ignores_length_buckets(tokenizer):
    """Without gradients the classifier splits uneven batches into length buckets; VAT's passes run with
    gradients, so even called under no_grad every pass is one pass over the batch and the masks line up."""
    model = training_model(tokenizer)
    batch = batch_of(tokenizer, labels=False)
    with EmbeddingPerturbation(model) as perturbation, torch.no_grad():
        divergence = virtual_adversarial_loss(model, batch, perturbation, 1e-4)
    assert abs(divergence) < 1e-7
    # A pass that is split is refused rather than replayed with mismatched masks.
    with EmbeddingPerturbation(model) as perturbation, torch.no_grad():
        perturbation.record()
        long_and_short = dict(tokenizer(["great " * 60] + ["bad"] * 30, padding=True, return_tensors="pt"))
        with pytest.raises(RuntimeError, match="ran twice"):
            model(**long_and_short)


def sample_frequencies(tokenizer, vocab_size):
    ids = tokenizer(list(load_imdb("sample")["train"]["text"][:200]), truncation=True)["input_ids"]
    counts = token_frequencies(ids, vocab_size)
    assert counts.sum() == sum(len(row) for row in ids) and counts[tokenizer.pad_token_id] == 0
    return counts


def weighted_moments(weight, counts):
    """Frequency-weighted (mean, variance) per dimension of an embedding matrix."""
    weight = weight.detach().double()
    weights = torch.as_tensor(counts / counts.sum()).unsqueeze(1)
    mean = (weights * weight).sum(dim=0)
    return mean, (weights * (weight - mean) ** 2).sum(dim=0)


@pytest.mark.parametrize("every_step", [False, True], ids=["once", "every_step"])
@pytest.mark.parametrize("config", [{"cell": "lstm"}, {"cell": "gru", "num_layers": 2},
                                    {"encoder": "cnn", "pooling": "max"}])
def test_normalised_embeddings_have_weighted_mean_zero_and_variance_one(tokenizer, config, every_step):
    model, _ = tiny_model(tokenizer, bidirectional=config.get("encoder") != "cnn", **config)
    counts = sample_frequencies(tokenizer, model.config.vocab_size)
    batch = batch_of(tokenizer, labels=False)
    batch = {name: value[:2] for name, value in batch.items()}  # reviews longer than the widest CNN filter
    with torch.no_grad():
        before = model(**batch).logits
    normalize_embeddings(model, counts, fold_into_encoder=True, every_step=every_step)
    assert parametrize.is_parametrized(model.embedding, "weight") == every_step
    mean, variance = weighted_moments(model.embedding.weight, counts)
    assert mean.abs().max() < 1e-5
    torch.testing.assert_close(variance, torch.ones_like(variance), atol=1e-4, rtol=0)
    assert model.embedding.weight[tokenizer.pad_token_id].abs().sum() == 0
    # Folded into the encoder's first layer, the normalisation leaves a trained encoder's answers as they were (the
    # every-step normalisation starts from the normalised matrix, on which it changes nothing).
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, before, atol=1e-4, rtol=1e-4)


def test_every_step_normalisation_holds_through_training_while_once_drifts(tokenizer):
    counts = sample_frequencies(tokenizer, len(tokenizer))
    batch = batch_of(tokenizer)
    moments = {}
    for every_step in (False, True):
        torch.manual_seed(0)
        model = training_model(tokenizer)
        normalize_embeddings(model, counts, every_step=every_step)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(10):
            optimizer.zero_grad()
            model(**batch).loss.backward()
            matrix = model.embedding.parametrizations.weight.original if every_step else model.embedding.weight
            # Gradients reach the trainable matrix through the normalisation; none reaches the padding row.
            assert matrix.grad.abs().sum() > 0 and matrix.grad[tokenizer.pad_token_id].abs().sum() == 0
            optimizer.step()
        moments[every_step] = weighted_moments(model.embedding.weight, counts)
        assert model.embedding.weight[tokenizer.pad_token_id].abs().sum() == 0
    mean, variance = moments[True]
    assert mean.abs().max() < 1e-5
    torch.testing.assert_close(variance, torch.ones_like(variance), atol=1e-4, rtol=0)
    mean, variance = moments[False]
    assert mean.abs().max() > 0.01 or (variance - 1).abs().max() > 0.01


def test_every_step_model_saves_as_a_plain_classifier_with_the_same_logits(tmp_path, tokenizer):
    model = training_model(tokenizer)
    normalize_embeddings(model, sample_frequencies(tokenizer, len(tokenizer)), every_step=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    batch = batch_of(tokenizer)
    for _ in range(3):
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()
    batch.pop("labels")
    with torch.no_grad():
        expected = model.eval()(**batch).logits
    # A checkpoint saved by the trainer while the embedding is still parametrised (training not ended).
    args = train.ImdbTrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True,
                                       eval_strategy="no", save_strategy="no", load_best_model_at_end=False)
    train.FineTuningTrainer(model=model, args=args, processing_class=tokenizer).save_model(str(tmp_path / "saved"))
    saved = load_file(tmp_path / "saved" / "model.safetensors")
    assert "imdb_lstm.embedding.weight" in saved and not any("parametrizations" in name for name in saved)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, expected, atol=0, rtol=0)
    # At the end of training the normalisation is baked in: a plain embedding, the same parameter, the same logits.
    matrix = model.embedding.parametrizations.weight.original
    assert bake_normalized_embeddings(model) and not bake_normalized_embeddings(model)
    assert model.embedding.weight is matrix and not parametrize.is_parametrized(model.embedding)
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, expected, atol=0, rtol=0)


@pytest.mark.parametrize("given, mode", [("true", "once"), ("True", "once"), ("false", "none"), ("none", "none"),
                                         ("once", "once"), ("every_step", "every_step")])
def test_normalize_embeddings_takes_a_mode_or_the_old_booleans(given, mode):
    assert train.parse_args(["--dataset", "sample", "--normalize_embeddings", given])[2].normalize_embeddings == mode


def test_configs_with_normalize_embeddings_true_still_mean_once(tmp_path):
    assert train.parse_args([str(CONFIGS / "issue30" / "vat_e5.json")])[2].normalize_embeddings == "once"
    flags = {"normalize_embeddings": True}  # as the first shipped model's build config has it
    assert classifier_arguments(flags, "sample", "vectors.kv", tmp_path)[2].normalize_embeddings == "once"


def test_unlabelled_batches_cycle_through_every_review_grouped_by_length(tokenizer):
    texts = load_vat_texts("sample", ["unsupervised"])
    tokenized = tokenize_unlabelled_texts(texts, tokenizer, max_length=40)
    assert max(tokenized["length"]) <= 40 and min(tokenized["length"]) >= 1
    from transformers import DataCollatorWithPadding

    batches = UnlabelledBatches(tokenized, 16, DataCollatorWithPadding(tokenizer), seed=1)
    per_pass = -(-len(tokenized) // 16)
    seen = [next(batches) for _ in range(per_pass)]
    assert sum(len(b["input_ids"]) for b in seen) == len(tokenized)
    assert set(seen[0]) >= {"input_ids", "attention_mask"} and seen[0]["input_ids"].dtype == torch.long
    padding = np.mean([1 - b["attention_mask"].float().mean().item() for b in seen])
    assert padding < 0.05  # grouped by length: little padding
    assert next(batches)["input_ids"].shape[0] <= 16  # and on into the next pass


TINY = [
    "--dataset", "sample", "--max_train_samples", "64", "--max_eval_samples", "32", "--hidden_size", "8",
    "--max_length", "64", "--vocab_size", "2000", "--num_train_epochs", "1", "--per_device_train_batch_size", "16",
    "--logging_steps", "2", "--disable_tqdm", "true", "--report_to", "none", "--save_strategy", "no",
    "--eval_strategy", "no", "--load_best_model_at_end", "false",
]
OPTIONS = {
    "adversarial": ["--adversarial_epsilon", "2.0"],
    "vat": ["--vat_epsilon", "5.0", "--normalize_embeddings", "true", "--vat_batch_size", "8", "--vat_max_length", "32"],
    # As Miyato et al.: the embedding normalised at every step, the weights averaged (evaluated, saved).
    "vat_every_step_ema": ["--vat_epsilon", "5.0", "--normalize_embeddings", "every_step", "--ema_decay", "0.9",
                           "--vat_batch_size", "8", "--vat_max_length", "32"],
}

REMOTE_CODE_CHECK = textwrap.dedent(
    """
    import json, sys
    sys.modules["imdb_lstm"] = None  # only the folder's own code may run
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    folder, texts = sys.argv[1], json.loads(sys.argv[2])
    model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
    assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
    batch = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        print(json.dumps(model(**batch).logits.tolist()))
    """
)


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_training_with_each_option_saves_reloads_and_loads_through_remote_code(tmp_path, option):
    output_dir = tmp_path / option
    train.main([*TINY, *OPTIONS[option], "--output_dir", str(output_dir)])
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    vat = option.startswith("vat")
    term = "vat_loss" if vat else "adversarial_loss"
    logged = [entry for entry in history if "loss" in entry]
    assert logged and all(entry[term] > 0 and "supervised_loss" in entry for entry in logged)
    info = json.loads((output_dir / "run_info.json").read_text())["arguments"]["training"]
    assert info["vat_epsilon" if vat else "adversarial_epsilon"] > 0
    assert info["normalize_embeddings"] == {"adversarial": "none", "vat": "once"}.get(option, "every_step")
    assert info["ema_decay"] == (0.9 if option == "vat_every_step_ema" else 0)

    # The model trained in memory scored the test reviews; the reloaded one gives the same probabilities.
    test = load_imdb("sample")["test"].shuffle(seed=42).select(range(32))
    rows = [json.loads(line) for line in (output_dir / "test_predictions.jsonl").read_text().splitlines()]
    from imdb_lstm.predict import load_classifier, predict_proba

    model, tokenizer = load_classifier(str(output_dir))
    np.testing.assert_allclose(predict_proba(model, tokenizer, test["text"], dtype="float32").numpy()[:, 1],
                               [row["p_positive"] for row in rows], atol=1e-5)
    if vat:
        weight = model.embedding.weight.detach().double()
        assert abs(weight.mean()) < 0.5 and "normalised" in model.config.embedding_source
        assert ("at every training step" in model.config.embedding_source) == (option == "vat_every_step_ema")

    texts = list(test["text"][:3])
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    loaded = AutoModelForSequenceClassification.from_pretrained(output_dir).eval()
    with torch.no_grad():
        logits = loaded(**batch).logits
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", REMOTE_CODE_CHECK, str(output_dir), json.dumps(texts)],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.equal(torch.tensor(json.loads(result.stdout.strip().splitlines()[-1])), logits)


@pytest.mark.parametrize("flag, value, message", [
    ("--adversarial_epsilon", "-1", "adversarial training needs a perturbation norm .* positive finite number.*give "
                                    "0 to switch adversarial training off"),
    ("--vat_epsilon", "-0.5", "VAT needs a perturbation norm .* positive finite number, e.g. 5 .*give 0 to switch "
                              "VAT off"),
    ("--vat_epsilon", "-1", "--vat_epsilon=-1.0: VAT needs a perturbation norm"),
    ("--vat_epsilon", "nan", "--vat_epsilon=nan: VAT needs a perturbation norm"),
    ("--vat_epsilon", "inf", "--vat_epsilon=inf: VAT needs a perturbation norm"),
    ("--vat_weight", "-1", "must be a finite number >= 0"),
    ("--vat_xi", "0", "must be a positive finite number"),
    ("--vat_batch_size", "0", "must be at least 1"),
    ("--normalize_embeddings", "sometimes", "choose one of none, once, every_step"),
])
def test_bad_settings_are_refused(flag, value, message):
    with pytest.raises(ValueError, match=message):
        train.parse_args(["--dataset", "sample", flag, value])


def test_adversarial_arguments_check_themselves():
    """Made on their own (not gathered by ImdbTrainingArguments), the options are checked all the same; the options
    of VAT's own stream are refused where distillation's transfer batches replace it."""
    assert AdversarialArguments(normalize_embeddings=True).normalize_embeddings == "once"
    with pytest.raises(ValueError, match="--vat_epsilon=-1: VAT needs a perturbation norm"):
        AdversarialArguments(vat_epsilon=-1)
    with pytest.raises(ValueError, match="--vat_dataset sample is given, but --vat_epsilon is 0.0"):
        AdversarialArguments(vat_dataset="sample")
    AdversarialArguments(vat_epsilon=5).refuse_vat_stream_options()  # the defaults: nothing to refuse
    with pytest.raises(ValueError, match="--vat_batch_size 8 with --teacher_model and --vat_epsilon"):
        AdversarialArguments(vat_epsilon=5, vat_batch_size=8).refuse_vat_stream_options()


def test_a_vat_dataset_without_vat_is_refused():
    with pytest.raises(ValueError, match="--vat_dataset sample is given, but --vat_epsilon is 0.0: VAT is off.*Give "
                                         "--vat_epsilon > 0"):
        train.parse_args(["--dataset", "sample", "--vat_dataset", "sample"])
    args = train.parse_args(["--dataset", "sample", "--vat_dataset", "sample", "--vat_epsilon", "5"])[2]
    assert args.vat_epsilon == 5 and args.vat_dataset == "sample"


@pytest.mark.forces_bfloat16
def test_vat_power_iteration_runs_in_float32_inside_trainers_bf16_autocast(tmp_path, tokenizer):
    """Under --bf16 Accelerate wraps the model's forward in bf16 autocast, which a surrounding
    autocast(enabled=False) cannot undo: VAT's clean pass and power iteration bypass it, its last pass keeps it."""
    model = training_model(tokenizer)
    args = train.ImdbTrainingArguments(output_dir=str(tmp_path), report_to="none", bf16=True, eval_strategy="no",
                                       save_strategy="no", load_best_model_at_end=False)
    trainer = train.FineTuningTrainer(model=model, args=args, processing_class=tokenizer)
    trainer.accelerator.prepare_model(model)
    passes = []
    model.classifier.register_forward_hook(lambda module, inputs, output: passes.append(output.dtype))
    batch = batch_of(tokenizer, labels=False)
    with EmbeddingPerturbation(model) as perturbation:
        virtual_adversarial_loss(model, batch, perturbation, 5.0)
    assert passes == [torch.float32, torch.float32, torch.bfloat16]
    passes.clear()
    model(**batch)  # the wrapper is back
    assert passes == [torch.bfloat16]


@pytest.mark.parametrize("splits", ["test", "train,test", "unsupervised,Test", "test[:1]", "train+test",
                                    "unsupervised[:50%]+TEST"])
def test_vat_source_test_split_is_refused(splits):
    with pytest.raises(DataError, match="--vat_splits .*never reach training"):
        train.parse_args(["--dataset", "sample", "--vat_epsilon", "5", "--vat_splits", splits])
    with pytest.raises(DataError, match="never reach training"):
        load_vat_texts("sample", splits.split(","))


def test_vat_source_without_the_text_column_or_with_only_empty_texts_is_refused(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n".join(json.dumps({"review": "a fine film"}) for _ in range(3)))
    with pytest.raises(DataError, match="no 'text' column .*--vat_text_column"):
        load_vat_texts(str(folder), ["train"])
    assert len(load_vat_texts(str(folder), ["train"], text_column="review")) == 3
    (folder / "train.jsonl").write_text("\n".join(json.dumps({"text": text}) for text in ["", "   ", "\n"]))
    with pytest.raises(DataError, match="no non-empty text"):
        load_vat_texts(str(folder), ["train"])
    # Through the training command: the error comes before any training.
    with pytest.raises(DataError, match="no non-empty text"):
        train.main([*TINY, "--vat_epsilon", "5", "--vat_dataset", str(folder), "--vat_splits", "train",
                    "--output_dir", str(tmp_path / "out")])


def test_vat_texts_leave_out_the_runs_held_out_reviews():
    everything = load_vat_texts("sample", ["train"])
    held_out = list(everything["text"][:10])
    kept = load_vat_texts("sample", ["train"], excluded_texts=held_out)
    assert len(kept) == len(everything) - len(set(held_out))
    assert not set(held_out) & set(kept["text"])
