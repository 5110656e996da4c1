"""Word attributions (imdb_lstm.explain): Integrated Gradients on the embedding add up to the change of the verdict's
log-odds (completeness) for every encoder; on a model trained on the sample, sentiment words get their sentiment's
sign and deleting the top-3 words lowers the verdict's probability far more than deleting 3 random words; the
scores sit on the right characters of a review with markup; the CLI, the pictures and the model card show them."""

import json
import random
import re

import numpy as np
import pytest
import torch
from helpers import tiny_model, tiny_tokenizer
from transformers.dynamic_module_utils import get_class_from_dynamic_module

from imdb_lstm.training import finetune as training
from imdb_lstm.data import load_imdb
from imdb_lstm.explain import DEFAULT_STEPS, explain, explain_labels, integrate, log_odds, render_html, render_png
from imdb_lstm.cards import EXAMPLE_PICTURE, render_model_card
from imdb_lstm.commands.predict import main
from imdb_lstm.predict import exact_float32, load_classifier, predict, predict_proba
from imdb_lstm.study import EXAMPLE_REVIEW

pytest.importorskip("captum")

# What `explain` promises (its default `tolerance`, imdb_lstm.explain.DEFAULT_TOLERANCE): the scores add up to the
# log-odds change within 1 % of it (of 1e-3 at least), at the default number of steps.
COMPLETENESS = 0.01
COMPLETENESS_FLOOR = 1e-3
COMPLETENESS_REVIEWS = 12
MEANING_REVIEWS = 60
RANDOM_DRAWS = 5
QUICK = ["--dataset", "sample", "--max_train_samples", "600", "--max_eval_samples", "100", "--max_length", "128",
         "--vocab_size", "5000", "--num_train_epochs", "2", "--learning_rate", "5e-3", "--seed", "1",
         "--per_device_train_batch_size", "32", "--disable_tqdm", "true", "--report_to", "none",
         "--save_strategy", "no", "--load_best_model_at_end", "false", "--do_predict", "false"]
ENCODERS = {
    "bilstm": ["--bidirectional", "true", "--hidden_size", "32", "--pooling", "max_mean"],
    "cnn": ["--encoder", "cnn", "--cnn_num_filters", "32", "--pooling", "max"],
}


@pytest.fixture(scope="module")
def sample_model(sample_model_dir):
    return load_classifier(str(sample_model_dir))


@pytest.fixture(scope="module")
def quick_models(tmp_path_factory):
    """A BiLSTM and a CNN trained briefly on the sample (a few seconds each): trained weights bend the path more
    than fresh ones, which is what makes completeness hard."""
    models = {}
    for name, flags in ENCODERS.items():
        output_dir = tmp_path_factory.mktemp(name)
        training.main([*QUICK, *flags, "--output_dir", str(output_dir)])
        models[name] = load_classifier(str(output_dir))
    return models


@pytest.fixture(scope="module")
def test_reviews():
    return list(load_imdb("sample")["test"]["text"])


def verdict_log_odds(model, tokenizer, text: str, baseline: bool = False) -> torch.Tensor:
    """Log-odds of every label at the review (or at the all-padding baseline of its length), from the model alone
    in exact float32 (what the attributions explain, whatever the model's inference_dtype)."""
    ids = torch.tensor([tokenizer(text, truncation=True)["input_ids"]])
    if baseline:
        ids = torch.full_like(ids, model.config.pad_token_id)
    with torch.no_grad(), exact_float32(model):
        return log_odds(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits)[0]


