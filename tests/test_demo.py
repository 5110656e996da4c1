"""The Gradio demo (imdb_lstm.demo): served on a free local port and driven by headless Chromium through selenium
(type a review, press the button, read the label; a screenshot goes to outputs/), for the IMDB model and for a model
of three labels (every label's probability on the page, the words coloured for the label picked); its handler for
three labels, multi-label and regression (tiny trainings on planted words); the Space folder it writes; and its clear
errors: an empty review, a folder that is not an imdb-lstm classifier, a port in use, no gradio."""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from helpers import (PLANTED, finetune_on_csvs, tiny_model, write_multi_label_and_regression_csvs,
                     write_three_class_csvs)

from imdb_lstm import ImdbLstmConfig, ImdbLstmForCausalLM
from imdb_lstm.demo import (EXAMPLES, PREDICTED, TITLE, build_app, classify_and_explain, explain_for, free_port, main,
                            write_space)
from imdb_lstm.predict import load_classifier, predict, predict_logits

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
# Texts for the planted-word models (tests/helpers.py: a genre's word at both ends of each training review).
GENRE_TEXT = "hilarious hilarious : a story of a family, funny and hilarious to the end . hilarious"
GENRES_TEXT = "hilarious tearful : a story of a family , funny and sad . hilarious tearful"
EXPLAINED_LINE = re.compile(r'class="imdb-lstm-demo-explained"[^>]*>Words coloured for <strong>([^<]+)</strong> '
                            r'\(([^)]+)\)')


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


@contextlib.contextmanager
def serving(*demos):
    """Each demo, (model folder, *flags of imdb-lstm-demo), served on a free port in a process of its own, all
    started at once: yields their URLs once each answers."""
    processes, urls = [], []
    try:
        for model_dir, *flags in demos:
            port = free_port()
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "imdb_lstm.demo", "--model", str(model_dir), "--port", str(port), *flags],
                cwd=ROOT, env=demo_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            urls.append(f"http://127.0.0.1:{port}/")
        for process, url in zip(processes, urls):
            wait_for_server(process, url, SERVER_START_SECONDS)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def three_class_model_dir(tmp_path_factory):
    """A tiny training on three genres (comedy, drama, horror), each with its word planted in the reviews."""
    output_dir = tmp_path_factory.mktemp("genre_model")
    finetune_on_csvs(write_three_class_csvs(tmp_path_factory.mktemp("genres")), output_dir, "--label_column", "genre")
    return output_dir


@pytest.fixture(scope="module")
def planted_models(tmp_path_factory):
    """{"multi_label": folder, "regression": folder}: tiny trainings on reviews with one or two planted genre words
    (the `genres` they list) and 0-3 planted "superb"s (their `intensity`)."""
    data = write_multi_label_and_regression_csvs(tmp_path_factory.mktemp("planted"))
    folders = {}
    for name, label_column, problem_type in (("multi_label", "genres", "multi_label_classification"),
                                              ("regression", "intensity", "regression")):
        folders[name] = tmp_path_factory.mktemp(name)
        finetune_on_csvs(data, folders[name], "--label_column", label_column, "--problem_type", problem_type,
                         "--num_train_epochs", "4")
    return folders


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                    reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)")
def test_a_real_browser_classifies_a_review_in_the_demo(sample_model_dir, three_class_model_dir, tmp_path):
    """One Chromium, two demos: the IMDB model (its title, examples, both probabilities, coloured words, an empty
    review's message), then a model of three labels served with an example of the caller's (every label's
    probability on the page, the words coloured for the predicted label, then for the label picked)."""
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as expected
    from selenium.webdriver.support.ui import WebDriverWait

    genre_example = "A tearful goodbye between two sisters, told with care."
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    os.environ.setdefault("SE_AVOID_STATS", "true")  # selenium manager: no telemetry (the driver is given)
    with serving((sample_model_dir,), (three_class_model_dir, "--example", genre_example)) as (url, genre_url):
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        try:
            driver.set_page_load_timeout(120)
            wait = WebDriverWait(driver, 300)
            check_the_imdb_demo(driver, wait, url, sample_model_dir, By, Keys, expected)
            check_a_three_label_demo(driver, wait, genre_url, three_class_model_dir, genre_example, By, expected)
        finally:
            driver.quit()


