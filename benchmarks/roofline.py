"""Roofline check of the dense e-prop trace kernel: achieved memory bandwidth vs the machine's.

The dense kernel (``kernels.eprop.eprop_layer_block``, LIF, top layer) streams three
(B, n, n_pre) trace arrays per step: eps_v, ebar and the gradient are each read and
written once, i.e. 6 * itemsize bytes per synapse and step. For a network whose traces do
not fit in cache, bytes moved / time is compared with a STREAM-like triad (a[i] = b[i] + s c[i],
24 bytes per element in float64, numba, same thread count) measured in the same run.

    python benchmarks/roofline.py              # n = 2000 neurons, n_pre = 2100 (~50 MB / array f32)
    python benchmarks/roofline.py --quick

A second row does the same for the window engine's backward sweep
(``kernels.eprop_window.adjoint_window``), which streams psi and the learning signal and writes
one coefficient per neuron and step (its synapse work is a BLAS or per-event product).
"""
import argparse
import time

import numba
import numpy as np
from numba import njit, prange

from snnsim.kernels import eprop as KE
from snnsim.kernels import eprop_window as KW


@njit(parallel=True, cache=True)
def triad(a, b, c, s):
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


def best_of(fn, reps):
    fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--window-batch", type=int, default=32, help="trials in the window-sweep row")
    args = ap.parse_args(argv)
    n, steps = (200, 5) if args.quick else (args.n, args.steps)
    n_pre = n + 100
    dt = np.float32
    m = 20_000_000 if not args.quick else 1_000_000
    a, b, c = np.zeros(m), np.ones(m), np.ones(m)
    t = best_of(lambda: triad(a, b, c, 0.5), args.reps)
    stream = 24 * m / t
    rng = np.random.default_rng(0)
    B = 1
    pre = (rng.random((B, steps, n_pre)) < 0.05).astype(dt)
    psi = rng.random((B, steps, n)).astype(dt)
    sig = rng.standard_normal((B, steps, n)).astype(dt)
    one = np.ones(n, dt)
    alpha = np.full(n, 0.95, dt)
    z3 = lambda: np.zeros((B, n, n_pre), dt)
    ev, eb, grad, ph = z3(), z3(), z3(), np.zeros((1, 1, 1), dt)
    psi_prev = np.zeros((B, n), dt)

    def run():
        KE.eprop_layer_block(pre, psi, sig, alpha, one, np.zeros(n, dt), one, dt(0.9), False,
                             False, dt(0.0), False, False, psi_prev, ev, ph, ph, eb, grad, ph)

    t = best_of(run, args.reps)
    moved = 6 * dt().itemsize * B * n * n_pre * steps
    kern = moved / t
    print(f"threads: {numba.get_num_threads()}, traces: 3 x {B * n * n_pre * 4 / 2**20:.1f} MiB (float32)")
    print("| measurement | GB/s | fraction of triad |\n|---|---|---|")
    print(f"| STREAM-like triad (float64, {m} elements) | {stream / 1e9:.2f} | 1.00 |")
    print(f"| dense e-prop trace kernel, n = {n}, n_pre = {n_pre} | {kern / 1e9:.2f} | {kern / stream:.2f} |")
    # window engine: the backward sweep reads psi and sig and writes the coefficients
    # (3 arrays of B K n, plus the write-allocate read of the output: 4 x itemsize per entry)
    Bw, Kw, nw = (4, 200, 100) if args.quick else (args.window_batch, 2000, args.n)
    psi_w = rng.random((Bw, Kw, nw)).astype(dt)
    sig_w = rng.standard_normal((Bw, Kw, nw)).astype(dt)
    coef = np.empty_like(psi_w)
    adj = np.zeros((Bw, nw, 4), dt)
    par = np.full(nw, 0.9, dt)

    def sweep():
        KW.adjoint_window(psi_w, sig_w, np.zeros((Bw, nw), dt), dt(1.0), np.zeros((Bw, nw), dt),
                          par, par, np.zeros(nw, dt), par, dt(0.9), dt(0.0), False, False, adj, coef)

    tw = best_of(sweep, args.reps)
    sweep_bw = 4 * dt().itemsize * Bw * Kw * nw / tw
    print(f"| window engine backward sweep, B = {Bw}, K = {Kw}, n = {nw} "
          f"(3 x {Bw * Kw * nw * 4 / 2**20:.1f} MiB) | {sweep_bw / 1e9:.2f} | {sweep_bw / stream:.2f} |")
    print(f"time per step: {t / steps * 1e3:.2f} ms ({n * n_pre / (t / steps) / 1e9:.2f} G synapse-updates/s)")


if __name__ == "__main__":
    main()
