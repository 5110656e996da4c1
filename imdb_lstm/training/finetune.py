"""The fine-tuning recipe (`imdb-lstm-train`, `scripts/train.py`: `imdb_lstm.commands.train`); what it shares with
pretraining (argument parsing, checkpoints, `run_info.json`, the run skeleton) is in `imdb_lstm.training.common`.

Recipe (`run`): IMDB (`datasets`) → split protocol → word tokenizer learnt on the train split (or taken
from `--model_name_or_path`) → model with a GloVe-initialised embedding, or the encoder of a pretrained language
model (`--model_name_or_path`, a folder or Hub repo) → Trainer (length-grouped batches, dynamic padding, evaluation
every epoch, best validation checkpoint kept) → test split scored once → model, tokenizer, results JSON,
predictions and plots in `output_dir`; the command then pushes to the Hub with a rendered model card if asked. Optional terms on the
embeddings (`--adversarial_epsilon`, `--vat_epsilon` with unlabelled reviews, `--normalize_embeddings`): see
`imdb_lstm.training.adversarial` and `FineTuningTrainer`; distillation from teachers (`--teacher_model`, with which
VAT runs on the transfer batches): `imdb_lstm.training.distill`; a moving average of the weights (`--ema_decay`),
evaluated and saved: `imdb_lstm.training.averaging`. Validation and test are scored in float32, whatever
`--bf16` and the model's `inference_dtype`.

    imdb-lstm-train --dataset ../shared/data/imdb --output_dir outputs/imdb-bilstm   # the shipped recipe
    imdb-lstm-train configs/imdb_bilstm.json                                         # the same, from JSON
    imdb-lstm-train --dataset sample --output_dir outputs/demo --num_train_epochs 3  # offline, minutes
"""

import contextlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.nn.utils import parametrize
from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                          Trainer, TrainerCallback)
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..configuration_imdb_lstm import ImdbLstmConfig
from ..data import (HUB_DATASET, DataError, check_unlabelled_splits, load_labelled, load_unlabelled_texts,
                    make_splits, parse_data_files, subsample, tokenize_unlabelled_texts)
from ..glove import DEFAULT_GLOVE, build_model, load_glove
from ..metrics import binary_rates, metrics_for, multiclass_metrics
from ..ngrams import accuracy, attach_ngram_branch, choose_ngram_weight, fit_ngram_logistic_regressions
from ..plots import plot_confusion_matrix
from ..predict import compute_context
from ..tokenization import DEFAULT_TRUNCATION_SIDE, build_tokenizer
from .adversarial import (EmbeddingPerturbation, UnlabelledBatches, adversarial_loss, bake_normalized_embeddings,
                          float32_passes, normalize_embeddings, plain_state_dict, token_frequencies,
                          virtual_adversarial_loss)
from .averaging import ExponentialMovingAverage
from .common import CpuTrainingArguments, PreparedRun, parse_arguments, run_recipe
from .distill import TEACHER_LOGITS, distillation_terms, prepare_transfer_set, weighted_distillation_loss
from .teachers import LABELLED_TARGETS, check_split_protocol, split_protocol_of

__all__ = [
    "DataArguments", "EncoderUnfreezing", "FineTuningTrainer", "ImdbTrainingArguments", "ModelArguments",
    "PretrainedModelError", "WeightAveraging",
    "load_pretrained_for_classification", "main", "normalization_mode", "parse_args", "predictions_in_dataset_order",
    "prepare_fine_tuning", "prepare_perturbation_training", "run", "tokenize_splits", "write_test_outputs",
]

logger = logging.getLogger(__name__)

# ModelArguments fields that are no ImdbLstmConfig field.
NOT_CONFIG_FIELDS = ("model_name_or_path", "num_labels", "glove", "oov_init", "ngram_order", "ngram_min_count", "ngram_c")
# Config fields a fine-tuning run chooses even when the encoder comes from a pretrained model.
FINE_TUNING_CONFIG_FIELDS = ("pooling", "embedding_dropout", "dropout", "freeze_embedding")
# In a checkpoint folder, beside the model it saves (averaged, normalised: a plain classifier), what training goes on
# from when that is another thing (--ema_decay, --normalize_embeddings every_step): see FineTuningTrainer.
TRAINING_WEIGHTS_NAME = "training_weights.safetensors"


class PretrainedModelError(ValueError):
    """`--model_name_or_path` is no usable imdb-lstm model; the message says what was found and what to give."""


