#!/usr/bin/env python
"""Forward-simulation throughput of snnsim: steps/s and neuron updates/s versus size, depth, activity.

Networks: 1, 2 or 4 recurrent LIF layers of N neurons (dense all-to-all recurrence without
autapses, dense input weights), float32, batch 1, a 10-unit leaky readout, n_in = N Poisson
input lines. Activity is controlled honestly, and then measured:

  * the input lines fire Poisson spikes with probability p per step (p = target activity);
  * input weights are W_in[i, j] = g_l u_j (1 + 0.5 N(0, 1)) / (N p), u_j ~ U(0.5, 1.5) a
    per-neuron excitability (mean drive per step ~ g_l u_j), recurrent weights N(0, 0.5^2 / N);
    the gain g_l of each layer is tuned by bisection on a separate calibration run (with its
    own input realisation) so that the layer fires at about p;
  * the timed run uses a fresh input realisation and the table reports the MEASURED activity
    (fraction of neurons spiking per step: mean over layers, and the range over layers).

Timing: ``Network.run_block`` over blocks of 500 steps (the default block of ``simulate``;
every layer kernel and the readout, per-block Python overhead and output allocation included;
input generation excluded). Kernels are compiled/loaded before any timing; compile time is
reported separately (a cold compile in a fresh process with an empty numba cache, and the
load in this process). Each configuration is timed ``--repeats`` times (best reported) when
one run is shorter than 0.5 s.

    python benchmarks/forward.py            # full table (T = 2000 steps per measurement)
    python benchmarks/forward.py --quick    # tiny version for CI
"""
import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

