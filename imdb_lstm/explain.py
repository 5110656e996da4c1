"""Why a verdict: one score per word of a review, drawn over the review's own text as HTML or a PNG.

    from imdb_lstm.explain import explain, render_html, render_png
    from imdb_lstm.predict import load_classifier
    model, tokenizer = load_classifier("outputs/demo")
    explanation = explain(model, tokenizer, "A wonderful film, but the ending is awful.")
    explanation.label, explanation.probabilities        # "POSITIVE", {"NEGATIVE": 0.2, "POSITIVE": 0.8}
    for word in explanation.words: print(word.text, word.start, word.end, word.score)
    render_png(explanation, "why.png")
    imdb-lstm-predict --model outputs/demo --explain "A wonderful film."     # the same from a shell

Scores are Integrated Gradients (Sundararajan et al. 2017, captum's `LayerIntegratedGradients`) on the embedding
layer: each token's embedding is moved from the baseline, the padding token's embedding (a zero vector), to its
own, and the gradients along that path are summed. What is attributed (`Explanation.output`) depends on the
model's `problem_type`:

- two labels (IMDB): the predicted label's log-odds, log p(label) / (1 − p(label)) = z_label − z_other, what the
  softmax turns into the verdict's probability (`output="log_odds"`);
- more labels, one per text: the predicted label against the runner-up, log p(label) / p(runner-up) =
  z_label − z_runner-up (`output="contrast"`, `Explanation.against` names the runner-up): why this label and not
  the next best. `against=` names another label; `output="log_odds"` explains the label against all others;
- several labels per text (`multi_label_classification`): each label's own log-odds, its logit (sigmoid
  outputs); `explain_labels` explains every label above the model's `multilabel_threshold`;
- `regression`: the predicted value itself (`output="value"`): a positive score pushes it higher, a negative one
  lower.

`target=` explains a label other than the predicted one (a multi-label model's default is its most probable
label). A positive score pushes toward the explained label, a negative one against it, and the scores add up to
the quantity at the review minus the quantity at the baseline (the "completeness" of Integrated Gradients;
`Explanation.delta` is the gap left by the finite number of steps).
Where a recurrent network's state flips within a short stretch of the path, evenly spaced steps miss it; the path
is then integrated in pieces around that stretch until the gap is within `tolerance` (see `integrate`).

The tokenizer is word-level, so each token is a word (or a punctuation mark, or a clitic such as "n't"); its
scores are placed on the review's characters with the tokenizer's offsets (`return_offsets_mapping`), which
point into the text as given: markup such as `<br />`, removed by the tokenizer, lies between words and gets no
score. Reviews longer than the tokenizer's `model_max_length` are cut the way the tokenizer cuts them, and the
words cut away get no score (`Explanation.words_cut`).

Works for every encoder of the family (LSTM, GRU, bidirectional, CNN) and for a model loaded with
`trust_remote_code` (only `get_input_embeddings()` and the `transformers` call signature are used). A bfloat16
model is explained in float32 (a float32 copy; the model given is not changed). While it runs, `explain` hooks
the model's embedding (as captum does): explanations from several threads take turns (a lock), but other calls of
the same model from other threads must not overlap one. Needs captum: `pip install "imdb-lstm[explain]"`.
"""

import copy
import html
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch

from .predict import (MULTI_LABEL, REGRESSION, SINGLE_LABEL, exact_float32, outputs_from_logits,
                      problem_type_of)
from .tokenization import MARKUP

# Gauss–Legendre steps of each integral along the path. With 50, one integral over the whole path meets
# completeness within 1 % for most reviews of trained models (of every encoder); where a recurrent network's state
# flips along the path, or the gap is spread along it, `integrate` cuts the path into pieces until it does
# (tests/test_explain.py checks the 1 %).
# A 269-token review with the recipe's BiLSTM-128 costs 0.2-0.4 s of one CPU core (BENCHMARKS.md).
DEFAULT_STEPS = 50
# Interpolated inputs are run through the model in chunks of at most this many tokens (rows × length).
MAX_TOKENS_PER_CHUNK = 64_000
# Completeness asked of `explain` (share of the log-odds difference), and how many rounds of cutting the path
# into pieces (`integrate`) may be spent reaching it.
DEFAULT_TOLERANCE = 0.01
MAX_REFINEMENTS = 24
OUTPUTS = ("log_odds", "logit", "contrast", "value")
# A two-label model with these names is drawn as sentiment whatever label is explained: green POSITIVE, red NEGATIVE.
SENTIMENT_LABELS = ("NEGATIVE", "POSITIVE")
INSTALL_HINT = 'Explanations need captum: pip install "imdb-lstm[explain]" (or pip install captum).'
# IMDB's line breaks (<br />, <br>, <p>) become line breaks when a review is drawn; other markup a space.
LINE_BREAK = re.compile(r"<\s*(?:br|p)\b[^<>]{0,200}>", re.IGNORECASE)
WORDLIKE = re.compile(r"\w")
# explain() hooks the model's embedding while it runs: one explanation at a time (a Gradio app serves threads).
HOOK_LOCK = threading.Lock()