@dataclass
class ModelArguments:
    """The network (see `ImdbLstmConfig`) and its initial word vectors, or the pretrained model it starts from."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "folder or Hub repo of a pretrained imdb-lstm model (imdb-lstm-pretrain's output): its "
                  "tokenizer and encoder are used, only the classification head is new, and the architecture "
                  "arguments below are ignored (pooling, dropouts and freeze_embedding still apply); unset: a "
                  "fresh model over GloVe"},
    )

    num_labels: int | None = field(
        default=None,
        metadata={"help": "classes of the data's label column; unset: the number of distinct string labels, or 2 for "
                  "integer labels (IMDB). With --model_name_or_path a classifier of another number of labels gets a "
                  "new head (its encoder kept)"},
    )
    encoder: str = field(default="rnn", metadata={"help": "'rnn' (see --cell) or 'cnn' (Kim 2014)"})
    cell: str = field(default="lstm", metadata={"help": "'lstm' or 'gru'"})
    bidirectional: bool = field(default=True, metadata={"help": "add a right-to-left direction"})
    hidden_size: int = field(default=128, metadata={"help": "units per direction and layer"})
    num_layers: int = field(default=1)
    pooling: str = field(default="max_mean", metadata={"help": "'last', 'max', 'mean' or 'max_mean'"})
    cnn_kernel_sizes: list[int] = field(default_factory=lambda: [3, 4, 5])
    cnn_num_filters: int = field(default=100)
    embedding_dropout: float = field(default=0.25, metadata={"help": "spatial dropout on the word vectors"})
    rnn_dropout: float = field(default=0.0, metadata={"help": "dropout between stacked recurrent layers"})
    dropout: float = field(default=0.5, metadata={"help": "dropout before the linear head"})
    freeze_embedding: bool = field(default=False, metadata={"help": "keep the GloVe vectors fixed"})
    glove: str = field(
        default=DEFAULT_GLOVE,
        metadata={"help": "gensim-data name (e.g. glove-wiki-gigaword-100) or a local vector file; default offline"},
    )
    oov_init: str = field(default="random", metadata={"help": "vectors of words GloVe lacks: 'zero' or 'random'"})
    ngram_order: int = field(
        default=0,
        metadata={"help": "after training, add an n-gram branch: NB-weighted logistic regression over 1..N-grams of "
                  "the token ids, fitted on the training reviews, its share in the joined log-odds chosen on "
                  "validation (0: none; see imdb_lstm.ngrams)"},
    )
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
    split_protocol: str = field(
        default="canonical", metadata={"help": "'canonical' (IMDB train/test) or train/validation/test %%, e.g. 50/25/25"}
    )
    validation_fraction: float = field(default=0.1, metadata={"help": "canonical protocol: share of train held out"})
    split_seed: int = field(default=42)
    vocab_size: int = field(default=40000, metadata={"help": "largest vocabulary (special tokens included)"})
    min_frequency: int = field(default=2, metadata={"help": "words seen fewer times in train become [UNK]"})
    max_length: int = field(default=1000, metadata={"help": "tokens kept per review (see --truncation_side)"})
    truncation_side: str = field(
        default=DEFAULT_TRUNCATION_SIDE,
        metadata={"help": "which part of a longer review is kept: 'left' cuts the front (keeps the ending), 'right' "
                  "cuts the end (keeps the beginning); saved with the tokenizer, so inference cuts the same way"},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "use only this many training reviews"})
    max_eval_samples: int | None = field(default=None, metadata={"help": "use only this many validation/test reviews"})


# --normalize_embeddings: what each value does (see imdb_lstm.training.adversarial.normalize_embeddings), and the
# booleans of configs written before there were three.
NORMALIZATION_MODES = ("none", "once", "every_step")
NORMALIZATION_ALIASES = {"false": "none", "true": "once"}


def normalization_mode(value) -> str:
    """`--normalize_embeddings` as one of NORMALIZATION_MODES: a mode by name, or true/false (JSON booleans or the
    strings, any case) as 'once'/'none', the meanings they had when the option was a switch."""
    if isinstance(value, bool):
        return "once" if value else "none"
    name = str(value).strip().lower()
    name = NORMALIZATION_ALIASES.get(name, name)
    if name not in NORMALIZATION_MODES:
        raise ValueError(f"--normalize_embeddings={value!r}: choose one of {', '.join(NORMALIZATION_MODES)} (true "
                         "means once, false none).")
    return name


# Options of VAT's own stream of unlabelled batches, which distillation replaces by its transfer batches.
VAT_STREAM_OPTIONS = ("vat_dataset", "vat_splits", "vat_text_column", "vat_batch_size", "vat_max_length")


@dataclass
class ImdbTrainingArguments(CpuTrainingArguments):
    """`TrainingArguments` with the shipped recipe's defaults (see BENCHMARKS.md for how they were chosen)."""

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
    # Adversarial and virtual adversarial training on the embeddings (imdb_lstm.training.adversarial; Miyato et al. 2017).
    adversarial_epsilon: float = field(
        default=0.0,
        metadata={"help": "adversarial training: add the loss of each labelled batch perturbed after the embedding "
                  "dropout by this L2 norm per review, along the loss gradient (0: off)"},
    )
    vat_epsilon: float = field(
        default=0.0,
        metadata={"help": "virtual adversarial training: add --vat_weight × KL(p ‖ p perturbed) on unlabelled batches, "
                  "the perturbation of this L2 norm per review (Miyato: 5 on normalised embeddings; 0: off). With "
                  "--teacher_model, on each distillation transfer batch (training reviews and --distill_splits), "
                  "reusing its clean pass: the separate unlabelled stream (--vat_dataset, --vat_splits, "
                  "--vat_text_column, --vat_batch_size, --vat_max_length) is then not read, and refused if given"},
    )
    vat_xi: float = field(default=0.1, metadata={"help": "VAT: norm of the finite-difference step of the power iteration"})
    vat_weight: float = field(default=1.0, metadata={"help": "VAT: weight λ of the unlabelled term"})
    vat_dataset: str | None = field(
        default=None,
        metadata={"help": "VAT: datasets source of the unlabelled reviews (Hub id, local folder, 'sample'; default: "
                  "--dataset); the run's validation and test reviews are left out of it. Not with --teacher_model "
                  "(VAT then reads the transfer batches: choose their reviews with --distill_dataset)"},
    )
    vat_splits: str = field(default="train,unsupervised",
                            metadata={"help": "VAT: comma-separated splits of --vat_dataset ('test' is refused)"})
    vat_text_column: str = field(default="text", metadata={"help": "VAT: the column of --vat_dataset holding the texts"})
    vat_batch_size: int = field(default=32, metadata={"help": "VAT: unlabelled reviews per training step"})
    vat_max_length: int = field(default=400, metadata={"help": "VAT: tokens kept per unlabelled review"})
    # Knowledge distillation from a trained classifier (imdb_lstm.training.distill; imdb-lstm-distill).
    teacher_model: list[str] | None = field(
        default=None,
        metadata={"help": "distillation: one or more teachers whose soft labels the model learns on the training "
                  "reviews and --distill_splits of --distill_dataset: trained classifiers (folders or Hub repos) and/or "
                  "ngram:N (NB-LR on word 1..N-grams of the training reviews); several are averaged with weights "
                  "chosen on validation (unset: plain fine-tuning)"},
    )
    distill_labelled_targets: str = field(
        default="teacher",
        metadata={"help": "distillation: targets of the training reviews: 'gold' (the true label, smoothed by "
                  "--distill_label_smoothing), 'out_of_fold' (teachers' scores from models that did not train on the "
                  "review; ngram:N teachers only) or 'teacher' (the teachers' in-sample scores)"},
    )
    distill_label_smoothing: float = field(
        default=0.1, metadata={"help": "distillation, --distill_labelled_targets gold: probability spread evenly over "
                               "all labels"})
    teacher_folds: int = field(default=5, metadata={"help": "distillation: folds of an ngram:N teacher's out-of-fold "
                                                    "scores on the training reviews"})
    soft_label_cache: str | None = field(
        default=None,
        metadata={"help": "distillation: folder caching each teacher's logits per set of texts, so that another student "
                  "or round does not score again (an entry made for other weights or texts is recomputed, with a "
                  "warning); unset: no cache"},
    )
    distill_dataset: str | None = field(
        default=None,
        metadata={"help": "distillation: datasets source of the unlabelled transfer reviews (default: --dataset); the "
                  "run's validation and test reviews are left out of it"},
    )
    distill_splits: str = field(default="unsupervised",
                                metadata={"help": "distillation: comma-separated splits of --distill_dataset ('test' is refused)"})
    distill_temperature: float = field(default=1.0, metadata={"help": "distillation: softmax temperature T of both "
                                                              "distributions (the KL term is scaled by T²)"})
    distill_label_weight: float = field(
        default=0.0, metadata={"help": "distillation: weight of the cross-entropy with the true labels of the training "
                               "reviews, added to the KL term (0: soft labels only)"})
    normalize_embeddings: str = field(
        default="none",
        metadata={"help": "shift and scale each embedding dimension to mean 0 and variance 1 weighted by the training "
                  "token frequencies, so that the epsilons mean the same for any vectors: 'once' (before training; "
                  "true), 'every_step' (as Miyato et al.: the network reads the trainable matrix normalised at every "
                  "step, gradients through the normalisation; the saved model holds the normalised vectors) or "
                  "'none' (false). A pretrained encoder's first layer absorbs the inverse transform of its vectors"},
    )
    ema_decay: float = field(
        default=0.0,
        metadata={"help": "keep an exponential moving average of the trainable weights with this decay, updated after "
                  "every optimiser step (bias-corrected over the first steps), and evaluate, checkpoint and save the "
                  "averaged model, training on from the raw weights (Miyato et al.: 0.999; 0: off)"},
    )

    def __post_init__(self):
        self.normalize_embeddings = normalization_mode(self.normalize_embeddings)
        if isinstance(self.ema_decay, bool) or not isinstance(self.ema_decay, (int, float)) \
                or not 0 <= self.ema_decay < 1:
            raise ValueError(f"--ema_decay={self.ema_decay} must be in [0, 1): the weight of the average at each "
                             "step (Miyato et al. use 0.999; 0 switches averaging off).")
        for name, what in (("adversarial_epsilon", "adversarial training"), ("vat_epsilon", "VAT")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ValueError(f"--{name}={value}: {what} needs a perturbation norm (L2 per review) that is a "
                                 "positive finite number, e.g. 5 on normalised embeddings as Miyato et al.; give 0 "
                                 f"to switch {what} off.")
        if isinstance(self.vat_weight, bool) or not isinstance(self.vat_weight, (int, float)) \
                or not 0 <= self.vat_weight < float("inf"):
            raise ValueError(f"--vat_weight={self.vat_weight} must be a finite number >= 0 (0 switches the term off).")
        if not self.vat_xi > 0 or self.vat_xi == float("inf"):
            raise ValueError(f"--vat_xi={self.vat_xi} must be a positive finite number (the reference uses 0.1).")
        for name in ("vat_batch_size", "vat_max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name}={getattr(self, name)} must be at least 1.")
        check_unlabelled_splits(self.vat_split_names, "VAT")
        if isinstance(self.teacher_model, str):  # one teacher, as a JSON string
            self.teacher_model = [self.teacher_model]
        if self.distill_labelled_targets not in LABELLED_TARGETS:
            raise ValueError(f"--distill_labelled_targets={self.distill_labelled_targets!r}: choose one of "
                             f"{', '.join(LABELLED_TARGETS)}.")
        if not 0 <= self.distill_label_smoothing < 1:
            raise ValueError(f"--distill_label_smoothing={self.distill_label_smoothing} must be in [0, 1).")
        if self.teacher_model:
            check_unlabelled_splits(self.distill_split_names, "distillation")
        self._check_vat_stream()
        if not 0 < self.distill_temperature < float("inf"):
            raise ValueError(f"--distill_temperature={self.distill_temperature} must be a positive finite number (1: "
                             "the teacher's own probabilities).")
        if isinstance(self.distill_label_weight, bool) or not 0 <= self.distill_label_weight < float("inf"):
            raise ValueError(f"--distill_label_weight={self.distill_label_weight} must be a finite number >= 0.")
        if isinstance(self.encoder_learning_rate_factor, bool) or not self.encoder_learning_rate_factor > 0:
            raise ValueError(f"--encoder_learning_rate_factor={self.encoder_learning_rate_factor} must be a positive "
                             "number (1: one learning rate for the whole model).")
        if not self.encoder_frozen_epochs >= 0:
            raise ValueError(f"--encoder_frozen_epochs={self.encoder_frozen_epochs} must be 0 or more epochs.")
        super().__post_init__()

    def _check_vat_stream(self) -> None:
        """Refuse options of VAT's own unlabelled stream where nothing reads them: without VAT (--vat_dataset with
        --vat_epsilon 0), or when distilling, where VAT reads the transfer batches."""
        defaults = {name: type(self).__dataclass_fields__[name].default for name in VAT_STREAM_OPTIONS}
        given = [f"--{name} {getattr(self, name)}" for name in VAT_STREAM_OPTIONS
                 if getattr(self, name) != defaults[name]]
        if self.vat_epsilon > 0 and self.teacher_model and given:
            raise ValueError(
                f"{', '.join(given)} with --teacher_model and --vat_epsilon: when distilling, VAT runs on each "
                "transfer batch (the training reviews and the unlabelled --distill_splits of --distill_dataset), "
                "reusing its clean pass, and reads no separate unlabelled stream. Drop those options; choose the "
                "unlabelled reviews with --distill_dataset and --distill_splits."
            )
        if not self.vat_epsilon > 0 and self.vat_dataset is not None:
            raise ValueError(f"--vat_dataset {self.vat_dataset} is given, but --vat_epsilon is {self.vat_epsilon}: "
                             "VAT is off and would not read it. Give --vat_epsilon > 0 (e.g. 5) to train with VAT, or "
                             "drop --vat_dataset.")

    @property
    def vat_split_names(self) -> list[str]:
        return [name.strip() for name in self.vat_splits.split(",") if name.strip()]

    @property
    def distill_split_names(self) -> list[str]:
        return [name.strip() for name in self.distill_splits.split(",") if name.strip()]


class FineTuningTrainer(Trainer):
    """`Trainer` whose optimizer gives the base model (the parameters under `model.base_model_prefix`: embedding
    and encoder) the learning rate `args.encoder_learning_rate_factor` × `args.learning_rate`; the schedule scales
    both groups alike.

    With `args.adversarial_epsilon` > 0 the loss of each labelled batch perturbed adversarially on the embeddings is
    added to its loss; with `args.vat_epsilon` > 0, `args.vat_weight` × the virtual adversarial loss of an
    unlabelled batch from `unlabelled_dataset` (tokenised, see `imdb_lstm.data.tokenize_unlabelled_texts`), drawn
    anew each step. VAT reads unlabelled batches only, as the reference implementation does: the training reviews
    are in them by default (--vat_splits train,unsupervised), and a VAT term on each labelled batch as well would
    add a third of the step's cost again. The terms are logged as `adversarial_loss` and `vat_loss`, the plain
    cross-entropy as `supervised_loss`; `loss` is their sum (the VAT term weighted by `args.vat_weight`).

    Distillation (`args.teacher_model`; the batches of the transfer set carry `teacher_logits`, the targets: the
    teachers' soft labels, on the training reviews the targets `--distill_labelled_targets` chose): one clean pass
    over the transfer batch gives `distillation_loss`, T² · KL(targets ‖ student) over its rows, and, with
    `args.distill_label_weight` > 0, `supervised_loss`, the cross-entropy with the true labels of its training
    reviews (weighted by it). With `args.adversarial_epsilon` > 0, `adversarial_loss` is that same loss of the
    batch perturbed along its gradient (on the training reviews with gold targets, Miyato's adversarial
    cross-entropy). With `args.vat_epsilon` > 0, `vat_loss` is VAT on that same transfer batch (its training and
    unlabelled reviews), reusing the clean pass as VAT's clean prediction (detached): no separate unlabelled stream
    is read. VAT compares its perturbed passes with the clean one at a step far below bf16's resolution, so under
    `--bf16` that clean pass then runs in float32 (the adversarial and final VAT passes in bf16). `loss` = the
    distillation loss + `distill_label_weight` × `supervised_loss` + `adversarial_loss` + `vat_weight` × `vat_loss`;
    each term is logged as above.

    With `args.ema_decay` > 0, an exponential moving average of the trainable weights (`ExponentialMovingAverage`,
    updated by the `WeightAveraging` callback after every optimiser step) is what every `evaluate` and `predict`
    sees and what every checkpoint saves, training going on from the raw weights; so `load_best_model_at_end`
    picks the best averaged checkpoint. An embedding normalised at every step (`--normalize_embeddings
    every_step`) is saved as the plain classifier it computes. Where the saved model is not what training goes on
    from, each checkpoint also holds the model's own state (raw weights, the normalisation's trainable matrix) and
    the average in `training_weights.safetensors`, from which a resumed run restores both. When training ends,
    the model becomes the one saved along the way: the average put into it, the normalisation baked in.

    Every `evaluate` and `predict` (validation each epoch, the n-gram branch's choice, the test split) computes in
    float32: the model's own bfloat16 inference (`inference_dtype`) and the autocast with which `--bf16` wraps the
    model's forward are both switched off for it (see `prediction_step`)."""

    def __init__(self, *args, unlabelled_dataset=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.weight_average = None
        if getattr(self.args, "ema_decay", 0) > 0:
            self.weight_average = ExponentialMovingAverage(self.model, self.args.ema_decay)
            self.add_callback(WeightAveraging(self.weight_average))
        self.unlabelled_batches = None
        # Distilling, VAT reads the transfer batches (see compute_loss): no stream of its own.
        if getattr(self.args, "vat_epsilon", 0) > 0 and not getattr(self.args, "teacher_model", None):
            if unlabelled_dataset is None:
                raise ValueError("--vat_epsilon > 0 needs unlabelled reviews (unlabelled_dataset).")
            self.unlabelled_batches = UnlabelledBatches(
                unlabelled_dataset, self.args.vat_batch_size, DataCollatorWithPadding(self.processing_class),
                seed=self.args.seed + self.args.process_index,
            )
        self._perturbation_logs = {}

    def training_step(self, *args, **kwargs):
        # The passes of one step (clean, adversarial, VAT's three) read an embedding normalised at every step
        # (--normalize_embeddings every_step) computed once, and backward goes through the normalisation once: half
        # the cost of a VAT step's normalisations for a 20,000-word embedding. Nothing changes for other models.
        with parametrize.cached():
            return super().training_step(*args, **kwargs)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        # Distillation's targets travel with the batches although forward takes no such argument.
        if TEACHER_LOGITS not in self._signature_columns:
            self._signature_columns.append(TEACHER_LOGITS)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if TEACHER_LOGITS in inputs:
            # A distillation batch (only the transfer set has teacher logits; validation batches take the plain path).
            return self._distillation_loss(model, inputs, return_outputs)
        epsilon = getattr(self.args, "adversarial_epsilon", 0)
        if not (model.training and torch.is_grad_enabled()) or (epsilon <= 0 and self.unlabelled_batches is None):
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        # The extra passes go through the unwrapped model: under DistributedDataParallel only the first pass is the
        # wrapper's, and the one backward of the summed loss synchronises every gradient once.
        unwrapped = self.accelerator.unwrap_model(model)
        with EmbeddingPerturbation(unwrapped) as perturbation:
            perturbation.record(track_gradient=epsilon > 0)
            # Trainer's compute_loss may pop the labels: each call gets its own copy of the batch.
            loss, outputs = super().compute_loss(model, dict(inputs), return_outputs=True,
                                                 num_items_in_batch=num_items_in_batch)
            terms = {"supervised_loss": loss.detach()}
            if epsilon > 0:
                adversarial = adversarial_loss(unwrapped, inputs, loss, perturbation, epsilon, loss_of=lambda m, batch:
                                               super(FineTuningTrainer, self).compute_loss(m, dict(batch)))
                terms["adversarial_loss"] = adversarial.detach()
                loss = loss + adversarial
            if self.unlabelled_batches is not None:
                unlabelled = self._prepare_inputs(next(self.unlabelled_batches))
                virtual = virtual_adversarial_loss(unwrapped, unlabelled, perturbation, self.args.vat_epsilon,
                                                   xi=self.args.vat_xi)
                terms["vat_loss"] = virtual.detach()
                loss = loss + self.args.vat_weight * virtual
        self._log_terms(terms)
        return (loss, outputs) if return_outputs else loss

    def _distillation_loss(self, model, inputs, return_outputs: bool):
        """A transfer batch's loss: the distillation loss of one clean pass, plus the adversarial loss of the batch
        and VAT on it, reusing the clean pass (see the class docstring); each term is logged."""
        inputs = dict(inputs)
        teacher, labels = inputs.pop(TEACHER_LOGITS), inputs.pop("labels", None)
        temperature, label_weight = self.args.distill_temperature, self.args.distill_label_weight
        training = model.training and torch.is_grad_enabled()
        epsilon = getattr(self.args, "adversarial_epsilon", 0) if training else 0
        vat_epsilon = getattr(self.args, "vat_epsilon", 0) if training else 0

        def loss_of(logits) -> tuple[torch.Tensor, dict]:
            terms = distillation_terms(logits, teacher, labels, temperature=temperature, label_weight=label_weight)
            return weighted_distillation_loss(terms, label_weight), terms

        if epsilon <= 0 and vat_epsilon <= 0:
            outputs = model(**inputs)
            loss, terms = loss_of(outputs.logits)
        else:
            # The perturbed passes go through the unwrapped model (see compute_loss).
            unwrapped = self.accelerator.unwrap_model(model)
            with EmbeddingPerturbation(unwrapped) as perturbation:
                perturbation.record(track_gradient=epsilon > 0)
                # VAT's clean prediction: in float32, as virtual_adversarial_loss computes its own.
                with float32_passes(unwrapped) if vat_epsilon > 0 else contextlib.nullcontext():
                    outputs = model(**inputs)
                loss, terms = loss_of(outputs.logits)
                if epsilon > 0:
                    adversarial = adversarial_loss(unwrapped, inputs, loss, perturbation, epsilon,
                                                   loss_of=lambda m, batch: loss_of(m(**batch).logits)[0])
                    terms["adversarial_loss"] = adversarial
                    loss = loss + adversarial
                if vat_epsilon > 0:
                    virtual = virtual_adversarial_loss(unwrapped, inputs, perturbation, vat_epsilon,
                                                       xi=self.args.vat_xi, clean_logits=outputs.logits)
                    terms["vat_loss"] = virtual
                    loss = loss + self.args.vat_weight * virtual
        if training:
            self._log_terms({name: value.detach() for name, value in terms.items()})
        return (loss, outputs) if return_outputs else loss

    def _log_terms(self, terms: dict) -> None:
        """Add this step's loss terms to the running means that `log` reports beside `loss`."""
        for name, value in terms.items():
            total, count = self._perturbation_logs.get(name, (0.0, 0))
            self._perturbation_logs[name] = (total + value.float(), count + 1)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        # Validation and test scores are the float32 model's, whatever the model's inference_dtype chooses for
        # serving and whether training ran under --bf16: Accelerate wraps the model's forward in bf16 autocast
        # then, for every later pass (evaluation included), which float32_passes bypasses.
        unwrapped = self.accelerator.unwrap_model(model)
        with compute_context(unwrapped, "float32"), float32_passes(unwrapped):
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)

    def evaluate(self, *args, **kwargs) -> dict:
        with self._saved_weights():
            return super().evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        with self._saved_weights():
            return super().predict(*args, **kwargs)

    def train(self, *args, **kwargs):
        output = super().train(*args, **kwargs)
        self._become_saved_model()
        return output

    def _load_best_model(self) -> None:
        # The best checkpoint holds the plain averaged classifier: the model becomes one before it is loaded into it.
        self._become_saved_model()
        super()._load_best_model()

    def _saved_weights(self):
        """A context in which the model holds the weights that are evaluated and saved: the average while training
        goes on from the raw weights (nothing to do otherwise)."""
        if self.weight_average is None:
            return contextlib.nullcontext()
        return self.weight_average.averaged_weights()

    def _become_saved_model(self) -> None:
        """At the end of training (before the best checkpoint is loaded, if it is), the model becomes the classifier
        evaluated and saved along the way: the average put into its weights for good, an every-step normalisation
        baked into a plain embedding. So the n-gram branch, the test scores and the saved folder all see it."""
        if self.weight_average is not None:
            self.weight_average.copy_to_model()
            self.pop_callback(WeightAveraging)
            self.weight_average = None
            logger.info("The model now holds the moving average of its weights (--ema_decay %s).", self.args.ema_decay)
        if bake_normalized_embeddings(self.model):
            logger.info("The embedding normalised at every step is now a plain one holding the normalised vectors.")

    def _keeps_training_weights(self) -> bool:
        """Whether the saved model differs from what training goes on from (averaged, or normalised every step)."""
        return self.weight_average is not None or _is_parametrized(self.model)

    def _save(self, output_dir=None, state_dict=None) -> None:
        # Every save is a plain classifier: an embedding normalised at every step goes in as the matrix it reads.
        if state_dict is None and _is_parametrized(self.model):
            state_dict = plain_state_dict(self.model)
        super()._save(output_dir, state_dict=state_dict)

    def _save_checkpoint(self, model, trial) -> None:
        if self._keeps_training_weights() and self.args.should_save:
            # Written before Trainer's files: trainer_state.json, written last, still marks a complete checkpoint.
            folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            folder.mkdir(parents=True, exist_ok=True)
            tensors = {f"raw.{name}": value.detach().contiguous() for name, value in self.model.state_dict().items()}
            if self.weight_average is not None:
                tensors.update({f"average.{name}": shadow for name, shadow in self.weight_average.state_dict().items()})
            save_file(tensors, str(folder / TRAINING_WEIGHTS_NAME), metadata={"format": "pt"})
        with self._saved_weights():
            super()._save_checkpoint(model, trial)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None) -> None:
        path = Path(resume_from_checkpoint) / TRAINING_WEIGHTS_NAME
        if not path.is_file():
            if self._keeps_training_weights():
                raise ValueError(
                    f"--resume_from_checkpoint {resume_from_checkpoint} has no {TRAINING_WEIGHTS_NAME}: it was saved "
                    "by a run without --ema_decay or --normalize_embeddings every_step, so it holds neither a weight "
                    "average nor the matrix the normalisation is computed from. Resume it with the settings it was "
                    "trained with, or start afresh."
                )
            super()._load_from_checkpoint(resume_from_checkpoint, model)
            return
        tensors = load_file(str(path))
        raw = {name.removeprefix("raw."): value for name, value in tensors.items() if name.startswith("raw.")}
        average = {name.removeprefix("average."): value for name, value in tensors.items()
                   if name.startswith("average.")}
        try:
            (self.model if model is None else model).load_state_dict(raw, strict=True)
        except RuntimeError as error:
            raise ValueError(
                f"--resume_from_checkpoint {resume_from_checkpoint}: its training weights do not fit this run's model "
                "(was it trained with another --normalize_embeddings or architecture? Resume with its own settings): "
                f"{error}"
            ) from error
        if self.weight_average is not None:
            if not average:
                raise ValueError(f"--resume_from_checkpoint {resume_from_checkpoint} holds no weight average: it was "
                                 "trained without --ema_decay. Resume it without --ema_decay, or start afresh.")
            self.weight_average.load_state_dict(average)
        elif average:
            logger.warning("%s holds a weight average, but this run has no --ema_decay: training goes on from the raw "
                           "weights, without the average.", resume_from_checkpoint)
        restored = " and their average" if average and self.weight_average is not None else ""
        logger.info("Training weights%s restored from %s.", restored, path)

    def log(self, logs: dict, *args, **kwargs) -> None:
        if "loss" in logs and self._perturbation_logs:
            for name, (total, count) in self._perturbation_logs.items():
                logs[name] = round(float(total) / count, 4)
            self._perturbation_logs = {}
        super().log(logs, *args, **kwargs)

    def create_optimizer(self, model=None):
        factor = getattr(self.args, "encoder_learning_rate_factor", 1.0)
        opt_model = self.model if model is None else model
        if self.optimizer is None and factor != 1.0:
            decay = set(self.get_decay_parameter_names(opt_model))
            prefix = f"{opt_model.base_model_prefix}."
            groups = []
            for in_base, learning_rate in ((True, self.args.learning_rate * factor), (False, self.args.learning_rate)):
                for decayed, weight_decay in ((True, self.args.weight_decay), (False, 0.0)):
                    parameters = [parameter for name, parameter in opt_model.named_parameters()
                                  if parameter.requires_grad and name.startswith(prefix) == in_base
                                  and (name in decay) == decayed]
                    if parameters:
                        groups.append({"params": parameters, "lr": learning_rate, "weight_decay": weight_decay})
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
            self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return super().create_optimizer(model)


