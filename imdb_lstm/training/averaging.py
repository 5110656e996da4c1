"""An exponential moving average of a model's trainable parameters (Polyak averaging, as Miyato, Dai & Goodfellow
2017 evaluate their classifiers: `tf.train.ExponentialMovingAverage(0.999)`), for `FineTuningTrainer`'s
`--ema_decay`. Pure torch: the Trainer side (an update after every optimiser step, evaluation and saving with the
average, resuming) is `imdb_lstm.training.trainer`'s.

After optimiser step t (1, 2, ...) every trainable parameter's float32 shadow becomes
`shadow ← d_t · shadow + (1 − d_t) · parameter`, with `d_t = min(decay, (1 + t) / (10 + t))`, the shadow starting
from the initial weights.
"""

import contextlib

import torch
from torch import nn

__all__ = ["ExponentialMovingAverage"]


class ExponentialMovingAverage:
    """Float32 shadows of `model`'s parameters that require a gradient when it is made (a parameter frozen later,
    as by gradual unfreezing, is still averaged: it is a constant while it is frozen), keyed by their names in
    `model`. The parameters are held by reference: `update` reads them, `averaged_weights` and `copy_to_model`
    write into them in place, so an optimiser holding them is unaffected."""

    def __init__(self, model: nn.Module, decay: float):
        if isinstance(decay, bool) or not 0 < decay < 1:
            raise ValueError(f"decay={decay} must be in (0, 1) (Miyato et al. use 0.999).")
        self.decay = decay
        self.parameters = {name: parameter for name, parameter in model.named_parameters() if parameter.requires_grad}
        if not self.parameters:
            raise ValueError(f"{type(model).__name__} has no trainable parameter to average.")
        self.shadows = {name: parameter.detach().float().clone() for name, parameter in self.parameters.items()}

    def decay_at(self, step: int) -> float:
        """The decay used at optimiser step `step` (1 for the first). Bias correction, as Adam's and
        `tf.train.ExponentialMovingAverage(num_updates=step)`: at most (1 + step) / (10 + step), so that the first
        hundreds of steps are not dominated by the initial weights (with 0.999, an uncorrected average would still
        hold 37 % of them after 1,000 steps)."""
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold the parameters' current values in, after optimiser step `step` (Trainer's `state.global_step`)."""
        shadows = list(self.shadows.values())
        values = [parameter.detach().float() for parameter in self.parameters.values()]
        # shadow + (1 - d) · (value - shadow) = d · shadow + (1 - d) · value, in place on every shadow at once.
        torch._foreach_lerp_(shadows, values, 1.0 - self.decay_at(step))

    @contextlib.contextmanager
    def averaged_weights(self):
        """A context in which the parameters hold the average; their own values are put back on exit (exactly:
        they are copied aside, not recomputed)."""
        saved = {name: parameter.detach().clone() for name, parameter in self.parameters.items()}
        try:
            self.copy_to_model()
            yield
        finally:
            with torch.no_grad():
                for name, parameter in self.parameters.items():
                    parameter.copy_(saved[name])

    @torch.no_grad()
    def copy_to_model(self) -> None:
        """Put the average into the parameters for good (at the end of training)."""
        for name, parameter in self.parameters.items():
            parameter.copy_(self.shadows[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The shadows by parameter name (float32), for a checkpoint."""
        return dict(self.shadows)

    @torch.no_grad()
    def load_state_dict(self, shadows: dict[str, torch.Tensor]) -> None:
        """Restore the shadows saved by `state_dict` (same parameter names and shapes, or a ValueError)."""
        if set(shadows) != set(self.shadows):
            missing, unexpected = sorted(set(self.shadows) - set(shadows)), sorted(set(shadows) - set(self.shadows))
            raise ValueError(f"The saved average is of other parameters: missing {missing}, unexpected {unexpected}.")
        for name, shadow in self.shadows.items():
            if shadows[name].shape != shadow.shape:
                raise ValueError(f"The saved average of {name} has shape {tuple(shadows[name].shape)}, the parameter "
                                 f"{tuple(shadow.shape)}.")
            shadow.copy_(shadows[name])
