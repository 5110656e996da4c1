"""The Trainer that fine-tuning runs and its callbacks (imdb_lstm/training/trainer.py): the loss with every optional
term off; the moving average of the weights (`--ema_decay`, the `WeightAveraging` callback) used for evaluation,
prediction and checkpoints while training goes on from the raw weights, the saved model being the average, and a
resumed run ending where an uninterrupted one does (with the embedding normalised at every step too); a transfer
batch's loss the sum of its logged terms, VAT reusing its clean pass, run in float32 under bf16; discriminative
learning rates (`--encoder_learning_rate_factor`) and the gradual unfreezing of a pretrained encoder
(`EncoderUnfreezing`, from tests/conftest.py's `pretrained` language model)."""

import json

import pytest
import torch
from datasets import Dataset
from helpers import tiny_model, tiny_tokenizer
from safetensors.torch import load_file
from transformers import DataCollatorWithPadding

from imdb_lstm.training import finetune
from imdb_lstm.training.adversarial import EmbeddingPerturbation
from imdb_lstm.training.distill import TEACHER_LOGITS, distillation_terms
from imdb_lstm.training.finetune import ImdbTrainingArguments
from imdb_lstm.training.trainer import TRAINING_WEIGHTS_NAME, FineTuningTrainer, WeightAveraging

TINY = [
    "--dataset", "sample", "--max_train_samples", "64", "--max_eval_samples", "32", "--hidden_size", "8",
    "--max_length", "64", "--vocab_size", "2000", "--num_train_epochs", "2", "--per_device_train_batch_size", "16",
    "--logging_steps", "2", "--disable_tqdm", "true", "--report_to", "none", "--do_predict", "false",
    "--eval_strategy", "epoch", "--save_strategy", "epoch", "--load_best_model_at_end", "false",
]  # 4 optimiser steps an epoch: checkpoint-4 and checkpoint-8
REVIEWS = [
    "A wonderful, moving film with a brilliant cast. I loved every minute of it!",
    "Terrible. The plot made no sense and the acting was wooden.",
    "ok",
    "Not bad at all, though far too long. " * 12,
]


def test_with_every_term_off_the_loss_is_the_plain_loss(tmp_path):
    """The trainer with both embedding terms off computes exactly the plain loss, through the same code as without
    them, and logs no extra term."""
    tokenizer = tiny_tokenizer()
    model, _ = tiny_model(tokenizer, bidirectional=True, embedding_dropout=0.3, dropout=0.5)
    batch = dict(tokenizer(REVIEWS, padding=True, return_tensors="pt"))
    batch["labels"] = torch.tensor([1, 0, 1, 0])
    args = ImdbTrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True,
                                 eval_strategy="no", save_strategy="no", load_best_model_at_end=False)
    assert args.adversarial_epsilon == 0 and args.vat_epsilon == 0 and args.normalize_embeddings == "none"
    trainer = FineTuningTrainer(model=model, args=args, processing_class=tokenizer)
    assert args.ema_decay == 0 and trainer.weight_average is None and trainer.unlabelled_batches is None
    model.train()
    torch.manual_seed(3)
    loss = trainer.compute_loss(model, dict(batch))
    torch.manual_seed(3)
    assert torch.equal(loss, model(**batch).loss)
    assert trainer._perturbation_logs == {}


def test_trainer_evaluates_and_predicts_with_the_average_and_trains_on_the_raw_weights(tmp_path):
    tokenizer = tiny_tokenizer()
    model, _ = tiny_model(tokenizer)
    other, _ = tiny_model(tokenizer, seed=7)  # other weights, standing for the average
    texts = ["A wonderful film, I loved it.", "Terrible, the plot made no sense.", "ok", "Not bad at all."]
    dataset = Dataset.from_dict({"text": texts, "label": [1, 0, 1, 1]}).map(
        lambda batch: tokenizer(batch["text"]), batched=True, remove_columns=["text"])
    args = ImdbTrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, ema_decay=0.999,
                                       eval_strategy="no", save_strategy="no", load_best_model_at_end=False)
    trainer = FineTuningTrainer(model=model, args=args, processing_class=tokenizer,
                                      data_collator=DataCollatorWithPadding(tokenizer))
    assert set(trainer.weight_average.shadows) == {name for name, _ in model.named_parameters()}
    assert any(isinstance(callback, WeightAveraging) for callback in trainer.callback_handler.callbacks)
    for name, parameter in other.named_parameters():
        trainer.weight_average.shadows[name].copy_(parameter)
    raw = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}

    def loss_of(scored):
        batch = DataCollatorWithPadding(tokenizer)([dict(row) for row in dataset])
        with torch.no_grad():
            return scored.eval()(**batch).loss.item()

    assert trainer.evaluate(dataset)["eval_loss"] == pytest.approx(loss_of(other), abs=1e-5)
    assert trainer.predict(dataset).metrics["test_loss"] == pytest.approx(loss_of(other), abs=1e-5)
    assert loss_of(other) != pytest.approx(loss_of(model), abs=1e-3)
    for name, parameter in model.named_parameters():  # training goes on from the raw weights
        assert torch.equal(parameter, raw[name]), name


