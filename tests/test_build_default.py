"""imdb-lstm-build-default (imdb_lstm.commands.build_default): the shipped model's build, end to end on the shipped
sample with tiny sizes (the real config, shrunk), through the real command."""

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from transformers import pipeline

import imdb_lstm.word_vectors as word_vectors
from imdb_lstm.commands import build_default
from imdb_lstm.data import DataError, SAMPLE_DIR, held_out_texts

REPO = Path(__file__).resolve().parents[1]
# The dataset card of the Hub's IMDB layout: the split a file holds is named here (datasets infers only train,
# test and validation from file names).
HUB_LAYOUT_CARD = """---
configs:
- config_name: plain_text
  default: true
  data_files:
  - split: train
    path: plain_text/train-*
  - split: test
    path: plain_text/test-*
  - split: unsupervised
    path: plain_text/unsupervised-*
---
"""


def imdb_folder_with_planted_reviews(folder: Path) -> tuple[Path, list[str]]:
    """The shipped sample in the Hub parquet layout, its unlabelled split holding two test reviews and one
    validation review besides its own: what IMDB does (392 test reviews recur in train/unsupervised)."""
    held_out = held_out_texts("sample")  # validation reviews first, then test
    planted = [held_out[0], held_out[-1], held_out[-2]]
    (folder / "plain_text").mkdir(parents=True)
    (folder / "README.md").write_text(HUB_LAYOUT_CARD)
    for split in ("train", "test"):
        shutil.copy(SAMPLE_DIR / f"{split}.parquet", folder / "plain_text" / f"{split}-00000-of-00001.parquet")
    unlabelled = pq.read_table(SAMPLE_DIR / "unsupervised.parquet")
    extra = pa.table({"text": planted, "label": [-1] * len(planted)}).cast(unlabelled.schema)
    pq.write_table(pa.concat_tables([unlabelled, extra]), folder / "plain_text" / "unsupervised-00000-of-00001.parquet")
    return folder, planted


def tiny_config(tmp_path: Path, dataset: str) -> Path:
    """configs/default_model.json with tiny sizes: what the real build runs, in seconds."""
    config = json.loads((REPO / "configs" / "default_model.json").read_text())
    config.update(dataset=dataset, work_dir=str(tmp_path / "work"), output_dir=str(tmp_path / "model"))
    config["word_vectors"].update(dimension=16, epochs=1)
    (name, flags), = config["classifiers"].items()
    flags.update(hidden_size=8, num_train_epochs=1.0, max_length=48, vocab_size=2000, max_train_samples=300,
                 max_eval_samples=200, bf16=False)
    # A second candidate, another seed, and the two merged into one (the config's "ensemble").
    config["classifiers"][f"{name}_seed43"] = {**flags, "seed": 43}
    config["ensemble"] = [name, f"{name}_seed43"]
    config["compression"]["ngram_sizes"] = [1000, 300]
    path = tmp_path / "default_model.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.slow
def test_the_build_runs_end_to_end_and_no_held_out_review_reaches_the_vectors(tmp_path, monkeypatch):
    # Not named "imdb": offline, datasets answers a local folder of the same name and config from its cache of
    # another (the real IMDB, where one was loaded before).
    dataset, planted = imdb_folder_with_planted_reviews(tmp_path / "planted_imdb")
    corpus_texts = []
    write_corpus = word_vectors.write_corpus

    def spying_write_corpus(texts, path, max_texts=None):
        corpus_texts.extend(texts["text"])
        return write_corpus(texts, path, max_texts)

    monkeypatch.setattr(word_vectors, "write_corpus", spying_write_corpus)
    config = tiny_config(tmp_path, str(dataset))
    run_info = build_default.main([str(config)])

    # The unlabelled stage read the planted split but none of the run's validation or test reviews.
    assert len(corpus_texts) > 2000
    assert not set(planted) & set(corpus_texts)
    assert not set(held_out_texts(str(dataset))) & set(corpus_texts)
    assert run_info["stages"]["word_vectors"]["excluded_texts"] == len(set(held_out_texts(str(dataset))))

    model_dir = tmp_path / "model"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "modeling_imdb_lstm.py", "README.md",
                 "run_info.json", "eval_results.json"):
        assert (model_dir / name).is_file(), name
    stages = run_info["stages"]
    assert all(stages[name]["seconds"] > 0 for name in ("word_vectors", "classifier", "compression", "test"))
    steps = stages["compression"]["steps"]
    assert [step["step"] for step in steps] == ["full", "ngram_pruning", "embedding_bfloat16", "saved"]
    assert steps[-1]["size_mb"] < steps[0]["size_mb"]
    assert steps[1]["ngrams"] <= steps[0]["ngrams"]
    # The test split was read once, by the shipped folder: 1,000 reviews, with the rates and the recurrent part.
    results = json.loads((model_dir / "eval_results.json").read_text())
    assert results["test_samples"] == 1000
    assert results["test_tp"] + results["test_fn"] + results["test_tn"] + results["test_fp"] == 1000
    assert results["test_tpr"] + results["test_fnr"] == pytest.approx(1.0)
    assert "test_recurrent_accuracy" in results and results["eval_accuracy"] == steps[-1]["eval_accuracy"]
    # The classifier was trained without reading the test split.
    classifier_dir = Path(stages["classifier"]["output_dir"])
    assert not (classifier_dir / "test_predictions.jsonl").exists()
    assert json.loads((classifier_dir / "run_info.json").read_text())["arguments"]["training"]["do_predict"] is False
    classify = pipeline("text-classification", model=str(model_dir))
    assert classify("A wonderful film.")[0]["label"] in ("NEGATIVE", "POSITIVE")
    # The ensemble is a candidate like the others: the two members merged, one BiLSTM twice as wide, its n-gram
    # share chosen again on validation; the best of the three on validation is what ships.
    candidates = stages["classifier"]["candidates"]
    assert set(candidates) == {*json.loads(config.read_text())["classifiers"], "ensemble"}
    assert stages["classifier"]["chosen"] == max(candidates, key=lambda name: candidates[name]["eval_accuracy"])
    ensemble_dir = Path(stages["classifier"]["output_dir"]).parent / "ensemble"
    ensemble_info = json.loads((ensemble_dir / "run_info.json").read_text())["ensemble"]
    assert ensemble_info["members"] == json.loads(config.read_text())["ensemble"]
    assert json.loads((ensemble_dir / "config.json").read_text())["hidden_size"] == 16
    assert candidates["ensemble"]["eval_accuracy"] == ensemble_info["eval_accuracy"]

    # Run again with the same config: every stage is reused, nothing trained again.
    monkeypatch.setattr(build_default, "run", lambda *_: pytest.fail("the classifier was trained again"))
    monkeypatch.setattr(build_default, "learn_word_vectors", lambda *_, **__: pytest.fail("vectors learnt again"))
    monkeypatch.setattr(build_default, "merge_saved_classifiers", lambda *_: pytest.fail("members merged again"))
    again = build_default.main([str(config)])
    assert again["stages"] == run_info["stages"]

    # Another model in the output folder is refused unless --overwrite.
    (model_dir / "run_info.json").write_text(json.dumps({"build_config": {"another": "build"}}))
    with pytest.raises(DataError, match="already holds a different model.*--overwrite"):
        build_default.main([str(config)])
    build_default.main([str(config), "--overwrite"])
    assert json.loads((model_dir / "run_info.json").read_text())["build_config"]["dataset"] == str(dataset)


