"""Model cards: a classifier's rendered from the `model_card.md` template shipped inside this package, a pretrained
language model's from `lm_model_card.md` (data, tokens seen, validation perplexity), both through `render_card`
(`huggingface_hub.ModelCard`); every number in them is read from the output folder written by `imdb-lstm-train` or
`imdb-lstm-pretrain`, or passed in (the project's benchmarked recipe row, `benchmarks_file`). A classifier's card
also shows why the model calls the original study's example review what it does: the review with its words
coloured by Integrated Gradients (`imdb_lstm.explain`), drawn into `example_explained.png` next to the card (needs
captum, the `explain` extra; without it the card has no picture).

    from imdb_lstm.cards import render_model_card
    render_model_card("outputs/imdb-bilstm", "you/imdb-bilstm").save("outputs/imdb-bilstm/README.md")
    render_model_card("outputs/imdb-bilstm", "you/imdb-bilstm", benchmarks_file="benchmarks/accuracy.json")

A model trained on the user's own data (`imdb-lstm-train --text_column --label_column(s) --problem_type`: other
labels, any number of them, multi-label or regression) gets the card of `labelled_model_card.md` instead
(`render_labelled_model_card`, which `render_model_card` picks for any model but IMDB's two-label sentiment one, see
`is_imdb_sentiment_model`): its labels, the test metrics of its problem type read from eval_results.json, the data
as the user named and described it (`--dataset_name` / `--dataset_description`, recorded in run_info.json by
training or given at push time; else the files it was read from, no absolute path, and a request to describe it),
the split sizes and the command from run_info.json, and the first test text (`test_predictions.jsonl`) explained:

    render_model_card("outputs/genres", "you/genres", dataset_name="you/genres", dataset_description="...",
                      license="cc-by-4.0")

The default model that ships inside the package (`imdb_lstm/default_model/`, written by `imdb-lstm-build-default`)
gets its own card from the same template: the measured table of the build's final test scoring, the data, how it
was built (stages and their seconds) and its limitations, all read from the folder's `eval_results.json` and
`run_info.json` (the build's record, with its `stages`). `render_model_card` renders it for such a folder (so
`imdb-lstm-push` publishes it with that card); the build calls `render_default_model_card` directly:

    render_default_model_card("imdb_lstm/default_model").save("imdb_lstm/default_model/README.md")
"""

import json
import logging
import math
import re
import shlex
from pathlib import Path, PureWindowsPath

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers.dynamic_module_utils import get_relative_imports

from .explain import explain, render_png, require_captum
from .predict import LANGUAGE_MODEL_CLASS, MULTI_LABEL, REGRESSION, SINGLE_LABEL, load_classifier
from .study import EXAMPLE_REVIEW, EXAMPLE_STUDY_P_NEGATIVE

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
CARD_TEMPLATE = PACKAGE_DIR / "model_card.md"
LABELLED_CARD_TEMPLATE = PACKAGE_DIR / "labelled_model_card.md"
LANGUAGE_MODEL_CARD_TEMPLATE = PACKAGE_DIR / "lm_model_card.md"

# The study's example review explained (imdb_lstm.explain), drawn by render_model_card next to the card.
EXAMPLE_PICTURE = "example_explained.png"
# The files every saved model folder holds besides its safetensors weights: config, model code, tokenizer. The one
# list (check_model_dir requires them, hub.MODEL_REPO_FILES pushes them, the tests check both). The model file imports
# serving_imdb_lstm.py relatively, so save_pretrained writes it next to it; a folder saved before it existed has a
# model file that holds everything and no such import (see `missing_model_files`).
MODEL_FOLDER_FILES = ("config.json", "configuration_imdb_lstm.py", "modeling_imdb_lstm.py", "serving_imdb_lstm.py",
                      "tokenizer.json", "tokenizer_config.json")
# Model code a folder may also hold: the tokenizer's class, which newer tokenizers save (older folders lack it).
OPTIONAL_MODEL_FOLDER_FILES = ("tokenization_imdb_lstm.py",)

# (metric key in eval_results.json without "test_", model-index metric type, name shown on the card)
TEST_METRICS = (
    ("accuracy", "accuracy", "Accuracy"),
    ("tpr", "tpr", "True positive rate (recall of POSITIVE)"),
    ("tnr", "tnr", "True negative rate (recall of NEGATIVE)"),
    ("fnr", "fnr", "False negative rate"),
    ("fpr", "fpr", "False positive rate"),
)
IMDB_TEST_SIZE = 25000
IMDB_TRAIN_SIZE = 25000
IMDB_UNSUPERVISED_SIZE = 50000

# The default model's card (render_default_model_card): its name where no repo id is given, the build's stages in
# the order they run (run_info.json's "stages"), and the compression steps it knows.
DEFAULT_MODEL_NAME = "imdb-lstm-default"
BUILD_STAGES = ("word_vectors", "classifier", "compression", "test")
COMPRESSION_STEPS = {
    "full": "the chosen classifier as trained (float32, its whole n-gram table)",
    "ngram_pruning": "n-gram table pruned to the n-grams of largest weight",
    "embedding_bfloat16": "word embedding stored in bfloat16 (computed in float32)",
}
# Reported on the default card when eval_results.json has them: (key without "test_", name shown on the card).
EXTRA_TEST_METRICS = (("precision", "Precision (of POSITIVE)"), ("f1", "F1 (of POSITIVE)"))

# The run_info.json arguments the card lists as the training recipe, by argument group.
RECIPE_ARGUMENTS = {
    "data": ("dataset", "dataset_splits", "split_protocol", "validation_fraction", "split_seed", "vocab_size", "min_frequency",
             "max_length", "truncation_side", "max_train_samples", "max_eval_samples"),
    "model": ("encoder", "cell", "bidirectional", "num_layers", "hidden_size", "pooling", "cnn_kernel_sizes",
              "cnn_num_filters", "glove", "oov_init", "embedding_dropout", "rnn_dropout", "dropout", "freeze_embedding"),
    "training": ("num_train_epochs", "max_steps", "per_device_train_batch_size", "learning_rate", "lr_scheduler_type",
                 "warmup_steps", "weight_decay", "max_grad_norm", "optim", "train_sampling_strategy",
                 "metric_for_best_model", "encoder_learning_rate_factor", "encoder_frozen_epochs", "normalize_embeddings",
                 "vat_epsilon", "vat_batch_size", "adversarial_epsilon", "ema_decay", "seed"),
}
ONLY_FOR_ENCODER = {"cnn_kernel_sizes": "cnn", "cnn_num_filters": "cnn", "cell": "rnn", "bidirectional": "rnn",
                    "num_layers": "rnn", "hidden_size": "rnn", "rnn_dropout": "rnn"}


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_json_if_present(path: Path) -> dict:
    """`read_json(path)`, or {} when the folder has no such file (e.g. run_info.json of an older run)."""
    return read_json(path) if path.is_file() else {}


