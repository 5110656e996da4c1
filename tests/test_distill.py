"""Distillation (imdb_lstm/training/distill.py) with the embedding terms: a short distillation under --bf16 with VAT
and the adversarial loss, every term logged, whose test scores are float32; its arguments checking themselves; and
the bad input refused (VAT's own stream with a teacher, test splits, a teacher of another split protocol). The
transfer batch's loss in the Trainer (VAT reusing its clean pass, each term logged and summed):
tests/test_trainer.py."""

import json
import logging
import shutil

import numpy as np
import pytest
import torch

from imdb_lstm.data import DataError, load_imdb
from imdb_lstm.predict import load_classifier, predict_logits
from imdb_lstm.training import finetune as train
from imdb_lstm.training.distill import DistillationArguments
from imdb_lstm.training.teachers import (TeacherError, check_split_protocol, describe_split_protocol,
                                         split_protocol_of)

QUIET = ["--report_to", "none", "--disable_tqdm", "true"]


@pytest.mark.forces_bfloat16
def test_vat_and_adversarial_inside_distillation_train_under_bf16_and_score_test_in_float32(sample_model_dir,
                                                                                            tmp_path, monkeypatch):
    """Through the command: each logged step holds every term; no VAT stream is read; the test metrics and
    predictions are a float32 scoring of the saved model, not the bf16 one that training ran in."""
    from imdb_lstm.commands import distill
    from imdb_lstm.training import adversarial

    monkeypatch.setattr(adversarial.UnlabelledBatches, "__init__", lambda *a, **k: pytest.fail("VAT stream built"))
    output_dir = tmp_path / "student"
    results = distill.main([
        "--dataset", "sample", "--teacher_model", str(sample_model_dir), "--output_dir", str(output_dir),
        "--vat_epsilon", "5", "--adversarial_epsilon", "1", "--distill_label_weight", "0.5", "--bf16", "true",
        "--normalize_embeddings", "every_step", "--hidden_size", "8", "--max_length", "64", "--vocab_size", "2000",
        "--max_train_samples", "64", "--max_eval_samples", "48", "--max_steps", "4",
        "--per_device_train_batch_size", "16", "--logging_steps", "2", "--save_strategy", "no",
        "--eval_strategy", "no", "--load_best_model_at_end", "false", *QUIET,
    ])
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    logged = [entry for entry in history if "loss" in entry]
    assert len(logged) == 2
    for entry in logged:
        assert {"distillation_loss", "adversarial_loss", "vat_loss"} <= set(entry)
        assert entry["distillation_loss"] > 0 and entry["adversarial_loss"] > 0 and entry["vat_loss"] > 0
    # 64 training reviews among the 564 transfer reviews (the seeded batches hold some): their cross-entropy too.
    assert any(entry.get("supervised_loss", 0) > 0 for entry in logged)
    info = json.loads((output_dir / "run_info.json").read_text())["arguments"]["training"]
    assert info["vat_epsilon"] == 5 and info["bf16"] is True and info["teacher_model"] == [str(sample_model_dir)]

    # The test split as the run drew it (sample test, subsampled to 48 with the split seed), scored again in float32.
    test = load_imdb("sample")["test"].shuffle(seed=42).select(range(48))
    model, tokenizer = load_classifier(str(output_dir))
    logits = predict_logits(model, tokenizer, list(test["text"]), dtype="float32").float()
    labels = torch.tensor(test["label"])
    rows = [json.loads(line) for line in (output_dir / "test_predictions.jsonl").read_text().splitlines()]
    assert [row["label"] for row in rows] == test["label"]
    probabilities = logits.softmax(dim=-1)[:, 1].numpy()
    np.testing.assert_allclose([row["p_positive"] for row in rows], probabilities, atol=1e-5, rtol=0)
    assert results["test_loss"] == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), abs=1e-5)
    assert results["test_accuracy"] == pytest.approx((logits.argmax(dim=1) == labels).float().mean().item())
    # bf16 scores of the same model differ by far more than that tolerance: the check above would catch them.
    bf16 = predict_logits(model, tokenizer, list(test["text"]), dtype="bfloat16").float().softmax(dim=-1)[:, 1]
    assert np.abs(bf16.numpy() - probabilities).max() > 1e-4


@pytest.mark.parametrize("option", [["--vat_dataset", "sample"], ["--vat_splits", "unsupervised"],
                                    ["--vat_batch_size", "8"], ["--vat_max_length", "64"],
                                    ["--vat_text_column", "review"]])
def test_vat_stream_options_are_refused_when_distilling(option):
    with pytest.raises(ValueError, match=rf"--{option[0][2:]} {option[1]} with --teacher_model and --vat_epsilon: "
                                         r"when distilling, VAT runs on each transfer batch.*--distill_dataset"):
        train.parse_args(["--dataset", "sample", "--teacher_model", "ngram:2", "--vat_epsilon", "5", *option])
    # Without VAT the distillation ignores them as before (only --vat_dataset, read by nothing then, is refused).
    if option[0] != "--vat_dataset":
        train.parse_args(["--dataset", "sample", "--teacher_model", "ngram:2", *option])


