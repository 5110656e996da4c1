"""Try a model in a browser: a Gradio app, and the folder of a Hugging Face Space that runs it.

    imdb-lstm-demo                                        # the shipped model (DEFAULT_MODEL), http://127.0.0.1:7860
    imdb-lstm-demo --model outputs/demo                   # a model you trained: type a review, see why
    imdb-lstm-demo --model you/imdb-bilstm --port 8000    # a Hub repo id works too
    imdb-lstm-demo --model outputs/genres --example "A tearful story..." --example "..."   # any labels, your examples
    imdb-lstm-demo --model you/imdb-bilstm --write-space space/   # app.py + requirements.txt (+ README.md) for a Space

The app has a text box (elem_id `review`), a button (`classify`), a choice of the label the words are coloured for
(`target`, a dropdown: "the predicted label" or any of the model's labels), the verdict (`verdict`, a `gr.Label`)
and the text with its words coloured by Integrated Gradients (`explanation`: `imdb_lstm.explain.render_html` under
a line naming the label explained). What the verdict shows follows the model's `config.problem_type`:
- single-label, any number of labels: every label with its softmax probability, the predicted one on top;
- multi-label: every label with its own sigmoid probability (they need not add up to 1); the line above the
  words names the labels above `config.multilabel_threshold`, those that apply;
- regression (one output, named by `config.id2label[0]`): the predicted value; the words are explained toward
  higher values, so the target choice is hidden.
Title, introduction and examples follow the model's labels: the IMDB NEGATIVE/POSITIVE model gets the study's
review and two others; any other model gets the examples given (`--example`, `build_app(examples=...)`) or none.
The probabilities (or value) are the demo's own (`scores_of`: the model's float32 logits through softmax, sigmoid or
as they are, `imdb_lstm.predict.outputs_from_logits`); the word scores are `imdb_lstm.explain.explain`'s toward the
label picked (`explain_for`).
It listens on 127.0.0.1 only. gradio is imported here and nowhere else in the package:
`pip install "imdb-lstm[demo]"`.

Its API: the button's event is the endpoint `/classify` (`API_NAME`), what `gradio_client` and
`scripts/load_test.py` call: inputs (review, target), target optional (default "the predicted label", so
`client.predict(review, api_name="/classify")` works as before; a raw HTTP call sends both values); outputs (the
`gr.Label` value: {label, confidences}, or {label: "<value>"} for regression; the explanation's HTML). It always
explains, so one request costs a classification and an Integrated Gradients run, and requests are served one at a
time (attributions hook the embedding, see `imdb_lstm.explain`).
"""

import argparse
import errno
import html
import os
import shutil
import socket
import sys
from importlib import metadata
from pathlib import Path

from . import predict as inference
from .explain import DEFAULT_STEPS, Explanation, explain, render_html, require_captum
from .hub import files_to_push
from .predict import (MULTI_LABEL, REGRESSION, SINGLE_LABEL, load_classifier, load_classifier_or_report,
                      outputs_from_logits, predict_logits, problem_type_of, quiet_progress_bars)
from .study import EXAMPLE_REVIEW

INSTALL_HINT = 'The demo needs gradio and captum: pip install "imdb-lstm[demo]"'
HOST = "127.0.0.1"
DEFAULT_PORT = 7860
TITLE = "Why this verdict? An IMDB sentiment LSTM"  # the IMDB model's; others get one from their labels (`app_title`)
# The study's example (negative) and two others: a clearly positive review and a mixed one with IMDB's markup.
EXAMPLES = (
    EXAMPLE_REVIEW,
    "One of the best films I have seen in years: moving, funny and beautifully acted. The score is wonderful and "
    "the ending stayed with me for days.",
    "The cast is excellent and the photography is gorgeous.<br /><br />But the script is a mess: boring, "
    "predictable and far too long. I wanted to like it.",
)
SPACE_REQUIREMENT = "imdb-lstm[demo]"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MODEL_FOLDER = "model"  # where --write-space copies a local model inside the Space
# The button's endpoint name for API clients (gradio_client: `client.predict(review, api_name="/classify")`); the
# text box's Enter runs the same function, unlisted, so the API shows one endpoint.
API_NAME = "classify"
IMDB_LABELS = ("NEGATIVE", "POSITIVE")
# The target choice's default (and the endpoint's, for callers that send a review only): explain the verdict.
PREDICTED = "the predicted label"
LABELS_NAMED_IN_INTRO = 12  # a model of more labels has the first ones named in the introduction, then "..."


