"""Fine-tuning from a pretrained imdb-lstm model (imdb_lstm.training.pretrained, `--model_name_or_path`): a model
that is not imdb-lstm, a missing one and a tokenizer that does not match the model are refused clearly (on the
command line in one line, without a traceback); a classifier re-headed to more labels keeps its encoder weights
exactly. (A classifier fine-tuned from a pretrained language model: tests/test_pretrain.py.)"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import tiny_tokenizer
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, BertConfig

from imdb_lstm.training import finetune as training
from imdb_lstm.training.finetune import choose_labels, parse_args
from imdb_lstm.training.pretrained import PretrainedModelError, load_pretrained_for_classification

ROOT = Path(__file__).resolve().parents[1]


def test_fine_tuning_refuses_a_model_that_is_not_imdb_lstm(tmp_path):
    BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=8).save_pretrained(tmp_path / "bert")
    with pytest.raises(PretrainedModelError, match="is a 'bert' model.*not an imdb-lstm model"):
        training.main(["--dataset", "sample", "--model_name_or_path", str(tmp_path / "bert"),
                       "--output_dir", str(tmp_path / "out")])
    # From the command line: one line saying what was found, no traceback.
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--dataset", "sample",
                             "--model_name_or_path", str(tmp_path / "bert"), "--output_dir", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --model_name_or_path") and "'bert'" in result.stderr
    with pytest.raises(PretrainedModelError, match="no model config could be read"):
        training.main(["--dataset", "sample", "--model_name_or_path", str(tmp_path / "missing"),
                       "--output_dir", str(tmp_path / "out")])


def test_fine_tuning_refuses_a_tokenizer_that_does_not_match_the_model(pretrained, tmp_path):
    lm_dir, _ = pretrained
    mismatched = tmp_path / "mismatched"
    AutoModelForCausalLM.from_pretrained(lm_dir).save_pretrained(mismatched)
    tiny_tokenizer().save_pretrained(mismatched)  # 2,000 words, not the model's vocabulary
    with pytest.raises(PretrainedModelError, match="does not match the model.*not saved together"):
        training.main(["--dataset", "sample", "--model_name_or_path", str(mismatched),
                       "--output_dir", str(tmp_path / "out")])


def test_reheading_keeps_the_encoder_weights_exactly(sample_model_dir):
    model_args, data_args, _ = parse_args(["--model_name_or_path", str(sample_model_dir), "--max_length", "64"])
    model, _ = load_pretrained_for_classification(model_args, data_args, choose_labels(None, 5))
    imdb = AutoModelForSequenceClassification.from_pretrained(sample_model_dir)
    assert model.config.num_labels == 5 and model.config.id2label[4] == "LABEL_4"
    for (name, before), after in zip(imdb.base_model.named_parameters(), model.base_model.parameters()):
        assert torch.equal(before, after), name


def test_a_named_inference_dtype_is_kept_when_fine_tuning(sample_model_dir):
    """`--config_overrides inference_dtype=float32` is the user's choice, even where it equals the config's default:
    fine-tuning does not replace it with the "auto" a model gets when nobody names the field."""
    model_args, data_args, _ = parse_args(["--model_name_or_path", str(sample_model_dir)])
    model, _ = load_pretrained_for_classification(model_args, data_args)
    assert model.config.inference_dtype == "auto"
    model_args, data_args, _ = parse_args(["--model_name_or_path", str(sample_model_dir),
                                           "--config_overrides", "inference_dtype=float32"])
    model, _ = load_pretrained_for_classification(model_args, data_args)
    assert model.config.inference_dtype == "float32"


def test_an_override_of_the_pretrained_architecture_is_refused_before_loading(sample_model_dir, tmp_path):
    from imdb_lstm.training.model_config import ConfigArgumentError

    with pytest.raises(ConfigArgumentError, match=r"changes the architecture of --model_name_or_path .*\(hidden_size "
                       r"64 -> 32, bidirectional True -> False\).*Drop them"):
        training.main(["--dataset", "sample", "--model_name_or_path", str(sample_model_dir), "--output_dir",
                       str(tmp_path / "out"), "--config_overrides", "hidden_size=32,bidirectional=false"])
    # Fine-tuning fields, and an architecture field set to the pretrained model's own value, are accepted; a pooling
    # that changes the width the head reads gets a new head (max_mean -> max: half as wide), the encoder is kept.
    model_args, data_args, _ = parse_args(["--model_name_or_path", str(sample_model_dir),
                                           "--config_overrides", "hidden_size=64,pooling=max,dropout=0.1"])
    model, _ = load_pretrained_for_classification(model_args, data_args)
    assert (model.config.pooling, model.config.dropout) == ("max", 0.1)
    assert model.classifier.weight.shape == (2, 2 * 64)
    saved = AutoModelForSequenceClassification.from_pretrained(sample_model_dir)
    for (name, before), after in zip(saved.base_model.named_parameters(), model.base_model.parameters()):
        assert torch.equal(before, after), name


def test_a_recipes_vocab_size_is_no_warning_when_fine_tuning(sample_model_dir, caplog):
    """configs/imdb_bilstm.json states vocab_size for a new tokenizer; a fine-tuning run reads the pretrained one,
    which is said at INFO, not warned about as an ignored architecture flag (which --hidden_size still is)."""
    from imdb_lstm.training.pretrained import fine_tuning_config

    model_args, data_args, _ = parse_args(["--model_name_or_path", str(sample_model_dir), "--vocab_size", "123",
                                           "--hidden_size", "32"])
    with caplog.at_level("INFO", logger="imdb_lstm.training.pretrained"):
        config = fine_tuning_config(model_args, data_args)
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    infos = [record.getMessage() for record in caplog.records if record.levelname == "INFO"]
    assert warnings == [f"--model_name_or_path {sample_model_dir}: the architecture is the pretrained model's; "
                        "ignored: --hidden_size 32."]
    assert any("--vocab_size 123 applies to a new model only" in message for message in infos)
    assert (config.vocab_size, config.hidden_size) == (10000, 64)


def test_only_a_classifier_source_is_said_to_get_a_new_head_for_a_pooling_change(pretrained, sample_model_dir, caplog):
    """A language model has no classification head, so a pooling that widens the pooled vector changes no head of
    it: no "changes the width its head reads" line (it was logged for every LM source whose pooling was not
    max_mean). A classifier source with the same change says it, and gets a new head."""
    lm_dir, _ = pretrained
    lm_pooling = AutoModelForCausalLM.from_pretrained(lm_dir).config.pooling
    widened = "max" if lm_pooling == "max_mean" else "max_mean"
    model_args, data_args, _ = parse_args(["--model_name_or_path", str(lm_dir), "--config_overrides",
                                           f"pooling={widened}"])
    with caplog.at_level("INFO", logger="imdb_lstm.training.pretrained"):
        model, _ = load_pretrained_for_classification(model_args, data_args)
    assert model.config.pooling == widened
    assert not [record for record in caplog.records if "changes the width its head reads" in record.getMessage()]
    caplog.clear()
    model_args, data_args, _ = parse_args(["--model_name_or_path", str(sample_model_dir), "--config_overrides",
                                           "pooling=max"])
    with caplog.at_level("INFO", logger="imdb_lstm.training.pretrained"):
        load_pretrained_for_classification(model_args, data_args)
    assert [record for record in caplog.records if "max_mean -> max changes the width its head reads" in
            record.getMessage()]