def test_checkpoints_and_the_saved_model_hold_the_average(tmp_path):
    output_dir = tmp_path / "run"
    results = finetune.main([*TINY, "--ema_decay", "0.9", "--output_dir", str(output_dir)])
    info = json.loads((output_dir / "run_info.json").read_text())["arguments"]["training"]
    assert info["ema_decay"] == 0.9 and info["normalize_embeddings"] == "none"
    final = output_dir / "checkpoint-8"
    saved, checkpoint = load_file(output_dir / "model.safetensors"), load_file(final / "model.safetensors")
    training_weights = load_file(final / TRAINING_WEIGHTS_NAME)
    assert set(training_weights) == {f"{kind}.{name}" for kind in ("raw", "average") for name in saved}
    for name, tensor in saved.items():
        # The checkpoint's model is the average, the raw weights kept beside it; the saved model is the last average.
        assert torch.equal(checkpoint[name], training_weights[f"average.{name}"]), name
        assert torch.equal(tensor, checkpoint[name]), name
    assert any(not torch.allclose(training_weights[f"raw.{name}"], tensor, atol=1e-4) for name, tensor in saved.items())
    # The evaluation at the last step (in training, the raw weights in the model) scored the average: the saved
    # model, scored after training, gets the same loss.
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    last = [entry for entry in history if "eval_loss" in entry][-1]
    assert last["step"] == 8 and last["eval_loss"] == pytest.approx(results["eval_loss"], abs=1e-6)


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    settings = ["--ema_decay", "0.9", "--normalize_embeddings", "every_step"]
    uninterrupted, resumed = tmp_path / "uninterrupted", tmp_path / "resumed"
    finetune.main([*TINY, *settings, "--output_dir", str(uninterrupted)])
    # The second run starts from the first's checkpoint of step 4, as a run killed after it would.
    finetune.main([*TINY, *settings, "--output_dir", str(resumed),
                   "--resume_from_checkpoint", str(uninterrupted / "checkpoint-4")])
    for name in ("model.safetensors", f"checkpoint-8/{TRAINING_WEIGHTS_NAME}"):
        expected, got = load_file(uninterrupted / name), load_file(resumed / name)
        assert set(got) == set(expected)
        for key, tensor in expected.items():
            torch.testing.assert_close(got[key], tensor, atol=1e-6, rtol=0, msg=f"{name}: {key}")
    histories = [[entry["eval_loss"] for entry in json.loads((folder / "trainer_state.json").read_text())["log_history"]
                  if "eval_loss" in entry] for folder in (uninterrupted, resumed)]
    assert histories[1] == pytest.approx(histories[0], abs=1e-6)

    # A checkpoint saved without the average cannot resume a run that keeps one.
    plain = tmp_path / "plain"
    finetune.main([*TINY, "--num_train_epochs", "1", "--output_dir", str(plain)])
    with pytest.raises(ValueError, match="has no training_weights.safetensors.*without --ema_decay"):
        finetune.main([*TINY, "--ema_decay", "0.9", "--output_dir", str(tmp_path / "never"),
                       "--resume_from_checkpoint", str(plain / "checkpoint-4")])


def transfer_batch(tokenizer):
    """Two training reviews (labels, gold-like targets) and two unlabelled ones (label -100, soft targets)."""
    batch = dict(tokenizer(REVIEWS, padding=True, return_tensors="pt"))
    batch["labels"] = torch.tensor([1, 0, -100, -100])
    batch[TEACHER_LOGITS] = torch.tensor([[-2.0, 2.0], [2.0, -2.0], [0.3, -0.1], [-0.5, 0.8]])
    return batch


def distilling_trainer(tmp_path, model, tokenizer, **options):
    args = ImdbTrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, eval_strategy="no",
                                       save_strategy="no", load_best_model_at_end=False, teacher_model=["unused"],
                                       **options)
    return FineTuningTrainer(model=model, args=args, processing_class=tokenizer)


