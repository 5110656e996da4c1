"""The model learns: a short training on the shipped sample (1,800 training reviews, 4 epochs, about 20 s on a
2-core CPU) scores well above chance on the sample's 1,000 test reviews, and calls clear reviews what they are.

Measured with these settings (seeds 42, 1, 7): test accuracy 0.836, 0.837, 0.841; p(NEGATIVE) of the example
review 0.96, 0.92, 0.92. The thresholds leave a wide margin below that (the test split's standard error is about
0.012) and far above chance (0.5), so they fail for a model that does not learn, not for an unlucky seed."""

import pytest

from imdb_lstm.training import finetune as train
from imdb_lstm.predict import load_classifier, predict
from imdb_lstm.study import EXAMPLE_REVIEW

MIN_TEST_ACCURACY = 0.75
RECIPE = [
    "--dataset", "sample", "--hidden_size", "64", "--bidirectional", "true", "--pooling", "max_mean",
    "--embedding_dropout", "0.25", "--max_length", "256", "--truncation_side", "left", "--vocab_size", "10000",
    "--num_train_epochs", "4", "--learning_rate", "5e-3", "--per_device_train_batch_size", "32", "--seed", "42",
    "--logging_steps", "20", "--disable_tqdm", "true", "--report_to", "none",
]
NEGATIVE_REVIEWS = [
    EXAMPLE_REVIEW,
    "Awful. A boring, stupid film with terrible acting and the worst script I have ever seen.",
]
POSITIVE_REVIEWS = [
    "One of the best films I have seen in years: moving, funny and beautifully acted. A wonderful masterpiece.",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("learned")
    return output_dir, train.main([*RECIPE, "--output_dir", str(output_dir)])


@pytest.mark.slow
def test_sample_training_scores_well_above_chance(trained):
    output_dir, results = trained
    predictions = (output_dir / "test_predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 1000  # the whole sample test split, none of it seen in training
    assert results["test_accuracy"] >= MIN_TEST_ACCURACY, results
    # Both classes are recognised, not one label everywhere.
    assert min(results["test_tpr"], results["test_tnr"]) >= 0.6, results


@pytest.mark.slow
def test_trained_model_calls_clear_reviews_what_they_are(trained):
    output_dir, _ = trained
    model, tokenizer = load_classifier(str(output_dir))
    negative, positive = predict(model, tokenizer, NEGATIVE_REVIEWS), predict(model, tokenizer, POSITIVE_REVIEWS)
    assert [r["label"] for r in negative] == ["NEGATIVE"] * len(NEGATIVE_REVIEWS), negative
    assert all(r["p_negative"] >= 0.75 for r in negative), negative
    assert [r["label"] for r in positive] == ["POSITIVE"] * len(POSITIVE_REVIEWS), positive