class WeightAveraging(TrainerCallback):
    """Folds the weights into `average` (an `ExponentialMovingAverage`) after every optimiser step, the step
    number (Trainer's `global_step`, restored on resume) setting the bias-corrected decay."""

    def __init__(self, average: ExponentialMovingAverage):
        self.average = average

    def on_step_end(self, args, state, control, **kwargs):
        self.average.update(state.global_step)


def _is_parametrized(model) -> bool:
    """Whether any module of `model` has a parametrised tensor (the embedding normalised at every step)."""
    return any(parametrize.is_parametrized(module) for module in model.modules())


class EncoderUnfreezing(TrainerCallback):
    """Gradual unfreezing: the base model's trainable parameters get no gradient until `frozen_epochs` epochs are
    done (checked before every step, so fractions of an epoch work); a frozen embedding (`freeze_embedding`) stays
    frozen. The optimizer holds every parameter from the start, so nothing is rebuilt when they thaw."""

    def __init__(self, frozen_epochs: float):
        self.frozen_epochs = frozen_epochs
        self.parameters = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        prefix = f"{model.base_model_prefix}."
        self.parameters = [parameter for name, parameter in model.named_parameters()
                           if name.startswith(prefix) and parameter.requires_grad]
        self._apply(state)

    def on_step_begin(self, args, state, control, **kwargs):
        self._apply(state)

    def _apply(self, state) -> None:
        frozen = (state.epoch or 0.0) < self.frozen_epochs
        for parameter in self.parameters:
            parameter.requires_grad_(not frozen)