def assert_complete(model, tokenizer, text: str, **options):
    explanation = explain(model, tokenizer, text, **options)
    label = model.config.label2id[explanation.label]
    expected = float(verdict_log_odds(model, tokenizer, text)[label] - verdict_log_odds(model, tokenizer, text, True)[label])
    if options.get("output") == "logit":
        ids = torch.tensor([tokenizer(text, truncation=True)["input_ids"]])
        with torch.no_grad(), exact_float32(model):
            ends = model(input_ids=torch.cat([ids, torch.full_like(ids, model.config.pad_token_id)]),
                         attention_mask=torch.ones(2, ids.size(1), dtype=torch.long)).logits
        expected = float(ends[0, label] - ends[1, label])
    total = sum(word.score for word in explanation.words)
    assert abs(total - expected) <= COMPLETENESS * max(abs(expected), COMPLETENESS_FLOOR), (text[:80], total, expected)
    assert explanation.difference == pytest.approx(expected, rel=1e-4, abs=1e-5)  # the same two ends as here
    assert explanation.delta == pytest.approx(total - explanation.difference, abs=1e-4)  # the gap it reports is true
    return explanation


# ------------------------------------------------------------------------------------------------- completeness

def test_attributions_add_up_to_the_log_odds_change_for_a_trained_lstm(sample_model, test_reviews):
    model, tokenizer = sample_model
    pieces = [assert_complete(model, tokenizer, text).path_pieces for text in test_reviews[:COMPLETENESS_REVIEWS]]
    # The trained LSTM latches on some reviews (its output jumps within 1/1000 of the path): those needed the path
    # cut into pieces; the rest were one plain integral.
    assert 1 in pieces


@pytest.mark.parametrize("encoder", ["bilstm", "cnn"])
def test_attributions_add_up_to_the_log_odds_change_for_a_bilstm_and_the_cnn(quick_models, test_reviews, encoder):
    model, tokenizer = quick_models[encoder]
    for text in test_reviews[:COMPLETENESS_REVIEWS]:
        assert_complete(model, tokenizer, text)


def test_completeness_also_holds_for_the_raw_logit_and_for_a_gru():
    model, tokenizer = tiny_model(cell="gru", pooling="mean")
    for text in ("A wonderful film.", EXAMPLE_REVIEW):
        assert_complete(model, tokenizer, text, output="logit")
        assert_complete(model, tokenizer, text)


def jump_path(steepness: float, middle: float):
    """An output along the path that jumps from 0 to 1 within about 4/`steepness` around `middle` (as a trained
    LSTM latches), and its derivative: sigmoid(steepness · (t − middle))."""
    def output(t):
        return torch.sigmoid(steepness * (torch.as_tensor(t, dtype=torch.float64) - middle))

    def slope(t):
        value = output(t)
        return steepness * value * (1 - value)

    return output, slope


def gauss_legendre(output, slope, shares: list[float], n_steps: int):
    """`integrate`'s two callbacks for a path whose output has the derivative `slope`, attributed to two tokens in
    fixed `shares`: each piece's Gauss–Legendre estimate with `n_steps` nodes (as captum computes it), and its gap
    from the exact change of `output` over the piece; the output at points of the path."""
    nodes, weights = (torch.from_numpy(values) for values in np.polynomial.legendre.leggauss(n_steps))
    shares = torch.tensor(shares, dtype=torch.float64)

    def integral(pieces):
        scores, gaps = [], []
        for a, b in pieces:
            estimate = (weights * slope((b - a) / 2 * nodes + (a + b) / 2)).sum() * (b - a) / 2
            scores.append(estimate * shares)
            gaps.append(estimate - (output(b) - output(a)))
        return torch.stack(scores), torch.stack(gaps)

    def evaluate(points):
        return output(points)

    return integral, evaluate


def test_integrate_cuts_the_path_around_a_sudden_jump_until_the_closed_form_is_met():
    output, slope = jump_path(steepness=2000.0, middle=0.6137)
    shares = [0.25, 0.75]
    integral, evaluate = gauss_legendre(output, slope, shares, DEFAULT_STEPS)
    exact = float(output(1.0) - output(0.0))  # the closed form of the integral of the slope over [0, 1]
    _, plain_gap, plain_pieces = integrate(integral, evaluate, exact, None, DEFAULT_STEPS)
    assert plain_pieces == 1 and abs(plain_gap) > 0.1 * exact  # evenly spread steps miss the jump
    scores, gap, pieces = integrate(integral, evaluate, exact, 0.01, DEFAULT_STEPS)
    assert pieces > 1 and abs(gap) <= 0.01 * exact, (pieces, gap)
    # Each token's score is its share of the exact change: the pieces cover the path once, no more, no less.
    torch.testing.assert_close(scores, exact * torch.tensor(shares, dtype=torch.float64), rtol=0, atol=0.01 * exact)
    assert float(scores.sum()) - exact == pytest.approx(gap, abs=1e-9)


