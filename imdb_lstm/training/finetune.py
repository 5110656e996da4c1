"""The fine-tuning recipe (`imdb-lstm-train`, `scripts/train.py`: `imdb_lstm.commands.train`), in the shape of
transformers' `run_classification.py`: argument dataclasses parsed by `HfArgumentParser`, then `run`, whose
`prepare_fine_tuning` reads as the recipe: `load_splits` → `load_model_and_tokenizer` → `tokenize_splits` →
`prepare_perturbation_training` → distillation's transfer set → `FineTuningTrainer` → (train and save) →
`evaluate_and_predict`. What it shares with pretraining (argument parsing, checkpoints, `run_info.json`, the run
skeleton) is in `imdb_lstm.training.common`.

Recipe: IMDB (`datasets`) → split protocol → word tokenizer learnt on the train split (or taken from
`--model_name_or_path`) → model with a GloVe-initialised embedding, or the encoder of a pretrained language model
(`--model_name_or_path`, a folder or Hub repo: `imdb_lstm.training.pretrained`) → Trainer (length-grouped batches,
dynamic padding, evaluation every epoch, best validation checkpoint kept: `imdb_lstm.training.trainer`) → test
split scored once → model, tokenizer, results JSON, predictions and plots in `output_dir`
(`imdb_lstm.training.scoring`); the command then pushes to the Hub with a rendered model card if asked. Optional
terms on the embeddings (`--adversarial_epsilon`, `--vat_epsilon` with unlabelled reviews,
`--normalize_embeddings`): `imdb_lstm.training.adversarial`; distillation from teachers (`--teacher_model`, with
which VAT runs on the transfer batches): `imdb_lstm.training.distill`; a moving average of the weights
(`--ema_decay`), evaluated and saved: `imdb_lstm.training.averaging`. Validation and test are scored in float32,
whatever `--bf16` and the model's `inference_dtype`.

    imdb-lstm-train configs/imdb_bilstm.json --dataset ../shared/data/imdb           # the supervised recipe
    imdb-lstm-train configs/imdb_bilstm.json --config_overrides "hidden_size=256,cell=gru"   # its config changed
    imdb-lstm-train --dataset sample --output_dir outputs/demo --num_train_epochs 3  # ImdbLstmConfig(), offline
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from transformers import DataCollatorWithPadding

from ..data import HUB_DATASET, DataError, load_labelled, make_splits, subsample
from ..labelled_data import MULTI_LABEL, REGRESSION, parse_data_files
from ..glove import DEFAULT_GLOVE, build_model
from ..metrics import choose_multilabel_threshold, metrics_for, multiclass_metrics
from ..tokenization import build_tokenizer
from .adversarial import AdversarialArguments, load_vat_reviews, normalize_for_training
from .common import CpuTrainingArguments, PreparedRun, parse_arguments, run_recipe
from .distill import DistillationArguments, prepare_distillation
from .model_config import (RecurrentFlags, architecture_fields, config_flag, explicit_flags, fill_in_flags,
                           model_config, run_config_record)
from .pretrained import PretrainedModelError, fine_tuning_config, load_pretrained_for_classification
from .scoring import add_ngram_branch, predictions_in_dataset_order, write_test_outputs
from .teachers import check_split_protocol, split_protocol_of
from .trainer import EncoderUnfreezing, FineTuningTrainer

__all__ = [
    "DataArguments", "ImdbTrainingArguments", "ModelArguments",
    "choose_best_model_metric", "choose_labels", "evaluate_and_predict", "load_model_and_tokenizer", "load_splits", "main", "parse_args",
    "prepare_fine_tuning", "prepare_perturbation_training", "refuse_binary_only_parts", "resolve_model_config", "run",
    "tokenize_splits",
    # Defined in the modules imported above; the commands and tests import them from here too.
    "FineTuningTrainer", "PretrainedModelError", "load_pretrained_for_classification",
]

logger = logging.getLogger(__name__)

@dataclass
class ModelArguments(RecurrentFlags):
    """The network and its initial word vectors, or the pretrained model it starts from. The architecture is the
    config's (`--config_name`, `--config_overrides`; see `imdb_lstm.training.model_config`): each flag below named
    like an `ImdbLstmConfig` field defaults to None, the config's value, and wins over it when given."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "folder or Hub repo of a pretrained imdb-lstm model (imdb-lstm-pretrain's output): its "
                  "tokenizer, encoder and config are used, only the classification head is new, and the "
                  "architecture flags below are ignored (pooling, dropouts, freeze_embedding, --max_length and "
                  "--truncation_side still apply); unset: a fresh model over GloVe"},
    )

    num_labels: int | None = field(
        default=None,
        metadata={"help": "classes of the data's label column; unset: taken from the training split (its distinct "
                  "labels; for integer class ids, the largest id + 1). With --model_name_or_path a classifier of "
                  "another number of labels gets a new head (its encoder kept)"},
    )
    problem_type: str | None = field(
        default=None,
        metadata={"help": "what the labels are, as transformers' problem_type: 'single_label_classification' (one "
                  "class per text; unset means this), 'multi_label_classification' (any number of labels per text: "
                  "a column of label lists, or several 0/1 --label_columns; sigmoid outputs, the decision threshold "
                  "chosen on validation) or 'regression' (a float target per text, or one per --label_columns)"},
    )
    encoder: str | None = config_flag("'rnn' (see --cell) or 'cnn' (Kim 2014)")
    pooling: str | None = config_flag("'last', 'max', 'mean' or 'max_mean'")
    cnn_kernel_sizes: list[int] | None = config_flag("the CNN's filter widths")
    cnn_num_filters: int | None = config_flag("the CNN's filters per width")
    freeze_embedding: bool | None = config_flag("keep the GloVe vectors fixed")
    glove: str = field(
        default=DEFAULT_GLOVE,
        metadata={"help": "gensim-data name (e.g. glove-wiki-gigaword-100) or a local vector file; default offline"},
    )
    oov_init: str = field(default="random", metadata={"help": "vectors of words GloVe lacks: 'zero' or 'random'"})
    ngram_order: int | None = config_flag(
        "after training, add an n-gram branch: NB-weighted logistic regression over 1..N-grams of the token ids, "
        "fitted on the training reviews, its share in the joined log-odds chosen on validation (0: none; see "
        "imdb_lstm.ngrams; with --model_name_or_path only when given here or in --config_overrides)")
    ngram_min_count: int = field(default=2, metadata={"help": "n-grams found in fewer training reviews are dropped"})
    ngram_c: list[float] = field(
        default_factory=lambda: [0.1, 0.3, 1.0],
        metadata={"help": "inverse regularisation strengths of the n-gram regression; several: chosen on validation"},
    )