def parse_args(argv=None) -> tuple[ModelArguments, DataArguments, ImdbTrainingArguments]:
    return parse_arguments((ModelArguments, DataArguments, ImdbTrainingArguments), argv)


def tokenize_splits(splits, tokenizer, max_length: int):
    def tokenize(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    tokenized = splits.map(tokenize, batched=True, remove_columns=["text"], desc="Tokenising")
    # Calling the tokenizer switched truncation on in its backend; saved with it, tokenizer.json would then differ
    # between a run that tokenised and one that read the datasets cache.
    tokenizer.backend_tokenizer.no_truncation()
    return tokenized


def predictions_in_dataset_order(trainer: Trainer, dataset, output):
    """Trainer's length-grouped evaluation returns rows permuted; put them back in dataset order. The sampler is
    seeded, so asking Trainer for it again yields the same permutation; the labels check the mapping."""
    order = np.arange(len(dataset))
    if trainer.args.train_sampling_strategy == "group_by_length":
        order = np.fromiter(trainer._get_eval_sampler(dataset), dtype=int)
    logits = np.empty_like(output.predictions)
    logits[order] = output.predictions
    if not np.array_equal(np.asarray(dataset["label"])[order], output.label_ids):
        raise RuntimeError("Could not map the evaluation batches back to dataset order.")
    return logits


def run(model_args: ModelArguments, data_args: DataArguments, training_args: ImdbTrainingArguments) -> dict:
    """Train, evaluate on validation, score the test split once; write everything to `output_dir`."""
    return run_recipe(lambda output_dir: prepare_fine_tuning(model_args, data_args, training_args, output_dir),
                      {"model": model_args, "data": data_args}, training_args)


def prepare_fine_tuning(model_args: ModelArguments, data_args: DataArguments, training_args: ImdbTrainingArguments,
                        output_dir: Path) -> PreparedRun:
    """The fine-tuning recipe's part of `run` (see `imdb_lstm.training.common.run_recipe`): splits, tokenizer, model
    and Trainer; after training, validation, the n-gram branch, the test split scored once and its predictions."""
    raw, label_names = load_labelled(data_args.dataset, data_args.text_column, data_args.label_column,
                                     parse_data_files(data_args.data_files))
    label_fields = choose_labels(label_names, model_args.num_labels)
    num_labels = len(label_fields["id2label"]) if label_fields else 2
    refuse_binary_only_parts(num_labels, model_args, training_args)
    for teacher in training_args.teacher_model or ():
        # Before anything is tokenised or built: a teacher of another split protocol is refused at once.
        check_split_protocol(teacher, split_protocol_of(data_args), warn_unrecorded=False)
    splits = make_splits(raw, data_args.split_protocol, data_args.validation_fraction, data_args.split_seed,
                         num_labels=num_labels)
    splits["train"] = subsample(splits["train"], data_args.max_train_samples, data_args.split_seed)
    for name in ("validation", "test"):
        if name in splits:
            splits[name] = subsample(splits[name], data_args.max_eval_samples, data_args.split_seed)
    logger.info("Splits: %s", {name: len(split) for name, split in splits.items()})
    has_validation = "validation" in splits
    if not has_validation and training_args.eval_strategy != "no":
        logger.info("No validation split under protocol %s: no per-epoch evaluation, last epoch kept.", data_args.split_protocol)
        training_args.eval_strategy = "no"
        training_args.load_best_model_at_end = False

    if model_args.model_name_or_path:
        model, tokenizer = load_pretrained_for_classification(model_args, data_args, label_fields)
    else:
        # The vocabulary comes from training texts only, so nothing of validation or test leaks into the model.
        tokenizer = build_tokenizer(
            splits["train"]["text"],
            vocab_size=data_args.vocab_size,
            min_frequency=data_args.min_frequency,
            model_max_length=data_args.max_length,
            truncation_side=data_args.truncation_side,
        )
        # Every ModelArguments field but the vector source, OOV choice and pretrained model is an ImdbLstmConfig field.
        config_fields = {k: v for k, v in asdict(model_args).items() if k not in NOT_CONFIG_FIELDS}
        model = build_model(
            tokenizer, glove_source=model_args.glove, oov=model_args.oov_init, seed=training_args.seed, **config_fields,
            **label_fields,
        )
    coverage = model.config.embedding_coverage
    logger.info(
        "Model: %s, %d trainable parameters; vocabulary %d words, embedding from %s%s",
        model.config.cell if model.config.encoder == "rnn" else "cnn",
        sum(p.numel() for p in model.parameters() if p.requires_grad),
        len(tokenizer),
        model.config.embedding_source,
        f" (coverage {100 * coverage:.1f}%)" if coverage is not None else "",
    )

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
        eval_dataset=tokenized["validation"] if has_validation else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=metrics_for(model.config),
        callbacks=[EncoderUnfreezing(training_args.encoder_frozen_epochs)] if training_args.encoder_frozen_epochs else None,
        unlabelled_dataset=unlabelled,
    )

    def evaluate(train_metrics: dict) -> dict:
        results = {}
        if model_args.ngram_order:
            results.update(add_ngram_branch(trainer, tokenized, model_args))
            trainer.save_model()
        if has_validation:
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
            if training_args.do_predict and model.config.num_labels > 2:
                # Saved, not logged: Trainer's metric printout takes scalars only.
                names = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]
                results["test_confusion_matrix"] = multiclass_metrics(
                    np.argmax(test_output.predictions, axis=-1), test_output.label_ids, names)["confusion_matrix"]
            trainer.save_metrics("eval", results)
        if trainer.is_world_process_zero() and training_args.do_predict:
            logits = predictions_in_dataset_order(trainer, tokenized["test"], test_output)
            write_test_outputs(output_dir, splits["test"], logits, model.config.id2label)
        return results

    return PreparedRun(trainer, evaluate, train_metrics={"train_samples": len(train_dataset), **train_metrics})


