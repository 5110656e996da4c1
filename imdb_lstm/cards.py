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
"""

import json
import logging
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .explain import explain, render_png, require_captum
from .predict import LANGUAGE_MODEL_CLASS, load_classifier
from .study import EXAMPLE_REVIEW, EXAMPLE_STUDY_P_NEGATIVE

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
CARD_TEMPLATE = PACKAGE_DIR / "model_card.md"
LANGUAGE_MODEL_CARD_TEMPLATE = PACKAGE_DIR / "lm_model_card.md"

# The study's example review explained (imdb_lstm.explain), drawn by render_model_card next to the card.
EXAMPLE_PICTURE = "example_explained.png"
# What a finished output folder holds (besides its safetensors weights), for a card or a push.
REQUIRED_FILES = ("config.json", "configuration_imdb_lstm.py", "modeling_imdb_lstm.py", "tokenizer.json",
                  "tokenizer_config.json", "eval_results.json")

# (metric key in eval_results.json without "test_", model-index metric type, name shown on the card)
TEST_METRICS = (
    ("accuracy", "accuracy", "Accuracy"),
    ("tpr", "tpr", "True positive rate (recall of POSITIVE)"),
    ("tnr", "tnr", "True negative rate (recall of NEGATIVE)"),
    ("fnr", "fnr", "False negative rate"),
    ("fpr", "fpr", "False positive rate"),
)
IMDB_TEST_SIZE = 25000

# The run_info.json arguments the card lists as the training recipe, by argument group.
RECIPE_ARGUMENTS = {
    "data": ("dataset", "dataset_splits", "split_protocol", "validation_fraction", "split_seed", "vocab_size", "min_frequency",
             "max_length", "truncation_side", "max_train_samples", "max_eval_samples"),
    "model": ("encoder", "cell", "bidirectional", "num_layers", "hidden_size", "pooling", "cnn_kernel_sizes",
              "cnn_num_filters", "glove", "oov_init", "embedding_dropout", "rnn_dropout", "dropout", "freeze_embedding"),
    "training": ("num_train_epochs", "max_steps", "per_device_train_batch_size", "learning_rate", "lr_scheduler_type",
                 "warmup_steps", "weight_decay", "max_grad_norm", "optim", "train_sampling_strategy",
                 "metric_for_best_model", "encoder_learning_rate_factor", "encoder_frozen_epochs", "seed"),
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


def check_model_dir(model_dir: Path) -> None:
    """Raise a clear error when `model_dir` is not a complete output folder of imdb-lstm-train or -pretrain."""
    if not model_dir.is_dir():
        raise FileNotFoundError(f"Model folder {model_dir} does not exist: give the --output_dir of a training run.")
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
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
    """The test metrics of the card, read from eval_results.json; a clear error when one is missing."""
    missing = [f"test_{key}" for key, _, _ in TEST_METRICS if f"test_{key}" not in eval_results]
    if missing and "test_macro_f1" in eval_results:
        # A classifier of more than two labels (train.py on other data): this card is IMDB sentiment's.
        raise ValueError(f"{source} is of a classifier of more than two labels (macro-F1, no TPR/TNR): the model card "
                         "describes the binary IMDB sentiment classifier and cannot be rendered for it. Upload the "
                         "folder with huggingface_hub (HfApi().upload_folder) and write its README.md yourself.")
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
        encoder = f"a {layers}{direction}{config['cell'].upper()} ({config['hidden_size']} units per direction)"
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


def render_model_card(model_dir, repo_id: str, benchmarks_file: Path | None = None,
                      template_path: Path = CARD_TEMPLATE, explain_example: bool = True) -> ModelCard:
    """The model card of the output folder `model_dir`, rendered from the `model_card.md` template. With
    `benchmarks_file` (the project's `benchmarks/accuracy.json`, see `recipe_benchmark`), the card shows the
    shipped recipe's benchmarked row beside this model's figures. With `explain_example`, the study's example review
    explained is drawn into `model_dir/example_explained.png` and shown on the card (see `explain_study_example`)."""
    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    config = read_json(model_dir / "config.json")
    eval_results = read_json(model_dir / "eval_results.json")
    metrics = read_test_metrics(eval_results, model_dir / "eval_results.json")
    run_info = read_json_if_present(model_dir / "run_info.json")
    max_length = read_json(model_dir / "tokenizer_config.json").get("model_max_length")

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
    coverage = config.get("embedding_coverage")
    return render_card(
        model_dir, repo_id, template_path, card_data, run_info,
        model_type=config["model_type"],
        architecture=describe_architecture(config),
        embedding_source=config.get("embedding_source") or "unrecorded",
        embedding_coverage=f"{100 * coverage:.1f}%" if coverage is not None else "An unrecorded share",
        embedding_dim=config["embedding_dim"],
        freeze_embedding=config.get("freeze_embedding", False),
        vocab_size=config["vocab_size"],
        id2label=config["id2label"],
        distilled_from=config.get("distilled_from"),
        inference_dtype=config.get("inference_dtype", "float32"),
        max_length=max_length,
        test_results=metrics,
        test_description=test_description,
        validation_accuracy=eval_results.get("eval_accuracy"),
        confusion_matrix=(model_dir / "confusion_matrix.png").is_file(),
        benchmark=recipe_benchmark(benchmarks_file),
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


def render_card(model_dir: Path, repo_id: str, template_path: Path, card_data: dict, run_info: dict,
                **values) -> ModelCard:
    """What both cards share: the metadata (English, Apache-2.0, transformers, `repo_id`; `card_data` adds the
    card's own) and the values both templates show (parameter count, weight size, training-curve plot, recipe
    arguments and library versions from run_info.json; `values` adds the card's own), rendered from
    `template_path` with `huggingface_hub.ModelCard`."""
    if not Path(template_path).is_file():
        raise FileNotFoundError(f"Model card template {template_path} not found: it ships inside the imdb_lstm "
                                "package; reinstall imdb-lstm or pass template_path.")
    metadata = ModelCardData(language="en", license="apache-2.0", library_name="transformers", model_name=repo_id,
                             **card_data)
    return ModelCard.from_template(
        metadata,
        template_path=str(template_path),
        repo_id=repo_id,
        num_parameters=count_parameters(model_dir),
        model_mb=sum(path.stat().st_size for path in model_dir.glob("*.safetensors")) / 2**20,
        training_curves=(model_dir / "training_curves.png").is_file(),
        recipe=training_recipe(run_info),
        versions=run_info.get("versions"),
        **values,
    )
