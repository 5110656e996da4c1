"""Fine-tuning from a pretrained imdb-lstm model (`--model_name_or_path`: the output of `imdb-lstm-pretrain`, or a
classifier to fine-tune further; a folder or a Hub repo): its config and tokenizer checked, its tokenizer and base
model kept, the classification head new. A fresh classifier over word vectors is `imdb_lstm.glove.build_model`'s;
`imdb_lstm.training.finetune` chooses between them.
"""

import copy
import logging

from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
from transformers.tokenization_utils_base import VERY_LARGE_INTEGER

from ..configuration_imdb_lstm import ImdbLstmConfig
from ..glove import DEFAULT_GLOVE, load_glove
from .model_config import CONFIG_FIELDS, ConfigArgumentError, explicit_flags, model_config, override_keys

__all__ = ["FINE_TUNING_CONFIG_FIELDS", "PretrainedModelError", "fine_tuning_config",
           "load_pretrained_for_classification"]

logger = logging.getLogger(__name__)

# Config fields a fine-tuning run chooses even when the encoder comes from a pretrained model, with the review length
# and truncation side (--max_length, --truncation_side).
FINE_TUNING_CONFIG_FIELDS = ("pooling", "embedding_dropout", "dropout", "freeze_embedding")
RUN_CONFIG_FIELDS = (*FINE_TUNING_CONFIG_FIELDS, "model_max_length", "truncation_side")
# Fitted after training (`--ngram_order`), never passed to from_pretrained: a loaded classifier keeps its own branch.
NGRAM_FIELDS = ("ngram_order", "ngram_features", "ngram_weight")
# Fields that fix the shapes of the pretrained weights: a fine-tuning run cannot change them.
WEIGHT_SHAPE_FIELDS = ("vocab_size", "embedding_dim", "pad_token_id", "encoder", "cell", "hidden_size", "num_layers",
                       "bidirectional", "cnn_kernel_sizes", "cnn_num_filters")


class PretrainedModelError(ValueError):
    """`--model_name_or_path` is no usable imdb-lstm model; the message says what was found and what to give."""


def load_pretrained_for_classification(model_args, data_args, label_fields=None):
    """(classifier, tokenizer) from `model_args.model_name_or_path`, a folder or Hub repo of an imdb-lstm model
    (a pretrained language model, or a classifier to fine-tune further): the tokenizer and the base model's
    weights are loaded, the classification head is new. The architecture (encoder, cell, sizes) is the pretrained
    one; pooling, dropouts, `freeze_embedding`, the review length and truncation side are the pretrained config's
    unless `--config_overrides` or a flag changes them (`fine_tuning_config`); a field `--config_overrides` names is
    passed even where it equals the pretrained value (`inference_dtype=float32` is kept, not replaced by "auto"), and
    a pooling that changes the width a classifier's head reads gets a new head. Raises `PretrainedModelError` when
    the source is no imdb-lstm model or its tokenizer does not match it. With `label_fields` (another label set than
    IMDB's, see `finetune.choose_labels`) a classifier of another number of labels is re-headed
    (ignore_mismatched_sizes): its encoder is kept, its head is new, and an n-gram branch, binary by nature, is
    dropped."""
    source = model_args.model_name_or_path
    config = read_imdb_lstm_config(source)
    tokenizer = load_matching_tokenizer(source, config)
    check_word_vectors(model_args.glove, source, config)
    resolved = fine_tuning_config(model_args, data_args, config)
    tokenizer.model_max_length = resolved.model_max_length or VERY_LARGE_INTEGER
    tokenizer.truncation_side = resolved.truncation_side
    named = set(override_keys(model_args.config_overrides))
    overrides = {name: getattr(resolved, name) for name in CONFIG_FIELDS if name not in NGRAM_FIELDS and (
        name in RUN_CONFIG_FIELDS or name in named or getattr(resolved, name) != getattr(config, name))}
    if label_fields:
        overrides.update(new_head_overrides(source, config, label_fields))
    elif head_width_changes(config, resolved):
        # A classifier's head reads the pooled vector, which max_mean makes twice as wide: a new head, not a
        # shape mismatch inside from_pretrained.
        overrides["ignore_mismatched_sizes"] = True
        logger.info("--model_name_or_path %s: pooling %s -> %s changes the width its head reads; its encoder is kept "
                    "and a new head is trained.", source, config.pooling, resolved.pooling)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, **{"inference_dtype": "auto", **overrides},  # as build_model's: bfloat16 serving where it is free
    )
    initial = f"; its embedding started from {config.embedding_source}" if config.embedding_source else ""
    model.config.embedding_source = f"pretrained imdb-lstm model {source}{initial}"
    return model, tokenizer