def test_integrate_halves_a_path_whose_gap_is_spread_along_it_until_the_closed_form_is_met():
    # A smooth output that swings back and forth, ending nearly where it began (as on a nearly balanced review):
    # eight Gauss–Legendre nodes miss its integral everywhere at once, not at one jump, and the tolerance is asked
    # of a small change.
    def output(t):
        t = torch.as_tensor(t, dtype=torch.float64)
        return torch.sin(30 * t) / 10 + 0.01 * t

    def slope(t):
        return 3 * torch.cos(30 * torch.as_tensor(t, dtype=torch.float64)) + 0.01

    shares = [0.5, 0.5]
    integral, evaluate = gauss_legendre(output, slope, shares, 8)
    exact = float(output(1.0) - output(0.0))
    _, plain_gap, _ = integrate(integral, evaluate, exact, None, 8)
    assert abs(plain_gap) > 0.5 * abs(exact)
    scores, gap, pieces = integrate(integral, evaluate, exact, 0.01, 8)
    assert 1 < pieces and abs(gap) <= 0.01 * abs(exact), (pieces, gap, exact)
    torch.testing.assert_close(scores, exact * torch.tensor(shares, dtype=torch.float64), rtol=0,
                               atol=0.01 * abs(exact))


def test_integrate_leaves_a_smooth_path_in_one_piece():
    # t³: a polynomial that Gauss–Legendre integrates exactly; nothing to cut.
    integral, evaluate = gauss_legendre(lambda t: torch.as_tensor(t, dtype=torch.float64) ** 3,
                                        lambda t: 3 * torch.as_tensor(t, dtype=torch.float64) ** 2, [0.4, 0.6], 8)
    scores, gap, pieces = integrate(integral, evaluate, 1.0, 0.01, 8)
    assert pieces == 1 and abs(gap) < 1e-12
    torch.testing.assert_close(scores, torch.tensor([0.4, 0.6], dtype=torch.float64))


def test_default_steps_are_the_documented_ones():
    assert explain.__defaults__[0] == DEFAULT_STEPS == 50


# ------------------------------------------------------------------------------------------------------ meaning

POSITIVE_SENTENCES = ["An excellent film with wonderful acting.", "What a wonderful movie: excellent from start to end."]
NEGATIVE_SENTENCES = ["An awful film, boring from start to end.", "Boring and awful: the worst film this year."]


def test_sentiment_words_get_the_sign_of_their_sentiment(sample_model):
    model, tokenizer = sample_model
    for sentences, label, words in ((POSITIVE_SENTENCES, "POSITIVE", ("excellent", "wonderful")),
                                    (NEGATIVE_SENTENCES, "NEGATIVE", ("awful", "boring"))):
        for sentence in sentences:
            explanation = explain(model, tokenizer, sentence)
            assert explanation.label == label, (sentence, explanation.probabilities)
            toward_positive = dict(zip((w.text.lower() for w in explanation.words), explanation.toward("POSITIVE")))
            for word in words:
                # toward the verdict, and with the sign of the word's own sentiment
                score = next(w.score for w in explanation.words if w.text.lower() == word)
                assert score > 0, (sentence, word, explanation.words)
                assert (toward_positive[word] > 0) == (label == "POSITIVE"), (sentence, word, toward_positive)
            # the sentiment words are the two strongest of their sentence
            strongest = {w.text.lower() for w in sorted(explanation.words, key=lambda w: -w.score)[:2]}
            assert strongest == set(words), (sentence, explanation.words)


def delete_words(text: str, words) -> str:
    chars = list(text)
    for word in words:
        chars[word.start:word.end] = [""] * (word.end - word.start)
    return "".join(chars)


