"""Sharing through the Hub, tested against `LocalHub` (tests/hub_server.py), a local stand-in for huggingface.co
that speaks the Hub's LFS protocol, checks tokens and hides private repos.

A small model is trained once (scripts/train.py on the shipped sample, tiny settings), pushed with
scripts/push_to_hub.py, and loaded back by repo id in fresh Python processes with an empty HF cache: once where
`imdb_lstm` cannot be imported (remote code), once with it installed (no remote code). Pushes and loads run in
subprocesses because `huggingface_hub` reads `HF_ENDPOINT` when it is imported; `huggingface_hub`'s own client
does all the talking.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file

from hub_server import LocalHub
from imdb_lstm.training import finetune as training
from imdb_lstm.cards import MODEL_FOLDER_FILES, render_model_card
from imdb_lstm.hub import MODEL_REPO_FILES, push_trained_model
from imdb_lstm.predict import load_classifier, predict_proba

ROOT = Path(__file__).resolve().parent.parent
PUSH_SCRIPT = ROOT / "scripts" / "push_to_hub.py"
SECRET = "hf_localTestToken0123456789abcdefNEVERPRINTED"  # the token of user "tester"
OTHER_USER_TOKEN = "hf_localTestTokenOfSomeoneElse0123456789"
TEXTS = [
    "A wonderful, moving film with a brilliant cast.",
    "This movie was a waste of time: wooden acting and a predictable plot.",
    "",
]
REPO_FILES = {*MODEL_FOLDER_FILES, "README.md", "model.safetensors", "confusion_matrix.png", "eval_results.json"}

# Runs in a fresh interpreter: loads the repo by id and prints what it got as JSON. Mode "remote" first makes
# `imdb_lstm` unimportable (as for a user who never installed it), so only the repo's own code can be used.
# A load that fails prints {"error": <exception type>, "message": ...} and exits with 3.
LOADER = r'''
import json, sys
mode, repo_id = sys.argv[1], sys.argv[2]
texts = json.loads(sys.argv[3])

class NoImdbLstm:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "imdb_lstm":
            raise ModuleNotFoundError(f"No module named {name!r} (hidden for this test)")

if mode == "remote":
    sys.meta_path.insert(0, NoImdbLstm())
try:
    import imdb_lstm  # noqa: F401  (with it, the Auto classes know the model without remote code)
    importable = True
except ImportError:
    importable = False

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

remote = mode == "remote"
try:
    tokenizer = AutoTokenizer.from_pretrained(repo_id, trust_remote_code=remote)
    model = AutoModelForSequenceClassification.from_pretrained(repo_id, trust_remote_code=remote).eval()
except Exception as error:
    print(json.dumps({"error": type(error).__name__, "cause": type(error.__cause__).__name__, "message": str(error)}))
    sys.exit(3)
with torch.no_grad():
    probabilities = [model(**tokenizer([text], truncation=True, return_tensors="pt")).logits.softmax(-1)[0].tolist()
                     for text in texts]
classifier = pipeline("text-classification", model=repo_id, trust_remote_code=remote, top_k=None)
scores = [{row["label"]: row["score"] for row in rows} for rows in classifier(texts)]
print(json.dumps({"imdb_lstm_importable": importable, "model_module": type(model).__module__,
                  "max_length": tokenizer.model_max_length, "probabilities": probabilities, "pipeline": scores}))
'''


def train_tiny_model(output_dir: Path) -> None:
    training.main([
        "--dataset", "sample", "--output_dir", str(output_dir), "--num_train_epochs", "1",
        "--max_train_samples", "200", "--max_eval_samples", "100", "--hidden_size", "16",
        "--vocab_size", "3000", "--max_length", "128", "--disable_tqdm", "true", "--report_to", "none",
    ])


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory) -> Path:
    output_dir = tmp_path_factory.mktemp("trained") / "imdb-lstm-tiny"
    train_tiny_model(output_dir)
    return output_dir


@pytest.fixture(scope="module")
def hub():
    server = LocalHub(tokens={SECRET: "tester", OTHER_USER_TOKEN: "someone-else"}).start()
    yield server
    server.stop()
    # An endpoint the clients needed and LocalHub does not emulate answered 501; a test may have passed anyway.
    assert not server.unhandled, f"requests LocalHub does not emulate: {server.unhandled}"


def hub_env(hub: LocalHub, hf_home: Path, token: str | None) -> dict:
    """The environment of a fresh user of `hub`: no HF settings of ours leak in, an empty HF home (no cached
    login, no cached files), and the token only if given. Xet is off: with `hf_xet` installed the client would
    send every large file through Xet, which LocalHub does not emulate; without it, the Hub's LFS path."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_")) and name != "PYTHONPATH"}
    # The checkout's package, not whatever copy is installed (a wheel, another worktree's editable install).
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(hf_home), HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1",
               PYTHONPATH=str(ROOT))
    if token:
        env["HF_TOKEN"] = token
    return env