def is_language_model_dir(model_dir: Path) -> bool:
    """Whether `model_dir` holds a pretrained language model (imdb-lstm-pretrain's output) rather than a classifier."""
    config = Path(model_dir) / "config.json"
    return config.is_file() and LANGUAGE_MODEL_CLASS in (read_json(config).get("architectures") or [])


def missing_model_files(model_dir: Path) -> list[str]:
    """The files of MODEL_FOLDER_FILES that `model_dir` lacks; a sibling of the model file (serving_imdb_lstm.py)
    only when its model file imports it (transformers' `get_relative_imports`, as remote code reads it)."""
    modeling = model_dir / "modeling_imdb_lstm.py"
    imported = {f"{name}.py" for name in get_relative_imports(modeling)} if modeling.is_file() else set()
    code = {"modeling_imdb_lstm.py", "configuration_imdb_lstm.py"}
    return [name for name in MODEL_FOLDER_FILES if not (model_dir / name).is_file()
            and (not name.endswith(".py") or name in code or name in imported)]


def check_model_dir(model_dir: Path) -> None:
    """Raise a clear error when `model_dir` is not a complete output folder of imdb-lstm-train or -pretrain."""
    if not model_dir.is_dir():
        raise FileNotFoundError(f"Model folder {model_dir} does not exist: give the --output_dir of a training run.")
    missing = missing_model_files(model_dir)
    if not (model_dir / "eval_results.json").is_file():
        missing.append("eval_results.json")
    if not any(model_dir.glob("*.safetensors")):
        missing.append("model.safetensors")
    if missing:
        raise FileNotFoundError(
            f"{model_dir} lacks {', '.join(missing)}: push the output folder of a finished `imdb-lstm-train` (or "
            "`imdb-lstm-pretrain`) run (weights are saved as safetensors; a classifier's eval_results.json needs the "
            "test split scored, i.e. do_predict)."
        )
    if "auto_map" not in read_json(model_dir / "config.json"):
        raise ValueError(f"{model_dir}/config.json has no auto_map, so the Hub copy could not load with "
                         "trust_remote_code: save the model with imdb_lstm's classes (scripts/train.py does).")


def read_test_metrics(eval_results: dict, source: Path) -> list[dict]:
    """The IMDB card's test metrics, read from eval_results.json; a clear error when one is missing."""
    missing = [f"test_{key}" for key, _, _ in TEST_METRICS if f"test_{key}" not in eval_results]
    if missing:
        raise ValueError(f"{source} has no {', '.join(missing)}: the card reports test-split metrics, so train with "
                         "do_predict (the default) before pushing.")
    return [{"key": key, "type": metric_type, "name": name, "value": float(eval_results[f"test_{key}"])}
            for key, metric_type, name in TEST_METRICS]


def describe_architecture(config: dict) -> str:
    """One line saying what the network is, from config.json."""
    if config["encoder"] == "cnn":
        widths = ", ".join(str(k) for k in config["cnn_kernel_sizes"])
        encoder = f"a text CNN (Kim 2014; {config['cnn_num_filters']} filters of each width {widths})"
    else:
        direction = "bidirectional " if config["bidirectional"] else ""
        layers = f"{config['num_layers']}-layer " if config["num_layers"] > 1 else ""
        network = f"{layers}{direction}{config['cell'].upper()}"
        units = f"{config['hidden_size']} units" + (" per direction" if config["bidirectional"] else "")
        encoder = f"{'an' if network.startswith('LSTM') else 'a'} {network} ({units})"
    pooling = {"last": "its final state per direction", "max": "max pooling over the real tokens",
               "mean": "mean pooling over the real tokens", "max_mean": "max and mean pooling over the real tokens"}
    description = f"{encoder}, then {pooling[config['pooling']]} and a linear head"
    if config.get("ngram_order"):
        description += (f"; its log-odds are joined ({1 - config['ngram_weight']:.2f} : {config['ngram_weight']:.2f}) "
                        f"with an n-gram branch, an NB-weighted logistic regression over 1–{config['ngram_order']}-grams "
                        f"of the token ids ({config['ngram_features']:,} n-grams, fitted on the training reviews)")
    return description


def training_recipe(run_info: dict) -> list[tuple[str, str]]:
    """(argument, value) rows from run_info.json's arguments; unset (None) and other-encoder arguments left out."""
    arguments = run_info.get("arguments", {})
    encoder = arguments.get("model", {}).get("encoder", "rnn")  # a language model's run records no encoder: recurrent
    rows = []
    for group, names in RECIPE_ARGUMENTS.items():
        values = arguments.get(group, {})
        for name in names:
            if values.get(name) is None or ONLY_FOR_ENCODER.get(name, encoder) != encoder:
                continue
            rows.append((name, json.dumps(values[name]) if isinstance(values[name], (list, bool)) else str(values[name])))
    return rows


def describe_training(run_info: dict) -> str | None:
    """What the classifier's training added to cross-entropy on the labelled reviews, in words, from run_info.json's
    training arguments: virtual adversarial training, adversarial training, the embedding's normalisation, the
    weight average; for an ensemble (run_info's `ensemble`, written by imdb-lstm-build-default), how its members
    were joined, then how each was trained. None when it added none of them (or the run recorded no arguments)."""
    training = (run_info.get("arguments") or {}).get("training") or {}
    ensemble = run_info.get("ensemble")
    members = (f"An ensemble of {len(ensemble['members'])} classifiers trained apart ({', '.join(ensemble['members'])}"
               "), merged into one whose recurrent logits are the mean of theirs (their units side by side, each "
               "reading only its own; the n-gram share chosen again on validation). Each member: ") if ensemble else ""
    methods = []
    if training.get("vat_epsilon"):
        splits = " and ".join(f"`{name.strip()}`" for name in str(training.get("vat_splits") or "train,unsupervised")
                              .split(",") if name.strip())
        source = f"`{training['vat_dataset']}`'s" if training.get("vat_dataset") else "IMDB's"
        methods.append(f"virtual adversarial training (Miyato et al., 2017) on unlabelled texts of {source} {splits}, "
                       f"validation and test texts left out (perturbation norm ε {training['vat_epsilon']:g}"
                       + (f", {training['vat_batch_size']} reviews a step" if training.get("vat_batch_size") else "")
                       + ")")
    if training.get("adversarial_epsilon"):
        methods.append(f"adversarial training on the labelled reviews (ε {training['adversarial_epsilon']:g})")
    normalisation = {"once": "normalised once before training", "every_step": "normalised at every step"}.get(
        str(training.get("normalize_embeddings")), "normalised once before training"
        if training.get("normalize_embeddings") is True else None)
    if normalisation and methods:
        methods.append(f"the embedding {normalisation} (frequency-weighted mean 0, variance 1), so that ε keeps its "
                       "scale")
    elif normalisation:
        methods.append(f"the embedding {normalisation} (frequency-weighted mean 0, variance 1)")
    if training.get("ema_decay"):
        methods.append(f"an exponential moving average of the weights (decay {training['ema_decay']:g}): what was "
                       "evaluated and saved")
    if not methods and not ensemble:
        return None
    training_words = "cross-entropy on the labelled reviews" + (", with " + "; ".join(methods) if methods else "")
    return members + training_words if ensemble else training_words[0].upper() + training_words[1:]