def test_distillation_arguments_check_themselves():
    """Made on their own (not gathered by ImdbTrainingArguments), the distillation options are checked all the same."""
    assert DistillationArguments(teacher_model="ngram:2").teacher_model == ["ngram:2"]  # one teacher, as JSON gives it
    assert DistillationArguments().teacher_model is None
    with pytest.raises(ValueError, match="--distill_temperature=0 must be a positive finite number"):
        DistillationArguments(distill_temperature=0)
    with pytest.raises(ValueError, match="--distill_labelled_targets='soft': choose one of gold, out_of_fold, teacher"):
        DistillationArguments(distill_labelled_targets="soft")
    with pytest.raises(DataError, match="--distill_splits .*never reach its training"):
        DistillationArguments(teacher_model=["ngram:2"], distill_splits="test")
    DistillationArguments(distill_splits="test")  # no teacher: nothing reads them


def test_vat_and_adversarial_epsilons_are_accepted_with_a_teacher():
    args = train.parse_args(["--dataset", "sample", "--teacher_model", "ngram:2", "--vat_epsilon", "5",
                             "--adversarial_epsilon", "1"])[2]
    assert args.vat_epsilon == 5 and args.adversarial_epsilon == 1


@pytest.mark.parametrize("splits", ["test", "test[:1]", "train+test", "unsupervised,Test[10%:]"])
def test_distillation_and_vat_split_expressions_reaching_test_are_refused(splits):
    with pytest.raises(DataError, match="--distill_splits .*never reach its training"):
        train.parse_args(["--dataset", "sample", "--teacher_model", "ngram:2", "--vat_epsilon", "5",
                          "--distill_splits", splits])
    with pytest.raises(DataError, match="--vat_splits .*never reach training"):
        train.parse_args(["--dataset", "sample", "--vat_epsilon", "5", "--vat_splits", splits])


def test_split_protocols_compare_what_shapes_the_splits():
    canonical = split_protocol_of(train.DataArguments())
    assert canonical == {"split_protocol": "canonical", "validation_fraction": 0.1, "split_seed": 42}
    assert describe_split_protocol(canonical) == "--split_protocol canonical --validation_fraction 0.1 --split_seed 42"
    # As run_info.json records it; without a validation share the seed shapes nothing.
    assert split_protocol_of({"split_protocol": "canonical", "validation_fraction": 0.1, "split_seed": 42}) == canonical
    assert split_protocol_of({"validation_fraction": 0.0, "split_seed": 1}) == \
        split_protocol_of({"validation_fraction": 0.0, "split_seed": 2})
    assert split_protocol_of({"split_protocol": "50/25/25"}) == split_protocol_of({"split_protocol": "50.0/25/25.0"})
    assert split_protocol_of({"split_protocol": "50/25/25", "split_seed": 1}) != \
        split_protocol_of({"split_protocol": "50/25/25", "split_seed": 2})


def test_a_teacher_of_another_split_protocol_is_refused_naming_both(sample_model_dir, tmp_path, caplog):
    recorded = json.loads((sample_model_dir / "run_info.json").read_text())["arguments"]["data"]
    assert recorded["split_protocol"] == "canonical" and recorded["split_seed"] == 42
    check_split_protocol(str(sample_model_dir), split_protocol_of(train.DataArguments()))  # the same: accepted
    check_split_protocol("ngram:2", split_protocol_of(train.DataArguments(split_protocol="50/25/25")))
    # Through the command, before anything is tokenised or trained.
    for flags, theirs in ((["--split_seed", "7"], "--split_seed 7"),
                          (["--validation_fraction", "0.2"], "--validation_fraction 0.2"),
                          (["--split_protocol", "50/25/25"], "--split_protocol 50/25/25 --split_seed 42")):
        with pytest.raises(TeacherError, match="was trained under the split protocol --split_protocol canonical "
                           rf"--validation_fraction 0.1 --split_seed 42, but this run's is .*{theirs}"):
            train.main(["--dataset", "sample", "--teacher_model", str(sample_model_dir), "--output_dir",
                        str(tmp_path / "student"), *flags, *QUIET])
    assert not (tmp_path / "student").exists()
    # A teacher with no record is used with a warning.
    copy = tmp_path / "teacher"
    shutil.copytree(sample_model_dir, copy, ignore=shutil.ignore_patterns("run_info.json"))
    with caplog.at_level(logging.WARNING):
        check_split_protocol(str(copy), split_protocol_of(train.DataArguments()))
    assert "records no split protocol" in caplog.text