def require_captum():
    """captum's `LayerIntegratedGradients`, or an ImportError that says how to install it."""
    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return LayerIntegratedGradients


class Word(NamedTuple):
    """One token of the review: its characters `text[start:end]` in the original review and its score (positive:
    toward the predicted label)."""

    start: int
    end: int
    score: float
    text: str


@dataclass
class Explanation:
    """A review's verdict and the score of each of its words (see the module docstring).

    `label`: the predicted label; `probabilities`: every label's probability, {label: p}; `words`: one `Word` per
    token read, in order, with character offsets into `text`; `n_steps`: Integrated Gradients steps; `output`:
    the attributed quantity ("log_odds" of the label, or its raw "logit"); `difference`: that quantity at the
    review minus at the baseline; `delta`: sum of the scores minus `difference` (0 for exact completeness);
    `words_cut`: tokens of a review longer than `model_max_length` that were cut away, unscored; `path_pieces`:
    how many pieces the path was integrated in (1 unless completeness needed more, see `integrate`);
    `problem_type`: the model's; `against`: the label the explained one is weighed against (`output="contrast"`),
    None for all other labels; `value`: a regression model's prediction (None otherwise, where `probabilities`
    are softmax or, multi-label, sigmoid probabilities); `threshold`: a multi-label model's decision threshold."""

    text: str
    label: str
    probabilities: dict[str, float]
    words: list[Word]
    n_steps: int = DEFAULT_STEPS
    output: str = "log_odds"
    difference: float = 0.0
    delta: float = 0.0
    words_cut: int = 0
    labels: tuple[str, ...] = field(default=("NEGATIVE", "POSITIVE"))
    path_pieces: int = 1
    problem_type: str = SINGLE_LABEL
    against: str | None = None
    value: float | None = None
    threshold: float | None = None

    @property
    def predicted(self) -> list[str]:
        """What the model says: one label, or for multi-label every label above the threshold (most probable
        first), or for regression the target's name."""
        if self.problem_type == MULTI_LABEL:
            chosen = [(p, name) for name, p in self.probabilities.items() if p > self.threshold]
            return [name for _, name in sorted(chosen, reverse=True)]
        if self.problem_type == REGRESSION:
            return [self.label]
        return [max(self.probabilities, key=self.probabilities.get)]

    @property
    def total(self) -> float:
        return sum(word.score for word in self.words)

    def toward(self, label: str) -> list[float]:
        """Each word's score toward `label`. For two labels and log-odds, a score toward one label is minus the
        score toward the other (log-odds of the other label = − log-odds of this one)."""
        if label == self.label:
            return [word.score for word in self.words]
        two_way = (self.output == "contrast" and label == self.against) or (
            self.output == "log_odds" and self.problem_type == SINGLE_LABEL and len(self.labels) == 2 and label in self.labels)
        if two_way:  # log p(a)/p(b) = − log p(b)/p(a)
            return [-word.score for word in self.words]
        raise ValueError(f"Scores toward {label!r} are not known: they were computed toward {self.label!r}.")

    def top_words(self, count: int = 5, against: bool = False) -> list[tuple[str, float, int]]:
        """The `count` words (lowercased, each once, punctuation left out) with the largest total score toward the
        verdict, or with `against` the most negative: (word, summed score, occurrences), strongest first."""
        totals: dict[str, list] = {}
        for word in self.words:
            if WORDLIKE.search(word.text):
                entry = totals.setdefault(word.text.lower(), [0.0, 0])
                entry[0] += word.score
                entry[1] += 1
        sign = -1 if against else 1
        chosen = [(name, score, n) for name, (score, n) in totals.items() if sign * score > 0]
        return sorted(chosen, key=lambda item: -sign * item[1])[:count]

    def to_dict(self) -> dict:
        return {"label": self.label, "probabilities": self.probabilities, "output": self.output,
                "problem_type": self.problem_type, "against": self.against, "value": self.value,
                "n_steps": self.n_steps, "difference": self.difference, "delta": self.delta,
                "words_cut": self.words_cut,
                "words": [{"text": w.text, "start": w.start, "end": w.end, "score": w.score} for w in self.words]}