def choose_labels(label_names: list[str] | None, num_labels: int | None) -> dict:
    """The config's label fields for the data: {} for IMDB's two integer labels (the config names them NEGATIVE and
    POSITIVE), else id2label and label2id from the data's label names, or LABEL_0.. for `num_labels` integer ids."""
    if label_names is not None:
        if num_labels is not None and num_labels != len(label_names):
            raise DataError(f"--num_labels {num_labels}, but the label column has {len(label_names)} distinct labels "
                            f"{label_names}; drop --num_labels (it is taken from the data) or fix the labels.")
        if len(label_names) < 2:
            raise DataError(f"The label column has a single label {label_names}: a classifier needs at least two.")
        id2label = dict(enumerate(label_names))
    elif num_labels is None or num_labels == 2:
        return {}
    elif num_labels < 2:
        raise DataError(f"--num_labels {num_labels}: a classifier needs at least two labels.")
    else:
        id2label = {i: f"LABEL_{i}" for i in range(num_labels)}
    return {"id2label": id2label, "label2id": {name: i for i, name in id2label.items()}}


def refuse_binary_only_parts(num_labels: int, model_args: ModelArguments, training_args: ImdbTrainingArguments) -> None:
    """The n-gram branch and distillation score NEGATIVE against POSITIVE: refuse them for other label sets before
    anything is trained."""
    if num_labels == 2:
        return
    if model_args.ngram_order:
        raise DataError(f"--ngram_order {model_args.ngram_order} with {num_labels} labels: the n-gram branch is binary "
                        "by nature (NB-weighted log-odds of POSITIVE against NEGATIVE); drop --ngram_order (0) to "
                        f"train a {num_labels}-class classifier.")
    if training_args.teacher_model:
        raise DataError(f"--teacher_model with {num_labels} labels: distillation here is binary by nature (its "
                        "teachers, ngram:N included, score NEGATIVE against POSITIVE); train without --teacher_model.")