@dataclass
class DataArguments:
    """Where IMDB (or other labelled texts) comes from, how it is split and tokenised."""

    dataset: str = field(
        default=HUB_DATASET,
        metadata={"help": "Hub id, local Hub-layout folder (../shared/data/imdb), aclImdb folder, 'sample', a folder "
                  "with train.csv and test.csv, or a loader name (csv, parquet, json) with --data_files"},
    )
    data_files: list[str] | None = field(
        default=None,
        metadata={"help": "with a loader name as --dataset: the files as SPLIT=PATH, e.g. train=train.csv test=test.csv"},
    )
    text_column: str = field(default="text", metadata={"help": "the column holding the texts"})
    label_column: str = field(
        default="label",
        metadata={"help": "the column holding the labels: names (strings; ids in sorted order, the names become "
                  "id2label) or ids (integers 0..num_labels-1)"},
    )
    label_columns: list[str] | None = field(
        default=None,
        metadata={"help": "several label columns instead of --label_column: multi-label, one 0/1 column per label "
                  "(its name is the label's); regression, one float target per column"},
    )
    label_separator: str = field(
        default=",",
        metadata={"help": "multi-label from one column of strings: the separator between a row's label names"},
    )
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "the data's name as the model card shows it (and its `datasets` metadata, e.g. a Hub id); "
                  "unset: the card names the files it was read from. `imdb-lstm-push --dataset_name` overrides it"},
    )
    dataset_description: str | None = field(
        default=None,
        metadata={"help": "a few sentences on the data for the model card: where the texts come from, who labelled "
                  "them and how; unset: the card asks for them. `imdb-lstm-push --dataset_description` overrides it"},
    )
    split_protocol: str = field(
        default="canonical", metadata={"help": "'canonical' (IMDB train/test) or train/validation/test %%, e.g. 50/25/25"}
    )
    validation_fraction: float = field(default=0.1, metadata={"help": "canonical protocol: share of train held out"})
    split_seed: int = field(default=42)
    vocab_size: int | None = config_flag("largest vocabulary (special tokens included), the config's vocab_size")
    min_frequency: int = field(default=2, metadata={"help": "words seen fewer times in train become [UNK]"})
    max_length: int | None = config_flag("tokens kept per review (see --truncation_side), the config's "
                                         "model_max_length (None: whole reviews)")
    truncation_side: str | None = config_flag(
        "which part of a longer review is kept: 'left' cuts the front (keeps the ending), 'right' cuts the end "
        "(keeps the beginning); saved with the tokenizer and the config, so inference cuts the same way")
    max_train_samples: int | None = field(default=None, metadata={"help": "use only this many training reviews"})
    max_eval_samples: int | None = field(default=None, metadata={"help": "use only this many validation/test reviews"})