def recipe_benchmark(benchmarks_file: Path | None) -> dict | None:
    """The shipped recipe's row (`"recipe": true`) of `benchmarks_file` (the project's benchmarks/accuracy.json,
    written by scripts/benchmark.py), or None when no file is given or it has no such row."""
    if benchmarks_file is None or not Path(benchmarks_file).is_file():
        return None
    rows = read_json(Path(benchmarks_file))
    recipe_rows = [row for row in rows if isinstance(row, dict) and row.get("recipe")] if isinstance(rows, list) else []
    if not recipe_rows:
        return None
    needed = ("name", "accuracy", "tpr", "tnr", "fnr", "fpr", "train_seconds", "model_mb", "machine", "date")
    missing = [key for key in needed if key not in recipe_rows[0]]
    if missing:
        raise ValueError(f"The recipe row of {benchmarks_file} lacks {', '.join(missing)}; fix the file or pass "
                         "benchmarks_file=None.")
    return recipe_rows[0]


def count_parameters(model_dir: Path) -> int:
    from safetensors import safe_open

    total = 0
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), framework="np") as weights:
            for name in weights.keys():
                shape = weights.get_slice(name).get_shape()
                count = 1
                for size in shape:
                    count *= size
                total += count
    return total


def explain_study_example(model_dir: Path, top: int = 5) -> dict | None:
    """The study's example review explained by the model of `model_dir`: drawn into `model_dir/example_explained.png`
    and summed up for the card (label, probabilities, strongest words for and against). None, with a warning, when
    captum is not installed or the picture cannot be written."""
    try:
        require_captum()
    except ImportError as error:
        logger.warning("The card has no explained example: %s", error)
        return None
    model, tokenizer = load_classifier(str(model_dir))
    explanation = explain(model, tokenizer, EXAMPLE_REVIEW)
    try:
        render_png(explanation, model_dir / EXAMPLE_PICTURE)
    except OSError as error:
        logger.warning("The card has no explained example: cannot write %s (%s)", model_dir / EXAMPLE_PICTURE, error)
        return None
    others = [label for label in explanation.labels if label != explanation.label]
    return {
        "picture": EXAMPLE_PICTURE, "label": explanation.label, "other": others[0] if len(others) == 1 else "the others",
        "probabilities": explanation.probabilities, "n_steps": explanation.n_steps,
        "study_p_negative": EXAMPLE_STUDY_P_NEGATIVE,
        "toward": [word for word, _, _ in explanation.top_words(top)],
        "against": [word for word, _, _ in explanation.top_words(top, against=True)],
    }


def model_fields(config: dict, tokenizer_config: dict, max_length) -> dict:
    """What every classifier card says of the model itself, from its config.json and tokenizer_config.json."""
    coverage = config.get("embedding_coverage")
    return {
        "model_type": config["model_type"],
        "architecture": describe_architecture(config),
        "embedding_source": config.get("embedding_source") or "unrecorded",
        "embedding_coverage": f"{100 * coverage:.1f}%" if coverage is not None else "An unrecorded share",
        "embedding_dim": config["embedding_dim"],
        "freeze_embedding": config.get("freeze_embedding", False),
        "vocab_size": config["vocab_size"],
        "id2label": config["id2label"],
        "distilled_from": config.get("distilled_from"),
        "inference_dtype": config.get("inference_dtype", "float32"),
        "max_length": max_length,
        "truncation_side": tokenizer_config.get("truncation_side", "right"),
    }


def render_model_card(model_dir, repo_id: str, benchmarks_file: Path | None = None,
                      template_path: Path | None = None, explain_example: bool = True,
                      dataset_name: str | None = None, dataset_description: str | None = None,
                      license: str | None = None) -> ModelCard:
    """The model card of the output folder `model_dir`. An IMDB sentiment classifier's (see
    `is_imdb_sentiment_model`) is rendered from the `model_card.md` template: with `benchmarks_file` (the project's
    `benchmarks/accuracy.json`, see `recipe_benchmark`), the card shows the shipped recipe's benchmarked row beside
    this model's figures; with `explain_example`, the study's example review explained is drawn into
    `model_dir/example_explained.png` and shown on the card (see `explain_study_example`). Any other model (other
    labels, multi-label, regression, or data the user named) gets `render_labelled_model_card`'s card, which
    `dataset_name`, `dataset_description` and `license` feed. `template_path`: None for the card's own template."""
    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    if is_default_model_dir(model_dir):
        if benchmarks_file is not None:
            logger.info("%s is a default-model build: its card has its own measured table; %s is not shown.",
                        model_dir, benchmarks_file)
        return render_default_model_card(model_dir, repo_id, explain_example=explain_example,
                                         template_path=template_path or CARD_TEMPLATE)
    config = read_json(model_dir / "config.json")
    run_info = read_json_if_present(model_dir / "run_info.json")
    if not is_imdb_sentiment_model(config, run_info, dataset_name, dataset_description):
        if benchmarks_file is not None:
            logger.info("%s is not an IMDB sentiment classifier: the recipe's IMDB benchmark row (%s) is not shown.",
                        model_dir, benchmarks_file)
        return render_labelled_model_card(model_dir, repo_id, dataset_name, dataset_description, license,
                                          explain_example=explain_example,
                                          template_path=template_path or LABELLED_CARD_TEMPLATE)
    template_path = template_path or CARD_TEMPLATE
    eval_results = read_json(model_dir / "eval_results.json")
    metrics = read_test_metrics(eval_results, model_dir / "eval_results.json")
    tokenizer_config = read_json(model_dir / "tokenizer_config.json")
    max_length = tokenizer_config.get("model_max_length")

    test_size = sum(int(eval_results.get(f"test_{cell}", 0)) for cell in ("tp", "tn", "fp", "fn")) or None
    protocol = run_info.get("arguments", {}).get("data", {}).get("split_protocol", "canonical")
    full_imdb_test = test_size == IMDB_TEST_SIZE and protocol == "canonical"
    dataset_name = "IMDB" if full_imdb_test else f"IMDB (test split of protocol {protocol}, {test_size} reviews)"
    test_description = (
        "the IMDB test split (25,000 reviews)" if full_imdb_test
        else f"a test split of {test_size or 'an unrecorded number of'} reviews (split protocol `{protocol}`; "
        "not the full 25,000-review IMDB test split, so compare with care)"
    )
    card_data = dict(
        pipeline_tag="text-classification",
        datasets=["stanfordnlp/imdb"],
        metrics=["accuracy"],
        tags=["sentiment-analysis", "imdb", "glove", config["cell"] if config["encoder"] == "rnn" else "cnn",
              "imdb-lstm", "custom_code"],
        eval_results=[
            EvalResult(task_type="text-classification", task_name="Sentiment analysis",
                       dataset_type="stanfordnlp/imdb", dataset_name=dataset_name, dataset_split="test",
                       metric_type=metric["type"], metric_name=metric["name"], metric_value=metric["value"])
            for metric in metrics
        ],
    )
    return render_card(
        model_dir, repo_id, template_path, card_data, run_info,
        default=None,
        title=repo_id,
        **model_fields(config, tokenizer_config, max_length),
        test_results=metrics,
        test_description=test_description,
        validation_accuracy=eval_results.get("eval_accuracy"),
        confusion_matrix=(model_dir / "confusion_matrix.png").is_file(),
        benchmark=recipe_benchmark(benchmarks_file),
        example=explain_study_example(model_dir) if explain_example else None,
    )


