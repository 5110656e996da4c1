"""What transformers' own model tests ask of a model, on tiny ones: `torch.export` with dynamic shapes, any number of
labels and problem types, re-heading, resizing the vocabulary (the adaptive-softmax language model included),
gradient checkpointing through transformers' `GradientCheckpointingLayer`, untied output embeddings, `inputs_embeds`,
the config's common names, hidden states that are the graph's own; and a folder saved before the model file was
split (issue 31) giving the logits it gave then."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers.modeling_utils
from helpers import SHORT_REVIEWS as REVIEWS
from helpers import tiny_lm, tiny_model, tiny_tokenizer
from torch.utils.checkpoint import checkpoint
from transformers import BertConfig, BertForSequenceClassification, pipeline
from transformers.modeling_layers import GradientCheckpointingLayer

from imdb_lstm import ImdbLstmConfig, ImdbLstmForCausalLM, ImdbLstmForSequenceClassification, ImdbLstmTokenizer
from imdb_lstm import modeling_imdb_lstm as modeling
from imdb_lstm.onnx_export import export_program, exportable_ngram_log_odds

FIXTURES = Path(__file__).parent / "fixtures"



@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def export_with_dynamic_shapes(model, batch, min_length: int = 2):
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("length", min=min_length)}
    return export_program(model, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]},
                          dynamic_shapes={"input_ids": dims, "attention_mask": dims}).module()


# ---------------------------------------------------------------- torch.export

# The exported graph runs the recurrence as a scan over time steps (the same equations, other kernels than
# nn.LSTM's fused one): float32 rounding differs in the last bits, about 1e-7 on logits of size ~1.
EXPORT_TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}


@pytest.mark.float_sensitive
def test_exported_classifier_takes_any_batch_and_length(tokenizer):
    model, _ = tiny_model(tokenizer, bidirectional=True, pooling="max_mean")
    exported = export_with_dynamic_shapes(model, tokenizer(REVIEWS[:3], padding=True, return_tensors="pt"))
    # Another batch size and length than the example's, right- and left-padded.
    for side in ("right", "left"):
        tokenizer.padding_side = side
        try:
            batch = tokenizer(REVIEWS[1:] + ["a much longer review " * 5], padding=True, return_tensors="pt")
        finally:
            tokenizer.padding_side = "right"
        with torch.no_grad():
            torch.testing.assert_close(exported(**batch).logits, model(**batch).logits, **EXPORT_TOLERANCE)


def test_out_of_range_ids_still_fail_clearly_in_eager_mode(tokenizer):
    model, _ = tiny_model(tokenizer)
    with pytest.raises(ValueError, match="tokenizer does not match"):
        model(input_ids=torch.tensor([[3, len(tokenizer)]]))


@pytest.mark.slow
@pytest.mark.float_sensitive
def test_exported_base_model_cnn_classifier_and_language_model_give_the_eager_outputs(tokenizer):
    example = tokenizer(REVIEWS[:3], padding=True, return_tensors="pt")
    batch = tokenizer(REVIEWS[1:] + ["a much longer review " * 5], padding=True, return_tensors="pt")
    cnn, _ = tiny_model(tokenizer, encoder="cnn", pooling="max", cnn_kernel_sizes=[2, 3], cnn_num_filters=4)
    # A CNN pads input shorter than its widest filter (a branch on the length): the exported graph takes lengths
    # above that width (as onnx_export's graph, which appends that many padding columns itself).
    exported = export_with_dynamic_shapes(cnn, example, min_length=4)
    with torch.no_grad():
        torch.testing.assert_close(exported(**batch).logits, cnn(**batch).logits, **EXPORT_TOLERANCE)
    lm = tiny_lm(tokenizer, cell="gru")
    exported = export_with_dynamic_shapes(lm, example)
    with torch.no_grad():
        ours, eager = exported(**batch), lm(**batch)
        real = batch["attention_mask"].bool()
        torch.testing.assert_close(ours.logits[real], eager.logits[real], **EXPORT_TOLERANCE)
        torch.testing.assert_close(ours.backward_logits[real], eager.backward_logits[real], **EXPORT_TOLERANCE)
    exported = export_with_dynamic_shapes(lm.imdb_lstm, example)
    with torch.no_grad():
        torch.testing.assert_close(exported(**batch).last_hidden_state, lm.imdb_lstm(**batch).last_hidden_state,
                                   **EXPORT_TOLERANCE)


# ---------------------------------------------------------------- any number of labels

def test_config_takes_any_number_of_labels_and_checks_a_late_change_when_it_is_made():
    assert ImdbLstmConfig().id2label == {0: "NEGATIVE", 1: "POSITIVE"}
    config = ImdbLstmConfig(num_labels=3)
    assert config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"} and config.label2id["LABEL_2"] == 2
    named = ImdbLstmConfig(id2label={0: "ACTION", 1: "COMEDY", 2: "DRAMA"})
    assert named.num_labels == 3 and named.label2id == {"ACTION": 0, "COMEDY": 1, "DRAMA": 2}
    late = ImdbLstmConfig(vocab_size=50, hidden_size=4)
    late.num_labels = 3  # works: a model built from it has three outputs
    assert ImdbLstmForSequenceClassification(late).classifier.out_features == 3
    with pytest.raises(ValueError, match="problem_type"):
        ImdbLstmConfig(problem_type="ranking")
    # Labels that are not ids 0..n-1 fail at the assignment and change nothing.
    with pytest.raises(ValueError, match="must name the labels 0..num_labels-1"):
        late.id2label = {0: "A", 2: "C"}
    assert late.num_labels == 3
    with pytest.raises(ValueError, match="problem_type"):
        late.problem_type = "ranking"
    assert late.problem_type is None
    # The n-gram branch is binary: a classifier is not built with it for other labels.
    for ngram in (ImdbLstmConfig(vocab_size=50, ngram_order=2, num_labels=3),
                  ImdbLstmConfig(vocab_size=50, ngram_order=2, problem_type="multi_label_classification")):
        with pytest.raises(ValueError, match="n-gram branch scores NEGATIVE against POSITIVE"):
            ImdbLstmForSequenceClassification(ngram)


def synthetic_topics(tokenizer, count: int, multi_label: bool, seed: int = 0):
    """Texts of filler words with marker words: single-label, one marker (its index is the label); multi-label,
    each marker present or not (one 0/1 column per marker)."""
    generator = torch.Generator().manual_seed(seed)
    filler = ["the", "a", "film", "movie", "was", "and", "it", "of", "this", "story"]
    markers = ["funny", "scary", "sad"]
    texts, labels = [], []
    for _ in range(count):
        words = [filler[i] for i in torch.randint(len(filler), (8,), generator=generator).tolist()]
        if multi_label:
            present = (torch.rand(3, generator=generator) < 0.5).float()
            chosen = [marker for marker, on in zip(markers, present.tolist()) if on]
            labels.append(present)
        else:
            label = int(torch.randint(3, (1,), generator=generator))
            chosen = [markers[label]]
            labels.append(label)
        for marker in chosen:
            words.insert(int(torch.randint(len(words) + 1, (1,), generator=generator)), marker)
        texts.append(" ".join(words))
    labels = torch.stack(labels) if multi_label else torch.tensor(labels)
    return texts, labels


@pytest.mark.parametrize("problem_type", ["single_label_classification", "multi_label_classification"])
def test_three_labels_train_save_reload_and_run_through_the_pipeline(tmp_path, tokenizer, problem_type):
    multi_label = problem_type == "multi_label_classification"
    names = {0: "FUNNY", 1: "SCARY", 2: "SAD"}
    model, _ = tiny_model(tokenizer, id2label=names, problem_type=problem_type, dropout=0.0)
    texts, labels = synthetic_topics(tokenizer, 96, multi_label)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(40):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    expected = (torch.nn.functional.binary_cross_entropy_with_logits if multi_label
                else torch.nn.functional.cross_entropy)
    with torch.no_grad():
        output = model(**batch, labels=labels)
    torch.testing.assert_close(output.loss, expected(output.logits, labels))
    predicted = (output.logits > 0).float() if multi_label else output.logits.argmax(-1)
    # Chance is 1/3 (single-label) or 1/2 per column (multi-label); the markers make it learnable.
    assert losses[-1] < 0.5 * losses[0] and (predicted == labels).float().mean() > 0.9

    folder = tmp_path / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    loaded = ImdbLstmForSequenceClassification.from_pretrained(folder).eval()
    assert loaded.config.id2label == names and loaded.config.problem_type == problem_type
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, output.logits, rtol=0, atol=0)
    classify = pipeline("text-classification", model=str(folder), top_k=None)
    for answer, logits in zip(classify(texts[:4]), output.logits[:4]):
        scores = {entry["label"]: entry["score"] for entry in answer}
        assert set(scores) == set(names.values())
        # The pipeline's function: sigmoid per label for multi-label, softmax otherwise.
        probabilities = logits.sigmoid() if multi_label else logits.softmax(-1)
        for index, name in names.items():
            assert scores[name] == pytest.approx(probabilities[index].item(), abs=1e-5)


def test_regression_loss_is_mean_squared_error(tokenizer):
    model, _ = tiny_model(tokenizer, num_labels=1)
    assert model.config.problem_type is None  # inferred from one label, as in transformers
    batch = tokenizer(REVIEWS[:2], padding=True, return_tensors="pt")
    targets = torch.tensor([0.5, -1.0])
    output = model(**batch, labels=targets)
    torch.testing.assert_close(output.loss, torch.nn.functional.mse_loss(output.logits.squeeze(-1), targets))


def test_single_label_problem_type_with_one_label_is_what_transformers_does(tokenizer):
    # transformers 5 refuses the pair when a config is built (PreTrainedConfig), and accepts it set afterwards, when
    # BertForSequenceClassification takes the cross-entropy over one logit: 0. So does this classifier.
    bert_config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=8, num_labels=1)
    for config_class in (BertConfig, ImdbLstmConfig):
        with pytest.raises(ValueError, match="requires `num_labels > 1`"):
            config_class(num_labels=1, problem_type="single_label_classification")
    model, _ = tiny_model(tokenizer, num_labels=1)
    labels = torch.tensor([0, 0])
    for config in (model.config, bert_config):
        config.problem_type = "single_label_classification"
    bert = BertForSequenceClassification(bert_config)
    output = model(**tokenizer(REVIEWS[:2], padding=True, return_tensors="pt"), labels=labels)
    torch.testing.assert_close(output.loss, torch.nn.functional.cross_entropy(output.logits.view(-1, 1), labels))
    assert output.loss == 0 == bert(input_ids=torch.tensor([[1, 2, 3], [4, 5, 6]]), labels=labels).loss


def test_reheading_keeps_the_embedding_and_encoder_and_makes_a_new_head(tmp_path, tokenizer):
    model, _ = tiny_model(tokenizer, bidirectional=True)
    model.save_pretrained(tmp_path / "imdb")
    for folder in (tmp_path / "imdb", FIXTURES / "legacy_bilstm"):
        original = ImdbLstmForSequenceClassification.from_pretrained(folder)
        reheaded, info = ImdbLstmForSequenceClassification.from_pretrained(
            folder, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
        assert reheaded.config.num_labels == 5 and reheaded.classifier.out_features == 5
        assert {key for key, *_ in info["mismatched_keys"]} == {"classifier.weight", "classifier.bias"}
        for name, weight in original.imdb_lstm.state_dict().items():
            assert torch.equal(weight, reheaded.imdb_lstm.state_dict()[name]), name
    # A classifier with the (binary) n-gram branch: dropped first, then re-headed.
    ngram, _ = tiny_model(tokenizer, ngram_order=1, ngram_features=3)
    ngram.save_pretrained(tmp_path / "ngram")
    with pytest.raises(ValueError, match="ngram_order=0"):
        ImdbLstmForSequenceClassification.from_pretrained(tmp_path / "ngram", num_labels=5, ignore_mismatched_sizes=True)
    reheaded = ImdbLstmForSequenceClassification.from_pretrained(
        tmp_path / "ngram", ngram_order=0, num_labels=5, ignore_mismatched_sizes=True)
    assert reheaded.ngram is None and reheaded.classifier.out_features == 5


# ---------------------------------------------------------------- resizing the vocabulary

@pytest.mark.parametrize("lm_output", ["tied", "adaptive"])
def test_resized_language_model_reads_and_predicts_the_new_words(tokenizer, lm_output):
    adaptive = {"lm_output": "adaptive", "lm_adaptive_cutoffs": [50, 500], "hidden_size": 16} if lm_output == "adaptive" else {}
    model = tiny_lm(tokenizer, **adaptive)
    old_size = model.config.vocab_size
    before = model.lm_head.forward_output.tail[-1][1].weight.detach().clone() if adaptive else model.lm_head.bias.detach().clone()
    model.resize_token_embeddings(old_size + 10)
    assert model.config.vocab_size == old_size + 10 and model.get_input_embeddings().num_embeddings == old_size + 10
    after = model.lm_head.forward_output.tail[-1][1].weight if adaptive else model.lm_head.bias
    assert torch.equal(after[: before.size(0)], before)  # the old words keep their output weights
    batch = tokenizer(REVIEWS[:2], padding=True, return_tensors="pt")
    batch["input_ids"][0, 1] = old_size + 9  # a new word, read and predicted
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape[-1] == old_size + 10
    if adaptive:  # log-probabilities over the grown vocabulary still sum to one
        torch.testing.assert_close(logits.logsumexp(-1), torch.zeros(logits.shape[:-1]), atol=1e-4, rtol=0)
    model.train()
    loss = model(**batch, labels=batch["input_ids"]).loss
    loss.backward()
    assert torch.isfinite(loss) and model.get_input_embeddings().weight.grad[old_size + 9].abs().sum() > 0
    assert not model.get_input_embeddings().weight.grad[tokenizer.pad_token_id].any()


def test_resized_classifier_still_classifies_and_the_ngram_branch_refuses(tokenizer):
    model, _ = tiny_model(tokenizer)
    model.resize_token_embeddings(model.config.vocab_size + 3)
    with torch.no_grad():
        assert model(input_ids=torch.tensor([[5, model.config.vocab_size - 1]])).logits.shape == (1, 2)
    ngram, _ = tiny_model(tokenizer, ngram_order=1, ngram_features=3)
    with pytest.raises(ValueError, match="ngram_order=0"):
        ngram.resize_token_embeddings(ngram.config.vocab_size + 3)


# ---------------------------------------------------------------- gradient checkpointing

def gradients(model, batch, labels):
    model.zero_grad()
    output = model(**batch, labels=labels)
    output.loss.backward()
    return {name: parameter.grad.clone() for name, parameter in model.named_parameters() if parameter.grad is not None}


@pytest.mark.float_sensitive
@pytest.mark.parametrize("kwargs, layer_count", [  # the recurrent directions (layers × directions), or CNN widths
    ({"cell": "lstm", "bidirectional": True, "num_layers": 2, "pooling": "max_mean"}, 4),
    ({"cell": "gru", "pooling": "last"}, 1),
    ({"encoder": "cnn", "pooling": "max", "cnn_kernel_sizes": [2, 3], "cnn_num_filters": 4}, 2),
    ({"model_class": "lm"}, 2),
], ids=["bilstm2", "gru", "cnn", "lm"])
def test_gradient_checkpointing_recomputes_each_layer_and_gives_the_same_gradients(tokenizer, kwargs, layer_count,
                                                                                   monkeypatch):
    # Chunks of 5 steps, so these short reviews are read in several chunks.
    monkeypatch.setattr(modeling, "CHECKPOINT_STEPS", 5)
    if kwargs.get("model_class") == "lm":
        model = tiny_lm(tokenizer, cell="lstm")
    else:
        model, _ = tiny_model(tokenizer, dropout=0.0, **kwargs)
    model.train()
    batch = tokenizer(REVIEWS, padding=True, return_tensors="pt")
    labels = batch["input_ids"] if kwargs.get("model_class") == "lm" else torch.tensor([1, 0, 1, 0])
    # Count the calls of the checkpoint function that transformers hands the layers, and the runs of what each
    # call checkpoints: once in forward, once more when backward recomputes it.
    calls = {"checkpoint": 0, "run": 0}

    def counting_checkpoint(function, *args, **kwargs):
        def run(*run_args, **run_kwargs):
            calls["run"] += 1
            return function(*run_args, **run_kwargs)

        calls["checkpoint"] += 1
        return checkpoint(run, *args, **kwargs)

    monkeypatch.setattr(transformers.modeling_utils, "checkpoint", counting_checkpoint)
    layers = [module for module in model.modules() if isinstance(module, GradientCheckpointingLayer)]
    assert len(layers) == layer_count
    plain = gradients(model, batch, labels)
    assert calls == {"checkpoint": 0, "run": 0}
    chunks = len(layers) if kwargs.get("encoder") == "cnn" else len(layers) * -(-batch["input_ids"].size(1) // 5)
    for reentrant in (False, True):  # any checkpoint function: the recurrent state goes in as separate tensors
        calls.update(checkpoint=0, run=0)
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})
        assert model.is_activation_checkpointing and all(layer.gradient_checkpointing for layer in layers)
        checkpointed = gradients(model, batch, labels)
        assert calls == {"checkpoint": chunks, "run": 2 * chunks}, reentrant
        assert plain.keys() == checkpointed.keys()
        # Chunked recurrences multiply the input weights chunk by chunk: float32 sums in another order (~1e-7).
        for name, gradient in plain.items():
            torch.testing.assert_close(checkpointed[name], gradient, atol=1e-6, rtol=1e-5, msg=name)
    model.gradient_checkpointing_disable()  # (transformers 5 also names them activation_checkpointing_*)
    assert not model.is_activation_checkpointing and not any(layer.gradient_checkpointing for layer in layers)


# ---------------------------------------------------------------- inputs_embeds, hidden states, config names

@pytest.mark.float_sensitive
def test_inputs_embeds_give_the_input_ids_outputs(tokenizer):
    classifier, _ = tiny_model(tokenizer, bidirectional=True, pooling="max_mean")
    lm = tiny_lm(tokenizer)
    for side in ("right", "left"):
        tokenizer.padding_side = side
        try:
            batch = tokenizer(REVIEWS, padding=True, return_tensors="pt")
        finally:
            tokenizer.padding_side = "right"
        for model, field in ((classifier, "logits"), (classifier.imdb_lstm, "last_hidden_state"), (lm, "logits")):
            embeds = model.get_input_embeddings()(batch["input_ids"])
            with torch.no_grad():
                from_ids = getattr(model(**batch), field)
                from_embeds = getattr(model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]), field)
            torch.testing.assert_close(from_embeds, from_ids, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="one of them"):
        classifier(input_ids=batch["input_ids"], inputs_embeds=embeds)
    ngram, _ = tiny_model(tokenizer, ngram_order=1, ngram_features=3)
    with pytest.raises(ValueError, match="n-gram branch reads token ids"):
        ngram(inputs_embeds=ngram.get_input_embeddings()(batch["input_ids"]))


@pytest.mark.parametrize("kwargs", [{"bidirectional": True, "num_layers": 2}, {"encoder": "cnn", "pooling": "max"}],
                         ids=["bilstm2", "cnn"])
def test_returned_hidden_states_are_the_graph_own_tensors(tokenizer, kwargs):
    model, _ = tiny_model(tokenizer, dropout=0.0, **kwargs)
    batch = tokenizer(REVIEWS, padding=True, return_tensors="pt")
    output = model(**batch, labels=torch.tensor([1, 0, 1, 0]), output_hidden_states=True)
    for state in output.hidden_states:
        state.retain_grad()
    output.loss.backward()
    for layer, state in enumerate(output.hidden_states):
        assert state.grad is not None and state.grad.abs().sum() > 0, layer


@pytest.mark.parametrize("lm_output", ["tied", "adaptive"])
def test_untied_language_model_trains_resizes_saves_and_reloads_with_its_own_output_layer(tmp_path, tokenizer,
                                                                                          lm_output):
    adaptive = {"lm_output": "adaptive", "lm_adaptive_cutoffs": [50, 500]} if lm_output == "adaptive" else {}
    config = ImdbLstmConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, embedding_dim=12,
                            hidden_size=8, bidirectional=True, dropout=0.0, tie_word_embeddings=False, **adaptive)
    model = ImdbLstmForCausalLM(config).eval()
    embedding, output = model.get_input_embeddings(), model.get_output_embeddings()
    if adaptive:  # the adaptive softmax has output layers of its own either way: no output embeddings to untie
        assert output is None
    else:  # the plain softmax's own word vectors: a copy of the input embedding to start from, not the same tensor
        assert torch.equal(output.weight, embedding.weight) and output.weight.data_ptr() != embedding.weight.data_ptr()
    batch = tokenizer(REVIEWS[:2], padding=True, return_tensors="pt")
    model.train()
    model(**batch, labels=batch["input_ids"]).loss.backward()
    if not adaptive:
        assert output.weight.grad.abs().sum() > 0 and embedding.weight.grad.abs().sum() > 0
    old_size = model.config.vocab_size
    model.resize_token_embeddings(old_size + 10)
    if not adaptive:  # transformers resizes the untied output layer with the embedding: old rows kept
        assert model.get_output_embeddings().weight.shape == (old_size + 10, model.config.embedding_dim)
        assert torch.equal(model.get_output_embeddings().weight[:old_size], output.weight)
    model.eval().save_pretrained(tmp_path)
    reloaded, info = ImdbLstmForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert reloaded.config.tie_word_embeddings is False and reloaded.config.vocab_size == old_size + 10
    for name, weight in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], weight), name
    with torch.no_grad():
        torch.testing.assert_close(reloaded.eval()(**batch).logits, model(**batch).logits, rtol=0, atol=0)
    # A classifier takes the flag and ignores it.
    assert ImdbLstmForSequenceClassification(model.config).classifier.out_features == 2


def test_a_tied_language_model_is_untied_on_loading_from_a_copy_of_its_embedding(tmp_path, tokenizer):
    tied = tiny_lm(tokenizer)
    assert tied.config.tie_word_embeddings and tied.get_output_embeddings() is None  # the default, saved as before
    tied.save_pretrained(tmp_path)
    untied = ImdbLstmForCausalLM.from_pretrained(tmp_path, tie_word_embeddings=False)
    assert torch.equal(untied.get_output_embeddings().weight, tied.get_input_embeddings().weight)
    batch = tokenizer(REVIEWS[:2], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(untied.eval()(**batch).logits, tied(**batch).logits, rtol=0, atol=0)


@pytest.mark.parametrize("vocab_size", [50, 2**20])  # 2**20: n-gram keys * batch would overflow int64
def test_ngram_branch_counts_each_known_ngram_once_per_review(vocab_size):
    config = ImdbLstmConfig(vocab_size=vocab_size, ngram_order=3, ngram_features=40)
    branch = modeling.ImdbLstmNgramBranch(config)
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(2, 7, (5, 12), generator=generator)  # few distinct ids: n-grams repeat in a review
    lengths = torch.tensor([12, 9, 1, 5, 12])
    base = vocab_size + 1
    present = {}
    for row, length in enumerate(lengths.tolist()):
        ids = [token + 1 for token in input_ids[row, :length].tolist()]
        for n in range(1, 4):
            for start in range(length - n + 1):
                key = 0
                for digit in ids[start:start + n]:
                    key = key * base + digit
                present.setdefault(row, set()).add(key)
    known = sorted({key for keys in present.values() for key in keys})[::3][:40]
    branch.keys = torch.tensor(known, dtype=torch.long)
    branch.weights = torch.randn(len(known), generator=generator)
    branch.bias = torch.tensor([0.25])
    weight_of = dict(zip(known, branch.weights.tolist()))
    expected = torch.tensor([0.25 + sum(weight_of.get(key, 0.0) for key in present[row]) for row in range(5)])
    torch.testing.assert_close(branch(input_ids, lengths), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(exportable_ngram_log_odds(branch, input_ids, lengths), expected, atol=1e-5, rtol=0)
    alone = torch.cat([branch(input_ids[row:row + 1, :length], lengths[row:row + 1])
                       for row, length in enumerate(lengths.tolist())])
    assert torch.equal(alone, branch(input_ids, lengths))  # the same score alone as in a padded batch


# ---------------------------------------------------------------- folders saved by older code

REMOTE_CODE_LOGITS = """
import json, sys
sys.modules["imdb_lstm"] = None  # only the folder's own code may run
import torch
from transformers import AutoModelForSequenceClassification
model = AutoModelForSequenceClassification.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
batch = {key: torch.tensor(value) for key, value in json.loads(sys.argv[2]).items()}
with torch.no_grad():
    print(json.dumps(model(**batch).logits.tolist()))