def check_the_imdb_demo(driver, wait, url, model_dir, By, Keys, expected):
    driver.get(url)
    box = wait.until(expected.element_to_be_clickable((By.CSS_SELECTOR, "#review textarea")))
    assert "sentiment" in driver.title.lower()
    # The three examples are on the page (the study's review first).
    assert EXAMPLES[0][:40] in driver.page_source.replace("&quot;", '"')

    box.send_keys(REVIEW)
    driver.find_element(By.CSS_SELECTOR, "#classify").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#explanation .imdb-lstm-word"))
    label = driver.find_element(By.CSS_SELECTOR, "#verdict [data-testid='label-output-value']").text.strip()
    verdict_text = driver.find_element(By.CSS_SELECTOR, "#verdict").text
    model, tokenizer = load_classifier(str(model_dir))
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

    # An empty review: a clear message on the page, the server stays up. (Keys, not clear(): the page must see the
    # text go.)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    driver.find_element(By.CSS_SELECTOR, "#classify").click()
    wait.until(lambda d: "The review is empty" in d.page_source)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200


def check_a_three_label_demo(driver, wait, url, model_dir, example, By, expected):
    driver.get(url)
    box = wait.until(expected.element_to_be_clickable((By.CSS_SELECTOR, "#review textarea")))
    # Title, introduction and examples are the model's, not the IMDB model's.
    assert driver.title == "Why this verdict? An LSTM classifier of 3 labels"
    page = driver.page_source.replace("&quot;", '"')
    assert example in page and EXAMPLES[0][:40] not in page and "movie review" not in page
    model, tokenizer = load_classifier(str(model_dir))
    probabilities = {name: float(p) for name, p in zip(PLANTED, predict_logits(model, tokenizer, [GENRE_TEXT],
                                                                                dtype="float32")[0].softmax(-1))}
    assert max(probabilities, key=probabilities.get) == "comedy", probabilities

    box.send_keys(GENRE_TEXT)
    driver.find_element(By.CSS_SELECTOR, "#classify").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#explanation .imdb-lstm-word"))
    verdict_text = driver.find_element(By.CSS_SELECTOR, "#verdict").text
    label = driver.find_element(By.CSS_SELECTOR, "#verdict [data-testid='label-output-value']").text.strip()
    assert label == "comedy", verdict_text
    # Every label with its probability, as a whole percentage (gradio rounds), not only the top two.
    shown = dict(re.findall(r"^(comedy|drama|horror)\n(\d+)%$", verdict_text, re.MULTILINE))
    assert set(shown) == set(PLANTED), verdict_text
    for name, percent in shown.items():
        assert abs(int(percent) - 100 * probabilities[name]) <= 1, (name, verdict_text)
    explained = driver.find_element(By.CSS_SELECTOR, "#explanation")
    assert "Words coloured for comedy (the predicted label)." in explained.text
    words = driver.find_elements(By.CSS_SELECTOR, "#explanation .imdb-lstm-word")
    assert [word.text for word in words][:2] == ["hilarious", "hilarious"]
    colours = [word.get_attribute("style") for word in words]
    driver.save_screenshot(str(SCREENSHOT.with_name("demo_screenshot_three_labels.png")))

    # Pick another label: the words are coloured for it.
    driver.find_element(By.CSS_SELECTOR, "#target input").click()
    option = wait.until(expected.element_to_be_clickable(
        (By.CSS_SELECTOR, "#target li[role='option'][aria-label='horror']")))
    option.click()
    driver.find_element(By.CSS_SELECTOR, "#classify").click()
    wait.until(lambda d: "Words coloured for horror (picked)." in d.find_element(By.CSS_SELECTOR, "#explanation").text)
    recoloured = [word.get_attribute("style") for word in
                  driver.find_elements(By.CSS_SELECTOR, "#explanation .imdb-lstm-word")]
    assert len(recoloured) == len(colours) and recoloured != colours