# ------------------------------------------------------------------------------------ cards of models of other data

# The IMDB card's labels: a two-label single-label classifier of these names on IMDB's own columns gets it.
IMDB_LABELS = ["NEGATIVE", "POSITIVE"]
# What each problem type is called on the card and in its `model-index` (task_name).
TASK_NAMES = {SINGLE_LABEL: "Text classification", MULTI_LABEL: "Multi-label text classification",
              REGRESSION: "Text regression"}
# (metric key in eval_results.json without "test_", model-index metric type, its arguments, name shown on the card);
# the required ones first, then those shown when eval_results.json has them.
REGRESSION_METRICS = (
    ("mse", "mse", None, "Mean squared error"),
    ("mae", "mae", None, "Mean absolute error"),
    ("pearson", "pearsonr", None, "Pearson correlation"),
    ("spearman", "spearmanr", None, "Spearman correlation"),
)
MULTI_LABEL_METRICS = (
    ("micro_f1", "f1", {"average": "micro"}, "Micro-F1"),
    ("macro_f1", "f1", {"average": "macro"}, "Macro-F1"),
)
MULTI_LABEL_EXTRA_METRICS = (
    ("micro_precision", "precision", {"average": "micro"}, "Micro-precision"),
    ("micro_recall", "recall", {"average": "micro"}, "Micro-recall"),
    ("subset_accuracy", "accuracy", {"subset": True}, "Subset accuracy (every label of a text right)"),
)
MULTI_CLASS_METRICS = (
    ("accuracy", "accuracy", None, "Accuracy"),
    ("macro_f1", "f1", {"average": "macro"}, "Macro-F1"),
)
MULTI_CLASS_EXTRA_METRICS = (
    ("macro_precision", "precision", {"average": "macro"}, "Macro-precision"),
    ("macro_recall", "recall", {"average": "macro"}, "Macro-recall"),
)
# Two labels are scored with the binary rates (`imdb_lstm.metrics.binary_rates`), label id 1 the positive class.
BINARY_METRICS = (("accuracy", "accuracy", None, "Accuracy"),)
BINARY_CELLS = ("tn", "fp", "fn", "tp")
# A confusion matrix is written out as a table up to this many labels (the picture shows larger ones).
MAX_CONFUSION_TABLE_LABELS = 10
HUB_DATASET_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def problem_type_of(config: dict) -> str:
    """The config's problem type; unset (None) is single-label classification, as in transformers."""
    return config.get("problem_type") or SINGLE_LABEL


def label_names(config: dict) -> list[str]:
    """The config's label names in id order."""
    id2label = {int(i): str(name) for i, name in (config.get("id2label") or {}).items()}
    return [id2label.get(i, f"LABEL_{i}") for i in range(len(id2label))]


def is_imdb_sentiment_model(config: dict, run_info: dict, dataset_name: str | None = None,
                            dataset_description: str | None = None) -> bool:
    """Whether the model is IMDB's sentiment classifier, with the IMDB card: single-label NEGATIVE/POSITIVE read
    from IMDB's own columns (`text`, `label`, no --data_files), its data not named or described by the user (given
    here, or recorded in run_info.json). A folder without run_info.json is an IMDB run of an earlier version."""
    if problem_type_of(config) != SINGLE_LABEL or label_names(config) != IMDB_LABELS:
        return False
    data = (run_info.get("arguments") or {}).get("data") or {}
    if dataset_name or dataset_description or data.get("dataset_name") or data.get("dataset_description"):
        return False
    return not data.get("data_files") and not data.get("label_columns") and (
        data.get("text_column", "text"), data.get("label_column", "label")) == ("text", "label")


def metric_rows(eval_results: dict, metrics: tuple) -> list[dict]:
    """Card rows {key, type, args, name, value} of `metrics` that eval_results.json's test scoring has."""
    return [{"key": key, "type": metric_type, "args": args, "name": name, "value": float(eval_results[f"test_{key}"])}
            for key, metric_type, args, name in metrics if eval_results.get(f"test_{key}") is not None]


def require_test_metrics(eval_results: dict, source: Path, keys: list[str], what: str) -> None:
    """A clear error when eval_results.json lacks the test metrics `keys` of a `what` (the card's problem type)."""
    if not any(key.startswith("test_") for key in eval_results):
        raise ValueError(f"{source} has no test metrics: the card reports the test split scored once after training. "
                         "Train with do_predict (the default) and a test split (e.g. a test.csv beside train.csv, or "
                         "test=... in --data_files) before rendering the card or pushing.")
    missing = [f"test_{key}" for key in keys if f"test_{key}" not in eval_results]
    if missing:
        raise ValueError(f"{source} has no {', '.join(missing)}, which the card of a {what} reports: its test "
                         "metrics are of another kind of model. Render the card of the folder that training wrote "
                         "(config.json and eval_results.json of the same run), or train again with do_predict.")


def per_label_rows(eval_results: dict, names: list[str]) -> list[dict]:
    """{label, precision, recall, f1} of each label whose three test figures eval_results.json holds."""
    rows = []
    for name in names:
        values = [eval_results.get(f"test_{measure}_{name}") for measure in ("precision", "recall", "f1")]
        if all(value is not None for value in values):
            rows.append({"label": name, "precision": float(values[0]), "recall": float(values[1]),
                         "f1": float(values[2])})
    return rows


