"""The serving sibling of the model file (`serving_imdb_lstm.py`): it travels with the model (save_pretrained writes
it, remote code fetches it), and a folder loaded through remote code alone serves in bfloat16 with length buckets;
the dtype decision, the bucketed logits and the cut of over-long reviews, each on its own."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import sample_texts, tiny_model, tiny_tokenizer

import imdb_lstm
from imdb_lstm import serving_imdb_lstm as serving
from imdb_lstm.cards import MODEL_FOLDER_FILES, missing_model_files


def mixed_reviews(count: int = 24) -> list[str]:
    texts = list(sample_texts())
    return [" ".join(texts[i].split()[: [1, 3, 200, 12, 40, 2, 90, 7][i % 8]]) for i in range(count)]


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer(max_length=256)


# Runs where only torch and transformers can be imported: the folder's own code, its serving sibling included.
REMOTE_BFLOAT16_BUCKETS = textwrap.dedent(
    """
    import json, sys
    sys.modules["imdb_lstm"] = None  # the package must not be importable: only the folder's own code may run
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    folder, texts = sys.argv[1], json.loads(sys.argv[2])
    model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    modeling = sys.modules[type(model).__module__]
    serving = sys.modules[modeling.__name__.rsplit(".", 1)[0] + ".serving_imdb_lstm"]
    batches, autocast = [], []
    encode = type(model.imdb_lstm).encode
    def counting(self, input_ids, *args, **kwargs):
        batches.append(input_ids.size(0))
        autocast.append(torch.is_autocast_enabled("cpu"))
        return encode(self, input_ids, *args, **kwargs)
    type(model.imdb_lstm).encode = counting
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    print(json.dumps({"model_module": type(model).__module__, "serving_module": serving.__name__,
                      "serving_file": serving.__file__, "batches": batches, "autocast": autocast,
                      "dtype": str(logits.dtype), "logits": logits.tolist()}))
    """
)


@pytest.mark.forces_bfloat16
@pytest.mark.float_sensitive
def test_a_saved_folder_carries_the_sibling_and_serves_through_remote_code_in_bfloat16_with_buckets(tmp_path,
                                                                                                    tokenizer):
    model, _ = tiny_model(tokenizer, bidirectional=True, pooling="max_mean", inference_dtype="bfloat16")
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    package = Path(imdb_lstm.__file__).parent
    assert (folder / "serving_imdb_lstm.py").read_bytes() == (package / "serving_imdb_lstm.py").read_bytes()
    assert missing_model_files(folder) == []
    assert set(MODEL_FOLDER_FILES) <= {path.name for path in folder.iterdir()}

    texts = mixed_reviews()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", REMOTE_BFLOAT16_BUCKETS, str(folder), json.dumps(texts)],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    assert remote["model_module"].startswith("transformers_modules.")
    assert remote["serving_module"].startswith("transformers_modules.")  # the folder's sibling, fetched with it
    assert Path(remote["serving_file"]).read_bytes() == (folder / "serving_imdb_lstm.py").read_bytes()
    assert len(remote["batches"]) > 1 and sum(remote["batches"]) == len(texts)  # split by length, each row once
    assert all(remote["autocast"]) and remote["dtype"] == "torch.float32"  # bfloat16 inside, float32 logits out

    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(**batch).logits  # the package's classes: the same policy, the same numbers
        with serving.float32_inference():
            exact = model(**batch).logits
    torch.testing.assert_close(torch.tensor(remote["logits"]), expected, rtol=0, atol=1e-5)
    assert not torch.equal(expected, exact)  # bfloat16 really computed
    torch.testing.assert_close(expected, exact, rtol=0, atol=0.05)


def test_a_folder_saved_before_the_sibling_needs_none(tmp_path, tokenizer):
    model, _ = tiny_model(tokenizer)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    (tmp_path / "serving_imdb_lstm.py").unlink()
    assert missing_model_files(tmp_path) == ["serving_imdb_lstm.py"]  # its model file imports it
    # An older model file held everything: no relative import of the sibling, nothing missing.
    modeling = tmp_path / "modeling_imdb_lstm.py"
    modeling.write_text("".join(line for line in modeling.read_text().splitlines(keepends=True)
                                if "serving_imdb_lstm" not in line))
    assert missing_model_files(tmp_path) == []


def test_inference_dtype_decision(monkeypatch, tokenizer):
    model, _ = tiny_model(tokenizer, inference_dtype="auto")
    ids = torch.ones(1, 3, dtype=torch.long)
    monkeypatch.setattr(serving, "bfloat16_is_native", lambda device: True)
    with torch.no_grad():
        assert serving.autocasts_inference(model, ids)
        with serving.float32_inference():
            assert not serving.autocasts_inference(model, ids)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not serving.autocasts_inference(model, ids)  # already under autocast: left as it is
        model.train()
        assert not serving.autocasts_inference(model, ids)
        model.eval()
    assert not serving.autocasts_inference(model, ids)  # gradients on
    monkeypatch.setattr(serving, "bfloat16_is_native", lambda device: False)
    with torch.no_grad():
        assert not serving.autocasts_inference(model, ids)
        model.config.inference_dtype = "bfloat16"
        assert serving.autocasts_inference(model, ids)
        model.config.inference_dtype = "float32"
        assert not serving.autocasts_inference(model, ids)


def test_bucketed_logits_are_none_unless_bucketing_pays_and_in_row_order_otherwise():
    lengths = torch.tensor([900, 5, 7, 300, 6, 880, 8, 310, 4, 905] * 4)
    input_ids = torch.arange(lengths.numel()).unsqueeze(1).expand(-1, int(lengths.max())).contiguous()
    calls = []

    def logits_of(ids, ids_lengths):  # each row's logits: its id and its length
        calls.append(ids.size(1))
        assert ids.size(1) == int(ids_lengths.max())  # cut to the sub-batch's longest row
        return torch.stack([ids[:, 0].float(), ids_lengths.float()], dim=1)

    with torch.no_grad():
        logits = serving.logits_in_length_buckets(input_ids, lengths, logits_of)
    assert len(calls) > 1
    assert torch.equal(logits, torch.stack([torch.arange(lengths.numel()).float(), lengths.float()], dim=1))
    assert serving.logits_in_length_buckets(input_ids, lengths, logits_of) is None  # gradients on
    with torch.no_grad():
        same = torch.full((lengths.numel(),), 100)
        assert serving.logits_in_length_buckets(input_ids[:, :100], same, logits_of) is None  # nothing to save


def test_over_long_rows_are_cut_on_the_tokenizers_side():
    input_ids = torch.tensor([[1, 2, 3, 4, 5, 6], [7, 8, 0, 0, 0, 0], [9, 10, 11, 12, 0, 0]])
    labels = input_ids + 100
    lengths = torch.tensor([6, 2, 4])
    ids, cut_labels, cut_lengths = serving.truncated_to_max_length(input_ids, labels, lengths, 3, "left")
    assert ids.tolist() == [[4, 5, 6], [7, 8, 0], [10, 11, 12]]  # each row's end, padding after it
    assert torch.equal(cut_labels, ids + 100) and cut_lengths.tolist() == [3, 2, 3]
    ids, _, cut_lengths = serving.truncated_to_max_length(input_ids, None, lengths, 3, "right")
    assert ids.tolist() == [[1, 2, 3], [7, 8, 0], [9, 10, 11]] and cut_lengths.tolist() == [3, 2, 3]
    embeds = torch.randn(3, 6, 4)  # inputs_embeds are cut the same way
    cut, _, _ = serving.truncated_to_max_length(embeds, None, lengths, 3, "left")
    assert torch.equal(cut[0], embeds[0, 3:]) and torch.equal(cut[1], embeds[1, :3])
    for max_length in (None, 0, 6, 10):  # no maximum, or no row longer: unchanged
        assert serving.truncated_to_max_length(input_ids, labels, lengths, max_length, "left")[0] is input_ids
