"""Classify reviews with a saved model: loading, dtype, length-sorted batching and the Python API (the inference
layer; the `imdb-lstm-predict` command, which can also explain, is `imdb_lstm.commands.predict`).

    from imdb_lstm.predict import load_classifier, predict
    model, tokenizer = load_classifier()                        # the model shipped in the package (DEFAULT_MODEL)
    model, tokenizer = load_classifier("outputs/demo")          # or a folder / Hub repo id of your own
    predict(model, tokenizer, ["A wonderful, moving film."])   # [{"label": "POSITIVE", "p_negative": ..., ...}]

Inference needs torch, transformers, tokenizers and safetensors only: nothing here (or in what it imports) may
import a training dependency (datasets, scikit-learn, gensim, evaluate, matplotlib, accelerate), so that
`pip install imdb-lstm` without the `[train]` extra classifies.
"""

import contextlib
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from .configuration_imdb_lstm import INFERENCE_DTYPES, PROBLEM_TYPES
from .modeling_imdb_lstm import ImdbLstmForCausalLM, ImdbLstmForSequenceClassification
from .serving_imdb_lstm import bfloat16_is_native

# The trained classifier the package ships (`imdb-lstm-build-default` writes it; package data in the wheel): what
# `load_classifier()` and `imdb-lstm-predict` use when no model is named. Read at call time, so a test can point
# it elsewhere.
DEFAULT_MODEL = str(Path(__file__).resolve().with_name("default_model"))
DEFAULT_MODEL_WEIGHTS = "model.safetensors"
SINGLE_LABEL, MULTI_LABEL, REGRESSION = PROBLEM_TYPES
REINSTALL_ADVICE = ("Reinstall imdb-lstm (pip install --force-reinstall --no-deps, from the wheel, checkout or index "
                    "you installed it from), or give a model folder of your own (--model FOLDER; in Python "
                    "load_classifier(FOLDER)).")


class DefaultModelMissingError(OSError):
    """The model shipped in the package is absent or unreadable: the install lacks its model files."""


def check_texts(texts) -> list[str]:
    """`texts` as a list of strings, or a `TypeError` that names the first item that is not a string."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, bytearray)):
        raise TypeError("Expected a review (str); got bytes: decode it first, e.g. texts.decode('utf-8').")
    if not isinstance(texts, Iterable):
        raise TypeError(f"Expected a review (str) or a list of reviews; got {type(texts).__name__} ({texts!r:.40}).")
    texts = list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"Review #{position} is {type(text).__name__} ({text!r:.40}), not str: give text (decode bytes first)."
            )
    return texts


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The compute dtype for `dtype` ("float32", "bfloat16", or "auto": bfloat16 where `bfloat16_is_native`)."""
    if dtype not in INFERENCE_DTYPES:
        raise ValueError(f"dtype={dtype!r} is not allowed; use one of {INFERENCE_DTYPES}.")
    if dtype == "auto":
        return torch.bfloat16 if bfloat16_is_native(device) else torch.float32
    return torch.bfloat16 if dtype == "bfloat16" else torch.float32


@contextlib.contextmanager
def compute_context(model, dtype: str | None):
    """Inference in `dtype` for a float32 model (weights stay float32): None leaves it to the model
    (`config.inference_dtype`, bfloat16 where the device computes it natively); "bfloat16" autocasts; "float32"
    switches the model's own autocast off for the duration, in this thread only; "auto" is bfloat16 where native,
    else float32."""
    if dtype is None:
        yield
        return
    device = next(model.parameters()).device
    if resolve_dtype(dtype, device) == torch.bfloat16 and next(model.parameters()).dtype == torch.float32:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
        return
    with exact_float32(model):
        yield


def exact_float32(model):
    """A context in which `model` (this package's classifier, or the same code loaded as remote code) computes in
    float32 whatever its `inference_dtype` says: its own module's `float32_inference()`, so that the switch is
    per thread; nothing for a model whose code has no such switch (it never autocasts)."""
    switch = getattr(sys.modules.get(type(model).__module__), "float32_inference", None)
    return switch() if switch is not None else contextlib.nullcontext()


def check_default_model(model_dir: str) -> None:
    """A `DefaultModelMissingError` unless the shipped model's folder holds a config and weights: an install made
    without the package data (a wheel built before the model existed, files deleted) should say so and what to do,
    not that a folder is "not a Hub repo id"."""
    folder = Path(model_dir)
    missing = [name for name in ("config.json", DEFAULT_MODEL_WEIGHTS) if not (folder / name).is_file()]
    if not folder.is_dir():
        what = f"The default model is not installed: there is no folder {model_dir}."
    elif missing:
        what = f"The default model is incomplete: {model_dir} has no {' and no '.join(missing)}."
    else:
        return
    raise DefaultModelMissingError(f"{what} This copy of imdb-lstm was installed without its model files. "
                                   f"{REINSTALL_ADVICE}")


