"""PyTorch imdb-lstm models: the base model [`ImdbLstmModel`] (word embedding → recurrent or CNN encoder →
per-token states) and its heads, [`ImdbLstmForSequenceClassification`] and [`ImdbLstmForCausalLM`], which hold it as
`imdb_lstm` (folders saved before it existed, with weights `embedding.*`, `encoder.*`, `classifier.*`, load
unchanged: transformers adds the prefix). Loaded from the Hub (`trust_remote_code=True`) with the files it imports
relatively, its configuration and `serving_imdb_lstm.py` (inference dtype, length buckets, cutting over-long
reviews), it imports only torch, transformers and the standard library besides. Export-only paths live in
`imdb_lstm.onnx_export`, which swaps in its own `ImdbLstmRecurrentEncoder.run_direction` and
`ImdbLstmNgramBranch.log_odds` while exporting.

Why batches are never packed: `pack_padded_sequence` makes CPU training an order of magnitude slower. Instead each
recurrent layer reads the padded batch as it is. Padding sits at the end of every row, so a left-to-right direction
computes the real positions exactly; the right-to-left direction is run on each review reversed in place (real
tokens first, padding still at the end) and its outputs are reversed back. Pooling then reads only real positions,
so a review gets the same logits alone or in any padded batch. A left-padded batch is first rotated row by row so
that its real tokens come first, and is then read exactly the same way.
"""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, ModelOutput, SequenceClassifierOutput
from transformers.utils.import_utils import is_tracing

from .configuration_imdb_lstm import ImdbLstmConfig
from .serving_imdb_lstm import autocasts_inference, logits_in_length_buckets, truncated_to_max_length
# Looked up on the model's own module (whichever copy runs): predict.exact_float32, scripts/bench_speed.py.
from .serving_imdb_lstm import bfloat16_is_native, float32_inference  # noqa: F401

# Added to the language model's score of [PAD] (see ImdbLstmLMHead).
PAD_PENALTY = -1e4
# Gradient checkpointing runs each recurrent direction over chunks of this many steps, each recomputed in backward
# from its input and the state carried into it: a step's gates live only while its chunk is recomputed.
CHECKPOINT_STEPS = 128


@dataclass
class EncodedBatch:
    """What the base model computed for a batch, in its layout (real tokens first, cut to `model_max_length`).
    `embedded` and `layers` (every recurrent layer's per-token states, first layer first; for the CNN encoder the
    feature maps of every filter width side by side, by window start) are zero at padding and are the tensors the
    model computes with. `mask` (broadcastable to the last of `layers`): where those states are real.
    `shifts_back`: the row rotation that puts per-token tensors back at the input's own positions, or None."""

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


def run_direction(rnn: nn.LSTM | nn.GRU, inputs: torch.Tensor) -> torch.Tensor:
    """One direction of one recurrent layer: the per-token outputs of `rnn` (one layer, one direction, batch first)
    over `inputs`, from zero states."""
    return rnn(inputs)[0]


