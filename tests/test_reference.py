"""The recurrent encoder against PyTorch's own: `nn.LSTM` / `nn.GRU` (`bidirectional=True` for two directions) over
`pack_padded_sequence`, the textbook way to run a padded batch exactly. Our layers never pack (see the docstring
of `modeling_imdb_lstm.py`); these tests are what the exactness claim rests on. Also here: what
`output_hidden_states=True` returns, and left-padded batches."""

import pytest
import torch
from helpers import tiny_model, tiny_tokenizer
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from imdb_lstm import ImdbLstmConfig, ImdbLstmForSequenceClassification
from imdb_lstm.modeling_imdb_lstm import ImdbLstmRecurrentEncoder

# Every test compares our encoder with PyTorch's packed one: other kernels, equal to float32 rounding.
pytestmark = pytest.mark.float_sensitive

LENGTHS = [9, 1, 6, 9, 3, 7]  # mixed, with ties and a one-token review; the batch is 9 steps long
EMBEDDING_DIM, HIDDEN = 5, 4
ATOL = 1e-5
LAYOUTS = [(cell, bidirectional, layers) for cell in ("lstm", "gru") for bidirectional in (False, True)
           for layers in (1, 2)]
REVIEWS = [
    "A wonderful, moving film with a brilliant cast. I loved every minute of it!",
    "Terrible. The plot made no sense and the acting was wooden.",
    "ok",
    "",
    "Not bad at all, though far too long.",
]


def layout_id(layout) -> str:
    cell, bidirectional, layers = layout
    return f"{'bi' if bidirectional else 'uni'}{cell}-{layers}layer"


def reference_rnn(encoder: ImdbLstmRecurrentEncoder, cell: str, bidirectional: bool, layers: range) -> nn.RNNBase:
    """One `nn.LSTM`/`nn.GRU` holding our encoder's weights of `layers`: the left-to-right module of layer k
    becomes `*_l{i}`, its right-to-left module `*_l{i}_reverse` (i counting from 0 within `layers`)."""
    rnn_class = nn.LSTM if cell == "lstm" else nn.GRU
    first = encoder.forward_layers[layers[0]]
    reference = rnn_class(first.input_size, first.hidden_size, num_layers=len(layers), bidirectional=bidirectional,
                          batch_first=True)
    with torch.no_grad():
        for index, layer in enumerate(layers):
            directions = [(encoder.forward_layers[layer], "")]
            if bidirectional:
                directions.append((encoder.backward_layers[layer], "_reverse"))
            for module, suffix in directions:
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(reference, f"{name}_l{index}{suffix}").copy_(getattr(module, f"{name}_l0"))
    return reference.eval()


def random_encoder(cell: str, bidirectional: bool, layers: int) -> ImdbLstmRecurrentEncoder:
    config = ImdbLstmConfig(vocab_size=10, embedding_dim=EMBEDDING_DIM, cell=cell, hidden_size=HIDDEN,
                            num_layers=layers, bidirectional=bidirectional, rnn_dropout=0.0)
    torch.manual_seed(0)
    encoder = ImdbLstmRecurrentEncoder(config).eval()
    with torch.no_grad():
        for parameter in encoder.parameters():  # not zero biases: every weight must land in the right place
            parameter.uniform_(-0.5, 0.5)
    return encoder


