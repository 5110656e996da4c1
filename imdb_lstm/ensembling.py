"""An ensemble of recurrent classifiers as one classifier of the same family: N classifiers trained apart (other
seeds, say) on the same tokenizer become a single wider one whose recurrent logits are the mean of theirs.

The merged model reads the members' embeddings side by side (embedding_dim the sum of theirs) and runs one
recurrent layer per direction whose hidden units are the members' units side by side (hidden_size the sum): each
gate's input and recurrent weights are block-diagonal, so a member's units read only its own embedding columns and
its own previous state, and compute exactly what they computed alone. Pooling (max, mean, both, or the last states)
works unit by unit, so the pooled features are the members' features regrouped, and the head is the members'
heads side by side, each divided by N, with the mean of their biases. The result is an ordinary
`ImdbLstmForSequenceClassification`: it saves, loads through remote code, serves, exports and explains as any
other, at the cost of its width (a merged pair of BiLSTM-128s runs as a BiLSTM-256).

The n-gram branch, when the members have one, is the first member's (members trained on the same reviews fit the
same branch for the same C); its share in the joined log-odds is chosen again on validation
(`choose_ngram_share`), since the mean of N recurrent parts is a stronger partner than any one of them.
"""

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .modeling_imdb_lstm import ImdbLstmForSequenceClassification
from .ngrams import choose_ngram_weight
from .predict import load_classifier, predict_logits

__all__ = ["choose_ngram_share", "merge_classifiers", "merge_saved_classifiers", "score_merged",
           "shared_validation_split"]

# The data arguments (run_info.json) that fix a classifier's validation split.
SPLIT_KEYS = ("dataset", "split_protocol", "validation_fraction", "split_seed", "max_eval_samples")
# What every member must share for the merged model to be their ensemble (the widths may differ).
SHARED_FIELDS = ("encoder", "cell", "num_layers", "bidirectional", "pooling", "vocab_size", "num_labels",
                 "pad_token_id", "model_max_length", "truncation_side", "ngram_order", "problem_type")


def merge_classifiers(models: Sequence[ImdbLstmForSequenceClassification]) -> ImdbLstmForSequenceClassification:
    """One classifier whose recurrent logits are the mean of `models`' (in eval mode, up to float rounding); see
    the module docstring. The members need one recurrent layer (uni- or bidirectional, LSTM or GRU) and the same
    `SHARED_FIELDS`; their tokenizer must be the same too (`merge_saved_classifiers` checks it)."""
    models = list(models)
    if len(models) < 2:
        raise ValueError(f"An ensemble needs at least two classifiers; got {len(models)}.")
    first = models[0].config
    for index, model in enumerate(models):
        if not isinstance(model, ImdbLstmForSequenceClassification):
            raise TypeError(f"Member {index} is a {type(model).__name__}; merge ImdbLstmForSequenceClassification "
                            "models (load them with imdb_lstm.load_classifier).")
        differing = {name: (getattr(first, name), getattr(model.config, name)) for name in SHARED_FIELDS
                     if getattr(model.config, name) != getattr(first, name)}
        if differing:
            raise ValueError(f"Member {index} differs from member 0 in {differing}: only classifiers of the same "
                             "architecture, labels and tokenizer can be merged.")
    if first.encoder != "rnn" or first.num_layers != 1:
        raise ValueError(f"Merging needs a single recurrent layer (encoder 'rnn', num_layers 1); the members have "
                         f"encoder {first.encoder!r} with {first.num_layers} layer(s).")
    config = copy.deepcopy(first)
    config.hidden_size = sum(model.config.hidden_size for model in models)
    config.embedding_dim = sum(model.config.embedding_dim for model in models)
    config.embedding_source = f"the {len(models)} members' embeddings side by side ({first.embedding_source})"
    merged = ImdbLstmForSequenceClassification(config).eval()
    with torch.no_grad():
        merged.embedding.weight.copy_(torch.cat([model.embedding.weight.float() for model in models], dim=1))
        directions = ["forward_layers"] + (["backward_layers"] if first.bidirectional else [])
        for direction in directions:
            _merge_recurrent_layer(getattr(merged.encoder, direction)[0],
                                   [getattr(model.encoder, direction)[0] for model in models])
        _merge_head(merged, models)
        if first.ngram_order:
            merged.ngram.load_state_dict(models[0].ngram.state_dict())
    return merged


def _member_offsets(sizes: list[int]) -> list[int]:
    return [sum(sizes[:index]) for index in range(len(sizes))]


def _merge_recurrent_layer(merged, members) -> None:
    """Block-diagonal gates: member m's units (rows of each gate) read member m's embedding columns and units."""
    hidden = [member.hidden_size for member in members]
    inputs = [member.input_size for member in members]
    gates = members[0].weight_ih_l0.size(0) // hidden[0]  # 4 for an LSTM (i, f, g, o), 3 for a GRU (r, z, n)
    total = merged.hidden_size
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        getattr(merged, name).zero_()
    for member, size, unit_offset, input_offset in zip(members, hidden, _member_offsets(hidden),
                                                       _member_offsets(inputs)):
        for gate in range(gates):
            source = slice(gate * size, (gate + 1) * size)
            target = slice(gate * total + unit_offset, gate * total + unit_offset + size)
            merged.weight_ih_l0[target, input_offset:input_offset + member.input_size] = member.weight_ih_l0[source]
            merged.weight_hh_l0[target, unit_offset:unit_offset + size] = member.weight_hh_l0[source]
            merged.bias_ih_l0[target] = member.bias_ih_l0[source]
            merged.bias_hh_l0[target] = member.bias_hh_l0[source]