def test_deleting_the_top_words_lowers_the_verdict_more_than_deleting_random_words(sample_model, test_reviews):
    model, tokenizer = sample_model
    rng = random.Random(0)
    top_drops, random_drops = [], []
    for text in test_reviews[:MEANING_REVIEWS]:
        explanation = explain(model, tokenizer, text)
        label = model.config.label2id[explanation.label]
        probability = explanation.probabilities[explanation.label]
        top = sorted(explanation.words, key=lambda word: -word.score)[:3]
        draws = [rng.sample(explanation.words, 3) for _ in range(RANDOM_DRAWS)]
        after = predict_proba(model, tokenizer, [delete_words(text, top)] + [delete_words(text, d) for d in draws])
        top_drops.append(probability - float(after[0, label]))
        random_drops.append(probability - float(after[1:, label].mean()))
    mean_top, mean_random = sum(top_drops) / len(top_drops), sum(random_drops) / len(random_drops)
    # Measured: 0.17 against 0.002. Flipping the sign of the scores picks the words against the verdict, whose
    # deletion raises its probability (a negative drop).
    assert mean_top > 0.05 and mean_top > 5 * max(mean_random, 0.0), (mean_top, mean_random)
    assert sum(t > r for t, r in zip(top_drops, random_drops)) >= 0.7 * len(top_drops)


# ------------------------------------------------------------------------------------------------------ offsets

MARKED_UP = ('Great film!<br /><br />It\'s "awful" -- don\'t watch...<i>Really</i>? Café au lait, 3.5/10 '
             "(well-known  ﬁlm).<br>END")


def test_every_word_sits_on_its_own_characters_with_markup_and_punctuation():
    model, tokenizer = tiny_model(bidirectional=True, pooling="max_mean")
    explanation = explain(model, tokenizer, MARKED_UP)
    words = explanation.words
    texts = [word.text for word in words]
    assert texts == ["Great", "film", "!", "It", "'s", '"', "awful", '"', "-", "-", "do", "n't", "watch", ".", ".",
                     ".", "Really", "?", "Café", "au", "lait", ",", "3.5", "/", "10", "(", "well-known", "ﬁlm", ")",
                     ".", "END"]
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(MARKED_UP)["input_ids"])
    for word, token in zip(words, tokens):
        assert MARKED_UP[word.start:word.end] == word.text
        assert token in ("[UNK]", tokenizer.backend_tokenizer.normalizer.normalize_str(word.text)), (word, token)
    # In order, never overlapping, never inside markup; what lies between words is whitespace or markup.
    markup = [range(m.start(), m.end()) for m in re.finditer(r"<[^<>]*>", MARKED_UP)]
    position = 0
    for word in words:
        assert word.start >= position and word.end > word.start
        assert not any(word.start in span for span in markup), word
        assert re.fullmatch(r"(\s|<[^<>]*>)*", MARKED_UP[position:word.start]), MARKED_UP[position:word.start]
        position = word.end
    assert MARKED_UP[position:] == ""
    # Drawn on the text: markup gone (line breaks kept as <br>), every word in its own coloured span.
    html = render_html(explanation)
    assert "&lt;br" not in html and "&lt;i&gt;" not in html and "<i>" not in html
    assert html.count('class="imdb-lstm-word"') == len(words)
    # A space where the review has one, none where it has none, and its paragraph break as two line breaks.
    assert ">Great</span> <span" in html and ">film</span><span" in html
    assert ">!</span><br><br><span" in html


def test_a_review_longer_than_the_maximum_is_cut_where_the_tokenizer_cuts_it():
    tokenizer = tiny_tokenizer(max_length=8)  # keeps the end (truncation_side left)
    model, _ = tiny_model(tokenizer)
    text = "one two three four five six seven eight nine ten, the end."
    explanation = explain(model, tokenizer, text)
    assert len(explanation.words) == 8 and explanation.words_cut == 6  # 14 tokens: "ten" "," ... "end" "."
    assert [word.text for word in explanation.words][-3:] == ["the", "end", "."]