def add_ngram_branch(trainer: Trainer, tokenized, model_args: ModelArguments) -> dict:
    """Fit the n-gram branch on the training reviews (each `--ngram_c` tried), choose C and the branch's share on
    validation, attach it to the trained classifier; returns what was chosen and measured (validation only)."""
    if "validation" not in tokenized:
        raise DataError("--ngram_order needs a validation split to choose the n-gram branch's weight; use the "
                        "canonical protocol with --validation_fraction > 0 or a protocol with a validation share.")
    model, train, validation = trainer.model, tokenized["train"], tokenized["validation"]
    recurrent_logits = predictions_in_dataset_order(trainer, validation, trainer.predict(validation))
    recurrent = recurrent_logits[:, 1] - recurrent_logits[:, 0]
    labels = np.asarray(validation["label"])
    best = None
    for ngrams in fit_ngram_logistic_regressions(train["input_ids"], train["label"], model.config.vocab_size,
                                                 order=model_args.ngram_order, min_count=model_args.ngram_min_count,
                                                 Cs=model_args.ngram_c):
        ngram_log_odds = ngrams.log_odds(validation["input_ids"])
        weight, joined_accuracy = choose_ngram_weight(recurrent, ngram_log_odds, labels)
        alone = accuracy(ngram_log_odds, labels)
        logger.info("n-gram C=%g: validation accuracy alone %.4f, joined %.4f (weight %.2f)", ngrams.C, alone,
                    joined_accuracy, weight)
        if best is None or joined_accuracy > best[0]:
            best = (joined_accuracy, ngrams, weight, alone)
    joined_accuracy, ngrams, weight, alone = best
    attach_ngram_branch(model, ngrams, weight)
    return {
        "eval_recurrent_accuracy": accuracy(recurrent, labels),
        "eval_ngram_accuracy": alone,
        "ngram_weight": weight,
        "ngram_c": ngrams.C,
        "ngram_features": len(ngrams.keys),
        "ngram_fit_seconds": round(ngrams.fit_seconds, 2),
    }


