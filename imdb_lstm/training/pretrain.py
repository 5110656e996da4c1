"""Pretraining: the encoder as a language model on unlabelled text, the way transformers' `run_clm.py` does it.

    imdb-lstm-pretrain configs/ssl_pretrain.json --dataset ../shared/data/imdb         # the recipe's language model
    imdb-lstm-pretrain --dataset ../shared/data/imdb --output_dir outputs/imdb-lm      # ImdbLstmConfig()'s, IMDB
    imdb-lstm-pretrain --dataset sample --output_dir outputs/demo-lm --max_steps 20    # offline, a minute
    imdb-lstm-pretrain --dataset my/corpus --dataset_splits train --streaming --max_steps 100000 ...
    imdb-lstm-pretrain configs/my_lm.json                                              # all arguments from JSON

Recipe: texts from any `datasets` source (by default IMDB's `train` + `unsupervised` splits; a split expression
that reads `test` is refused), less the validation and test reviews of `--exclude_dataset` (by default `--dataset`
itself when it is labelled, split as `imdb-lstm-train` splits it: `imdb_lstm.data.unlabelled_exclusion`; IMDB
repeats test reviews in `train` and `unsupervised`), so no review a classifier is selected or scored on is ever
read; their count is in `run_info.json` (`excluded_texts`) → a share held out for validation → word
tokenizer learnt on the pretraining texts (or reused with `--tokenizer_name`) → texts tokenised, joined and cut
into blocks of `block_size` tokens → `ImdbLstmForCausalLM` (embedding optionally from GloVe; a bidirectional
encoder trains a forward and a backward language model at once) → `Trainer`, validation perplexity at every
evaluation → model, tokenizer, `run_info.json`, results and a training-curve plot in `output_dir`, a folder that
`AutoModelForCausalLM` + `AutoTokenizer` load and `imdb-lstm-train --model_name_or_path` fine-tunes; the command
(`imdb_lstm.commands.pretrain`) then pushes it to the Hub with its own card if asked. `--streaming` reads the source as an `IterableDataset` (corpora larger than
memory; set `--max_steps`).
"""

import json
import logging
import math
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from datasets import Dataset, IterableDataset
from transformers import AutoTokenizer, Trainer, TrainerCallback, default_data_collator

from ..configuration_imdb_lstm import ImdbLstmConfig
from ..data import (EXCLUDE_AUTO, EXCLUDE_HELP, HUB_DATASET, DataError, Exclusion, load_unlabelled_texts, subsample,
                    unlabelled_exclusion)
from ..glove import DEFAULT_GLOVE, build_model
from ..modeling_imdb_lstm import ImdbLstmForCausalLM
from ..tokenization import build_tokenizer
from .common import CpuTrainingArguments, PreparedRun, parse_arguments, run_recipe
from .model_config import (RecurrentFlags, architecture_fields, checked, config_flag, explicit_flags, fill_in_flags,
                           model_config, run_config_record)

logger = logging.getLogger(__name__)


@dataclass
class LanguageModelArguments(RecurrentFlags):
    """The language model (see `ImdbLstmConfig` and `ImdbLstmForCausalLM`) and its initial word vectors. The
    architecture is the config's (`--config_name`, `--config_overrides`; see `imdb_lstm.training.model_config`):
    each flag below named like an `ImdbLstmConfig` field defaults to None, the config's value, and wins when given
    (`configs/ssl_pretrain.json` holds the recipe's values)."""

    glove: str | None = field(
        default=DEFAULT_GLOVE,
        metadata={"help": "initial word vectors (as imdb-lstm-train's --glove); 'none': random, --embedding_dim wide"},
    )
    embedding_dim: int | None = config_flag("width of random word vectors (with --glove none)")
    oov_init: str = field(default="random", metadata={"help": "vectors of words GloVe lacks: 'zero' or 'random'"})
    tokenizer_name: str | None = field(
        default=None,
        metadata={"help": "folder or Hub repo whose tokenizer to reuse; unset: learn one on the pretraining texts"},
    )
    lm_output: str | None = config_flag("output layer: 'adaptive' (adaptive softmax, fast; the recipe's) or 'tied' "
                                        "(full softmax through the embedding, the first version's)")
    lm_adaptive_cutoffs: list[int] | None = config_flag(
        "adaptive softmax cluster bounds (word ids, frequency order); the config's are kept where they lie below "
        "the vocabulary size (one cluster at half of it where none does)")
    lm_adaptive_div_value: float | None = config_flag("each cluster's projection is this much narrower")