class ImdbLstmLSTM(GradientCheckpointingLayer, nn.LSTM):
    """One direction of one recurrent layer, `nn.LSTM` as a transformers `GradientCheckpointingLayer` (as xLSTM's
    block is): checkpointed, each call (a chunk of time, see `ImdbLstmRecurrentEncoder`) is recomputed in backward.
    Its state goes in and out as separate tensors, which any checkpoint function (reentrant too) passes on."""

    def forward(self, inputs: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs, state = super().forward(inputs, state or None)
        return outputs, *state


class ImdbLstmGRU(GradientCheckpointingLayer, nn.GRU):
    """`nn.GRU` as a `GradientCheckpointingLayer`, as `ImdbLstmLSTM` (its state is one tensor already)."""


class ImdbLstmRecurrentEncoder(nn.Module):
    """Stacked LSTM/GRU layers; a bidirectional layer is two single-direction modules (see the module docstring)."""

    # Replaceable, as transformers marks Mamba's scan: looked up on the instance, so a function of the same signature
    # set there runs instead (imdb_lstm.onnx_export sets a scan over time steps while exporting).
    run_direction = staticmethod(run_direction)

    def __init__(self, config: ImdbLstmConfig):
        super().__init__()
        self.bidirectional, self.hidden_size = config.bidirectional, config.hidden_size
        self.output_size = config.hidden_size * (2 if config.bidirectional else 1)
        input_sizes = [config.embedding_dim] + [self.output_size] * (config.num_layers - 1)

        def direction_layers():
            rnn_class = ImdbLstmLSTM if config.cell == "lstm" else ImdbLstmGRU
            return nn.ModuleList(rnn_class(size, config.hidden_size, batch_first=True) for size in input_sizes)

        self.forward_layers = direction_layers()
        self.backward_layers = direction_layers() if config.bidirectional else None
        self.layer_dropout = nn.Dropout(config.rnn_dropout)

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
            outputs = self._run(forward_rnn, states)
            if self.bidirectional:
                backward_outputs = self._run(self.backward_layers[layer], reverse_padded(states, lengths))
                outputs = torch.cat([outputs, reverse_padded(backward_outputs, lengths)], dim=-1)
            states = outputs * real  # zero at padding (a product: several times faster than masked_fill on CPU)
            layer_states.append(states)
        return tuple(layer_states) if return_all_layers else states

    def _run(self, rnn: ImdbLstmLSTM | ImdbLstmGRU, inputs: torch.Tensor) -> torch.Tensor:
        """One direction of one layer: its per-token outputs; with gradient checkpointing, CHECKPOINT_STEPS steps at
        a time, each chunk a call of the (checkpointed) layer from the state carried into it."""
        if not (rnn.gradient_checkpointing and rnn.training and torch.is_grad_enabled()):
            return self.run_direction(rnn, inputs)
        state, outputs = (), []
        for chunk in inputs.split(CHECKPOINT_STEPS, dim=1):
            chunk_outputs, *state = rnn(chunk, *state)
            outputs.append(chunk_outputs)
        return torch.cat(outputs, dim=1)

    def last_states(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Final state of each direction: left-to-right at the last real token, right-to-left at the first."""
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, states.size(-1))
        forward_last = states.gather(1, last).squeeze(1)[:, : self.hidden_size]
        if not self.bidirectional:
            return forward_last
        return torch.cat([forward_last, states[:, 0, self.hidden_size :]], dim=-1)


class ImdbLstmConvFilters(GradientCheckpointingLayer, nn.Conv1d):
    """The filters of one width, `nn.Conv1d` followed by ReLU, as a transformers `GradientCheckpointingLayer`: with
    gradient checkpointing the ReLU's output is recomputed in backward rather than kept."""

    def forward(self, channels_first: torch.Tensor) -> torch.Tensor:
        return torch.relu(super().forward(channels_first))


class ImdbLstmConvEncoder(nn.Module):
    """Kim (2014) text CNN: parallel 1-D convolutions of several widths with ReLU, 'valid' positions only."""

    def __init__(self, config: ImdbLstmConfig):
        super().__init__()
        self.kernel_sizes = list(config.cnn_kernel_sizes)
        self.convs = nn.ModuleList(
            ImdbLstmConvFilters(config.embedding_dim, config.cnn_num_filters, kernel_size=k) for k in self.kernel_sizes
        )
        self.output_size = config.cnn_num_filters * len(self.kernel_sizes)

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
        for kernel_size, conv in zip(self.kernel_sizes, self.convs):
            feature_map = conv(channels_first).transpose(1, 2)
            feature_map = nn.functional.pad(feature_map, (0, 0, 0, positions - feature_map.size(1)))
            # A window is valid when it lies inside the review (or inside the widest-filter minimum for short ones).
            valid = steps <= (lengths.clamp(min=kernel_size) - kernel_size).unsqueeze(1)
            features.append(feature_map)
            masks.append(valid.unsqueeze(-1).expand_as(feature_map))
        return torch.cat(features, dim=-1), torch.cat(masks, dim=-1)


class ImdbLstmLMHead(nn.Module):
    """Word scores from per-token states: dropout → a linear projection of each direction's states to the embedding
    width → dot product with every word's output vector (+ a bias per word). Tied (`tie_word_embeddings`, the
    default), the output vectors are the input embedding's rows, so the head adds only (hidden_size + 1) ·
    embedding_dim parameters per direction and a bias per word; untied, they are `decoder`'s own rows (the LM's
    output embeddings), which start as a copy of the input embedding."""

    def __init__(self, config: ImdbLstmConfig):
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.forward_projection = nn.Linear(config.hidden_size, config.embedding_dim)
        self.backward_projection = nn.Linear(config.hidden_size, config.embedding_dim) if config.bidirectional else None
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        untied = not config.tie_word_embeddings
        self.decoder = nn.Linear(config.embedding_dim, config.vocab_size, bias=False) if untied else None
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
        cutoffs, div_value = list(config.lm_adaptive_cutoffs), float(config.lm_adaptive_div_value)
        outputs = [nn.AdaptiveLogSoftmaxWithLoss(config.hidden_size, config.vocab_size, cutoffs, div_value=div_value)
                   for _ in range(2 if config.bidirectional else 1)]
        self.forward_output, self.backward_output = outputs[0], (outputs[1] if config.bidirectional else None)

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


def ngram_log_odds(branch: "ImdbLstmNgramBranch", input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The n-gram branch's (batch,) log-odds for right-padded `input_ids` with `lengths` real tokens: `branch.bias`
    plus the weight of each distinct known n-gram inside the review."""
    batch, width = input_ids.shape
    count = branch.keys.numel()
    scores = branch.bias.expand(batch).clone()
    if count == 0:
        return scores
    steps = torch.arange(width, device=input_ids.device)
    queries = []
    for n, key in branch.ngram_keys(input_ids):
        # Only the n-grams inside each review are looked up.
        rows, starts = torch.nonzero(steps[: width - n + 1].unsqueeze(0) + n <= lengths.unsqueeze(1), as_tuple=True)
        queries.append((key[rows, starts], rows))
    if branch.base ** branch.order * batch < 2**62:
        # Each distinct (n-gram, row) pair once, as one int64 (n-gram key * batch + row), sorted by n-gram: the
        # lookups then walk the key table in order (about twice as fast as searching in text order). Keys of
        # different orders never collide (every digit is at least 1).
        pairs = torch.unique(torch.cat([key * batch + rows for key, rows in queries]))
        keys, rows = pairs // batch, pairs % batch
    else:  # the pairs would not fit in int64: distinct (row, key) pairs, looked up in row order
        pairs = torch.unique(torch.stack([torch.cat([rows for _, rows in queries]),
                                          torch.cat([key for key, _ in queries])]), dim=1)
        rows, keys = pairs[0], pairs[1]
    index = torch.searchsorted(branch.keys, keys).clamp(max=count - 1)
    known = branch.keys[index] == keys
    # A row's n-grams are added in increasing key order either way, alone or in any batch: the same score.
    return scores.index_add(0, rows[known], branch.weights[index[known]])


class ImdbLstmNgramBranch(nn.Module):
    """The log-odds of POSITIVE from which n-grams of token ids (1..`ngram_order` words, inside the review) occur:
    `bias + sum of the weights of the distinct known n-grams present` (an NB-weighted logistic regression over
    binary n-gram features, fitted by `imdb_lstm.ngrams`). An n-gram (t1, ..., tn) is known by the integer key
    sum over k of (t_k + 1) * (vocab_size + 1) ** (n - k); the sorted keys and their weights are buffers, looked
    up with `torch.searchsorted`, so a review gets the same score alone or in any padded batch."""

    # Replaceable (see `ImdbLstmRecurrentEncoder.run_direction`): `forward` computes through this function, called as
    # log_odds(branch, input_ids, lengths); imdb_lstm.onnx_export sets one in operations ONNX has while exporting.
    log_odds = staticmethod(ngram_log_odds)

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
        return self.log_odds(self, input_ids, lengths)


class ImdbLstmPreTrainedModel(PreTrainedModel):
    config_class = ImdbLstmConfig
    base_model_prefix = "imdb_lstm"
    main_input_name = "input_ids"
    _input_embed_layer = "embedding"  # transformers' get/set_input_embeddings find it (through the base model)
    # Trainer must average the loss itself under gradient accumulation: forward takes no loss kwargs.
    accepts_loss_kwargs = False
    # Their GradientCheckpointingLayers: each recurrent direction, over chunks of time, and each CNN filter width.
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
                    if isinstance(module, nn.LSTM) and name.startswith("bias_ih"):
                        # Forget-gate bias 1 (Jozefowicz et al. 2015): remember by default early in training.
                        init.constant_(param[module.hidden_size : 2 * module.hidden_size], 1.0)
        elif module is getattr(getattr(self, "lm_head", None), "decoder", None):  # untied: from the input embedding
            init.copy_(module.weight, self.get_input_embeddings().weight)
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
        """`PreTrainedModel.save_pretrained`, with every class of the family in `config.auto_map`: whichever class
        saved a folder, each Auto class loads it with trust_remote_code (a language model into a classifier, say)."""
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
        self.encoder = ImdbLstmRecurrentEncoder(config) if config.encoder == "rnn" else ImdbLstmConvEncoder(config)
        self.post_init()
        # Frozen embeddings get no gradient at all, so backward does no work for them.
        self.embedding.weight.requires_grad_(not config.freeze_embedding)

    def forward(
        self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None, output_attentions: bool | None = None,
        return_dict: bool | None = None, inputs_embeds: torch.Tensor | None = None,
    ) -> BaseModelOutput:
        r"""
        input_ids, attention_mask, inputs_embeds: as for [`ImdbLstmForSequenceClassification`].

        Returns `last_hidden_state` `(batch, time, features)` and, with `output_hidden_states`, `hidden_states`, as
        the classifier's (the last of them). `attentions` is always None.
        """
        output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        inputs, lengths, shifts_back, _ = self.prepare_inputs(input_ids, attention_mask, inputs_embeds=inputs_embeds)
        encoded = self.encode(inputs, lengths, shifts_back)
        hidden_states = self.token_aligned_states(encoded)
        output = BaseModelOutput(last_hidden_state=hidden_states[-1],
                                 hidden_states=hidden_states if output_hidden_states else None)
        return output.to_tuple() if return_dict is False else output

    def prepare_inputs(
        self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None, labels: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Checked inputs in the model's layout: (input_ids or inputs_embeds, lengths, shifts_back, labels). Rows
        are rotated so their real tokens come first (left padding) and cut to `config.model_max_length`, `labels`
        with them. `shifts_back` rotates per-token outputs back to the input's positions (None when nothing was
        rotated, or when rows were cut: outputs then follow the kept tokens, real tokens first)."""
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
        elif not is_tracing() and input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size):
            raise ValueError(f"input_ids hold ids outside [0, vocab_size={self.config.vocab_size}): the tokenizer does "
                             "not match this model's embedding. Load the tokenizer saved with the model.")
        if labels is not None and labels.shape != input_ids.shape[:2]:
            raise ValueError(f"labels must have the shape of input_ids {tuple(input_ids.shape[:2])}; got {tuple(labels.shape)}.")
        if input_ids.size(1) == 0:
            # Text with no tokens (empty, or only markup): read one padding step, the model's no-evidence answer
            # ([PAD]'s id, or its vector, which is zero).
            pad = 0 if inputs_embeds is not None else self.config.pad_token_id
            input_ids = input_ids.new_full((input_ids.size(0), 1, *input_ids.shape[2:]), pad)
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
        input_ids, labels, lengths = truncated_to_max_length(
            input_ids, labels, lengths, self.config.model_max_length, self.config.truncation_side)
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
        return EncodedBatch(lengths, embedded, tuple(layers), mask, shifts_back)

    def token_aligned_states(self, encoded: EncodedBatch) -> tuple[torch.Tensor, ...]:
        """The embedding output and every layer's states (zero at padding) at the input's positions (the CNN's
        feature maps as they are): the tensors the model computed with, or rotated copies for left padding."""
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
            return torch.full((input_ids.size(0),), input_ids.size(1), dtype=torch.long, device=input_ids.device), None
        mask = attention_mask.bool()
        lengths = mask.sum(dim=1).long()
        steps = torch.arange(input_ids.size(1), device=input_ids.device).unsqueeze(0)
        starts = input_ids.size(1) - lengths
        right_padded = (mask == (steps < lengths.unsqueeze(1))).all(dim=1)
        if is_tracing():
            # No branch on values in a traced or exported graph: every row is rotated (by 0 when right-padded).
            return lengths, torch.where(right_padded, torch.zeros_like(starts), starts)
        left_padded = (mask == (steps >= starts.unsqueeze(1))).all(dim=1)
        if not bool((right_padded | left_padded).all()):
            raise ValueError("attention_mask must mark one run of real tokens per row, with padding only after it "
                             "(right padding) or only before it (left padding); a row has padding between real tokens."
                             " Pad with the tokenizer (tokenizer(texts, padding=True)) instead of masking tokens out.")
        shifts = torch.where(right_padded, torch.zeros_like(starts), starts)
        return lengths, (shifts if bool(shifts.any()) else None)


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
        config.validate_head("classifier")  # the labels may have changed since construction
        self.ngram = ImdbLstmNgramBranch(config) if config.ngram_order else None
        self.post_init()

    # The base model's parts under the names they had before the base model existed (read-only shortcuts).
    embedding = property(lambda self: self.imdb_lstm.embedding)
    encoder = property(lambda self: self.imdb_lstm.encoder)

    def set_input_embeddings(self, value: nn.Embedding):  # (`embedding` above is read-only)
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
        attention_mask (`torch.Tensor` of shape `(batch, time)`, optional): 1 for real tokens, 0 for padding (all
            real without it), after the real tokens (right padding) or before them (left padding: the same logits).
        labels (`torch.Tensor`, optional): gives `loss` by `config.problem_type`, as in transformers: `(batch,)`
            label ids, cross-entropy; multi-label `(batch, num_labels)` 0/1 floats, binary cross-entropy; regression
            floats, mean squared error. Without a problem type: regression with one label, multi-label for a
            floating `(batch, num_labels)` target, else single-label.
        output_hidden_states (`bool`, optional): also return `hidden_states`, `(batch, time, features)` tensors at
            the input's positions (the kept tokens, real ones first, when rows were cut): the embedding output,
            then each recurrent layer's states (both directions side by side, left-to-right first), or for the CNN
            the feature maps of every filter width side by side, by window start. Zero at padding.
        output_attentions (`bool`, optional): accepted; this model has no attention, so `attentions` is None.
        inputs_embeds (`torch.FloatTensor` of shape `(batch, time, embedding_dim)`, optional): word vectors in
            place of `input_ids` (what attributions perturb), the same logits; not with the n-gram branch.
        """
        output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        if inputs_embeds is not None and self.ngram is not None:
            raise ValueError("This classifier's n-gram branch reads token ids: pass input_ids, not inputs_embeds.")
        sequence = input_ids if inputs_embeds is None else inputs_embeds
        if labels is None and not output_hidden_states and autocasts_inference(self, sequence):
            # config.inference_dtype: bfloat16 where it is free (serving_imdb_lstm); the logits come back in float32.
            with torch.autocast(sequence.device.type, dtype=torch.bfloat16):
                logits = self(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds).logits.float()
            return (logits,) if return_dict is False else SequenceClassifierOutput(logits=logits)
        input_ids, lengths, shifts_back, _ = self.imdb_lstm.prepare_inputs(input_ids, attention_mask, inputs_embeds=inputs_embeds)
        logits = hidden_states = None
        if labels is None and not output_hidden_states:
            # At inference on CPU, rows of similar length together (serving_imdb_lstm); None: the batch as it is.
            logits = logits_in_length_buckets(input_ids, lengths, lambda ids, ids_lengths: self._recurrent_logits(
                self.imdb_lstm.encode(ids, ids_lengths)))
        if logits is None:
            encoded = self.imdb_lstm.encode(input_ids, lengths, shifts_back)
            logits = self._recurrent_logits(encoded)
            hidden_states = self.imdb_lstm.token_aligned_states(encoded) if output_hidden_states else None
        if self.ngram is not None:
            # Log-odds joined: (1 - w) * recurrent + w * n-gram, the n-gram's split evenly between the two labels.
            # Once over the whole batch: it reads only each row's real tokens, so length buckets gain nothing there.
            weight = float(self.config.ngram_weight)
            half = self.ngram(input_ids, lengths).unsqueeze(1) / 2
            logits = (1 - weight) * logits + weight * torch.cat([-half, half], dim=1).to(logits.dtype)

        loss = self._loss(logits, labels) if labels is not None else None
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states, attentions=None)
        return output.to_tuple() if return_dict is False else output

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
            raise ValueError(f"labels must be in {sorted(self.config.id2label)} ({self.config.id2label}); got "
                             f"{labels.unique().tolist()}.")
        return nn.functional.cross_entropy(logits, labels)

    def _recurrent_logits(self, encoded: EncodedBatch) -> torch.Tensor:
        """The head's logits from what the base model computed: pooling over the real tokens → dropout → linear."""
        states = encoded.layers[-1]
        if self.config.encoder == "rnn" and self.config.pooling == "last":
            pooled = self.imdb_lstm.encoder.last_states(states, encoded.lengths)
        else:
            pooled = masked_pool(states, encoded.mask, self.config.pooling)
        return self.classifier(self.dropout(pooled))


class ImdbLstmForCausalLM(ImdbLstmPreTrainedModel):
    """[`ImdbLstmModel`] as a language model: the left-to-right direction predicts the next word; with a
    bidirectional encoder the right-to-left direction predicts the previous word, so one model holds a forward and
    a backward language model sharing the embedding (as ELMo / ULMFiT's pair). The output layer is
    [`ImdbLstmLMHead`] (tied to the embedding unless `tie_word_embeddings=False`) or [`ImdbLstmAdaptiveLMHead`].
    Needs a recurrent encoder, and with both directions a single layer (`ImdbLstmConfig.validate_head`)."""

    def __init__(self, config: ImdbLstmConfig):
        config.validate_head("causal_lm")
        super().__init__(config)
        self.imdb_lstm = ImdbLstmModel(config)
        self.lm_head = ImdbLstmAdaptiveLMHead(config) if config.lm_output == "adaptive" else ImdbLstmLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear | None:
        # Untied, the word scores' own vectors; tied, the head reads the input embedding's weight itself (nothing to
        # tie), and the adaptive softmax's clusters are no embedding: None.
        return getattr(self.lm_head, "decoder", None)

    def set_output_embeddings(self, value: nn.Linear):
        self.lm_head.decoder = value

    def forward(
        self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None, output_hidden_states: bool | None = None,
        output_attentions: bool | None = None, return_dict: bool | None = None, inputs_embeds: torch.Tensor | None = None,
    ) -> ImdbLstmCausalLMOutput:
        r"""
        input_ids, attention_mask, inputs_embeds: as for [`ImdbLstmForSequenceClassification`].
        labels (`torch.LongTensor` of shape `(batch, time)`, optional): the words to predict, aligned with
            `input_ids` (usually `input_ids` itself: the shift happens here); -100 and padding are ignored.

        Returns an [`ImdbLstmCausalLMOutput`] (fields that do not apply are None, and absent from keys and tuples):
        - `loss`: with `labels`, the mean cross-entropy of the next word (left-to-right), averaged with the previous
          word's (right-to-left) for a bidirectional encoder: `exp(loss)` is the (geometric mean) perplexity;
        - `logits`, `backward_logits` (bidirectional): `(batch, time, vocab_size)` scores of the word after, before
          each position, at the input's positions (with `lm_output="adaptive"`, log-probabilities, without labels);
        - `forward_loss`, `backward_loss`: each direction's loss; `hidden_states`: as the classifier's.
        """
        output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        inputs, lengths, shifts_back, labels = self.imdb_lstm.prepare_inputs(input_ids, attention_mask, labels, inputs_embeds)
        encoded = self.imdb_lstm.encode(inputs, lengths, shifts_back)
        states, hidden = encoded.layers[-1], self.config.hidden_size
        forward_targets = backward_targets = None
        if labels is not None:
            labels = labels.to(states.device).long()
            padding = torch.arange(labels.size(1), device=labels.device).unsqueeze(0) >= lengths.unsqueeze(1)
            targets = labels.masked_fill(padding, -100)
            ignored = torch.full_like(targets[:, :1], -100)
            # Position t predicts word t + 1 left to right, word t - 1 right to left; only real positions predict
            # (position `length`, padding, must not predict the last word right to left).
            forward_targets = torch.cat([targets[:, 1:], ignored], dim=1)
            backward_targets = torch.cat([ignored, targets[:, :-1]], dim=1).masked_fill(padding, -100)
        logits, forward_loss = self._predict_words(states[..., :hidden], forward_targets)
        backward_logits = backward_loss = None
        if self.config.bidirectional:
            backward_logits, backward_loss = self._predict_words(states[..., hidden:], backward_targets, backward=True)
        loss = forward_loss if backward_loss is None else (forward_loss + backward_loss) / 2

        if shifts_back is not None and logits is not None:
            logits = roll_rows(logits, shifts_back)
            backward_logits = roll_rows(backward_logits, shifts_back) if backward_logits is not None else None
        hidden_states = self.imdb_lstm.token_aligned_states(encoded) if output_hidden_states else None
        output = ImdbLstmCausalLMOutput(loss=loss, logits=logits, backward_logits=backward_logits,
                                        forward_loss=forward_loss, backward_loss=backward_loss, hidden_states=hidden_states)
        return output.to_tuple() if return_dict is False else output

    def _predict_words(
        self, states: torch.Tensor, targets: torch.Tensor | None, backward: bool = False
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(scores, loss) of one direction's states: every word's score at every position (the adaptive softmax
        makes them only when there are no `targets`: training scores no word it does not predict), and with
        `targets` the mean cross-entropy of those that are not -100 (zero, still differentiable, when none is)."""
        if self.config.lm_output == "adaptive":
            if targets is None:
                return self.lm_head.log_probabilities(states, backward=backward), None
            return None, self.lm_head.loss(states, targets, backward=backward)
        output_embeddings = self.get_output_embeddings()  # None when tied: the input embedding's vectors
        word_vectors = (output_embeddings if output_embeddings is not None else self.get_input_embeddings()).weight
        logits = self.lm_head(states, word_vectors, backward=backward)
        if targets is None or not bool((targets != -100).any()):
            return logits, (None if targets is None else logits.sum() * 0.0)
        # Read in place (reshape is a view): no copy of the scores is made.
        return logits, nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


ImdbLstmModel.register_for_auto_class("AutoModel")
ImdbLstmForCausalLM.register_for_auto_class("AutoModelForCausalLM")
ImdbLstmForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