def run_push(hub, tmp_path, *args, token=SECRET) -> subprocess.CompletedProcess:
    hf_home = Path(tmp_path) / f"hf_home_push_{len(hub.requests)}"
    return subprocess.run([sys.executable, str(PUSH_SCRIPT), *args], env=hub_env(hub, hf_home, token),
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)


def run_loader(hub, tmp_path, mode: str, repo_id: str, token: str | None = None, expect_failure: bool = False) -> dict:
    work = Path(tmp_path) / f"load_{mode}_{len(hub.requests)}"
    work.mkdir()
    (work / "loader.py").write_text(LOADER)
    result = subprocess.run(
        [sys.executable, "-I", "loader.py", mode, repo_id, json.dumps(TEXTS)],
        env=hub_env(hub, work / "hf_home", token=token), cwd=work, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == (3 if expect_failure else 0), result.stdout[-2000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pushed(hub, trained_dir, tmp_path_factory):
    """The tiny model pushed to tester/imdb-lstm-tiny with HF_TOKEN; the push's CompletedProcess."""
    result = run_push(hub, tmp_path_factory.mktemp("push"), "--model_dir", str(trained_dir),
                      "--repo_id", "tester/imdb-lstm-tiny")
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_push_sends_the_model_repo_files_and_nothing_else(hub, trained_dir, pushed):
    files = hub.repos["tester/imdb-lstm-tiny"].files("main")
    assert REPO_FILES <= set(files)
    assert any(trained_dir.glob("checkpoint-*")) and (trained_dir / "training_args.bin").is_file()  # left behind
    assert not [path for path in files if path.startswith("checkpoint-") or path in
                ("training_args.bin", "trainer_state.json", "test_predictions.jsonl", "optimizer.pt")]
    assert set(files) - {".gitattributes"} <= {path.name for path in trained_dir.iterdir()}
    assert all(any(Path(path).match(pattern) for pattern in MODEL_REPO_FILES) for path in set(files) - {".gitattributes"})
    assert files["model.safetensors"] == (trained_dir / "model.safetensors").read_bytes()
    assert "auto_map" in json.loads(files["config.json"])


def test_push_uses_the_token_and_never_prints_it(hub, pushed):
    assert SECRET in hub.tokens_received()
    assert SECRET not in pushed.stdout + pushed.stderr
    assert pushed.stdout.strip().endswith(hub.repos["tester/imdb-lstm-tiny"].branches["main"])
    assert not [path for path, content in hub.repos["tester/imdb-lstm-tiny"].files("main").items()
                if SECRET.encode() in content]


def test_pushed_card_carries_the_runs_metrics_and_facts(hub, trained_dir, pushed, tmp_path):
    files = hub.repos["tester/imdb-lstm-tiny"].files("main")
    (tmp_path / "README.md").write_bytes(files["README.md"])
    card = ModelCard.load(tmp_path / "README.md")
    eval_results = json.loads((trained_dir / "eval_results.json").read_text())
    config = json.loads((trained_dir / "config.json").read_text())
    max_length = json.loads((trained_dir / "tokenizer_config.json").read_text())["model_max_length"]

    assert card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "text-classification"
    assert card.data.datasets == ["stanfordnlp/imdb"]
    assert card.data.language == "en" and card.data.license and card.data.tags
    reported = {result.metric_type: result.metric_value for result in card.data.eval_results}
    assert reported == {key: eval_results[f"test_{key}"] for key in ("accuracy", "tpr", "tnr", "fnr", "fpr")}
    assert {result.dataset_type for result in card.data.eval_results} == {"stanfordnlp/imdb"}
    assert {result.dataset_split for result in card.data.eval_results} == {"test"}

    body = card.text
    assert f"`{config['embedding_source']}`" in body
    assert f"{100 * config['embedding_coverage']:.1f}%" in body
    assert f"{config['vocab_size']:,} words" in body
    assert f"{max_length} tokens" in body
    assert f"{eval_results['test_accuracy']:.4f}" in body
    assert "](confusion_matrix.png)" in body and "confusion_matrix.png" in files
    assert 'trust_remote_code=True' in body and "import imdb_lstm" in body
    # Install instructions that work today (the package is not on PyPI yet), PyPI only as the future.
    assert "`pip install .`" in body and "once it is published on PyPI, `pip install imdb-lstm`" in body
    assert "| `max_train_samples` | `200` |" in body  # the recipe comes from run_info.json
    assert card.content == (trained_dir / "README.md").read_text()  # the local folder keeps the same card


def test_load_by_repo_id_with_remote_code_and_no_imdb_lstm(hub, trained_dir, pushed, tmp_path):
    model, tokenizer = load_classifier(str(trained_dir))
    expected = predict_proba(model, tokenizer, TEXTS)

    loaded = run_loader(hub, tmp_path, "remote", "tester/imdb-lstm-tiny")

    assert loaded["imdb_lstm_importable"] is False
    assert loaded["model_module"].startswith("transformers_modules.")  # the repo's own modeling file
    assert loaded["max_length"] == tokenizer.model_max_length
    torch.testing.assert_close(torch.tensor(loaded["probabilities"]), expected, rtol=0, atol=1e-5)
    pipeline_probabilities = torch.tensor([[row["NEGATIVE"], row["POSITIVE"]] for row in loaded["pipeline"]])
    torch.testing.assert_close(pipeline_probabilities, expected, rtol=0, atol=1e-5)


def test_load_by_repo_id_without_remote_code_when_imdb_lstm_is_installed(hub, trained_dir, pushed, tmp_path):
    model, tokenizer = load_classifier(str(trained_dir))
    expected = predict_proba(model, tokenizer, TEXTS)

    loaded = run_loader(hub, tmp_path, "installed", "tester/imdb-lstm-tiny")

    assert loaded["imdb_lstm_importable"] is True
    assert loaded["model_module"] == "imdb_lstm.modeling_imdb_lstm"
    torch.testing.assert_close(torch.tensor(loaded["probabilities"]), expected, rtol=0, atol=1e-5)


def test_push_sends_weights_and_images_through_lfs_and_a_clean_process_loads_them_back(hub, trained_dir, pushed,
                                                                                       tmp_path):
    head = hub.repos["tester/imdb-lstm-tiny"].resolve("main")
    weights_oid = hashlib.sha256((trained_dir / "model.safetensors").read_bytes()).hexdigest()
    # Stored in LFS under the local file's sha256, and committed as lfsFile entries, not inline.
    assert head.lfs["model.safetensors"] == weights_oid
    assert "confusion_matrix.png" in head.lfs, sorted(head.lfs)
    assert {"config.json", "README.md", "modeling_imdb_lstm.py", "tokenizer.json"}.isdisjoint(head.lfs)
    assert {("lfsFile", "model.safetensors"), ("lfsFile", "confusion_matrix.png"), ("file", "config.json")} \
        <= set(head.operations)
    # The LFS protocol: batch on the Hub, the content to storage (no Hub token leaves the Hub), verify on the Hub.
    assert hub.requests_to("hub", "POST", "/tester/imdb-lstm-tiny.git/info/lfs/objects/batch")
    uploads = hub.requests_to("storage", "PUT", f"/upload/{weights_oid}")
    assert [(upload["status"], upload["token"]) for upload in uploads] == [(200, None)]
    verified = hub.requests_to("hub", "POST", "/tester/imdb-lstm-tiny.git/info/lfs/objects/verify")
    assert [r["status"] for r in verified] == [200] * len(head.lfs)  # one verified upload per LFS file

    first_request = len(hub.requests)
    loaded = run_loader(hub, tmp_path, "installed", "tester/imdb-lstm-tiny")
    during_load = hub.requests[first_request:]
    # The weights came through the Hub's redirect to storage, fetched there without the token.
    weights_resolved = [r["status"] for r in during_load if r["path"].startswith("/tester/imdb-lstm-tiny/resolve/")
                        and r["path"].endswith("/model.safetensors")]
    assert weights_resolved and set(weights_resolved) == {302}
    assert [(r["method"], r["path"], r["token"], r["status"]) for r in during_load if r["server"] == "storage"] == [
        ("GET", f"/lfs/{weights_oid}", None, 200)]
    model, tokenizer = load_classifier(str(trained_dir))
    torch.testing.assert_close(torch.tensor(loaded["probabilities"]), predict_proba(model, tokenizer, TEXTS),
                               rtol=0, atol=1e-5)


@pytest.mark.slow  # about 30 s: several pushes and reads through the local Hub
def test_a_private_repo_is_readable_only_with_its_owners_token(hub, trained_dir, tmp_path):
    pushed = run_push(hub, tmp_path, "--model_dir", str(trained_dir), "--repo_id", "tester/imdb-lstm-secret",
                      "--private")
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    assert hub.repos["tester/imdb-lstm-secret"].private

    for token, status in ((None, 401), (OTHER_USER_TOKEN, 404)):
        first_request = len(hub.requests)
        refused = run_loader(hub, tmp_path, "installed", "tester/imdb-lstm-secret", token=token, expect_failure=True)
        assert refused["error"] == "OSError" and refused["cause"] == "RepositoryNotFoundError", refused
        assert "tester/imdb-lstm-secret" in refused["message"] and "token" in refused["message"]
        answered = [r for r in hub.requests[first_request:] if "imdb-lstm-secret" in r["path"]]
        assert answered and {r["status"] for r in answered} == {status}
        assert not [r for r in hub.requests[first_request:] if r["server"] == "storage"]

    model, tokenizer = load_classifier(str(trained_dir))
    loaded = run_loader(hub, tmp_path, "installed", "tester/imdb-lstm-secret", token=SECRET)
    torch.testing.assert_close(torch.tensor(loaded["probabilities"]), predict_proba(model, tokenizer, TEXTS),
                               rtol=0, atol=1e-5)


def test_a_token_the_hub_does_not_know_is_refused(hub, trained_dir, tmp_path):
    result = run_push(hub, tmp_path, "--model_dir", str(trained_dir), "--repo_id", "tester/unknown-token",
                      token="hf_notATokenTheHubIssued000000000000")
    assert result.returncode == 1
    assert "401" in result.stderr and "Invalid credentials" in result.stderr and "Traceback" not in result.stderr
    assert "tester/unknown-token" not in hub.repos
    # Nor may a known user write under another user's name.
    result = run_push(hub, tmp_path, "--model_dir", str(trained_dir), "--repo_id", "tester/not-yours",
                      token=OTHER_USER_TOKEN)
    assert result.returncode == 1 and "403" in result.stderr and "tester/not-yours" not in hub.repos


def test_push_without_a_token_says_how_to_give_one(hub, trained_dir, tmp_path):
    result = run_push(hub, tmp_path, "--model_dir", str(trained_dir), "--repo_id", "tester/no-token", token=None)

    assert result.returncode == 1
    for hint in ("HF_TOKEN", "hf auth login", "--token", "--hub_token"):
        assert hint in result.stderr
    assert "Traceback" not in result.stderr
    assert "tester/no-token" not in hub.repos


def copy_of_model(trained_dir: Path, destination: Path) -> Path:
    return Path(shutil.copytree(trained_dir, destination, ignore=shutil.ignore_patterns("checkpoint-*")))


def test_a_file_holding_the_token_is_never_pushed(trained_dir, tmp_path, caplog):
    model_dir = copy_of_model(trained_dir, tmp_path / "model")
    run_info = json.loads((model_dir / "run_info.json").read_text())
    run_info["command"] += ["--hub_token", SECRET]  # what a token on train.py's command line would leave
    (model_dir / "run_info.json").write_text(json.dumps(run_info))

    # Refused before any request is made, so this runs in-process with no Hub at all.
    with pytest.raises(ValueError, match="run_info.json contains your Hugging Face token") as error:
        push_trained_model(model_dir, repo_id="tester/leak", token=SECRET)
    assert SECRET not in str(error.value) and SECRET not in caplog.text


def test_private_push_to_a_branch_then_a_second_push_updates_it(hub, trained_dir, tmp_path):
    model_dir = copy_of_model(trained_dir, tmp_path / "model")
    first = run_push(hub, tmp_path, "--model_dir", str(model_dir), "--repo_id", "tester/imdb-lstm-private",
                     "--private", "--revision", "dev")
    assert first.returncode == 0, first.stderr[-3000:]
    repo = hub.repos["tester/imdb-lstm-private"]
    assert repo.private
    assert REPO_FILES <= set(repo.files("dev"))
    assert set(repo.files("main")) == {".gitattributes"}  # the branch got the model, main did not
    first_commit = repo.branches["dev"]

    # A new training result: other weights and another test accuracy.
    weights = load_file(model_dir / "model.safetensors")
    weights["classifier.bias"] = weights["classifier.bias"] + 1.0
    save_file(weights, model_dir / "model.safetensors", metadata={"format": "pt"})
    eval_results = json.loads((model_dir / "eval_results.json").read_text())
    eval_results["test_accuracy"] = 0.123456
    (model_dir / "eval_results.json").write_text(json.dumps(eval_results))
    second = run_push(hub, tmp_path, "--model_dir", str(model_dir), "--repo_id", "tester/imdb-lstm-private",
                      "--revision", "dev", "--commit_message", "Retrained")

    assert second.returncode == 0, second.stderr[-3000:]
    files = repo.files("dev")
    assert repo.branches["dev"] != first_commit and repo.resolve("dev").message == "Retrained"
    assert files["model.safetensors"] == (model_dir / "model.safetensors").read_bytes()
    assert "value: 0.123456" in files["README.md"].decode()


def test_card_shows_the_recipe_benchmark_row_when_there_is_one(trained_dir, tmp_path):
    rows = [
        {"name": "bigru-other", "accuracy": 0.85, "tpr": 0.8, "tnr": 0.9, "fnr": 0.2, "fpr": 0.1,
         "train_seconds": 100.0, "model_mb": 9.0, "machine": "laptop", "date": "2025-01-01"},
        {"name": "bilstm-recipe", "accuracy": 0.8912, "tpr": 0.9011, "tnr": 0.8813, "fnr": 0.0989, "fpr": 0.1187,
         "train_seconds": 1234.0, "model_mb": 8.2, "machine": "2-core CPU", "date": "2025-02-03", "recipe": True},
    ]
    (tmp_path / "accuracy.json").write_text(json.dumps(rows))

    with_benchmark = render_model_card(trained_dir, "tester/x", benchmarks_file=tmp_path / "accuracy.json").text
    without_benchmark = render_model_card(trained_dir, "tester/x", benchmarks_file=tmp_path / "missing.json").text

    assert "| bilstm-recipe | 0.8912 | 0.9011 | 0.8813 | 0.0989 | 0.1187 | 1234 s | 8.2 MB | 2-core CPU | 2025-02-03 |" \
        in with_benchmark
    assert "bigru-other" not in with_benchmark
    assert "bilstm-recipe" not in without_benchmark and "## Intended use and limitations" in without_benchmark


def test_card_renders_without_run_info_and_refuses_a_run_without_test_metrics(trained_dir, tmp_path):
    model_dir = copy_of_model(trained_dir, tmp_path / "model")
    (model_dir / "run_info.json").unlink()
    card = render_model_card(model_dir, "tester/x", benchmarks_file=None)
    assert "no `run_info.json`" in card.text and len(card.data.eval_results) == 5

    eval_results = json.loads((model_dir / "eval_results.json").read_text())
    (model_dir / "eval_results.json").write_text(json.dumps({k: v for k, v in eval_results.items()
                                                             if not k.startswith("test_")}))
    with pytest.raises(ValueError, match="has no test_accuracy, test_tpr.*do_predict"):
        render_model_card(model_dir, "tester/x", benchmarks_file=None)


def test_the_default_model_folder_is_pushed_with_its_card_and_loads_back_by_repo_id(hub, trained_dir, tmp_path):
    """A folder of imdb-lstm-build-default (faked from the tiny model, tests/test_cards.py) through imdb-lstm-push:
    its own card and records go up, and `pipeline("text-classification", model=repo_id)` predicts as the folder."""
    from test_cards import DEFAULT_EVAL_RESULTS, make_default_model_dir

    model_dir = make_default_model_dir(trained_dir, tmp_path / "default_model")
    result = run_push(hub, tmp_path, "--model_dir", str(model_dir), "--repo_id", "tester/imdb-lstm-default")
    assert result.returncode == 0, result.stderr[-3000:]

    files = hub.repos["tester/imdb-lstm-default"].files("main")
    assert REPO_FILES | {"run_info.json"} <= set(files)
    assert json.loads(files["run_info.json"])["stages"]["classifier"]["chosen"] == "bilstm128_normalised"
    (tmp_path / "README.md").write_bytes(files["README.md"])
    card = ModelCard.load(tmp_path / "README.md")
    assert card.content == (model_dir / "README.md").read_text()
    assert {result.metric_type: result.metric_value for result in card.data.eval_results}["accuracy"] == \
        DEFAULT_EVAL_RESULTS["test_accuracy"]
    assert "## How it was built" in card.text and "| Accuracy | 0.9234 |" in card.text
    assert 'model="tester/imdb-lstm-default", trust_remote_code=True' in card.text

    model, tokenizer = load_classifier(str(model_dir))
    expected = predict_proba(model, tokenizer, TEXTS)
    loaded = run_loader(hub, tmp_path, "installed", "tester/imdb-lstm-default")  # pipeline(..., model=repo_id)
    pipeline_probabilities = torch.tensor([[row["NEGATIVE"], row["POSITIVE"]] for row in loaded["pipeline"]])
    torch.testing.assert_close(pipeline_probabilities, expected, rtol=0, atol=1e-5)


def test_a_model_of_own_data_is_pushed_with_a_card_of_its_labels_and_the_data_described(hub, tmp_path):
    """A 3-class model of the user's CSVs through imdb-lstm-push: the name recorded at training, the description and
    the licence given at push time, its own labels and macro-F1 on the pushed card."""
    from helpers import TINY_FINETUNING, write_three_class_csvs
    from imdb_lstm.commands import train as train_command

    data = tmp_path / "data"
    data.mkdir()
    write_three_class_csvs(data, train_count=60, test_count=20)
    model_dir = tmp_path / "genres"
    results = train_command.main(["--dataset", str(data), "--text_column", "review", "--label_column", "genre",
                                  "--dataset_name", "Planted genres", *TINY_FINETUNING, "--output_dir", str(model_dir)])
    result = run_push(hub, tmp_path, "--model_dir", str(model_dir), "--repo_id", "tester/genres",
                      "--dataset_description", "Sample reviews with a planted genre word.", "--license", "mit",
                      "--explain_example", "false")
    assert result.returncode == 0, result.stderr[-3000:]

    files = hub.repos["tester/genres"].files("main")
    (tmp_path / "README.md").write_bytes(files["README.md"])
    card = ModelCard.load(tmp_path / "README.md")
    assert card.content == (model_dir / "README.md").read_text()
    assert card.data.datasets == ["Planted genres"] and card.data.license == "mit"
    assert "| 0 | comedy |\n| 1 | drama |\n| 2 | horror |" in card.text
    assert f"| Macro-F1 | {results['test_macro_f1']:.4f} |" in card.text
    assert "Sample reviews with a planted genre word." in card.text and "example_explained.png" not in files
    assert "NEGATIVE" not in card.text and str(tmp_path) not in card.text


# -- The user's own labels, end to end, for each problem type: train -> pipeline -> explain -> card -> push -> load by
# repo id (remote code, no imdb_lstm) -> the same outputs.

OWN_DATA_RUNS = {
    "single_label_classification": ["--label_column", "genre"],
    "multi_label_classification": ["--label_column", "genres", "--problem_type", "multi_label_classification",
                                   "--num_train_epochs", "4"],
    "regression": ["--label_column", "intensity", "--problem_type", "regression", "--num_train_epochs", "4"],
}


@pytest.mark.parametrize("problem_type", sorted(OWN_DATA_RUNS))
def test_own_labels_train_explain_push_and_load_back_with_the_same_outputs(hub, tmp_path, problem_type):
    from helpers import TINY_FINETUNING, write_multi_label_and_regression_csvs, write_three_class_csvs
    from transformers import pipeline

    from imdb_lstm.commands import train as train_command
    from imdb_lstm.explain import explain_labels
    from imdb_lstm.predict import predict

    data = tmp_path / "data"
    data.mkdir()
    if problem_type == "single_label_classification":
        write_three_class_csvs(data, train_count=120, test_count=20)
    else:
        write_multi_label_and_regression_csvs(data, train_count=160, test_count=20)
    model_dir = tmp_path / "model"
    train_command.main(["--dataset", str(data), "--text_column", "review", *OWN_DATA_RUNS[problem_type], *TINY_FINETUNING,
                        "--dataset_name", "Planted words", "--output_dir", str(model_dir)])
    texts = ["tearful and terrifying superb superb, a long night", "hilarious from start to end", ""]

    # The saved model through a plain pipeline reads its outputs as the package does: softmax, sigmoid or value.
    classifier = pipeline("text-classification", model=str(model_dir), top_k=None)
    local = [{row["label"]: row["score"] for row in rows} for rows in classifier(texts)]
    model, tokenizer = load_classifier(str(model_dir))
    for scores, result in zip(local, predict(model, tokenizer, texts)):
        if problem_type == "regression":
            assert scores == {"intensity": pytest.approx(result["value"], abs=2e-2)}
        else:
            assert scores == pytest.approx({name: result[f"p_{name}"] for name in scores}, abs=2e-2)

    # Explained: the words' scores add up to the explained quantity's change, and the explanation's figures are the
    # model's.
    for explanation in explain_labels(model, tokenizer, texts[0]):
        assert explanation.problem_type == problem_type
        assert abs(explanation.total - explanation.difference) <= 0.01 * max(abs(explanation.difference), 1e-3)
        if problem_type == "regression":
            assert explanation.value == pytest.approx(local[0]["intensity"], abs=2e-2)
        else:
            assert explanation.probabilities == pytest.approx(local[0], abs=2e-2)

    # The card (with the first test review explained) goes up with the model; a fresh process without imdb_lstm loads
    # it by repo id and its pipeline gives the same outputs.
    repo_id = f"tester/planted-{problem_type.replace('_', '-')}"
    result = run_push(hub, tmp_path, "--model_dir", str(model_dir), "--repo_id", repo_id)
    assert result.returncode == 0, result.stderr[-3000:]
    files = hub.repos[repo_id].files("main")
    card = files["README.md"].decode()
    assert "example_explained.png" in files and "example_explained.png" in card and "Planted words" in card
    loaded = run_loader(hub, tmp_path, "remote", repo_id)
    assert loaded["model_module"].startswith("transformers_modules.")
    expected = [{row["label"]: row["score"] for row in rows} for rows in classifier(TEXTS)]
    assert loaded["pipeline"] == [pytest.approx(scores, abs=1e-5) for scores in expected]


# -- A pretrained language model and a classifier fine-tuned from it, both through the Hub.

LANGUAGE_MODEL_LOADER = r'''
import json, sys
class NoImdbLstm:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "imdb_lstm":
            raise ModuleNotFoundError(f"No module named {name!r} (hidden for this test)")
sys.meta_path.insert(0, NoImdbLstm())
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True)
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
batch = tokenizer([sys.argv[2]], return_tensors="pt")
with torch.no_grad():
    loss = model(**batch, labels=batch["input_ids"]).loss.item()
print(json.dumps({"model_module": type(model).__module__, "loss": loss}))
'''


@pytest.mark.slow
def test_a_pretrained_language_model_and_a_classifier_fine_tuned_from_it_round_trip(hub, tmp_path):
    from imdb_lstm.training import pretrain as pretraining

    lm_dir = tmp_path / "imdb-lm-tiny"
    pretraining.main(["--dataset", "sample", "--output_dir", str(lm_dir), "--max_steps", "5", "--hidden_size", "16",
                      "--block_size", "32", "--vocab_size", "3000", "--max_train_texts", "300", "--glove", "none",
                      "--embedding_dim", "16", "--save_strategy", "no", "--eval_strategy", "no",
                      "--disable_tqdm", "true", "--report_to", "none"])
    pushed_lm = run_push(hub, tmp_path, "--model_dir", str(lm_dir), "--repo_id", "tester/imdb-lm-tiny")
    assert pushed_lm.returncode == 0, pushed_lm.stderr[-3000:]
    files = hub.repos["tester/imdb-lm-tiny"].files("main")
    assert {"README.md", "config.json", "model.safetensors", "modeling_imdb_lstm.py", "tokenizer.json"} <= set(files)
    card = files["README.md"].decode()
    eval_results = json.loads((lm_dir / "eval_results.json").read_text())
    train_results = json.loads((lm_dir / "train_results.json").read_text())
    assert f"{eval_results['eval_perplexity']:.2f}" in card and f"{train_results['train_tokens']:,}" in card
    assert "`sample`, splits `train,unsupervised`" in card

    # The language model by repo id, through its own code only.
    work = tmp_path / "load_lm"
    work.mkdir()
    (work / "loader.py").write_text(LANGUAGE_MODEL_LOADER)
    text = "a wonderful film with a brilliant cast"
    result = subprocess.run([sys.executable, "-I", "loader.py", "tester/imdb-lm-tiny", text], cwd=work,
                            env=hub_env(hub, work / "hf_home", None), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(lm_dir)
    batch = tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        expected_loss = AutoModelForCausalLM.from_pretrained(lm_dir).eval()(**batch, labels=batch["input_ids"]).loss
    assert loaded["model_module"].startswith("transformers_modules.")
    assert loaded["loss"] == pytest.approx(expected_loss.item(), rel=1e-5)

    # Fine-tuned from the repo id, pushed at the end of training, and loaded back by repo id.
    classifier_dir = tmp_path / "imdb-ft-tiny"
    fine_tune = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "--dataset", "sample", "--model_name_or_path",
         "tester/imdb-lm-tiny", "--output_dir", str(classifier_dir), "--num_train_epochs", "1",
         "--max_train_samples", "100", "--max_eval_samples", "50", "--max_length", "64", "--disable_tqdm", "true",
         "--report_to", "none", "--push_to_hub", "true", "--hub_model_id", "tester/imdb-ft-tiny"],
        env=hub_env(hub, tmp_path / "hf_home_fine_tune", SECRET), cwd=tmp_path, capture_output=True, text=True,
        timeout=300)
    assert fine_tune.returncode == 0, fine_tune.stderr[-3000:]
    assert "tester/imdb-lm-tiny" in json.loads((classifier_dir / "config.json").read_text())["embedding_source"]
    model, classifier_tokenizer = load_classifier(str(classifier_dir))
    assert classifier_tokenizer.get_vocab() == tokenizer.get_vocab()
    loaded = run_loader(hub, tmp_path, "remote", "tester/imdb-ft-tiny")
    torch.testing.assert_close(torch.tensor(loaded["probabilities"]), predict_proba(model, classifier_tokenizer, TEXTS),
                               rtol=0, atol=1e-5)