@dataclass
class ImdbTrainingArguments(AdversarialArguments, DistillationArguments, CpuTrainingArguments):
    """`TrainingArguments` with the shipped recipe's defaults (see BENCHMARKS.md for how they were chosen) and
    `FineTuningTrainer`'s options (discriminative learning rates, gradual unfreezing, the moving average of the
    weights), gathering the optional terms' own dataclasses, each checking itself: `AdversarialArguments`
    (`--adversarial_epsilon`, `--vat_*`, `--normalize_embeddings`) and `DistillationArguments` (`--teacher_model`,
    `--distill_*`). Gathered, they are one group on the command line, so that `parse_args` gives the three groups of
    transformers' examples and run_info.json records every training option under "training"."""

    output_dir: str = field(default="outputs/imdb-bilstm")
    learning_rate: float = field(default=2e-3)
    weight_decay: float = field(default=0.0)
    num_train_epochs: float = field(default=5.0)
    per_device_train_batch_size: int = field(default=64)
    per_device_eval_batch_size: int = field(default=256)
    lr_scheduler_type: str = field(default="linear")
    warmup_steps: float = field(default=0.05)
    max_grad_norm: float = field(default=1.0)
    train_sampling_strategy: str = field(default="group_by_length")
    eval_strategy: str = field(default="epoch")
    save_strategy: str = field(default="epoch")
    save_total_limit: int | None = field(default=2)
    load_best_model_at_end: bool = field(default=True)
    metric_for_best_model: str | None = field(default="accuracy")
    logging_steps: float = field(default=50)
    seed: int = field(default=42)
    do_predict: bool = field(default=True, metadata={"help": "score the test split at the end (false while tuning)"})
    encoder_learning_rate_factor: float = field(
        default=1.0,
        metadata={"help": "learning rate of the base model (embedding and encoder) as a multiple of --learning_rate, "
                  "the head keeping --learning_rate (discriminative rates, as ULMFiT: below 1 fine-tunes a "
                  "pretrained encoder more gently than the new head)"},
    )
    encoder_frozen_epochs: float = field(
        default=0.0,
        metadata={"help": "train only the classification head for this many epochs, then the whole model "
                  "(gradual unfreezing, as ULMFiT; single-process training)"},
    )
    ema_decay: float = field(
        default=0.0,
        metadata={"help": "keep an exponential moving average of the trainable weights with this decay, updated after "
                  "every optimiser step (bias-corrected over the first steps), and evaluate, checkpoint and save the "
                  "averaged model, training on from the raw weights (Miyato et al.: 0.999; 0: off)"},
    )

    def __post_init__(self):
        if isinstance(self.ema_decay, bool) or not isinstance(self.ema_decay, (int, float)) \
                or not 0 <= self.ema_decay < 1:
            raise ValueError(f"--ema_decay={self.ema_decay} must be in [0, 1): the weight of the average at each "
                             "step (Miyato et al. use 0.999; 0 switches averaging off).")
        if isinstance(self.encoder_learning_rate_factor, bool) or not self.encoder_learning_rate_factor > 0:
            raise ValueError(f"--encoder_learning_rate_factor={self.encoder_learning_rate_factor} must be a positive "
                             "number (1: one learning rate for the whole model).")
        if not self.encoder_frozen_epochs >= 0:
            raise ValueError(f"--encoder_frozen_epochs={self.encoder_frozen_epochs} must be 0 or more epochs.")
        super().__post_init__()  # AdversarialArguments', DistillationArguments', then TrainingArguments' own checks
        if self.vat_epsilon > 0 and self.teacher_model:
            # Distilling, VAT reads the transfer batches: the options of its own stream would be read by nothing.
            self.refuse_vat_stream_options()


