"""The `imdb-lstm-predict` command: classify reviews with a saved model (`imdb_lstm.predict`; by default the model
the package ships, `imdb_lstm.DEFAULT_MODEL`) and, with `--explain`, show the words behind each verdict
(`imdb_lstm.explain`).

    imdb-lstm-predict "A wonderful, moving film."                         # the shipped model
    imdb-lstm-predict --model outputs/demo "A wonderful, moving film."    # a model of your own
    imdb-lstm-predict --file reviews.txt --json                           # one review per line
    imdb-lstm-predict --file reviews.csv --text_column review --output verdicts.csv   # also .jsonl, .parquet
    cat reviews.txt | imdb-lstm-predict                                    # stdin, one review per line
    imdb-lstm-predict --model outputs/demo --example --explain            # and the words behind each verdict
    imdb-lstm-predict --model outputs/demo --example --explain-html why.html

It needs only the inference dependencies (torch, transformers, tokenizers, safetensors): `pip install imdb-lstm`
without the `[train]` extra is enough, and nothing here imports a training module.
"""

import argparse
import csv
import json
import os
import sys
from pathlib import Path

from tqdm import tqdm

from ..configuration_imdb_lstm import INFERENCE_DTYPES
from ..explain import (DEFAULT_STEPS, explain, explain_labels, label_index, render_html_page,
                       require_captum, score_meaning)
from ..predict import load_classifier_or_report, predict, quiet_progress_bars
from ..study import EXAMPLE_REVIEW

# From this many reviews on, a progress bar on stderr (never below: a few verdicts need none).
PROGRESS_AT = 1000
# Empty reviews warned about one by one; beyond these, one line counts the rest.
EMPTY_WARNINGS_SHOWN = 10
OUTPUT_SUFFIXES = (".jsonl", ".csv")


class InputError(ValueError):
    """A `--file` or `--output` the command cannot use; the message says what was wrong and what to give."""


def short_names(labels) -> dict[str, str]:
    """Each label's name in a verdict line's `p(...)`: its first three letters in lower case where those tell the
    labels apart (`neg`, `pos` for IMDB), else the whole name in lower case (`label_0`, `label_1`)."""
    shortened = {label: str(label).lower()[:3] for label in labels}
    if len(set(shortened.values())) == len(shortened):
        return shortened
    return {label: str(label).lower() for label in labels}


def format_line(result: dict) -> str:
    """One verdict line from a `predict` result, whatever the model's labels: `NEGATIVE  p(neg)=0.93  p(pos)=0.07`,
    or for genres `comedy    p(com)=0.80  p(dra)=0.15  p(hor)=0.05` (probabilities in the model's label order); a
    multi-label model's labels above its threshold (`comedy, drama  p(com)=0.80 ...`, `(none)` if none); a
    regression's `intensity = 2.310`."""
    if "value" in result:
        return f"{result['label']} = {result['value']:.3f}"
    names = short_names([key.removeprefix("p_") for key in result if key.startswith("p_")])
    probabilities = "  ".join(f"p({short})={result[f'p_{name}']:.2f}" for name, short in names.items())
    verdict = result["label"] if "label" in result else ", ".join(result["labels"]) or "(none)"
    return f"{verdict:<9} {probabilities}"


ANSI = {"NEGATIVE": "\033[31m", "POSITIVE": "\033[32m", "bold": "\033[1m", "reset": "\033[0m"}


