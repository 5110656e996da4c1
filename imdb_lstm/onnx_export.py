"""Export a saved classifier to ONNX, for serving outside Python (onnxruntime, ONNX-capable servers).

    imdb-lstm-export --model outputs/imdb-bilstm                          # writes outputs/imdb-bilstm/model.onnx
    imdb-lstm-export --model outputs/imdb-bilstm --output serve/model.onnx

The graph takes `input_ids` and `attention_mask` (int64, shape (batch, sequence), both dimensions dynamic, padding
after the real tokens as the saved tokenizer pads) and returns `logits` (float32, (batch, 2): NEGATIVE, POSITIVE).
It reads padding exactly as the PyTorch model does (the right-to-left direction runs on each review reversed in
place), so a review gets the same logits alone or in any batch. The graph does not truncate: tokenise with
`truncation=True` (tokenizer.json plus tokenizer_config.json's `model_max_length` and `truncation_side`).

Needs the `onnx` extra (`pip install -e .[onnx]`: onnx, onnxruntime). The exporter is torch's TorchScript-based one
(`dynamo=False`): it needs no onnxscript. The model itself exports with `torch.export` (dynamic batch and length;
tests/test_modeling.py), which the dynamo exporter builds on; moving to it waits for onnxscript in the extra and
an onnxruntime parity check of its graph (its recurrences are `scan`s).
"""

import argparse
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from .predict import compute_context, load_classifier, quiet_progress_bars

ONNX_FILE = "model.onnx"
OPSET = 17
INPUT_NAMES = ["input_ids", "attention_mask"]
OUTPUT_NAMES = ["logits"]


class OnnxClassifier(nn.Module):
    """`model` with positional (input_ids, attention_mask) → logits, as the exporter traces it. Padding columns are
    appended first (one, or as many as the CNN's widest filter), so that the traced graph also serves reviews shorter
    than that filter and empty ones; the model reads padding as nothing, so the logits do not change."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        config = model.config
        self.extra_padding = max(config.cnn_kernel_sizes) if config.encoder == "cnn" else 1
        self.pad_token_id = config.pad_token_id

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        input_ids = nn.functional.pad(input_ids, (0, self.extra_padding), value=self.pad_token_id)
        attention_mask = nn.functional.pad(attention_mask, (0, self.extra_padding), value=0)
        return self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)[0]


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"ONNX export needs onnx and onnxruntime ({error}); install them with `pip install -e .[onnx]` "
            "(or `pip install onnx onnxruntime`)."
        ) from error


def export_onnx(model, output_path, tokenizer=None) -> Path:
    """Write `model` (an `ImdbLstmForSequenceClassification`) as ONNX to `output_path`; returns the path. The example
    batch is traced only for its shapes (batch and sequence stay dynamic); `tokenizer` gives it real ids."""
    require_onnx()
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    if tokenizer is not None:
        example = tokenizer(["a fine film", "not a fine film at all, sadly"], padding=True, return_tensors="pt")
        example = (example["input_ids"], example["attention_mask"])
    else:
        input_ids = torch.full((2, 8), min(2, model.config.vocab_size - 1), dtype=torch.long)
        attention_mask = torch.ones_like(input_ids)
        attention_mask[1, 5:] = 0
        example = (input_ids, attention_mask)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "logits": {0: "batch"}}  # fmt: skip
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter warns that it is the legacy one and that traced branches (forward's input
            # checks) become constants; both are expected here (see the module docstring).
            warnings.simplefilter("ignore")
            torch.onnx.export(
                OnnxClassifier(model),
                example,
                str(output_path),
                input_names=INPUT_NAMES,
                output_names=OUTPUT_NAMES,
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        model.train(was_training)
    return output_path


def export_model_dir(model_dir) -> Path:
    """Export the classifier saved in the folder `model_dir` to `model_dir/model.onnx` (what `imdb-lstm-export
    --model DIR` and `push_trained_model(..., onnx=True)` write); returns the path."""
    model, tokenizer = load_classifier(str(model_dir))
    return export_onnx(model, Path(model_dir) / ONNX_FILE, tokenizer)


def onnx_session(onnx_path, threads: int | None = None):
    """An onnxruntime CPU `InferenceSession` for `onnx_path` (`threads`: intra-op threads, default onnxruntime's)."""
    require_onnx()
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def onnx_logits(session, input_ids, attention_mask):
    """Logits (numpy float32, (batch, 2)) of a padded batch through an onnxruntime session."""
    feeds = {"input_ids": torch.as_tensor(input_ids).long().numpy(),
             "attention_mask": torch.as_tensor(attention_mask).long().numpy()}  # fmt: skip
    return session.run(OUTPUT_NAMES, feeds)[0]


def max_abs_difference(model, session, tokenizer, texts: list[str]) -> float:
    """Largest |PyTorch logit - ONNX logit| over `texts` in one right-padded batch (tokenizer truncation on)."""
    batch = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad(), compute_context(model, "float32"):  # the export computes in float32
        expected = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    actual = torch.from_numpy(onnx_logits(session, batch["input_ids"], batch["attention_mask"]))
    return float((actual - expected).abs().max())


def build_parser() -> argparse.ArgumentParser:
    """The `imdb-lstm-export` command line."""
    parser = argparse.ArgumentParser(description="Export a saved imdb-lstm classifier to ONNX (model.onnx).")
    parser.add_argument("--model", required=True, help="model folder (or Hub repo id) saved by scripts/train.py")
    parser.add_argument("--output", help=f"where to write the ONNX file (default: MODEL/{ONNX_FILE})")
    parser.add_argument("--trust_remote_code", action="store_true", help="load the model's own code from the folder/repo")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_progress_bars()

    try:
        require_onnx()
        model, tokenizer = load_classifier(args.model, args.trust_remote_code)
    except (ImportError, OSError, ValueError) as error:
        print(f"error: cannot export {args.model!r}: {error}", file=sys.stderr)
        return 2
    if args.output:
        output = Path(args.output)
    elif Path(args.model).is_dir():
        output = Path(args.model) / ONNX_FILE
    else:
        parser.error(f"--model {args.model!r} is not a local folder: give --output for the ONNX file")
    export_onnx(model, output, tokenizer)
    session = onnx_session(output)
    difference = max_abs_difference(model, session, tokenizer, [
        "A wonderful, moving film.", "Dull.", "The plot made no sense and the acting was wooden; I would not "
        "recommend it to anyone, though the music was fine.",
    ])  # fmt: skip
    print(f"Wrote {output} ({output.stat().st_size / 1e6:.1f} MB); onnxruntime vs PyTorch max |logit diff| "
          f"{difference:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