def fine_tuning_config(model_args, data_args, pretrained: ImdbLstmConfig | None = None) -> ImdbLstmConfig:
    """The config of a classifier fine-tuned from `--model_name_or_path`: the pretrained model's (`pretrained`, read
    from it by default), changed by `--config_overrides` and by the flags given of the fields a fine-tuning run
    chooses (`RUN_CONFIG_FIELDS`); other architecture flags are ignored with a warning (the weights fix them; a
    recipe's `--vocab_size`, which sizes a new tokenizer, is only noted), an override that changes them is refused
    (`refuse_weight_shape_changes`), and `--config_name` is refused. `--ngram_order` is the flag's or the override's, else ImdbLstmConfig's default: a
    pretrained classifier's own n-gram branch is kept as loaded, not fitted again."""
    source = model_args.model_name_or_path
    if model_args.config_name:
        raise ConfigArgumentError(f"--config_name {model_args.config_name} with --model_name_or_path {source}: the "
                                  "config is the pretrained model's; change its fine-tuning fields with "
                                  "--config_overrides or their flags instead.")
    pretrained = pretrained if pretrained is not None else read_imdb_lstm_config(source)
    given = explicit_flags(model_args, data_args)
    if given.get("vocab_size", pretrained.vocab_size) != pretrained.vocab_size:
        # A recipe's --vocab_size sizes a new tokenizer; fine-tuning reads the pretrained one.
        logger.info("--model_name_or_path %s: the vocabulary is its tokenizer's (%d words); --vocab_size %d applies "
                    "to a new model only.", source, pretrained.vocab_size, given["vocab_size"])
    ignored = sorted(name for name, value in given.items() if name not in (*RUN_CONFIG_FIELDS, "ngram_order",
                                                                           "vocab_size")
                     and value != getattr(pretrained, name))
    if ignored:
        logger.warning("--model_name_or_path %s: the architecture is the pretrained model's; ignored: %s.", source,
                       ", ".join(f"--{name} {given[name]}" for name in ignored))
    config = model_config(model_args, {name: value for name, value in given.items() if name in RUN_CONFIG_FIELDS},
                          start=copy.deepcopy(pretrained))
    refuse_weight_shape_changes(source, pretrained, config, model_args.config_overrides)
    if model_args.ngram_order is None:
        overridden = "ngram_order" in override_keys(model_args.config_overrides)
        model_args.ngram_order = config.ngram_order if overridden else ImdbLstmConfig.ngram_order
    return config


def refuse_weight_shape_changes(source: str, pretrained: ImdbLstmConfig, config: ImdbLstmConfig,
                                overrides: str | None) -> None:
    """A `ConfigArgumentError` when `--config_overrides` changes a field that fixes the pretrained weights' shapes
    (`WEIGHT_SHAPE_FIELDS`): said before anything is loaded, instead of a shape mismatch inside from_pretrained."""
    changed = [name for name in WEIGHT_SHAPE_FIELDS if name in override_keys(overrides)
               and getattr(config, name) != getattr(pretrained, name)]
    if changed:
        changes = ", ".join(f"{name} {getattr(pretrained, name)!r} -> {getattr(config, name)!r}" for name in changed)
        raise ConfigArgumentError(
            f"--config_overrides changes the architecture of --model_name_or_path {source} ({changes}): its weights "
            "fix those fields. Drop them from --config_overrides to fine-tune the pretrained model, or drop "
            "--model_name_or_path to train a new model of that architecture.")


