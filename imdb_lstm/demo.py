"""Try a model in a browser: a Gradio app, and the folder of a Hugging Face Space that runs it.

    imdb-lstm-demo                                        # the shipped model (DEFAULT_MODEL), http://127.0.0.1:7860
    imdb-lstm-demo --model outputs/demo                   # a model you trained: type a review, see why
    imdb-lstm-demo --model you/imdb-bilstm --port 8000    # a Hub repo id works too
    imdb-lstm-demo --model you/imdb-bilstm --write-space space/   # app.py + requirements.txt (+ README.md) for a Space

The app has a text box, a button, the verdict with both probabilities (a `gr.Label`), the review with its words
coloured by Integrated Gradients (`imdb_lstm.explain.render_html`: green toward POSITIVE, red toward NEGATIVE),
and three examples: the original study's review and two others. It listens on 127.0.0.1 only. gradio is
imported here and nowhere else in the package: `pip install "imdb-lstm[demo]"`.

Its API: the button's event is the endpoint `/classify` (`API_NAME`), what `gradio_client` and
`scripts/load_test.py` call; it always explains, so one request costs a classification and an Integrated Gradients
run, and requests are served one at a time (attributions hook the embedding, see `imdb_lstm.explain`).
"""

import argparse
import errno
import os
import shutil
import socket
import sys
from importlib import metadata
from pathlib import Path

from . import predict as inference
from .explain import DEFAULT_STEPS, explain, render_html, require_captum
from .hub import files_to_push
from .predict import load_classifier, load_classifier_or_report, quiet_progress_bars
from .study import EXAMPLE_REVIEW

INSTALL_HINT = 'The demo needs gradio and captum: pip install "imdb-lstm[demo]"'
HOST = "127.0.0.1"
DEFAULT_PORT = 7860
TITLE = "Why this verdict? An IMDB sentiment LSTM"
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


def classify_and_explain(model, tokenizer, text: str, n_steps: int | None = None):
    """({label: probability}, HTML of the review's words coloured by attribution), for the app's outputs. Raises
    ValueError for an empty review."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("The review is empty: type or paste a movie review, then press the button.")
    explanation = explain(model, tokenizer, text, n_steps=n_steps or DEFAULT_STEPS)
    return dict(explanation.probabilities), render_html(explanation)


def build_app(model, tokenizer, examples=EXAMPLES, title: str = TITLE, n_steps: int | None = None):
    """The Gradio app (a `gr.Blocks`) around a loaded classifier. Element ids, for scripts and tests: `review`
    (text box), `classify` (button), `verdict` (label), `explanation` (highlighted review); API endpoint
    `/classify` (`API_NAME`): a review in, (the label's {label, confidences}, the explanation's HTML) out."""
    gr = require_gradio()

    def on_click(text):
        try:
            return classify_and_explain(model, tokenizer, text, n_steps)
        except ValueError as error:
            raise gr.Error(str(error)) from None

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"# {title}\n"
                    "Type or paste a movie review. The model says NEGATIVE or POSITIVE with both probabilities, and "
                    "colours each word by its part in the verdict (Integrated Gradients on the word embedding): "
                    "**green** words push toward POSITIVE, **red** toward NEGATIVE.")
        with gr.Row():
            with gr.Column(scale=3):
                review = gr.Textbox(label="Review", lines=7, placeholder="A wonderful, moving film...", elem_id="review")
                button = gr.Button("Classify and explain", variant="primary", elem_id="classify")
            with gr.Column(scale=2):
                verdict = gr.Label(label="Verdict", num_top_classes=2, elem_id="verdict")
        explained = gr.HTML(label="Why", elem_id="explanation")
        gr.Examples(examples=[[example] for example in examples], inputs=review, label="Examples")
        # One queue for both events (concurrency_id): explanations run one at a time anyway (explain's hook lock),
        # so a second worker would only wait inside the handler instead of in Gradio's queue.
        button.click(on_click, inputs=review, outputs=[verdict, explained], api_name=API_NAME,
                     concurrency_limit=1, concurrency_id=API_NAME)
        review.submit(on_click, inputs=review, outputs=[verdict, explained], api_visibility="undocumented",
                      concurrency_limit=1, concurrency_id=API_NAME)
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
"""{title}: a Gradio demo of the imdb-lstm sentiment model {model!r}.

Written by `imdb-lstm-demo --write-space`; a Hugging Face Space runs it as `python app.py`. Locally:
`pip install -r requirements.txt && python app.py`.
"""

from imdb_lstm.demo import build_app, launch, load_demo_model

MODEL = {model!r}

model, tokenizer = load_demo_model(MODEL)
demo = build_app(model, tokenizer)

if __name__ == "__main__":
    launch(demo, host=None)  # a Space sets GRADIO_SERVER_NAME; elsewhere gradio listens on 127.0.0.1
'''

SPACE_README = '''\
---
title: IMDB sentiment, explained
emoji: 🎬
colorFrom: red
colorTo: green
sdk: gradio
{sdk_version}app_file: app.py
pinned: false
license: apache-2.0
---

A Gradio demo of [{model}]({link}): a movie review is classified NEGATIVE or POSITIVE, and each word is coloured by
its part in the verdict (Integrated Gradients on the word embedding). Written by `imdb-lstm-demo --write-space`.
'''


def write_space(directory, model: str | None, requirement: str = SPACE_REQUIREMENT,
                overwrite: bool = False) -> list[Path]:
    """Write a Hugging Face Space into `directory`: `app.py` (the app around `model`), `requirements.txt` and the
    Space's `README.md` (its settings: sdk gradio, app_file app.py). `model` is a Hub repo id, or a local model
    folder (None: the shipped one), which is then copied into the Space's `model/` folder (only the files a model
    repo holds). The model is loaded first, so a folder or repo that is not an imdb-lstm classifier is refused
    before anything is written.
    `requirement`: how the Space installs this package (the default names the PyPI package, with the demo extra;
    before it is published there, give a URL, e.g. "imdb-lstm[demo] @ git+https://github.com/you/imdb-lstm").
    Files that exist are not replaced unless `overwrite`. Returns the paths written."""
    directory = Path(directory)
    load_demo_model(model)  # refuses anything that is not an imdb-lstm classifier (or a broken install's model)
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
    (directory / "app.py").write_text(APP_TEMPLATE.format(title=TITLE, model=app_model), encoding="utf-8")
    (directory / "requirements.txt").write_text(
        f"# CPU build of torch (a Space without a GPU needs no multi-GB CUDA wheels)\n"
        f"--extra-index-url {TORCH_CPU_INDEX}\ntorch\n{requirement}\n", encoding="utf-8")
    link = f"https://huggingface.co/{model}" if not local.is_dir() else f"{MODEL_FOLDER}/"
    (directory / "README.md").write_text(SPACE_README.format(
        model=model if not local.is_dir() else local.name, link=link,
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
    parser.add_argument("--n_steps", type=int, default=None, help="Integrated Gradients steps (default: explain's)")
    parser.add_argument("--trust_remote_code", action="store_true", help="load the model's own code from the folder/repo")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)

    if args.write_space:
        try:
            written = write_space(args.write_space, args.model, args.requirement, args.overwrite)
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
    app = build_app(model, tokenizer, n_steps=args.n_steps)
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
