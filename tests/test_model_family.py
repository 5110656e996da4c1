"""The model family: `ImdbLstmModel` (base), `ImdbLstmForSequenceClassification` and `ImdbLstmForCausalLM` on it.
Folders of the previous layout keep loading; the language model is exact under padding and against PyTorch's
packed LSTM; a language-model folder becomes a classifier with only the head new; every class loads through
remote code without the package."""

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import SHORT_REVIEWS as REVIEWS
from helpers import tiny_lm, tiny_tokenizer
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

from imdb_lstm import (ImdbLstmConfig, ImdbLstmForCausalLM, ImdbLstmForSequenceClassification, ImdbLstmModel,
                       build_model)

# Logits of padded, single and stored batches compared across kernel paths (and machines), to tolerances.
pytestmark = pytest.mark.float_sensitive

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.mark.parametrize("name", ["legacy_bilstm", "legacy_cnn"])
def test_folders_saved_before_the_base_model_load_with_identical_logits(name):
    model, info = AutoModelForSequenceClassification.from_pretrained(FIXTURES / name, output_loading_info=True)
    assert isinstance(model, ImdbLstmForSequenceClassification)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    expected = json.loads((FIXTURES / name / "expected_logits.json").read_text())
    with torch.no_grad():
        logits = model.eval()(input_ids=torch.tensor(expected["input_ids"]),
                              attention_mask=torch.tensor(expected["attention_mask"])).logits
    # The stored logits were computed on another CPU: float32 rounding differs there in the last bits (about 1e-8
    # on these logits of size ~0.02), while two swapped rows of one recurrent weight move them by 4e-5.
    torch.testing.assert_close(logits, torch.tensor(expected["logits"]), rtol=1e-5, atol=1e-6)


def test_base_model_returns_the_classifier_per_token_states(tokenizer):
    classifier = build_model(tokenizer, hidden_size=8, bidirectional=True, num_layers=2, pooling="max_mean").eval()
    base = classifier.imdb_lstm
    assert isinstance(base, ImdbLstmModel) and classifier.base_model is base
    assert classifier.embedding is base.embedding and classifier.encoder is base.encoder
    tokenizer.padding_side = "left"
    try:
        batch = tokenizer(REVIEWS, padding=True, return_tensors="pt")
    finally:
        tokenizer.padding_side = "right"
    with torch.no_grad():
        base_output = base(**batch, output_hidden_states=True)
        classifier_output = classifier(**batch, output_hidden_states=True)
    assert base_output.last_hidden_state.shape == (*batch["input_ids"].shape, 16)
    for ours, theirs in zip(base_output.hidden_states, classifier_output.hidden_states, strict=True):
        assert torch.equal(ours, theirs)
    assert torch.equal(base_output.last_hidden_state, base_output.hidden_states[-1])
    assert not base_output.last_hidden_state[batch["attention_mask"] == 0].any()


def test_causal_lm_refuses_encoders_that_see_the_word_to_predict():
    with pytest.raises(ValueError, match="needs encoder='rnn'"):
        ImdbLstmForCausalLM(ImdbLstmConfig(encoder="cnn", pooling="max"))
    with pytest.raises(ValueError, match="needs num_layers=1"):
        ImdbLstmForCausalLM(ImdbLstmConfig(bidirectional=True, num_layers=2))
    ImdbLstmForCausalLM(ImdbLstmConfig(bidirectional=False, num_layers=2, vocab_size=10, hidden_size=4))


@pytest.mark.parametrize("lm_output", ["tied", "adaptive"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "forward+backward"])
def test_lm_loss_is_the_same_for_a_text_alone_or_padded_in_a_batch(tokenizer, bidirectional, lm_output):
    # The adaptive softmax makes scores only when no labels are given; its cutoffs must lie inside the vocabulary.
    adaptive = {"lm_output": "adaptive", "lm_adaptive_cutoffs": [50, 500], "hidden_size": 16} if lm_output == "adaptive" else {}
    model = tiny_lm(tokenizer, bidirectional=bidirectional, **adaptive)
    alone = tokenizer(REVIEWS[:1], return_tensors="pt")
    with torch.no_grad():
        loss_alone = model(**alone, labels=alone["input_ids"]).loss
        for side in ("right", "left"):
            tokenizer.padding_side = side
            padded = tokenizer(REVIEWS[:1], padding="max_length", max_length=40, return_tensors="pt")
            tokenizer.padding_side = "right"
            assert padded["attention_mask"].sum() < 40  # really padded
            output = model(**padded, labels=padded["input_ids"])
            torch.testing.assert_close(output.loss, loss_alone, atol=1e-6, rtol=0)
            real = padded["attention_mask"][0].bool()
            torch.testing.assert_close(model(**padded).logits[0, real], model(**alone).logits[0], atol=1e-5, rtol=0)
        # In a batch with other texts: each row's logits are the ones it gets alone.
        batch = tokenizer(REVIEWS, padding=True, return_tensors="pt")
        batched = model(**batch)
        batched_loss = model(**batch, labels=batch["input_ids"]).loss
        for row, text in enumerate(REVIEWS):
            single = tokenizer([text], return_tensors="pt")
            length = single["input_ids"].size(1)
            torch.testing.assert_close(batched.logits[row, :length], model(**single).logits[0], atol=1e-5, rtol=0)
            if bidirectional:
                torch.testing.assert_close(batched.backward_logits[row, :length],
                                           model(**single).backward_logits[0], atol=1e-5, rtol=0)
    # The batch loss is the mean over every predicted word of the batch, padding never one of them.
    assert torch.isfinite(batched_loss)


