#!/usr/bin/env python
"""e-prop with online weight updates: window engine versus trace engine per update interval.

Every weight update closes the window engine's window, so with frequent updates it runs many
short windows (each with its backward sweeps and carried-trace products), whereas the trace
engine's cost does not depend on the update interval. This measures where the two cross,
which sets ``snnsim.learning.options.AUTO_MIN_WINDOW`` (the Trainer's ``engine="auto"``).

Network: 100 Poisson inputs at 5 %, one recurrent layer of 50 LIF + 50 ALIF, 2 readouts,
float64, T = 500, c_reg = 0.1, gradients handed to a no-op update every k steps.

Second table (``--sine``): training itself, ``examples/sine_wave.toml`` (its optimiser, Adam)
for ``--iterations`` iterations with ``[train] update_every = k``: the block-by-block path
(``Trainer(fused=False)``: a forward block, trace block and Python optimiser step per update)
versus the fused path (``snnsim.learning.eprop_fused``: the whole update loop compiled), and
the once-per-sequence run (window engine) they are compared with. "overhead per update" is
(time - once-per-sequence time) / number of updates.

    python benchmarks/online_updates.py            # batch 1 and 16, k = 1, 5, 25, 100, 250, none
    python benchmarks/online_updates.py --sine     # the sine task, k = 1, 10, 100, once
    python benchmarks/online_updates.py --quick    # tiny (CI)
"""
import argparse
import os
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


SINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "sine_wave.toml")


def time_training(k, fused, iterations, reps):
    """Best train() seconds over ``reps`` fresh trainers of the sine example; returns
    (seconds, path the trainer chose, updates per iteration)."""
    from dataclasses import replace
    from snnsim.config import build_network, load_config
    from snnsim.config_train import make_trainer
    cfg = load_config(SINE, overrides={"train.update_every": k or 0})
    best, path = None, None
    for rep in range(reps + 1):                  # the first run compiles / warms up
        net = build_network(cfg)
        tr = make_trainer(cfg, net)
        if not fused and tr.fused is not None:   # same trainer, block-by-block path
            tr.fused, tr.online_path = None, "blocks (fused = False)"
        path = tr.online_path or f"once per sequence ({tr.learner.opts.engine} engine)"
        t = time.perf_counter()
        tr.train(1 if rep == 0 else iterations)
        el = time.perf_counter() - t
        if rep:
            best = el if best is None else min(best, el)
    steps = cfg["task"]["steps"]
    return best, path, (-(-steps // k) if k else 1)


def sine_table(iterations, reps, ks=(1, 10, 100)):
    print(f"sine_wave.toml, {iterations} iterations (train() seconds, best of {reps})")
    print("| update every (steps) | path | train s | ms / iteration | x once per sequence | "
          "overhead per update (us) |")
    print("|---:|---|---:|---:|---:|---:|")
    t_once, path, _ = time_training(None, True, iterations, reps)
    print(f"| once per sequence | {path} | {t_once:.3f} | {t_once / iterations * 1e3:.2f} | 1.00 | - |")
    for k in ks:
        for fused in (False, True):
            t, path, n_upd = time_training(k, fused, iterations, reps)
            over = (t - t_once) / (n_upd * iterations) * 1e6
            print(f"| {k} | {path} | {t:.3f} | {t / iterations * 1e3:.2f} | {t / t_once:.2f} | "
                  f"{over:.1f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sine", action="store_true", help="the sine-task training table only")
    ap.add_argument("--iterations", type=int, default=50, help="iterations of the sine table")
    args = ap.parse_args(argv)
    if args.sine:
        return sine_table(args.iterations, args.reps)
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
