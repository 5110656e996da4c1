"""Classify reviews with a saved model: a Python function and the `imdb-lstm-predict` command.

    imdb-lstm-predict --model outputs/demo "A wonderful, moving film."
    imdb-lstm-predict --model outputs/demo --file reviews.txt --json     # one review per line
    cat reviews.txt | imdb-lstm-predict --model outputs/demo             # stdin, one review per line
    imdb-lstm-predict --model outputs/demo --example --explain           # and the words behind each verdict
    imdb-lstm-predict --model outputs/demo --example --explain-html why.html
"""

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import torch
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from .modeling_imdb_lstm import bfloat16_is_native
from .study import EXAMPLE_REVIEW


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


DTYPES = ("float32", "bfloat16", "auto")


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The compute dtype for `dtype` ("float32", "bfloat16", or "auto": bfloat16 where `bfloat16_is_native`)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not allowed; use one of {DTYPES}.")
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


def load_classifier(model_dir: str, trust_remote_code: bool = False):
    """(model, tokenizer) from a folder or Hub repo id; the model in eval mode and checked against the tokenizer."""
    import imdb_lstm  # noqa: F401  (registers the Auto classes, so no remote code is needed)

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


def load_classifier_or_report(model_dir: str, trust_remote_code: bool = False):
    """`load_classifier` for a command: (model, tokenizer), or None with the reason printed to stderr."""
    try:
        return load_classifier(model_dir, trust_remote_code)
    except (OSError, ValueError) as error:
        print(f"error: cannot load a model from {model_dir!r}: {error}", file=sys.stderr)
        return None


CLASSIFIER_CLASS = "ImdbLstmForSequenceClassification"
LANGUAGE_MODEL_CLASS = "ImdbLstmForCausalLM"


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
def predict_logits(model, tokenizer, texts, batch_size: int = 64, dtype: str | None = None) -> torch.Tensor:
    """(n, 2) float32 logits in input order. Reviews are batched by length (sorted), so little padding is computed;
    long reviews are cut at the tokenizer's `model_max_length`. `dtype`: None (the model's `inference_dtype`:
    bfloat16 where the device computes it natively), "float32" (exact), "bfloat16" (autocast: matmuls and
    recurrences in bfloat16, about 1.5× faster on CPUs with AVX512_BF16/AMX, a probability differs by ~1e-2) or
    "auto" (bfloat16 where native)."""
    texts = check_texts(texts)
    if not texts:
        return torch.empty(0, model.config.num_labels)
    logits = torch.empty(len(texts), model.config.num_labels)
    with compute_context(model, dtype):
        for rows, batch in length_sorted_batches(tokenizer, tokenizer(texts, truncation=True)["input_ids"], batch_size):
            logits[rows] = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float().cpu()
    return logits


def predict_proba(model, tokenizer, texts, batch_size: int = 64, dtype: str | None = None) -> torch.Tensor:
    """(n, 2) probabilities [p(NEGATIVE), p(POSITIVE)] in input order (see `predict_logits`)."""
    return predict_logits(model, tokenizer, texts, batch_size, dtype).softmax(dim=-1)


def predict(model, tokenizer, texts, batch_size: int = 64, dtype: str | None = None) -> list[dict]:
    """One dict per review: `label` and the probability of each label (`dtype`: see `predict_proba`)."""
    probabilities = predict_proba(model, tokenizer, texts, batch_size, dtype)
    id2label = model.config.id2label
    results = []
    for row in probabilities.tolist():
        best = max(range(len(row)), key=row.__getitem__)
        results.append({"label": id2label[best], **{f"p_{id2label[i].lower()}": p for i, p in enumerate(row)}})
    return results


def format_line(result: dict) -> str:
    return f"{result['label']:<9} p(neg)={result['p_negative']:.2f}  p(pos)={result['p_positive']:.2f}"


ANSI = {"NEGATIVE": "\033[31m", "POSITIVE": "\033[32m", "bold": "\033[1m", "reset": "\033[0m"}


