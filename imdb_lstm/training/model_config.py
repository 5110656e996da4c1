"""The model config of a training run, built the way transformers' examples (`run_clm.py`) build theirs:
`--config_name` (a config.json file or folder, or a Hub repo id) gives the starting config, `ImdbLstmConfig()`
without it; `--config_overrides "hidden_size=256,cell=gru"` (run_clm.py's format) changes fields of it; a flag
named like a config field (`--hidden_size`, `--cell`, ..., `--vocab_size`, `--truncation_side`, and `--max_length`
for `model_max_length`) wins over both when it is given: every such flag defaults to None, "the config's value".
`ImdbLstmConfig` is the one home of every default; a recipe's own values live in its JSON under `configs/`.

    imdb-lstm-train --dataset sample --config_name outputs/demo --config_overrides "hidden_size=64,cell=gru"
"""

import json
from dataclasses import dataclass, field, fields

from transformers import AutoConfig

from ..configuration_imdb_lstm import ImdbLstmConfig

__all__ = ["CONFIG_FIELDS", "ConfigArgumentError", "ConfigArguments", "FLAG_FIELDS", "RecurrentFlags",
           "apply_overrides", "architecture_fields", "checked", "config_flag", "explicit_flags", "fill_in_flags",
           "model_config", "named_fields", "override_keys", "run_config_record", "starting_config"]

# Every field of the config (its own, typed ones); a flag of one of these names sets that field.
CONFIG_FIELDS = tuple(ImdbLstmConfig.__annotations__)
# Flags whose name differs from the field they set.
FLAG_FIELDS = {"max_length": "model_max_length"}
# Fields a new model takes from its tokenizer and word vectors (`glove.build_model`), and the n-gram branch's, fitted
# after training.
BUILT_FROM_DATA = ("vocab_size", "embedding_dim", "pad_token_id", "embedding_source", "embedding_coverage",
                   "model_max_length", "truncation_side", "ngram_order", "ngram_features", "ngram_weight")
FROM_CONFIG = "unset: the config's value (--config_name, --config_overrides, else ImdbLstmConfig's default)"


class ConfigArgumentError(ValueError):
    """`--config_name` or `--config_overrides` cannot be used; the message says what to give instead."""


def config_flag(help_text: str):
    """A dataclass field for a flag that sets a config field: None (the config's value) unless given."""
    return field(default=None, metadata={"help": f"{help_text}; {FROM_CONFIG}"})


@dataclass
class ConfigArguments:
    """Where the model config starts and what changes it (transformers' `run_clm.py` flags)."""

    config_name: str | None = field(
        default=None,
        metadata={"help": "the starting model config: a config.json file, a model folder or a Hub repo id (read as "
                  "AutoConfig reads it; offline with HF_HUB_OFFLINE=1); unset: ImdbLstmConfig's defaults"},
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "comma-separated FIELD=VALUE changes of the starting config, e.g. "
                  "'hidden_size=256,cell=gru,bidirectional=true' (a list field takes its own flag); a flag given "
                  "explicitly wins over both"},
    )


@dataclass
class RecurrentFlags(ConfigArguments):
    """The recurrent encoder's flags, both training commands' (each None unless given: the config's value)."""

    cell: str | None = config_flag("'lstm' or 'gru'")
    bidirectional: bool | None = config_flag("add a right-to-left direction (a language model: a backward one, "
                                             "predicting the previous word)")
    hidden_size: int | None = config_flag("units per direction and layer")
    num_layers: int | None = config_flag("stacked recurrent layers (a bidirectional language model: 1 only)")
    embedding_dropout: float | None = config_flag("spatial dropout on the word vectors")
    rnn_dropout: float | None = config_flag("dropout between stacked recurrent layers")
    dropout: float | None = config_flag("dropout before the classifier's head or the language model's output layer")


def starting_config(name: str | None) -> ImdbLstmConfig:
    """`ImdbLstmConfig()`, or the config `name` holds (a config.json file, a model folder, a Hub repo id)."""
    if name is None:
        return ImdbLstmConfig()
    try:
        config = AutoConfig.from_pretrained(name)
    except (OSError, ValueError, KeyError) as error:
        raise ConfigArgumentError(f"--config_name {name}: no model config could be read ({type(error).__name__}: "
                                  f"{error}). Give a config.json file, a model folder or a Hub repo id.") from error
    if not isinstance(config, ImdbLstmConfig):
        raise ConfigArgumentError(f"--config_name {name} is a {getattr(config, 'model_type', None)!r} config, not an "
                                  f"imdb-lstm one (model_type {ImdbLstmConfig.model_type!r}).")
    return config


