"""Distillation's teachers (imdb_lstm/training/teachers.py): the ensemble's weighted average, the soft-label cache,
out-of-fold scores of the n-gram teacher, and the errors for teachers that cannot teach a run."""

import logging

import numpy as np
import pytest

from imdb_lstm.data import load_imdb
from imdb_lstm.training import teachers as teaching
from imdb_lstm.training.teachers import (
    SoftLabelCache, Teacher, TeacherError, choose_weights, ensemble_logits, labelled_targets, load_teachers,
)

LABELS = {0: "NEGATIVE", 1: "POSITIVE"}


def counting_teacher(name="t", identity="weights-1", offset=0.0):
    """A teacher whose logits are a function of the text (its length), so a mix-up of rows would show."""
    return Teacher(name=name, id2label=LABELS, fingerprint=identity,
                   _score=lambda texts: [[0.0, len(text) / 10 + offset] for text in texts])


def test_the_weighted_average_is_the_hand_computation():
    a = np.array([[0.0, 2.0], [1.0, -1.0], [0.5, 0.5]], dtype=np.float32)
    b = np.array([[3.0, 1.0], [0.0, 4.0], [-2.0, 1.0]], dtype=np.float32)
    joined = ensemble_logits([a, b], (0.25, 0.75))
    # Two labels: the weighted mean of the members' log-odds.
    expected = 0.25 * (a[:, 1] - a[:, 0]) + 0.75 * (b[:, 1] - b[:, 0])
    np.testing.assert_allclose(joined[:, 1] - joined[:, 0], expected, rtol=1e-6)
    # And a probability distribution per row: logits are log-probabilities averaged, so they still sum to at most 1.
    assert (np.exp(joined).sum(axis=1) <= 1 + 1e-6).all()


def test_weights_are_chosen_on_validation_log_loss():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    signal = np.where(labels == 1, 1.0, -1.0)
    good = np.stack([-signal, signal], axis=1) * 1.5 + rng.normal(0, 0.5, (400, 2))
    noise = rng.normal(0, 2.0, (400, 2))
    weights, loss = choose_weights([noise, good], labels)
    assert weights[1] >= 0.8 and sum(weights) == pytest.approx(1.0)
    assert loss <= teaching.log_loss(good, labels) + 1e-9  # the grid includes (0, 1): never worse than the best member
    assert choose_weights([good], labels) == ((1.0,), pytest.approx(teaching.log_loss(good, labels)))


def test_the_cache_is_read_not_recomputed_and_a_mismatch_is_recomputed_with_a_warning(tmp_path, caplog):
    texts = ["a", "bb", "ccc"]
    teacher = counting_teacher()
    cache = SoftLabelCache(tmp_path)
    first = cache.logits(teacher, "unlabelled", texts)
    assert teacher.calls == 3
    again = SoftLabelCache(tmp_path).logits(teacher, "unlabelled", texts)
    assert teacher.calls == 3  # read, not scored
    np.testing.assert_array_equal(first, again)

    retrained = counting_teacher(identity="weights-2", offset=1.0)  # same name, other weights
    with caplog.at_level(logging.WARNING):
        fresh = cache.logits(retrained, "unlabelled", texts)
    assert retrained.calls == 3 and "other teacher's weights" in caplog.text
    np.testing.assert_allclose(fresh[:, 1], first[:, 1] + 1.0)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        cache.logits(retrained, "unlabelled", texts + ["dddd"])
    assert retrained.calls == 3 + 4 and "other texts" in caplog.text
    assert SoftLabelCache(None).logits(teacher, "unlabelled", texts).shape == (3, 2) and teacher.calls == 6


def test_the_ngram_teacher_scores_no_training_review_with_a_model_that_trained_on_it(monkeypatch):
    train = load_imdb("sample")["train"].select(range(300))
    texts, labels = list(train["text"]), np.asarray(train["label"])
    fits = []
    real_fit = teaching.fit_nblr

    def spying_fit(fit_texts, fit_labels, order, C=1.0, min_count=2):
        score = real_fit(fit_texts, fit_labels, order, C, min_count)
        seen = set(fit_texts)
        fits.append(seen)

        def spying_score(new_texts):
            fits_scored.append((seen, list(new_texts)))
            return score(new_texts)
        return spying_score

    fits_scored = []
    monkeypatch.setattr(teaching, "fit_nblr", spying_fit)
    teacher = teaching.ngram_teacher("ngram:2", texts, labels, LABELS, folds=4, seed=1)
    assert fits == []  # nothing is fitted before it is needed
    assert teacher.out_of_fold.shape == (300, 2)
    scored_training = [(seen, scored) for seen, scored in fits_scored]
    assert len(fits) == 4  # one model per fold
    assert sum(len(scored) for _, scored in scored_training) == len(texts)
    for seen, scored in scored_training:
        assert scored and not seen & set(scored)  # out of fold: never a review its model trained on
    # Out of fold it is an honest classifier: right more often than not, far from the memorised in-sample fit.
    in_sample = teacher.score(texts)
    out_of_fold_accuracy = (teacher.out_of_fold.argmax(1) == labels).mean()
    assert 0.55 < out_of_fold_accuracy < (in_sample.argmax(1) == labels).mean()