def test_an_empty_review_is_a_clear_error():
    model, tokenizer = tiny_model()
    for text in ("", "   ", "<br /><br />"):
        with pytest.raises(ValueError, match="empty"):
            explain(model, tokenizer, text)


# ----------------------------------------------------------------------------------- encoders, remote code, dtype

@pytest.mark.float_sensitive
def test_a_model_loaded_with_remote_code_gets_the_same_scores(tmp_path):
    model, tokenizer = tiny_model(bidirectional=True, pooling="max_mean")
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    # The folder's own modeling file, as trust_remote_code runs it where imdb_lstm is not installed (here it is, and
    # the Auto classes would pick the installed class).
    remote_class = get_class_from_dynamic_module("modeling_imdb_lstm.ImdbLstmForSequenceClassification", str(tmp_path))
    remote = remote_class.from_pretrained(tmp_path).eval()
    assert type(remote).__module__.startswith("transformers_modules.")
    ours, theirs = explain(model, tokenizer, EXAMPLE_REVIEW), explain(remote, tokenizer, EXAMPLE_REVIEW)
    assert theirs.label == ours.label
    torch.testing.assert_close(torch.tensor([w.score for w in theirs.words]), torch.tensor([w.score for w in ours.words]))


@pytest.mark.float_sensitive
def test_a_bfloat16_model_is_explained_in_float32_and_left_as_it_was():
    model, tokenizer = tiny_model(encoder="cnn", pooling="max")
    model = model.to(torch.bfloat16)
    explanation = explain(model, tokenizer, EXAMPLE_REVIEW)
    assert next(model.parameters()).dtype == torch.bfloat16
    reference = explain(model.float(), tokenizer, EXAMPLE_REVIEW)  # the same (rounded) weights in float32
    assert [w.score for w in explanation.words] == pytest.approx([w.score for w in reference.words], abs=1e-6)
    assert abs(explanation.delta) <= 0.01 * max(abs(explanation.difference), 1e-3)


@pytest.mark.float_sensitive
def test_explanations_from_several_threads_match_serial_ones():
    from concurrent.futures import ThreadPoolExecutor

    model, tokenizer = tiny_model(bidirectional=True, pooling="max_mean")
    texts = [EXAMPLE_REVIEW, "A wonderful film.", "Dull, dull, dull.", "Not bad at all."]
    serial = [[w.score for w in explain(model, tokenizer, text).words] for text in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda text: [w.score for w in explain(model, tokenizer, text).words], texts * 2))
    assert parallel == serial * 2


# -------------------------------------------------------------------------------------------- CLI, pictures, card

