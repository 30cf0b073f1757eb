"""Config sections for learning: ``[task]`` (a bundled task) and ``[train]`` (rule, optimiser...).

    [task]
    name = "evidence_accumulation"     # any of snnsim.tasks.TASKS
    n_cues = 7                         # further keys: the generator's options (type-checked)
    [train]
    rule = "eprop"                     # any rule of snnsim.learning.rules
    iterations = 100
    batch = 32
    optimizer = "adam"                 # or "sgd"
    lr = 0.005
"""
import inspect

import numpy as np

from . import validate as V
from .config_fields import REQUIRED, _bool, _choice, _count, _count0, _fields, _nonneg, _table
from .errors import ConfigError
from .learning.options import ENGINES, FEEDBACK, RESETS, RuleOptions
from .learning.rules import parse_rule
from .optim import EPS_ON, OPTIMIZERS
from .tasks import TASKS, make_task, trial_shape

FROZEN_TASKS = ("sine_wave",)   # one fixed pattern, repeated every iteration


def _rule(f, v):
    if not isinstance(v, str):
        raise ConfigError(f, f"must be a string, got {type(v).__name__}")
    try:
        parse_rule(v)
    except ConfigError as exc:
        raise ConfigError(f, str(exc).split(": ", 1)[1]) from None
    return v


def _typed_like(default):
    """A check accepting values of the default's type (int, float or str)."""
    if isinstance(default, bool):
        return _bool
    if isinstance(default, int):
        return _count if default > 0 else _count0
    if isinstance(default, float):
        return _nonneg
    return _string


def _string(f, v):
    if not isinstance(v, str):
        raise ConfigError(f, f"must be a string, got {type(v).__name__}")
    return v


def trial_values(steps, n_in, n_out):
    """Values held while one trial is generated: inputs and a random draw of their size,
    targets, mask and a few per-step temporaries (the estimate of the task's memory check)."""
    return steps * (2 * n_in + n_out + 8)


