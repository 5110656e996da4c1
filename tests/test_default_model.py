"""The model the package ships (`imdb_lstm.DEFAULT_MODEL`, built by imdb-lstm-build-default): it loads with no
argument, through a plain `pipeline`, and through remote code without the package; it is small; it classifies the
shipped sample's test reviews well; its folder records how it was built and scored."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from transformers import pipeline

import imdb_lstm
from imdb_lstm.cards import MODEL_FOLDER_FILES, OPTIONAL_MODEL_FOLDER_FILES
from imdb_lstm.data import load_imdb
from imdb_lstm.predict import load_classifier, predict

MODEL = Path(imdb_lstm.DEFAULT_MODEL)
MAX_MB = 10

REMOTE_CODE_ONLY = r"""
import json, sys
sys.modules["imdb_lstm"] = None  # only the folder's own code may run
from transformers import AutoModelForSequenceClassification, pipeline
model = AutoModelForSequenceClassification.from_pretrained(sys.argv[1], trust_remote_code=True)
assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
classify = pipeline("text-classification", model=sys.argv[1], trust_remote_code=True,
                    model_kwargs={"inference_dtype": "float32"})
print(json.dumps([answer["label"] for answer in classify(json.loads(sys.argv[2]))]))
"""


@pytest.fixture(scope="module")
def sample_test():
    test = load_imdb("sample", splits=("test",))["test"]
    return list(test["text"]), np.asarray(test["label"])


def test_the_default_model_is_inside_the_package_and_small():
    assert MODEL.parent == Path(imdb_lstm.__file__).parent
    assert (MODEL / "model.safetensors").stat().st_size <= MAX_MB * 1e6
    for name in (*MODEL_FOLDER_FILES, "README.md", "run_info.json", "eval_results.json"):
        assert (MODEL / name).is_file(), name


def test_its_code_files_are_the_packages_own():
    # The folder's copies are what remote code runs where imdb_lstm is not installed: they must not fall behind.
    package = Path(imdb_lstm.__file__).parent
    for name in [name for name in (*MODEL_FOLDER_FILES, *OPTIONAL_MODEL_FOLDER_FILES) if name.endswith(".py")]:
        assert (MODEL / name).read_bytes() == (package / name).read_bytes(), f"{name}: copy it into {MODEL}"
    assert json.loads((MODEL / "tokenizer_config.json").read_text())["tokenizer_class"] == "ImdbLstmTokenizer"


def test_it_loads_with_no_argument_and_scores_the_sample_test_reviews(sample_test):
    texts, labels = sample_test
    model, tokenizer = load_classifier()
    predicted = [model.config.label2id[answer["label"]] for answer in predict(model, tokenizer, texts)]
    # Measured 0.9+ on the sample's 1,000 test reviews (none of which any stage of the build read before scoring).
    assert np.mean(np.asarray(predicted) == labels) >= 0.88


def test_a_plain_pipeline_gives_the_predict_api_verdicts(sample_test):
    # Both in float32: batched differently, bfloat16 could flip a review that sits at 0.5 on another CPU.
    texts = sample_test[0][:64]
    classify = pipeline("text-classification", model=imdb_lstm.DEFAULT_MODEL,
                        model_kwargs={"inference_dtype": "float32"})
    model, tokenizer = load_classifier()
    assert [answer["label"] for answer in classify(texts, batch_size=16)] == \
        [answer["label"] for answer in predict(model, tokenizer, texts, dtype="float32")]


def test_a_copy_loads_through_remote_code_without_the_package(tmp_path, sample_test):
    copy = tmp_path / "default_model"
    shutil.copytree(MODEL, copy)
    texts = sample_test[0][:16]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", REMOTE_CODE_ONLY, str(copy), json.dumps(texts)],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    model, tokenizer = load_classifier()
    assert remote == [answer["label"] for answer in predict(model, tokenizer, texts, dtype="float32")]


def test_its_folder_records_the_build_and_a_test_score_read_once():
    run_info = json.loads((MODEL / "run_info.json").read_text())
    results = json.loads((MODEL / "eval_results.json").read_text())
    assert run_info["command"][0] == "imdb-lstm-build-default"
    assert set(run_info["stages"]) == {"word_vectors", "classifier", "compression", "test"}
    assert results["test_samples"] == 25000
    assert results["test_accuracy"] >= 0.925
    assert run_info["stages"]["word_vectors"]["excluded_texts"] > 0
