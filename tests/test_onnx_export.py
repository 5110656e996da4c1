"""The export module (`imdb_lstm.onnx_export`): its export-only paths go into a model through the model's two
replaceable functions while exporting and come out afterwards, and they compute what the model's own paths compute.
(Exported graphs against eager logits: tests/test_modeling_imdb_lstm.py for torch.export, tests/test_speed_features.py
and tests/test_ngrams.py for ONNX.)"""

import pytest
import torch
from torch import nn

from imdb_lstm import ImdbLstmConfig, ImdbLstmForSequenceClassification
from imdb_lstm import modeling_imdb_lstm as modeling
from imdb_lstm.onnx_export import export_paths, exportable_ngram_log_odds, scanned_rnn


def ngram_classifier() -> ImdbLstmForSequenceClassification:
    config = ImdbLstmConfig(vocab_size=50, embedding_dim=8, hidden_size=4, bidirectional=True, ngram_order=2,
                            ngram_features=6, inference_dtype="float32")
    model = ImdbLstmForSequenceClassification(config).eval()
    model.ngram.keys = torch.tensor([3, 5, 9, 4 * 51 + 5, 7 * 51 + 8, 30 * 51 + 31])
    model.ngram.weights = torch.tensor([0.5, -1.0, 2.0, 0.25, -0.75, 1.5])
    model.ngram.bias = torch.tensor([0.1])
    return model


def test_export_paths_go_in_through_the_replaceable_functions_and_come_out_after():
    model = ngram_classifier()
    encoder, branch = model.imdb_lstm.encoder, model.ngram
    with export_paths(model):
        assert encoder.run_direction is scanned_rnn
        assert branch.log_odds is exportable_ngram_log_odds
    assert "run_direction" not in vars(encoder) and "log_odds" not in vars(branch)
    assert encoder.run_direction is modeling.run_direction and branch.log_odds is modeling.ngram_log_odds
    with export_paths(model, scan=False):  # the TorchScript ONNX exporter keeps nn.LSTM whole
        assert encoder.run_direction is modeling.run_direction
        assert branch.log_odds is exportable_ngram_log_odds
    with pytest.raises(RuntimeError), export_paths(model):
        raise RuntimeError("an export that fails")
    assert "run_direction" not in vars(encoder) and "log_odds" not in vars(branch)


def test_exportable_ngram_lookup_gives_the_eager_scores():
    model = ngram_classifier()
    input_ids = torch.tensor([[4, 5, 4, 5, 9, 0], [30, 31, 7, 8, 3, 3], [2, 0, 0, 0, 0, 0]])
    lengths = torch.tensor([5, 6, 1])
    eager = model.ngram(input_ids, lengths)
    assert eager.tolist() != [0.1, 0.1, 0.1]  # n-grams were found
    torch.testing.assert_close(exportable_ngram_log_odds(model.ngram, input_ids, lengths), eager, rtol=0, atol=1e-6)
    with torch.no_grad(), export_paths(model, scan=False):
        exported_path = model(input_ids=input_ids, attention_mask=(input_ids != 0).long()).logits
    with torch.no_grad():
        torch.testing.assert_close(exported_path, model(input_ids=input_ids, attention_mask=(input_ids != 0).long())
                                   .logits, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU])
def test_scanned_rnn_computes_what_the_fused_module_computes(cell):
    torch.manual_seed(0)
    rnn = cell(5, 3, batch_first=True)
    inputs = torch.randn(2, 7, 5)
    try:
        scanned = scanned_rnn(rnn, inputs)
    except (NotImplementedError, RuntimeError) as error:  # a torch whose scan runs only under torch.export
        pytest.skip(f"scan does not run eagerly here: {error}")
    torch.testing.assert_close(scanned, rnn(inputs)[0], rtol=1e-5, atol=1e-6)