def log_odds(logits: torch.Tensor) -> torch.Tensor:
    """(batch, labels) log-odds of every label: z_k − logsumexp(z_j, j ≠ k) = log p_k / (1 − p_k)."""
    labels = logits.size(-1)
    others = logits.unsqueeze(-2).expand(*logits.shape[:-1], labels, labels)
    eye = torch.eye(labels, dtype=torch.bool, device=logits.device)
    return logits - others.masked_fill(eye, float("-inf")).logsumexp(dim=-1)


def float32_model(model):
    """`model` itself when all its weights are float32, else a float32 copy (bfloat16 weights are explained in
    float32: their gradients and sums would lose the completeness to rounding)."""
    if all(param.dtype == torch.float32 for param in model.parameters()):
        return model
    return copy.deepcopy(model).float()


def encode(tokenizer, text: str) -> tuple[list[int], list[tuple[int, int]], int]:
    """(ids, character offsets, tokens cut) of `text`, cut to `model_max_length` as the tokenizer cuts."""
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("explain needs a fast tokenizer (offsets into the text): load the one saved with the model.")
    encoded = tokenizer(text, truncation=True, return_offsets_mapping=True, add_special_tokens=False)
    full_length = len(tokenizer(text, truncation=False, add_special_tokens=False, verbose=False)["input_ids"])
    return encoded["input_ids"], [tuple(pair) for pair in encoded["offset_mapping"]], full_length - len(encoded["input_ids"])


def choose_output(problem_type: str, num_labels: int, output: str | None, against) -> str:
    """The attributed quantity (see the module docstring): `output` checked against the problem type, or its
    default."""
    if output is not None and output not in OUTPUTS:
        raise ValueError(f"output={output!r} is not allowed; use one of {OUTPUTS}.")
    if against is not None and (problem_type != SINGLE_LABEL or output not in (None, "contrast")):
        raise ValueError("against= weighs one label against another (output='contrast'): it is for a model of one "
                         f"label per text, not for problem_type={problem_type!r} with output={output!r}.")
    if problem_type == REGRESSION:
        if output not in (None, "value", "logit"):
            raise ValueError(f"output={output!r} is not for a regression model: it explains its value (output='value').")
        return "value"
    if output == "value":
        raise ValueError("output='value' is for a regression model; this one classifies: use 'log_odds' or 'logit'.")
    if problem_type == MULTI_LABEL:
        if output == "contrast":
            raise ValueError("output='contrast' weighs one label against another, which a multi-label model's "
                             "independent labels are not: use 'log_odds' (each label's own, the default).")
        return output or "log_odds"
    if output is None:
        return "contrast" if num_labels > 2 or against is not None else "log_odds"
    return output