def test_cli_prints_the_verdict_with_the_words_for_and_against(sample_model_dir, capsys, tmp_path, monkeypatch):
    page = tmp_path / "why.html"
    assert main(["--model", str(sample_model_dir), "--explain", "--explain-html", str(page), "--example",
                 "A wonderful, excellent film.", ""]) == 0
    out = capsys.readouterr().out
    model, tokenizer = load_classifier(str(sample_model_dir))
    expected = predict(model, tokenizer, ["A wonderful, excellent film.", "", EXAMPLE_REVIEW])
    blocks = out.strip().split("\n")
    assert blocks[0].startswith(expected[0]["label"]) and blocks[0].startswith("POSITIVE")
    assert blocks[1].startswith("  toward POSITIVE: ") and "wonderful" in blocks[1] and "excellent" in blocks[1]
    assert blocks[2].startswith("  against it (toward NEGATIVE): ")
    assert blocks[4] == "  (no words to explain)"
    assert blocks[5].startswith("NEGATIVE") and "stupid ×3" in blocks[6]  # the study's example
    assert "\033[" not in out  # not a terminal: no colour
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count('class="imdb-lstm-explanation"') == 2

    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert main(["--model", str(sample_model_dir), "--explain", "A wonderful film."]) == 0
    assert "\033[32m" in capsys.readouterr().out  # green: POSITIVE

    assert main(["--model", str(sample_model_dir), "--json", "--explain", "Boring."]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["label"] == "NEGATIVE" and record["explanation"]["words"][0]["text"] == "Boring"


def test_png_is_drawn(sample_model, tmp_path):
    from PIL import Image

    model, tokenizer = sample_model
    path = render_png(explain(model, tokenizer, EXAMPLE_REVIEW), tmp_path / "why.png")
    with Image.open(path) as image:
        width, height = image.size
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert width == 960 and 150 < height < 600
    reddish = sum(count for count, (r, g, b) in colours if r > g + 40 and r > b + 40)
    greenish = sum(count for count, (r, g, b) in colours if g > r + 40 and g > b + 20)
    assert reddish > 1000 and greenish > 100  # words on both sides ("stupid" and "great")


def test_png_keeps_the_reviews_paragraphs(tmp_path):
    from PIL import Image

    from imdb_lstm.explain import Explanation, Word

    heights = {}
    for name, gap in (("space", " "), ("line", "<br />"), ("paragraph", "<br /><br />")):
        text = f"Good.{gap}Bad"
        words = [Word(0, 4, 0.5, "Good"), Word(4, 5, 0.1, "."), Word(5 + len(gap), 8 + len(gap), -0.3, "Bad")]
        explanation = Explanation(text=text, label="POSITIVE", probabilities={"NEGATIVE": 0.4, "POSITIVE": 0.6},
                                  words=words)
        with Image.open(render_png(explanation, tmp_path / f"{name}.png")) as image:
            heights[name] = image.size[1]
    line = heights["line"] - heights["space"]
    assert line > 20 and abs(heights["paragraph"] - heights["line"] - line) <= 1  # a new line, then a blank one


def test_model_card_shows_the_study_example_explained(sample_model_dir):
    card = render_model_card(sample_model_dir, "tester/x", benchmarks_file=None).text
    assert "## Why this verdict" in card and f"]({EXAMPLE_PICTURE})" in card
    assert (sample_model_dir / EXAMPLE_PICTURE).read_bytes().startswith(b"\x89PNG")
    model, tokenizer = load_classifier(str(sample_model_dir))
    expected = predict(model, tokenizer, [EXAMPLE_REVIEW])[0]
    assert f"This model calls it **{expected['label']}**" in card
    assert f"p(negative) = {expected['p_negative']:.2f}" in card
    assert "Strongest toward NEGATIVE: stupid" in card
    without = render_model_card(sample_model_dir, "tester/x", benchmarks_file=None, explain_example=False).text
    assert "Why this verdict" not in without


def test_without_captum_the_card_renders_and_the_cli_says_how_to_install(sample_model_dir, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "captum", None)
    monkeypatch.setitem(__import__("sys").modules, "captum.attr", None)
    card = render_model_card(sample_model_dir, "tester/x", benchmarks_file=None).text
    assert "Why this verdict" not in card and "Accuracy" in card
    assert main(["--model", str(sample_model_dir), "--explain", "Fine."]) == 2
    assert 'pip install "imdb-lstm[explain]"' in capsys.readouterr().err


# ------------------------------------------------------------------------------------ any labels, any problem type

GENRES = {0: "comedy", 1: "drama", 2: "horror"}
MIXED_REVIEW = "A wonderful film, but the ending is awful and the middle drags."


def genre_model(**config):
    """A fresh tiny model of three genres (its weights untrained: the arithmetic is what is tested here)."""
    torch.manual_seed(3)
    return tiny_model(num_labels=3, id2label=GENRES, label2id={name: i for i, name in GENRES.items()}, **config)


def logits_at_review_and_baseline(model, tokenizer, text: str) -> torch.Tensor:
    """(2, labels) exact float32 logits of the review and of its all-padding baseline."""
    ids = torch.tensor([tokenizer(text, truncation=True)["input_ids"]])
    with torch.no_grad(), exact_float32(model):
        return model(input_ids=torch.cat([ids, torch.full_like(ids, model.config.pad_token_id)]),
                     attention_mask=torch.ones(2, ids.size(1), dtype=torch.long)).logits.float()


def assert_adds_up(explanation, expected: float):
    assert explanation.total == pytest.approx(expected, abs=COMPLETENESS * max(abs(expected), COMPLETENESS_FLOOR))
    assert explanation.difference == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_a_label_of_three_is_explained_against_the_runner_up():
    model, tokenizer = genre_model()
    ends = logits_at_review_and_baseline(model, tokenizer, MIXED_REVIEW)
    order = ends[0].argsort(descending=True).tolist()
    explanation = explain(model, tokenizer, MIXED_REVIEW)
    assert (explanation.output, explanation.label, explanation.against) == ("contrast", GENRES[order[0]],
                                                                             GENRES[order[1]])
    assert explanation.probabilities == pytest.approx(dict(zip(GENRES.values(), ends[0].softmax(-1).tolist())))
    # log p(label)/p(runner-up) = z_label − z_runner-up, from the baseline to the review.
    contrast = ends[:, order[0]] - ends[:, order[1]]
    assert_adds_up(explanation, float(contrast[0] - contrast[1]))
    assert explanation.toward(explanation.against) == pytest.approx([-s for s in explanation.toward(explanation.label)])
    with pytest.raises(ValueError, match="computed toward"):
        explanation.toward(GENRES[order[2]])

    # A label of the user's choice, weighed against the most probable other one (here the predicted label).
    chosen = explain(model, tokenizer, MIXED_REVIEW, target=GENRES[order[2]])
    assert (chosen.label, chosen.against, chosen.predicted) == (GENRES[order[2]], GENRES[order[0]], [GENRES[order[0]]])
    named = explain(model, tokenizer, MIXED_REVIEW, target=order[2], against=GENRES[order[1]])
    contrast = ends[:, order[2]] - ends[:, order[1]]
    assert named.against == GENRES[order[1]]
    assert_adds_up(named, float(contrast[0] - contrast[1]))
    # Against all other labels at once: the label's log-odds.
    everything = explain(model, tokenizer, MIXED_REVIEW, output="log_odds")
    assert everything.against is None
    assert_adds_up(everything, float(log_odds(ends)[0, order[0]] - log_odds(ends)[1, order[0]]))


@pytest.mark.parametrize("options, message", [
    ({"target": "western"}, r"'western' is not a label of this model: its labels are comedy, drama, horror"),
    ({"target": "drama", "against": "drama"}, r"against='drama' is the label explained"),
    ({"against": "war"}, r"'war' is not a label"),
    ({"output": "value"}, r"output='value' is for a regression model"),
    ({"output": "odds"}, r"output='odds' is not allowed"),
])
def test_a_label_or_output_the_model_lacks_is_a_clear_error(options, message):
    model, tokenizer = genre_model()
    with pytest.raises(ValueError, match=message):
        explain(model, tokenizer, MIXED_REVIEW, **options)


def test_a_multi_label_model_explains_each_label_above_its_threshold():
    model, tokenizer = genre_model(problem_type="multi_label_classification")
    ends = logits_at_review_and_baseline(model, tokenizer, MIXED_REVIEW)
    sigmoids = ends[0].sigmoid()
    # A threshold between the two most probable labels' and the third's: two labels are predicted.
    ranked = sigmoids.argsort(descending=True).tolist()
    model.config.multilabel_threshold = float(sigmoids[ranked[1]] + sigmoids[ranked[2]]) / 2
    explanations = explain_labels(model, tokenizer, MIXED_REVIEW)
    assert [e.label for e in explanations] == [GENRES[ranked[0]], GENRES[ranked[1]]]
    for explanation, label in zip(explanations, ranked):
        assert (explanation.output, explanation.against, explanation.problem_type) == (
            "log_odds", None, "multi_label_classification")
        assert explanation.predicted == [GENRES[ranked[0]], GENRES[ranked[1]]]
        assert explanation.probabilities == pytest.approx(dict(zip(GENRES.values(), sigmoids.tolist())))
        # A sigmoid's log-odds is the label's logit.
        assert_adds_up(explanation, float(ends[0, label] - ends[1, label]))
    # No label above the threshold: the most probable one is explained all the same.
    model.config.multilabel_threshold = 0.999
    assert [e.label for e in explain_labels(model, tokenizer, MIXED_REVIEW)] == [GENRES[ranked[0]]]
    with pytest.raises(ValueError, match="independent labels"):
        explain(model, tokenizer, MIXED_REVIEW, output="contrast")
    result = predict(model, tokenizer, [MIXED_REVIEW])[0]
    assert result["labels"] == [] and result[f"p_{GENRES[ranked[0]]}"] == pytest.approx(float(sigmoids[ranked[0]]),
                                                                                           abs=1e-5)


def test_a_regression_model_is_explained_toward_higher_and_lower_values(tmp_path, capsys):
    torch.manual_seed(4)
    model, tokenizer = tiny_model(num_labels=1, id2label={0: "intensity"}, label2id={"intensity": 0},
                                  problem_type="regression")
    ends = logits_at_review_and_baseline(model, tokenizer, MIXED_REVIEW)
    explanation = explain(model, tokenizer, MIXED_REVIEW)
    assert (explanation.output, explanation.label, explanation.value) == ("value", "intensity",
                                                                          pytest.approx(float(ends[0, 0]), abs=1e-5))
    assert_adds_up(explanation, float(ends[0, 0] - ends[1, 0]))
    assert predict(model, tokenizer, [MIXED_REVIEW]) == [{"label": "intensity",
                                                          "value": pytest.approx(float(ends[0, 0]), abs=1e-5)}]
    with pytest.raises(ValueError, match="predicts a value"):
        predict_proba(model, tokenizer, [MIXED_REVIEW])
    page = render_html(explanation)
    assert "intensity</strong>" in page and f"= {explanation.value:.3f}" in page
    assert "green words push intensity higher, red intensity lower" in page
    assert render_png(explanation, tmp_path / "why.png").stat().st_size > 1000


def test_pictures_colour_the_explained_label_green_and_say_against_what():
    model, tokenizer = genre_model()
    explanation = explain(model, tokenizer, MIXED_REVIEW)
    page = render_html(explanation)
    assert f"green words push toward {explanation.label}, red toward {explanation.against}" in page
    # Each word's background: green where it pushes toward the explained label, red where against it.
    titles = [float(value) for value in re.findall(r'title="([+-][0-9.]+)"', page)]
    scale = max(abs(word.score) for word in explanation.words)
    assert titles == pytest.approx([word.score / scale for word in explanation.words], abs=6e-3)
    backgrounds = re.findall(r"background-color: rgb\((\d+), (\d+), \d+\)", page)
    assert len(backgrounds) == len(explanation.words)
    for word, (red, green) in zip(explanation.words, backgrounds):
        assert (int(green) >= int(red)) if word.score > 0 else (int(red) >= int(green))
    # A label other than the predicted one is named above the review.
    other = explain(model, tokenizer, MIXED_REVIEW, target=explanation.against)
    assert f"words coloured for {explanation.against}" in render_html(other)
    assert "words coloured for" not in page


def test_cli_explains_the_label_asked_for(sample_model_dir, capsys):
    assert main(["--model", str(sample_model_dir), "--explain", "--target", "POSITIVE", "Boring and stupid."]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("NEGATIVE") and lines[1].startswith("  toward POSITIVE: ")
    assert lines[2].startswith("  against it (toward NEGATIVE): ") and "stupid" in lines[2]
    assert main(["--model", str(sample_model_dir), "--explain", "--target", "neutral", "Boring."]) == 2
    assert "--target neutral: 'neutral' is not a label of this model: its labels are NEGATIVE, POSITIVE" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit):
        main(["--model", str(sample_model_dir), "--target", "POSITIVE", "Boring."])
    assert "give it with --explain or --explain-html" in capsys.readouterr().err