def json_value(text: str):
    """The value of a field that holds None or a list (`model_max_length=400`, `=null`), which
    `update_from_string` cannot type: JSON, else the string itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None if text.lower() == "none" else text


def apply_overrides(config: ImdbLstmConfig, overrides: str) -> ImdbLstmConfig:
    """`config` changed by `overrides` ("FIELD=VALUE,FIELD=VALUE", run_clm.py's `--config_overrides`); a key that
    is no config field, or a value its field refuses, is a `ConfigArgumentError` naming it."""
    for item in overrides.split(","):
        key, equals, text = (part.strip() for part in item.partition("="))
        if not equals or not key:
            raise ConfigArgumentError(f"--config_overrides {overrides!r}: {item!r} is no FIELD=VALUE pair; write e.g. "
                                      "'hidden_size=256,cell=gru'.")
        if key not in CONFIG_FIELDS:
            raise ConfigArgumentError(f"--config_overrides: {key!r} is no ImdbLstmConfig field; the fields are "
                                      f"{', '.join(CONFIG_FIELDS)}.")
        current = getattr(config, key)
        try:
            if current is None or isinstance(current, (list, tuple)):
                setattr(config, key, json_value(text))
            else:  # run_clm.py's parsing: the type of the field's current value
                config.update_from_string(f"{key}={text}")
        except (TypeError, ValueError) as error:
            raise ConfigArgumentError(f"--config_overrides: {key}={text!r} cannot be read ({error}).") from error
    return config


def explicit_flags(*groups) -> dict:
    """{config field: value} of the flags of `groups` (argument dataclasses) that name a config field and were
    given (not None)."""
    given = {}
    for group in groups:
        for flag in fields(group):
            name = FLAG_FIELDS.get(flag.name, flag.name)
            if name in CONFIG_FIELDS and getattr(group, flag.name) is not None:
                given[name] = getattr(group, flag.name)
    return given


def model_config(config_args: ConfigArguments, flags: dict, start: ImdbLstmConfig | None = None,
                 check: bool = True) -> ImdbLstmConfig:
    """The run's config: `start` (by default `--config_name`'s, see `starting_config`), then `--config_overrides`,
    then `flags` (config field -> value, the flags given: `explicit_flags`); checked unless `check` is False (see
    `checked`)."""
    config = start if start is not None else starting_config(config_args.config_name)
    if config_args.config_overrides:
        apply_overrides(config, config_args.config_overrides)
    for name, value in flags.items():
        setattr(config, name, value)
    return checked(config) if check else config


def checked(config: ImdbLstmConfig) -> ImdbLstmConfig:
    """`config`, after `ImdbLstmConfig.validate`; a refused value is a `ConfigArgumentError` naming the field."""
    try:
        config.validate()
    except ValueError as error:
        raise ConfigArgumentError(f"The model config is refused: {error}") from error
    return config


def architecture_fields(config: ImdbLstmConfig, config_args: ConfigArguments | None = None) -> dict:
    """The fields of `config` a new model is built with (`glove.build_model`'s `config_kwargs`), less
    `BUILT_FROM_DATA`: those that differ from ImdbLstmConfig's defaults, and those the user named (`named_fields`)
    even where they equal a default. A field nobody named and left at its default is not passed, so build_model's
    own choice for it (bfloat16 serving where it is free) stays; one the user named wins over that choice."""
    defaults, named = ImdbLstmConfig(), named_fields(config_args)
    return {name: getattr(config, name) for name in CONFIG_FIELDS if name not in BUILT_FROM_DATA
            and (name in named or getattr(config, name) != getattr(defaults, name))}


def named_fields(config_args: ConfigArguments | None) -> set[str]:
    """The config fields the user named in `config_args`: every field of `--config_name`'s config (the user chose
    that file), and each key of `--config_overrides`. (A flag named like a field that was given and equals the
    default changes nothing a new model would choose otherwise: no flag sets a field build_model chooses.)"""
    if config_args is None:
        return set()
    if config_args.config_name:
        return set(CONFIG_FIELDS)
    return set(override_keys(config_args.config_overrides))


def override_keys(overrides: str | None) -> list[str]:
    """The fields `--config_overrides` names."""
    return [item.partition("=")[0].strip() for item in (overrides or "").split(",") if item.strip()]


def fill_in_flags(config: ImdbLstmConfig, *groups) -> None:
    """Set each unset flag of `groups` that names a config field to `config`'s value, so the run's code and its
    run_info.json (and the model card that reads it) see the values the run used."""
    for group in groups:
        for flag in fields(group):
            name = FLAG_FIELDS.get(flag.name, flag.name)
            if name in CONFIG_FIELDS and getattr(group, flag.name) is None:
                value = getattr(config, name)
                setattr(group, flag.name, list(value) if isinstance(value, tuple) else value)


def run_config_record(config: ImdbLstmConfig) -> dict:
    """run_info.json's `model_config`: every field of the config the run resolved (before the tokenizer and the
    word vectors fix the vocabulary size and embedding width of the model saved with it)."""
    return {"model_config": {name: getattr(config, name) for name in CONFIG_FIELDS}}
