"""IMDB sentiment classifier: word embedding → recurrent (LSTM/GRU, uni- or bidirectional) or CNN encoder →
pooling over the real tokens → dropout → linear head over (NEGATIVE, POSITIVE).

This file is copied to the Hugging Face Hub and loaded there on its own (`trust_remote_code=True`), so it imports
only torch, transformers and its configuration.

Why batches are never packed: `pack_padded_sequence` makes CPU training an order of magnitude slower. Instead each
recurrent layer reads the padded batch as it is. Padding sits at the end of every row, so a left-to-right direction
computes the real positions exactly; the right-to-left direction is run on each review reversed in place (real
tokens first, padding still at the end) and its outputs are reversed back. Pooling then reads only real positions,
so a review gets the same logits alone or in any padded batch.
"""

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_imdb_lstm import ImdbLstmConfig


def reverse_padded(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first `lengths[b]` steps of each row of `states` (batch, time, ...), leaving padding in place."""
    steps = torch.arange(states.size(1), device=states.device).unsqueeze(0)
    mirrored = lengths.unsqueeze(1) - 1 - steps
    index = torch.where(mirrored >= 0, mirrored, steps)
    index = index.view(*index.shape, *([1] * (states.dim() - 2))).expand_as(states)
    return states.gather(1, index)


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

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        states = embedded
        for layer, forward_rnn in enumerate(self.forward_layers):
            if layer > 0:
                states = self.layer_dropout(states)
            outputs, _ = forward_rnn(states)
            if self.bidirectional:
                backward_outputs, _ = self.backward_layers[layer](reverse_padded(states, lengths))
                outputs = torch.cat([outputs, reverse_padded(backward_outputs, lengths)], dim=-1)
            states = outputs
        return states

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
            feature_map = torch.relu(conv(channels_first)).transpose(1, 2)
            feature_map = nn.functional.pad(feature_map, (0, 0, 0, positions - feature_map.size(1)))
            # A window is valid when it lies inside the review (or inside the widest-filter minimum for short ones).
            valid = steps <= (lengths.clamp(min=kernel_size) - kernel_size).unsqueeze(1)
            features.append(feature_map)
            masks.append(valid.unsqueeze(-1).expand_as(feature_map))
        return torch.cat(features, dim=-1), torch.cat(masks, dim=-1)


def masked_pool(states: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Max and/or mean over time of `states` (batch, time, features) where `mask` (broadcastable) is true."""
    pooled = []
    if pooling in ("max", "max_mean"):
        pooled.append(states.masked_fill(~mask, torch.finfo(states.dtype).min).amax(dim=1))
    if pooling in ("mean", "max_mean"):
        counts = mask.sum(dim=1).clamp(min=1).to(states.dtype)
        pooled.append((states * mask).sum(dim=1) / counts)
    return torch.cat(pooled, dim=-1)


class ImdbLstmPreTrainedModel(PreTrainedModel):
    config_class = ImdbLstmConfig
    base_model_prefix = "imdb_lstm"
    main_input_name = "input_ids"
    # Trainer must average the loss itself under gradient accumulation: forward takes no loss kwargs.
    accepts_loss_kwargs = False

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
            init.zeros_(module.bias)


class ImdbLstmForSequenceClassification(ImdbLstmPreTrainedModel):
    def __init__(self, config: ImdbLstmConfig):
        super().__init__(config)
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.embedding_dropout = nn.Dropout1d(config.embedding_dropout)
        if config.encoder == "rnn":
            self.encoder = ImdbLstmRecurrentEncoder(config)
        else:
            self.encoder = ImdbLstmConvEncoder(config)
        pooled_size = self.encoder.output_size * (2 if config.pooling == "max_mean" else 1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(pooled_size, config.num_labels)
        self.post_init()
        # Frozen embeddings get no gradient at all, so backward does no work for them.
        self.embedding.weight.requires_grad_(not config.freeze_embedding)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embedding

    def set_input_embeddings(self, value: nn.Embedding):
        self.embedding = value

    def _lengths(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        if attention_mask is None:
            return torch.full((input_ids.size(0),), input_ids.size(1), dtype=torch.long, device=input_ids.device)
        lengths = attention_mask.sum(dim=1).long()
        right_padded = torch.arange(input_ids.size(1), device=input_ids.device).unsqueeze(0) < lengths.unsqueeze(1)
        if not torch.equal(attention_mask.bool(), right_padded):
            raise ValueError(
                "attention_mask must mark real tokens first and padding last (right padding); "
                "set tokenizer.padding_side = 'right'."
            )
        return lengths

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput:
        r"""
        input_ids (`torch.LongTensor` of shape `(batch, time)`): token ids, right-padded with `pad_token_id`.
        attention_mask (`torch.Tensor` of shape `(batch, time)`, optional): 1 for real tokens, 0 for padding;
            without it every position counts as real.
        labels (`torch.LongTensor` of shape `(batch,)`, optional): 0 = NEGATIVE, 1 = POSITIVE; gives the
            cross-entropy `loss`.
        """
        if input_ids is None or input_ids.dim() != 2:
            raise ValueError("input_ids must be a (batch, time) tensor of token ids.")
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size):
            raise ValueError(
                f"input_ids hold ids outside [0, vocab_size={self.config.vocab_size}): the tokenizer does not match "
                "this model's embedding. Load the tokenizer saved with the model."
            )
        if input_ids.size(1) == 0:
            # Text with no tokens (empty, or only markup): read one padding step, the model's no-evidence answer.
            input_ids = torch.full((input_ids.size(0), 1), self.config.pad_token_id, device=input_ids.device)
            attention_mask = None
        lengths = self._lengths(input_ids, attention_mask).clamp(min=1)

        embedded = self.embedding(input_ids)
        embedded = self.embedding_dropout(embedded.transpose(1, 2)).transpose(1, 2)
        if self.config.encoder == "rnn":
            states = self.encoder(embedded, lengths)
            if self.config.pooling == "last":
                pooled = self.encoder.last_states(states, lengths)
            else:
                steps = torch.arange(states.size(1), device=states.device).unsqueeze(0)
                pooled = masked_pool(states, (steps < lengths.unsqueeze(1)).unsqueeze(-1), self.config.pooling)
        else:
            features, mask = self.encoder(embedded, lengths)
            pooled = masked_pool(features, mask, self.config.pooling)
        logits = self.classifier(self.dropout(pooled))

        loss = None
        if labels is not None:
            labels = labels.to(logits.device).long().view(-1)
            if labels.numel() and (labels.min() < 0 or labels.max() >= self.config.num_labels):
                raise ValueError(
                    f"labels must be in {sorted(self.config.id2label)} ({self.config.id2label}); got {labels.unique().tolist()}."
                )
            loss = nn.functional.cross_entropy(logits, labels)
        if return_dict is False:
            return (loss, logits) if loss is not None else (logits,)
        return SequenceClassifierOutput(loss=loss, logits=logits)


ImdbLstmForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