@pytest.mark.parametrize("layout", LAYOUTS, ids=layout_id)
def test_encoder_equals_packed_pytorch_rnn(layout):
    cell, bidirectional, layers = layout
    encoder = random_encoder(cell, bidirectional, layers)
    reference = reference_rnn(encoder, cell, bidirectional, range(layers))
    lengths = torch.tensor(LENGTHS)
    steps = torch.arange(max(LENGTHS)).unsqueeze(0)
    real = steps < lengths.unsqueeze(1)
    # Padding positions hold large non-zero values: a real position that read any of them would be far off.
    embedded = torch.where(real.unsqueeze(-1), torch.randn(len(LENGTHS), max(LENGTHS), EMBEDDING_DIM),
                           torch.full((1, 1, EMBEDDING_DIM), 50.0))

    with torch.no_grad():
        states = encoder(embedded, lengths)
        last = encoder.last_states(states, lengths)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        reference_packed, reference_final = reference(packed)
        reference_states, _ = pad_packed_sequence(reference_packed, batch_first=True, total_length=max(LENGTHS))
    if cell == "lstm":
        reference_final = reference_final[0]  # (h_n, c_n): the hidden states
    # h_n is (layers * directions, batch, hidden): the last layer's left-to-right, then right-to-left final state.
    directions = 2 if bidirectional else 1
    reference_last = torch.cat(list(reference_final[-directions:]), dim=-1)

    assert states.shape == reference_states.shape == (len(LENGTHS), max(LENGTHS), HIDDEN * directions)
    torch.testing.assert_close(states[real], reference_states[real], atol=ATOL, rtol=0)
    torch.testing.assert_close(last, reference_last, atol=ATOL, rtol=0)


@pytest.mark.parametrize("layout", [(c, b, l) for c, b, l in LAYOUTS if l == 2 or not b], ids=layout_id)
def test_model_hidden_states_and_last_state_logits_equal_the_packed_reference(layout):
    """Through the whole model: `output_hidden_states` gives the reference's per-token states of every layer, and
    the logits of pooling='last' are the head applied to the reference's final states."""
    cell, bidirectional, layers = layout
    tokenizer = tiny_tokenizer()
    model, _ = tiny_model(tokenizer, cell=cell, bidirectional=bidirectional, num_layers=layers, pooling="last",
                          hidden_size=HIDDEN, rnn_dropout=0.0)
    with torch.no_grad():
        for parameter in model.encoder.parameters():
            parameter.uniform_(-0.5, 0.5)
    batch = tokenizer(REVIEWS, padding=True, truncation=True, return_tensors="pt")
    lengths = batch["attention_mask"].sum(1).clamp(min=1)  # the model reads one padding step of an empty review
    real = torch.arange(batch["input_ids"].size(1)).unsqueeze(0) < lengths.unsqueeze(1)

    with torch.no_grad():
        output = model(**batch, output_hidden_states=True)
        embedded = model.embedding(batch["input_ids"])
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        reference_layers = []
        for layer in range(layers):  # one layer at a time, to compare every layer's states
            packed, final = reference_rnn(model.encoder, cell, bidirectional, range(layer, layer + 1))(packed)
            reference_layers.append(pad_packed_sequence(packed, batch_first=True,
                                                        total_length=batch["input_ids"].size(1))[0])
        if cell == "lstm":
            final = final[0]
        reference_logits = model.classifier(torch.cat(list(final), dim=-1))

    assert isinstance(output.hidden_states, tuple) and len(output.hidden_states) == layers + 1
    torch.testing.assert_close(output.hidden_states[0], embedded * real.unsqueeze(-1), atol=0, rtol=0)
    for ours, reference in zip(output.hidden_states[1:], reference_layers):
        assert ours.shape == reference.shape
        torch.testing.assert_close(ours[real], reference[real], atol=ATOL, rtol=0)
        assert not ours[~real].any()  # padding positions are zero
    torch.testing.assert_close(output.logits, reference_logits, atol=ATOL, rtol=0)


# -- output_hidden_states: the transformers way (dataclass field, config default, tuple output)