def _merge_head(merged, models) -> None:
    """The pooled features come in blocks of hidden_size (per pooling, per direction: max then mean, left-to-right
    then right-to-left); member m's part of block b sits at b * total + its offset. Each member's head weighs its
    own features, divided by N: the logits are the mean of the members' logits."""
    hidden = [model.config.hidden_size for model in models]
    total = sum(hidden)
    blocks = models[0].classifier.in_features // hidden[0]
    merged.classifier.weight.zero_()
    for model, size, offset in zip(models, hidden, _member_offsets(hidden)):
        for block in range(blocks):
            merged.classifier.weight[:, block * total + offset:block * total + offset + size] = (
                model.classifier.weight[:, block * size:(block + 1) * size] / len(models))
    merged.classifier.bias.copy_(torch.stack([model.classifier.bias for model in models]).mean(dim=0))


def shared_validation_split(folders: Sequence[str]) -> dict:
    """The data arguments of the validation split every member (a saved folder with its run_info.json) was
    selected on, or a clear error when they differ: an ensemble is chosen on reviews none of its members trained
    on only when they all held out the same ones."""
    splits = {}
    for folder in folders:
        data = json.loads((Path(folder) / "run_info.json").read_text())["arguments"]["data"]
        splits[str(folder)] = {key: data.get(key) for key in SPLIT_KEYS}
    first = next(iter(splits.values()))
    if any(split != first for split in splits.values()):
        raise ValueError(f"The members were selected on different validation splits: {json.dumps(splits)}. "
                         "Ensemble only classifiers trained on the same data with the same split protocol, fraction "
                         "and seed.")
    return first


def merge_saved_classifiers(folders: Sequence[str]):
    """(merged model, tokenizer) from saved classifier folders that share one tokenizer (the same vocabulary,
    normalisation, maximum length and kept end), which a clear error demands."""
    loaded = [load_classifier(str(folder)) for folder in folders]
    reference = _tokenizer_identity(loaded[0][1])
    for folder, (_, tokenizer) in zip(folders, loaded):
        if _tokenizer_identity(tokenizer) != reference:
            raise ValueError(f"{folder}'s tokenizer differs from {folders[0]}'s: merged members must read the same "
                             "token ids. Train them with the same vocabulary settings on the same training reviews.")
    return merge_classifiers([model for model, _ in loaded]), loaded[0][1]


def _tokenizer_identity(tokenizer) -> tuple:
    return (json.loads(tokenizer.backend_tokenizer.to_str()), tokenizer.model_max_length, tokenizer.truncation_side)


def choose_ngram_share(model: ImdbLstmForSequenceClassification, tokenizer, texts: list[str], labels) -> dict:
    """Choose the n-gram branch's share of the joined log-odds on (validation) `texts` and `labels`, as training
    chooses it (`ngrams.choose_ngram_weight`), and set it in `model.config`; float32 throughout. Returns the
    recurrent part's, the branch's and the joined accuracy there, with the share."""
    if model.ngram is None:
        raise ValueError("This classifier has no n-gram branch to weigh.")
    shared = model.config.ngram_weight
    try:
        model.config.ngram_weight = 0.0
        recurrent = _log_odds(predict_logits(model, tokenizer, texts, dtype="float32"))
        model.config.ngram_weight = 1.0  # the joined logits are then the branch's log-odds alone
        ngram = _log_odds(predict_logits(model, tokenizer, texts, dtype="float32"))
    finally:
        model.config.ngram_weight = shared
    weight, joined = choose_ngram_weight(recurrent, ngram, labels)
    model.config.ngram_weight = float(weight)
    labels = np.asarray(labels)
    return {"ngram_weight": float(weight), "eval_accuracy": joined,
            "eval_recurrent_accuracy": float(np.mean((recurrent > 0) == labels)),
            "eval_ngram_accuracy": float(np.mean((ngram > 0) == labels))}


def score_merged(model: ImdbLstmForSequenceClassification, tokenizer, texts: list[str], labels) -> dict:
    """A merged classifier's accuracy on (validation) `texts`, float32: with an n-gram branch, its share chosen
    there first (`choose_ngram_share`); without one, the recurrent part is the whole model."""
    if model.ngram is not None:
        return choose_ngram_share(model, tokenizer, texts, labels)
    recurrent = _log_odds(predict_logits(model, tokenizer, texts, dtype="float32"))
    accuracy = float(np.mean((recurrent > 0) == np.asarray(labels)))
    return {"eval_accuracy": accuracy, "eval_recurrent_accuracy": accuracy}


def _log_odds(logits: torch.Tensor) -> np.ndarray:
    return (logits[:, 1] - logits[:, 0]).numpy()
