"""Delayed store-recall (Bellec et al. 2018/2020): working memory that needs adaptation.

Input groups (``n_group`` neurons each, Poisson bursts at ``f_on`` Hz): bit 0, bit 1, store,
recall, plus background at ``f_background``. A random bit is presented with the store
command at the start, then ``delay_ms`` of background only, then the recall command: the
network must report the stored bit (2-class cross-entropy in the recall window).
"""
import numpy as np

from .base import TaskData, poisson


def store_recall(rng, *, batch=32, cue_ms=100.0, delay_ms=800.0, recall_ms=100.0, n_group=10,
                 f_on=50.0, f_background=5.0, dt=1.0):
    step = lambda ms: int(round(ms / dt))
    t_cue, t_rec = step(cue_ms), step(cue_ms) + step(delay_ms)
    steps = t_rec + step(recall_ms)
    x = np.zeros((batch, steps, 5 * n_group))
    x[:, :, 4 * n_group:] = poisson(rng, (batch, steps, n_group), f_background, dt)
    bits = rng.integers(0, 2, batch)
    burst = lambda k: poisson(rng, (batch, k, n_group), f_on, dt)
    cue = burst(t_cue)
    for b in range(batch):
        x[b, :t_cue, bits[b] * n_group:(bits[b] + 1) * n_group] = cue[b]
    x[:, :t_cue, 2 * n_group:3 * n_group] = burst(t_cue)
    x[:, t_rec:, 3 * n_group:4 * n_group] = burst(steps - t_rec)
    targets = np.zeros((batch, steps, 2))
    targets[np.arange(batch), :, bits] = 1.0
    mask = np.zeros((batch, steps))
    mask[:, t_rec:] = 1.0
    return TaskData(x, targets, mask, "ce", labels=bits, meta={"task": "store_recall"})