def require_gradio():
    """The gradio module, or an ImportError that says how to install it (captum too: the app explains)."""
    try:
        import gradio
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    try:
        require_captum()
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return gradio


def load_demo_model(model: str | None = None, trust_remote_code: bool = False):
    """(model, tokenizer) of an imdb-lstm classifier from a folder or Hub repo id, or None: the shipped model
    (`imdb_lstm.DEFAULT_MODEL`); a clear OSError/ValueError for anything else (see
    `imdb_lstm.predict.load_classifier`)."""
    return load_classifier(model, trust_remote_code=trust_remote_code)


# ------------------------------------------------------------------------------------- what the model is about


def label_names(config) -> list[str]:
    """The model's label names in id order (for regression, the one output's name)."""
    id2label = {int(key): str(value) for key, value in (config.id2label or {}).items()}
    return [id2label.get(i, f"LABEL_{i}") for i in range(config.num_labels)]


def is_imdb_sentiment(config) -> bool:
    """Whether the model is a NEGATIVE/POSITIVE single-label classifier (the IMDB model's title, text and
    examples fit it)."""
    return problem_type_of(config) == SINGLE_LABEL and tuple(label_names(config)) == IMDB_LABELS


def multilabel_threshold(config) -> float:
    return float(getattr(config, "multilabel_threshold", 0.5))


def named_labels(config) -> str:
    """The model's labels as a sentence's list, the first `LABELS_NAMED_IN_INTRO` of a long list only."""
    names = label_names(config)
    shown = ", ".join(names[:LABELS_NAMED_IN_INTRO])
    return shown + (f", ... ({len(names)} in all)" if len(names) > LABELS_NAMED_IN_INTRO else "")


def app_title(config) -> str:
    """The page's title: `TITLE` for the IMDB model; otherwise one that says what the model does, from its labels."""
    problem_type = problem_type_of(config)
    if is_imdb_sentiment(config):
        return TITLE
    if problem_type == REGRESSION:
        return f"Why this {label_names(config)[0]}? A text regression LSTM"
    if problem_type == MULTI_LABEL:
        return f"Which labels apply, and why? A multi-label LSTM of {config.num_labels} labels"
    return f"Why this verdict? An LSTM classifier of {config.num_labels} labels"


def app_introduction(config) -> str:
    """The Markdown under the title: what to type, what the model says and what the colours mean."""
    problem_type = problem_type_of(config)
    method = "(Integrated Gradients on the word embedding)"
    if is_imdb_sentiment(config):
        return ("Type or paste a movie review. The model says NEGATIVE or POSITIVE with both probabilities, and "
                f"colours each word by its part in the verdict {method}: **green** words push toward POSITIVE, "
                "**red** toward NEGATIVE. *Colour the words for* asks about one label instead of the verdict.")
    if problem_type == REGRESSION:
        name = label_names(config)[0]
        return (f"Type or paste a text. The model predicts its {name}, and colours each word by its part in that "
                f"value {method}: **green** words push it higher, **red** words lower.")
    if problem_type == MULTI_LABEL:
        return (f"Type or paste a text. The model gives each of its labels ({named_labels(config)}) a probability of "
                f"its own (they need not add up to 1): a label applies above {multilabel_threshold(config):.2f}. "
                f"Each word is coloured by its part in one label {method}: the most probable one, or the one you "
                "pick under *Colour the words for*; **green** words push toward that label, **red** words away.")
    return (f"Type or paste a text. The model gives each of its labels ({named_labels(config)}) a probability, and "
            f"colours each word by its part in one label {method}: the predicted one, or the one you pick under "
            "*Colour the words for*; **green** words push toward that label, **red** words away from it.")


