"""Knowledge distillation (Hinton et al. 2015; Tang et al. 2019 distilled BERT into a BiLSTM the same way): a student
classifier learns its teachers' soft labels on a transfer set, the run's training reviews plus unlabelled reviews
(IMDB `unsupervised` by default; `test` refused, the run's validation and test reviews left out).

This module holds distillation's pieces, which fine-tuning (`imdb_lstm.training.finetune`) uses: its options
(`DistillationArguments`, gathered by fine-tuning's `ImdbTrainingArguments`), the loss, the transfer set and
`prepare_distillation`, the recipe's step that builds it;
`imdb-lstm-distill` (`imdb_lstm.commands.distill`) is `imdb-lstm-train` with `--teacher_model A [B ...]` required
(see `configs/distill_fast.json`):
the student is built and trained as any fresh model (its own tokenizer from the training texts, word vectors from
`--glove`), but each training batch's loss is the KL divergence from the targets at `--distill_temperature` (× T²,
Hinton's scaling), plus `--distill_label_weight` × the cross-entropy with the true label on the labelled rows
(plus, with `--adversarial_epsilon`, the same loss of the batch perturbed adversarially, and with `--vat_epsilon`
the virtual adversarial loss of the same transfer batch, reusing its clean pass: see `FineTuningTrainer`). The
teachers (trained classifiers, or `ngram:N`; an ensemble weighted on validation) score every transfer review once,
through their own tokenizers, and their scores are cached (`imdb_lstm.training.teachers`); the targets travel with
the batches as a `teacher_logits` column. On the training reviews the targets are the smoothed gold labels, the
teachers' out-of-fold scores or their in-sample ones (`--distill_labelled_targets`). Everything after training
(the n-gram branch, validation, the single test score, saving, pushing) is the fine-tuning recipe's, and the
student's config records its teachers (`distilled_from`).
"""

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from datasets import Dataset, concatenate_datasets

from ..data import check_unlabelled_splits, load_unlabelled_texts, tokenize_unlabelled_texts
from .teachers import (LABELLED_TARGETS, SoftLabelCache, TeacherError, choose_weights, ensemble_logits,
                       labelled_targets, load_teachers, split_protocol_of)

__all__ = [
    "TEACHER_LOGITS", "DistillationArguments",
    "distillation_loss", "distillation_terms", "prepare_distillation", "prepare_transfer_set", "transfer_set",
    "weighted_distillation_loss",
]

logger = logging.getLogger(__name__)

TEACHER_LOGITS = "teacher_logits"


@dataclass
class DistillationArguments:
    """Knowledge distillation from trained classifiers or n-gram teachers (`--teacher_model`); checked when made.
    A mixin of fine-tuning's `ImdbTrainingArguments` (the flags are the fine-tuning command's, and
    `imdb-lstm-distill`'s), usable on its own."""

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

    def __post_init__(self):
        if isinstance(self.teacher_model, str):  # one teacher, as a JSON string
            self.teacher_model = [self.teacher_model]
        if self.distill_labelled_targets not in LABELLED_TARGETS:
            raise ValueError(f"--distill_labelled_targets={self.distill_labelled_targets!r}: choose one of "
                             f"{', '.join(LABELLED_TARGETS)}.")
        if not 0 <= self.distill_label_smoothing < 1:
            raise ValueError(f"--distill_label_smoothing={self.distill_label_smoothing} must be in [0, 1).")
        if self.teacher_model:
            check_unlabelled_splits(self.distill_split_names, "distillation")
        if not 0 < self.distill_temperature < float("inf"):
            raise ValueError(f"--distill_temperature={self.distill_temperature} must be a positive finite number (1: "
                             "the teacher's own probabilities).")
        if isinstance(self.distill_label_weight, bool) or not 0 <= self.distill_label_weight < float("inf"):
            raise ValueError(f"--distill_label_weight={self.distill_label_weight} must be a finite number >= 0.")
        if hasattr(super(), "__post_init__"):  # the next dataclass of a class that gathers several
            super().__post_init__()

    @property
    def distill_split_names(self) -> list[str]:
        return [name.strip() for name in self.distill_splits.split(",") if name.strip()]


def transfer_set(labelled, unlabelled, labelled_logits: np.ndarray, unlabelled_logits: np.ndarray) -> Dataset:
    """The student's training set: tokenised labelled rows (`input_ids`, `attention_mask`, `label`) and tokenised
    unlabelled rows (label -100: no true label), each with its teacher's logits in a `teacher_logits` column."""
    columns = ["input_ids", "attention_mask"]
    labelled = labelled.select_columns([*columns, "label"]).add_column(TEACHER_LOGITS, labelled_logits.tolist())
    unlabelled = unlabelled.select_columns(columns)
    unlabelled = unlabelled.add_column("label", [-100] * len(unlabelled))
    unlabelled = unlabelled.add_column(TEACHER_LOGITS, unlabelled_logits.tolist())
    return concatenate_datasets([labelled, unlabelled.cast(labelled.features)])


