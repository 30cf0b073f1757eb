"""Bundled tasks (no download): generators returning ``TaskData`` from a numpy Generator."""
from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

import numpy as np

from .. import validate as V
from .bandit import bandit
from .base import TaskData, accuracy
from .digits import sequential_digits
from .evidence import evidence_accumulation
from .recall import store_recall
from .sine import sine_wave

TASKS: dict[str, Callable[..., TaskData]] = {
    "sine_wave": sine_wave,
    "evidence_accumulation": evidence_accumulation,
    "store_recall": store_recall,
    "sequential_digits": sequential_digits,
    "bandit": bandit,
}


def make_task(name: str, rng: np.random.Generator, **options: Any) -> TaskData:
    """Generate a batch of the named task.

    Parameters
    ----------
    name : str
        One of :data:`TASKS` (``"sine_wave"``, ``"evidence_accumulation"``,
        ``"store_recall"``, ``"sequential_digits"``).
    rng : numpy.random.Generator
        Draws the batch.
    **options
        The task generator's keyword arguments (e.g. ``batch``, ``dt`` in ms); an unknown
        one is a :class:`~snnsim.ConfigError` naming it.

    Returns
    -------
    TaskData
    """
    V.choice("task.name", name, list(TASKS))
    allowed = [p for p in inspect.signature(TASKS[name]).parameters if p != "rng"]
    V.unknown_keys("task", options, allowed)
    return TASKS[name](rng, **options)


def trial_shape(name, *, dt=1.0, **options):
    """``(steps, n_in, n_out)`` of one trial of the named task, computed without allocating it.

    Every bundled generator called with ``batch=0`` returns empty arrays of the trial's shape
    (no memory is used whatever the durations), so configs are sized before any trial exists.
    """
    data = make_task(name, np.random.default_rng(0), batch=0, dt=dt, **options)
    return data.steps, data.n_in, data.n_out


__all__ = ["TaskData", "TASKS", "accuracy", "make_task", "trial_shape", "sequential_digits",
           "evidence_accumulation", "store_recall", "sine_wave", "bandit"]
