"""Adversarial and virtual adversarial training on the word embeddings (Miyato, Dai & Goodfellow 2017), for
`ImdbLstmForSequenceClassification`, without changing the model: everything happens through forward hooks while a
`EmbeddingPerturbation` is active, so the saved model is a plain classifier.

- Where the perturbation goes: added to the output of the base model's embedding dropout (`embedding_dropout`,
  which works on `(batch, dim, time)`), in the model's own layout (real tokens first, rows cut to
  `config.model_max_length`), zero at padding.
- Its size: `r = ε · g / ‖g‖`, the L2 norm taken per review over its whole masked (time × dim) block.
- Adversarial loss (`adversarial_loss`): `g` is the gradient of the supervised loss with respect to the perturbation;
  the loss of the perturbed batch is added to the clean one.
- Virtual adversarial loss (`virtual_adversarial_loss`, needs no labels): a random direction `d` of norm `ξ`, one
  power iteration (`g` = gradient of KL(p_clean ‖ p(x + d)) with respect to `d`), `r = ε · g / ‖g‖`, and the loss
  KL(p_clean ‖ p(x + r)) at the output, the clean prediction detached.
- Dropout: every perturbed pass reuses the dropout masks of the clean pass it is compared with (embedding dropout,
  dropout between layers, dropout before the head), as in the reference implementation, where the perturbed
  embedding is the clean one (after its dropout) plus `r` and the rest of the network is deterministic. The
  difference between the passes is then the perturbation alone: KL is exactly 0 at ε = 0, and the power iteration
  is not swamped by dropout noise.
- Length buckets: the classifier splits a batch into length buckets only without gradients; every pass here runs
  with gradients (the clean VAT prediction too, then detached), so each is one pass over the whole batch and the
  recorded masks line up.
- Precision: under bf16 autocast, VAT's clean pass and power iteration still run in float32 (a step of norm ξ
  spread over a review is below bf16's resolution); the final perturbed pass runs in the ambient precision.
  `float32_passes` switches both kinds of autocast off: the ambient one and the one Accelerate wraps around
  `model.forward` under Trainer's `--bf16` (which a surrounding `torch.autocast(enabled=False)` cannot reach).
- Reusing a clean pass: `virtual_adversarial_loss(..., clean_logits=...)` takes the logits of a clean float32 pass
  of the same batch already run under `record()` (distillation's pass over a transfer batch), instead of running
  its own.
- Embedding normalisation (`normalize_embeddings`): each dimension of the word vectors shifted and scaled to
  frequency-weighted mean 0 and variance 1 (the frequencies counted on the training token ids), so that ε means
  the same for any vectors; the padding row kept zero. Applied once before training, and with `every_step` (as
  Miyato's code) kept so: the trainable matrix is parametrised (`FrequencyWeightedNormalization`, through
  `torch.nn.utils.parametrize`), the network reading its normalisation, recomputed at every forward pass, with
  gradients through it; otherwise nothing could stop the embedding from growing until a fixed ε no longer
  mattered. The saved model is a plain classifier holding the normalised vectors (`plain_state_dict` while
  training, `bake_normalized_embeddings` at its end). For an encoder that was already trained on the vectors (a
  pretrained language model) the inverse transform of the starting vectors is folded into the encoder's first
  layer, so the model starts out computing what it computed before.

Unlabelled reviews for VAT: `load_vat_reviews` (`imdb_lstm.data.load_unlabelled_texts(..., use="VAT")`: any
`datasets` text source, `test` refused, the run's validation and test reviews left out; tokenised by
`imdb_lstm.data.tokenize_unlabelled_texts`), and `UnlabelledBatches` (an endless, seeded, length-grouped iterator
over them).

The command-line options of all this are `AdversarialArguments` (`--adversarial_epsilon`, `--vat_*`,
`--normalize_embeddings`), each checked when it is made; fine-tuning's `ImdbTrainingArguments` gathers them, and
`FineTuningTrainer` (`imdb_lstm.training.trainer`) adds the terms to the loss.
"""

