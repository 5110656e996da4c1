"""The Gradio demo (imdb_lstm.demo): served on a free local port and driven by headless Chromium through selenium
(type a review, press the button, read the label; a screenshot goes to outputs/), the Space folder it writes, and
its clear errors: an empty review, a folder that is not an imdb-lstm classifier, a port in use, no gradio."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import tiny_model

from imdb_lstm import ImdbLstmConfig, ImdbLstmForCausalLM
from imdb_lstm.demo import EXAMPLES, build_app, classify_and_explain, free_port, main, write_space
from imdb_lstm.predict import load_classifier, predict

pytest.importorskip("gradio")
pytest.importorskip("captum")

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "outputs" / "demo_screenshot.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,900"]
REVIEW = ("A wonderful, moving film: excellent acting and a beautiful score.<br /><br />The ending is a little "
          "slow, but I loved it.")
SERVER_START_SECONDS = 900  # gradio starts in seconds on an idle machine; one busy with other work can take minutes


def demo_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def wait_for_server(process: subprocess.Popen, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the demo exited with {process.returncode}: {process.stdout.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"the demo did not answer at {url} within {timeout} s")


@pytest.fixture
def served_demo(sample_model_dir):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "imdb_lstm.demo", "--model", str(sample_model_dir), "--port", str(port)],
        cwd=ROOT, env=demo_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_server(process, url, SERVER_START_SECONDS)
        yield url, port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                    reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)")
def test_a_real_browser_classifies_a_review_in_the_demo(served_demo, sample_model_dir, tmp_path):
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as expected
    from selenium.webdriver.support.ui import WebDriverWait

    url, port = served_demo
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    os.environ.setdefault("SE_AVOID_STATS", "true")  # selenium manager: no telemetry (the driver is given)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(120)
        driver.get(url)
        wait = WebDriverWait(driver, 300)
        box = wait.until(expected.element_to_be_clickable((By.CSS_SELECTOR, "#review textarea")))
        assert "sentiment" in driver.title.lower()
        # The three examples are on the page (the study's review first).
        assert EXAMPLES[0][:40] in driver.page_source.replace("&quot;", '"')

        box.send_keys(REVIEW)
        driver.find_element(By.CSS_SELECTOR, "#classify").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#explanation .imdb-lstm-word"))
        label = driver.find_element(By.CSS_SELECTOR, "#verdict [data-testid='label-output-value']").text.strip()
        verdict_text = driver.find_element(By.CSS_SELECTOR, "#verdict").text
        model, tokenizer = load_classifier(str(sample_model_dir))
        expected_result = predict(model, tokenizer, [REVIEW])[0]
        assert label == expected_result["label"] == "POSITIVE", verdict_text
        # Both probabilities are shown, as percentages.
        assert "NEGATIVE" in verdict_text and "POSITIVE" in verdict_text and "%" in verdict_text, verdict_text
        words = driver.find_elements(By.CSS_SELECTOR, "#explanation .imdb-lstm-word")
        assert [word.text for word in words][:3] == ["A", "wonderful", ","]
        assert "<br" not in driver.find_element(By.CSS_SELECTOR, "#explanation").text
        SCREENSHOT.parent.mkdir(exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))
        assert SCREENSHOT.read_bytes().startswith(b"\x89PNG")

        # An empty review: a clear message on the page, the server stays up. (Keys, not clear(): the page must see
        # the text go.)
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        driver.find_element(By.CSS_SELECTOR, "#classify").click()
        wait.until(lambda d: "The review is empty" in d.page_source)
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
    finally:
        driver.quit()


def test_the_app_and_its_handler_without_a_browser():
    model, tokenizer = tiny_model()
    probabilities, html = classify_and_explain(model, tokenizer, "A fine film.")
    assert set(probabilities) == {"NEGATIVE", "POSITIVE"} and abs(sum(probabilities.values()) - 1) < 1e-5
    assert html.count('class="imdb-lstm-word"') == 4
    for empty in ("", "   \n"):
        with pytest.raises(ValueError, match="The review is empty"):
            classify_and_explain(model, tokenizer, empty)
    import gradio as gr

    assert isinstance(build_app(model, tokenizer), gr.Blocks)
    assert len(EXAMPLES) == 3


def test_without_model_the_demo_serves_the_shipped_model(sample_model_dir, tmp_path, monkeypatch, capsys):
    """`imdb-lstm-demo` alone serves `imdb_lstm.DEFAULT_MODEL` (pointed here at the sample model: the shipped
    folder is built by `make model`), with the button's endpoint `/classify` for API clients; a Space written
    without --model carries that folder; an install without it says so, without a traceback."""
    from imdb_lstm import demo
    from imdb_lstm import predict as inference

    monkeypatch.setattr(inference, "DEFAULT_MODEL", str(sample_model_dir))
    served = []
    monkeypatch.setattr(demo, "launch", lambda app, port=None, **options: served.append((app, port)))
    assert main(["--port", "0"]) == 0
    assert "Serving the shipped model on http://127.0.0.1:" in capsys.readouterr().out
    (app, port), = served
    endpoints = {dependency.get("api_name"): dependency.get("api_visibility")
                 for dependency in app.get_config_file()["dependencies"]}
    assert endpoints["classify"] == "public" and port > 0
    assert main(["--write-space", str(tmp_path / "space")]) == 0
    assert (tmp_path / "space" / "model" / "model.safetensors").is_file()
    assert "MODEL = 'model'" in (tmp_path / "space" / "app.py").read_text()

    monkeypatch.setattr(inference, "DEFAULT_MODEL", str(tmp_path / "absent"))
    assert main(["--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "default model" in err.lower() and "Traceback" not in err, err
    assert len(served) == 1


def test_a_port_in_use_is_a_clear_error(sample_model_dir, capsys):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert main(["--model", str(sample_model_dir), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in err and "--port 0" in err


def test_a_folder_that_is_not_an_imdb_lstm_classifier_is_refused(tmp_path, capsys):
    from transformers import BertConfig

    empty = tmp_path / "empty"
    empty.mkdir()
    language_model = tmp_path / "lm"
    ImdbLstmForCausalLM(ImdbLstmConfig(vocab_size=50, hidden_size=4, embedding_dim=4)).save_pretrained(language_model)
    bert = tmp_path / "bert"
    BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
               intermediate_size=8).save_pretrained(bert)
    for folder, message in ((empty, "has no config.json, so it is not a saved model"),
                            (language_model, "holds an imdb-lstm language model (imdb-lstm-pretrain's output), not a "
                                             "classifier"),
                            (bert, "holds a bert model, not an imdb-lstm classifier"),
                            (tmp_path / "missing", "no such folder and not a Hub repo id")):
        assert main(["--model", str(folder), "--port", "0"]) == 2, folder
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
        assert main(["--model", str(folder), "--write-space", str(tmp_path / "space")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "space").exists()  # refused before anything was written


def test_without_gradio_the_command_says_how_to_install(sample_model_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)
    assert main(["--model", str(sample_model_dir), "--port", "0"]) == 2
    assert 'pip install "imdb-lstm[demo]"' in capsys.readouterr().err


def test_write_space_makes_a_folder_a_space_runs(sample_model_dir, tmp_path, capsys):
    space = tmp_path / "space"
    assert main(["--model", str(sample_model_dir), "--write-space", str(space)]) == 0
    assert "app.py" in capsys.readouterr().out
    assert {path.name for path in space.iterdir()} == {"app.py", "requirements.txt", "README.md", "model"}
    requirements = (space / "requirements.txt").read_text().splitlines()
    assert "imdb-lstm[demo]" in requirements and "torch" in requirements
    readme = (space / "README.md").read_text()
    assert readme.startswith("---\n") and "\nsdk: gradio\n" in readme and "\napp_file: app.py\n" in readme
    assert (space / "model" / "model.safetensors").is_file() and (space / "model" / "tokenizer.json").is_file()
    assert not list((space / "model").glob("checkpoint-*")) and not (space / "model" / "training_args.bin").exists()
    # Run as a Space runs it (without serving): the app builds around the copied model.
    check = ("import runpy; app = runpy.run_path('app.py', run_name='space'); import gradio; "
             "assert isinstance(app['demo'], gradio.Blocks); print(app['MODEL'])")
    result = subprocess.run([sys.executable, "-c", check], cwd=space, env=demo_env(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "model"
    # A second write does not replace the files without --overwrite; a repo id is written as is.
    assert main(["--model", str(sample_model_dir), "--write-space", str(space)]) == 2
    assert "already exist" in capsys.readouterr().err
    assert main(["--model", str(sample_model_dir), "--write-space", str(space), "--overwrite"]) == 0
