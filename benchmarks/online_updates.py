#!/usr/bin/env python
"""e-prop with online weight updates: window engine versus trace engine per update interval.

Every weight update closes the window engine's window, so with frequent updates it runs many
short windows (each with its backward sweeps and carried-trace products), whereas the trace
engine's cost does not depend on the update interval. This measures where the two cross,
which sets ``snnsim.learning.options.AUTO_MIN_WINDOW`` (the Trainer's ``engine="auto"``).

Network: 100 Poisson inputs at 5 %, one recurrent layer of 50 LIF + 50 ALIF, 2 readouts,
float64, T = 500, c_reg = 0.1, gradients handed to a no-op update every k steps.

    python benchmarks/online_updates.py            # batch 1 and 16, k = 1, 5, 25, 100, 250, none
    python benchmarks/online_updates.py --quick    # tiny (CI)
"""
import argparse
import time

import numpy as np

import snnsim
from snnsim.learning import OnlineEprop
from snnsim.learning.options import AUTO_MIN_WINDOW
from snnsim.learning.loss import window_mask


def time_run(net, x, tg, engine, every, reps):
    B, T, _ = x.shape
    learner = OnlineEprop(net, B, engine=engine, c_reg=0.1)

    def update(lr):
        lr.grads()
        lr.zero_grad()

    mask = window_mask(None, B, T)
    learner.run(x[:, :20], tg[:, :20], window_mask(None, B, 20), "mse", update_every=every,
                update=update)                                # compile / warm up
    best = None
    for _ in range(reps):
        t = time.perf_counter()
        learner.run(x, tg, mask, "mse", update_every=every, update=update)
        if every is None:
            update(learner)
        el = time.perf_counter() - t
        best = el if best is None else min(best, el)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    T, n, batches, intervals = 500, 100, (1, 16), (1, 5, 25, 100, 250, None)
    if args.quick:
        T, n, batches, intervals, args.reps = 40, 10, (1, 2), (1, 10, None), 1
    rng = np.random.default_rng(0)
    print(f"T = {T}, {n} neurons (LIF + ALIF), float64, c_reg 0.1; AUTO_MIN_WINDOW = {AUTO_MIN_WINDOW}")
    print("| batch | update every (steps) | window engine ms | trace engine ms | trace / window |")
    print("|---:|---:|---:|---:|---:|")
    for B in batches:
        net = snnsim.Network(100, [snnsim.Layer([snnsim.LIF(n // 2), snnsim.ALIF(n - n // 2, beta=0.5)],
                                                w_in_scale=2.0)], snnsim.Readout(2), rng=rng,
                             dtype="float64")
        x = (rng.random((B, T, 100)) < 0.05).astype(float)
        tg = rng.standard_normal((B, T, 2))
        for every in intervals:
            tw = time_run(net, x, tg, "window", every, args.reps)
            tt = time_run(net, x, tg, "trace", every, args.reps)
            print(f"| {B} | {every or 'end of sequence'} | {tw * 1e3:.2f} | {tt * 1e3:.2f} | {tt / tw:.2f} |")


if __name__ == "__main__":
    main()