@dataclass
class PretrainingDataArguments:
    """Where the unlabelled texts come from and how they become blocks."""

    dataset: str = field(
        default=HUB_DATASET,
        metadata={"help": "a `datasets` source (Hub id, local folder, a loader name such as 'text' with "
                  "--data_files) or 'sample' (the shipped IMDB sample: its train and unsupervised reviews)"},
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "the source's configuration name"})
    data_files: list[str] | None = field(default=None, metadata={"help": "files for loaders such as 'text' or 'json'"})
    dataset_splits: str = field(
        default="train,unsupervised",
        metadata={"help": "comma-separated split expressions to pretrain on; any that reads 'test' is refused"},
    )
    text_column: str = field(default="text", metadata={"help": "the column holding the texts"})
    exclude_dataset: str = field(default=EXCLUDE_AUTO, metadata={"help": EXCLUDE_HELP["exclude_dataset"]})
    exclude_split_protocol: str = field(default="canonical", metadata={"help": EXCLUDE_HELP["exclude_split_protocol"]})
    exclude_validation_fraction: float = field(default=0.1,
                                               metadata={"help": EXCLUDE_HELP["exclude_validation_fraction"]})
    exclude_split_seed: int = field(default=42, metadata={"help": EXCLUDE_HELP["exclude_split_seed"]})
    streaming: bool = field(default=False, metadata={"help": "read the source as a stream (needs --max_steps)"})
    validation_fraction: float = field(
        default=0.02, metadata={"help": "share of the texts held out to measure perplexity"}
    )
    max_validation_texts: int = field(
        default=2000, metadata={"help": "at most this many validation texts (the first ones of a stream)"}
    )
    split_seed: int = field(default=42)
    block_size: int = field(default=128, metadata={"help": "tokens per training block (backpropagation length)"})
    vocab_size: int | None = config_flag("largest vocabulary (special tokens included), the config's vocab_size")
    truncation_side: str | None = config_flag("the end a call with truncation=True cuts from a long text, saved "
                                              "with the tokenizer (a classifier fine-tuned from it sets its own)")
    min_frequency: int = field(default=2, metadata={"help": "rarer words become [UNK]"})
    max_train_texts: int | None = field(default=None, metadata={"help": "use only this many pretraining texts"})
    max_tokenizer_texts: int | None = field(
        default=None, metadata={"help": "learn the vocabulary from at most this many texts (useful when streaming)"}
    )


@dataclass
class PretrainingArguments(CpuTrainingArguments):
    """`TrainingArguments` with defaults for language-model pretraining on a CPU."""

    output_dir: str = field(default="outputs/imdb-lm")
    learning_rate: float = field(default=2e-3)
    num_train_epochs: float = field(default=1.0)
    per_device_train_batch_size: int = field(default=32)
    per_device_eval_batch_size: int = field(default=64)
    lr_scheduler_type: str = field(default="linear")
    warmup_steps: float = field(default=0.02)
    max_grad_norm: float = field(default=0.5)
    eval_strategy: str = field(default="epoch")
    save_strategy: str = field(default="epoch")
    save_total_limit: int | None = field(default=2)
    logging_steps: float = field(default=50)
    prediction_loss_only: bool = field(default=True)
    seed: int = field(default=42)


class LanguageModelTrainer(Trainer):
    """`Trainer` that logs `eval_perplexity` = exp(`eval_loss`) with every evaluation."""

    def log(self, logs: dict, *args, **kwargs) -> None:
        if "eval_loss" in logs:
            logs["eval_perplexity"] = perplexity(logs["eval_loss"])
        super().log(logs, *args, **kwargs)


