"""Cue-dependent bandit: a small open-loop reinforcement-learning task (loss ``"reward"``).

Every trial shows a cue c (uniform over the ``n_arms`` arms): a ``cue_ms`` Poisson burst
(``f_cue`` Hz) on the c-th of ``n_arms`` input groups of ``n_group`` neurons. After
``delay_ms`` a go group fires for ``decide_ms``; every step of that window is a decision (the
mask): choosing the cued arm pays 1 with probability ``p_reward``, any other arm pays 1 with
probability 1 - ``p_reward`` (a fresh draw per step and arm, made before the trial: open loop).
A background group fires at ``f_background`` Hz throughout. The targets are the reward table
(``snnsim.learning.reward``): one column per arm, then a zero column for the value output, so
the readout needs ``n_arms + 1`` outputs. Chance is 1 / n_arms optimal actions; the best
expected reward per trial is the number of decision steps times max(p, 1 - p).
Default timing: 20 ms cue + 10 ms delay + 5 ms decisions = 35 steps at dt = 1 ms; 4 x 5 inputs.
"""
import numpy as np

from .. import validate as V
from .base import TaskData, poisson


def bandit(rng, *, batch=32, n_arms=2, cue_ms=20.0, delay_ms=10.0, decide_ms=5.0, n_group=5,
           f_cue=100.0, f_background=5.0, p_reward=1.0, dt=1.0):
    V.count("task.n_arms", n_arms, minimum=2)
    V.count("task.n_group", n_group)
    if not 0.0 <= V.finite("task.p_reward", p_reward) <= 1.0:
        raise V.ConfigError("task.p_reward", f"must be in [0, 1], got {p_reward}")
    step = lambda ms: int(round(ms / dt))
    t_go = step(cue_ms) + step(delay_ms)
    steps = t_go + step(decide_ms)
    if step(decide_ms) < 1:
        raise V.ConfigError("task.decide_ms", f"gives no decision step at dt = {dt} ms")
    n_in = (n_arms + 2) * n_group
    cue = rng.integers(0, n_arms, batch)
    x = np.zeros((batch, steps, n_in))
    burst = poisson(rng, (batch, step(cue_ms), n_group), f_cue, dt)
    for b in range(batch):
        x[b, :step(cue_ms), cue[b] * n_group:(cue[b] + 1) * n_group] = burst[b]
    go = slice(n_arms * n_group, (n_arms + 1) * n_group)
    x[:, t_go:, go] = poisson(rng, (batch, steps - t_go, n_group), f_cue, dt)
    x[:, :, (n_arms + 1) * n_group:] = poisson(rng, (batch, steps, n_group), f_background, dt)
    cued = np.arange(n_arms)[None, None, :] == cue[:, None, None]
    pays = rng.random((batch, steps - t_go, n_arms)) < np.where(cued, p_reward, 1.0 - p_reward)
    targets = np.zeros((batch, steps, n_arms + 1))
    targets[:, t_go:, :n_arms] = pays
    mask = np.zeros((batch, steps))
    mask[:, t_go:] = 1.0
    return TaskData(x, targets, mask, "reward", meta={"task": "bandit", "cue": cue,
                                                      "t_go": t_go})