def read_labelled_test_metrics(config: dict, eval_results: dict, source: Path) -> dict:
    """The card's test results for the model's problem type, from eval_results.json: `rows` (the table, and the
    `model-index` results), `per_label` (precision, recall and F1 of each label where recorded), `confusion` (rows:
    truth, columns: prediction; None where not recorded) and `threshold` (multi-label: the decision threshold chosen
    on validation). A clear error when the problem type's own metrics are missing."""
    problem_type, names = problem_type_of(config), label_names(config)
    result = {"per_label": [], "confusion": None, "threshold": None}
    if problem_type == REGRESSION:
        require_test_metrics(eval_results, source, [key for key, *_ in REGRESSION_METRICS], "regression")
        return {**result, "rows": metric_rows(eval_results, REGRESSION_METRICS)}
    if problem_type == MULTI_LABEL:
        require_test_metrics(eval_results, source, [key for key, *_ in MULTI_LABEL_METRICS], "multi-label classifier")
        threshold = eval_results.get("multilabel_threshold", config.get("multilabel_threshold"))
        return {**result, "rows": metric_rows(eval_results, MULTI_LABEL_METRICS + MULTI_LABEL_EXTRA_METRICS),
                "per_label": per_label_rows(eval_results, names),
                "threshold": float(threshold) if threshold is not None else 0.5}
    if len(names) == 2:
        require_test_metrics(eval_results, source, ["accuracy", "tpr", "tnr", "precision", "f1"],
                             "two-label classifier")
        negative, positive = names
        binary = (("precision", "precision", {"pos_label": positive}, f"Precision of {positive}"),
                  ("tpr", "recall", {"pos_label": positive}, f"Recall of {positive} (TPR)"),
                  ("f1", "f1", {"pos_label": positive}, f"F1 of {positive}"),
                  ("tnr", "recall", {"pos_label": negative}, f"Recall of {negative} (TNR)"))
        cells = {cell: eval_results.get(f"test_{cell}") for cell in BINARY_CELLS}
        confusion = ([[int(cells["tn"]), int(cells["fp"])], [int(cells["fn"]), int(cells["tp"])]]
                     if all(value is not None for value in cells.values()) else None)
        return {**result, "rows": metric_rows(eval_results, BINARY_METRICS + binary), "confusion": confusion}
    require_test_metrics(eval_results, source, [key for key, *_ in MULTI_CLASS_METRICS],
                         f"classifier of {len(names)} labels")
    return {**result, "rows": metric_rows(eval_results, MULTI_CLASS_METRICS + MULTI_CLASS_EXTRA_METRICS),
            "per_label": per_label_rows(eval_results, names), "confusion": eval_results.get("test_confusion_matrix")}


def without_machine_path(value: str) -> str:
    """`value` with an absolute path (or one under ~) cut to its file or folder name, also after "SPLIT=" (a
    --data_files entry): a card is public and says nothing of the trainer's machine. Relative paths are kept."""
    prefix, _, path = value.rpartition("=") if "=" in value else ("", "", value)
    if path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", path):
        path = PureWindowsPath(path).name if "\\" in path else Path(path).name
    return f"{prefix}={path}" if prefix else path


def command_line(run_info: dict) -> str | None:
    """The recorded training command, its program by name and absolute paths by name (`without_machine_path`)."""
    argv = [str(part) for part in run_info.get("command") or []]
    if not argv:
        return None
    return shlex.join([Path(argv[0]).name, *(without_machine_path(part) for part in argv[1:])])


def describe_data(run_info: dict, dataset_name: str | None, dataset_description: str | None) -> dict:
    """The card's account of the data: its name and description (given here, else recorded by training's
    `--dataset_name` / `--dataset_description`, else None), where it was read from (`--dataset` and
    `--data_files`, absolute paths cut to their names), its columns, the split sizes (run_info.json's `splits`,
    else None) and how the splits were made, and the Hub dataset id for the metadata where there is one."""
    data = (run_info.get("arguments") or {}).get("data") or {}
    name = dataset_name or data.get("dataset_name")
    dataset = data.get("dataset")
    files = [without_machine_path(str(entry)) for entry in data.get("data_files") or []]
    if dataset is None:
        source = None
    elif files:
        source = f"the {dataset} files " + ", ".join(f"`{entry}`" for entry in files)
    else:
        source = f"`{without_machine_path(str(dataset))}`"
    hub_dataset = None
    if name and HUB_DATASET_ID.match(name):
        hub_dataset = name
    elif dataset and not files and HUB_DATASET_ID.match(str(dataset)) and not Path(str(dataset)).exists():
        hub_dataset = str(dataset)
    splits = run_info.get("splits") or {}
    protocol = data.get("split_protocol", "canonical")
    if protocol == "canonical":
        fraction = data.get("validation_fraction")
        splitting = (f"validation: {100 * float(fraction):g}% of the training rows held out (seed "
                     f"{data.get('split_seed')}); test: the test split as given" if fraction
                     else "the training and test splits as given, no validation split")
    else:
        splitting = (f"all rows re-split train/validation/test {protocol} % (seed {data.get('split_seed')})")
    return {
        "name": name,
        "description": dataset_description or data.get("dataset_description"),
        "source": source,
        "hub_id": hub_dataset,
        "text_column": data.get("text_column"),
        "label_columns": data.get("label_columns") or ([data["label_column"]] if data.get("label_column") else []),
        "splits": {split: splits.get(split) for split in ("train", "validation", "test")} if splits else None,
        "test_samples": splits.get("test"),
        "splitting": splitting if data else None,
    }


def first_test_review(model_dir: Path) -> dict | None:
    """The first row of the folder's test predictions (`test_predictions.jsonl`) with its review's text, or None
    where the folder has none or it records no text (written before the text was kept)."""
    path = model_dir / "test_predictions.jsonl"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as handle:
        line = handle.readline()
    row = json.loads(line) if line.strip() else {}
    return row if isinstance(row.get("text"), str) and row["text"].strip() else None


def explain_first_test_review(model_dir: Path, config: dict, top: int = 5) -> dict | None:
    """The first test review of the user's data explained by the model of `model_dir` (`imdb_lstm.explain`): drawn
    into `model_dir/example_explained.png` and summed up for the card (the recorded prediction and truth, what the
    colours point toward, the strongest words). None, with a logged note, where the folder records no test review,
    captum is missing, or the explanation or its picture cannot be made for this model."""
    row = first_test_review(model_dir)
    if row is None:
        logger.info("The card has no explained example: %s holds no test review with its text (train again with "
                    "do_predict to record one).", model_dir / "test_predictions.jsonl")
        return None
    try:
        require_captum()
    except ImportError as error:
        logger.warning("The card has no explained example: %s", error)
        return None
    problem_type = problem_type_of(config)
    model, tokenizer = load_classifier(str(model_dir))
    try:
        explanation = explain(model, tokenizer, row["text"])
    except (ValueError, RuntimeError, TypeError, IndexError, KeyError) as error:
        logger.warning("The card has no explained example: the first test review of a %s model could not be "
                       "explained (%s).", problem_type, error)
        return None
    try:
        render_png(explanation, model_dir / EXAMPLE_PICTURE)
    except OSError as error:
        logger.warning("The card has no explained example: cannot write %s (%s)", model_dir / EXAMPLE_PICTURE, error)
        return None
    except (ValueError, RuntimeError, TypeError, IndexError, KeyError) as error:
        logger.warning("The card has no explained example: the explanation of a %s model could not be drawn (%s).",
                       problem_type, error)
        return None
    names = label_names(config)
    truth = row.get("labels", row.get("label"))
    if problem_type == SINGLE_LABEL and isinstance(truth, int) and 0 <= truth < len(names):
        truth = names[truth]
    prediction = row.get("prediction")
    if problem_type == SINGLE_LABEL and isinstance(prediction, int) and 0 <= prediction < len(names):
        prediction = names[prediction]
    return {
        "picture": EXAMPLE_PICTURE, "problem_type": explanation.problem_type,
        "truth": truth, "prediction": prediction,
        "probabilities": row.get("probabilities") or ({IMDB_LABELS[0]: row["p_negative"], IMDB_LABELS[1]:
                                                       row["p_positive"]} if "p_positive" in row else None),
        "label": explanation.label, "against": explanation.against,
        "value": explanation.value, "n_steps": explanation.n_steps,
        "toward": [word for word, _, _ in explanation.top_words(top)],
        "against_words": [word for word, _, _ in explanation.top_words(top, against=True)],
    }