import contextlib
import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize
from transformers.trainer_pt_utils import get_length_grouped_indices

from ..data import check_unlabelled_splits, load_unlabelled_texts, tokenize_unlabelled_texts

__all__ = [
    "AdversarialArguments", "EmbeddingPerturbation", "FrequencyWeightedNormalization", "UnlabelledBatches",
    "adversarial_loss", "bake_normalized_embeddings", "float32_passes", "kl_from_logits", "load_vat_reviews",
    "normalization_mode", "normalize_embeddings", "normalize_for_training", "plain_state_dict", "real_token_mask",
    "scale_per_review", "token_frequencies", "virtual_adversarial_loss",
]

logger = logging.getLogger(__name__)

# Mega-batches of this many batches are sorted by length before they are cut (as Trainer's group_by_length).
LENGTH_GROUP_BATCHES = 50
# --normalize_embeddings: what each value does (see normalize_embeddings), and the booleans of configs written before
# there were three.
NORMALIZATION_MODES = ("none", "once", "every_step")
NORMALIZATION_ALIASES = {"false": "none", "true": "once"}
# Options of VAT's own stream of unlabelled batches, which distillation replaces by its transfer batches.
VAT_STREAM_OPTIONS = ("vat_dataset", "vat_splits", "vat_text_column", "vat_batch_size", "vat_max_length")


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