def test_labelled_targets_gold_out_of_fold_and_teacher():
    labels = np.array([0, 1, 1])
    gold = labelled_targets("gold", [], None, (1.0,), labels, 0.1, 2)
    np.testing.assert_allclose(np.exp(gold), [[0.95, 0.05], [0.05, 0.95], [0.05, 0.95]], rtol=1e-6)
    neural = counting_teacher()
    with pytest.raises(TeacherError, match="no out-of-fold scores .* --distill_labelled_targets gold"):
        labelled_targets("out_of_fold", [neural], None, (1.0,), labels, 0.1, 2)
    in_sample = [np.array([[0.0, 1.0], [0.0, 2.0], [1.0, 0.0]])]
    np.testing.assert_allclose(labelled_targets("teacher", [neural], in_sample, (1.0,), labels, 0.1, 2),
                               teaching.log_probabilities(in_sample[0]), rtol=1e-6)


def test_a_teacher_that_is_no_classifier_and_teachers_with_other_labels_are_refused(sample_model_dir, tmp_path):
    train = load_imdb("sample")["train"].select(range(50))
    with pytest.raises(TeacherError, match=r"--teacher_model .*nothing: not a trained imdb-lstm classifier"):
        load_teachers([str(tmp_path / "nothing")], train["text"], train["label"], LABELS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TeacherError, match="has no config.json"):
        load_teachers([str(tmp_path / "empty")], train["text"], train["label"], LABELS)
    other = {0: "BAD", 1: "GOOD"}
    with pytest.raises(TeacherError, match="teachers and student must share one label set"):
        load_teachers([str(sample_model_dir)], train["text"], train["label"], other)
    with pytest.raises(TeacherError, match="binary by nature"):
        load_teachers(["ngram:2"], train["text"], train["label"], {0: "a", 1: "b", 2: "c"})


@pytest.mark.slow
def test_two_teachers_distil_once_and_a_second_student_reads_the_cache(sample_model_dir, tmp_path, monkeypatch):
    import json

    from imdb_lstm.commands import distill

    calls = []
    real_score = Teacher.score
    monkeypatch.setattr(Teacher, "score", lambda self, texts: calls.append((self.name, len(texts))) or
                        real_score(self, texts))
    arguments = [
        "--dataset", "sample", "--teacher_model", str(sample_model_dir), "ngram:2", "--distill_labelled_targets",
        "gold", "--teacher_folds", "2", "--soft_label_cache", str(tmp_path / "cache"), "--hidden_size", "16", "--max_length", "128",
        "--max_steps", "3", "--max_eval_samples", "60", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--report_to", "none", "--disable_tqdm", "true", "--do_predict", "false",
    ]
    distill.main([*arguments, "--output_dir", str(tmp_path / "first")])
    assert {name for name, _ in calls} == {str(sample_model_dir), "ngram:2"}
    report = json.loads((tmp_path / "first" / "teachers.json").read_text())
    assert sum(report["teacher_weights"].values()) == pytest.approx(1.0)
    assert set(report["teacher_validation_accuracy"]) == {str(sample_model_dir), "ngram:2"}
    config = json.loads((tmp_path / "first" / "config.json").read_text())
    assert config["distilled_from"] == f"{sample_model_dir}, ngram:2"

    calls.clear()
    distill.main([*arguments, "--seed", "7", "--output_dir", str(tmp_path / "second")])
    assert calls == []  # every teacher's soft labels came from the cache


def test_a_distillation_run_weighs_its_teachers_on_validation_labels_and_no_teacher_scores_a_test_review(
        tmp_path, monkeypatch):
    """Through the real command on a tiny IMDB with a test review planted (disguised) among the unlabelled ones:
    the ensemble's weights are chosen with validation's labels, and no teacher is asked to score a test review."""
    from test_data import PLANTED_WORD, planted_imdb_folder

    from imdb_lstm.commands import distill
    from imdb_lstm.data import make_splits

    folder, _ = planted_imdb_folder(tmp_path / "planted_imdb", monkeypatch)
    scored, weighed = [], []
    real_score, real_choose = Teacher.score, teaching.choose_weights
    monkeypatch.setattr(Teacher, "score", lambda self, texts: scored.extend(texts) or real_score(self, texts))
    monkeypatch.setattr(teaching, "choose_weights", lambda members, labels, **kwargs: weighed.append(list(labels))
                        or real_choose(members, labels, **kwargs))
    import imdb_lstm.training.distill as distillation
    monkeypatch.setattr(distillation, "choose_weights", teaching.choose_weights)
    distill.main([
        "--dataset", str(folder), "--teacher_model", "ngram:1", "ngram:2", "--teacher_folds", "2",
        "--soft_label_cache", str(tmp_path / "cache"), "--hidden_size", "8", "--max_length", "64",
        "--vocab_size", "2000", "--max_steps", "2", "--per_device_train_batch_size", "8", "--save_strategy", "no",
        "--eval_strategy", "no", "--load_best_model_at_end", "false", "--report_to", "none", "--disable_tqdm",
        "true", "--do_predict", "false", "--output_dir", str(tmp_path / "student")])

    splits = make_splits(load_imdb(str(folder)), "canonical", 0.1, 42)
    assert weighed == [list(splits["validation"]["label"])]
    assert scored and not any(PLANTED_WORD in text.lower() for text in scored)
    assert not set(scored) & set(splits["test"]["text"])
