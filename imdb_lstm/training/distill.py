"""Knowledge distillation (Hinton et al. 2015; Tang et al. 2019 distilled BERT into a BiLSTM the same way): a small,
fast student classifier learns a trained classifier's (the teacher's) soft labels on a transfer set, the run's
training reviews plus unlabelled reviews (IMDB `unsupervised` by default; `test` refused, the run's validation and
test reviews left out).

`imdb-lstm-distill` is `imdb-lstm-train` with `--teacher_model DIR` set (see `configs/distill_fast.json`): the
student is built and trained as any fresh model (its own tokenizer from the training texts, word vectors from
`--glove`), but each training batch's loss is the KL divergence from the teacher's label distribution at
`--distill_temperature` (× T², Hinton's scaling), plus `--distill_label_weight` × the cross-entropy with the true
label on the labelled rows. The teacher scores every transfer review once, before training, through its own
tokenizer (so teacher and student may cut and split reviews differently); the scores travel with the batches as
a `teacher_logits` column. Everything after training (the n-gram branch, validation, the single test score,
saving, pushing) is the fine-tuning recipe's, and the student's config records its teacher (`distilled_from`).
"""

import logging

import numpy as np
import torch
from datasets import Dataset, concatenate_datasets

from ..data import DataError, check_pretraining_splits, load_unlabelled_texts, without_texts

logger = logging.getLogger(__name__)

TEACHER_LOGITS = "teacher_logits"


def check_distill_splits(splits: list[str]) -> None:
    """Refuse an empty list of transfer splits and IMDB's `test` (see `data.check_pretraining_splits`)."""
    try:
        check_pretraining_splits(splits)
    except DataError as error:
        raise DataError(
            f"--distill_splits {','.join(splits) or '(empty)'}: the student learns the teacher's labels on reviews "
            "other than test (test reviews score the student and must never reach its training, not even through "
            "the teacher); give e.g. --distill_splits unsupervised."
        ) from error


def load_transfer_texts(source: str, splits: list[str], excluded_texts=()) -> Dataset:
    """The unlabelled part of the transfer set: the `splits` of a `datasets` source as a dataset with one `text`
    column, without empty texts and without any text in `excluded_texts` (the run's validation and test reviews).
    Raises `DataError` for a source without text or a `test` split."""
    check_distill_splits(splits)
    kept = without_texts(load_unlabelled_texts(source, splits), excluded_texts)
    if len(kept) == 0:
        raise DataError(f"--distill_dataset {source} (--distill_splits {','.join(splits)}) holds no non-empty text "
                        "outside the run's validation and test reviews; give unlabelled reviews, e.g. "
                        "--distill_dataset ../shared/data/imdb --distill_splits unsupervised.")
    return kept


def teacher_logits(teacher_dir: str, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """(n, num_labels) float32 logits of the classifier in `teacher_dir` for `texts`, in input order, computed in
    float32 (the targets should not carry bfloat16 noise)."""
    from ..predict import load_classifier, predict_logits

    model, tokenizer = load_classifier(teacher_dir)
    if hasattr(model.config, "inference_dtype"):
        model.config.inference_dtype = "float32"
    return predict_logits(model, tokenizer, list(texts), batch_size=batch_size, dtype="float32").numpy()


def transfer_set(labelled, unlabelled, labelled_logits: np.ndarray, unlabelled_logits: np.ndarray) -> Dataset:
    """The student's training set: tokenised labelled rows (`input_ids`, `attention_mask`, `label`) and tokenised
    unlabelled rows (label -100: no true label), each with its teacher's logits in a `teacher_logits` column."""
    columns = ["input_ids", "attention_mask"]
    labelled = labelled.select_columns([*columns, "label"]).add_column(TEACHER_LOGITS, labelled_logits.tolist())
    unlabelled = unlabelled.select_columns(columns)
    unlabelled = unlabelled.add_column("label", [-100] * len(unlabelled))
    unlabelled = unlabelled.add_column(TEACHER_LOGITS, unlabelled_logits.tolist())
    return concatenate_datasets([labelled, unlabelled.cast(labelled.features)])


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor | None,
                      temperature: float = 1.0, label_weight: float = 0.0) -> torch.Tensor:
    """T² · KL(teacher ‖ student), both softened by `temperature`, averaged over the rows, plus `label_weight` ×
    the cross-entropy with `labels` over the rows that have one (label != -100)."""
    teacher = torch.log_softmax(teacher_logits.float() / temperature, dim=-1)
    student = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    loss = torch.nn.functional.kl_div(student, teacher, log_target=True, reduction="batchmean") * temperature ** 2
    if label_weight > 0 and labels is not None and bool((labels != -100).any()):
        loss = loss + label_weight * torch.nn.functional.cross_entropy(student_logits.float(), labels.long().view(-1),
                                                                       ignore_index=-100)
    return loss


def prepare_transfer_set(teacher_dir: str, tokenizer, train_texts, tokenized_train, unlabelled_texts: Dataset,
                         max_length: int, batch_size: int = 256) -> Dataset:
    """The student's training set (see `transfer_set`): the run's tokenised training reviews and `unlabelled_texts`
    tokenised by the student's `tokenizer` (cut to `max_length` tokens; texts with no token left dropped), each
    scored by the teacher in `teacher_dir` on its full text."""
    from .adversarial import tokenize_vat_texts

    unlabelled = tokenize_vat_texts(unlabelled_texts, tokenizer, max_length, keep_text=True)
    logger.info("Teacher %s scoring %d training and %d unlabelled reviews.", teacher_dir, len(tokenized_train),
                len(unlabelled))
    labelled_logits = teacher_logits(teacher_dir, list(train_texts), batch_size)
    unlabelled_logits = teacher_logits(teacher_dir, list(unlabelled["text"]), batch_size)
    agreement = float((labelled_logits.argmax(-1) == np.asarray(tokenized_train["label"])).mean())
    logger.info("Teacher agrees with %.4f of the training labels.", agreement)
    return transfer_set(tokenized_train, unlabelled, labelled_logits, unlabelled_logits)


def main(argv=None) -> dict:
    """`imdb-lstm-distill`: `imdb-lstm-train`'s arguments, `--teacher_model` required."""
    from .finetune import parse_args, run

    model_args, data_args, training_args = parse_args(argv)
    if not training_args.teacher_model:
        raise DataError("imdb-lstm-distill needs --teacher_model: the folder (or Hub repo) of a trained imdb-lstm "
                        "classifier whose soft labels the student learns, e.g. --teacher_model outputs/recipe.")
    return run(model_args, data_args, training_args)


def cli_main() -> None:
    """The `imdb-lstm-distill` command (and `scripts/distill.py`)."""
    import sys

    from .finetune import PretrainedModelError

    try:
        main()
    except (DataError, PretrainedModelError) as error:
        sys.exit(f"error: {error}")
