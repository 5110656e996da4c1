"""The config (configuration_imdb_lstm.py): typed fields with their defaults declared once, the errors that name the
refused field, the rules across fields, and folders saved by older versions loading unchanged."""

import ast
import dataclasses
import json
import sys
import typing
from pathlib import Path

import pytest
from transformers import AutoConfig

import imdb_lstm
from imdb_lstm import ImdbLstmConfig
from imdb_lstm import configuration_imdb_lstm as configuration

FIXTURES = Path(__file__).parent / "fixtures"
DEFAULT_MODEL = Path(imdb_lstm.__file__).parent / "default_model"
CHOICES = {"encoder", "cell", "pooling", "truncation_side", "lm_output", "inference_dtype"}


def test_config_round_trip_preserves_every_field(tmp_path):
    config = ImdbLstmConfig(
        vocab_size=123, embedding_dim=7, encoder="rnn", cell="gru", hidden_size=9, num_layers=3, bidirectional=True,
        pooling="max_mean", cnn_kernel_sizes=[2, 6], cnn_num_filters=11, embedding_dropout=0.1, rnn_dropout=0.2,
        dropout=0.3, freeze_embedding=True, pad_token_id=5, embedding_source="x.txt", embedding_coverage=0.5,
    )
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, ImdbLstmConfig)
    saved, original = loaded.to_dict(), config.to_dict()
    assert saved.pop("_name_or_path") == str(tmp_path)
    original.pop("_name_or_path")
    assert saved == original
    assert loaded.id2label == {0: "NEGATIVE", 1: "POSITIVE"}
    assert loaded.label2id == {"NEGATIVE": 0, "POSITIVE": 1}


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("cell", "rnn", "('lstm', 'gru')"),
        ("encoder", "transformer", "('rnn', 'cnn')"),
        ("pooling", "attention", "('last', 'max', 'mean', 'max_mean')"),
        ("hidden_size", 0, "positive integer"),
        ("num_layers", -1, "positive integer"),
        ("vocab_size", 2.5, "positive integer"),
        ("dropout", 1.0, "[0, 1)"),
        ("embedding_dropout", -0.1, "[0, 1)"),
        ("cnn_kernel_sizes", [], "non-empty list"),
        ("pad_token_id", 30000, "vocab_size"),
    ],
)
def test_invalid_config_values_name_the_field(field, value, allowed):
    with pytest.raises(ValueError) as error:
        ImdbLstmConfig(**{field: value})
    assert f"ImdbLstmConfig.{field}" in str(error.value) and allowed in str(error.value)


def test_cnn_cannot_pool_last_state():
    with pytest.raises(ValueError, match="pooling='last' needs encoder='rnn'"):
        ImdbLstmConfig(encoder="cnn", pooling="last")


def test_num_hidden_layers_is_num_layers_and_old_folders_have_it():
    config = ImdbLstmConfig(num_hidden_layers=3)
    assert config.num_layers == 3 and config.num_hidden_layers == 3
    config.num_hidden_layers = 2
    assert config.num_layers == 2 and "num_hidden_layers" not in config.to_dict()
    legacy = AutoConfig.from_pretrained(FIXTURES / "legacy_bilstm")
    assert legacy.num_hidden_layers == legacy.num_layers


def test_every_choice_is_a_literal_type_and_the_module_lists_derive_from_it():
    hints = ImdbLstmConfig.__annotations__  # the class's own fields
    literals = {name for name, kind in hints.items() if typing.get_origin(kind) is typing.Literal}
    assert literals == CHOICES
    assert configuration.TRUNCATION_SIDES == typing.get_args(hints["truncation_side"]) == ("left", "right")
    assert configuration.INFERENCE_DTYPES == typing.get_args(hints["inference_dtype"]) == ("auto", "float32", "bfloat16")
    for field in sorted(CHOICES):
        allowed = typing.get_args(hints[field])
        with pytest.raises(ValueError, match=f"ImdbLstmConfig.{field}='nope' is not allowed; use one of "
                                             f"{allowed!r}".replace("(", r"\(").replace(")", r"\)")):
            ImdbLstmConfig(**{field: "nope"})