def parse_args(argv=None) -> tuple[ModelArguments, DataArguments, ImdbTrainingArguments]:
    return parse_arguments((ModelArguments, DataArguments, ImdbTrainingArguments), argv)


def main(argv=None) -> dict:
    """Parse `argv` and `run`: train, evaluate, save (the push, with `--push_to_hub`, is the command's:
    `imdb_lstm.commands.train.main`)."""
    return run(*parse_args(argv))


def run(model_args: ModelArguments, data_args: DataArguments, training_args: ImdbTrainingArguments) -> dict:
    """Train, evaluate on validation, score the test split once; write everything to `output_dir`."""
    return run_recipe(lambda output_dir: prepare_fine_tuning(model_args, data_args, training_args, output_dir),
                      {"model": model_args, "data": data_args}, training_args)


def prepare_fine_tuning(model_args: ModelArguments, data_args: DataArguments, training_args: ImdbTrainingArguments,
                        output_dir: Path) -> PreparedRun:
    """The fine-tuning recipe's part of `run` (see `imdb_lstm.training.common.run_recipe`), step by step: splits,
    model and tokenizer, tokenised splits, what the embedding terms and distillation need, the Trainer; after
    training (`evaluate_and_predict`), the n-gram branch, validation, the test split scored once and its
    predictions."""
    config = resolve_model_config(model_args, data_args)
    splits, label_fields = load_splits(model_args, data_args, training_args)
    model, tokenizer = load_model_and_tokenizer(model_args, data_args, training_args, splits["train"], label_fields,
                                                config)
    tokenized = tokenize_splits(splits, tokenizer, data_args.max_length)
    unlabelled = prepare_perturbation_training(model, tokenizer, splits, tokenized, model_args, data_args,
                                               training_args)
    train_dataset, train_metrics = tokenized["train"], {}
    if training_args.teacher_model:
        train_dataset, teachers = prepare_distillation(model, tokenizer, splits, tokenized, data_args, training_args)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "teachers.json").write_text(json.dumps(teachers, indent=2))
        train_metrics = {key: value for key, value in teachers.items() if isinstance(value, float)}
    trainer = FineTuningTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=tokenized["validation"] if "validation" in tokenized else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=metrics_for(model.config),
        callbacks=[EncoderUnfreezing(training_args.encoder_frozen_epochs)] if training_args.encoder_frozen_epochs else None,
        unlabelled_dataset=unlabelled,
    )
    return PreparedRun(
        trainer,
        lambda train_metrics: evaluate_and_predict(trainer, splits, tokenized, model_args, training_args, output_dir),
        train_metrics={"train_samples": len(train_dataset), **train_metrics},
        # The split sizes for the model card, which reads them from run_info.json.
        record={**run_config_record(config), "splits": {name: len(split) for name, split in splits.items()}},
    )


def resolve_model_config(model_args: ModelArguments, data_args: DataArguments):
    """The run's model config (see `imdb_lstm.training.model_config`): `--config_name`'s (ImdbLstmConfig's
    defaults without it) or, with `--model_name_or_path`, the pretrained model's (`pretrained.fine_tuning_config`),
    changed by `--config_overrides` and the flags given; every unset flag named like a config field is then set to
    the config's value, so the run and its run_info.json see what it used."""
    if model_args.model_name_or_path:
        config = fine_tuning_config(model_args, data_args)
    else:
        config = model_config(model_args, explicit_flags(model_args, data_args))
    fill_in_flags(config, model_args, data_args)
    return config