REC_SCALE = 0.5
TAU_M = 20.0
BLOCK = 500
N_OUT = 10


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny version (CI): N=100, 1-2 layers, T=200")
    ap.add_argument("--sizes", type=int, nargs="+", help="neurons per layer (default 100 500 1000 2000)")
    ap.add_argument("--layers", type=int, nargs="+", help="numbers of layers (default 1 2 4)")
    ap.add_argument("--activity", type=float, nargs="+",
                    help="target fraction of neurons spiking per step (default 0.01 0.05 0.2)")
    ap.add_argument("--steps", type=int, help="time steps per measurement (default 2000)")
    ap.add_argument("--calib-steps", type=int, help="steps per calibration run (default 300)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats for short runs (best kept)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="numba threads (default 1: the kernels parallelise over trials only, and at "
                         "batch 1 a second thread adds launch/spin overhead)")
    ap.add_argument("--cold-compile", dest="cold", action="store_true", default=None,
                    help="also time a cold compile in a fresh process (default: on unless --quick)")
    ap.add_argument("--no-cold-compile", dest="cold", action="store_false")
    a = ap.parse_args(argv)
    if a.quick:
        a.sizes = a.sizes or [100]
        a.layers = a.layers or [1, 2]
        a.activity = a.activity or [0.05]
        a.steps = a.steps or 200
        a.calib_steps = a.calib_steps or 150
        a.cold = bool(a.cold)
    a.sizes = a.sizes or [100, 500, 1000, 2000]
    a.layers = a.layers or [1, 2, 4]
    a.activity = a.activity or [0.01, 0.05, 0.2]
    a.steps = a.steps or 2000
    a.calib_steps = a.calib_steps or 300
    a.cold = True if a.cold is None else a.cold
    return a


COLD_SCRIPT = r"""
import time, numpy as np
t = time.perf_counter()
from snnsim.kernels import _warmup
t_import = time.perf_counter() - t
t = time.perf_counter()
_warmup._forward(np.float32)
print(time.perf_counter() - t, t_import)
"""


def cold_compile_seconds():
    """Compile the forward kernels (float32) in a fresh process with an empty numba cache."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d)
        res = subprocess.run([sys.executable, "-c", COLD_SCRIPT], env=env, capture_output=True,
                             text=True, timeout=900)
    if res.returncode != 0:
        return None
    return float(res.stdout.split()[0])


def poisson(rng, steps, n, p):
    return (rng.random((1, steps, n)) < p).astype(np.float32)


def run_layer(K, x, w_in, w_rec, prm):
    """Simulate one layer from rest with the raw kernel; returns its spikes (1, T, N)."""
    B, T, _ = x.shape
    n = w_in.shape[1]
    f = np.float32
    v, a, z = (np.zeros((B, n), f) for _ in range(3))
    ref = np.zeros((B, n), np.int64)
    outs = [np.empty((B, T, n), f) for _ in range(4)]
    K.layer_run(x, w_in, w_rec, True, prm["alpha"], prm["zeta"], prm["v_th"], prm["beta"],
                prm["rho"], prm["gamma"], prm["ref_steps"], K.SURROGATE_PIECEWISE, f(0.1),
                v, a, z, ref, *outs)
    return outs[0]


def calibrate(snnsim, K, N, p, L, rng, steps, burn):
    """Per-layer input gains giving about activity p; returns ([W_in], [W_rec], [g])."""
    prm = snnsim.Layer([snnsim.LIF(N, tau_m=TAU_M, v_th=1.0)]).params(1.0, np.float32)
    pre = poisson(rng, steps, N, p)
    w_ins, w_recs, gains = [], [], []
    for _ in range(L):
        u = rng.uniform(0.5, 1.5, N)          # per-neuron excitability: a graded onset
        w0 = ((1.0 + 0.5 * rng.standard_normal((N, N))) * (u / (N * p))).astype(np.float32)
        w_rec = (REC_SCALE / np.sqrt(N)) * rng.standard_normal((N, N))
        np.fill_diagonal(w_rec, 0.0)
        w_rec = w_rec.astype(np.float32)
        lo, hi = 1e-3, 2.0
        best = None
        for _ in range(14):
            g = np.sqrt(lo * hi)
            z = run_layer(K, pre, (g * w0).astype(np.float32), w_rec, prm)
            act = float(z[:, burn:].mean())
            if best is None or abs(act / p - 1) < abs(best[1] / p - 1):
                best = (g, act, z)
            if abs(act / p - 1) < 0.05:
                break
            lo, hi = (g, hi) if act < p else (lo, g)
        g, _, z = best
        w_ins.append((g * w0).astype(np.float32))
        w_recs.append(w_rec)
        gains.append(g)
        pre = z
    return w_ins, w_recs, gains


def measure(snnsim, w_ins, w_recs, N, L, p, steps, rng, repeats):
    layers = [snnsim.Layer([snnsim.LIF(N, tau_m=TAU_M, v_th=1.0)], recurrent=True,
                           name=f"l{l}") for l in range(L)]
    net = snnsim.Network(N, layers, snnsim.Readout(N_OUT, tau_out=20.0), dtype="float32",
                         rng=np.random.default_rng(1))
    for l in range(L):
        net.w_in[l][...] = w_ins[l]
        net.w_rec[l][...] = w_recs[l]
    best = None
    for rep in range(max(1, repeats)):
        x = poisson(rng, steps, N, p)
        state = net.init_state(1)
        spikes = np.zeros(L)
        in_events = np.zeros(L)
        elapsed = 0.0
        for t0 in range(0, steps, BLOCK):
            xb = np.ascontiguousarray(x[:, t0:t0 + BLOCK])
            t = time.perf_counter()
            blocks, _ = net.run_block(state, xb)
            elapsed += time.perf_counter() - t
            for l, blk in enumerate(blocks):
                spikes[l] += blk.z.sum()
                in_events[l] += blk.pre.sum()
        if best is None or elapsed < best[0]:
            best = (elapsed, spikes / (steps * N), in_events, spikes)
        if elapsed > 0.5:
            break
    elapsed, act, in_events, spikes = best
    # synaptic events: every input spike and every recurrent spike adds one row of N weights
    syn = float((in_events.sum() + spikes.sum()) * N)
    return elapsed, act, syn


def fmt_rate(x):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.2f} {unit}"
    return f"{x:.0f}"


def main(argv=None):
    args = parse_args(argv)
    import numba

    t = time.perf_counter()
    import snnsim
    from snnsim.kernels import _warmup
    from snnsim.kernels import forward as K
    t_import = time.perf_counter() - t
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    t = time.perf_counter()
    _warmup._forward(np.float32)
    t_load = time.perf_counter() - t
    hits = sum(K.layer_run.stats.cache_hits.values()) + sum(K.readout_run.stats.cache_hits.values())
    misses = (sum(K.layer_run.stats.cache_misses.values())
              + sum(K.readout_run.stats.cache_misses.values()))
    cold = cold_compile_seconds() if args.cold else None

    print("# snnsim forward throughput\n")
    print(f"- snnsim {snnsim.__version__}, numba {numba.__version__}, numpy {np.__version__}, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPU(s), "
          f"numba threads used {numba.get_num_threads()} of {numba.config.NUMBA_NUM_THREADS} "
          f"(threading layer {numba.threading_layer()}); load average before the run "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"- float32, batch 1, T = {args.steps} steps per measurement (dt = 1 ms), blocks of "
          f"{BLOCK} steps through Network.run_block; recurrent dense LIF layers (tau_m = {TAU_M} ms), "
          f"n_in = N Poisson inputs at the target activity, {N_OUT}-unit readout")
    if cold is not None:
        print(f"- cold compile of the forward kernels (fresh process, empty numba cache): {cold:.2f} s")
    src = "numba cache" if misses == 0 and hits > 0 else "compiled now"
    print(f"- kernel load in this process ({src}): {t_load:.2f} s (+ import {t_import:.2f} s); "
          "excluded from all timings below")
    print("- activity = measured fraction of neurons spiking per step, mean over layers [min-max]; "
          "syn. events = input + recurrent spikes x N (weight rows added)\n")
    print("| layers | N | target act. | measured act. [min-max] | time (ms) | steps/s "
          "| neuron-updates/s | syn. events/s |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|")
    sys.stdout.flush()
    rng = np.random.default_rng(args.seed)
    burn = min(100, args.calib_steps // 3)
    t_calib = 0.0
    rows = []
    for N in args.sizes:
        for p in args.activity:
            t = time.perf_counter()
            w_ins, w_recs, _ = calibrate(snnsim, K, N, p, max(args.layers), rng, args.calib_steps, burn)
            t_calib += time.perf_counter() - t
            for L in args.layers:
                elapsed, act, syn = measure(snnsim, w_ins, w_recs, N, L, p, args.steps, rng,
                                            args.repeats)
                sps = args.steps / elapsed
                row = (f"| {L} | {N} | {100 * p:g}% | {100 * act.mean():.2f}% "
                       f"[{100 * act.min():.2f}-{100 * act.max():.2f}] | {1e3 * elapsed:.4g} | {fmt_rate(sps)} "
                       f"| {fmt_rate(sps * L * N)} | {fmt_rate(syn / elapsed)} |")
                rows.append((L, N, p, row))
    for L in sorted(args.layers):
        for r in rows:
            if r[0] == L:
                print(r[3])
    print(f"\n(activity calibration, not timed above: {t_calib:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
