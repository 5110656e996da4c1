"""The moving average of the weights (imdb_lstm.training.averaging, `--ema_decay` in FineTuningTrainer): its
bias-corrected arithmetic, evaluation and checkpoints made with it while training goes on from the raw weights, the
saved model being the average, a resumed run ending where an uninterrupted one does (with the embedding normalised
at every step too), and the bad settings refused."""

import json

import pytest
import torch
from datasets import Dataset
from helpers import tiny_model, tiny_tokenizer
from safetensors.torch import load_file
from torch import nn
from transformers import DataCollatorWithPadding

from imdb_lstm.training import finetune as train
from imdb_lstm.training.averaging import ExponentialMovingAverage

TINY = [
    "--dataset", "sample", "--max_train_samples", "64", "--max_eval_samples", "32", "--hidden_size", "8",
    "--max_length", "64", "--vocab_size", "2000", "--num_train_epochs", "2", "--per_device_train_batch_size", "16",
    "--logging_steps", "2", "--disable_tqdm", "true", "--report_to", "none", "--do_predict", "false",
    "--eval_strategy", "epoch", "--save_strategy", "epoch", "--load_best_model_at_end", "false",
]  # 4 optimiser steps an epoch: checkpoint-4 and checkpoint-8


def test_average_follows_the_bias_corrected_recurrence():
    model = nn.Linear(3, 2)
    model.bias.requires_grad_(False)  # not trainable: not averaged
    average = ExponentialMovingAverage(model, decay=0.9)
    assert list(average.shadows) == ["weight"]
    assert [average.decay_at(step) for step in (1, 2, 100)] == pytest.approx([2 / 11, 3 / 12, 0.9])
    expected = model.weight.detach().double().clone()
    for step in range(1, 31):
        with torch.no_grad():
            model.weight.copy_(torch.full((2, 3), float(step)) + torch.arange(3.0))
        average.update(step)
        decay = min(0.9, (1 + step) / (10 + step))
        expected = decay * expected + (1 - decay) * model.weight.detach().double()
        torch.testing.assert_close(average.shadows["weight"].double(), expected, atol=1e-5, rtol=1e-6)
    assert average.shadows["weight"].dtype == torch.float32

    # Inside averaged_weights the parameter holds the average, the very same tensor object; its value comes back after.
    raw, parameter = model.weight.detach().clone(), model.weight
    with average.averaged_weights():
        assert model.weight is parameter and torch.equal(model.weight, average.shadows["weight"])
    assert torch.equal(model.weight, raw)

    restored = ExponentialMovingAverage(model, decay=0.9)
    restored.load_state_dict(average.state_dict())
    assert torch.equal(restored.shadows["weight"], average.shadows["weight"])
    with pytest.raises(ValueError, match="other parameters"):
        restored.load_state_dict({"bias": torch.zeros(2)})


def test_trainer_evaluates_and_predicts_with_the_average_and_trains_on_the_raw_weights(tmp_path):
    tokenizer = tiny_tokenizer()
    model, _ = tiny_model(tokenizer)
    other, _ = tiny_model(tokenizer, seed=7)  # other weights, standing for the average
    texts = ["A wonderful film, I loved it.", "Terrible, the plot made no sense.", "ok", "Not bad at all."]
    dataset = Dataset.from_dict({"text": texts, "label": [1, 0, 1, 1]}).map(
        lambda batch: tokenizer(batch["text"]), batched=True, remove_columns=["text"])
    args = train.ImdbTrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, ema_decay=0.999,
                                       eval_strategy="no", save_strategy="no", load_best_model_at_end=False)
    trainer = train.FineTuningTrainer(model=model, args=args, processing_class=tokenizer,
                                      data_collator=DataCollatorWithPadding(tokenizer))
    assert set(trainer.weight_average.shadows) == {name for name, _ in model.named_parameters()}
    assert any(isinstance(callback, train.WeightAveraging) for callback in trainer.callback_handler.callbacks)
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
    results = train.main([*TINY, "--ema_decay", "0.9", "--output_dir", str(output_dir)])
    info = json.loads((output_dir / "run_info.json").read_text())["arguments"]["training"]
    assert info["ema_decay"] == 0.9 and info["normalize_embeddings"] == "none"
    final = output_dir / "checkpoint-8"
    saved, checkpoint = load_file(output_dir / "model.safetensors"), load_file(final / "model.safetensors")
    training_weights = load_file(final / train.TRAINING_WEIGHTS_NAME)
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
    train.main([*TINY, *settings, "--output_dir", str(uninterrupted)])
    # The second run starts from the first's checkpoint of step 4, as a run killed after it would.
    train.main([*TINY, *settings, "--output_dir", str(resumed),
                "--resume_from_checkpoint", str(uninterrupted / "checkpoint-4")])
    for name in ("model.safetensors", f"checkpoint-8/{train.TRAINING_WEIGHTS_NAME}"):
        expected, got = load_file(uninterrupted / name), load_file(resumed / name)
        assert set(got) == set(expected)
        for key, tensor in expected.items():
            torch.testing.assert_close(got[key], tensor, atol=1e-6, rtol=0, msg=f"{name}: {key}")
    histories = [[entry["eval_loss"] for entry in json.loads((folder / "trainer_state.json").read_text())["log_history"]
                  if "eval_loss" in entry] for folder in (uninterrupted, resumed)]
    assert histories[1] == pytest.approx(histories[0], abs=1e-6)

    # A checkpoint saved without the average cannot resume a run that keeps one.
    plain = tmp_path / "plain"
    train.main([*TINY, "--num_train_epochs", "1", "--output_dir", str(plain)])
    with pytest.raises(ValueError, match="has no training_weights.safetensors.*without --ema_decay"):
        train.main([*TINY, "--ema_decay", "0.9", "--output_dir", str(tmp_path / "never"),
                    "--resume_from_checkpoint", str(plain / "checkpoint-4")])


@pytest.mark.parametrize("value", ["1.5", "1", "-0.1", "nan"])
def test_bad_decay_is_refused(value):
    with pytest.raises(ValueError, match=r"--ema_decay=.* must be in \[0, 1\)"):
        train.parse_args(["--dataset", "sample", "--ema_decay", value])