def test_a_transfer_batch_loss_is_the_sum_of_its_logged_terms_and_vat_reuses_the_clean_pass(tmp_path):
    tokenizer = tiny_tokenizer()
    model, _ = tiny_model(tokenizer, embedding_dropout=0.3, dropout=0.5)
    model.train()
    trainer = distilling_trainer(tmp_path, model, tokenizer, adversarial_epsilon=1.0, vat_epsilon=5.0,
                                 vat_weight=0.5, distill_label_weight=0.3, distill_temperature=2.0)
    assert trainer.unlabelled_batches is None  # no VAT stream of its own: VAT reads the transfer batch
    batch = transfer_batch(tokenizer)
    passes = []
    model.classifier.register_forward_hook(lambda module, args, output: passes.append(output.dtype))
    torch.manual_seed(0)
    loss = trainer.compute_loss(model, dict(batch))
    assert loss.requires_grad
    # The clean pass (shared by the distillation loss, the adversarial gradient and VAT), the adversarial pass,
    # VAT's power iteration and its perturbed pass: four passes, not five.
    assert len(passes) == 4
    terms = {name: float(total) / count for name, (total, count) in trainer._perturbation_logs.items()}
    assert set(terms) == {"distillation_loss", "supervised_loss", "adversarial_loss", "vat_loss"}
    assert all(value > 0 for value in terms.values())
    expected = (terms["distillation_loss"] + 0.3 * terms["supervised_loss"] + terms["adversarial_loss"]
                + 0.5 * terms["vat_loss"])
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # The logged distillation and supervised terms are those of the clean pass: recomputed here as the trainer ran
    # it (recorded, from the same seed: the same dropout masks).
    torch.manual_seed(0)
    with EmbeddingPerturbation(model) as perturbation:
        perturbation.record(track_gradient=True)
        logits = model(**{name: batch[name] for name in ("input_ids", "attention_mask")}).logits
    clean = distillation_terms(logits, batch[TEACHER_LOGITS], batch["labels"], temperature=2.0, label_weight=0.3)
    assert terms["distillation_loss"] == pytest.approx(float(clean["distillation_loss"]), rel=1e-5)
    assert terms["supervised_loss"] == pytest.approx(float(clean["supervised_loss"]), rel=1e-5)
    # Every term trains the network.
    loss.backward()
    assert model.embedding.weight.grad.abs().sum() > 0 and model.classifier.weight.grad.abs().sum() > 0


@pytest.mark.forces_bfloat16
def test_under_bf16_the_clean_transfer_pass_that_vat_reuses_runs_in_float32(tmp_path):
    tokenizer = tiny_tokenizer()
    model, _ = tiny_model(tokenizer)
    model.train()
    trainer = distilling_trainer(tmp_path, model, tokenizer, vat_epsilon=5.0, bf16=True)
    prepared = trainer.accelerator.prepare_model(model)  # what Trainer does: bf16 autocast wrapped around forward
    passes = []
    model.classifier.register_forward_hook(lambda module, args, output: passes.append(output.dtype))
    trainer.compute_loss(prepared, dict(transfer_batch(tokenizer)))
    # Clean pass and power iteration in float32 (VAT compares them at a step below bf16's resolution), the final
    # perturbed pass in bf16; and the model keeps its bf16 forward afterwards.
    assert passes == [torch.float32, torch.float32, torch.bfloat16]
    passes.clear()
    model(**tokenizer(REVIEWS[:2], padding=True, return_tensors="pt"))
    assert passes == [torch.bfloat16]
    # Without VAT the transfer pass keeps the ambient precision.
    passes.clear()
    trainer._perturbation_logs.clear()
    trainer.args.vat_epsilon = 0.0
    trainer.compute_loss(prepared, dict(transfer_batch(tokenizer)))
    assert passes == [torch.bfloat16] and set(trainer._perturbation_logs) == {"distillation_loss"}


# ---------------------------------------------------------------- fine-tuning a pretrained encoder


def test_encoder_learning_rate_factor_gives_the_base_model_its_own_rate(tmp_path):
    model, _ = tiny_model()
    args = ImdbTrainingArguments(output_dir=str(tmp_path), learning_rate=1e-3, encoder_learning_rate_factor=0.1,
                                 eval_strategy="no", load_best_model_at_end=False, report_to="none")
    optimizer = FineTuningTrainer(model=model, args=args).create_optimizer()
    rates = {}
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            assert id(parameter) not in rates  # each parameter in one group only
            rates[id(parameter)] = group["lr"]
    names = {id(parameter): name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert set(rates) == set(names)
    for key, rate in rates.items():
        assert rate == pytest.approx(1e-4 if names[key].startswith("imdb_lstm.") else 1e-3), names[key]
    with pytest.raises(ValueError, match="encoder_learning_rate_factor"):
        ImdbTrainingArguments(output_dir=str(tmp_path), encoder_learning_rate_factor=0)


def test_gradual_unfreezing_keeps_the_pretrained_encoder_until_its_epoch(pretrained, tmp_path):
    lm_dir, _ = pretrained
    output_dir = tmp_path / "classifier"
    finetune.main([
        "--dataset", "sample", "--model_name_or_path", str(lm_dir), "--output_dir", str(output_dir),
        "--num_train_epochs", "2", "--encoder_frozen_epochs", "1", "--max_train_samples", "64",
        "--per_device_train_batch_size", "32", "--max_eval_samples", "32", "--max_length", "48",
        "--save_total_limit", "3", "--load_best_model_at_end", "false", "--do_predict", "false",
        "--disable_tqdm", "true", "--report_to", "none",
    ])
    pretrained_weights = load_file(lm_dir / "model.safetensors")
    after_one = load_file(output_dir / "checkpoint-2" / "model.safetensors")
    after_two = load_file(output_dir / "checkpoint-4" / "model.safetensors")
    base = [name for name in after_one if name.startswith("imdb_lstm.")]
    assert base and all(torch.equal(after_one[name], pretrained_weights[name]) for name in base)
    assert not all(torch.equal(after_two[name], pretrained_weights[name]) for name in base)
    assert not torch.equal(after_one["classifier.weight"], after_two["classifier.weight"])