def test_the_app_and_its_handler_without_a_browser():
    model, tokenizer = tiny_model()
    probabilities, html = classify_and_explain(model, tokenizer, "A fine film.")
    assert set(probabilities) == {"NEGATIVE", "POSITIVE"} and abs(sum(probabilities.values()) - 1) < 1e-5
    assert html.count('class="imdb-lstm-word"') == 4
    for empty in ("", "   \n"):
        with pytest.raises(ValueError, match="The review is empty"):
            classify_and_explain(model, tokenizer, empty)
    import gradio as gr

    app = build_app(model, tokenizer)
    assert isinstance(app, gr.Blocks)
    # The IMDB model keeps its title and its three examples.
    assert app.title == TITLE and len(EXAMPLES) == 3 and "Type or paste a movie review." in introduction(app)
    samples = [block["props"]["samples"] for block in app.get_config_file()["components"]
               if block.get("type") == "dataset"]
    assert samples == [[[example] for example in EXAMPLES]]


def component_props(app, elem_id: str) -> dict:
    """The settings of the app's component with `elem_id`, as the page receives them."""
    return next(component["props"] for component in app.get_config_file()["components"]
                if component.get("props", {}).get("elem_id") == elem_id)


def introduction(app) -> str:
    """The Markdown under the app's title (with the title)."""
    return next(component["props"]["value"] for component in app.get_config_file()["components"]
                if component.get("type") == "markdown")


def explained_label(html: str) -> tuple[str, str]:
    """(label the words are coloured for, why: "the predicted label", "picked", ...) from the handler's HTML."""
    match = EXPLAINED_LINE.search(html)
    assert match, html[:500]
    return match.group(1), match.group(2)


def test_a_three_label_model_lists_every_label_and_colours_words_for_the_label_picked(three_class_model_dir,
                                                                                     tmp_path):
    model, tokenizer = load_classifier(str(three_class_model_dir))
    expected = predict_logits(model, tokenizer, [GENRE_TEXT], dtype="float32")[0].softmax(-1).tolist()
    verdict, html = classify_and_explain(model, tokenizer, GENRE_TEXT)
    assert verdict == pytest.approx(dict(zip(PLANTED, expected)), abs=1e-6)
    assert max(verdict, key=verdict.get) == "comedy"
    assert explained_label(html) == ("comedy", "the predicted label")
    assert html.count('class="imdb-lstm-word"') == len(tokenizer(GENRE_TEXT, add_special_tokens=False)["input_ids"])
    for genre, word in PLANTED.items():
        _, picked_html = classify_and_explain(model, tokenizer, GENRES_TEXT + f" {word}", target=genre)
        assert explained_label(picked_html) == (genre, "picked")
        # Each label's planted word pushes toward it (positive scores: toward the label explained).
        explanation = explain_for(model, tokenizer, f"{word} a story of a family {word}", target=genre)
        assert explanation.label == genre
        assert all(w.score > 0 for w in explanation.words if w.text == word), (genre, explanation.words)
    with pytest.raises(ValueError, match="'thriller' is not a label of this model: pick 'the predicted label' or one "
                                         "of comedy, drama, horror"):
        classify_and_explain(model, tokenizer, GENRE_TEXT, target="thriller")

    app = build_app(model, tokenizer)
    assert component_props(app, "verdict")["num_top_classes"] == 3
    assert [value for _, value in component_props(app, "target")["choices"]] == [PREDICTED, *PLANTED]
    assert app.title == "Why this verdict? An LSTM classifier of 3 labels"
    assert "movie review" not in introduction(app) and "labels (comedy, drama, horror)" in introduction(app)
    # The API: `/classify` takes (review, target), the target optional (its default: the predicted label), so a
    # client that sends the review only (gradio_client, scripts/load_test.py) is served as before.
    review, target = app.get_api_info()["named_endpoints"]["/classify"]["parameters"]
    assert not review["parameter_has_default"]
    assert (target["parameter_name"], target["parameter_has_default"], target["parameter_default"]) == (
        "target", True, PREDICTED)
    # No examples of movie reviews for a model of genres, unless the caller gives some.
    assert not any(block.get("type") == "dataset" for block in app.get_config_file()["components"])
    with_examples = build_app(model, tokenizer, examples=["A tearful goodbye."])
    samples = [block["props"]["samples"] for block in with_examples.get_config_file()["components"]
               if block.get("type") == "dataset"]
    assert samples == [[["A tearful goodbye."]]]
    # A Space of it says what it does from its labels, and carries the examples given.
    assert main(["--model", str(three_class_model_dir), "--write-space", str(tmp_path / "space"),
                 "--example", "A tearful goodbye."]) == 0
    readme = (tmp_path / "space" / "README.md").read_text()
    assert "title: Text labels, explained\n" in readme and "labels (comedy, drama, horror)" in readme
    assert "IMDB" not in readme and "movie review" not in readme
    app_source = (tmp_path / "space" / "app.py").read_text()
    assert "demo = build_app(model, tokenizer, examples=('A tearful goodbye.',))" in app_source
    assert app_source.startswith('"""Why this verdict? An LSTM classifier of 3 labels: a Gradio demo')