def explain(model, tokenizer, text: str, n_steps: int = DEFAULT_STEPS, output: str | None = None,
            target: str | int | None = None, tolerance: float | None = DEFAULT_TOLERANCE,
            against: str | int | None = None) -> Explanation:
    """Integrated Gradients word scores of `text` for `model` (a sequence classifier of any `problem_type`) and
    its `tokenizer`; see the module docstring. `n_steps`: Gauss–Legendre steps of each integral. `target`: the
    label to explain (name or id; default the predicted one, for multi-label the most probable). `output`: what is
    attributed, "log_odds", "contrast" (the label against `against`), "logit" or "value" (regression); None: the
    problem type's default (see the module docstring). `against`: the label weighed against (default the most
    probable other label). `tolerance`: while the scores' sum misses the difference by more than this share of
    it, the piece of the path that holds most of the miss is cut around its steepest stretch and integrated again
    (see `integrate`); None: one integral over the whole path, as plain captum. Raises ValueError for a review
    with no words (empty, blank, or markup only), or a `target`/`against` that is not a label of the model."""
    LayerIntegratedGradients = require_captum()
    if not isinstance(text, str):
        raise TypeError(f"Expected a review (str); got {type(text).__name__}.")
    problem_type = problem_type_of(model.config)
    output = choose_output(problem_type, model.config.num_labels, output, against)
    if target is not None:
        label_index(model.config, target)  # a clear error before any work
    if against is not None and label_index(model.config, against) == (
            None if target is None else label_index(model.config, target)):
        raise ValueError(f"against={against!r} is the label explained: name another label to weigh it against.")
    if n_steps < 2:
        raise ValueError(f"n_steps={n_steps} must be at least 2.")
    ids, offsets, words_cut = encode(tokenizer, text)
    if not ids:
        raise ValueError("The review is empty (no words once markup is removed): give a review to explain.")

    explained = float32_model(model)
    # Exact float32 throughout, whatever the model's inference_dtype: the endpoints' logits must match the gradients'.
    with HOOK_LOCK, exact_float32(explained):  # the embedding is hooked meanwhile: one explanation at a time
        return explain_locked(LayerIntegratedGradients, explained, tokenizer, text, ids, offsets, words_cut,
                              n_steps, output, target, tolerance, against, problem_type)


def explain_labels(model, tokenizer, text: str, **options) -> list[Explanation]:
    """The explanations of what the model says about `text`: for a multi-label model one per label above
    its `multilabel_threshold`, most probable first (the most probable label alone when none is); otherwise the
    one explanation of `explain`. `options`: as `explain`'s (not `target`)."""
    if "target" in options:
        raise TypeError("explain_labels explains what the model predicts; for one label of your choice call "
                        "explain(..., target=LABEL).")
    first = explain(model, tokenizer, text, **options)
    if first.problem_type != MULTI_LABEL:
        return [first]
    chosen = first.predicted or [first.label]
    return [first if name == first.label else explain(model, tokenizer, text, target=name, **options)
            for name in chosen]


def attributed(logits: torch.Tensor, output: str, problem_type: str, against_id: int | None) -> torch.Tensor:
    """(batch, labels) the attributed quantity of every label (see the module docstring): softmax log-odds,
    the label's logit against `against_id`'s ("contrast"), or the logits themselves (a sigmoid's log-odds, a
    regression's value, or output "logit")."""
    if output == "log_odds" and problem_type == SINGLE_LABEL:
        return log_odds(logits)
    if output == "contrast":
        return logits - logits[:, against_id : against_id + 1]
    return logits


def explain_locked(LayerIntegratedGradients, explained, tokenizer, text, ids, offsets, words_cut, n_steps, output,
                   target, tolerance, against, problem_type) -> Explanation:
    was_training = explained.training
    explained.eval()
    device = next(explained.parameters()).device
    config = explained.config
    pad_id = config.pad_token_id if config.pad_token_id is not None else tokenizer.pad_token_id
    embedding = explained.get_input_embeddings()
    pad_vector = embedding.weight[pad_id].detach().float()
    path = {"scale": None, "against": None}

    def place_on_path(module, args, embedded):
        # The embedding output moved to `scale` of the way from the padding vector (the baseline) to itself.
        scale = path["scale"]
        return embedded if scale is None else pad_vector + scale.view(-1, 1, 1) * (embedded - pad_vector)

    def forward(batch_ids, scale, mask):
        path["scale"] = scale
        try:
            logits = explained(input_ids=batch_ids, attention_mask=mask).logits.float()
        finally:
            path["scale"] = None
        return attributed(logits, output, problem_type, path["against"])

    input_ids = torch.tensor([ids], device=device)
    attention_mask = torch.ones_like(input_ids)
    hook = embedding.register_forward_hook(place_on_path)
    try:
        with torch.autocast(device.type, enabled=False):
            with torch.no_grad():
                logits = explained(input_ids=input_ids, attention_mask=attention_mask).logits.float()[0]
            probabilities = outputs_from_logits(logits, config)
            label_id = int(probabilities.argmax()) if target is None else label_index(config, target)
            if output == "contrast":
                others = probabilities.clone()
                others[label_id] = float("-inf")
                path["against"] = int(others.argmax()) if against is None else label_index(config, against)
                if path["against"] == label_id:
                    raise ValueError(f"against={against!r} is the label explained: name another label to weigh it "
                                     "against, or leave it out (the runner-up).")
            with torch.no_grad():
                ends = forward(input_ids.expand(2, -1), torch.tensor([1.0, 0.0], device=device),
                               attention_mask.expand(2, -1))
            difference = float(ends[0, label_id] - ends[1, label_id])
            integral, evaluate = path_integrals(LayerIntegratedGradients(forward, embedding), forward, input_ids,
                                                attention_mask, label_id, n_steps)
            scores, gap, pieces = integrate(integral, evaluate, difference, tolerance, n_steps)
    finally:
        hook.remove()
        explained.train(was_training)
    id2label = {int(key): value for key, value in config.id2label.items()}
    words = [Word(start, end, score, text[start:end]) for (start, end), score in zip(offsets, scores.tolist())]
    return Explanation(
        text=text, label=id2label[label_id],
        probabilities={id2label[i]: float(p) for i, p in enumerate(probabilities.tolist())},
        words=words, n_steps=n_steps, output=output, difference=difference, delta=gap, words_cut=words_cut,
        labels=tuple(id2label[i] for i in sorted(id2label)), path_pieces=pieces, problem_type=problem_type,
        against=None if path["against"] is None else id2label[path["against"]],
        value=float(logits[0]) if problem_type == REGRESSION else None,
        threshold=float(config.multilabel_threshold) if problem_type == MULTI_LABEL else None,
    )