def test_a_dataset_without_unsupervised_reviews_is_refused_before_any_work(tmp_path, monkeypatch):
    folder = tmp_path / "labelled_only"
    folder.mkdir()
    for split in ("train", "test"):
        pq.write_table(pa.table({"text": ["good", "bad"], "label": [1, 0]}), folder / f"{split}.parquet")
    monkeypatch.setattr(build_default, "learn_word_vectors", lambda *_, **__: pytest.fail("work started"))
    with pytest.raises(DataError, match="no readable 'unsupervised' split.*--dataset"):
        build_default.main([str(tiny_config(tmp_path, str(folder)))])


def test_a_missing_config_and_unknown_keys_are_refused(tmp_path):
    with pytest.raises(DataError, match="No build config"):
        build_default.main([str(tmp_path / "nothing.json")])
    config = json.loads((REPO / "configs" / "default_model.json").read_text())
    (tmp_path / "bad.json").write_text(json.dumps({**config, "epochs": 3}))
    with pytest.raises(DataError, match=r"unknown keys \['epochs'\]"):
        build_default.main([str(tmp_path / "bad.json")])
    (name, _), = config["classifiers"].items()
    for ensemble in ([name], [name, "missing"]):
        (tmp_path / "bad.json").write_text(json.dumps({**config, "ensemble": ensemble}))
        with pytest.raises(DataError, match="'ensemble' must name at least two of the candidates"):
            build_default.main([str(tmp_path / "bad.json")])


def test_the_word_vectors_leave_out_every_candidates_own_validation_and_test_reviews(tmp_path, monkeypatch):
    # Two candidates that hold out different validation reviews: the shared vectors read neither's.
    excluded = []

    def fake_learn_word_vectors(arguments, excluded_texts):
        excluded.append(list(excluded_texts))
        return {"output": arguments.output, "texts": 1, "words": 1, "vocabulary": 1,
                "excluded_texts": len(set(excluded_texts))}

    monkeypatch.setattr(build_default, "learn_word_vectors", fake_learn_word_vectors)
    config = json.loads((REPO / "configs" / "default_model.json").read_text())
    (name, flags), = config["classifiers"].items()
    config.update(dataset="sample", classifiers={name: flags, "seed43": {**flags, "split_seed": 43}})
    records = build_default.StageRecords(tmp_path)
    build_default.word_vectors_stage(config, tmp_path, records)
    expected = set(held_out_texts("sample")) | set(held_out_texts("sample", seed=43))
    assert set(excluded[0]) == expected and len(expected) > len(set(held_out_texts("sample")))
    # Recorded with the protocols, so a build whose candidates hold out other reviews learns the vectors again.
    build_default.word_vectors_stage(config, tmp_path, records)
    assert len(excluded) == 1
    config["classifiers"] = {name: flags}
    build_default.word_vectors_stage(config, tmp_path, records)
    assert len(excluded) == 2 and set(excluded[1]) == set(held_out_texts("sample"))