def test_a_multi_label_model_lists_each_labels_own_probability_and_those_above_its_threshold(planted_models):
    model, tokenizer = load_classifier(str(planted_models["multi_label"]))
    threshold = model.config.multilabel_threshold
    logits = predict_logits(model, tokenizer, [GENRES_TEXT], dtype="float32")[0]
    verdict, html = classify_and_explain(model, tokenizer, GENRES_TEXT)
    # Independent sigmoids, not a softmax: here two labels apply, so they add up to more than 1.
    assert verdict == pytest.approx(dict(zip(PLANTED, torch.sigmoid(logits).tolist())), abs=1e-6)
    applying = [name for name, p in verdict.items() if p > threshold]
    assert applying == ["comedy", "drama"] and sum(verdict.values()) > 1, (verdict, threshold)
    assert re.findall(r'class="imdb-lstm-demo-applies">([^<]+)<', html) == applying
    assert f"Labels above the threshold {threshold:.2f}:" in html
    assert explained_label(html) == (max(verdict, key=verdict.get), "the most probable label")
    _, picked_html = classify_and_explain(model, tokenizer, GENRES_TEXT, target="horror")
    assert explained_label(picked_html) == ("horror", "picked")
    # Toward a label, the scores add up to its logit's change from the baseline: its sigmoid's log-odds, whatever
    # the other labels say.
    explanation = explain_for(model, tokenizer, "tearful a story of a family tearful", target="drama")
    assert explanation.label == "drama" and explanation.probabilities["drama"] > threshold
    assert all(w.score > 0 for w in explanation.words if w.text == "tearful"), explanation.words

    app = build_app(model, tokenizer)
    assert component_props(app, "verdict")["num_top_classes"] == 3
    assert f"applies above {threshold:.2f}" in component_props(app, "verdict")["label"]
    assert app.title == "Which labels apply, and why? A multi-label LSTM of 3 labels"


def test_a_regression_model_shows_its_predicted_value_and_explains_toward_higher_values(planted_models):
    model, tokenizer = load_classifier(str(planted_models["regression"]))
    texts = ["a story of a family", "superb superb superb a story of a family superb superb superb"]
    values = predict_logits(model, tokenizer, texts, dtype="float32")[:, 0].tolist()
    assert values[1] > values[0] + 1  # the planted "superb"s were learnt
    verdicts = []
    for text, value in zip(texts, values):
        verdict, html = classify_and_explain(model, tokenizer, text, target="comedy")  # no choice: ignored
        assert verdict == pytest.approx(value, rel=1e-3)
        assert f"intensity = <strong>{verdict:.4g}</strong>; words coloured toward a higher intensity." in html
        verdicts.append(verdict)
    explanation = explain_for(model, tokenizer, texts[1])
    assert getattr(explanation, "value", explanation.probabilities["intensity"]) == pytest.approx(values[1], rel=1e-5)
    assert all(w.score > 0 for w in explanation.words if w.text == "superb"), explanation.words

    app = build_app(model, tokenizer)
    assert component_props(app, "target")["visible"] is False
    assert component_props(app, "verdict")["label"] == "Predicted intensity"
    assert app.title == "Why this intensity? A text regression LSTM"


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