def use_colour(stream) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org) or TERM=dumb."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def format_explanation(explanation, top: int = 5, colour: bool = False) -> str:
    """The verdict line and the `top` words toward the verdict and against it, e.g.
    `NEGATIVE  p(neg)=0.96  p(pos)=0.04` / `  toward NEGATIVE: stupid ×3 (+2.41), disgrace (+1.10)` /
    `  against it (toward POSITIVE): great (-0.80)`; with `colour`, ANSI colours (red NEGATIVE, green POSITIVE)."""
    label = explanation.label
    others = [name for name in explanation.labels if name != label]
    other = others[0] if len(others) == 1 else "other labels"

    def paint(text: str, name: str) -> str:
        return f"{ANSI.get(name, '')}{text}{ANSI['reset']}" if colour and name in ANSI else text

    def listed(words) -> str:
        if not words:
            return "(none)"
        return ", ".join(f"{word}{f' ×{count}' if count > 1 else ''} ({score:+.2f})" for word, score, count in words)

    probabilities = {name.lower()[:3]: p for name, p in explanation.probabilities.items()}
    verdict = f"{label:<9} " + "  ".join(f"p({name})={p:.2f}" for name, p in probabilities.items())
    lines = [paint(f"{ANSI['bold'] if colour else ''}{verdict}", label),
             f"  toward {label}: {paint(listed(explanation.top_words(top)), label)}",
             f"  against it (toward {other}): {paint(listed(explanation.top_words(top, against=True)), other)}"]
    if explanation.words_cut:
        lines.append(f"  ({explanation.words_cut} tokens of this long review were cut off, as in training, unread)")
    return "\n".join(lines)


def quiet_progress_bars() -> None:
    """Switch off transformers' and the Hub's progress bars ("Loading weights", downloads) for this process: a
    command that prints one verdict a line needs none. Called by the commands (`imdb-lstm-predict`,
    `imdb-lstm-export`, `imdb-lstm-demo`) only, so that a library user's own settings stay theirs; training keeps
    Trainer's progress bar."""
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    disable_progress_bars()


def build_parser() -> argparse.ArgumentParser:
    """The `imdb-lstm-predict` command line."""
    parser = argparse.ArgumentParser(description="Classify movie reviews as NEGATIVE or POSITIVE.")
    parser.add_argument("texts", nargs="*", help="reviews to classify (none and no --file: read stdin, one per line)")
    parser.add_argument("--model", default="outputs/demo", help="model folder or Hub repo id (default: outputs/demo)")
    parser.add_argument("--file", help="a text file with one review per line")
    parser.add_argument("--json", action="store_true", help="print one JSON object per review")
    parser.add_argument("--example", action="store_true", help="also classify the original study's example review (negative)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument(
        "--dtype", choices=DTYPES, default=None,
        help="compute dtype (default: the model's inference_dtype, bfloat16 where the CPU computes it natively): "
        "float32 = exact; bfloat16 is about 1.5x faster on CPUs with AVX512_BF16/AMX; auto = bfloat16 where native",
    )
    parser.add_argument("--trust_remote_code", action="store_true", help="load the model's own code from the folder/repo")
    parser.add_argument("--explain", action="store_true",
                        help="also print the words that pushed each verdict most, for and against (needs captum)")
    parser.add_argument("--explain-html", "--explain_html", dest="explain_html", metavar="FILE",
                        help="write each review with its words coloured by attribution to this HTML file")
    parser.add_argument("--explain_steps", type=int, default=None,
                        help="Integrated Gradients steps per integral (default: imdb_lstm.explain.DEFAULT_STEPS)")
    parser.add_argument("--explain_top", type=int, default=5, help="words listed for and against (default 5)")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_progress_bars()

    texts = list(args.texts) + ([EXAMPLE_REVIEW] if args.example else [])
    if args.file:
        with open(args.file, encoding="utf-8") as handle:
            texts += [line.rstrip("\n") for line in handle]
    if not texts and not args.file:
        texts = [line.rstrip("\n") for line in sys.stdin]
    if not texts:
        parser.error("no review given: pass texts, --file FILE, or lines on stdin")
    explaining = args.explain or args.explain_html
    if explaining:
        try:
            from .explain import DEFAULT_STEPS, require_captum

            require_captum()
        except ImportError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    loaded = load_classifier_or_report(args.model, args.trust_remote_code)
    if loaded is None:
        return 2
    model, tokenizer = loaded
    explanations = []
    colour = use_colour(sys.stdout)
    for text, result in zip(texts, predict(model, tokenizer, texts, args.batch_size, args.dtype)):
        explanation = None
        if explaining:
            from .explain import explain

            try:
                explanation = explain(model, tokenizer, text, n_steps=args.explain_steps or DEFAULT_STEPS)
                explanations.append(explanation)
            except ValueError:  # a review with no words: its verdict is the model's no-evidence answer
                explanation = None
        if args.json:
            record = {"text": text, **result}
            if args.explain:
                record["explanation"] = explanation.to_dict() if explanation else None
            print(json.dumps(record, ensure_ascii=False))
        elif args.explain:
            print(format_explanation(explanation, args.explain_top, colour) if explanation
                  else f"{format_line(result)}\n  (no words to explain)")
        else:
            print(format_line(result))
    if args.explain_html:
        from .explain import render_html_page

        Path(args.explain_html).write_text(render_html_page(explanations), encoding="utf-8")
        print(f"wrote {args.explain_html} ({len(explanations)} reviews explained)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