def labelled_card_metadata(config: dict, data: dict, results: dict, license: str | None) -> dict:
    """The labelled card's own metadata: the task, the data (its Hub id or the name the user gave it), the tags and
    the test results the Hub shows (`model-index`; an undefined correlation, NaN, is left out)."""
    problem_type = problem_type_of(config)
    dataset = data["hub_id"] or data["name"]
    dataset_name = data["name"] or data["hub_id"] or "the user's data"
    tags = ["text-classification" if problem_type != REGRESSION else "text-regression",
            *(["multi-label"] if problem_type == MULTI_LABEL else []),
            "cnn" if config.get("encoder") == "cnn" else config.get("cell", "lstm"), "imdb-lstm", "custom_code"]
    return dict(
        language=None,  # the user's data may be in any language
        license=license,
        pipeline_tag="text-classification",
        datasets=[dataset] if dataset else None,
        metrics=sorted({row["type"] for row in results["rows"]}),
        tags=tags,
        eval_results=[
            EvalResult(task_type="text-classification", task_name=TASK_NAMES[problem_type],
                       dataset_type=dataset or "custom", dataset_name=dataset_name, dataset_split="test",
                       metric_type=row["type"], metric_name=row["name"], metric_value=row["value"],
                       metric_args=row["args"])
            for row in results["rows"] if not math.isnan(row["value"])
        ],
    )


def render_labelled_model_card(model_dir, repo_id: str | None, dataset_name: str | None = None,
                               dataset_description: str | None = None, license: str | None = None,
                               explain_example: bool = True,
                               template_path: Path = LABELLED_CARD_TEMPLATE) -> ModelCard:
    """The model card of an `imdb-lstm-train` output folder trained on the user's own data (any problem type:
    single-label of any number of labels, multi-label, regression), rendered from the `labelled_model_card.md`
    template: its labels (for regression the target columns), the test metrics table of its problem type from
    eval_results.json (see `read_labelled_test_metrics`), the data as the user described it (`dataset_name`,
    `dataset_description`, else what training recorded with `--dataset_name` / `--dataset_description`, else
    where it was read from and a request to describe it; see `describe_data`), the split sizes and the command
    from run_info.json, and, with `explain_example`, the first test review explained (`explain_first_test_review`).
    `license`: the model's licence for the metadata (None: unset, for the user to choose)."""
    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    config = read_json(model_dir / "config.json")
    eval_path = model_dir / "eval_results.json"
    eval_results = read_json(eval_path)
    results = read_labelled_test_metrics(config, eval_results, eval_path)
    run_info = read_json_if_present(model_dir / "run_info.json")
    tokenizer_config = read_json(model_dir / "tokenizer_config.json")
    data = describe_data(run_info, dataset_name, dataset_description)
    problem_type = problem_type_of(config)
    names = label_names(config)
    return render_card(
        model_dir, repo_id, template_path, labelled_card_metadata(config, data, results, license), run_info,
        title=repo_id or model_dir.resolve().name,
        **model_fields(config, tokenizer_config, tokenizer_config.get("model_max_length")),
        problem_type=problem_type,
        task_name=TASK_NAMES[problem_type],
        labels=names,
        license=license,
        data=data,
        results=results,
        confusion_table=(results["confusion"] if results["confusion"] and len(names) <= MAX_CONFUSION_TABLE_LABELS
                         else None),
        confusion_matrix=(model_dir / "confusion_matrix.png").is_file(),
        command=command_line(run_info),
        recipe=[(name, without_machine_path(value)) for name, value in training_recipe(run_info)],
        example=explain_first_test_review(model_dir, config) if explain_example else None,
    )


def is_default_model_dir(model_dir) -> bool:
    """Whether `model_dir` is a default-model build (`imdb-lstm-build-default`'s folder): its run_info.json is the
    build's record, with the `stages` it ran, rather than one training run's."""
    run_info = read_json_if_present(Path(model_dir) / "run_info.json")
    return isinstance(run_info.get("stages"), dict)


def read_build_test_metrics(eval_results: dict, source: Path) -> list[dict]:
    """The default card's test metrics (`TEST_METRICS`, then precision and F1 where present) from the build's
    eval_results.json; a clear error when one of `TEST_METRICS` is missing."""
    missing = [f"test_{key}" for key, _, _ in TEST_METRICS if f"test_{key}" not in eval_results]
    if missing:
        raise ValueError(f"{source} has no {', '.join(missing)}: the default model's card reports the build's final "
                         "scoring of IMDB's test split, which imdb-lstm-build-default writes in its last stage "
                         "(`test`); run the build to its end before rendering the card.")
    metrics = [{"key": key, "type": metric_type, "name": name, "value": float(eval_results[f"test_{key}"])}
               for key, metric_type, name in TEST_METRICS]
    metrics += [{"key": key, "type": key, "name": name, "value": float(eval_results[f"test_{key}"])}
                for key, name in EXTRA_TEST_METRICS if eval_results.get(f"test_{key}") is not None]
    return metrics


def format_seconds(seconds) -> str:
    """'95 s', '1,234 s (21 min)', '12,345 s (3.4 h)'; 'unrecorded' for None."""
    if seconds is None:
        return "unrecorded"
    seconds = float(seconds)
    text = f"{seconds:,.0f} s"
    if seconds >= 2 * 3600:
        return f"{text} ({seconds / 3600:.1f} h)"
    if seconds >= 120:
        return f"{text} ({seconds / 60:.0f} min)"
    return text


def describe_machine(machine: dict | None) -> str:
    """'AMD EPYC 7B13 (2 torch threads; Linux-...)' from run_info.json's `machine`."""
    if not machine:
        return "an unrecorded machine"
    name = machine.get("cpu") or machine.get("processor") or "an unrecorded CPU"
    details = []
    if machine.get("torch_threads"):
        details.append(f"{machine['torch_threads']} torch threads")
    if machine.get("platform"):
        details.append(str(machine["platform"]))
    return f"{name} ({'; '.join(details)})" if details else str(name)


def describe_word_vectors(stage: dict, settings: dict) -> dict:
    """What the word-vector stage learnt and from what, from its record (`stage`, the report of
    `imdb_lstm.word_vectors.learn_word_vectors` with its seconds) and the build config's `settings` for it."""
    settings = {**settings, **(stage.get("arguments") or {})}
    method = {"word2vec": "Word2Vec", "fasttext": "FastText"}.get(str(settings.get("method", "word2vec")).lower(),
                                                                  str(settings.get("method")))
    details = []
    if settings.get("skip_gram") is not None:
        details.append("skip-gram" if settings["skip_gram"] else "CBOW")
    if settings.get("dimension"):
        details.append(f"{settings['dimension']} dimensions")
    if settings.get("epochs"):
        details.append(f"{settings['epochs']} epochs")
    splits = [name.strip() for name in str(settings.get("dataset_splits") or "train,unsupervised").split(",")
              if name.strip()]
    named = {"train": "the training reviews", "unsupervised": f"the {IMDB_UNSUPERVISED_SIZE:,} unlabelled reviews"}
    return {
        "method": f"{method} ({', '.join(details)})" if details else method,
        "tag": method.lower(),
        "splits": " and ".join(f"`{name}`" for name in splits) + (" splits" if len(splits) > 1 else " split"),
        "what": " and ".join(named.get(name, f"`{name}`") for name in splits),
        "texts": stage.get("texts"),
        "excluded": stage.get("excluded_texts"),
        "vocabulary": stage.get("vocabulary"),
    }


