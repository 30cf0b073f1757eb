"""Bundled tasks (no download): generators returning ``TaskData`` from a numpy Generator."""
import inspect

from .. import validate as V
from .bandit import bandit
from .base import TaskData, accuracy
from .digits import sequential_digits
from .evidence import evidence_accumulation
from .recall import store_recall
from .sine import sine_wave

TASKS = {
    "sine_wave": sine_wave,
    "evidence_accumulation": evidence_accumulation,
    "store_recall": store_recall,
    "sequential_digits": sequential_digits,
    "bandit": bandit,
}


def make_task(name, rng, **options):
    """Generate a batch of the named task (options are the generator's keyword arguments)."""
    V.choice("task.name", name, list(TASKS))
    allowed = [p for p in inspect.signature(TASKS[name]).parameters if p != "rng"]
    V.unknown_keys("task", options, allowed)
    return TASKS[name](rng, **options)


__all__ = ["TaskData", "TASKS", "accuracy", "make_task", "sequential_digits",
           "evidence_accumulation", "store_recall", "sine_wave", "bandit"]
