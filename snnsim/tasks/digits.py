"""Sequential digits: the 8x8 handwritten digits (UCI; bundled in ``snnsim.data``) row by row.

Each image is shown as ``8`` rows; row r is presented for ``row_ms`` with input neuron c
firing Poisson spikes at ``f_max * pixel / 16`` Hz (8 columns; optionally ``n_rep`` neurons
per column). After the 8 rows a ``readout_ms`` window follows, with a go-cue group, in which
the 10-class cross-entropy is applied. A fixed split (seeded permutation) gives train/test.
"""
import gzip
from importlib import resources

import numpy as np

from ..errors import ConfigError
from .base import TaskData, poisson

_CACHE = {}


def load_digits():
    """(images (1797, 8, 8) float in 0..16, labels (1797,) int) from the bundled file."""
    if "digits" not in _CACHE:
        with resources.files("snnsim.data").joinpath("digits.csv.gz").open("rb") as fh:
            raw = np.loadtxt(gzip.open(fh, "rt"), delimiter=",")
        _CACHE["digits"] = (raw[:, :64].reshape(-1, 8, 8), raw[:, 64].astype(np.int64))
    return _CACHE["digits"]


def split(n_test=297, seed=12345):
    """Fixed train/test index split (the same on every machine)."""
    images, _ = load_digits()
    perm = np.random.default_rng(seed).permutation(len(images))
    return perm[n_test:], perm[:n_test]


def sequential_digits(rng, *, batch=32, subset="train", row_ms=20.0, readout_ms=40.0, n_rep=4,
                      f_max=200.0, dt=1.0, indices=None):
    images, labels = load_digits()
    train, test = split()
    pool = {"train": train, "test": test}.get(subset)
    if pool is None:
        raise ConfigError("task.subset", f"{subset!r} is not allowed; choose one of train, test")
    idx = pool[rng.integers(0, len(pool), batch)] if indices is None else np.asarray(indices)
    step = lambda ms: int(round(ms / dt))
    r_steps, t_read = step(row_ms), 8 * step(row_ms)
    steps = t_read + step(readout_ms)
    n_cols = 8 * n_rep
    x = np.zeros((len(idx), steps, n_cols + n_rep))
    for r in range(8):
        rates = np.repeat(images[idx, r, :], n_rep, axis=1) / 16.0 * f_max     # (B, n_cols)
        x[:, r * r_steps:(r + 1) * r_steps, :n_cols] = poisson(
            rng, (len(idx), r_steps, n_cols), rates[:, None, :], dt)
    x[:, t_read:, n_cols:] = poisson(rng, (len(idx), steps - t_read, n_rep), f_max, dt)
    lab = labels[idx]
    targets = np.zeros((len(idx), steps, 10))
    targets[np.arange(len(idx)), :, lab] = 1.0
    mask = np.zeros((len(idx), steps))
    mask[:, t_read:] = 1.0
    return TaskData(x, targets, mask, "ce", labels=lab, meta={"task": "sequential_digits"})
