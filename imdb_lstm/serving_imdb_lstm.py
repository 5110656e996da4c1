"""Serving policy of the imdb-lstm classifier: the dtype an inference call computes in, and how a batch of reviews
of mixed lengths is read. `modeling_imdb_lstm.py` imports it relatively, so transformers' remote code copies it
next to the model file on `save_pretrained` and fetches it on load; like the model file it imports only torch,
transformers and the standard library.

- dtype: with `config.inference_dtype="auto"` (what training saves), an inference call (eval mode, no gradient)
  computes under bfloat16 autocast where the device computes bfloat16 natively (`bfloat16_is_native`), and returns
  float32 logits; "bfloat16" always, "float32" never. `float32_inference()` switches it off in one thread.
- length buckets: a batch whose rows differ much in length (e.g. `pipeline("text-classification")`, which pads
  each batch to its longest review) is split into sub-batches of similar length, each cut to its own longest
  review, and the logits are put back in row order (`plan_length_buckets`). The logits do not depend on padding,
  so this changes nothing but speed; it happens only without gradients, on CPU.
- over-long reviews: rows longer than `config.model_max_length` are cut the way the tokenizer cuts them
  (`config.truncation_side`), so callers that do not ask the tokenizer to truncate get what training saw.
None of these happens while the model is traced, compiled or exported.
"""

import contextlib
import contextvars
import os
from collections.abc import Callable

import torch
from transformers.utils.import_utils import is_tracing

# ---------------------------------------- dtype

# oneDNN instruction sets without bfloat16 arithmetic. With ONEDNN_MAX_CPU_ISA capped to one of them on a CPU that has
# bfloat16, PyTorch (reading the CPU's own flags) still sends bfloat16 LSTMs to oneDNN, which then cannot build them.
_ONEDNN_ISAS_WITHOUT_BFLOAT16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}

# Set by `float32_inference()`: this thread's (or task's) inference calls compute in float32.
_FLOAT32_INFERENCE = contextvars.ContextVar("imdb_lstm_float32_inference", default=False)