"""


def test_a_folder_saved_before_issue_31_gives_the_logits_it_gave_then(tmp_path):
    """tests/fixtures/pre_issue31_model: saved by the code of commit e471713 (make_pre_issue31_model.py), loaded by
    the package's classes and, from a copy holding today's .py files, as remote code (without the package)."""
    folder = FIXTURES / "pre_issue31_model"
    expected = json.loads((folder / "expected_logits.json").read_text())
    inputs = {key: expected[key] for key in ("input_ids", "attention_mask")}
    tokenizer = ImdbLstmTokenizer.from_pretrained(folder)  # still tokenises the reviews into the same ids
    assert tokenizer(expected["reviews"], padding=True)["input_ids"] == expected["input_ids"]
    model, info = ImdbLstmForSequenceClassification.from_pretrained(folder, output_loading_info=True)
    assert not any(info.values()), info
    assert model.config.ngram_order == 2 and model.config.model_max_length < len(expected["input_ids"][0])
    with torch.no_grad():
        logits = model.eval()(**{key: torch.tensor(value) for key, value in inputs.items()}).logits
    torch.testing.assert_close(logits, torch.tensor(expected["logits"]), atol=1e-5, rtol=0)

    remote = tmp_path / "pre_issue31_model"
    shutil.copytree(folder, remote)
    for name in ("configuration_imdb_lstm.py", "modeling_imdb_lstm.py", "serving_imdb_lstm.py"):
        shutil.copy(Path(modeling.__file__).parent / name, remote / name)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", REMOTE_CODE_LOGITS, str(remote), json.dumps(inputs)],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    remote_logits = json.loads(result.stdout.strip().splitlines()[-1])
    torch.testing.assert_close(torch.tensor(remote_logits), torch.tensor(expected["logits"]), atol=1e-5, rtol=0)
