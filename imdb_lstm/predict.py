"""Classify reviews with a saved model: a Python function and the `imdb-lstm-predict` command.

    imdb-lstm-predict --model outputs/demo "A wonderful, moving film."
    imdb-lstm-predict --model outputs/demo --file reviews.txt --json     # one review per line
    cat reviews.txt | imdb-lstm-predict --model outputs/demo             # stdin, one review per line
"""

import argparse
import contextlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import torch
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from transformers import AutoModelForSequenceClassification, AutoTokenizer

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


def bfloat16_is_fast(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 natively: a CUDA GPU that supports it, or a CPU with AVX512_BF16 or AMX
    (Intel Cooper Lake / Sapphire Rapids and later, AMD Zen 4 and later); elsewhere bfloat16 is emulated and slower."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(cpu, check, lambda: False)() for check in checks)
    return False


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The compute dtype for `dtype` ("float32", "bfloat16", or "auto": bfloat16 where `bfloat16_is_fast`)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not allowed; use one of {DTYPES}.")
    if dtype == "auto":
        return torch.bfloat16 if bfloat16_is_fast(device) else torch.float32
    return torch.bfloat16 if dtype == "bfloat16" else torch.float32


def compute_context(model, dtype: str):
    """Autocast to bfloat16 for a float32 model when `dtype` asks for it (weights stay float32); else nothing."""
    device = next(model.parameters()).device
    if resolve_dtype(dtype, device) == torch.bfloat16 and next(model.parameters()).dtype == torch.float32:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


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
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    except OSError as error:
        if Path(model_dir).expanduser().exists():
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


@torch.inference_mode()
def predict_proba(model, tokenizer, texts, batch_size: int = 64, dtype: str = "float32") -> torch.Tensor:
    """(n, 2) probabilities [p(NEGATIVE), p(POSITIVE)] in input order. Reviews are batched by length (sorted), so
    little padding is computed; long reviews are cut at the tokenizer's `model_max_length`. `dtype`: "float32",
    "bfloat16" (autocast: matmuls and recurrences in bfloat16, about 1.5× faster on CPUs with AVX512_BF16/AMX, a
    probability differs by ~1e-2) or "auto" (bfloat16 where the device computes it natively)."""
    context = compute_context(model, dtype)
    texts = check_texts(texts)
    if not texts:
        return torch.empty(0, model.config.num_labels)
    encoded = tokenizer(texts, truncation=True)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    probabilities = torch.empty(len(texts), model.config.num_labels)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, return_tensors="pt")
        with context:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        probabilities[rows] = logits.float().softmax(dim=-1).cpu()
    return probabilities


def predict(model, tokenizer, texts, batch_size: int = 64, dtype: str = "float32") -> list[dict]:
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Classify movie reviews as NEGATIVE or POSITIVE.")
    parser.add_argument("texts", nargs="*", help="reviews to classify (none and no --file: read stdin, one per line)")
    parser.add_argument("--model", default="outputs/demo", help="model folder or Hub repo id (default: outputs/demo)")
    parser.add_argument("--file", help="a text file with one review per line")
    parser.add_argument("--json", action="store_true", help="print one JSON object per review")
    parser.add_argument("--example", action="store_true", help="also classify the original study's example review (negative)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument(
        "--dtype", choices=DTYPES, default="float32",
        help="compute dtype: bfloat16 is about 1.5x faster on CPUs with AVX512_BF16/AMX; auto = bfloat16 where native",
    )
    parser.add_argument("--trust_remote_code", action="store_true", help="load the model's own code from the folder/repo")
    args = parser.parse_args(argv)

    texts = list(args.texts) + ([EXAMPLE_REVIEW] if args.example else [])
    if args.file:
        with open(args.file, encoding="utf-8") as handle:
            texts += [line.rstrip("\n") for line in handle]
    if not texts and not args.file:
        texts = [line.rstrip("\n") for line in sys.stdin]
    if not texts:
        parser.error("no review given: pass texts, --file FILE, or lines on stdin")
    try:
        model, tokenizer = load_classifier(args.model, args.trust_remote_code)
    except (OSError, ValueError) as error:
        print(f"error: cannot load a model from {args.model!r}: {error}", file=sys.stderr)
        return 2
    for text, result in zip(texts, predict(model, tokenizer, texts, args.batch_size, args.dtype)):
        if args.json:
            print(json.dumps({"text": text, **result}, ensure_ascii=False))
        else:
            print(format_line(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