class RecordTexts(TrainerCallback):
    """Adds `record` (the pretraining texts: how many were read, how many left out and from which dataset) to
    `run_info.json` when training starts: `run_recipe` writes that file between the recipe's preparation and
    training, so the record is there before the first step, whatever happens after."""

    def __init__(self, record: dict):
        self.record = record

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        path = Path(args.output_dir) / "run_info.json"
        information = json.loads(path.read_text()) if path.is_file() else {}
        path.write_text(json.dumps({**information, **self.record}, indent=2, default=str))


def perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


def parse_args(argv=None) -> tuple[LanguageModelArguments, PretrainingDataArguments, PretrainingArguments]:
    return parse_arguments((LanguageModelArguments, PretrainingDataArguments, PretrainingArguments), argv)


def dataset_split_names(data_args: PretrainingDataArguments) -> list[str]:
    return [name.strip() for name in data_args.dataset_splits.split(",") if name.strip()]


def pretraining_exclusion(data_args: PretrainingDataArguments) -> Exclusion:
    """The texts pretraining leaves out: the validation and test reviews `--exclude_dataset` names (see
    `imdb_lstm.data.unlabelled_exclusion`), after the split expressions are checked."""
    return unlabelled_exclusion(data_args.dataset, dataset_split_names(data_args), data_args.exclude_dataset,
                                data_args.exclude_split_protocol, data_args.exclude_validation_fraction,
                                data_args.exclude_split_seed, use="pretraining")


def load_text_source(data_args: PretrainingDataArguments,
                     exclusion: Exclusion | None = None) -> Dataset | IterableDataset:
    """The pretraining texts `data_args` names (see `imdb_lstm.data.load_unlabelled_texts`), less those of
    `exclusion` (by default `pretraining_exclusion(data_args)`)."""
    if exclusion is None:
        exclusion = pretraining_exclusion(data_args)
    return load_unlabelled_texts(data_args.dataset, dataset_split_names(data_args), text_column=data_args.text_column,
                                 config_name=data_args.dataset_config_name, data_files=data_args.data_files,
                                 streaming=data_args.streaming, excluded_texts=exclusion.texts)


def train_validation_texts(texts, data_args: PretrainingDataArguments):
    """(training texts, validation texts): a seeded random share held out (the first texts of a stream)."""
    if isinstance(texts, IterableDataset):
        held_out = data_args.max_validation_texts
        train, validation = texts.skip(held_out), texts.take(held_out)
        if data_args.max_train_texts is not None:
            train = train.take(data_args.max_train_texts)
        return train, validation
    if data_args.max_train_texts is not None:
        texts = subsample(texts, data_args.max_train_texts, data_args.split_seed)
    if len(texts) < 2:
        raise DataError(f"Only {len(texts)} text in {data_args.dataset!r}: pretraining needs more.")
    count = min(max(1, round(data_args.validation_fraction * len(texts))), data_args.max_validation_texts)
    parts = texts.train_test_split(test_size=count, seed=data_args.split_seed)
    return parts["train"], parts["test"]


def texts_for_vocabulary(train_texts, limit: int | None):
    """The training texts (none of the validation ones), as an iterator for the tokenizer trainer."""
    source = train_texts.take(limit) if limit is not None else train_texts
    if isinstance(source, Dataset):
        for start in range(0, len(source), 1000):
            yield from source[start : start + 1000]["text"]
    else:
        for row in source:
            yield row["text"]


def make_blocks(texts, tokenizer, block_size: int):
    """Texts tokenised, joined and cut into blocks of `block_size` token ids (the remainder of each batch of
    texts is dropped), with `labels` = `input_ids` (the model shifts them)."""
    if block_size < 2:
        raise ValueError(f"block_size={block_size} must be at least 2 tokens (a word and the one it predicts).")

    def tokenize(batch):
        return {"input_ids": tokenizer(batch["text"], add_special_tokens=False)["input_ids"]}

    def group(batch):
        joined = list(chain.from_iterable(batch["input_ids"]))
        usable = len(joined) // block_size * block_size
        blocks = [joined[start : start + block_size] for start in range(0, usable, block_size)]
        return {"input_ids": blocks, "attention_mask": [[1] * block_size for _ in blocks], "labels": [list(b) for b in blocks]}

    map_kwargs = {} if isinstance(texts, IterableDataset) else {"desc": "Tokenising"}
    tokenized = texts.map(tokenize, batched=True, remove_columns=["text"], **map_kwargs)
    if not isinstance(texts, IterableDataset):
        map_kwargs["desc"] = f"Cutting into blocks of {block_size}"
    return tokenized.map(group, batched=True, batch_size=1000, **map_kwargs)