def read_imdb_lstm_config(source: str) -> ImdbLstmConfig:
    """The config of `source`, refused (`PretrainedModelError`) when there is none or it is another model type's."""
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError, KeyError) as error:
        raise PretrainedModelError(
            f"--model_name_or_path {source}: no model config could be read ({type(error).__name__}: {error}). Give "
            "the output folder of imdb-lstm-pretrain (or imdb-lstm-train), or the Hub repo id it was pushed to."
        ) from error
    if not isinstance(config, ImdbLstmConfig):
        found = getattr(config, "model_type", None) or type(config).__name__
        architectures = ", ".join(getattr(config, "architectures", None) or []) or "no recorded architecture"
        raise PretrainedModelError(
            f"--model_name_or_path {source} is a {found!r} model ({architectures}), not an imdb-lstm model "
            f"(model_type {ImdbLstmConfig.model_type!r}). Give the output folder or Hub repo of imdb-lstm-pretrain "
            "(or imdb-lstm-train); without --model_name_or_path the encoder starts from GloVe."
        )
    return config


def load_matching_tokenizer(source: str, config: ImdbLstmConfig):
    """The tokenizer saved with `source`, refused when it is missing or does not fit `config` (vocabulary, [PAD])."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise PretrainedModelError(f"--model_name_or_path {source}: its tokenizer could not be loaded ({error}); the "
                                   "folder needs the tokenizer.json saved with the model.") from error
    if len(tokenizer) != config.vocab_size or tokenizer.pad_token_id != config.pad_token_id:
        raise PretrainedModelError(
            f"--model_name_or_path {source}: the tokenizer ({len(tokenizer)} tokens, [PAD] = {tokenizer.pad_token_id}) "
            f"does not match the model (vocab_size {config.vocab_size}, pad_token_id {config.pad_token_id}): they "
            "were not saved together. Save the tokenizer used in pretraining next to the model."
        )
    return tokenizer


def check_word_vectors(glove: str, source: str, config: ImdbLstmConfig) -> None:
    """The embedding comes from the pretrained model: a vector file given as well (`--glove`) must at least fit it;
    it is not read."""
    if glove == DEFAULT_GLOVE:
        return
    dimension = load_glove(glove).vector_size
    if dimension != config.embedding_dim:
        raise PretrainedModelError(
            f"--glove {glove} holds {dimension}-dimensional vectors, but --model_name_or_path {source} "
            f"has a {config.embedding_dim}-dimensional embedding. Drop --glove (the pretrained embedding is "
            "used), or pretrain with these vectors (imdb-lstm-pretrain --glove ...)."
        )
    logger.warning("--glove %s is not read: the embedding comes from the pretrained model %s.", glove, source)


def head_width_changes(pretrained: ImdbLstmConfig, resolved: ImdbLstmConfig) -> bool:
    """Whether a pretrained classifier's head would read a pooled vector of another width (max_mean concatenates
    two poolings). A language model has no classification head: its classifier's head is new whatever the pooling."""
    is_classifier = any(name.endswith("ForSequenceClassification") for name in pretrained.architectures or ())
    return is_classifier and (pretrained.pooling == "max_mean") != (resolved.pooling == "max_mean")


def new_head_overrides(source: str, config: ImdbLstmConfig, label_fields: dict) -> dict:
    """`from_pretrained` overrides for the data's own labels (`label_fields`: id2label, label2id): a head of their
    number (mismatched sizes re-initialised), and no n-gram branch where they are not two."""
    num_labels = len(label_fields["id2label"])
    overrides = {**label_fields, "num_labels": num_labels, "ignore_mismatched_sizes": True}
    if getattr(config, "ngram_order", 0) and num_labels != 2:
        overrides["ngram_order"] = 0
        logger.info("--model_name_or_path %s has an n-gram branch (order %d), which is binary by nature: dropped "
                    "for the %d labels of this data.", source, config.ngram_order, num_labels)
    if config.num_labels != num_labels:
        logger.info("--model_name_or_path %s: its encoder is kept and a new head for %d labels %s is trained.",
                    source, num_labels, list(label_fields["id2label"].values()))
    return overrides