def classifier_split_sizes(stage: dict, data_arguments: dict) -> tuple[int, int]:
    """(training, validation) review counts of the chosen classifier: recorded by the build, else what
    `imdb_lstm.data.make_splits` makes of IMDB's 25,000 training reviews with the run's validation_fraction."""
    if stage.get("train_samples") is not None and stage.get("validation_samples") is not None:
        return int(stage["train_samples"]), int(stage["validation_samples"])
    fraction = float(data_arguments.get("validation_fraction", 0.1) or 0)
    train = math.floor((1 - fraction) * IMDB_TRAIN_SIZE)  # sklearn's train_test_split with a float train_size
    return train, IMDB_TRAIN_SIZE - train


def describe_build(run_info: dict, test_samples: int) -> dict:
    """The default card's account of the build, from run_info.json: the command, each stage with its seconds and
    what it did, the classifier candidates, the compression steps, the data and the test pass's speed."""
    stages = run_info["stages"]
    build_config = run_info.get("build_config") or {}
    data_arguments = (run_info.get("arguments") or {}).get("data") or {}
    word_vectors = describe_word_vectors(stages.get("word_vectors") or {}, build_config.get("word_vectors") or {})
    classifier = stages.get("classifier") or {}
    compression = stages.get("compression") or {}
    test = stages.get("test") or {}
    chosen = classifier.get("chosen")
    candidates = [{"name": name, "chosen": name == chosen, "accuracy": scores.get("eval_accuracy"),
                   "recurrent_accuracy": scores.get("eval_recurrent_accuracy")}
                  for name, scores in (classifier.get("candidates") or {}).items()]
    steps = [{"step": step.get("step", "?"), "what": COMPRESSION_STEPS.get(step.get("step"), step.get("step", "?")),
              "size_mb": step.get("size_mb"), "accuracy": step.get("eval_accuracy"), "detail": step.get("detail")}
             for step in compression.get("steps") or []]
    train_count, validation_count = classifier_split_sizes(classifier, data_arguments)

    what = {
        "word_vectors": (f"{word_vectors['method']} on {word_vectors['what']}"
                         + (f": {word_vectors['texts']:,} texts" if word_vectors["texts"] is not None else "")
                         + (f", the {word_vectors['excluded']:,} validation and test texts left out"
                            if word_vectors["excluded"] is not None else "")),
        "classifier": (f"{len(candidates)} candidate{'s' if len(candidates) != 1 else ''} trained on "
                       f"{train_count:,} reviews; `{chosen}` chosen on validation accuracy" if chosen
                       else "trained on the training reviews"),
        "compression": ("; ".join(f"`{step['step']}`" for step in steps) + ", each measured on validation"
                        if steps else "no steps recorded"),
        "test": (f"{test_samples:,} test reviews through a plain `pipeline`, batch {test.get('batch_size', 64)}"
                 + (f" ({test['reviews_per_s']:,.0f} reviews/s)" if test.get("reviews_per_s") else "")),
    }
    order = [name for name in BUILD_STAGES if name in stages] + [name for name in stages if name not in BUILD_STAGES]
    stage_rows = [{"name": name, "what": what.get(name, ""),
                   "time": format_seconds((stages[name] or {}).get("seconds"))} for name in order]
    recorded = [float(stages[name]["seconds"]) for name in order if (stages[name] or {}).get("seconds") is not None]
    argv = [str(part) for part in run_info.get("command") or []]
    command = shlex.join([Path(argv[0]).name, *argv[1:]]) if argv else None
    return {
        "command": command,
        "stages": stage_rows,
        "total_time": format_seconds(sum(recorded)) if recorded else None,
        "candidates": candidates,
        "chosen": chosen,
        "compression_steps": steps,
        "word_vectors": word_vectors,
        "train_count": train_count,
        "validation_count": validation_count,
        "split_seed": data_arguments.get("split_seed"),
        "test_speed": {"reviews_per_s": test.get("reviews_per_s"), "batch_size": test.get("batch_size", 64)},
        "machine": describe_machine(run_info.get("machine")),
    }


def read_build_record(model_dir: Path) -> dict:
    """The build's record, `run_info.json` with its `stages`: only imdb-lstm-build-default writes one, so a folder
    without it is not the default model's."""
    run_info_path = model_dir / "run_info.json"
    run_info = read_json_if_present(run_info_path)
    if not isinstance(run_info.get("stages"), dict):
        raise ValueError(f"{run_info_path} is missing or has no `stages`: the default model's card is rendered from "
                         "the record imdb-lstm-build-default writes there. For the output folder of imdb-lstm-train, "
                         "use render_model_card.")
    return run_info


def describe_test_split(eval_results: dict) -> dict:
    """What the card says of the split the build scored: its confusion counts (None where eval_results.json has
    none), its size (`test_samples`, else the counts' sum), whether it is IMDB's whole test split and a phrase
    naming it (a smaller split is said to be one, so that its figures are compared with care)."""
    confusion = {cell: eval_results.get(f"test_{cell}") for cell in ("tn", "fp", "fn", "tp")}
    counted = sum(int(value) for value in confusion.values() if value is not None)
    test_samples = int(eval_results.get("test_samples") or counted)
    full_imdb_test = test_samples == IMDB_TEST_SIZE
    test_description = (
        f"IMDB's test split ({IMDB_TEST_SIZE:,} reviews)" if full_imdb_test
        else f"{test_samples:,} reviews of a test split (not the full {IMDB_TEST_SIZE:,}-review IMDB test split, so "
        "compare with care)"
    )
    return {"test_samples": test_samples, "full_test": full_imdb_test, "test_description": test_description,
            "confusion": confusion if counted else None}


def network_design(config: dict) -> str:
    """The model's design in a few words: "bag-of-n-grams + BiLSTM", "CNN", "GRU"..."""
    if config.get("encoder") == "cnn":
        network = "CNN"
    else:
        network = ("Bi" if config.get("bidirectional") else "") + config.get("cell", "lstm").upper()
    return ("bag-of-n-grams + " if config.get("ngram_order") else "") + network


