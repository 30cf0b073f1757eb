"""Evidence accumulation (Bellec et al. 2020, Fig. 3; NEST's evidence-accumulation example).

40 inputs in four groups of 10: left cues, right cues, recall cue and background noise.
Each of ``n_cues`` cues is a ``cue_ms`` burst (40 Hz) on the left or right group followed
by a ``gap_ms`` pause; after a delay, a recall burst on the recall group. Background
neurons fire at 10 Hz throughout. The target class is the side with more cues; the
learning window is the recall period (cross-entropy on the 2 readouts).
Default timing: 7 x (100 + 50) ms + 1050 ms delay + 150 ms recall = 2250 steps at dt = 1 ms.
"""
import numpy as np

from .base import TaskData, poisson


def evidence_accumulation(rng, *, batch=32, n_cues=7, cue_ms=100.0, gap_ms=50.0,
                          delay_ms=1050.0, recall_ms=150.0, n_group=10, f_cue=40.0,
                          f_background=10.0, dt=1.0, p_left=0.5):
    step = lambda ms: int(round(ms / dt))
    period = step(cue_ms) + step(gap_ms)
    t_recall = n_cues * period + step(delay_ms)
    steps = t_recall + step(recall_ms)
    n_in = 4 * n_group
    x = np.zeros((batch, steps, n_in))
    x[:, :, 3 * n_group:] = poisson(rng, (batch, steps, n_group), f_background, dt)
    left = rng.random((batch, n_cues)) < p_left
    for c in range(n_cues if batch else 0):   # batch = 0: the trial's shape only
        sl = slice(c * period, c * period + step(cue_ms))
        burst = poisson(rng, (batch, step(cue_ms), n_group), f_cue, dt)
        for b in range(batch):
            g = 0 if left[b, c] else 1
            x[b, sl, g * n_group:(g + 1) * n_group] = burst[b]
    x[:, t_recall:, 2 * n_group:3 * n_group] = poisson(rng, (batch, steps - t_recall, n_group),
                                                       f_cue, dt)
    labels = (left.sum(axis=1) <= n_cues // 2).astype(np.int64)   # 0 = left majority
    targets = np.zeros((batch, steps, 2))
    targets[np.arange(batch), :, labels] = 1.0
    mask = np.zeros((batch, steps))
    mask[:, t_recall:] = 1.0
    return TaskData(x, targets, mask, "ce", labels=labels,
                    meta={"task": "evidence_accumulation", "t_recall": t_recall})