def test_output_hidden_states_follows_transformers_conventions():
    model, tokenizer = tiny_model(bidirectional=True, num_layers=2, pooling="max_mean")
    batch = tokenizer(REVIEWS, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        plain = model(**batch)
        output = model(**batch, output_hidden_states=True, output_attentions=True)
        as_tuple = model(**batch, labels=torch.tensor([1, 0, 1, 0, 0]), output_hidden_states=True, return_dict=False)
        model.config.output_hidden_states = True
        from_config = model(**batch)
    assert plain.hidden_states is None and output.attentions is None
    assert [tuple(states.shape) for states in output.hidden_states] == [
        (len(REVIEWS), batch["input_ids"].size(1), model.config.embedding_dim),
        *[(len(REVIEWS), batch["input_ids"].size(1), 2 * model.config.hidden_size)] * 2,
    ]
    torch.testing.assert_close(output.logits, plain.logits, atol=0, rtol=0)
    loss, logits, hidden_states = as_tuple
    assert loss.dim() == 0 and torch.equal(logits, plain.logits) and len(hidden_states) == 3
    assert from_config.hidden_states is not None and len(from_config.hidden_states) == 3


def test_cnn_hidden_states_are_the_embeddings_and_the_valid_feature_maps():
    model, tokenizer = tiny_model(encoder="cnn", pooling="max", cnn_kernel_sizes=[2, 3], cnn_num_filters=4)
    batch = tokenizer(REVIEWS[:2], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        output = model(**batch, output_hidden_states=True)
    embeddings, features = output.hidden_states
    assert embeddings.shape[:2] == batch["input_ids"].shape and features.shape[-1] == 8
    # Max pooling over the returned (masked, non-negative) feature maps is exactly what the head saw.
    torch.testing.assert_close(model.classifier(features.amax(dim=1)), output.logits, atol=1e-6, rtol=0)


# -- left padding: converted inside forward, exactly


@pytest.mark.parametrize("kwargs", [
    {"cell": "lstm", "bidirectional": True, "num_layers": 2, "pooling": "last"},
    {"cell": "gru", "bidirectional": True, "pooling": "max_mean"},
    {"encoder": "cnn", "pooling": "max", "cnn_kernel_sizes": [2, 3], "cnn_num_filters": 4},
], ids=["bilstm2-last", "bigru-max_mean", "cnn"])
def test_left_padded_batch_gives_the_right_padded_logits_and_states(kwargs):
    model, tokenizer = tiny_model(**kwargs)
    right = tokenizer(REVIEWS, padding=True, truncation=True, return_tensors="pt")
    tokenizer.padding_side = "left"
    left = tokenizer(REVIEWS, padding=True, truncation=True, return_tensors="pt")
    assert not torch.equal(left["attention_mask"], right["attention_mask"])  # the batch really is left-padded
    with torch.no_grad():
        from_right = model(**right, output_hidden_states=True)
        from_left = model(**left, output_hidden_states=True)
    torch.testing.assert_close(from_left.logits, from_right.logits, atol=1e-6, rtol=0)
    # Hidden states stay aligned with the input's own positions: the left-padded ones are the right-padded ones
    # moved to where that row's tokens are.
    shifts = right["attention_mask"].size(1) - right["attention_mask"].sum(1)
    for left_states, right_states in zip(from_left.hidden_states[:1 if "encoder" in kwargs else None],
                                         from_right.hidden_states):
        for row, shift in enumerate(shifts.tolist()):
            torch.testing.assert_close(left_states[row], right_states[row].roll(shift, dims=0), atol=1e-6, rtol=0)


def test_a_mask_with_padding_between_real_tokens_is_refused():
    model, _ = tiny_model()
    with pytest.raises(ValueError, match="one run of real tokens per row.*padding between real tokens"):
        model(input_ids=torch.tensor([[5, 0, 6], [5, 6, 7]]), attention_mask=torch.tensor([[1, 0, 1], [1, 1, 1]]))
    # A batch mixing a right-padded and a left-padded row is fine: each row is rotated on its own.
    with torch.no_grad():
        mixed = model(input_ids=torch.tensor([[5, 6, 0], [0, 5, 6]]), attention_mask=torch.tensor([[1, 1, 0], [0, 1, 1]]))
    torch.testing.assert_close(mixed.logits[0], mixed.logits[1], atol=1e-6, rtol=0)