def verdict_title(config) -> str:
    """The verdict box's heading."""
    problem_type = problem_type_of(config)
    if problem_type == REGRESSION:
        return f"Predicted {label_names(config)[0]}"
    if problem_type == MULTI_LABEL:
        return f"Each label's probability (a label applies above {multilabel_threshold(config):.2f})"
    return "Verdict"


def text_noun(config) -> str:
    return "review" if is_imdb_sentiment(config) else "text"


# ------------------------------------------------------------------------------------------- the app's handler


def scores_of(model, tokenizer, text: str) -> dict[str, float]:
    """{label: probability} of every label (softmax for single-label, each label's sigmoid for multi-label), or
    {output name: predicted value} for regression; exact float32, as the explanation computes."""
    logits = predict_logits(model, tokenizer, [text], dtype="float32")[0]
    return dict(zip(label_names(model.config), outputs_from_logits(logits, model.config).tolist()))


def verdict_value(config, scores: dict[str, float]):
    """What the `gr.Label` shows: {label: probability} of every label, or for regression the value (4 significant
    digits)."""
    if problem_type_of(config) == REGRESSION:
        return float(f"{next(iter(scores.values())):.4g}")
    return dict(scores)


def chosen_target(config, target) -> str | None:
    """The label to explain: None for the verdict ("the predicted label", nothing, and always for regression:
    toward higher values), else the label named; a ValueError for a name that is not one of the model's labels."""
    if target in (None, "", PREDICTED) or problem_type_of(config) == REGRESSION:
        return None
    names = label_names(config)
    if target not in names:
        raise ValueError(f"{target!r} is not a label of this model: pick {PREDICTED!r} or one of {', '.join(names)}.")
    return target


def explain_for(model, tokenizer, text: str, target: str | None = None, n_steps: int | None = None) -> Explanation:
    """The explanation of `text` toward `target` (a label name; None: the predicted label, a multi-label model's
    most probable one, or for regression higher values)."""
    return explain(model, tokenizer, text, n_steps=n_steps or DEFAULT_STEPS, target=target)


def explained_line(config, explanation: Explanation, target: str | None, scores: dict[str, float]) -> str:
    """The HTML line above the coloured words: which label they are coloured for, and for multi-label the labels
    that apply."""
    if problem_type_of(config) == REGRESSION:
        name = label_names(config)[0]
        value = explanation.value
        line = (f"{html.escape(name)} = <strong>{value:.4g}</strong>; words coloured toward a higher "
                f"{html.escape(name)}.")
    else:
        how = "picked" if target is not None else (
            "the most probable label" if problem_type_of(config) == MULTI_LABEL else "the predicted label")
        line = f"Words coloured for <strong>{html.escape(explanation.label)}</strong> ({how})."
    if problem_type_of(config) == MULTI_LABEL:
        threshold = multilabel_threshold(config)
        applying = [name for name, p in scores.items() if p > threshold]
        line += (f" Labels above the threshold {threshold:.2f}: " + (", ".join(
            f'<strong class="imdb-lstm-demo-applies">{html.escape(name)}</strong> ({scores[name]:.2f})'
            for name in applying) if applying else "none") + ".")
    return f'<div class="imdb-lstm-demo-explained" style="font-family: sans-serif; margin-bottom: 0.4em">{line}</div>\n'