def load_splits(model_args: ModelArguments, data_args: DataArguments, training_args: ImdbTrainingArguments):
    """The labelled data cut into the split protocol's splits (subsampled as asked) and the config's label fields
    (see `choose_labels`). Refused first, before anything is tokenised or built: the binary-only parts for other
    label sets, and a teacher of another split protocol. Without a validation split the per-epoch evaluation is
    switched off (the last epoch is kept)."""
    problem_type = model_args.problem_type
    raw, label_names = load_labelled(data_args.dataset, data_args.text_column, data_args.label_column,
                                     parse_data_files(data_args.data_files), problem_type=problem_type,
                                     label_columns=data_args.label_columns, label_separator=data_args.label_separator)
    label_fields = choose_labels(label_names, model_args.num_labels, problem_type, raw["train"]["label"],
                                 data_args.label_column)
    num_labels = len(label_fields["id2label"]) if label_fields else 2
    refuse_binary_only_parts(num_labels, model_args, training_args, problem_type)
    choose_best_model_metric(training_args, problem_type)
    for teacher in training_args.teacher_model or ():
        check_split_protocol(teacher, split_protocol_of(data_args), warn_unrecorded=False)
    splits = make_splits(raw, data_args.split_protocol, data_args.validation_fraction, data_args.split_seed,
                         num_labels=num_labels, problem_type=problem_type)
    splits["train"] = subsample(splits["train"], data_args.max_train_samples, data_args.split_seed)
    for name in ("validation", "test"):
        if name in splits:
            splits[name] = subsample(splits[name], data_args.max_eval_samples, data_args.split_seed)
    logger.info("Splits: %s", {name: len(split) for name, split in splits.items()})
    if "validation" not in splits and training_args.eval_strategy != "no":
        logger.info("No validation split under protocol %s: no per-epoch evaluation, last epoch kept.", data_args.split_protocol)
        training_args.eval_strategy = "no"
        training_args.load_best_model_at_end = False
    return splits, label_fields


def choose_labels(label_names: list[str] | None, num_labels: int | None, problem_type: str | None = None,
                  train_labels=(), label_column: str = "label") -> dict:
    """The config's label fields for the data: {} for IMDB's two integer labels (the config names them NEGATIVE and
    POSITIVE), else id2label and label2id from the data's label names, or LABEL_0.. for integer class ids (as many
    as `num_labels`, else the largest id of `train_labels` + 1), with `problem_type` when one is given (a
    regression of one target is named after its `label_column`)."""
    if problem_type == REGRESSION:
        names = label_names or [label_column]
        if num_labels is not None and num_labels != len(names):
            raise DataError(f"--num_labels {num_labels} with --problem_type regression of {len(names)} target(s) "
                            f"{names}: drop --num_labels (it is the number of target columns).")
        id2label = dict(enumerate(names))
    elif label_names is not None:
        if num_labels is not None and num_labels != len(label_names):
            raise DataError(f"--num_labels {num_labels}, but the label column has {len(label_names)} distinct labels "
                            f"{label_names}; drop --num_labels (it is taken from the data) or fix the labels.")
        if len(label_names) < 2 and problem_type != MULTI_LABEL:
            raise DataError(f"The label column has a single label {label_names}: a classifier needs at least two.")
        id2label = dict(enumerate(label_names))
    else:
        ids = sorted(set(np.asarray(train_labels).tolist())) if len(train_labels) else [0, 1]
        inferred = ids[-1] + 1
        if num_labels is not None and num_labels < inferred:
            raise DataError(f"--num_labels {num_labels}, but the training labels go up to {inferred - 1}: give "
                            f"--num_labels {inferred} or more, or drop it (it is taken from the data).")
        if num_labels is None and ids != list(range(inferred)):
            raise DataError(f"The integer labels of training are {ids[:20]}: class ids 0..N-1 with none missing. "
                            f"Give --num_labels {inferred} if a class has no training rows, or renumber the labels.")
        num_labels = num_labels or inferred
        if num_labels == 2 and problem_type is None:
            return {}
        if num_labels < 2:
            raise DataError(f"--num_labels {num_labels}: a classifier needs at least two labels.")
        id2label = {i: f"LABEL_{i}" for i in range(num_labels)}
    fields = {"id2label": id2label, "label2id": {name: i for i, name in id2label.items()}}
    return {**fields, "problem_type": problem_type} if problem_type else fields