def test_lm_states_and_loss_equal_a_packed_pytorch_lstm(tokenizer):
    """Per-token states of both directions against `nn.LSTM(bidirectional=True)` over `pack_padded_sequence`,
    and the loss against next/previous-word cross-entropy computed by hand from those reference states."""
    model = tiny_lm(tokenizer)
    with torch.no_grad():
        for parameter in model.imdb_lstm.encoder.parameters():
            parameter.uniform_(-0.5, 0.5)
    batch = tokenizer(REVIEWS, padding=True, return_tensors="pt")
    lengths = batch["attention_mask"].sum(1)
    encoder = model.imdb_lstm.encoder
    reference = nn.LSTM(model.config.embedding_dim, 8, bidirectional=True, batch_first=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(reference, f"{name}_l0").copy_(getattr(encoder.forward_layers[0], f"{name}_l0"))
            getattr(reference, f"{name}_l0_reverse").copy_(getattr(encoder.backward_layers[0], f"{name}_l0"))
        output = model(**batch, labels=batch["input_ids"], output_hidden_states=True)
        embedded = model.imdb_lstm.embedding(batch["input_ids"])
        packed, _ = reference(pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False))
        states, _ = pad_packed_sequence(packed, batch_first=True, total_length=batch["input_ids"].size(1))
        real = batch["attention_mask"].bool()
        torch.testing.assert_close(output.hidden_states[-1][real], states[real], atol=1e-5, rtol=0)

        word_vectors = model.imdb_lstm.embedding.weight
        head = model.lm_head
        forward_targets, backward_targets, forward_scores, backward_scores = [], [], [], []
        for row, length in enumerate(lengths.tolist()):
            ids = batch["input_ids"][row, :length]
            forward_scores.append(head.forward_projection(states[row, : length - 1, :8]) @ word_vectors.T + head.bias)
            forward_targets.append(ids[1:])
            backward_scores.append(head.backward_projection(states[row, 1:length, 8:]) @ word_vectors.T + head.bias)
            backward_targets.append(ids[:-1])
        # [PAD] is no candidate word: the model gives it probability 0.
        forward_scores, backward_scores = torch.cat(forward_scores), torch.cat(backward_scores)
        forward_scores[:, tokenizer.pad_token_id] = backward_scores[:, tokenizer.pad_token_id] = float("-inf")
        assert output.logits.softmax(-1)[..., tokenizer.pad_token_id].max() == 0
        forward_loss = nn.functional.cross_entropy(forward_scores, torch.cat(forward_targets))
        backward_loss = nn.functional.cross_entropy(backward_scores, torch.cat(backward_targets))
    torch.testing.assert_close(output.forward_loss, forward_loss, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(output.backward_loss, backward_loss, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(output.loss, (forward_loss + backward_loss) / 2, atol=1e-5, rtol=1e-5)


def test_lm_training_step_keeps_the_padding_vector_at_zero(tokenizer):
    model = tiny_lm(tokenizer).train()
    batch = tokenizer(REVIEWS, padding=True, return_tensors="pt")
    model(**batch, labels=batch["input_ids"]).loss.backward()
    gradient = model.imdb_lstm.embedding.weight.grad
    assert not gradient[tokenizer.pad_token_id].any() and gradient.abs().sum() > 0


def test_lm_folder_loads_into_the_classifier_with_only_the_head_new(tmp_path, tokenizer, caplog):
    lm = tiny_lm(tokenizer)
    lm.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING):
        classifier, info = AutoModelForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert isinstance(classifier, ImdbLstmForSequenceClassification)
    assert set(info["missing_keys"]) == {"classifier.weight", "classifier.bias"}
    assert {key.split(".")[0] for key in info["unexpected_keys"]} == {"lm_head"}
    lm_weights = lm.imdb_lstm.state_dict()
    classifier_weights = classifier.imdb_lstm.state_dict()
    assert lm_weights.keys() == classifier_weights.keys()
    for name, weight in lm_weights.items():
        assert torch.equal(weight, classifier_weights[name]), name
    # transformers' usual report names the new weights (printed by its loading report or logged).
    assert "classifier.weight" in caplog.text or "classifier.weight" in str(info)
    # The base model and the language model load back from it as well.
    assert isinstance(AutoModel.from_pretrained(tmp_path), ImdbLstmModel)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    batch = tokenizer(REVIEWS[:2], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(reloaded(**batch).logits, lm(**batch).logits)


REMOTE_CODE_CHECK = textwrap.dedent(
    """
    import json, sys
    sys.modules["imdb_lstm"] = None  # the package must not be importable: only the folder's own code may run
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
    folder = sys.argv[1]
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    batch = tokenizer(["a wonderful film", "terrible plot and wooden acting"], padding=True, return_tensors="pt")
    answers = {}
    for auto in (AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification):
        model = auto.from_pretrained(folder, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
        with torch.no_grad():
            output = model(**batch)
        first = output.last_hidden_state if auto is AutoModel else output.logits
        answers[type(model).__name__] = first.sum().item()
    print(json.dumps(answers))
    """
)


def test_every_class_loads_through_remote_code_without_the_package(tmp_path, tokenizer):
    lm = tiny_lm(tokenizer)
    folder = tmp_path / "lm"
    lm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert (folder / "modeling_imdb_lstm.py").is_file() and (folder / "configuration_imdb_lstm.py").is_file()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", REMOTE_CODE_CHECK, str(folder)], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(answers) == {"ImdbLstmModel", "ImdbLstmForCausalLM", "ImdbLstmForSequenceClassification"}
    batch = tokenizer(["a wonderful film", "terrible plot and wooden acting"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert answers["ImdbLstmForCausalLM"] == pytest.approx(lm(**batch).logits.sum().item(), rel=1e-5)
        assert answers["ImdbLstmModel"] == pytest.approx(lm.imdb_lstm(**batch).last_hidden_state.sum().item(),
                                                         rel=1e-5)