def use_colour(stream) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org) or TERM=dumb."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def format_explanation(explanation, top: int = 5, colour: bool = False, verdict: bool = True) -> str:
    """The verdict line and the `top` words toward the explained label and against it, e.g.
    `NEGATIVE  p(neg)=0.96  p(pos)=0.04` / `  toward NEGATIVE: stupid ×3 (+2.41), disgrace (+1.10)` /
    `  against it (toward POSITIVE): great (-0.80)`; for more labels against the runner-up (`against it (toward
    drama)`), for a multi-label model per label (`against sports`), for regression `  intensity higher: ...` /
    `  intensity lower: ...`. With `colour`, ANSI colours (red NEGATIVE, green POSITIVE); without `verdict`, the
    word lines only (a multi-label model's second label on)."""
    label = explanation.label
    green, red = score_meaning(explanation)
    other = red.removeprefix("toward ")

    def paint(text: str, name: str) -> str:
        return f"{ANSI.get(name, '')}{text}{ANSI['reset']}" if colour and name in ANSI else text

    def listed(words) -> str:
        if not words:
            return "(none)"
        return ", ".join(f"{word}{f' ×{count}' if count > 1 else ''} ({score:+.2f})" for word, score, count in words)

    if explanation.problem_type == "regression":
        lines = [f"{label} = {explanation.value:.3f}", f"  {green}: {listed(explanation.top_words(top))}",
                 f"  {red}: {listed(explanation.top_words(top, against=True))}"]
    else:
        names = short_names(explanation.probabilities)
        probabilities = "  ".join(f"p({names[name]})={p:.2f}" for name, p in explanation.probabilities.items())
        chosen = ", ".join(explanation.predicted) or "(none)"
        against = red if red.startswith("against") else f"against it ({red})"
        lines = [paint(f"{ANSI['bold'] if colour else ''}{chosen:<9} {probabilities}", chosen),
                 f"  {green}: {paint(listed(explanation.top_words(top)), label)}",
                 f"  {against}: {paint(listed(explanation.top_words(top, against=True)), other)}"]
        lines = lines if verdict else lines[1:]
    if explanation.words_cut:
        lines.append(f"  ({explanation.words_cut} tokens of this long review were cut off, as in training, unread)")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The `imdb-lstm-predict` command line."""
    parser = argparse.ArgumentParser(description="Classify movie reviews (NEGATIVE or POSITIVE with the shipped "
                                     "model; a model of your own names its own labels).")
    parser.add_argument("texts", nargs="*",
                        help="reviews to classify (none and no --file: read stdin, one review per line)")
    parser.add_argument("--model", default=None,
                        help="model folder or Hub repo id (default: the model shipped with the package, "
                        "imdb_lstm.DEFAULT_MODEL)")
    parser.add_argument("--file", help="reviews to classify: a .csv, .jsonl (or .json lines) or .parquet file (the "
                        "column --text_column; .parquet needs pyarrow), or any other file as plain text, one review "
                        "per line")
    parser.add_argument("--text_column", default="text",
                        help="the column of --file that holds the reviews (.csv, .jsonl, .parquet; default: text)")
    parser.add_argument("--output", metavar="PATH",
                        help="write one row per review (text, label, the probability of each label) to this .jsonl "
                        "or .csv file instead of printing verdicts (.jsonl also holds --explain's words)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per review")
    parser.add_argument("--example", action="store_true", help="also classify the original study's example review (negative)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument(
        "--dtype", choices=INFERENCE_DTYPES, default=None,
        help="compute dtype (default: the model's inference_dtype, bfloat16 where the CPU computes it natively): "
        "float32 = exact; bfloat16 is about 1.5x faster on CPUs with AVX512_BF16/AMX; auto = bfloat16 where native",
    )
    parser.add_argument("--trust_remote_code", action="store_true", help="load the model's own code from the folder/repo")
    parser.add_argument("--explain", action="store_true",
                        help="also print the words that pushed each verdict most, for and against (needs captum)")
    parser.add_argument("--explain-html", "--explain_html", dest="explain_html", metavar="FILE",
                        help="write each review with its words coloured by attribution to this HTML file")
    parser.add_argument("--explain_steps", type=int, default=None,
                        help="Integrated Gradients steps per integral (default: imdb_lstm.explain.DEFAULT_STEPS)")
    parser.add_argument("--explain_top", type=int, default=5, help="words listed for and against (default 5)")
    parser.add_argument("--target", metavar="LABEL", default=None,
                        help="with --explain/--explain-html: colour the words for this label (name or id) instead of "
                        "the predicted one (a model of more than two labels weighs it against the most probable "
                        "other label; a multi-label model by default explains every label above its "
                        "threshold)")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def read_reviews(path: str, text_column: str = "text") -> list[str]:
    """The reviews in `path`, chosen by its extension: .csv, .jsonl / .json (JSON lines, or one JSON list of
    objects) and .parquet give their `text_column`; any other file is plain text, one review per line."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return read_csv_reviews(path, text_column)
    if suffix in (".jsonl", ".json"):
        return read_json_reviews(path, text_column)
    if suffix == ".parquet":
        return read_parquet_reviews(path, text_column)
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\r\n") for line in handle]