def distillation_terms(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor | None,
                       temperature: float = 1.0, label_weight: float = 0.0) -> dict[str, torch.Tensor]:
    """The terms of `distillation_loss`, unweighted: `distillation_loss`, T² · KL(teacher ‖ student), both softened
    by `temperature`, averaged over the rows; with `label_weight` > 0, `supervised_loss`, the cross-entropy with
    `labels` over the rows that have one (label != -100), where the batch has such a row."""
    teacher = torch.log_softmax(teacher_logits.float() / temperature, dim=-1)
    student = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    terms = {"distillation_loss": torch.nn.functional.kl_div(student, teacher, log_target=True,
                                                             reduction="batchmean") * temperature ** 2}
    if label_weight > 0 and labels is not None and bool((labels != -100).any()):
        terms["supervised_loss"] = torch.nn.functional.cross_entropy(student_logits.float(), labels.long().view(-1),
                                                                     ignore_index=-100)
    return terms


def weighted_distillation_loss(terms: dict[str, torch.Tensor], label_weight: float = 0.0) -> torch.Tensor:
    """`distillation_terms`' terms joined: the KL term plus `label_weight` × the cross-entropy where there is one."""
    loss = terms["distillation_loss"]
    if "supervised_loss" in terms:
        loss = loss + label_weight * terms["supervised_loss"]
    return loss


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor | None,
                      temperature: float = 1.0, label_weight: float = 0.0) -> torch.Tensor:
    """T² · KL(teacher ‖ student), both softened by `temperature`, averaged over the rows, plus `label_weight` ×
    the cross-entropy with `labels` over the rows that have one (label != -100)."""
    return weighted_distillation_loss(distillation_terms(student_logits, teacher_logits, labels, temperature,
                                                         label_weight), label_weight)


def prepare_transfer_set(args, tokenizer, train_split, tokenized_train, validation_split, unlabelled_texts: Dataset,
                         max_length: int, id2label: dict, split_protocol: dict | None = None) -> tuple[Dataset, dict]:
    """The student's training set (see `transfer_set`) and what the teachers measured: the teachers of
    `args.teacher_model` (see `imdb_lstm.training.teachers`) weighted on `validation_split`, their ensemble's soft
    labels on `unlabelled_texts` (tokenised by the student's `tokenizer`, cut to `max_length` tokens; texts with no
    token left dropped) and the targets of the training reviews chosen by `args.distill_labelled_targets`. Every
    teacher's logits go through the soft-label cache (`args.soft_label_cache`). Given the run's `split_protocol`
    (`teachers.split_protocol_of`), a classifier teacher trained under another is refused."""
    train_texts, train_labels = list(train_split["text"]), np.asarray(train_split["label"])
    teachers = load_teachers(args.teacher_model, train_texts, train_labels, id2label, folds=args.teacher_folds,
                             seed=args.seed, batch_size=args.per_device_eval_batch_size, split_protocol=split_protocol)
    cache = SoftLabelCache(args.soft_label_cache)
    report = {"teachers": [teacher.name for teacher in teachers]}
    if validation_split is not None and len(validation_split):
        texts, labels = list(validation_split["text"]), np.asarray(validation_split["label"])
        members = [cache.logits(teacher, "validation", texts) for teacher in teachers]
        weights, loss = choose_weights(members, labels)
        report["teacher_validation_accuracy"] = {
            teacher.name: float((logits.argmax(1) == labels).mean()) for teacher, logits in zip(teachers, members)}
        report["ensemble_validation_accuracy"] = float((ensemble_logits(members, weights).argmax(1) == labels).mean())
        report["ensemble_validation_log_loss"] = round(loss, 5)
    elif len(teachers) > 1:
        raise TeacherError("Several teachers need a validation split to choose their weights: use the canonical "
                           "protocol with --validation_fraction > 0, or one teacher.")
    else:
        weights = (1.0,)
    report["teacher_weights"] = dict(zip(report["teachers"], weights))
    logger.info("Teachers: %s", report)

    # Scored before the student's tokenizer drops texts it cannot read, so the cache serves any student.
    all_texts = list(unlabelled_texts["text"])
    scores = ensemble_logits([cache.logits(teacher, "unlabelled", all_texts) for teacher in teachers], weights)
    unlabelled = tokenize_unlabelled_texts(unlabelled_texts, tokenizer, max_length, keep_text=True)
    row_of = {text: row for row, text in enumerate(all_texts)}
    unlabelled_logits = scores[[row_of[text] for text in unlabelled["text"]]]

    kind = args.distill_labelled_targets
    in_sample = [cache.logits(teacher, "train", train_texts) for teacher in teachers] if kind == "teacher" else None
    labelled_logits = labelled_targets(kind, teachers, in_sample, weights, train_labels, args.distill_label_smoothing,
                                       len(id2label))
    if kind != "gold":
        report["teacher_train_agreement"] = float((labelled_logits.argmax(1) == train_labels).mean())
    logger.info("Transfer set: %d training reviews (targets: %s) and %d unlabelled reviews.", len(tokenized_train),
                kind, len(unlabelled))
    return transfer_set(tokenized_train, unlabelled, labelled_logits, unlabelled_logits), report


def prepare_distillation(model, tokenizer, splits, tokenized, data_args, training_args) -> tuple[Dataset, dict]:
    """The transfer set `--teacher_model` needs (see `prepare_transfer_set`): the training reviews and the
    unlabelled `--distill_splits` (the run's validation and test reviews left out), with their targets; returns it
    and what the teachers measured. A classifier teacher trained under another split protocol than this run's
    (`data_args`) is refused. The student's config records its teachers as `distilled_from`."""
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
