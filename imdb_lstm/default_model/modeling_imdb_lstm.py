"""The imdb-lstm model family. The base model, `ImdbLstmModel`: word embedding → recurrent (LSTM/GRU, uni- or
bidirectional) or CNN encoder → per-token states. Its heads, each holding it as `imdb_lstm` (`base_model_prefix`):
- `ImdbLstmForSequenceClassification`: pooling over the real tokens → dropout → linear head over
  `config.num_labels` labels (NEGATIVE, POSITIVE by default); optionally an n-gram branch (`config.ngram_order`) whose log-odds join the recurrent ones;
- `ImdbLstmForCausalLM`: the next word from the left-to-right states and, with a bidirectional encoder, the
  previous word from the right-to-left states (a forward and a backward language model sharing the embedding),
  through an output layer tied to the embedding or an adaptive softmax (`config.lm_output`).
A language-model folder loads into the classifier with only the classification head new. Folders saved before
the base model existed (weights `embedding.*`, `encoder.*`, `classifier.*`) load unchanged: transformers adds the
`imdb_lstm.` prefix to each key that only exists with it.

This file is copied to the Hugging Face Hub and loaded there on its own (`trust_remote_code=True`), so it imports
only torch, transformers, the standard library and its configuration. It reads in transformers' order: output
dataclasses, tensor helpers, the serving-only length buckets, encoders, the heads' building blocks, the
`PreTrainedModel`, the base model, the heads.

Why batches are never packed: `pack_padded_sequence` makes CPU training an order of magnitude slower. Instead each
recurrent layer reads the padded batch as it is. Padding sits at the end of every row, so a left-to-right direction
computes the real positions exactly; the right-to-left direction is run on each review reversed in place (real
tokens first, padding still at the end) and its outputs are reversed back. Pooling then reads only real positions,
so a review gets the same logits alone or in any padded batch. A left-padded batch is first rotated row by row so
that its real tokens come first, and is then read exactly the same way.

Inference in any order (e.g. `pipeline("text-classification")`, which pads each batch to its longest review): a
batch whose rows differ much in length is split, inside `forward`, into sub-batches of similar length, each cut to
its own longest review, and the logits are put back in row order (`plan_length_buckets`). Because the logits do not
depend on padding this changes nothing but speed; it happens only without gradients, on CPU, and never while the
model is traced, compiled or exported. Reviews longer than `config.model_max_length` are cut the way the tokenizer
cuts them (`config.truncation_side`: "left" keeps the end, "right" the beginning), so callers that do not ask the
tokenizer to truncate get what training saw.
"""

import contextlib
import contextvars
import functools
import os
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, ModelOutput, SequenceClassifierOutput

from .configuration_imdb_lstm import ImdbLstmConfig

# Added to the language model's score of [PAD] (see ImdbLstmLMHead).
PAD_PENALTY = -1e4
# Gradient checkpointing runs each recurrent direction over chunks of this many steps, each recomputed in backward
# from its input and the state carried into it: a step's gates live only while its chunk is recomputed.
CHECKPOINT_STEPS = 128


# ---------------------------------------- Outputs

@dataclass
class EncodedBatch:
    """What the base model computed for a batch, in its own layout: rows real tokens first (left padding rotated
    away) and cut to `config.model_max_length`. `embedded` and `layers` are zero at padding and are the tensors the
    model computes with (so that returned hidden states get gradients).

    `layers`: per-token states of every recurrent layer (batch, time, features), first layer first; for the CNN
    encoder one tensor, the feature maps of every filter width side by side, indexed by window start. `mask`
    (broadcastable to the last of `layers`): where those states are real (tokens, or windows inside the review).
    `shifts_back`: the row rotation that puts per-token tensors back at the input's own positions, or None."""

    input_ids: torch.Tensor
    lengths: torch.Tensor
    embedded: torch.Tensor
    layers: tuple
    mask: torch.Tensor
    shifts_back: torch.Tensor | None = None


@dataclass
class ImdbLstmCausalLMOutput(ModelOutput):
    """Output of [`ImdbLstmForCausalLM`] (see its `forward`): as transformers' own outputs, fields that are None are
    left out of keys and tuples, in this order."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    backward_logits: torch.Tensor | None = None
    forward_loss: torch.Tensor | None = None
    backward_loss: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


# ---------------------------------------- Tensor helpers

def reverse_padded(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first `lengths[b]` steps of each row of `states` (batch, time, ...), leaving padding in place."""
    steps = torch.arange(states.size(1), device=states.device).unsqueeze(0)
    mirrored = lengths.unsqueeze(1) - 1 - steps
    index = torch.where(mirrored >= 0, mirrored, steps)
    index = index.view(*index.shape, *([1] * (states.dim() - 2))).expand_as(states)
    return states.gather(1, index)


def roll_rows(tensor: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Row b of `tensor` (batch, time, ...) rotated left by `shifts[b]` steps (right by a negative shift)."""
    steps = torch.arange(tensor.size(1), device=tensor.device).unsqueeze(0)
    index = (steps + shifts.unsqueeze(1)) % tensor.size(1)
    index = index.view(*index.shape, *([1] * (tensor.dim() - 2))).expand_as(tensor)
    return tensor.gather(1, index)


def masked_pool(states: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Max and/or mean over time of `states` (batch, time, features) where `mask` (broadcastable) is true."""
    pooled = []
    if pooling in ("max", "max_mean"):
        # Adding the dtype's lowest value at padding, rather than masked_fill: the same maximum (real positions get
        # + 0), several times faster on CPU for a (batch, time, 1) mask broadcast over the features.
        padding_floor = (~mask).to(states.dtype) * torch.finfo(states.dtype).min
        pooled.append((states + padding_floor).amax(dim=1))
    if pooling in ("mean", "max_mean"):
        counts = mask.sum(dim=1).clamp(min=1).to(states.dtype)
        pooled.append((states * mask).sum(dim=1) / counts)
    return torch.cat(pooled, dim=-1)


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


# oneDNN instruction sets without bfloat16 arithmetic. With ONEDNN_MAX_CPU_ISA capped to one of them on a CPU that has
# bfloat16, PyTorch (reading the CPU's own flags) still sends bfloat16 LSTMs to oneDNN, which then cannot build them.
_ONEDNN_ISAS_WITHOUT_BFLOAT16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}


def _onednn_may_use_bfloat16() -> bool:
    return os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").strip().upper() not in _ONEDNN_ISAS_WITHOUT_BFLOAT16