def path_integrals(integrated, forward, input_ids: torch.Tensor, attention_mask: torch.Tensor, label_id: int,
                   n_steps: int):
    """What `integrate` calls for one review: `integral(pieces)`, the per-token scores (pieces, time) over each
    piece [a, b] of the path and each piece's gap (`integrated`: captum's LayerIntegratedGradients over `forward`),
    and `evaluate(points)`, the explained output at those points of the path, without gradients."""
    device = input_ids.device
    length = input_ids.shape[1]

    def integral(pieces: list[tuple[float, float]]) -> tuple[torch.Tensor, torch.Tensor]:
        count = len(pieces)
        rows = input_ids.expand(count, -1)
        starts = torch.tensor([a for a, _ in pieces], device=device)
        stops = torch.tensor([b for _, b in pieces], device=device)
        attributions, gaps = integrated.attribute(
            (rows, stops), baselines=(rows, starts), target=label_id,
            additional_forward_args=(attention_mask.expand(count, -1),), n_steps=n_steps,
            internal_batch_size=max(count, MAX_TOKENS_PER_CHUNK // length // count * count),
            return_convergence_delta=True,
        )
        return attributions.sum(dim=-1).detach(), gaps.detach()

    def evaluate(points: list[float]) -> torch.Tensor:
        with torch.no_grad():
            count = len(points)
            return forward(input_ids.expand(count, -1), torch.tensor(points, device=device),
                           attention_mask.expand(count, -1))[:, label_id].cpu()

    return integral, evaluate


def integrate(integral, evaluate, difference: float, tolerance: float | None, n_steps: int,
              max_rounds: int = MAX_REFINEMENTS):
    """Integrated Gradients along the path from the baseline (0) to the review (1), piece by piece.

    `integral(pieces)` gives per-token scores over each piece [a, b] of the path and each piece's completeness gap
    (the scores' sum minus the change of the output over the piece); `evaluate(points)` the output at points of
    the path. Integrals over pieces add up to the integral over the whole path, so a piece may be replaced by
    pieces that cover it. A recurrent network can flip state within a very short stretch of the path (an LSTM
    latching onto a memory once its inputs are strong enough): there the output changes by a unit or more within
    1/1000 of the path, which no affordable number of evenly placed steps sees. Elsewhere the gap is spread along
    a smooth path, and halving a piece shrinks it fast. So while the gaps add up to more than `tolerance` ×
    |difference| (at least 1e-3), the piece with the largest gap is searched for that stretch (the output at
    `n_steps` + 1 evenly spaced points, without gradients) and cut before the largest change, after it, and at its
    middle; each part is integrated anew. Up to `max_rounds` rounds. Returns (scores, total gap, number of
    pieces)."""
    scores, gaps = integral([(0.0, 1.0)])
    pieces = [((0.0, 1.0), scores[0], float(gaps[0]))]
    if tolerance is not None:
        allowed = tolerance * max(abs(difference), 1e-3)
        for _ in range(max_rounds):
            if sum(abs(gap) for _, _, gap in pieces) <= allowed:
                break
            worst = max(range(len(pieces)), key=lambda i: abs(pieces[i][2]))
            (a, b), _, _ = pieces.pop(worst)
            points = torch.linspace(a, b, n_steps + 1).tolist()
            values = evaluate(points)
            cell = int((values[1:] - values[:-1]).abs().argmax())
            cuts = sorted({a, points[cell], points[cell + 1], (a + b) / 2, b})
            parts = list(zip(cuts, cuts[1:]))
            part_scores, part_gaps = integral(parts)
            pieces += [(part, part_scores[i], float(part_gaps[i])) for i, part in enumerate(parts)]
    total = torch.stack([piece_scores for _, piece_scores, _ in pieces]).sum(dim=0)
    return total, sum(gap for _, _, gap in pieces), len(pieces)


def label_index(config, target: str | int) -> int:
    """The id of a label given by name (any case) or id; a ValueError that lists the labels otherwise."""
    id2label = {int(key): value for key, value in config.id2label.items()}
    if isinstance(target, int) and target in id2label:
        return target
    for index, name in id2label.items():
        if isinstance(target, str) and name.lower() == target.lower():
            return index
    raise ValueError(f"{target!r} is not a label of this model: its labels are {', '.join(map(str, id2label.values()))}.")


# ---------------------------------------------------------------------------------------------------------- pictures

NEGATIVE_RGB = (220, 38, 38)  # red: against the explained label (toward NEGATIVE for sentiment; lower values)
POSITIVE_RGB = (22, 163, 74)  # green: toward the explained label (toward POSITIVE for sentiment; higher values)
NEUTRAL_RGB = (17, 17, 17)  # the verdict's colour where it is neither sentiment nor a label explained against


def is_sentiment(explanation: Explanation) -> bool:
    """A two-label NEGATIVE/POSITIVE model (IMDB's): drawn toward POSITIVE whichever label is explained."""
    return explanation.problem_type == SINGLE_LABEL and tuple(explanation.labels) == SENTIMENT_LABELS


def colour_scores(explanation: Explanation) -> list[float]:
    """Each word's score scaled to [-1, 1] by the largest |score|, signed for the colours: for sentiment toward
    POSITIVE (negative: toward NEGATIVE); otherwise toward the explained label, or a regression's higher value."""
    raw = [word.score for word in explanation.words]
    if is_sentiment(explanation) and explanation.label != "POSITIVE":
        try:
            raw = explanation.toward("POSITIVE")
        except ValueError:  # raw logits of a label: only "toward the verdict" is known
            raw = [-score for score in raw]
    scale = max((abs(score) for score in raw), default=0.0) or 1.0
    return [score / scale for score in raw]


def score_meaning(explanation: Explanation) -> tuple[str, str]:
    """What a positive and a negative score do, in words: ("toward drama", "toward comedy") for a label weighed
    against the runner-up, ("toward sports", "against sports") for a label on its own (multi-label, raw logits),
    ("intensity higher", "intensity lower") for regression."""
    label = explanation.label
    if explanation.problem_type == REGRESSION:
        return f"{label} higher", f"{label} lower"
    if explanation.against is not None:
        return f"toward {label}", f"toward {explanation.against}"
    if explanation.problem_type == MULTI_LABEL or explanation.output == "logit":
        return f"toward {label}", f"against {label}"
    others = [name for name in explanation.labels if name != label]
    return f"toward {label}", f"toward {others[0] if len(others) == 1 else 'the other labels'}"


def colour_meaning(explanation: Explanation) -> tuple[str, str]:
    """What green and red words do (see `colour_scores`): for sentiment ("toward POSITIVE", "toward NEGATIVE"),
    otherwise `score_meaning`."""
    if is_sentiment(explanation):
        return "toward POSITIVE", "toward NEGATIVE"
    return score_meaning(explanation)


def colour(value: float) -> tuple[int, int, int]:
    """RGB of a scaled score in [-1, 1]: white at 0, red toward -1, green toward +1."""
    target = POSITIVE_RGB if value > 0 else NEGATIVE_RGB
    weight = min(1.0, abs(value)) * 0.85
    return tuple(round(255 + (channel - 255) * weight) for channel in target)


def segments(explanation: Explanation) -> list[tuple[str, float | None]]:
    """The review as (piece, scaled score) in order: words with their score in [-1, 1], and what lies between
    them with None, markup removed (line-break tags become "\\n", other tags a space)."""
    values = colour_scores(explanation)
    pieces, position = [], 0
    text = explanation.text
    for word, value in zip(explanation.words, values):
        if word.start > position:
            pieces.append((clean_gap(text[position:word.start]), None))
        pieces.append((text[word.start:word.end], value))
        position = word.end
    if position < len(text):
        pieces.append((clean_gap(text[position:]), None))
    return [(piece, value) for piece, value in pieces if piece]


def clean_gap(gap: str) -> str:
    return re.sub(MARKUP, " ", LINE_BREAK.sub("\n", gap))  # as the tokenizer's normaliser removes it


def verdict_parts(explanation: Explanation) -> tuple[str, str]:
    """(the verdict, the figures beside it): `POSITIVE`, `p(negative) = 0.08  p(positive) = 0.92`; multi-label
    the labels above the threshold and every label's probability; regression the target and its value."""
    if explanation.problem_type == REGRESSION:
        return explanation.label, f"= {explanation.value:.3f}"
    probabilities = "  ".join(f"p({label.lower()}) = {p:.2f}" for label, p in explanation.probabilities.items())
    if explanation.problem_type == MULTI_LABEL:
        chosen = explanation.predicted
        verdict = ", ".join(chosen) if chosen else f"no label above {explanation.threshold:.2f}"
        return verdict, probabilities
    return max(explanation.probabilities, key=explanation.probabilities.get), probabilities


def verdict_line(explanation: Explanation) -> str:
    verdict, figures = verdict_parts(explanation)
    return f"{verdict}   {figures}"


def verdict_rgb(explanation: Explanation) -> tuple[int, int, int]:
    if is_sentiment(explanation):
        return POSITIVE_RGB if verdict_parts(explanation)[0] == "POSITIVE" else NEGATIVE_RGB
    return NEUTRAL_RGB


def explained_what(explanation: Explanation) -> str:
    """Which label the colours are about, where the verdict line does not say it: '' for sentiment and for a
    single-label model's predicted label."""
    if is_sentiment(explanation) or explanation.problem_type == REGRESSION:
        return ""
    if explanation.problem_type == SINGLE_LABEL and explanation.label == verdict_parts(explanation)[0]:
        return ""
    return f"words coloured for {explanation.label}"


def legend_line(explanation: Explanation) -> str:
    green, red = colour_meaning(explanation)
    return (f"Integrated Gradients on the word embedding ({explanation.n_steps} steps, padding baseline): green words "
            f"push {green}, red {red}; the deeper the colour, the stronger.")


def render_html(explanation: Explanation, full_page: bool = False) -> str:
    """The review with each word on a red-to-green background (green toward the explained label, red against it;
    for sentiment green toward POSITIVE, red toward NEGATIVE; for regression green higher, red lower), under the
    verdict and every label's probability (or the predicted value). An HTML fragment (a `<div>`), or with
    `full_page` a whole document."""
    words = []
    for piece, value in segments(explanation):
        escaped = html.escape(piece).replace("\n", "<br>")
        if value is None:
            words.append(escaped)
        else:
            red, green, blue = colour(value)
            words.append(f'<span class="imdb-lstm-word" style="background-color: rgb({red}, {green}, {blue}); '
                         f'border-radius: 3px; padding: 0 1px" title="{value:+.2f}">{escaped}</span>')
    verdict, figures = verdict_parts(explanation)
    if explanation.problem_type == REGRESSION:
        probabilities = f'<span class="imdb-lstm-value">{html.escape(figures)}</span>'
    else:
        probabilities = " &nbsp; ".join(
            f'<span class="imdb-lstm-probability">p({html.escape(label.lower())}) = {p:.2f}</span>'
            for label, p in explanation.probabilities.items()
        )
    target = explained_what(explanation)
    target_line = f'<div class="imdb-lstm-target">{html.escape(target)}</div>\n' if target else ""
    fragment = (
        '<div class="imdb-lstm-explanation" style="font-family: sans-serif; line-height: 1.7">\n'
        f'<div><strong class="imdb-lstm-label" style="color: rgb{verdict_rgb(explanation)}">{html.escape(verdict)}'
        f"</strong> &nbsp; {probabilities}</div>\n{target_line}"
        f'<p class="imdb-lstm-review" style="color: #111">{"".join(words)}</p>\n'
        f'<div style="font-size: 0.8em; color: #555">{html.escape(legend_line(explanation))}</div>\n</div>'
    )
    if not full_page:
        return fragment
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>imdb-lstm: why this verdict</title>'
            f"</head>\n<body>\n{fragment}\n</body></html>\n")