def classify_and_explain(model, tokenizer, text: str, n_steps: int | None = None, target: str | None = PREDICTED):
    """(what the `gr.Label` shows, HTML of the text's words coloured by attribution), for the app's outputs.
    `target`: the label to colour the words for (a name; `PREDICTED` or None: the predicted label; ignored for
    regression). Raises ValueError for an empty text or a target that is not one of the model's labels."""
    config = model.config
    if not isinstance(text, str) or not text.strip():
        noun = text_noun(config)
        raise ValueError(f"The {noun} is empty: type or paste a {'movie review' if noun == 'review' else 'text'}, "
                         "then press the button.")
    label = chosen_target(config, target)
    scores = scores_of(model, tokenizer, text)
    explanation = explain_for(model, tokenizer, text, label, n_steps)
    return verdict_value(config, scores), explained_line(config, explanation, label, scores) + render_html(explanation)


def build_app(model, tokenizer, examples=None, title: str | None = None, n_steps: int | None = None):
    """The Gradio app (a `gr.Blocks`) around a loaded classifier of any problem type (see the module docstring).
    `examples`: texts to click (None: the IMDB examples for the IMDB model, none for another); `title`: None, one
    from the model's labels (`app_title`). Element ids, for scripts and tests: `review` (text box), `target` (the
    label the words are coloured for; hidden for regression), `classify` (button), `verdict` (label),
    `explanation` (coloured text); API endpoint `/classify` (`API_NAME`): (review, target = "the predicted label")
    in, (the label's {label, confidences}, the explanation's HTML) out."""
    gr = require_gradio()
    config = model.config
    problem_type = problem_type_of(config)
    title = title or app_title(config)
    if examples is None:
        examples = EXAMPLES if is_imdb_sentiment(config) else ()
    noun = text_noun(config)

    def on_click(text, target=PREDICTED):
        try:
            return classify_and_explain(model, tokenizer, text, n_steps, target)
        except ValueError as error:
            raise gr.Error(str(error)) from None

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"# {title}\n{app_introduction(config)}")
        with gr.Row():
            with gr.Column(scale=3):
                review = gr.Textbox(label=noun.capitalize(), lines=7, elem_id="review",
                                    placeholder="A wonderful, moving film..." if noun == "review" else
                                    "Type or paste a text...")
                target = gr.Dropdown(choices=[PREDICTED, *label_names(config)], value=PREDICTED,
                                     label="Colour the words for", elem_id="target",
                                     visible=problem_type != REGRESSION)
                button = gr.Button("Classify and explain", variant="primary", elem_id="classify")
            with gr.Column(scale=2):
                verdict = gr.Label(label=verdict_title(config), num_top_classes=config.num_labels,
                                   elem_id="verdict")
        explained = gr.HTML(label="Why", elem_id="explanation")
        if examples:
            gr.Examples(examples=[[example] for example in examples], inputs=review, label="Examples")
        # One queue for both events (concurrency_id): explanations run one at a time anyway (explain's hook lock),
        # so a second worker would only wait inside the handler instead of in Gradio's queue.
        button.click(on_click, inputs=[review, target], outputs=[verdict, explained], api_name=API_NAME,
                     concurrency_limit=1, concurrency_id=API_NAME)
        review.submit(on_click, inputs=[review, target], outputs=[verdict, explained],
                      api_visibility="undocumented", concurrency_limit=1, concurrency_id=API_NAME)
    return app


def port_in_use(port: int, host: str = HOST) -> bool:
    """Whether something already listens on `host:port` (checked as the server binds: with SO_REUSEADDR, so a
    connection of a closed server waiting in TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def launch(app, port: int | None = None, host: str | None = HOST, **options):
    """Serve `app` (blocking). `host` None: gradio's own choice (GRADIO_SERVER_NAME; what a Space sets)."""
    settings = {"server_name": host, "server_port": port, "share": False, "ssr_mode": False, "show_error": True,
                **options}
    return app.launch(**{key: value for key, value in settings.items() if value is not None})


# ------------------------------------------------------------------------------------------------------- Space

