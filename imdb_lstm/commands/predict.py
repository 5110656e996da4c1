"""The `imdb-lstm-predict` command: classify reviews with a saved model (`imdb_lstm.predict`) and, with
`--explain`, show the words behind each verdict (`imdb_lstm.explain`).

    imdb-lstm-predict --model outputs/demo "A wonderful, moving film."
    imdb-lstm-predict --model outputs/demo --file reviews.txt --json     # one review per line
    cat reviews.txt | imdb-lstm-predict --model outputs/demo             # stdin, one review per line
    imdb-lstm-predict --model outputs/demo --example --explain           # and the words behind each verdict
    imdb-lstm-predict --model outputs/demo --example --explain-html why.html
"""

import argparse
import json
import os
import sys
from pathlib import Path

from ..explain import DEFAULT_STEPS, explain, render_html_page, require_captum
from ..configuration_imdb_lstm import INFERENCE_DTYPES
from ..predict import load_classifier_or_report, predict, quiet_progress_bars
from ..study import EXAMPLE_REVIEW


def format_line(result: dict) -> str:
    return f"{result['label']:<9} p(neg)={result['p_negative']:.2f}  p(pos)={result['p_positive']:.2f}"


ANSI = {"NEGATIVE": "\033[31m", "POSITIVE": "\033[32m", "bold": "\033[1m", "reset": "\033[0m"}


def use_colour(stream) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org) or TERM=dumb."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def format_explanation(explanation, top: int = 5, colour: bool = False) -> str:
    """The verdict line and the `top` words toward the verdict and against it, e.g.
    `NEGATIVE  p(neg)=0.96  p(pos)=0.04` / `  toward NEGATIVE: stupid ×3 (+2.41), disgrace (+1.10)` /
    `  against it (toward POSITIVE): great (-0.80)`; with `colour`, ANSI colours (red NEGATIVE, green POSITIVE)."""
    label = explanation.label
    others = [name for name in explanation.labels if name != label]
    other = others[0] if len(others) == 1 else "other labels"

    def paint(text: str, name: str) -> str:
        return f"{ANSI.get(name, '')}{text}{ANSI['reset']}" if colour and name in ANSI else text

    def listed(words) -> str:
        if not words:
            return "(none)"
        return ", ".join(f"{word}{f' ×{count}' if count > 1 else ''} ({score:+.2f})" for word, score, count in words)

    probabilities = {name.lower()[:3]: p for name, p in explanation.probabilities.items()}
    verdict = f"{label:<9} " + "  ".join(f"p({name})={p:.2f}" for name, p in probabilities.items())
    lines = [paint(f"{ANSI['bold'] if colour else ''}{verdict}", label),
             f"  toward {label}: {paint(listed(explanation.top_words(top)), label)}",
             f"  against it (toward {other}): {paint(listed(explanation.top_words(top, against=True)), other)}"]
    if explanation.words_cut:
        lines.append(f"  ({explanation.words_cut} tokens of this long review were cut off, as in training, unread)")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The `imdb-lstm-predict` command line."""
    parser = argparse.ArgumentParser(description="Classify movie reviews as NEGATIVE or POSITIVE.")
    parser.add_argument("texts", nargs="*", help="reviews to classify (none and no --file: read stdin, one per line)")
    parser.add_argument("--model", default="outputs/demo", help="model folder or Hub repo id (default: outputs/demo)")
    parser.add_argument("--file", help="a text file with one review per line")
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
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_progress_bars()

    texts = list(args.texts) + ([EXAMPLE_REVIEW] if args.example else [])
    if args.file:
        with open(args.file, encoding="utf-8") as handle:
            texts += [line.rstrip("\n") for line in handle]
    if not texts and not args.file:
        texts = [line.rstrip("\n") for line in sys.stdin]
    if not texts:
        parser.error("no review given: pass texts, --file FILE, or lines on stdin")
    explaining = args.explain or args.explain_html
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
    explanations = []
    colour = use_colour(sys.stdout)
    for text, result in zip(texts, predict(model, tokenizer, texts, args.batch_size, args.dtype)):
        explanation = None
        if explaining:
            try:
                explanation = explain(model, tokenizer, text, n_steps=args.explain_steps or DEFAULT_STEPS)
                explanations.append(explanation)
            except ValueError:  # a review with no words: its verdict is the model's no-evidence answer
                explanation = None
        if args.json:
            record = {"text": text, **result}
            if args.explain:
                record["explanation"] = explanation.to_dict() if explanation else None
            print(json.dumps(record, ensure_ascii=False))
        elif args.explain:
            print(format_explanation(explanation, args.explain_top, colour) if explanation
                  else f"{format_line(result)}\n  (no words to explain)")
        else:
            print(format_line(result))
    if args.explain_html:
        Path(args.explain_html).write_text(render_html_page(explanations), encoding="utf-8")
        print(f"wrote {args.explain_html} ({len(explanations)} reviews explained)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