def refuse_binary_only_parts(num_labels: int, model_args: ModelArguments, training_args: ImdbTrainingArguments,
                             problem_type: str | None = None) -> None:
    """The n-gram branch and distillation score NEGATIVE against POSITIVE, and VAT compares softmax distributions:
    refuse what does not fit the labels before anything is trained."""
    kind = f"--problem_type {problem_type}" if problem_type in (MULTI_LABEL, REGRESSION) else f"{num_labels} labels"
    if problem_type in (MULTI_LABEL, REGRESSION) and training_args.vat_epsilon > 0:
        raise DataError(f"--vat_epsilon with {kind}: VAT compares the model's softmax distributions over classes, "
                        "which a multi-label or regression model has not; drop --vat_epsilon (--adversarial_epsilon "
                        "perturbs any loss).")
    if num_labels == 2 and problem_type not in (MULTI_LABEL, REGRESSION):
        return
    if model_args.ngram_order:
        raise DataError(f"--ngram_order {model_args.ngram_order} with {kind}: the n-gram branch is binary "
                        "by nature (NB-weighted log-odds of POSITIVE against NEGATIVE); drop --ngram_order (0) to "
                        f"train this model.")
    if training_args.teacher_model:
        raise DataError(f"--teacher_model with {kind}: distillation here is binary by nature (its "
                        "teachers, ngram:N included, score NEGATIVE against POSITIVE); train without --teacher_model.")


# Trainer's best checkpoint, by problem type: (metric, greater is better); single-label keeps --metric_for_best_model.
BEST_MODEL_METRICS = {MULTI_LABEL: ("micro_f1", True), REGRESSION: ("mse", False)}


def choose_best_model_metric(training_args: ImdbTrainingArguments, problem_type: str | None) -> None:
    """Multi-label and regression runs have no accuracy: their best checkpoint is chosen by micro-F1 or MSE
    (`BEST_MODEL_METRICS`) unless --metric_for_best_model names another of their metrics."""
    if problem_type not in BEST_MODEL_METRICS or training_args.metric_for_best_model not in ("accuracy", "eval_accuracy"):
        return
    metric, greater_is_better = BEST_MODEL_METRICS[problem_type]
    logger.info("--problem_type %s: the best checkpoint is chosen by validation %s.", problem_type, metric)
    training_args.metric_for_best_model, training_args.greater_is_better = metric, greater_is_better


def load_model_and_tokenizer(model_args: ModelArguments, data_args: DataArguments,
                             training_args: ImdbTrainingArguments, train_split, label_fields: dict, config=None):
    """(classifier, tokenizer): from `--model_name_or_path` (see `imdb_lstm.training.pretrained`), or a word
    tokenizer learnt on the texts of `train_split` and a fresh model over `--glove`'s vectors, of the run's
    `config` (by default `resolve_model_config`'s): its vocabulary size, length and truncation side for the
    tokenizer, its architecture for the model."""
    config = config if config is not None else resolve_model_config(model_args, data_args)
    if model_args.model_name_or_path:
        model, tokenizer = load_pretrained_for_classification(model_args, data_args, label_fields)
    else:
        # The vocabulary comes from training texts only, so nothing of validation or test leaks into the model.
        tokenizer = build_tokenizer(
            train_split["text"],
            vocab_size=config.vocab_size,
            min_frequency=data_args.min_frequency,
            model_max_length=config.model_max_length,
            truncation_side=config.truncation_side,
        )
        model = build_model(tokenizer, glove_source=model_args.glove, oov=model_args.oov_init, seed=training_args.seed,
                            **architecture_fields(config, model_args), **label_fields)
    coverage = model.config.embedding_coverage
    logger.info(
        "Model: %s, %d trainable parameters; vocabulary %d words, embedding from %s%s",
        model.config.cell if model.config.encoder == "rnn" else "cnn",
        sum(p.numel() for p in model.parameters() if p.requires_grad),
        len(tokenizer),
        model.config.embedding_source,
        f" (coverage {100 * coverage:.1f}%)" if coverage is not None else "",
    )
    return model, tokenizer