APP_TEMPLATE = '''\
"""{title}: a Gradio demo of the imdb-lstm model {model!r}.

Written by `imdb-lstm-demo --write-space`; a Hugging Face Space runs it as `python app.py`. Locally:
`pip install -r requirements.txt && python app.py`.
"""

from imdb_lstm.demo import build_app, launch, load_demo_model

MODEL = {model!r}

model, tokenizer = load_demo_model(MODEL)
demo = build_app(model, tokenizer{examples})

if __name__ == "__main__":
    launch(demo, host=None)  # a Space sets GRADIO_SERVER_NAME; elsewhere gradio listens on 127.0.0.1
'''

SPACE_README = '''\
---
title: {space_title}
emoji: {emoji}
colorFrom: red
colorTo: green
sdk: gradio
{sdk_version}app_file: app.py
pinned: false
license: apache-2.0
---

A Gradio demo of [{model}]({link}): {description} (Integrated Gradients on the word embedding). Written by
`imdb-lstm-demo --write-space`.
'''


def space_description(config) -> tuple[str, str, str]:
    """(the Space's title, its emoji, what its demo does) for a model, from its labels (the Hub wants a short
    title)."""
    problem_type = problem_type_of(config)
    if is_imdb_sentiment(config):
        return ("IMDB sentiment, explained", "🎬", "a movie review is classified NEGATIVE or POSITIVE, and each word "
                "is coloured by its part in the verdict")
    if problem_type == REGRESSION:
        return ("Text regression, explained", "📏", f"a text's {label_names(config)[0]} is predicted, and each word "
                "is coloured by its part in that value")
    what = "its own probability" if problem_type == MULTI_LABEL else "a probability"
    return ("Text labels, explained", "🏷️", f"each of the model's labels ({named_labels(config)}) is given {what} "
            "for a text, and each word is coloured by its part in the label picked")


def write_space(directory, model: str | None, requirement: str = SPACE_REQUIREMENT,
                overwrite: bool = False, examples: list[str] | None = None) -> list[Path]:
    """Write a Hugging Face Space into `directory`: `app.py` (the app around `model`), `requirements.txt` and the
    Space's `README.md` (its settings: sdk gradio, app_file app.py). `model` is a Hub repo id, or a local model
    folder (None: the shipped one), which is then copied into the Space's `model/` folder (only the files a model
    repo holds). The model is loaded first, so a folder or repo that is not an imdb-lstm classifier is refused
    before anything is written.
    `requirement`: how the Space installs this package (the default names the PyPI package, with the demo extra;
    before it is published there, give a URL, e.g. "imdb-lstm[demo] @ git+https://github.com/you/imdb-lstm").
    `examples`: texts to click in the app (None: `build_app`'s choice, the IMDB examples for the IMDB model). Title
    and description follow the model's labels. Files that exist are not replaced unless `overwrite`. Returns the
    paths written."""
    directory = Path(directory)
    # Refuses anything that is not an imdb-lstm classifier (or a broken install's model); its labels name the Space.
    loaded, _ = load_demo_model(model)
    model = inference.DEFAULT_MODEL if model is None else model  # read now: tests point it elsewhere
    local = Path(model).expanduser()
    app_model = MODEL_FOLDER if local.is_dir() else model
    targets = [directory / name for name in ("app.py", "requirements.txt", "README.md")]
    if local.is_dir():
        targets.append(directory / MODEL_FOLDER)
    existing = [path for path in targets if path.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(str(path) for path in existing)} already exist(s): choose an empty folder "
                              "or pass --overwrite.")
    directory.mkdir(parents=True, exist_ok=True)
    try:
        gradio_version = metadata.version("gradio")
    except metadata.PackageNotFoundError:
        gradio_version = None
    space_title, emoji, description = space_description(loaded.config)
    (directory / "app.py").write_text(APP_TEMPLATE.format(
        title=app_title(loaded.config), model=app_model,
        examples="" if examples is None else f", examples={tuple(examples)!r}"), encoding="utf-8")
    (directory / "requirements.txt").write_text(
        f"# CPU build of torch (a Space without a GPU needs no multi-GB CUDA wheels)\n"
        f"--extra-index-url {TORCH_CPU_INDEX}\ntorch\n{requirement}\n", encoding="utf-8")
    link = f"https://huggingface.co/{model}" if not local.is_dir() else f"{MODEL_FOLDER}/"
    (directory / "README.md").write_text(SPACE_README.format(
        model=model if not local.is_dir() else local.name, link=link, space_title=space_title, emoji=emoji,
        description=description,
        sdk_version=f"sdk_version: {gradio_version}\n" if gradio_version else ""), encoding="utf-8")
    written = targets[:3]
    if local.is_dir():
        target = directory / MODEL_FOLDER
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        for path in files_to_push(local):
            shutil.copy2(path, target / path.name)
        written.append(target)
    return written


