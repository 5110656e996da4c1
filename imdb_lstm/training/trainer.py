"""The Trainer that fine-tuning runs (`imdb_lstm.training.finetune`), and its callbacks.

- `FineTuningTrainer`: discriminative learning rates (`--encoder_learning_rate_factor`); the adversarial and
  virtual adversarial terms on the embeddings (`imdb_lstm.training.adversarial`); distillation's loss on transfer
  batches that carry their teachers' logits (`imdb_lstm.training.distill`); the moving average of the weights
  (`--ema_decay`, `imdb_lstm.training.averaging`) evaluated, checkpointed, restored on resume and saved; an
  embedding normalised at every step saved as a plain classifier; validation and test scored in float32.
- `WeightAveraging`: updates the average after every optimiser step.
- `EncoderUnfreezing`: gradual unfreezing (`--encoder_frozen_epochs`).

The arguments it reads are `ImdbTrainingArguments`' (`imdb_lstm.training.finetune`), which gathers
`AdversarialArguments` and `DistillationArguments`; with plain `TrainingArguments` every extra term is off.
"""

import contextlib
import logging
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.nn.utils import parametrize
from transformers import DataCollatorWithPadding, Trainer, TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..predict import compute_context
from .adversarial import (EmbeddingPerturbation, UnlabelledBatches, adversarial_loss, bake_normalized_embeddings,
                          float32_passes, plain_state_dict, virtual_adversarial_loss)
from .averaging import ExponentialMovingAverage
from .distill import TEACHER_LOGITS, distillation_terms, weighted_distillation_loss

__all__ = ["TRAINING_WEIGHTS_NAME", "EncoderUnfreezing", "FineTuningTrainer", "WeightAveraging"]

logger = logging.getLogger(__name__)

# In a checkpoint folder, beside the model it saves (averaged, normalised: a plain classifier), what training goes on
# from when that is another thing (--ema_decay, --normalize_embeddings every_step): see FineTuningTrainer.
TRAINING_WEIGHTS_NAME = "training_weights.safetensors"


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