def prepare_perturbation_training(model, tokenizer, splits, tokenized, model_args: ModelArguments,
                                  data_args: DataArguments, training_args: ImdbTrainingArguments):
    """What `--normalize_embeddings` and `--vat_epsilon` need before training: the embedding normalised on the
    training token frequencies (folded into the encoder when it comes from `--model_name_or_path`), with
    `every_step` parametrised to stay so, and the tokenised unlabelled reviews for VAT (None without VAT, and when
    distilling, where VAT reads the transfer batches), the run's validation and test reviews left out."""
    if training_args.normalize_embeddings != "none":
        pretrained = bool(model_args.model_name_or_path)
        normalize_embeddings(model, token_frequencies(tokenized["train"]["input_ids"], model.config.vocab_size),
                             fold_into_encoder=pretrained,
                             every_step=training_args.normalize_embeddings == "every_step")
        every_step = parametrize.is_parametrized(model.get_input_embeddings(), "weight")
        if training_args.normalize_embeddings == "every_step" and not every_step:
            logger.info("--normalize_embeddings every_step: the embedding is frozen, so once is the same.")
        model.config.embedding_source = f"{model.config.embedding_source}, normalised" \
                                        f"{' at every training step' if every_step else ''} (frequency-weighted mean " \
                                        "0, variance 1 per dimension)"
        logger.info("Embedding normalised on the training token frequencies%s%s.",
                    ", and at every step" if every_step else "",
                    " (inverse folded into the pretrained encoder's first layer)" if pretrained else "")
    if not training_args.vat_epsilon > 0:
        return None
    if training_args.teacher_model:
        logger.info("VAT (epsilon %g) on the distillation transfer batches, reusing their clean pass.",
                    training_args.vat_epsilon)
        return None
    source = training_args.vat_dataset or data_args.dataset
    held_out = [text for name in ("validation", "test") if name in splits for text in splits[name]["text"]]
    texts = load_unlabelled_texts(source, training_args.vat_split_names, text_column=training_args.vat_text_column,
                                  use="VAT", excluded_texts=held_out)
    unlabelled = tokenize_unlabelled_texts(texts, tokenizer, training_args.vat_max_length)
    logger.info("VAT: %d unlabelled reviews from %s (%s), cut to %d tokens.", len(unlabelled), source,
                training_args.vat_splits, training_args.vat_max_length)
    return unlabelled