def build_parser() -> argparse.ArgumentParser:
    """The `imdb-lstm-demo` command line."""
    parser = argparse.ArgumentParser(
        description="Try an imdb-lstm classifier in a browser (a Gradio app on 127.0.0.1), or write a Hugging Face "
                    "Space that runs it.")
    parser.add_argument("--model", default=None,
                        help="model folder (output of imdb-lstm-train) or Hub repo id (default: the model shipped "
                             "with the package, imdb_lstm.DEFAULT_MODEL)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port on {HOST} (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--write-space", "--write_space", dest="write_space", metavar="DIR",
                        help="write app.py, requirements.txt and README.md of a Space into DIR instead of serving")
    parser.add_argument("--requirement", default=SPACE_REQUIREMENT,
                        help=f"with --write-space: how the Space installs imdb-lstm (default {SPACE_REQUIREMENT!r})")
    parser.add_argument("--overwrite", action="store_true", help="with --write-space: replace files that exist")
    parser.add_argument("--example", action="append", dest="examples", metavar="TEXT",
                        help="a text to click in the app (repeat for several; default: the IMDB model's three "
                             "examples for the IMDB model, none for another); with --write-space, written into app.py")
    parser.add_argument("--n_steps", type=int, default=None, help="Integrated Gradients steps (default: explain's)")
    parser.add_argument("--trust_remote_code", action="store_true", help="load the model's own code from the folder/repo")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)

    if args.write_space:
        try:
            written = write_space(args.write_space, args.model, args.requirement, args.overwrite, args.examples)
        except (OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print("wrote " + ", ".join(str(path) for path in written))
        print("Create a Space (sdk: gradio) and upload this folder, e.g. "
              f"`hf upload you/my-space {args.write_space} . --repo-type space`.")
        return 0

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        require_gradio()
    except ImportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    port = args.port or free_port()
    if not 0 < port < 65536:
        print(f"error: --port {args.port} is not a port number (1-65535, or 0 for any free port).", file=sys.stderr)
        return 2
    if port_in_use(port):
        print(f"error: port {port} on {HOST} is already in use (another demo or server listens there): pass "
              "--port with a free port, or --port 0 to pick one.", file=sys.stderr)
        return 2
    quiet_progress_bars()
    loaded = load_classifier_or_report(args.model, args.trust_remote_code)
    if loaded is None:
        return 2
    model, tokenizer = loaded
    app = build_app(model, tokenizer, examples=args.examples, n_steps=args.n_steps)
    which = "the shipped model" if args.model is None else args.model
    print(f"Serving {which} on http://{HOST}:{port} (Ctrl+C to stop)", flush=True)
    try:
        launch(app, port=port)
    except OSError as error:  # lost a race for the port
        print(f"error: cannot serve on {HOST}:{port}: {error}", file=sys.stderr)
        return 2
    return 0


def cli_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    cli_main()