def adaptive_cutoffs(requested: list[int] | None, vocab_size: int, configured=None) -> list[int]:
    """The adaptive softmax's cluster bounds: those requested, or those of the config (`configured`, by default
    ImdbLstmConfig's: the 2,000 most frequent words, about 85 % of IMDB's tokens, then 8,000, then the rest) that lie
    inside this vocabulary (a small one, such as the shipped sample's, keeps one cluster at half its size)."""
    if requested:
        return list(requested)
    configured = ImdbLstmConfig.lm_adaptive_cutoffs if configured is None else configured
    cutoffs = [cutoff for cutoff in configured if cutoff < vocab_size - 1]
    return cutoffs or [max(1, vocab_size // 2)]


def language_model_config(model_args: LanguageModelArguments, data_args: PretrainingDataArguments | None = None,
                          vocab_size: int | None = None) -> ImdbLstmConfig:
    """The language model's config (see `imdb_lstm.training.model_config`), its adaptive softmax's cluster bounds
    kept inside the vocabulary (`vocab_size`, by default the largest the config allows) unless given."""
    groups = (model_args,) if data_args is None else (model_args, data_args)
    config = model_config(model_args, explicit_flags(*groups), check=False)
    config.lm_adaptive_cutoffs = adaptive_cutoffs(model_args.lm_adaptive_cutoffs, vocab_size or config.vocab_size,
                                                  config.lm_adaptive_cutoffs)
    return checked(config)


def build_language_model(model_args: LanguageModelArguments, tokenizer, seed: int,
                         config: ImdbLstmConfig | None = None) -> ImdbLstmForCausalLM:
    """A fresh language model for `tokenizer` of `config` (by default `language_model_config(model_args)`), its
    embedding from `--glove` (random, `embedding_dim` wide, with 'none')."""
    config = config if config is not None else language_model_config(model_args, vocab_size=len(tokenizer))
    config.lm_adaptive_cutoffs = adaptive_cutoffs(model_args.lm_adaptive_cutoffs, len(tokenizer),
                                                  config.lm_adaptive_cutoffs)
    config_fields = architecture_fields(config, model_args)
    if model_args.glove and model_args.glove.lower() != "none":
        model = build_model(tokenizer, glove_source=model_args.glove, oov=model_args.oov_init, seed=seed,
                            model_class=ImdbLstmForCausalLM, **config_fields)
    else:
        model = ImdbLstmForCausalLM(ImdbLstmConfig(
            vocab_size=len(tokenizer), embedding_dim=config.embedding_dim, pad_token_id=tokenizer.pad_token_id,
            truncation_side=tokenizer.truncation_side, **config_fields))
    # A language model reads texts of any length; the fine-tuning run sets the classifier's maximum.
    model.config.model_max_length = None
    return model


def load_reused_tokenizer(name: str):
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise DataError(f"--tokenizer_name {name}: no tokenizer could be loaded ({error}).") from error
    if tokenizer.pad_token_id is None:
        raise DataError(f"--tokenizer_name {name}: the tokenizer has no padding token; reuse an imdb-lstm tokenizer.")
    return tokenizer


def pretraining_tokenizer(model_args: LanguageModelArguments, data_args: PretrainingDataArguments,
                          config: ImdbLstmConfig, train_texts):
    """`--tokenizer_name`'s tokenizer, or one learnt on the training texts with the config's vocabulary size and
    truncation side."""
    if model_args.tokenizer_name:
        return load_reused_tokenizer(model_args.tokenizer_name)
    try:
        return build_tokenizer(texts_for_vocabulary(train_texts, data_args.max_tokenizer_texts),
                               vocab_size=config.vocab_size, min_frequency=data_args.min_frequency,
                               model_max_length=data_args.block_size, truncation_side=config.truncation_side)
    except ValueError as error:  # no word at all: empty texts
        raise DataError(f"The pretraining texts of {data_args.dataset!r} yield no vocabulary ({error}); are "
                        f"they empty? Check --text_column ({data_args.text_column!r}).") from error


def run(model_args: LanguageModelArguments, data_args: PretrainingDataArguments,
        training_args: PretrainingArguments) -> dict:
    """Pretrain; write the model, tokenizer, results, run_info.json (with the texts read and left out) and the
    curve to `output_dir`."""
    return run_recipe(lambda output_dir: prepare_pretraining(model_args, data_args, training_args),
                      {"model": model_args, "data": data_args}, training_args)


def prepare_pretraining(model_args: LanguageModelArguments, data_args: PretrainingDataArguments,
                        training_args: PretrainingArguments) -> PreparedRun:
    """The pretraining recipe's part of `run` (see `imdb_lstm.training.common.run_recipe`): texts, tokenizer,
    blocks, language model and Trainer; after training, the tokens seen and the validation perplexity."""
    if data_args.streaming and training_args.max_steps <= 0:
        raise DataError("--streaming reads a source of unknown length: give --max_steps (training steps to run).")

    config = language_model_config(model_args, data_args)
    exclusion = pretraining_exclusion(data_args)
    texts = load_text_source(data_args, exclusion)
    texts_record = {"pretraining_texts": None if data_args.streaming else len(texts),
                    "excluded_texts": exclusion.count, "excluded_from": exclusion.source}
    train_texts, validation_texts = train_validation_texts(texts, data_args)
    tokenizer = pretraining_tokenizer(model_args, data_args, config, train_texts)
    model = build_language_model(model_args, tokenizer, training_args.seed, config)
    fill_in_flags(config, model_args, data_args)  # the values used, for run_info.json
    train_blocks = make_blocks(train_texts, tokenizer, data_args.block_size)
    validation_blocks = make_blocks(validation_texts, tokenizer, data_args.block_size)
    if not data_args.streaming:
        if len(train_blocks) == 0:
            raise DataError(f"The pretraining texts of {data_args.dataset!r} hold fewer than block_size="
                            f"{data_args.block_size} tokens: give more text or a smaller --block_size.")
        if len(validation_blocks) == 0:
            raise DataError(f"The validation texts hold fewer than block_size={data_args.block_size} tokens: raise "
                            "--validation_fraction or lower --block_size.")
        logger.info("Pretraining on %d blocks of %d tokens (%d validation blocks)", len(train_blocks),
                    data_args.block_size, len(validation_blocks))
    logger.info("Language model: %s, %d parameters, vocabulary %d words", model.config.cell,
                sum(p.numel() for p in model.parameters()), len(tokenizer))

    trainer = LanguageModelTrainer(
        model=model,
        args=training_args,
        train_dataset=train_blocks,
        eval_dataset=validation_blocks,
        processing_class=tokenizer,
        data_collator=default_data_collator,
    )
    tokens_per_step = training_args.per_device_train_batch_size * data_args.block_size
    trainer.add_callback(RecordTexts(texts_record))

    def evaluate(metrics: dict) -> dict:
        tokens_seen = trainer.state.global_step * tokens_per_step * training_args.gradient_accumulation_steps * max(
            1, training_args.world_size)
        metrics["train_tokens"] = tokens_seen
        trainer.save_metrics("train", metrics)

        results = trainer.evaluate(metric_key_prefix="eval")
        results["eval_perplexity"] = perplexity(results["eval_loss"])
        trainer.save_metrics("eval", results)
        return {**results, "train_tokens": tokens_seen, **texts_record}

    return PreparedRun(trainer, evaluate, record=run_config_record(config))


def main(argv=None) -> dict:
    """Parse `argv` and `run` (the push, with `--push_to_hub`, is the command's: `imdb_lstm.commands.pretrain`)."""
    return run(*parse_args(argv))