# Set by `float32_inference()`: this thread's (or task's) inference calls compute in float32.
_FLOAT32_INFERENCE = contextvars.ContextVar("imdb_lstm_float32_inference", default=False)


@contextlib.contextmanager
def float32_inference():
    """Within this block, in this thread, classifiers of this family compute in float32 whatever their
    `config.inference_dtype` says (exact logits: ONNX parity, attributions, scoring); other threads are untouched."""
    token = _FLOAT32_INFERENCE.set(True)
    try:
        yield
    finally:
        _FLOAT32_INFERENCE.reset(token)


def _is_exporting() -> bool:
    """Whether the model is being traced (torch.jit, legacy ONNX export), compiled or exported (torch.export): then
    `forward` takes no branch that reads tensor values (torch.export refuses them)."""
    compiler = getattr(torch, "compiler", None)
    return (
        torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
        or bool(compiler and getattr(compiler, "is_compiling", lambda: False)())
        or bool(compiler and getattr(compiler, "is_exporting", lambda: False)())
    )


# ---------------------------------------- Serving only: length buckets at inference (see the module docstring)

# Length buckets at inference (CPU). A recurrent step over `rows` rows costs about rows + step_overhead_rows
# row-steps, and each sub-batch a fixed call_overhead_row_steps more (embedding, gathers, pooling, the n-gram
# branch, Python), measured for a BiLSTM-128 (bfloat16 autocast) per torch thread count: with more threads a row is
# cheaper, so the fixed costs weigh more. Thread counts above the largest measured use its costs. A batch is split
# only when that saves BUCKET_MIN_SAVING of its cost.
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


# ---------------------------------------- Encoders

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