def prepare_distillation(model, tokenizer, splits, tokenized, data_args: DataArguments,
                         training_args: ImdbTrainingArguments):
    """The transfer set `--teacher_model` needs (see `imdb_lstm.training.distill`): the training reviews and the
    unlabelled `--distill_splits` (the run's validation and test reviews left out), with their targets; returns it
    and what the teachers measured. A classifier teacher trained under another split protocol than this run's is
    refused. The student's config records its teachers as `distilled_from`."""
    source = training_args.distill_dataset or data_args.dataset
    held_out = [text for name in ("validation", "test") if name in splits for text in splits[name]["text"]]
    texts = load_unlabelled_texts(source, training_args.distill_split_names, use="distillation", excluded_texts=held_out)
    transfer, report = prepare_transfer_set(training_args, tokenizer, splits["train"], tokenized["train"],
                                            splits.get("validation"), texts, data_args.max_length,
                                            {int(k): v for k, v in model.config.id2label.items()},
                                            split_protocol=split_protocol_of(data_args))
    model.config.distilled_from = ", ".join(training_args.teacher_model)
    logger.info("Distillation: %d transfer reviews (%d labelled) from %s, teachers %s.", len(transfer),
                len(tokenized["train"]), source, report["teacher_weights"])
    return transfer, report


def load_pretrained_for_classification(model_args: ModelArguments, data_args: DataArguments, label_fields=None):
    """(classifier, tokenizer) from `model_args.model_name_or_path`, a folder or Hub repo of an imdb-lstm model
    (a pretrained language model, or a classifier to fine-tune further): the tokenizer and the base model's
    weights are loaded, the classification head is new. The architecture (encoder, cell, sizes) is the pretrained
    one; pooling, dropouts and `freeze_embedding` come from `model_args`, the review length and truncation side
    from `data_args`. Raises `PretrainedModelError` when the source is no imdb-lstm model or its tokenizer does
    not match it. With `label_fields` (another label set than IMDB's, see `choose_labels`) a classifier of another
    number of labels is re-headed (ignore_mismatched_sizes): its encoder is kept, its head is new, and an n-gram
    branch, binary by nature, is dropped."""
    source = model_args.model_name_or_path
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
    if model_args.glove != DEFAULT_GLOVE:
        # The embedding comes from the pretrained model; a vector file given as well must at least fit it.
        dimension = load_glove(model_args.glove).vector_size
        if dimension != config.embedding_dim:
            raise PretrainedModelError(
                f"--glove {model_args.glove} holds {dimension}-dimensional vectors, but --model_name_or_path {source} "
                f"has a {config.embedding_dim}-dimensional embedding. Drop --glove (the pretrained embedding is "
                "used), or pretrain with these vectors (imdb-lstm-pretrain --glove ...)."
            )
        logger.warning("--glove %s is not read: the embedding comes from the pretrained model %s.", model_args.glove, source)
    tokenizer.model_max_length = data_args.max_length
    tokenizer.truncation_side = data_args.truncation_side
    overrides = {name: getattr(model_args, name) for name in FINE_TUNING_CONFIG_FIELDS}
    if label_fields:
        overrides.update(label_fields, num_labels=len(label_fields["id2label"]), ignore_mismatched_sizes=True)
        if getattr(config, "ngram_order", 0) and len(label_fields["id2label"]) != 2:
            overrides["ngram_order"] = 0
            logger.info("--model_name_or_path %s has an n-gram branch (order %d), which is binary by nature: dropped "
                        "for the %d labels of this data.", source, config.ngram_order, len(label_fields["id2label"]))
        if config.num_labels != len(label_fields["id2label"]):
            logger.info("--model_name_or_path %s: its encoder is kept and a new head for %d labels %s is trained.",
                        source, len(label_fields["id2label"]), list(label_fields["id2label"].values()))
    model = AutoModelForSequenceClassification.from_pretrained(
        source, **overrides, model_max_length=data_args.max_length, truncation_side=data_args.truncation_side,
        inference_dtype="auto",  # as build_model's: bfloat16 serving where it is free
    )
    initial = f"; its embedding started from {config.embedding_source}" if config.embedding_source else ""
    model.config.embedding_source = f"pretrained imdb-lstm model {source}{initial}"
    return model, tokenizer


def write_test_outputs(output_dir: Path, test_split, logits: np.ndarray, id2label: dict | None = None) -> None:
    """Per-review test predictions (JSON lines, dataset order) and the confusion-matrix picture. Two labels:
    p_negative and p_positive, as always; more: a probability per label name."""
    probabilities = torch.from_numpy(logits).float().softmax(dim=-1).numpy()
    predicted = probabilities.argmax(axis=-1)
    labels = np.asarray(test_split["label"])
    if probabilities.shape[-1] != 2:
        names = [str((id2label or {}).get(i, f"LABEL_{i}")) for i in range(probabilities.shape[-1])]
        with open(output_dir / "test_predictions.jsonl", "w", encoding="utf-8") as handle:
            for row, (label, prediction, p) in enumerate(zip(labels, predicted, probabilities)):
                handle.write(json.dumps({"row": row, "label": int(label), "prediction": int(prediction),
                                         "probabilities": dict(zip(names, p.tolist()))}) + "\n")
        matrix = multiclass_metrics(predicted, labels, names)["confusion_matrix"]
        plot_confusion_matrix(matrix, output_dir / "confusion_matrix.png", labels=names, title="Test confusion matrix")
        return
    with open(output_dir / "test_predictions.jsonl", "w", encoding="utf-8") as handle:
        for row, (label, prediction, p) in enumerate(zip(labels, predicted, probabilities)):
            handle.write(json.dumps({"row": row, "label": int(label), "prediction": int(prediction),
                                     "p_negative": float(p[0]), "p_positive": float(p[1])}) + "\n")
    matrix = binary_rates(predicted, labels)["confusion_matrix"]
    plot_confusion_matrix(matrix, output_dir / "confusion_matrix.png", title="IMDB test confusion matrix")


def main(argv=None) -> dict:
    """Parse `argv` and `run`: train, evaluate, save (the push, with `--push_to_hub`, is the command's:
    `imdb_lstm.commands.train.main`)."""
    return run(*parse_args(argv))