def missing_column(path: str, column: str, columns) -> InputError:
    return InputError(f"{path} has no column {column!r} (its columns: {', '.join(map(str, columns)) or 'none'}): "
                      "name the column that holds the reviews with --text_column.")


def review_texts(values, path: str, column: str) -> list[str]:
    """The column's values as reviews: a missing value (null) is an empty review (warned about later, like an
    empty cell); a number or a list is an error that names its row."""
    texts = []
    for row, value in enumerate(values, start=1):
        if value is not None and not isinstance(value, str):
            raise InputError(f"row {row} of {path} holds {type(value).__name__} ({value!r:.40}) in column "
                             f"{column!r}, not text: --text_column must name the column of review texts.")
        texts.append(value or "")
    return texts


def read_csv_reviews(path: str, column: str) -> list[str]:
    csv.field_size_limit(2**31 - 1)  # a review may exceed csv's 128 KiB default
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or []):
            raise missing_column(path, column, reader.fieldnames or [])
        return review_texts((row[column] for row in reader), path, column)


def read_json_reviews(path: str, column: str) -> list[str]:
    """JSON lines (one object a line, blank lines skipped), or a file that is one JSON list of objects."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        if text.lstrip().startswith("["):
            records = json.loads(text)
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        raise InputError(f"{path} is not JSON lines ({error}): give one JSON object per line.") from None
    for row, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InputError(f"row {row} of {path} is {type(record).__name__}, not a JSON object: give one object "
                             f"per line, the review under {column!r}.")
        if column not in record and row == 1:
            raise missing_column(path, column, record)
        if column not in record:
            raise InputError(f"row {row} of {path} has no {column!r} (its keys: {', '.join(record) or 'none'}): "
                             f"every row needs the review under {column!r}.")
    return review_texts((record[column] for record in records), path, column)


def read_parquet_reviews(path: str, column: str) -> list[str]:
    """Read with pyarrow (in the `[train]` extra, not needed to classify anything else)."""
    try:
        import pyarrow.parquet as parquet
    except ModuleNotFoundError:
        raise InputError(f"reading {path} needs pyarrow, which is not installed: pip install pyarrow (it comes "
                         'with pip install "imdb-lstm[train]"), or give the reviews as .csv or .jsonl.') from None
    try:
        columns = parquet.read_schema(path).names
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"{path} cannot be read as Parquet ({error}).") from None
    if column not in columns:
        raise missing_column(path, column, columns)
    return review_texts(parquet.read_table(path, columns=[column]).column(column).to_pylist(), path, column)


def check_output(path: str) -> None:
    """Refuse an `--output` of an unknown kind before any work is done."""
    if Path(path).suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"--output {path}: give a file ending in {' or '.join(OUTPUT_SUFFIXES)}.")


def write_records(path: str, records: list[dict]) -> None:
    """One row per review: .jsonl (each record as it is) or .csv (text, label and the probabilities)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        if Path(path).suffix.lower() == ".jsonl":
            handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
            return
        first = records[0] if records else {"label": None}
        columns = ["text", *(key for key in ("label", "labels", "value") if key in first),
                   *(key for key in first if key.startswith("p_"))]
        records = [{**record, "labels": ";".join(record["labels"])} if "labels" in record else record
                   for record in records]
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)


def gather_texts(args, parser) -> list[str]:
    """The reviews: the arguments, the example, --file; with none of them, stdin (one review per line), unless
    stdin is a terminal, where reading would wait for typing nobody means to do."""
    texts = list(args.texts) + ([EXAMPLE_REVIEW] if args.example else [])
    if args.file:
        texts += read_reviews(args.file, args.text_column)
    elif not texts:
        if sys.stdin is None or sys.stdin.isatty():
            parser.error('no review given: pass reviews as arguments (imdb-lstm-predict "A fine film."), a file '
                         "(--file reviews.txt), or pipe them in, one per line (cat reviews.txt | imdb-lstm-predict)")
        texts = [line.rstrip("\r\n") for line in sys.stdin]
    if not texts:
        parser.error("no review given: pass texts, --file FILE, or lines on stdin")
    return texts


