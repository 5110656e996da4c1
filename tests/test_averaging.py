"""The moving average of the weights (imdb_lstm.training.averaging, `--ema_decay`): its bias-corrected arithmetic,
and the bad settings refused. The Trainer's side (evaluation, prediction and checkpoints with the average while
training goes on from the raw weights, the saved model, resuming): tests/test_trainer.py."""

import pytest
import torch
from torch import nn

from imdb_lstm.training import finetune as train
from imdb_lstm.training.averaging import ExponentialMovingAverage


def test_average_follows_the_bias_corrected_recurrence():
    model = nn.Linear(3, 2)
    model.bias.requires_grad_(False)  # not trainable: not averaged
    average = ExponentialMovingAverage(model, decay=0.9)
    assert list(average.shadows) == ["weight"]
    assert [average.decay_at(step) for step in (1, 2, 100)] == pytest.approx([2 / 11, 3 / 12, 0.9])
    expected = model.weight.detach().double().clone()
    for step in range(1, 31):
        with torch.no_grad():
            model.weight.copy_(torch.full((2, 3), float(step)) + torch.arange(3.0))
        average.update(step)
        decay = min(0.9, (1 + step) / (10 + step))
        expected = decay * expected + (1 - decay) * model.weight.detach().double()
        torch.testing.assert_close(average.shadows["weight"].double(), expected, atol=1e-5, rtol=1e-6)
    assert average.shadows["weight"].dtype == torch.float32

    # Inside averaged_weights the parameter holds the average, the very same tensor object; its value comes back after.
    raw, parameter = model.weight.detach().clone(), model.weight
    with average.averaged_weights():
        assert model.weight is parameter and torch.equal(model.weight, average.shadows["weight"])
    assert torch.equal(model.weight, raw)

    restored = ExponentialMovingAverage(model, decay=0.9)
    restored.load_state_dict(average.state_dict())
    assert torch.equal(restored.shadows["weight"], average.shadows["weight"])
    with pytest.raises(ValueError, match="other parameters"):
        restored.load_state_dict({"bias": torch.zeros(2)})


@pytest.mark.parametrize("value", ["1.5", "1", "-0.1", "nan"])
def test_bad_decay_is_refused(value):
    with pytest.raises(ValueError, match=r"--ema_decay=.* must be in \[0, 1\)"):
        train.parse_args(["--dataset", "sample", "--ema_decay", value])