def _is_finite_at_least_zero(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value < float("inf")


@dataclass
class AdversarialArguments:
    """Adversarial and virtual adversarial training on the embeddings (Miyato et al. 2017), and the embedding
    normalisation that makes their epsilons mean the same for any vectors; checked when made. A mixin of
    fine-tuning's `ImdbTrainingArguments` (the flags are the fine-tuning command's), usable on its own."""

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
    normalize_embeddings: str = field(
        default="none",
        metadata={"help": "shift and scale each embedding dimension to mean 0 and variance 1 weighted by the training "
                  "token frequencies, so that the epsilons mean the same for any vectors: 'once' (before training; "
                  "true), 'every_step' (as Miyato et al.: the network reads the trainable matrix normalised at every "
                  "step, gradients through the normalisation; the saved model holds the normalised vectors) or "
                  "'none' (false). A pretrained encoder's first layer absorbs the inverse transform of its vectors"},
    )

    def __post_init__(self):
        self.normalize_embeddings = normalization_mode(self.normalize_embeddings)
        for name, what in (("adversarial_epsilon", "adversarial training"), ("vat_epsilon", "VAT")):
            if not _is_finite_at_least_zero(getattr(self, name)):
                raise ValueError(f"--{name}={getattr(self, name)}: {what} needs a perturbation norm (L2 per review) "
                                 "that is a positive finite number, e.g. 5 on normalised embeddings as Miyato et al.; "
                                 f"give 0 to switch {what} off.")
        if not _is_finite_at_least_zero(self.vat_weight):
            raise ValueError(f"--vat_weight={self.vat_weight} must be a finite number >= 0 (0 switches the term off).")
        if not self.vat_xi > 0 or self.vat_xi == float("inf"):
            raise ValueError(f"--vat_xi={self.vat_xi} must be a positive finite number (the reference uses 0.1).")
        for name in ("vat_batch_size", "vat_max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name}={getattr(self, name)} must be at least 1.")
        check_unlabelled_splits(self.vat_split_names, "VAT")
        if not self.vat_epsilon > 0 and self.vat_dataset is not None:
            raise ValueError(f"--vat_dataset {self.vat_dataset} is given, but --vat_epsilon is {self.vat_epsilon}: "
                             "VAT is off and would not read it. Give --vat_epsilon > 0 (e.g. 5) to train with VAT, or "
                             "drop --vat_dataset.")
        if hasattr(super(), "__post_init__"):  # the next dataclass of a class that gathers several
            super().__post_init__()

    def refuse_vat_stream_options(self) -> None:
        """Refuse the options of VAT's own unlabelled stream (VAT_STREAM_OPTIONS) given other values than their
        defaults: for a run where VAT reads distillation's transfer batches instead (--teacher_model with
        --vat_epsilon), so that nothing would read them."""
        defaults = {name: type(self).__dataclass_fields__[name].default for name in VAT_STREAM_OPTIONS}
        given = [f"--{name} {getattr(self, name)}" for name in VAT_STREAM_OPTIONS
                 if getattr(self, name) != defaults[name]]
        if given:
            raise ValueError(
                f"{', '.join(given)} with --teacher_model and --vat_epsilon: when distilling, VAT runs on each "
                "transfer batch (the training reviews and the unlabelled --distill_splits of --distill_dataset), "
                "reusing its clean pass, and reads no separate unlabelled stream. Drop those options; choose the "
                "unlabelled reviews with --distill_dataset and --distill_splits."
            )

    @property
    def vat_split_names(self) -> list[str]:
        return [name.strip() for name in self.vat_splits.split(",") if name.strip()]


class EmbeddingPerturbation:
    """Hooks on an imdb-lstm classifier (`ImdbLstmForSequenceClassification`, or a model holding its base model as
    `base_model`) that add a perturbation after the embedding dropout and make perturbed passes reuse the dropout
    masks of a clean pass. Use as a context manager (the hooks are removed on exit):

        with EmbeddingPerturbation(model) as perturbation:
            perturbation.record(track_gradient=True)   # the next pass draws dropout masks and keeps them
            loss = model(**batch).loss
            g = perturbation.gradient(loss)             # d loss / d perturbation, (batch, time, dim)
            perturbation.replay(r)                      # the next pass reuses the masks, adds r (batch, time, dim)
            adversarial = model(**batch).loss

    Each `record` or `replay` is for one forward pass: a second pass before the next call is refused (as is a
    batch split into length buckets, which only happens without gradients)."""

    def __init__(self, model: nn.Module):
        base = getattr(model, "base_model", None)
        if base is None or not isinstance(getattr(base, "embedding_dropout", None), nn.Module) \
                or not hasattr(base, "prepare_inputs"):
            raise TypeError(f"{type(model).__name__} is no imdb-lstm model: adversarial training needs a base model "
                            "with `embedding_dropout` and `prepare_inputs` (ImdbLstmForSequenceClassification).")
        self.model = model
        self.embedding_dropout = base.embedding_dropout
        self.dropouts = [module for module in model.modules() if isinstance(module, nn.modules.dropout._DropoutNd)]
        if self.embedding_dropout not in self.dropouts:
            self.dropouts.append(self.embedding_dropout)
        self.handles = []
        self.mode = None
        self.masks = {}
        self.calls = {}
        self.perturbation = None
        self.track_gradient = False
        self.origin = None

    def __enter__(self):
        self.handles = [module.register_forward_hook(self._hook) for module in self.dropouts]
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        self.handles, self.masks, self.origin, self.perturbation, self.mode = [], {}, None, None, None
        return False

    def record(self, track_gradient: bool = False) -> None:
        """The next forward pass draws fresh dropout masks and keeps them; with `track_gradient`, a zero
        perturbation is added after the embedding dropout, so that `gradient` can differentiate with respect to it."""
        self.mode, self.masks, self.calls = "record", {}, {}
        self.perturbation, self.track_gradient, self.origin = None, track_gradient, None

    def replay(self, perturbation: torch.Tensor | None = None) -> None:
        """The next forward pass reuses the recorded dropout masks and adds `perturbation` (batch, time, dim, in
        the model's layout; None: nothing) after the embedding dropout."""
        if self.mode is None:
            raise RuntimeError("replay() needs a pass recorded first (record(), then a forward pass).")
        self.mode, self.calls, self.perturbation = "replay", {}, perturbation

    def gradient(self, loss: torch.Tensor) -> torch.Tensor:
        """The gradient of `loss` (computed in the last `record(track_gradient=True)` pass) with respect to the
        perturbation after the embedding dropout, (batch, time, dim); the graph is kept for the backward pass."""
        if self.origin is None:
            raise RuntimeError("gradient() needs a pass recorded with record(track_gradient=True).")
        (gradient,) = torch.autograd.grad(loss, self.origin, retain_graph=True)
        return gradient

    def _hook(self, module: nn.Module, args: tuple, output: torch.Tensor):
        if self.mode is None:
            return None
        self.calls[module] = self.calls.get(module, 0) + 1
        if self.calls[module] > 1:
            raise RuntimeError(
                f"{type(module).__name__} ran twice in one {self.mode}ed pass: call record() or replay() before "
                "each forward pass, and run them with gradients enabled (without, the classifier may split a batch "
                "into length buckets)."
            )
        inputs = args[0]
        if self.mode == "record":
            self.masks[module] = _dropout_mask(module, inputs)
        elif module not in self.masks:
            raise RuntimeError(f"No dropout mask was recorded for {type(module).__name__}: replay() the model whose "
                               "pass was recorded.")
        mask = self.masks[module]
        if mask is not None and mask.shape != _mask_shape(module, inputs):
            raise RuntimeError(f"The replayed batch has shape {tuple(inputs.shape)} at {type(module).__name__}, "
                               f"the recorded one a mask of shape {tuple(mask.shape)}: replay the recorded batch.")
        result = inputs if mask is None else inputs * mask.to(inputs.dtype)
        if module is not self.embedding_dropout:
            return result
        # (batch, dim, time) here; perturbations are given as (batch, time, dim), the layout of the embedding output.
        if self.mode == "record" and self.track_gradient:
            self.origin = torch.zeros(result.size(0), result.size(2), result.size(1), dtype=torch.float32,
                                      device=result.device, requires_grad=True)
            return result + self.origin.transpose(1, 2).to(result.dtype)
        if self.mode == "replay" and self.perturbation is not None:
            expected = (result.size(0), result.size(2), result.size(1))
            if tuple(self.perturbation.shape) != expected:
                raise RuntimeError(f"The perturbation has shape {tuple(self.perturbation.shape)}; the batch's embedding "
                                   f"output (batch, time, dim) is {expected}. Build it with real_token_mask().")
            return result + self.perturbation.transpose(1, 2).to(result.dtype)
        return result


def _mask_shape(module: nn.Module, inputs: torch.Tensor) -> tuple[int, ...]:
    if type(module) is nn.Dropout:
        return tuple(inputs.shape)
    # Dropout1d/2d/3d drop whole channels: (batch, channels, 1, ...), or (channels, 1, ...) unbatched.
    batched = inputs.dim() == {nn.Dropout1d: 3, nn.Dropout2d: 4, nn.Dropout3d: 5}.get(type(module), inputs.dim())
    leading = 2 if batched else 1
    return tuple(inputs.shape[:leading]) + (1,) * (inputs.dim() - leading)


def _dropout_mask(module: nn.Module, inputs: torch.Tensor) -> torch.Tensor | None:
    """A fresh mask for `module` (already scaled by 1 / (1 - p)), or None where it leaves its input unchanged."""
    if not module.training or module.p == 0:
        return None
    if type(module) not in (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d):
        raise TypeError(f"Perturbed passes cannot reuse the masks of {type(module).__name__}; only nn.Dropout and "
                        "nn.Dropout1d/2d/3d are supported.")
    keep = 1.0 - module.p
    if keep == 0:
        return torch.zeros(_mask_shape(module, inputs), device=inputs.device)
    return torch.empty(_mask_shape(module, inputs), device=inputs.device).bernoulli_(keep) / keep


def real_token_mask(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """(batch, time, 1) float mask of the real tokens in the model's own layout (what `ImdbLstmModel.prepare_inputs`
    makes of the batch: left padding rotated away, rows cut to `config.model_max_length`), the layout in which
    `EmbeddingPerturbation` takes perturbations."""
    prepared, lengths, _, _ = model.base_model.prepare_inputs(input_ids, attention_mask)
    steps = torch.arange(prepared.size(1), device=prepared.device).unsqueeze(0)
    return (steps < lengths.unsqueeze(1)).unsqueeze(-1).float()


def scale_per_review(direction: torch.Tensor, mask: torch.Tensor, norm: float) -> torch.Tensor:
    """`direction` (batch, time, dim) zeroed where `mask` (batch, time, 1) is 0 and scaled so that each review's
    whole block has L2 norm `norm` (a review whose masked block is zero stays zero). Computed in float32."""
    direction = direction.float() * mask
    # Divided by the largest entry first, so that tiny or huge gradients neither underflow nor overflow when squared.
    peak = direction.abs().amax(dim=(1, 2), keepdim=True)
    unit = direction / peak.clamp_min(1e-30)
    length = unit.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
    return norm * torch.where(length > 0, unit / length.clamp_min(1e-30), torch.zeros_like(unit))


def kl_from_logits(clean_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of KL(p_clean ‖ p), p_clean = softmax(`clean_logits`) taken as a constant (detached)."""
    clean = torch.log_softmax(clean_logits.detach().float(), dim=-1)
    perturbed = torch.log_softmax(logits.float(), dim=-1)
    return (clean.exp() * (clean - perturbed)).sum(dim=-1).mean()


def adversarial_loss(model: nn.Module, inputs: dict, clean_loss: torch.Tensor, perturbation: EmbeddingPerturbation,
                     epsilon: float, loss_of=None) -> torch.Tensor:
    """The loss of `inputs` perturbed by r = ε · g / ‖g‖ per review, g the gradient of `clean_loss` with respect to
    the perturbation (the clean pass must have been run under `perturbation.record(track_gradient=True)`); the
    perturbed pass reuses its dropout masks. `loss_of(model, inputs)` computes the loss (default: the model's own,
    from `inputs["labels"]`)."""
    mask = real_token_mask(model, inputs["input_ids"], inputs.get("attention_mask"))
    radius = scale_per_review(perturbation.gradient(clean_loss), mask, epsilon).detach()
    perturbation.replay(radius)
    if loss_of is not None:
        return loss_of(model, inputs)
    return model(**inputs).loss


@contextlib.contextmanager
def float32_passes(model: nn.Module):
    """A context in which `model`'s forward passes compute in float32 (weights in float32) under any autocast: the
    ambient autocast of its device switched off, and the autocast that Accelerate wraps around `model.forward` for
    mixed precision (Trainer's `--bf16`: `model.forward` replaced by an autocast wrapper, `model._original_forward`
    kept) bypassed for the duration. A surrounding `torch.autocast(enabled=False)` alone cannot undo that wrapper,
    which enters autocast again inside the call. The model is left as it was on exit."""
    device_type = next(model.parameters()).device.type
    wrapped, original = model.__dict__.get("forward"), model.__dict__.get("_original_forward")
    with torch.autocast(device_type, enabled=False):
        if wrapped is None or original is None:
            yield
            return
        model.forward = original
        try:
            yield
        finally:
            model.forward = wrapped


def virtual_adversarial_loss(model: nn.Module, inputs: dict, perturbation: EmbeddingPerturbation, epsilon: float,
                             xi: float = 0.1, power_iterations: int = 1,
                             clean_logits: torch.Tensor | None = None) -> torch.Tensor:
    """KL(p_clean ‖ p(x + r_vadv)) averaged over the reviews of `inputs` (input_ids, attention_mask; labels are
    not used): the clean prediction p_clean computed first (with gradients, so the batch is never split into length
    buckets, then detached), a random direction of norm `xi` refined by `power_iterations` power iterations, r_vadv
    = ε · g / ‖g‖ per review. All passes share the clean pass's dropout masks.

    With `clean_logits`, the logits of a clean pass of these very `inputs` that the caller already ran under
    `perturbation.record()` (distillation reuses its pass over the transfer batch), no clean pass is run here; that
    pass must have run in float32 (`float32_passes`), as the power iteration compares its perturbed passes with it
    at a step far below bf16's resolution."""
    inputs = {name: inputs[name] for name in ("input_ids", "attention_mask") if name in inputs}
    with torch.enable_grad():
        # In float32 even under bf16 autocast: a step of norm ξ spread over a whole review is far below bf16's
        # resolution, and the power iteration would follow rounding noise instead of the curvature.
        with float32_passes(model):
            if clean_logits is None:
                perturbation.record()
                clean_logits = model(**inputs).logits
            clean_logits = clean_logits.detach()
            mask = real_token_mask(model, inputs["input_ids"], inputs.get("attention_mask"))
            embedding_dim = model.base_model.get_input_embeddings().embedding_dim
            direction = torch.randn(*mask.shape[:2], embedding_dim, device=mask.device)
            for _ in range(power_iterations):
                direction = scale_per_review(direction, mask, xi).requires_grad_()
                perturbation.replay(direction)
                divergence = kl_from_logits(clean_logits, model(**inputs).logits)
                (direction,) = torch.autograd.grad(divergence, direction)
        radius = scale_per_review(direction, mask, epsilon).detach()
        perturbation.replay(radius)
        return kl_from_logits(clean_logits, model(**inputs).logits)


def token_frequencies(sequences, vocab_size: int) -> np.ndarray:
    """How often each token id occurs in `sequences` (lists of ids: the training split's `input_ids`)."""
    ids = np.fromiter(itertools.chain.from_iterable(sequences), dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"Token ids outside [0, {vocab_size}): the sequences were not made by this model's tokenizer.")
    return np.bincount(ids, minlength=vocab_size)


def normalize_embeddings(model: nn.Module, frequencies, fold_into_encoder: bool = False, eps: float = 1e-6,
                         every_step: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift and scale every dimension of `model`'s word vectors to frequency-weighted mean 0 and variance 1
    (weights: `frequencies`, one count per token id, e.g. `token_frequencies` of the training split), in place; the
    padding row stays zero. With `every_step`, the embedding's weight is then parametrised by
    `FrequencyWeightedNormalization` with the same frequencies, so that the network reads it normalised after
    every optimiser step too (a frozen embedding, which no step changes, is left plain). It starts from the
    normalised matrix, so both modes begin alike and the learning rate means the same to the embedding in both.
    With `fold_into_encoder`, the encoder's first layer (LSTM/GRU input weights of both directions, or the
    convolutions) absorbs the inverse transform, so that a trained encoder computes exactly what it did on the
    vectors before (up to dropout, which now drops a dimension to its mean rather than to zero). Returns the
    (mean, standard deviation) per dimension that were removed."""
    embedding = model.get_input_embeddings()
    if parametrize.is_parametrized(embedding, "weight"):
        raise ValueError("The embedding is already normalised at every step; normalise it once only.")
    weight = embedding.weight
    weights, padding = _frequency_weights(frequencies, weight.size(0), getattr(model.config, "pad_token_id", None),
                                          weight.device)
    with torch.no_grad():
        normalised, mean, std = _normalised(weight.double(), weights, padding, eps)
        weight.copy_(normalised.to(weight.dtype))
        if fold_into_encoder:
            _fold_into_first_layer(model.base_model.encoder, mean.float(), std.float())
    if every_step and weight.requires_grad:
        parametrize.register_parametrization(
            embedding, "weight", FrequencyWeightedNormalization(weights.to(weight.dtype), padding, eps))
    return mean.float(), std.float()


class FrequencyWeightedNormalization(nn.Module):
    """The parametrisation of an embedding normalised at every step (`torch.nn.utils.parametrize`, see
    `normalize_embeddings(every_step=True)`): from the trainable matrix E it makes the matrix the network reads,
    `(E - mean_f(E)) / sqrt(var_f(E) + eps)` per dimension, mean and variance weighted by the token frequencies
    `weights` (rows, 1; summing to 1, padding weighted 0), the rows where `padding` (rows, 1, bool) is set zero.
    Recomputed at every access of `embedding.weight`, i.e. every forward pass; gradients flow through it (to
    every row, through the mean and variance). The frequencies are buffers left out of the state dict: a resumed
    run counts them again."""

    def __init__(self, weights: torch.Tensor, padding: torch.Tensor, eps: float = 1e-6):
        super().__init__()
        self.register_buffer("weights", weights, persistent=False)
        self.register_buffer("padding", padding, persistent=False)
        self.eps = eps

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return _normalised(weight, self.weights.to(weight.dtype), self.padding, self.eps)[0]


def _frequency_weights(frequencies, rows: int, pad_token_id: int | None,
                       device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights, padding), both (rows, 1): `frequencies` (one count per token id) as float64 weights summing to 1,
    padding weighted 0; padding a bool mask, set on the padding row only."""
    counts = torch.tensor(np.asarray(frequencies), dtype=torch.float64, device=device)
    if counts.shape != (rows,):
        raise ValueError(f"frequencies has shape {tuple(counts.shape)}; the embedding has {rows} rows.")
    if not bool((counts >= 0).all()) or counts.sum() <= 0:
        raise ValueError("frequencies must be non-negative counts with a positive total (count them on the training "
                         "token ids, see token_frequencies).")
    padding = torch.zeros(rows, 1, dtype=torch.bool, device=device)
    if pad_token_id is not None:
        counts[pad_token_id] = 0
        padding[pad_token_id] = True
    if counts.sum() <= 0:
        raise ValueError("frequencies count only padding.")
    return (counts / counts.sum()).unsqueeze(1), padding


def _normalised(vectors: torch.Tensor, weights: torch.Tensor, padding: torch.Tensor,
                eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(normalised vectors, mean, standard deviation): `vectors` (rows, dim) shifted and scaled per dimension to
    mean 0 and variance 1 weighted by `weights` (rows, 1), the rows where `padding` (rows, 1) is set zeroed.
    Elementwise operations and sums only (no matrix product), so that bf16 autocast leaves them in the vectors' own
    precision."""
    mean = (weights * vectors).sum(dim=0)
    centred = vectors - mean
    std = ((weights * centred ** 2).sum(dim=0) + eps).sqrt()
    return (centred / std).masked_fill(padding, 0.0), mean, std


def bake_normalized_embeddings(model: nn.Module) -> bool:
    """Remove the every-step normalisation from `model`'s embedding, leaving its current normalised matrix as the
    plain (trainable) weight: a classifier like any other, computing what it computed. The parameter stays the same
    object. Returns whether there was one to remove."""
    embedding = model.get_input_embeddings()
    if not parametrize.is_parametrized(embedding, "weight"):
        return False
    parametrize.remove_parametrizations(embedding, "weight", leave_parametrized=True)
    return True


def plain_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """`model.state_dict()` as that of the same model without parametrisations: each parametrised tensor (the
    embedding normalised at every step) under its plain name (`...embedding.weight`) with the value the network
    reads, its parametrisation's own entries left out. What a checkpoint saved during training holds, so that
    `from_pretrained` loads it as a plain classifier."""
    state = model.state_dict()
    for module_name, module in model.named_modules():
        if not parametrize.is_parametrized(module):
            continue
        prefix = f"{module_name}." if module_name else ""
        for tensor_name in module.parametrizations:
            inner = f"{prefix}parametrizations.{tensor_name}."
            for key in [key for key in state if key.startswith(inner)]:
                del state[key]
            with torch.no_grad():
                state[f"{prefix}{tensor_name}"] = getattr(module, tensor_name).detach()
    return state


def _fold_into_first_layer(encoder: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
    """First-layer weights W, bias b → W · diag(std), b + W · mean: on normalised vectors (x - mean) / std the layer
    computes what it computed on x."""
    if hasattr(encoder, "forward_layers"):
        layers = [encoder.forward_layers[0]] + ([encoder.backward_layers[0]] if encoder.backward_layers else [])
        for rnn in layers:
            # LSTM and GRU alike: the input enters only as W_ih x + b_ih (GRU's candidate too, outside the reset gate).
            w, b = rnn.weight_ih_l0, rnn.bias_ih_l0
            b += w @ mean.to(w.dtype)
            w *= std.to(w.dtype).unsqueeze(0)
    elif hasattr(encoder, "convs"):
        for conv in encoder.convs:
            conv.bias += torch.einsum("fdk,d->f", conv.weight, mean.to(conv.weight.dtype))
            conv.weight *= std.to(conv.weight.dtype).view(1, -1, 1)
    else:
        raise TypeError(f"Cannot fold the normalisation into a {type(encoder).__name__}.")


class UnlabelledBatches:
    """Endless batches of tokenised unlabelled texts (`input_ids`, `attention_mask` and `length` columns): every
    pass over the data in a new order (seeded by `seed` and the pass number), cut into batches of reviews of similar
    length (transformers' `get_length_grouped_indices`, as Trainer's group_by_length: mega-batches of
    LENGTH_GROUP_BATCHES batches sorted by length; the batches then shuffled), padded by `collator` (e.g.
    `DataCollatorWithPadding(tokenizer)`)."""

    def __init__(self, dataset, batch_size: int, collator, seed: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be at least 1.")
        self.dataset = dataset.select_columns(["input_ids", "attention_mask"])
        self.lengths = list(dataset["length"])
        self.batch_size, self.collator, self.seed = batch_size, collator, seed
        self.passes, self.batches = 0, []

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if not self.batches:
            pass_seed = int(np.random.SeedSequence([self.seed, self.passes]).generate_state(1)[0])
            self.batches = self._plan(torch.Generator().manual_seed(pass_seed))
            self.passes += 1
        rows = self.dataset[self.batches.pop()]
        return self.collator([dict(zip(rows, values)) for values in zip(*rows.values())])

    def _plan(self, generator: torch.Generator) -> list[list[int]]:
        order = get_length_grouped_indices(self.lengths, self.batch_size, mega_batch_mult=LENGTH_GROUP_BATCHES,
                                           generator=generator)
        # Mega-batches are whole batches, so no batch mixes two of them; shuffled, the long batches are spread out.
        batches = [order[start:start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def normalize_for_training(model: nn.Module, train_input_ids, mode: str, pretrained: bool = False) -> None:
    """`--normalize_embeddings` before training (`mode` 'once' or 'every_step'): `normalize_embeddings` on the
    frequencies of `train_input_ids` (the training split's), folded into the encoder's first layer when it comes from
    a `pretrained` model, `every_step` parametrised to stay so; the config's `embedding_source` says so."""
    normalize_embeddings(model, token_frequencies(train_input_ids, model.config.vocab_size),
                         fold_into_encoder=pretrained, every_step=mode == "every_step")
    every_step = parametrize.is_parametrized(model.get_input_embeddings(), "weight")
    if mode == "every_step" and not every_step:
        logger.info("--normalize_embeddings every_step: the embedding is frozen, so once is the same.")
    model.config.embedding_source = f"{model.config.embedding_source}, normalised" \
                                    f"{' at every training step' if every_step else ''} (frequency-weighted mean " \
                                    "0, variance 1 per dimension)"
    logger.info("Embedding normalised on the training token frequencies%s%s.",
                ", and at every step" if every_step else "",
                " (inverse folded into the pretrained encoder's first layer)" if pretrained else "")


def load_vat_reviews(args: AdversarialArguments, dataset: str, excluded_texts, tokenizer):
    """VAT's unlabelled reviews, tokenised by `tokenizer` and cut to `args.vat_max_length` tokens: the
    `args.vat_splits` of `args.vat_dataset` (default: `dataset`, the run's own), `excluded_texts` (the run's
    validation and test reviews) left out."""
    source = args.vat_dataset or dataset
    texts = load_unlabelled_texts(source, args.vat_split_names, text_column=args.vat_text_column, use="VAT",
                                  excluded_texts=excluded_texts)
    unlabelled = tokenize_unlabelled_texts(texts, tokenizer, args.vat_max_length)
    logger.info("VAT: %d unlabelled reviews from %s (%s), cut to %d tokens.", len(unlabelled), source,
                args.vat_splits, args.vat_max_length)
    return unlabelled