def warn_empty_reviews(tokenizer, texts: list[str]) -> None:
    """A warning on stderr for each review the model reads no word of (empty, blank, bare markup): its verdict is
    not about the review, so it should not pass silently. Reviews are counted from 1, in input order."""
    empty = [i for i, ids in enumerate(tokenizer(texts, truncation=True)["input_ids"], start=1) if not ids]
    for i in empty[:EMPTY_WARNINGS_SHOWN]:
        what = "is empty" if not texts[i - 1].strip() else "has no words the model reads"
        print(f"warning: review #{i} {what}: its verdict is the model's no-evidence answer", file=sys.stderr)
    if len(empty) > EMPTY_WARNINGS_SHOWN:
        print(f"warning: {len(empty) - EMPTY_WARNINGS_SHOWN} more reviews are empty or have no words: their "
              "verdicts are the model's no-evidence answer", file=sys.stderr)


def progress_bar(total: int, description: str):
    """A progress bar on stderr for `total` reviews when there are `PROGRESS_AT` or more, else None."""
    if total < PROGRESS_AT:
        return None
    return tqdm(total=total, desc=description, unit=" reviews", file=sys.stderr)


def classify(model, tokenizer, texts: list[str], args) -> list[dict]:
    """`predict` over the reviews, with a progress bar for long inputs."""
    bar = progress_bar(len(texts), "classifying")
    try:
        return predict(model, tokenizer, texts, args.batch_size, args.dtype, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()


def explain_all(model, tokenizer, texts: list[str], args) -> list:
    """Each review's explanations, a list: toward `--target` if given, else what the model predicts (one per label at
    or above a multi-label model's threshold); None for a review with no words (its verdict is the no-evidence
    answer)."""
    bar = progress_bar(len(texts), "explaining")
    explanations = []
    steps = args.explain_steps or DEFAULT_STEPS
    for text in texts:
        try:
            explanations.append([explain(model, tokenizer, text, n_steps=steps, target=args.target)] if args.target
                                else explain_labels(model, tokenizer, text, n_steps=steps))
        except ValueError:
            explanations.append(None)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return explanations


def report(texts, results, explanations, args) -> None:
    """The verdicts: to --output, or printed (JSON lines, explanation blocks or verdict lines)."""
    colour = use_colour(sys.stdout)
    records = []
    for text, result, explanation in zip(texts, results, explanations):
        record = {"text": text, **result}
        if args.explain:
            record["explanation"] = None if not explanation else (
                explanation[0].to_dict() if len(explanation) == 1 else [each.to_dict() for each in explanation])
        records.append(record)
        if args.output:
            continue
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
        elif args.explain:
            print("\n".join(format_explanation(each, args.explain_top, colour, verdict=i == 0)
                            for i, each in enumerate(explanation)) if explanation
                  else f"{format_line(result)}\n  (no words to explain)")
        else:
            print(format_line(result))
    if args.output:
        write_records(args.output, records)
        print(f"wrote {len(records)} verdicts to {args.output}", file=sys.stderr)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_progress_bars()
    try:
        if args.output:
            check_output(args.output)
        texts = gather_texts(args, parser)
    except (InputError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as error:
        print(f"error: {args.file} is not UTF-8 text ({error.reason} at byte {error.start}): save it as UTF-8.",
              file=sys.stderr)
        return 2
    explaining = args.explain or args.explain_html
    if args.target is not None and not explaining:
        parser.error("--target picks the label the words are coloured for: give it with --explain or --explain-html")
    if explaining:
        try:
            require_captum()
        except ImportError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    loaded = load_classifier_or_report(args.model, args.trust_remote_code)
    if loaded is None:
        return 2
    model, tokenizer = loaded
    if args.target is not None:
        try:
            args.target = label_index(model.config, int(args.target) if args.target.isdigit() else args.target)
        except ValueError as error:
            print(f"error: --target {args.target}: {error}", file=sys.stderr)
            return 2
    warn_empty_reviews(tokenizer, texts)
    results = classify(model, tokenizer, texts, args)
    explanations = explain_all(model, tokenizer, texts, args) if explaining else [None] * len(texts)
    report(texts, results, explanations, args)
    if args.explain_html:
        explained = [each for explanation in explanations if explanation is not None for each in explanation]
        Path(args.explain_html).write_text(render_html_page(explained), encoding="utf-8")
        print(f"wrote {args.explain_html} ({len(explained)} reviews explained)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
