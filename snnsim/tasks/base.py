"""The container every bundled task returns."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import validate as V
from ..learning.loss import check_loss


@dataclass
class TaskData:
    """One batch of a task: what the network sees, what it should output, and the loss.

    Parameters
    ----------
    inputs : ndarray (B, T, n_in)
        Input spikes (0/1) or currents per trial and step.
    targets : ndarray (B, T, n_out)
        Target readout (``"mse"``) or one-hot class probabilities (``"ce"``).
    mask : ndarray (B, T) or (T,)
        Learning window: 1 where the loss counts, 0 elsewhere.
    loss : {"mse", "ce", "reward"}
        Mean squared error, cross-entropy (softmax of the readout) or minus the expected
        reward of a reward table (``snnsim.learning.reward``). Any other
        value, e.g. ``"MSE"``, is a :class:`~snnsim.ConfigError` naming ``loss``:
        every rule sees the same validated name.
    labels : ndarray (B,), optional
        Class labels (classification tasks), for the accuracy.
    meta : dict
        Task-specific extras.
    """
    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    loss: str
    labels: np.ndarray = None      # (B,) class labels for classification tasks
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        check_loss(self.loss)
        for name in ("inputs", "targets"):
            arr = getattr(self, name)
            if np.ndim(arr) != 3:
                raise V.ConfigError(name, f"must be an array (batch, T, n), got shape {np.shape(arr)}")
        if np.shape(self.targets)[:2] != np.shape(self.inputs)[:2]:
            raise V.ConfigError("targets", f"must have the batch and steps of inputs "
                                           f"{np.shape(self.inputs)[:2]}, got {np.shape(self.targets)[:2]}")

    def __repr__(self):
        B, T, n_in = np.shape(self.inputs)
        labels = "" if self.labels is None else ", labels"
        return (f"TaskData(batch={B}, steps={T}, n_in={n_in}, n_out={np.shape(self.targets)[2]}, "
                f"loss={self.loss!r}{labels})")

    @property
    def n_in(self) -> int:
        return self.inputs.shape[2]

    @property
    def n_out(self) -> int:
        return self.targets.shape[2]

    @property
    def steps(self) -> int:
        return self.inputs.shape[1]


def poisson(rng, shape, rate_hz, dt):
    """0/1 spikes with P(spike in a step) = rate * dt."""
    return (rng.random(shape) < np.asarray(rate_hz) * dt * 1e-3).astype(np.float64)


def accuracy(y, labels, mask):
    """Fraction of trials whose readout, summed over the learning window, picks the label."""
    score = np.einsum("btk,bt->bk", y, mask)
    return float(np.mean(np.argmax(score, axis=1) == labels))