def test_defaults_are_declared_once_as_the_fields_and_fields_are_keyword_only():
    config = ImdbLstmConfig()
    own = [field for field in dataclasses.fields(ImdbLstmConfig) if field.name in ImdbLstmConfig.__annotations__]
    assert len(own) == len(ImdbLstmConfig.__annotations__) >= 28
    for field in own:
        default = list(field.default) if isinstance(field.default, tuple) else field.default
        assert getattr(config, field.name) == default, field.name
    assert config.cnn_kernel_sizes == [3, 4, 5] and isinstance(config.lm_adaptive_cutoffs, list)
    with pytest.raises(ValueError, match="only keyword arguments"):
        ImdbLstmConfig(100)


@pytest.mark.parametrize("fields, message", [
    ({"lm_output": "adaptive", "vocab_size": 100, "lm_adaptive_cutoffs": [20, 99]},
     r"lm_adaptive_cutoffs=\[20, 99\] must be increasing word ids in \[1, vocab_size - 1 = 99\)"),
    ({"lm_output": "adaptive", "lm_adaptive_cutoffs": [50, 20]}, r"lm_adaptive_cutoffs=\[50, 20\] must be increasing"),
    ({"ngram_order": 5}, r"ngram_order=5 with vocab_size=30000: the n-gram keys would not fit in 62 bits"),
    ({"pad_token_id": 10, "vocab_size": 10}, r"pad_token_id=10 must be an id in \[0, vocab_size=10\)"),
    ({"ngram_weight": 1.5}, r"ngram_weight=1.5 must be a number in \[0, 1\]"),
    ({"tie_word_embeddings": 0}, r"tie_word_embeddings=0 must be True or False"),
    ({"model_max_length": 0}, r"model_max_length=0 must be a positive integer or None"),
    ({"id2label": {0: "A", 2: "C"}}, r"must name the labels 0..num_labels-1"),
])
def test_rules_across_fields_and_per_field_rules_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        ImdbLstmConfig(**fields)
    ImdbLstmConfig(lm_output="adaptive", vocab_size=100, lm_adaptive_cutoffs=[20, 98], ngram_order=4)  # the edges pass


def test_a_late_change_is_checked_when_the_config_is_saved(tmp_path):
    config = ImdbLstmConfig()
    config.cell = "transformer"  # only label fields are checked at assignment
    with pytest.raises(ValueError, match="cell='transformer' is not allowed"):
        config.save_pretrained(tmp_path)


@pytest.mark.parametrize("folder", [FIXTURES / "legacy_bilstm", FIXTURES / "legacy_cnn", DEFAULT_MODEL],
                         ids=["legacy_bilstm", "legacy_cnn", "default_model"])
def test_folders_saved_by_older_versions_load_unchanged(folder, tmp_path):
    saved = json.loads((folder / "config.json").read_text())
    config = ImdbLstmConfig.from_pretrained(folder)
    loaded = json.loads(config.to_json_string(use_diff=False))
    for key, value in saved.items():
        if key != "transformers_version":
            assert loaded[key] == value, key
    # Fields the folder predates take the values it was trained with.
    for key, old_default in {"inference_dtype": "float32", "lm_output": "tied", "ngram_order": 0,
                             "truncation_side": "right", "tie_word_embeddings": True}.items():
        assert loaded[key] == saved.get(key, old_default), key
    # A key an older version saved and this one dropped is accepted and ignored.
    (tmp_path / "config.json").write_text(json.dumps({**saved, "concurrent_directions": True}))
    assert not hasattr(ImdbLstmConfig.from_pretrained(tmp_path), "concurrent_directions")


def test_the_hub_copy_imports_transformers_and_the_standard_library_only():
    tree = ast.parse(Path(configuration.__file__).read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "transformers" in modules
    for module in modules:
        top = module.split(".")[0]
        assert top == "transformers" or top in sys.stdlib_module_names, module