def tokenize_splits(splits, tokenizer, max_length: int):
    def tokenize(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    tokenized = splits.map(tokenize, batched=True, remove_columns=["text"], desc="Tokenising")
    # Calling the tokenizer switched truncation on in its backend; saved with it, tokenizer.json would then differ
    # between a run that tokenised and one that read the datasets cache.
    tokenizer.backend_tokenizer.no_truncation()
    return tokenized


def prepare_perturbation_training(model, tokenizer, splits, tokenized, model_args: ModelArguments,
                                  data_args: DataArguments, training_args: ImdbTrainingArguments):
    """What `--normalize_embeddings` and `--vat_epsilon` need before training: the embedding normalised on the
    training token frequencies (folded into the encoder when it comes from `--model_name_or_path`), with
    `every_step` parametrised to stay so, and the tokenised unlabelled reviews for VAT (None without VAT, and when
    distilling, where VAT reads the transfer batches), the run's validation and test reviews left out."""
    if training_args.normalize_embeddings != "none":
        normalize_for_training(model, tokenized["train"]["input_ids"], training_args.normalize_embeddings,
                               pretrained=bool(model_args.model_name_or_path))
    if not training_args.vat_epsilon > 0:
        return None
    if training_args.teacher_model:
        logger.info("VAT (epsilon %g) on the distillation transfer batches, reusing their clean pass.",
                    training_args.vat_epsilon)
        return None
    held_out = [text for name in ("validation", "test") if name in splits for text in splits[name]["text"]]
    return load_vat_reviews(training_args, data_args.dataset, held_out, tokenizer)


def evaluate_and_predict(trainer: FineTuningTrainer, splits, tokenized, model_args: ModelArguments,
                         training_args: ImdbTrainingArguments, output_dir: Path) -> dict:
    """After training: the n-gram branch (`--ngram_order`, chosen on validation, the model saved again with it),
    validation, and with `--do_predict` the test split scored once (with the n-gram branch, the purely recurrent
    model beside it); the metrics saved, the test predictions written in dataset order. Returns the metrics."""
    model, results = trainer.model, {}
    if model_args.ngram_order:
        results.update(add_ngram_branch(trainer, tokenized, model_args))
        trainer.save_model()
    if model.config.problem_type == MULTI_LABEL:
        results.update(choose_threshold_on_validation(trainer, tokenized))
    if "validation" in tokenized:
        results.update(trainer.evaluate(tokenized["validation"], metric_key_prefix="eval"))
    if training_args.do_predict:
        if model_args.ngram_order:
            # The purely recurrent model, scored beside the joined one (each model scored once).
            weight, model.config.ngram_weight = model.config.ngram_weight, 0.0
            recurrent = trainer.predict(tokenized["test"], metric_key_prefix="test_recurrent").metrics
            model.config.ngram_weight = weight
            results.update({k: v for k, v in recurrent.items() if not k.endswith(("_runtime", "_per_second"))})
        test_output = trainer.predict(tokenized["test"], metric_key_prefix="test")
        results.update(test_output.metrics)
    if results:
        trainer.log_metrics("eval", results)
        if training_args.do_predict and model.config.num_labels > 2 and model.config.problem_type in (
                None, "single_label_classification"):
            # Saved, not logged: Trainer's metric printout takes scalars only.
            names = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]
            results["test_confusion_matrix"] = multiclass_metrics(
                np.argmax(test_output.predictions, axis=-1), test_output.label_ids, names)["confusion_matrix"]
        trainer.save_metrics("eval", results)
    if trainer.is_world_process_zero() and training_args.do_predict:
        logits = predictions_in_dataset_order(trainer, tokenized["test"], test_output)
        write_test_outputs(output_dir, splits["test"], logits, model.config)
    return results


def choose_threshold_on_validation(trainer: FineTuningTrainer, tokenized) -> dict:
    """A multi-label model's decision threshold, chosen on validation (micro-F1) and kept in its config, so the
    saved model, test scoring and the card use it; 0.5 without a validation split."""
    model = trainer.model
    if "validation" in tokenized:
        output = trainer.predict(tokenized["validation"], metric_key_prefix="threshold")
        model.config.multilabel_threshold = choose_multilabel_threshold(output.predictions, output.label_ids)
        logger.info("Multi-label threshold chosen on validation: %.2f", model.config.multilabel_threshold)
    trainer.compute_metrics = metrics_for(model.config)
    trainer.save_model()
    return {"multilabel_threshold": model.config.multilabel_threshold}