def task_section(path, t, ctx):
    _table(path, t)
    if "name" not in t:
        raise ConfigError(f"{path}.name", f"is required; choose one of {', '.join(TASKS)}")
    name = _choice(TASKS)(f"{path}.name", t["name"])
    params = inspect.signature(TASKS[name]).parameters
    spec = {"name": (lambda f, v: v, REQUIRED)}
    for key, p in params.items():
        if key not in ("rng", "batch", "dt", "indices", "subset"):
            spec[key] = (_typed_like(p.default), None)
    out = _fields(path, t, spec)
    net = ctx["network"]
    opts = {k: v for k, v in out.items() if k != "name"}
    try:   # the trial's size first (nothing allocated), so that no oversized trial is generated
        steps, n_in, n_out = trial_shape(name, dt=net["dt"], **opts)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(path, f"these options give no valid trial ({str(exc).splitlines()[0]})") from None
    V.fits_memory(path, trial_values(steps, n_in, n_out),
                  f"one trial of {steps} steps x {n_in} inputs (generated to check the task)")
    try:
        probe = make_task(name, np.random.default_rng(0), batch=1, dt=net["dt"],
                          **{k: v for k, v in out.items() if k != "name"})
    except (MemoryError, ValueError) as exc:   # e.g. durations too long to allocate one trial
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(path, f"these options give a task too large to generate "
                                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if probe.steps < 1:
        raise ConfigError(path, f"these options give trials of 0 time steps at dt = {net['dt']} ms")
    ctx["_task_size"] = probe.steps * (probe.n_in + probe.n_out)   # values per trial
    if probe.n_in != net["n_in"]:
        raise ConfigError("network.n_in", f"must be {probe.n_in} for task {name!r} with these "
                                          f"options, got {net['n_in']}")
    n_out = ctx["readout"]["n"]
    if probe.n_out != n_out:
        raise ConfigError("readout.n", f"must be {probe.n_out} for task {name!r}, got {n_out}")
    return out


def _lr(f, v):
    """A learning rate, or a table of them keyed by weight name, kind (w_in, w_rec, w_out) or
    "default" (per-group learning rates, ``snnsim.optim``)."""
    if isinstance(v, dict):
        if not v:
            raise ConfigError(f, "an empty table gives no learning rate")
        return {str(k): V.positive(f"{f}.{k}", x) for k, x in v.items()}
    return V.positive(f, v)


def _unit(f, v):
    """A number in [0, 1] (eprop-reward's discount factor)."""
    v = _nonneg(f, v)
    if v > 1.0:
        raise ConfigError(f, f"must be in [0, 1], got {v}")
    return float(v)


def train_section(path, t, ctx):
    out = _fields(path, t, {
        "rule": (_rule, "eprop"), "iterations": (_count, 100), "batch": (_count, 32),
        "optimizer": (_choice(OPTIMIZERS), "adam"), "lr": (_lr, 1e-3),
        "eps_on": (_choice(EPS_ON), None),
        "feedback": (_choice(FEEDBACK), "symmetric"), "c_reg": (_nonneg, 0.0),
        "f_target": (_nonneg, 10.0), "update_every": (_count0, 0),
        "block": (_count, 256), "engine": (_choice(("auto",) + ENGINES), "auto"),
        "window_mb": (V.positive, 256.0), "reset": (_choice(RESETS), None),
        "gamma": (_unit, 0.9), "c_v": (_nonneg, 0.5),
        "val_every": (_count0, 0),
        "val_batch": (_count, 64), "patience": (_count0, 0),
        "test_batch": (_count0, 0),
        "checkpoint_every": (_count0, 0), "fidelity_every": (_count0, 0)})
    if t and "task" not in ctx:
        raise ConfigError(path, "needs a [task] section (what to train on)")
    for key, default in (("gamma", 0.9), ("c_v", 0.5)):   # defaults: a written-back config
        if out[key] != default and out["rule"] != "eprop-reward":
            raise ConfigError(f"{path}.{key}", f"applies to rule 'eprop-reward' only, not "
                                               f"{out['rule']!r}")
    if "eps_on" in out and out["optimizer"] != "adam":
        raise ConfigError(f"{path}.eps_on", "is an option of optimizer = 'adam'")
    for key in ("batch", "val_batch", "test_batch"):   # one batch of the task must fit in memory
        V.fits_memory(f"{path}.{key}", out[key] * ctx.get("_task_size", 0), f"{out[key]} trials")
    return out


def task_factory(cfg, dt, which="train"):
    """``(rng, batch=None) -> TaskData`` drawing batches of the configured task (default
    batch: the config's for ``which``; frozen tasks reuse one draw per batch size)."""
    task, train = cfg["task"], cfg["train"]
    name = task["name"]
    opts = {k: v for k, v in task.items() if k != "name"}
    default = {"train": train["batch"], "val": train["val_batch"], "test": train["test_batch"]}[which]
    if "subset" in inspect.signature(TASKS[name]).parameters:
        opts["subset"] = "test" if which == "test" else "train"
    if name in FROZEN_TASKS:
        frozen = {}

        def draw_frozen(rng, batch=None):
            batch = batch or default
            if batch not in frozen:
                frozen[batch] = make_task(name, np.random.default_rng(cfg["network"]["seed"]),
                                          batch=batch, dt=dt, **opts)
            return frozen[batch]
        return draw_frozen
    return lambda rng, batch=None: make_task(name, rng, batch=batch or default, dt=dt, **opts)


def train_options(cfg):
    """The :class:`~snnsim.trainer.TrainOptions` of a validated config (fields already checked
    by :func:`train_section`)."""
    from .trainer import TrainOptions
    tr = cfg["train"]
    learning = RuleOptions(feedback=tr["feedback"], c_reg=tr["c_reg"], f_target=tr["f_target"],
                           engine=tr["engine"], window_mb=tr["window_mb"], block=tr["block"],
                           reset=tr.get("reset"), gamma=tr.get("gamma", 0.9), c_v=tr.get("c_v", 0.5))
    return TrainOptions(rule=tr["rule"], learning=learning,
                        update_every=tr["update_every"] or None, seed=cfg["network"]["seed"],
                        val_every=tr["val_every"], patience=tr["patience"],
                        fidelity_every=tr["fidelity_every"])


def make_trainer(cfg, net, comm=None):
    """The Trainer of a validated config with [task] and [train] sections.

    ``comm`` (e.g. ``snnsim.parallel.MPIComm``, with ``global_batch`` set): data-parallel
    training, passed to the Trainer."""
    from .optim import make_optimizer
    from .trainer import Trainer
    tr, dt = cfg["train"], net.dt
    return Trainer(net, task_factory(cfg, dt, "train"),
                   optimizer=make_optimizer(tr["optimizer"], lr=tr["lr"],
                                            **({"eps_on": tr["eps_on"]} if "eps_on" in tr else {})),
                   options=train_options(cfg),
                   val_task=task_factory(cfg, dt, "val") if tr["val_every"] else None,
                   test_task=task_factory(cfg, dt, "test") if tr["test_batch"] else None,
                   comm=comm)
