"""scripts/score_ensemble.py: members and their ensembles scored on the members' shared validation split."""

import json
import shutil

import pytest

from helpers import load_script

score_ensemble = load_script("score_ensemble")


def test_a_model_with_itself_scores_as_the_model(sample_model_dir, tmp_path):
    result = score_ensemble.main([str(sample_model_dir), str(sample_model_dir), "--dataset", "sample", "--merge",
                                  "--output", str(tmp_path / "ensemble.json")])
    member = result["members"][0]
    assert result["validation_reviews"] == 200  # the sample's 2,000 labelled reviews: 1,000 train, 10 % validation
    assert member["eval_accuracy"] > 0.6  # a model that learnt something: the check below is not chance against chance
    (ensemble,) = result["ensembles (mean log-probability)"]
    assert ensemble["eval_accuracy"] == member["eval_accuracy"]
    assert ensemble["eval_recurrent_accuracy"] == member["eval_recurrent_accuracy"]
    assert json.loads((tmp_path / "ensemble.json").read_text())["members"] == result["members"]
    # Merged into one classifier twice as wide, which scores as its single member did.
    assert result["merged"]["hidden_size"] == 2 * member["hidden_size"]
    assert result["merged"]["eval_accuracy"] == member["eval_accuracy"]


def test_members_selected_on_different_splits_are_refused(sample_model_dir, tmp_path):
    other = tmp_path / "other_split"
    shutil.copytree(sample_model_dir, other)
    run_info = json.loads((other / "run_info.json").read_text())
    run_info["arguments"]["data"]["split_seed"] = 7
    (other / "run_info.json").write_text(json.dumps(run_info))
    with pytest.raises(SystemExit, match="different validation splits"):
        score_ensemble.main([str(sample_model_dir), str(other), "--dataset", "sample"])
