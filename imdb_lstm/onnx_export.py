"""Export a saved classifier to ONNX, for serving outside Python (onnxruntime, ONNX-capable servers).

    imdb-lstm-export --model outputs/imdb-bilstm                          # writes outputs/imdb-bilstm/model.onnx
    imdb-lstm-export --model outputs/imdb-bilstm --output serve/model.onnx

The graph takes `input_ids` and `attention_mask` (int64, shape (batch, sequence), both dimensions dynamic, padding
after the real tokens as the saved tokenizer pads) and returns `logits` (float32, (batch, 2): NEGATIVE, POSITIVE).
It reads padding exactly as the PyTorch model does (the right-to-left direction runs on each review reversed in
place), so a review gets the same logits alone or in any batch. The graph does not truncate: tokenise with
`truncation=True` (tokenizer.json plus tokenizer_config.json's `model_max_length` and `truncation_side`).

Needs the `onnx` extra (`pip install -e .[onnx]`: onnx, onnxruntime). The exporter is torch's TorchScript-based one
(`dynamo=False`): it needs no onnxscript. The model itself exports with `torch.export` through `export_program`
(dynamic batch and length; tests/test_modeling.py), which the dynamo exporter builds on; moving to it waits for
onnxscript in the extra and an onnxruntime parity check of its graph (its recurrences are `scan`s).

The export-only paths live here, not in the model file: while exporting (`export_paths`), each recurrent direction
runs as a `scan` over time steps (`scanned_rnn`; torch.export would unroll `nn.LSTM` into its example's length)
and the n-gram branch looks its n-grams up in operations ONNX has (`exportable_ngram_log_odds`). They go in through
the model's two replaceable functions, as transformers' kernels replace Mamba's scan: the recurrent encoder's
`run_direction` and the n-gram branch's `log_odds`.
"""

import argparse
import contextlib
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


def scanned_rnn(rnn: nn.LSTM | nn.GRU, inputs: torch.Tensor) -> torch.Tensor:
    """`rnn(inputs)[0]` for a one-layer, one-direction, batch-first LSTM or GRU, as a `scan` over time steps (the
    same equations and weights): torch.export unrolls `nn.LSTM` / `nn.GRU` into as many steps as its example has,
    so an exported graph would read one length only; a scan keeps the length dynamic."""
    # A private torch module, imported only while exporting: a torch without it still runs everything else.
    from torch._higher_order_ops.scan import scan

    input_gates = nn.functional.linear(inputs, rnn.weight_ih_l0, rnn.bias_ih_l0).transpose(0, 1)
    weight, bias = rnn.weight_hh_l0, rnn.bias_hh_l0

    def lstm_step(carry, gates):
        hidden, cell = carry
        in_gate, forget_gate, candidate, out_gate = (gates + nn.functional.linear(hidden, weight, bias)).chunk(4, -1)
        cell = torch.sigmoid(forget_gate) * cell + torch.sigmoid(in_gate) * torch.tanh(candidate)
        hidden = torch.sigmoid(out_gate) * torch.tanh(cell)
        return (hidden, cell), hidden.clone()

    def gru_step(carry, gates):
        (hidden,) = carry
        reset_in, update_in, candidate_in = gates.chunk(3, -1)
        reset_h, update_h, candidate_h = nn.functional.linear(hidden, weight, bias).chunk(3, -1)
        reset, update = torch.sigmoid(reset_in + reset_h), torch.sigmoid(update_in + update_h)
        hidden = (1 - update) * torch.tanh(candidate_in + reset * candidate_h) + update * hidden
        return (hidden,), hidden.clone()

    # One zero tensor per state: the exporter would take one tensor passed twice for one input (hidden = cell).
    lstm = isinstance(rnn, nn.LSTM)
    initial = tuple(inputs.new_zeros(inputs.size(0), rnn.hidden_size) for _ in range(2 if lstm else 1))
    _, outputs = scan(lstm_step if lstm else gru_step, initial, input_gates)
    return outputs.transpose(0, 1)


def exportable_ngram_log_odds(branch: nn.Module, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The n-gram branch's (batch,) log-odds (its `log_odds`) in operations ONNX has: every n-gram start of every
    row is looked up by a binary search of fixed depth, unknown ones and those past the review become a sentinel
    feature of weight 0, and each row's features are sorted so that each distinct one is counted once."""
    batch, width = input_ids.shape
    count = int(branch.keys.numel())  # a constant of the exported graph (the buffers are)
    scores = branch.bias.expand(batch)
    if count == 0:
        return scores
    steps = torch.arange(width, device=input_ids.device).unsqueeze(0)
    features = []
    for n, key in branch.ngram_keys(input_ids):
        low, high = torch.zeros_like(key), torch.full_like(key, count - 1)
        for _ in range(max(count - 1, 1).bit_length()):  # the first index whose key is >= the query
            middle = (low + high) // 2
            below = branch.keys[middle] < key
            low, high = torch.where(below, middle + 1, low), torch.where(below, high, middle)
        low = low.clamp(max=count - 1)  # a query above every key, searched to the end, stops one past the table
        known = (branch.keys[low] == key) & (steps[:, : width - n + 1] + n <= lengths.unsqueeze(1))
        features.append(torch.where(known, low, torch.full_like(low, count)))
    ordered = torch.cat(features, dim=1).sort(dim=1).values
    first = torch.cat([torch.ones_like(ordered[:, :1], dtype=torch.bool), ordered[:, 1:] != ordered[:, :-1]], dim=1)
    weights = torch.cat([branch.weights, branch.weights.new_zeros(1)])[ordered]
    return scores + torch.where(first, weights, torch.zeros_like(weights)).sum(dim=1)


@contextlib.contextmanager
def export_paths(model: nn.Module, scan: bool = True):
    """Within this block `model` computes as an exported graph must: the n-gram branch through
    `exportable_ngram_log_odds` and, with `scan` (torch.export; the TorchScript ONNX exporter keeps `nn.LSTM`
    whole), each recurrent direction through `scanned_rnn`. Set on the model's own modules (the instances'
    `log_odds` and `run_direction`), found by name, so the same code serves the package's classes and the ones
    loaded as remote code; a model whose code has neither (saved before they existed) chooses its export paths
    itself."""
    swaps = {"log_odds": exportable_ngram_log_odds, **({"run_direction": scanned_rnn} if scan else {})}
    saved = []
    for module in model.modules():
        for name, function in swaps.items():
            if hasattr(type(module), name):
                saved.append((module, name, module.__dict__.get(name)))
                setattr(module, name, function)
    try:
        yield model
    finally:
        for module, name, previous in reversed(saved):
            if previous is None:
                delattr(module, name)
            else:
                setattr(module, name, previous)


def export_program(model: nn.Module, kwargs: dict, dynamic_shapes=None, **options) -> torch.export.ExportedProgram:
    """`torch.export.export(model, (), kwargs, dynamic_shapes=...)` with the export paths in place (`export_paths`):
    the graph reads any length its dynamic shapes allow, not only its example's."""
    with export_paths(model, scan=True):
        return torch.export.export(model, (), kwargs, dynamic_shapes=dynamic_shapes, **options)


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
        with torch.no_grad(), warnings.catch_warnings(), export_paths(model, scan=False):
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