def load_default_model(trust_remote_code: bool = False):
    """`load_classifier(DEFAULT_MODEL)`, with errors that blame the install (and say to reinstall), not the user:
    a missing folder or file, or weights cut short (safetensors: "incomplete metadata")."""
    check_default_model(DEFAULT_MODEL)
    try:
        return load_classifier(DEFAULT_MODEL, trust_remote_code)
    except (OSError, ValueError) as error:
        cause = error.__cause__ if isinstance(error.__cause__, SafetensorError) else error
        what = (f"its weights ({Path(DEFAULT_MODEL) / DEFAULT_MODEL_WEIGHTS}) cannot be read ({cause}): the installed "
                "file is truncated or corrupt" if isinstance(cause, SafetensorError) else str(error).rstrip("."))
        raise DefaultModelMissingError(f"The default model cannot be loaded: {what}. {REINSTALL_ADVICE}") from error


def load_classifier(model_dir: str | None = None, trust_remote_code: bool = False):
    """(model, tokenizer) from a folder or Hub repo id, or with none the model shipped in the package
    (`DEFAULT_MODEL`); the model in eval mode and checked against the tokenizer. No remote code is needed:
    importing this module ran the package's `__init__`, which registers the Auto classes."""
    if model_dir is None:
        return load_default_model(trust_remote_code)
    model_dir = str(model_dir)
    if not Path(model_dir).expanduser().exists():
        try:
            if model_dir.startswith((".", "/", "~")):
                raise HFValidationError("a path")
            validate_repo_id(model_dir)
        except HFValidationError:
            raise OSError(
                "no such folder and not a Hub repo id (owner/name): give the output folder of a training run or the "
                "id of a model repo on the Hub."
            ) from None
    local = Path(model_dir).expanduser().exists()
    if local and not (Path(model_dir).expanduser() / "config.json").is_file():
        raise OSError(f"{model_dir} has no config.json, so it is not a saved model: give the output folder of "
                      "imdb-lstm-train (or a Hub repo id).")
    try:
        config = AutoConfig.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
        check_classifier_config(config, model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    except OSError as error:
        if local:
            raise
        raise OSError(f"no such folder, and as a Hub repo id it cannot be loaded: {error}") from error
    try:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    except SafetensorError as error:  # its own message names neither the file nor what to do
        raise OSError(
            f"The weights in {model_dir} (model.safetensors) cannot be read ({error}): the file is truncated or "
            "corrupt. Save or download the model again."
        ) from error
    if len(tokenizer) != model.config.vocab_size:
        raise ValueError(
            f"The tokenizer in {model_dir} has {len(tokenizer)} tokens but the model's embedding has "
            f"{model.config.vocab_size} rows: they were not saved together. Use the tokenizer saved with the model."
        )
    return model.eval(), tokenizer


def load_classifier_or_report(model_dir: str | None, trust_remote_code: bool = False):
    """`load_classifier` for a command: (model, tokenizer), or None with the reason printed to stderr. None is the
    shipped model (`DEFAULT_MODEL`), whose errors already say what is wrong and what to do."""
    try:
        return load_classifier(model_dir, trust_remote_code)
    except DefaultModelMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
    except (OSError, ValueError) as error:
        print(f"error: cannot load a model from {model_dir!r}: {error}", file=sys.stderr)
        return None


CLASSIFIER_CLASS = ImdbLstmForSequenceClassification.__name__
LANGUAGE_MODEL_CLASS = ImdbLstmForCausalLM.__name__


def check_classifier_config(config, source: str) -> None:
    """A ValueError unless `config` is an imdb-lstm classifier's: another model type, or a pretrained imdb-lstm
    language model (which would load with an untrained, random classification head), is refused."""
    model_type = getattr(config, "model_type", None)
    if model_type != "imdb-lstm":
        raise ValueError(f"{source} holds a {model_type or 'unknown'!s} model, not an imdb-lstm classifier: give the "
                         "output folder of imdb-lstm-train (or a Hub repo of one).")
    architectures = getattr(config, "architectures", None) or []
    if LANGUAGE_MODEL_CLASS in architectures and CLASSIFIER_CLASS not in architectures:
        raise ValueError(f"{source} holds an imdb-lstm language model (imdb-lstm-pretrain's output), not a "
                         "classifier: its classification head would be untrained. Fine-tune it first: "
                         f"imdb-lstm-train --model_name_or_path {source} ...")


def length_sorted_batches(tokenizer, input_ids: list[list[int]], batch_size: int):
    """The reviews' token ids in batches of `batch_size` sorted by length (so little padding is computed), each
    padded by `tokenizer` as tensors: yields (row indices into `input_ids`, batch with `input_ids` and
    `attention_mask`). What `predict_proba` serves with; scripts that score or time batches reuse it."""
    order = sorted(range(len(input_ids)), key=lambda i: len(input_ids[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        yield rows, tokenizer.pad({"input_ids": [input_ids[i] for i in rows]}, return_tensors="pt")


@torch.inference_mode()
def predict_logits(model, tokenizer, texts, batch_size: int = 64, dtype: str | None = None,
                   progress: Callable[[int], object] | None = None) -> torch.Tensor:
    """(n, num_labels) float32 logits in input order. Reviews are batched by length (sorted), so little padding is
    computed; long reviews are cut at the tokenizer's `model_max_length`. `dtype`: None (the model's
    `inference_dtype`: bfloat16 where the device computes it natively), "float32" (exact), "bfloat16" (autocast:
    matmuls and recurrences in bfloat16, about 1.5× faster on CPUs with AVX512_BF16/AMX, a probability differs by
    ~1e-2) or "auto" (bfloat16 where native). `progress`, if given, is called with the number of reviews of each
    finished batch (a tqdm bar's `update`: batches run in length order, so only the count means anything)."""
    texts = check_texts(texts)
    if not texts:
        return torch.empty(0, model.config.num_labels)
    logits = torch.empty(len(texts), model.config.num_labels)
    input_ids = tokenizer(texts, truncation=True)["input_ids"]
    with compute_context(model, dtype):
        for rows, batch in length_sorted_batches(tokenizer, input_ids, batch_size):
            logits[rows] = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float().cpu()
            if progress is not None:
                progress(len(rows))
    return logits


def problem_type_of(config) -> str:
    """The model's problem type as transformers' text-classification pipeline reads it: `config.problem_type`,
    else single-label classification for two labels or more and regression for one output."""
    if config.problem_type:
        return config.problem_type
    return SINGLE_LABEL if config.num_labels > 1 else REGRESSION


def outputs_from_logits(logits: torch.Tensor, config) -> torch.Tensor:
    """What the logits mean, as the pipeline reads them: softmax probabilities (one label per text), sigmoid
    probabilities (multi-label, each label on its own) or the values themselves (regression)."""
    problem_type = problem_type_of(config)
    if problem_type == MULTI_LABEL:
        return logits.sigmoid()
    if problem_type == REGRESSION:
        return logits
    return logits.softmax(dim=-1)


def predict_proba(model, tokenizer, texts, batch_size: int = 64, dtype: str | None = None,
                  progress: Callable[[int], object] | None = None) -> torch.Tensor:
    """(n, num_labels) probabilities in input order, [p(NEGATIVE), p(POSITIVE)] for IMDB, each label's sigmoid for
    a multi-label model (see `predict_logits`). A regression model has no probabilities: use `predict`."""
    if problem_type_of(model.config) == REGRESSION:
        raise ValueError("This model predicts a value (problem_type 'regression'), not probabilities: call "
                         "predict(model, tokenizer, texts), whose `value` is the prediction.")
    return outputs_from_logits(predict_logits(model, tokenizer, texts, batch_size, dtype, progress), model.config)


def predict(model, tokenizer, texts, batch_size: int = 64, dtype: str | None = None,
            progress: Callable[[int], object] | None = None) -> list[dict]:
    """One dict per review (`dtype`, `progress`: see `predict_logits`), by the model's problem type:

    - one label per text: `label` and `p_<label>` (lower case) for each of the model's `id2label` names, in label
      order;
    - multi-label: `labels`, the labels whose sigmoid probability is above the model's
      `multilabel_threshold` (most probable first; may be empty), and `p_<label>` for every label;
    - regression: `label`, the target's name, and `value`, the prediction."""
    config = model.config
    outputs = outputs_from_logits(predict_logits(model, tokenizer, texts, batch_size, dtype, progress), config)
    id2label = {int(key): name for key, name in config.id2label.items()}
    problem_type = problem_type_of(config)
    results = []
    for row in outputs.tolist():
        if problem_type == REGRESSION:
            results.append({"label": id2label[0], "value": row[0]})
            continue
        probabilities = {f"p_{id2label[i].lower()}": p for i, p in enumerate(row)}
        if problem_type == MULTI_LABEL:
            chosen = sorted((i for i, p in enumerate(row) if p > config.multilabel_threshold), key=lambda i: -row[i])
            results.append({"labels": [id2label[i] for i in chosen], **probabilities})
        else:
            results.append({"label": id2label[max(range(len(row)), key=row.__getitem__)], **probabilities})
    return results


def quiet_progress_bars() -> None:
    """Switch off transformers' and the Hub's progress bars ("Loading weights", downloads) for this process: a
    command that prints one verdict a line needs none. Called by the commands (`imdb-lstm-predict`,
    `imdb-lstm-export`, `imdb-lstm-demo`) only, so that a library user's own settings stay theirs; training keeps
    Trainer's progress bar."""
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    disable_progress_bars()