class ImdbLstmRecurrentEncoder(nn.Module):
    """Stacked LSTM/GRU layers; a bidirectional layer is two single-direction modules (see the module docstring)."""

    def __init__(self, config: ImdbLstmConfig):
        super().__init__()
        rnn_class = nn.LSTM if config.cell == "lstm" else nn.GRU
        directions = 2 if config.bidirectional else 1
        self.bidirectional = config.bidirectional
        self.hidden_size = config.hidden_size
        self.forward_layers = nn.ModuleList()
        self.backward_layers = nn.ModuleList() if config.bidirectional else None
        input_size = config.embedding_dim
        for _ in range(config.num_layers):
            self.forward_layers.append(rnn_class(input_size, config.hidden_size, batch_first=True))
            if config.bidirectional:
                self.backward_layers.append(rnn_class(input_size, config.hidden_size, batch_first=True))
            input_size = config.hidden_size * directions
        self.layer_dropout = nn.Dropout(config.rnn_dropout)
        self.output_size = input_size
        # Set by transformers' gradient_checkpointing_enable() (with its own checkpoint function).
        self.gradient_checkpointing = False
        self._gradient_checkpointing_func = functools.partial(checkpoint, use_reentrant=False)

    def forward(
        self, embedded: torch.Tensor, lengths: torch.Tensor, return_all_layers: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Per-token states (batch, time, output_size) of the last layer; with `return_all_layers`, a tuple of
        every layer's states, first layer first; zero at positions at or after `lengths`."""
        steps = torch.arange(embedded.size(1), device=embedded.device).unsqueeze(0)
        real = (steps < lengths.unsqueeze(1)).unsqueeze(-1)
        states = embedded
        layer_states = []
        for layer, forward_rnn in enumerate(self.forward_layers):
            if layer > 0:
                states = self.layer_dropout(states)
            if self.bidirectional:
                backward_rnn, reversed_states = self.backward_layers[layer], reverse_padded(states, lengths)
                outputs = self._run(forward_rnn, states)
                backward_outputs = self._run(backward_rnn, reversed_states)
                outputs = torch.cat([outputs, reverse_padded(backward_outputs, lengths)], dim=-1)
            else:
                outputs = self._run(forward_rnn, states)
            states = outputs * real  # zero at padding (a product: several times faster than masked_fill on CPU)
            layer_states.append(states)
        return tuple(layer_states) if return_all_layers else states

    def _run(self, rnn: nn.LSTM | nn.GRU, inputs: torch.Tensor) -> torch.Tensor:
        """One direction of one layer: its per-token outputs (with gradient checkpointing, chunk by chunk of time)."""
        if getattr(torch.compiler, "is_exporting", lambda: False)():
            return scanned_rnn(rnn, inputs)
        if not (self.gradient_checkpointing and self.training and torch.is_grad_enabled()):
            return rnn(inputs)[0]
        lstm = isinstance(rnn, nn.LSTM)

        def run_chunk(chunk, *state):  # the state as separate tensors: any checkpoint function passes them on
            outputs, state = rnn(chunk, state if lstm else state[0])
            return (outputs, *state) if lstm else (outputs, state)

        state = tuple(inputs.new_zeros(1, inputs.size(0), rnn.hidden_size) for _ in range(2 if lstm else 1))
        outputs = []
        for chunk in inputs.split(CHECKPOINT_STEPS, dim=1):
            chunk_outputs, *state = self._gradient_checkpointing_func(run_chunk, chunk, *state)
            outputs.append(chunk_outputs)
        return torch.cat(outputs, dim=1)

    def last_states(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Final state of each direction: left-to-right at the last real token, right-to-left at the first."""
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, states.size(-1))
        forward_last = states.gather(1, last).squeeze(1)[:, : self.hidden_size]
        if not self.bidirectional:
            return forward_last
        return torch.cat([forward_last, states[:, 0, self.hidden_size :]], dim=-1)


class ImdbLstmConvEncoder(nn.Module):
    """Kim (2014) text CNN: parallel 1-D convolutions of several widths with ReLU, 'valid' positions only."""

    def __init__(self, config: ImdbLstmConfig):
        super().__init__()
        self.kernel_sizes = list(config.cnn_kernel_sizes)
        self.convs = nn.ModuleList(
            nn.Conv1d(config.embedding_dim, config.cnn_num_filters, kernel_size=k) for k in self.kernel_sizes
        )
        self.output_size = config.cnn_num_filters * len(self.kernel_sizes)
        self.gradient_checkpointing = False
        self._gradient_checkpointing_func = functools.partial(checkpoint, use_reentrant=False)

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns feature maps (batch, positions, filters) of every width side by side and their validity mask."""
        widest = max(self.kernel_sizes)
        if embedded.size(1) < widest:
            # A review shorter than the widest filter is read with zero (padding) vectors after it, alone or batched.
            embedded = nn.functional.pad(embedded, (0, 0, 0, widest - embedded.size(1)))
        channels_first = embedded.transpose(1, 2)
        positions = embedded.size(1) - min(self.kernel_sizes) + 1
        steps = torch.arange(positions, device=embedded.device).unsqueeze(0)
        features, masks = [], []
        checkpointed = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        for kernel_size, conv in zip(self.kernel_sizes, self.convs):
            # Checkpointed, the ReLU's output is recomputed in backward rather than kept.
            run = self._gradient_checkpointing_func if checkpointed else lambda function, *args: function(*args)
            feature_map = run(convolve, conv, channels_first).transpose(1, 2)
            feature_map = nn.functional.pad(feature_map, (0, 0, 0, positions - feature_map.size(1)))
            # A window is valid when it lies inside the review (or inside the widest-filter minimum for short ones).
            valid = steps <= (lengths.clamp(min=kernel_size) - kernel_size).unsqueeze(1)
            features.append(feature_map)
            masks.append(valid.unsqueeze(-1).expand_as(feature_map))
        return torch.cat(features, dim=-1), torch.cat(masks, dim=-1)


def convolve(conv: nn.Conv1d, channels_first: torch.Tensor) -> torch.Tensor:
    return torch.relu(conv(channels_first))


# ---------------------------------------- The heads' building blocks

class ImdbLstmLMHead(nn.Module):
    """Word scores from per-token states, tied to the input embedding: dropout → a linear projection of each
    direction's states to the embedding width → dot product with every word vector (+ a bias per word). The output
    layer thus adds only (hidden_size + 1) · embedding_dim parameters per direction and a bias per word, and the
    word vectors learnt as input are the ones predicted."""

    def __init__(self, config: ImdbLstmConfig):
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.forward_projection = nn.Linear(config.hidden_size, config.embedding_dim)
        self.backward_projection = (
            nn.Linear(config.hidden_size, config.embedding_dim) if config.bidirectional else None
        )
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.pad_token_id = config.pad_token_id

    def resize(self, vocab_size: int):
        """The bias for `vocab_size` words: words added at the end start at 0, as in a new head."""
        bias = self.bias.new_zeros(vocab_size)
        kept = min(vocab_size, self.bias.numel())
        bias[:kept] = self.bias.detach()[:kept]
        self.bias = nn.Parameter(bias, requires_grad=self.bias.requires_grad)

    def forward(self, states: torch.Tensor, word_vectors: torch.Tensor, backward: bool = False) -> torch.Tensor:
        projection = self.backward_projection if backward else self.forward_projection
        # [PAD] is never a word to predict: scored PAD_PENALTY lower it gets probability 0 (exp underflows), so no
        # gradient reaches its embedding row, which stays zero. Added to the bias, it costs no pass over the scores.
        pad = torch.tensor([self.pad_token_id], device=self.bias.device)
        bias = self.bias + torch.zeros_like(self.bias).index_fill_(0, pad, PAD_PENALTY)
        return nn.functional.linear(projection(self.dropout(states)), word_vectors, bias)


class ImdbLstmAdaptiveLMHead(nn.Module):
    """Word log-probabilities from per-token states through torch's adaptive softmax (Grave et al. 2017), one per
    direction: the `lm_adaptive_cutoffs[0]` most frequent words (the vocabulary is in frequency order) and one
    entry per cluster of rarer words are scored at every position; a cluster's words only where the target lies in
    it, through a projection `lm_adaptive_div_value` times narrower per cluster. Training reads only the positions
    that predict a word, so no (batch, time, vocab_size) tensor is ever made."""

    def __init__(self, config: ImdbLstmConfig):
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)

        def output_layer():
            return nn.AdaptiveLogSoftmaxWithLoss(
                config.hidden_size, config.vocab_size, cutoffs=list(config.lm_adaptive_cutoffs),
                div_value=float(config.lm_adaptive_div_value),
            )

        self.forward_output = output_layer()
        self.backward_output = output_layer() if config.bidirectional else None

    def resize(self, vocab_size: int):
        """Each output layer for `vocab_size` words: words added or removed at the end of the vocabulary go into or
        out of the last (tail) cluster. transformers appends new tokens after the existing ids, and ids here are in
        frequency order, so new words are the rarest: the tail cluster is where the adaptive softmax keeps those.
        A new word's output row starts as the mean of the cluster's rows (transformers' `mean_resizing`)."""
        for output in filter(None, (self.forward_output, self.backward_output)):
            if vocab_size <= output.cutoffs[-2]:
                raise ValueError(f"vocab_size={vocab_size} would empty the adaptive softmax's last cluster, which "
                                 f"starts at word {output.cutoffs[-2]}; keep more words or choose smaller cutoffs.")
            old = output.tail[-1][1]
            rows = old.weight.detach()[: vocab_size - output.cutoffs[-2]]
            added = vocab_size - output.n_classes
            if added > 0:
                rows = torch.cat([rows, rows.mean(dim=0, keepdim=True).expand(added, -1)])
            output.tail[-1][1] = nn.Linear(old.in_features, rows.size(0), bias=False, device=rows.device, dtype=rows.dtype)
            output.tail[-1][1].weight.data.copy_(rows)
            output.n_classes = vocab_size
            output.cutoffs[-1] = vocab_size

    def output_layer(self, backward: bool) -> nn.AdaptiveLogSoftmaxWithLoss:
        return self.backward_output if backward else self.forward_output

    def log_probabilities(self, states: torch.Tensor, backward: bool = False) -> torch.Tensor:
        """(batch, time, vocab_size) log-probabilities of every word at every position (for inference)."""
        flat = self.dropout(states).reshape(-1, states.size(-1)).float()
        return self.output_layer(backward).log_prob(flat).view(*states.shape[:-1], -1)

    def loss(self, states: torch.Tensor, targets: torch.Tensor, backward: bool = False) -> torch.Tensor:
        """Mean negative log-likelihood of the `targets` (batch, time) that are not -100 (zero, still
        differentiable, when none is)."""
        predicting = targets != -100
        if not bool(predicting.any()):
            return states.sum() * 0.0
        selected = self.dropout(states[predicting])
        return self.output_layer(backward)(selected, targets[predicting]).loss


class ImdbLstmNgramBranch(nn.Module):
    """The log-odds of POSITIVE from which n-grams of token ids (1..`ngram_order` words, inside the review) occur:
    `bias + sum of the weights of the distinct known n-grams present` (an NB-weighted logistic regression over
    binary n-gram features, fitted by `imdb_lstm.ngrams`). An n-gram (t1, ..., tn) is known by the integer key
    sum over k of (t_k + 1) * (vocab_size + 1) ** (n - k); the sorted keys and their weights are buffers, looked
    up with `torch.searchsorted`, so a review gets the same score alone or in any padded batch."""

    def __init__(self, config: ImdbLstmConfig):
        super().__init__()
        self.order = config.ngram_order
        self.base = config.vocab_size + 1
        self.register_buffer("keys", torch.zeros(config.ngram_features, dtype=torch.long))
        self.register_buffer("weights", torch.zeros(config.ngram_features, dtype=torch.float32))
        self.register_buffer("bias", torch.zeros(1, dtype=torch.float32))

    def ngram_keys(self, input_ids: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """(n, keys) for each n-gram order that fits: the (batch, width - n + 1) keys of the n-grams starting at
        every position (past the review too: callers mask with the lengths)."""
        width = input_ids.size(1)
        digits = input_ids.long() + 1
        keys = []
        for n in range(1, min(self.order, width) + 1):
            key = torch.zeros_like(digits[:, : width - n + 1])
            for k in range(n):
                key = key * self.base + digits[:, k : width - n + 1 + k]
            keys.append((n, key))
        return keys

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch,) log-odds for right-padded `input_ids` with `lengths` real tokens."""
        batch, width = input_ids.shape
        count = self.keys.numel()
        scores = self.bias.expand(batch).clone()
        if count == 0:
            return scores
        steps = torch.arange(width, device=input_ids.device)
        queries = []
        for n, key in self.ngram_keys(input_ids):
            # Only the n-grams inside each review are looked up.
            rows, starts = torch.nonzero(steps[: width - n + 1].unsqueeze(0) + n <= lengths.unsqueeze(1), as_tuple=True)
            queries.append((key[rows, starts], rows))
        if self.base ** self.order * batch < 2**62:
            # Each distinct (n-gram, row) pair once, as one int64 (n-gram key * batch + row), sorted by n-gram: the
            # lookups then walk the key table in order (about twice as fast as searching in text order). Keys of
            # different orders never collide (every digit is at least 1).
            pairs = torch.unique(torch.cat([key * batch + rows for key, rows in queries]))
            keys, rows = pairs // batch, pairs % batch
        else:  # the pairs would not fit in int64: distinct (row, key) pairs, looked up in row order
            pairs = torch.unique(torch.stack([torch.cat([rows for _, rows in queries]),
                                              torch.cat([key for key, _ in queries])]), dim=1)
            rows, keys = pairs[0], pairs[1]
        index = torch.searchsorted(self.keys, keys).clamp(max=count - 1)
        known = self.keys[index] == keys
        # A row's n-grams are added in increasing key order either way, alone or in any batch: the same score.
        return scores.index_add(0, rows[known], self.weights[index[known]])

    def exportable_forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """`forward` in operations ONNX has (used while exporting): every n-gram start of every row is looked up
        by a binary search of fixed depth, unknown ones and those past the review become a sentinel feature of
        weight 0, and each row's features are sorted so that each distinct one is counted once."""
        batch, width = input_ids.shape
        count = int(self.keys.numel())  # a constant of the exported graph (the buffers are)
        scores = self.bias.expand(batch)
        if count == 0:
            return scores
        steps = torch.arange(width, device=input_ids.device).unsqueeze(0)
        features = []
        for n, key in self.ngram_keys(input_ids):
            low, high = torch.zeros_like(key), torch.full_like(key, count - 1)
            for _ in range(max(count - 1, 1).bit_length()):  # the first index whose key is >= the query
                middle = (low + high) // 2
                below = self.keys[middle] < key
                low, high = torch.where(below, middle + 1, low), torch.where(below, high, middle)
            # low is `count` for a query above every key (the search keeps iterating after it converges): clamp.
            known = (self.keys[low.clamp(max=count - 1)] == key) & (steps[:, : width - n + 1] + n <= lengths.unsqueeze(1))
            features.append(torch.where(known, low, torch.full_like(low, count)))
        ordered = torch.cat(features, dim=1).sort(dim=1).values
        first = torch.cat([torch.ones_like(ordered[:, :1], dtype=torch.bool), ordered[:, 1:] != ordered[:, :-1]], dim=1)
        weights = torch.cat([self.weights, self.weights.new_zeros(1)])[ordered]
        return scores + torch.where(first, weights, torch.zeros_like(weights)).sum(dim=1)


# ---------------------------------------- The model family

class ImdbLstmPreTrainedModel(PreTrainedModel):
    config_class = ImdbLstmConfig
    base_model_prefix = "imdb_lstm"
    main_input_name = "input_ids"
    # Trainer must average the loss itself under gradient accumulation: forward takes no loss kwargs.
    accepts_loss_kwargs = False
    # The encoders checkpoint their recurrent directions over chunks of time, or their convolutions.
    supports_gradient_checkpointing = True

    def _init_weights(self, module: nn.Module):
        if isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=0.1)
            if module.padding_idx is not None:
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, (nn.LSTM, nn.GRU)):
            for name, param in module.named_parameters():
                if name.startswith("weight_hh"):
                    init.orthogonal_(param)
                elif name.startswith("weight_ih"):
                    init.xavier_uniform_(param)
                else:
                    init.zeros_(param)
            if isinstance(module, nn.LSTM):
                # Forget-gate bias 1 (Jozefowicz et al. 2015): remember by default early in training.
                for name, param in module.named_parameters():
                    if name.startswith("bias_ih"):
                        init.constant_(param[module.hidden_size : 2 * module.hidden_size], 1.0)
        elif isinstance(module, (nn.Linear, nn.Conv1d)):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, ImdbLstmLMHead):
            init.zeros_(module.bias)

    def _resize_token_embeddings(self, new_num_tokens, pad_to_multiple_of=None, mean_resizing=True):
        """transformers' resizing of the embedding, and of the language model's output layer with it."""
        if getattr(self, "ngram", None) is not None:
            raise ValueError("The n-gram branch keys its n-grams by config.vocab_size, so its vocabulary cannot be "
                             "resized; resize a classifier without it (ngram_order=0).")
        embedding = super()._resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        embedding.padding_idx = self.config.pad_token_id
        if getattr(self, "lm_head", None) is not None:
            self.lm_head.resize(embedding.num_embeddings)
        return embedding

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`, with every class of the family in `config.auto_map` (each registered
        for its Auto class at the end of this file): whichever class saved a folder, each Auto class loads it with
        trust_remote_code (a language-model folder into AutoModelForSequenceClassification, for instance)."""
        family = (type(self.config), ImdbLstmModel, ImdbLstmForCausalLM, ImdbLstmForSequenceClassification)
        auto_map = {cls._auto_class: f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}" for cls in family}
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **auto_map}
        return super().save_pretrained(save_directory, *args, **kwargs)


class ImdbLstmModel(ImdbLstmPreTrainedModel):
    """The base model: word embedding → recurrent (LSTM/GRU, uni- or bidirectional) or CNN encoder → per-token
    states. The heads ([`ImdbLstmForSequenceClassification`], [`ImdbLstmForCausalLM`]) hold it as `imdb_lstm`."""

    def __init__(self, config: ImdbLstmConfig):
        super().__init__(config)
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.embedding_dropout = nn.Dropout1d(config.embedding_dropout)
        if config.encoder == "rnn":
            self.encoder = ImdbLstmRecurrentEncoder(config)
        else:
            self.encoder = ImdbLstmConvEncoder(config)
        self.post_init()
        # Frozen embeddings get no gradient at all, so backward does no work for them.
        self.embedding.weight.requires_grad_(not config.freeze_embedding)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embedding

    def set_input_embeddings(self, value: nn.Embedding):
        self.embedding = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> BaseModelOutput:
        r"""
        input_ids, attention_mask, inputs_embeds: as for [`ImdbLstmForSequenceClassification`].

        Returns `last_hidden_state` `(batch, time, features)`, aligned with `input_ids` like `hidden_states`: the
        last recurrent layer's per-token states (both directions side by side, left-to-right first), or for the CNN
        encoder the feature maps indexed by window start; zero at padding. `hidden_states` (with
        `output_hidden_states`): the embedding output, then every layer's states. `attentions` is always None.
        """
        if output_hidden_states is None:
            output_hidden_states = getattr(self.config, "output_hidden_states", False)
        inputs, lengths, shifts_back, _ = self.prepare_inputs(input_ids, attention_mask, inputs_embeds=inputs_embeds)
        encoded = self.encode(inputs, lengths, shifts_back)
        hidden_states = self.token_aligned_states(encoded)
        if return_dict is False:
            return (hidden_states[-1], hidden_states) if output_hidden_states else (hidden_states[-1],)
        return BaseModelOutput(last_hidden_state=hidden_states[-1],
                               hidden_states=hidden_states if output_hidden_states else None)

    def prepare_inputs(
        self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None, labels: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Checked inputs in the model's layout: (input_ids, lengths, shifts_back, labels). Rows are rotated so
        their real tokens come first (left padding) and cut to `config.model_max_length` on
        `config.truncation_side`; `labels` (batch, time), when given, are moved the same way. `shifts_back`
        rotates per-token outputs back to the input's positions (None when nothing was rotated, or when rows
        were cut: outputs then follow the kept tokens, real tokens first). Given `inputs_embeds` (batch, time,
        embedding_dim) instead of `input_ids`, they are what is moved and returned first."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Give input_ids (batch, time) or inputs_embeds (batch, time, embedding_dim), one of them.")
        if inputs_embeds is not None:
            if inputs_embeds.dim() != 3 or inputs_embeds.size(-1) != self.config.embedding_dim:
                raise ValueError(f"inputs_embeds must be a (batch, time, embedding_dim={self.config.embedding_dim}) "
                                 f"tensor; got shape {tuple(inputs_embeds.shape)}.")
            input_ids = inputs_embeds
        elif input_ids.dim() != 2:
            raise ValueError("input_ids must be a (batch, time) tensor of token ids.")
        # The check reads the ids' values, which a traced or exported graph cannot branch on: there it is left out.
        elif not _is_exporting() and input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size):
            raise ValueError(
                f"input_ids hold ids outside [0, vocab_size={self.config.vocab_size}): the tokenizer does not match "
                "this model's embedding. Load the tokenizer saved with the model."
            )
        if labels is not None and labels.shape != input_ids.shape[:2]:
            raise ValueError(f"labels must have the shape of input_ids {tuple(input_ids.shape[:2])}; got {tuple(labels.shape)}.")
        if input_ids.size(1) == 0:
            # Text with no tokens (empty, or only markup): read one padding step, the model's no-evidence answer.
            if inputs_embeds is not None:
                input_ids = input_ids.new_zeros(input_ids.size(0), 1, input_ids.size(2))  # [PAD]'s vector is zero
            else:
                input_ids = torch.full((input_ids.size(0), 1), self.config.pad_token_id, device=input_ids.device)
            attention_mask = None
            if labels is not None:
                labels = torch.full(input_ids.shape[:2], -100, dtype=torch.long, device=input_ids.device)
        lengths, shifts = self._lengths_and_shifts(input_ids, attention_mask)
        input_width = input_ids.size(1)
        if shifts is not None:
            # Left padding: real tokens first in every row, after which everything below is exact as for right padding.
            input_ids = roll_rows(input_ids, shifts)
            labels = roll_rows(labels, shifts) if labels is not None else None
        lengths = lengths.clamp(min=1)
        input_ids, labels, lengths = self._truncated_to_max_length(input_ids, labels, lengths)
        shifts_back = None if shifts is None or input_ids.size(1) != input_width else -shifts
        return input_ids, lengths, shifts_back, labels

    def encode(self, input_ids: torch.Tensor, lengths: torch.Tensor, shifts_back: torch.Tensor | None = None) -> EncodedBatch:
        """Embedding (unless `input_ids` are already vectors, `inputs_embeds`) and encoder over inputs in the
        model's layout (see `prepare_inputs`)."""
        embedded = input_ids if input_ids.is_floating_point() else self.embedding(input_ids)
        embedded = self.embedding_dropout(embedded.transpose(1, 2)).transpose(1, 2)
        steps = torch.arange(embedded.size(1), device=embedded.device).unsqueeze(0)
        real = (steps < lengths.unsqueeze(1)).unsqueeze(-1)
        embedded = embedded * real  # zero at padding (a product: several times faster than masked_fill on CPU)
        if self.config.encoder == "rnn":
            layers, mask = self.encoder(embedded, lengths, return_all_layers=True), real
        else:
            features, mask = self.encoder(embedded, lengths)
            layers = (features.masked_fill(~mask, 0),)
        return EncodedBatch(input_ids, lengths, embedded, tuple(layers), mask, shifts_back)

    def token_aligned_states(self, encoded: EncodedBatch) -> tuple[torch.Tensor, ...]:
        """The embedding output and every layer's states (zero at padding), aligned with the input's positions;
        for the CNN encoder the embedding output so aligned and the feature maps. Without left padding to rotate
        back, these are the very tensors the model computed with; a left-padded batch gets rotated copies."""
        tokens = (encoded.embedded, *encoded.layers)
        if encoded.shifts_back is None:
            return tokens
        if self.config.encoder == "cnn":
            return (roll_rows(encoded.embedded, encoded.shifts_back), *encoded.layers)
        return tuple(roll_rows(tensor, encoded.shifts_back) for tensor in tokens)

    def _lengths_and_shifts(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(lengths, shifts): the real tokens of each row, and for a left-padded batch how many padding steps
        precede them in each row (None when no row is left-padded). Each row must be one run of real tokens with
        padding only after it (right padding) or only before it (left padding)."""
        if attention_mask is None:
            lengths = torch.full((input_ids.size(0),), input_ids.size(1), dtype=torch.long, device=input_ids.device)
            return lengths, None
        mask = attention_mask.bool()
        lengths = mask.sum(dim=1).long()
        steps = torch.arange(input_ids.size(1), device=input_ids.device).unsqueeze(0)
        starts = input_ids.size(1) - lengths
        right_padded = (mask == (steps < lengths.unsqueeze(1))).all(dim=1)
        if _is_exporting():
            # No branch on values in a traced or exported graph: every row is rotated (by 0 when right-padded).
            return lengths, torch.where(right_padded, torch.zeros_like(starts), starts)
        left_padded = (mask == (steps >= starts.unsqueeze(1))).all(dim=1)
        if not bool((right_padded | left_padded).all()):
            raise ValueError(
                "attention_mask must mark one run of real tokens per row, with padding only after it (right "
                "padding) or only before it (left padding); a row has padding between real tokens. Pad with the "
                "tokenizer (tokenizer(texts, padding=True)) instead of masking tokens out."
            )
        shifts = torch.where(right_padded, torch.zeros_like(starts), starts)
        return lengths, (shifts if bool(shifts.any()) else None)

    def _truncated_to_max_length(
        self, input_ids: torch.Tensor, labels: torch.Tensor | None, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Right-padded `input_ids` (and `labels`) and `lengths` with every row cut to `config.model_max_length`
        tokens, on `config.truncation_side` as the tokenizer cuts ("left": keep the end, "right": keep the
        beginning). Unchanged when the config has no maximum, when no row is longer, or while exporting (an
        exported graph reads what it is given: truncate with the tokenizer)."""
        max_length = self.config.model_max_length
        if not max_length or _is_exporting() or input_ids.size(1) <= max_length:
            return input_ids, labels, lengths
        if self.config.truncation_side == "left":
            starts = (lengths - max_length).clamp(min=0)
            input_ids = roll_rows(input_ids, starts)[:, :max_length]
            labels = roll_rows(labels, starts)[:, :max_length] if labels is not None else None
        else:
            input_ids = input_ids[:, :max_length]
            labels = labels[:, :max_length] if labels is not None else None
        return input_ids, labels, lengths.clamp(max=max_length)


class ImdbLstmForSequenceClassification(ImdbLstmPreTrainedModel):
    """[`ImdbLstmModel`] → pooling over the real tokens → dropout → linear head over `config.num_labels` labels
    (NEGATIVE, POSITIVE by default); with `config.ngram_order` (two labels only), the log-odds of
    [`ImdbLstmNgramBranch`] join the head's with share `config.ngram_weight`. Re-heading a saved classifier or
    language model: `from_pretrained(folder, num_labels=5, ignore_mismatched_sizes=True)` keeps the embedding and
    encoder and makes a new head."""

    def __init__(self, config: ImdbLstmConfig):
        super().__init__(config)
        self.imdb_lstm = ImdbLstmModel(config)
        pooled_size = self.imdb_lstm.encoder.output_size * (2 if config.pooling == "max_mean" else 1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(pooled_size, config.num_labels)
        config.validate_ngram_labels()  # the n-gram branch is binary: labels may have changed since construction
        self.ngram = ImdbLstmNgramBranch(config) if config.ngram_order else None
        self.post_init()

    # The base model's parts under the names they had before the base model existed (read-only shortcuts).
    @property
    def embedding(self) -> nn.Embedding:
        return self.imdb_lstm.embedding

    @property
    def encoder(self) -> nn.Module:
        return self.imdb_lstm.encoder

    def get_input_embeddings(self) -> nn.Embedding:
        return self.imdb_lstm.embedding

    def set_input_embeddings(self, value: nn.Embedding):
        self.imdb_lstm.embedding = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        r"""
        input_ids (`torch.LongTensor` of shape `(batch, time)`): token ids, padded with `pad_token_id`.
        attention_mask (`torch.Tensor` of shape `(batch, time)`, optional): 1 for real tokens, 0 for padding;
            without it every position counts as real. Padding may follow the real tokens (right padding, what the
            saved tokenizer does) or precede them (left padding): a left-padded row is rotated so that its real
            tokens come first, and gets exactly the logits it gets right-padded.
        labels (`torch.Tensor`, optional): gives `loss`, by `config.problem_type` as in transformers:
            single-label, `(batch,)` label ids (0 = NEGATIVE, 1 = POSITIVE by default): cross-entropy;
            multi-label, `(batch, num_labels)` 0/1 floats: binary cross-entropy on the logits; regression,
            `(batch,)` or `(batch, num_labels)` floats: mean squared error. Without a problem type it is inferred:
            regression with one label, multi-label for a floating `(batch, num_labels)` target, else single-label.
        output_hidden_states (`bool`, optional): also return `hidden_states`, a tuple of `(batch, time, features)`
            tensors aligned with `input_ids` (with the kept tokens, real ones first, when reviews longer than
            `config.model_max_length` are cut): the embedding output, then the per-token states of each recurrent
            layer (both directions side by side, left-to-right first). For the CNN encoder, the embedding output
            and the feature maps of every filter width side by side, indexed by window start counted from the
            first real token. Padding positions (and windows past the review) are zero.
        output_attentions (`bool`, optional): accepted for compatibility; this model has no attention, so
            `attentions` is always None.
        inputs_embeds (`torch.FloatTensor` of shape `(batch, time, embedding_dim)`, optional): word vectors in
            place of `input_ids` (what attribution and adversarial code perturb); the same logits as the ids
            whose embeddings they are. The n-gram branch reads ids, so a model with one needs `input_ids`.
        """
        if output_hidden_states is None:
            output_hidden_states = getattr(self.config, "output_hidden_states", False)
        if inputs_embeds is not None and self.ngram is not None:
            raise ValueError("This classifier's n-gram branch reads token ids: pass input_ids, not inputs_embeds.")
        sequence = input_ids if inputs_embeds is None else inputs_embeds
        if labels is None and not output_hidden_states and self._autocasts_inference(sequence):
            # config.inference_dtype: bfloat16 where it is free; the logits come back in float32.
            with torch.autocast(sequence.device.type, dtype=torch.bfloat16):
                logits = self(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds).logits.float()
            return (logits,) if return_dict is False else SequenceClassifierOutput(logits=logits)
        input_ids, lengths, shifts_back, _ = self.imdb_lstm.prepare_inputs(input_ids, attention_mask, inputs_embeds=inputs_embeds)
        buckets = None
        if labels is None and not output_hidden_states and self._may_bucket_by_length(input_ids):
            buckets = plan_length_buckets(lengths.tolist())
        hidden_states = None
        if buckets is not None:
            logits = self._logits_in_length_buckets(input_ids, lengths, buckets)
        else:
            encoded = self.imdb_lstm.encode(input_ids, lengths, shifts_back)
            logits = self._recurrent_logits(encoded)
            hidden_states = self.imdb_lstm.token_aligned_states(encoded) if output_hidden_states else None
        if self.ngram is not None:
            # Log-odds joined: (1 - w) * recurrent + w * n-gram, the n-gram's split evenly between the two labels.
            # Once over the whole batch: it reads only each row's real tokens, so length buckets gain nothing there.
            weight = float(self.config.ngram_weight)
            ngram = self.ngram.exportable_forward if _is_exporting() else self.ngram
            half = ngram(input_ids, lengths).unsqueeze(1) / 2
            logits = (1 - weight) * logits + weight * torch.cat([-half, half], dim=1).to(logits.dtype)

        loss = self._loss(logits, labels) if labels is not None else None
        if return_dict is False:
            return tuple(value for value in (loss, logits, hidden_states) if value is not None)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states, attentions=None)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """transformers' loss for `config.problem_type` (see `forward`)."""
        labels = labels.to(logits.device)
        problem = self.config.problem_type
        if problem is None:
            multi_label = labels.is_floating_point() and labels.shape == logits.shape and self.config.num_labels > 1
            problem = "regression" if self.config.num_labels == 1 else (
                "multi_label_classification" if multi_label else "single_label_classification")
        if problem == "regression":
            return nn.functional.mse_loss(logits.squeeze(-1), labels.to(logits.dtype).view(logits.squeeze(-1).shape))
        if problem == "multi_label_classification":
            if labels.shape != logits.shape:
                raise ValueError(f"Multi-label labels must have the logits' shape {tuple(logits.shape)} (one 0/1 "
                                 f"column per label); got {tuple(labels.shape)}.")
            return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        labels = labels.long().view(-1)
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.config.num_labels):
            raise ValueError(
                f"labels must be in {sorted(self.config.id2label)} ({self.config.id2label}); got {labels.unique().tolist()}."
            )
        return nn.functional.cross_entropy(logits, labels)

    def _autocasts_inference(self, input_ids: torch.Tensor | None) -> bool:
        """Whether `forward` runs this call under bfloat16 autocast (`config.inference_dtype`): an inference call
        (eval mode, no gradient) of a float32 model, not traced or exported, not already under autocast, on a
        device that computes bfloat16 natively (or always, with "bfloat16")."""
        choice = getattr(self.config, "inference_dtype", "float32")
        if choice == "float32" or input_ids is None or self.training or torch.is_grad_enabled() or _is_exporting():
            return False
        if _FLOAT32_INFERENCE.get():
            return False
        device = input_ids.device
        if torch.is_autocast_enabled(device.type) or self.classifier.weight.dtype != torch.float32:
            return False
        return choice == "bfloat16" or bfloat16_is_native(device)

    @staticmethod
    def _may_bucket_by_length(input_ids: torch.Tensor) -> bool:
        """Whether `forward` may split this batch by length: inference on CPU, not traced, compiled or exported."""
        return (
            input_ids.size(0) > 1
            and input_ids.device.type == "cpu"
            and not torch.is_grad_enabled()
            and not _is_exporting()
        )

    def _recurrent_logits(self, encoded: EncodedBatch) -> torch.Tensor:
        """The head's logits from what the base model computed: pooling over the real tokens → dropout → linear."""
        states = encoded.layers[-1]
        if self.config.encoder == "rnn" and self.config.pooling == "last":
            pooled = self.imdb_lstm.encoder.last_states(states, encoded.lengths)
        else:
            pooled = masked_pool(states, encoded.mask, self.config.pooling)
        return self.classifier(self.dropout(pooled))

    def _logits_in_length_buckets(
        self, input_ids: torch.Tensor, lengths: torch.Tensor, buckets: list[list[int]]
    ) -> torch.Tensor:
        """The recurrent logits of a batch in the model's layout (right-padded, cut) computed sub-batch by
        sub-batch, each cut to its longest row, in row order."""
        logits = None
        for rows in buckets:
            rows = torch.tensor(rows, device=input_ids.device)
            bucket_lengths = lengths[rows]
            width = int(bucket_lengths.max())
            bucket_logits = self._recurrent_logits(self.imdb_lstm.encode(input_ids[rows, :width], bucket_lengths))
            if logits is None:
                logits = bucket_logits.new_empty(input_ids.size(0), bucket_logits.size(-1))
            logits[rows] = bucket_logits
        return logits


class ImdbLstmForCausalLM(ImdbLstmPreTrainedModel):
    """[`ImdbLstmModel`] as a language model: the left-to-right direction predicts the next word; with a
    bidirectional encoder the right-to-left direction predicts the previous word, so one model holds a forward and
    a backward language model sharing the embedding (as ELMo / ULMFiT's pair). The output layer is tied to the
    embedding (see [`ImdbLstmLMHead`]). Needs a recurrent encoder, and with both directions a single layer: a
    stacked bidirectional encoder feeds each direction the other's states, which have seen the word to predict."""

    def __init__(self, config: ImdbLstmConfig):
        if config.encoder != "rnn":
            raise ValueError(
                f"ImdbLstmForCausalLM needs encoder='rnn'; encoder={config.encoder!r} sees words on both sides of "
                "each position, so it cannot predict the next word. Use encoder='rnn' (LSTM or GRU)."
            )
        if config.bidirectional and config.num_layers > 1:
            raise ValueError(
                f"ImdbLstmForCausalLM with bidirectional=True needs num_layers=1 (got {config.num_layers}): from the "
                "second layer on, each direction would read the other direction's states, which have already seen "
                "the word it must predict. Use one bidirectional layer, or bidirectional=False with several layers."
            )
        if config.lm_output == "tied" and not config.tie_word_embeddings:
            raise ValueError(
                "ImdbLstmForCausalLM with lm_output='tied' scores words through the input embedding, so it cannot "
                "hold tie_word_embeddings=False; use lm_output='adaptive' (output layers of its own) or keep it tied."
            )
        super().__init__(config)
        self.imdb_lstm = ImdbLstmModel(config)
        self.lm_head = ImdbLstmAdaptiveLMHead(config) if config.lm_output == "adaptive" else ImdbLstmLMHead(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.imdb_lstm.embedding

    def set_input_embeddings(self, value: nn.Embedding):
        self.imdb_lstm.embedding = value

    def get_output_embeddings(self):
        # The output layer reads the input embedding's weight itself (ImdbLstmLMHead): there is nothing to tie.
        return None

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> ImdbLstmCausalLMOutput:
        r"""
        input_ids, attention_mask, inputs_embeds: as for [`ImdbLstmForSequenceClassification`] (right or left
            padding; with `inputs_embeds`, `labels` give the words to predict).
        labels (`torch.LongTensor` of shape `(batch, time)`, optional): the words to predict, aligned with
            `input_ids` (usually `input_ids` itself: the shift happens here, as in transformers' causal LMs);
            -100 and padding positions are ignored.

        Returns an [`ImdbLstmCausalLMOutput`] with, in this order (fields that do not apply are None, and absent
        from keys and tuples as in transformers' outputs; `output.backward_logits` is None for a unidirectional
        model):
        - `loss`: with `labels`, the mean cross-entropy of the next word (left-to-right) and, with a bidirectional
          encoder, the average of that and the mean cross-entropy of the previous word (right-to-left);
          `exp(loss)` is the perplexity (for a bidirectional model the geometric mean of the two directions');
        - `logits`: `(batch, time, vocab_size)` scores of the word after each position (with
          `lm_output="adaptive"`, log-probabilities, and only when no `labels` are given: training makes no
          scores for every word);
        - `backward_logits`: `(batch, time, vocab_size)` scores of the word before each position (bidirectional;
          as `logits`);
        - `forward_loss`, `backward_loss`: each direction's loss, with `labels`;
        - `hidden_states`: as [`ImdbLstmModel`]'s, with `output_hidden_states`.
        Scores are aligned with `input_ids`; their values at padding positions mean nothing.
        """
        if output_hidden_states is None:
            output_hidden_states = getattr(self.config, "output_hidden_states", False)
        inputs, lengths, shifts_back, labels = self.imdb_lstm.prepare_inputs(input_ids, attention_mask, labels, inputs_embeds)
        encoded = self.imdb_lstm.encode(inputs, lengths, shifts_back)
        states = encoded.layers[-1]
        hidden = self.config.hidden_size
        adaptive = self.config.lm_output == "adaptive"
        logits = backward_logits = None
        if not adaptive:
            word_vectors = self.imdb_lstm.embedding.weight
            logits = self.lm_head(states[..., :hidden], word_vectors)
            if self.config.bidirectional:
                backward_logits = self.lm_head(states[..., hidden:], word_vectors, backward=True)
        elif labels is None:
            # The adaptive softmax scores every word only when asked for scores; with labels only the loss is made.
            logits = self.lm_head.log_probabilities(states[..., :hidden])
            if self.config.bidirectional:
                backward_logits = self.lm_head.log_probabilities(states[..., hidden:], backward=True)

        loss = forward_loss = backward_loss = None
        if labels is not None:
            labels = labels.to(states.device).long()
            steps = torch.arange(labels.size(1), device=labels.device).unsqueeze(0)
            targets = labels.masked_fill(steps >= lengths.unsqueeze(1), -100)
            ignored = torch.full_like(targets[:, :1], -100)
            # Position t predicts word t + 1 left to right, word t - 1 right to left; only real positions predict
            # (position `length`, padding, must not predict the last word right to left).
            forward_targets = torch.cat([targets[:, 1:], ignored], dim=1)
            if adaptive:
                forward_loss = self.lm_head.loss(states[..., :hidden], forward_targets)
            else:
                forward_loss = self._mean_cross_entropy(logits, forward_targets)
            loss = forward_loss
            if self.config.bidirectional:
                backward_targets = torch.cat([ignored, targets[:, :-1]], dim=1).masked_fill(
                    steps >= lengths.unsqueeze(1), -100)
                if adaptive:
                    backward_loss = self.lm_head.loss(states[..., hidden:], backward_targets, backward=True)
                else:
                    backward_loss = self._mean_cross_entropy(backward_logits, backward_targets)
                loss = (forward_loss + backward_loss) / 2

        if shifts_back is not None and logits is not None:
            logits = roll_rows(logits, shifts_back)
            backward_logits = roll_rows(backward_logits, shifts_back) if backward_logits is not None else None
        hidden_states = self.imdb_lstm.token_aligned_states(encoded) if output_hidden_states else None
        output = ImdbLstmCausalLMOutput(loss=loss, logits=logits, backward_logits=backward_logits,
                                        forward_loss=forward_loss, backward_loss=backward_loss,
                                        hidden_states=hidden_states)
        return output.to_tuple() if return_dict is False else output

    def _mean_cross_entropy(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of `logits` (batch, time, vocab) over the `targets` (batch, time) that are not -100
        (zero, still differentiable, when none is). Read in place: no copy of the scores is made."""
        if not bool((targets != -100).any()):
            return logits.sum() * 0.0
        return nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)


ImdbLstmModel.register_for_auto_class("AutoModel")
ImdbLstmForCausalLM.register_for_auto_class("AutoModelForCausalLM")
ImdbLstmForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