def bfloat16_is_native(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 natively: a CUDA GPU that supports it, or a CPU with AVX512_BF16 or AMX
    (Intel Cooper Lake / Sapphire Rapids and later, AMD Zen 4 and later); elsewhere bfloat16 is emulated and slower."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return _onednn_may_use_bfloat16() and any(getattr(cpu, check, lambda: False)() for check in checks)
    return False


def _onednn_may_use_bfloat16() -> bool:
    return os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").strip().upper() not in _ONEDNN_ISAS_WITHOUT_BFLOAT16


@contextlib.contextmanager
def float32_inference():
    """Within this block, in this thread, classifiers of this family compute in float32 whatever their
    `config.inference_dtype` says (exact logits: ONNX parity, attributions, scoring); other threads are untouched."""
    token = _FLOAT32_INFERENCE.set(True)
    try:
        yield
    finally:
        _FLOAT32_INFERENCE.reset(token)


def autocasts_inference(model: torch.nn.Module, input_ids: torch.Tensor | None) -> bool:
    """Whether the classifier `model` runs this call under bfloat16 autocast (`config.inference_dtype`): an
    inference call (eval mode, no gradient) of a float32 model, not traced or exported, not already under autocast,
    not inside `float32_inference()`, on a device that computes bfloat16 natively (or always, with "bfloat16")."""
    choice = getattr(model.config, "inference_dtype", "float32")
    if choice == "float32" or input_ids is None or model.training or torch.is_grad_enabled() or is_tracing():
        return False
    if _FLOAT32_INFERENCE.get():
        return False
    device = input_ids.device
    if torch.is_autocast_enabled(device.type) or model.classifier.weight.dtype != torch.float32:
        return False
    return choice == "bfloat16" or bfloat16_is_native(device)


# ---------------------------------------- Length buckets

# A recurrent step over `rows` rows costs about rows + step_overhead_rows row-steps, and each sub-batch a fixed
# call_overhead_row_steps more (embedding, gathers, pooling, the n-gram branch, Python), measured for a BiLSTM-128
# (bfloat16 autocast) per torch thread count: with more threads a row is cheaper, so the fixed costs weigh more.
# Thread counts above the largest measured use its costs. A batch is split only when that saves BUCKET_MIN_SAVING
# of its cost.
BUCKET_COSTS = {  # torch threads: (step_overhead_rows, call_overhead_row_steps)
    1: (2, 120),
    2: (3, 250),
}
BUCKET_MIN_SAVING = 0.2
BUCKET_MAX_CUTS = 32


def plan_length_buckets(lengths: list[int], threads: int | None = None) -> list[list[int]] | None:
    """Rows of a padded batch grouped into sub-batches of similar length (lists of row indices, shortest rows
    first), or None when reading the batch as it is costs about as much. Each sub-batch is meant to be cut to its
    longest row; the grouping minimises the estimated cost, the sum over sub-batches of
    width · (rows + step_overhead_rows) + call_overhead_row_steps (`BUCKET_COSTS` for `threads`, by default the
    torch thread count in use), by dynamic programming over the rows sorted by length (cutting between at most
    BUCKET_MAX_CUTS + 1 evenly spaced places)."""
    threads = torch.get_num_threads() if threads is None else threads
    step_overhead, call_overhead = BUCKET_COSTS[min(max(threads, 1), max(BUCKET_COSTS))]
    count = len(lengths)
    if count < 2:
        return None
    order = sorted(range(count), key=lengths.__getitem__)
    ordered = [lengths[row] for row in order]
    as_is = ordered[-1] * (count + step_overhead) + call_overhead
    budget = (1 - BUCKET_MIN_SAVING) * as_is
    # No grouping costs less than the real tokens plus one sub-batch as wide as the longest row: skip cheaply.
    if sum(ordered) + ordered[-1] * step_overhead + call_overhead > budget:
        return None
    stride = -(-count // BUCKET_MAX_CUTS)
    cuts = [*range(0, count, stride), count]
    best, previous = [0.0] + [float("inf")] * (len(cuts) - 1), [0] * len(cuts)
    for end in range(1, len(cuts)):
        width = ordered[cuts[end] - 1]
        for start in range(end):
            cost = best[start] + width * (cuts[end] - cuts[start] + step_overhead) + call_overhead
            if cost < best[end]:
                best[end], previous[end] = cost, start
    if best[-1] > budget:
        return None
    buckets, end = [], len(cuts) - 1
    while end > 0:
        buckets.append(order[cuts[previous[end]] : cuts[end]])
        end = previous[end]
    return buckets[::-1]


def may_bucket_by_length(input_ids: torch.Tensor) -> bool:
    """Whether a batch may be split by length: inference on CPU, not traced, compiled or exported."""
    return (
        input_ids.size(0) > 1
        and input_ids.device.type == "cpu"
        and not torch.is_grad_enabled()
        and not is_tracing()
    )


def logits_in_length_buckets(
    input_ids: torch.Tensor, lengths: torch.Tensor, logits_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> torch.Tensor | None:
    """The logits of a batch in the model's layout (right-padded, cut to the maximum length) computed sub-batch by
    sub-batch, each cut to its longest row, in row order: `logits_of(input_ids, lengths)` computes a sub-batch's.
    None when the batch is better read as it is (see `plan_length_buckets`) or may not be split
    (`may_bucket_by_length`)."""
    if not may_bucket_by_length(input_ids):
        return None
    buckets = plan_length_buckets(lengths.tolist())
    if buckets is None:
        return None
    logits = None
    for rows in buckets:
        rows = torch.tensor(rows, device=input_ids.device)
        bucket_lengths = lengths[rows]
        width = int(bucket_lengths.max())
        bucket_logits = logits_of(input_ids[rows, :width], bucket_lengths)
        if logits is None:
            logits = bucket_logits.new_empty(input_ids.size(0), bucket_logits.size(-1))
        logits[rows] = bucket_logits
    return logits


# ---------------------------------------- Over-long reviews


def truncated_to_max_length(
    input_ids: torch.Tensor, labels: torch.Tensor | None, lengths: torch.Tensor, max_length: int | None, side: str
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Right-padded `input_ids` (batch, time, ...) (and `labels` (batch, time)) and `lengths` with every row cut to
    `max_length` tokens on `side` as the tokenizer cuts ("left": keep the end, "right": keep the beginning).
    Unchanged when there is no maximum, when no row is longer, or while traced or exported (an exported graph reads
    what it is given: truncate with the tokenizer)."""
    if not max_length or is_tracing() or input_ids.size(1) <= max_length:
        return input_ids, labels, lengths
    if side == "left":
        # Each row's last `max_length` real tokens (or all of them, from its start), then its padding.
        steps = (lengths - max_length).clamp(min=0).unsqueeze(1) + torch.arange(max_length, device=input_ids.device)

        def kept(tensor):
            index = steps.view(*steps.shape, *([1] * (tensor.dim() - 2))).expand(*steps.shape, *tensor.shape[2:])
            return tensor.gather(1, index)

        input_ids, labels = kept(input_ids), (kept(labels) if labels is not None else None)
    else:
        input_ids, labels = input_ids[:, :max_length], (labels[:, :max_length] if labels is not None else None)
    return input_ids, labels, lengths.clamp(max=max_length)
