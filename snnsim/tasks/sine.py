"""Pattern generation (Bellec et al. 2020, Fig. 2; NEST's e-prop sine-wave example).

A frozen Poisson input pattern (n_in neurons at ``rate`` Hz) must be mapped onto a target
that is the sum of four sines with periods 1000, 500, 333 and 200 ms, random amplitudes
in [0.5, 2] and phases in [0, 2 pi). The same input and target are used every iteration.
"""
import numpy as np

from .base import TaskData, poisson

PERIODS_MS = (1000.0, 500.0, 333.0, 200.0)


def sine_wave(rng, *, batch=1, steps=1000, n_in=100, rate=50.0, dt=1.0):
    if batch == 0:   # the trial's shape only (as every task gives for batch = 0), nothing drawn
        return TaskData(np.zeros((0, steps, n_in)), np.zeros((0, steps, 1)), np.zeros((0, steps)),
                        "mse", meta={"task": "sine_wave"})
    t = np.arange(steps) * dt
    amp = rng.uniform(0.5, 2.0, len(PERIODS_MS))
    phase = rng.uniform(0.0, 2 * np.pi, len(PERIODS_MS))
    target = sum(a * np.sin(2 * np.pi * t / p + ph) for a, p, ph in zip(amp, PERIODS_MS, phase))
    x = poisson(rng, (1, steps, n_in), rate, dt)
    x = np.repeat(x, batch, axis=0)
    y = np.repeat(target[None, :, None], batch, axis=0)
    return TaskData(x, y, np.ones((batch, steps)), "mse", meta={"task": "sine_wave"})
