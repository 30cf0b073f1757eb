"""The container every bundled task returns."""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class TaskData:
    """Inputs (B, T, n_in), targets (B, T, n_out), learning-window mask (B, T) and the loss."""
    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    loss: str
    labels: np.ndarray = None      # (B,) class labels for classification tasks
    meta: dict = field(default_factory=dict)

    @property
    def n_in(self):
        return self.inputs.shape[2]

    @property
    def n_out(self):
        return self.targets.shape[2]

    @property
    def steps(self):
        return self.inputs.shape[1]


def poisson(rng, shape, rate_hz, dt):
    """0/1 spikes with P(spike in a step) = rate * dt."""
    return (rng.random(shape) < np.asarray(rate_hz) * dt * 1e-3).astype(np.float64)


def accuracy(y, labels, mask):
    """Fraction of trials whose readout, summed over the learning window, picks the label."""
    score = np.einsum("btk,bt->bk", y, mask)
    return float(np.mean(np.argmax(score, axis=1) == labels))