def render_html_page(explanations: list[Explanation]) -> str:
    """One HTML document holding several explanations, one after the other."""
    body = "\n<hr>\n".join(render_html(explanation) for explanation in explanations)
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>imdb-lstm: why these verdicts</title>'
            f"</head>\n<body>\n{body}\n</body></html>\n")


def render_png(explanation: Explanation, path, width_inches: float = 8.0, dpi: int = 120, font_size: float = 11.0) -> Path:
    """Draw the explanation as `render_html` does (verdict, words on red-to-green, legend) into a PNG at `path`,
    with matplotlib's Agg backend (no display, no global pyplot state). Returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.transforms import IdentityTransform

    figure = Figure(figsize=(width_inches, 2.0), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    renderer = canvas.get_renderer()
    margin, width = 0.25 * dpi, width_inches * dpi
    line_height = font_size * dpi / 72 * 1.75
    pad = font_size * 0.08  # points of background around each word
    pad_pixels = pad * dpi / 72
    space = text_width(figure, renderer, "a b", font_size) - text_width(figure, renderer, "ab", font_size)

    placed, x, line = [], margin, 0  # (artist, x, line number)
    pending_space = False
    for piece, value in segments(explanation):
        if value is None:  # between words: whitespace, or markup (a space or a line break)
            if "\n" in piece:
                line += int(x > margin) + int(piece.count("\n") > 1)  # a new line; a blank one between paragraphs
                x, pending_space = margin, False
            else:
                pending_space = x > margin
            continue
        artist = figure.text(0, 0, piece, fontsize=font_size, transform=IdentityTransform(), va="baseline",
                             bbox={"facecolor": [c / 255 for c in colour(value)], "edgecolor": "none", "pad": pad})
        extent = float(artist.get_window_extent(renderer).width)
        # Each box reaches `pad` points beyond its word on either side: leave room for both boxes, then the space.
        start = x + (2 * pad_pixels + (space if pending_space else 1) if x > margin else pad_pixels)
        # A new line where the review has a space; a token stuck to the previous one (punctuation) may use the margin.
        if x > margin and start + extent > width - (margin if pending_space else pad_pixels):
            line, start = line + 1, margin + pad_pixels
        placed.append((artist, start, line))
        x, pending_space = start + extent, False

    header_lines = 2
    height = 2 * margin + (header_lines + line + 1) * line_height + line_height * 0.8
    figure.set_size_inches(width_inches, height / dpi)
    top = height - margin - line_height * 0.8
    verdict, figures = verdict_parts(explanation)
    figure.text(margin, top, verdict, fontsize=font_size * 1.3, fontweight="bold",
                color=[c / 255 for c in verdict_rgb(explanation)], transform=IdentityTransform(), va="baseline")
    label_width = text_width(figure, renderer, verdict + "   ", font_size * 1.3, bold=True)
    target = explained_what(explanation)
    figure.text(margin + label_width, top, figures.replace("  ", "   ") + (f"   ({target})" if target else ""),
                fontsize=font_size, transform=IdentityTransform(), va="baseline")
    for artist, start, number in placed:
        artist.set_position((start, top - (number + 1.5) * line_height))
    green, red = colour_meaning(explanation)
    legend = f"Integrated Gradients ({explanation.n_steps} steps): green pushes {green}, red {red}"
    figure.text(margin, margin, legend, fontsize=font_size * 0.75, color="#555555", transform=IdentityTransform(),
                va="baseline")
    path = Path(path)
    figure.savefig(path, dpi=dpi, facecolor="white")
    return path


def text_width(figure, renderer, text: str, font_size: float, bold: bool = False) -> float:
    from matplotlib.transforms import IdentityTransform

    artist = figure.text(0, 0, text, fontsize=font_size, fontweight="bold" if bold else "normal",
                         transform=IdentityTransform())
    width = float(artist.get_window_extent(renderer).width)
    artist.remove()
    return width
