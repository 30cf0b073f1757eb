#!/usr/bin/env python
"""Threads that never hurt: 1 versus 2 numba threads per engine and batch size, idle or busy.

Each cell runs in a fresh process with ``NUMBA_NUM_THREADS`` = 1 or 2 (kernels loaded from
numba's cache, compilation not timed) and reports the best of ``--reps`` timings of one
gradient (forward + learning) on one recurrent layer of 100 LIF + 100 ALIF neurons with 100
Poisson inputs at 5 %, T = 500, float32. ``--busy`` starts one CPU-bound process per core
next to the measurement (a machine shared with other work). The columns:

- **1 thread / 2 threads ms**: time per gradient;
- **speed-up**: 1-thread time / 2-thread time (the default must never be below ~1);
- **efficiency**: speed-up / 2.

With one trial (or little work per step) the threaded kernels are not used at all (their
serial twins run, ``kernels/_jit.py``), so 1 and 2 threads cost the same.

    python benchmarks/threads.py              # batch 1, 8, 32; idle and busy
    python benchmarks/threads.py --quick      # tiny (CI)
"""
import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
import numpy as np
import snnsim
from snnsim.learning import run_rule
rule, engine, B, T, n, reps = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
net = snnsim.Network(100, [snnsim.Layer([snnsim.LIF(n, v_th=0.5), snnsim.ALIF(n, v_th=0.5)])],
                     snnsim.Readout(2), dtype="float32", rng=1)
x = (rng.random((B, T, 100)) < 0.05).astype(np.float32)
tg = rng.standard_normal((B, T, 2))
kw = {} if engine == "-" else {"engine": engine}
run = (lambda: net.forward(x)) if rule == "forward" else (lambda: run_rule(net, x, tg, rule, **kw))
run()                                   # load / compile outside the timing
best = float("inf")
for _ in range(reps):
    t = time.perf_counter()
    run()
    best = min(best, time.perf_counter() - t)
print(json.dumps(best))
"""


def _spin(stop):
    while not stop.is_set():
        sum(i * i for i in range(10000))


def measure(rule, engine, B, T, n, reps, threads):
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    res = subprocess.run([sys.executable, "-c", CHILD, json.dumps([rule, engine, B, T, n, reps])],
                         env=env, capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        raise SystemExit(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    T, n, batches, loads = 500, 100, (1, 8, 32), ("idle", "busy")
    cases = [("forward", "-"), ("eprop", "window"), ("eprop", "trace"), ("bptt", "-")]
    if args.quick:
        T, n, batches, loads, args.reps = 30, 10, (1, 4), ("idle",), 1
        cases = cases[:2]
    print(f"one layer of {n} LIF + {n} ALIF, 100 inputs at 5 %, T = {T}, float32, "
          f"best of {args.reps}; machine: {os.cpu_count()} cores")
    print("| load | what | batch | 1 thread ms | 2 threads ms | speed-up | efficiency |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for load in loads:
        stop, hogs = mp.Event(), []
        if load == "busy":
            hogs = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(os.cpu_count() or 1)]
            for h in hogs:
                h.start()
            time.sleep(0.5)
        try:
            for rule, engine in cases:
                what = rule if engine == "-" else f"{rule} ({engine})"
                for B in batches:
                    t1 = measure(rule, engine, B, T, n, args.reps, 1)
                    t2 = measure(rule, engine, B, T, n, args.reps, 2)
                    print(f"| {load} | {what} | {B} | {1e3 * t1:.2f} | {1e3 * t2:.2f} | "
                          f"{t1 / t2:.2f} | {t1 / t2 / 2:.2f} |", flush=True)
        finally:
            stop.set()
            for h in hogs:
                h.join()


if __name__ == "__main__":
    main()