def default_card_metadata(config: dict, word_vectors_tag: str, metrics: list[dict]) -> dict:
    """The default model card's own metadata: the task, the data, the tags (the encoder, the n-gram branch, the
    word vectors) and the test results the Hub shows (`model-index`)."""
    encoder_tag = "cnn" if config.get("encoder") == "cnn" else config.get("cell", "lstm")
    return dict(
        pipeline_tag="text-classification",
        datasets=["stanfordnlp/imdb"],
        metrics=["accuracy"],
        tags=["sentiment-analysis", "imdb", "movie-reviews", encoder_tag,
              *(["n-grams"] if config.get("ngram_order") else []), word_vectors_tag, "imdb-lstm", "custom_code"],
        eval_results=[
            EvalResult(task_type="text-classification", task_name="Sentiment analysis",
                       dataset_type="stanfordnlp/imdb", dataset_name="IMDB", dataset_split="test",
                       metric_type=metric["type"], metric_name=metric["name"], metric_value=metric["value"])
            for metric in metrics[:len(TEST_METRICS)]  # the five rates; precision and F1 only in the card's table
        ],
    )


def render_default_model_card(model_dir, repo_id: str | None = None, explain_example: bool = False,
                              template_path: Path = CARD_TEMPLATE) -> ModelCard:
    """The model card of the default model's folder (`imdb_lstm/default_model/`, written by
    `imdb-lstm-build-default`), rendered from the `model_card.md` template: the measured table of the build's final
    scoring of IMDB's test split (accuracy, TPR, TNR, FNR, FPR, the recurrent part alone, size, speed and machine),
    the validation accuracy after each compression step, the data, how it was built (command, stages and their
    seconds), intended use and limitations, and `model-index` metadata so the Hub shows the test results. Read from
    the folder's `eval_results.json` and `run_info.json` (the build's record, with its `stages`); a clear error
    when the test metrics or the build's record are missing. `repo_id`: the Hub repo the card is for (its usage
    examples load that repo); None (the package's own copy) shows `imdb_lstm.DEFAULT_MODEL`. `explain_example`: see
    `render_model_card` (off by default, so the shipped folder gains no picture)."""
    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    run_info = read_build_record(model_dir)
    config = read_json(model_dir / "config.json")
    eval_path = model_dir / "eval_results.json"
    eval_results = read_json(eval_path)
    metrics = read_build_test_metrics(eval_results, eval_path)
    tokenizer_config = read_json(model_dir / "tokenizer_config.json")
    test_split = describe_test_split(eval_results)
    build = describe_build(run_info, test_split["test_samples"])
    return render_card(
        model_dir, repo_id, template_path, default_card_metadata(config, build["word_vectors"]["tag"], metrics),
        run_info,
        default={
            **build,
            "test_samples": test_split["test_samples"],
            "full_test": test_split["full_test"],
            "test_description": test_split["test_description"],
            "recurrent_accuracy": eval_results.get("test_recurrent_accuracy"),
            "float32_accuracy": eval_results.get("test_float32_accuracy"),
            "validation_accuracy": eval_results.get("eval_accuracy"),
            "validation_recurrent_accuracy": eval_results.get("eval_recurrent_accuracy"),
            "confusion": test_split["confusion"],
            "serving": run_info.get("serving") or None,
            "design": network_design(config),
        },
        title=repo_id or DEFAULT_MODEL_NAME,
        **model_fields(config, tokenizer_config, tokenizer_config.get("model_max_length")),
        test_results=metrics,
        test_description=test_split["test_description"],
        validation_accuracy=eval_results.get("eval_accuracy"),
        confusion_matrix=(model_dir / "confusion_matrix.png").is_file(),
        benchmark=None,
        example=explain_study_example(model_dir) if explain_example else None,
    )


def describe_language_model(config: dict) -> str:
    """One line saying what the language model is, from config.json."""
    layers = f"{config['num_layers']}-layer " if config["num_layers"] > 1 else ""
    output = (" through an adaptive softmax" if config.get("lm_output") == "adaptive"
              else " through a softmax tied to the embedding")
    if config["bidirectional"]:
        return (f"a {layers}bidirectional {config['cell'].upper()} ({config['hidden_size']} units per direction) whose "
                "left-to-right direction predicts the next word and right-to-left direction the previous word" + output)
    return f"a {layers}{config['cell'].upper()} ({config['hidden_size']} units) predicting the next word" + output


def render_language_model_card(model_dir, repo_id: str, template_path: Path = LANGUAGE_MODEL_CARD_TEMPLATE) -> ModelCard:
    """The model card of a pretraining output folder, rendered from the `lm_model_card.md` template: pretraining
    data, tokens seen and validation perplexity, all read from the folder."""
    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    config = read_json(model_dir / "config.json")
    eval_results = read_json(model_dir / "eval_results.json")
    if "eval_perplexity" not in eval_results:
        raise ValueError(f"{model_dir / 'eval_results.json'} has no eval_perplexity: push the output folder of a "
                         "finished imdb-lstm-pretrain run.")
    train_results = read_json_if_present(model_dir / "train_results.json")
    run_info = read_json_if_present(model_dir / "run_info.json")
    data = run_info.get("arguments", {}).get("data", {})
    dataset = data.get("dataset", "unrecorded")
    card_data = dict(
        pipeline_tag="text-generation",
        datasets=["stanfordnlp/imdb"] if dataset in ("stanfordnlp/imdb", "sample") or "imdb" in str(dataset) else None,
        tags=["language-model", "imdb-lstm", config["cell"], "custom_code"],
    )
    return render_card(
        model_dir, repo_id, template_path, card_data, run_info,
        architecture=describe_language_model(config),
        bidirectional=config["bidirectional"],
        embedding_dim=config["embedding_dim"],
        embedding_source=config.get("embedding_source") or "random vectors",
        vocab_size=config["vocab_size"],
        dataset=dataset,
        dataset_splits=data.get("dataset_splits"),
        block_size=data.get("block_size", "unrecorded"),
        train_tokens=train_results.get("train_tokens"),
        perplexity=eval_results.get("eval_perplexity"),
    )


def render_card(model_dir: Path, repo_id: str | None, template_path: Path, card_data: dict, run_info: dict,
                recipe: list[tuple[str, str]] | None = None, **values) -> ModelCard:
    """What every card shares: the metadata (English, Apache-2.0, transformers, `repo_id`; `card_data` adds the
    card's own and may replace the language and the licence) and the values both templates show (parameter count, weight size, training-curve plot, recipe
    arguments, unless `recipe` gives them, and library versions from run_info.json; `values` adds the card's own),
    rendered from `template_path` with `huggingface_hub.ModelCard`."""
    if not Path(template_path).is_file():
        raise FileNotFoundError(f"Model card template {template_path} not found: it ships inside the imdb_lstm "
                                "package; reinstall imdb-lstm or pass template_path.")
    metadata = ModelCardData(**{"language": "en", "license": "apache-2.0", "library_name": "transformers",
                                "model_name": repo_id or DEFAULT_MODEL_NAME, **card_data})
    return ModelCard.from_template(
        metadata,
        template_path=str(template_path),
        repo_id=repo_id,
        num_parameters=count_parameters(model_dir),
        model_mb=sum(path.stat().st_size for path in model_dir.glob("*.safetensors")) / 1e6,
        training_curves=(model_dir / "training_curves.png").is_file(),
        recipe=training_recipe(run_info) if recipe is None else recipe,
        training=describe_training(run_info),
        versions=run_info.get("versions"),
        **values,
    )
