#!/usr/bin/env python
"""Learning cost versus network size, depth, sequence length and activity.

One factor at a time around a base network (one recurrent LIF layer of N = 500, activity 5 %,
T = 500 steps, batch 1, float32, 2 leaky readouts, MSE on a random target): time per step
and peak numpy memory (tracemalloc; numpy registers its buffers there) of one gradient with

- e-prop, window engine (default) and trace engine (``engine="trace"``),
- BPTT,

and the forward pass alone. Activity is set like in ``forward.py``: each layer's input gain
is calibrated by bisection so that it fires at about the target fraction per step, and the
measured activity of the timed run is reported. Sweeps: N = 100 ... 4000 (1 layer), depth
1, 2, 4 (N = 500), T = 100 ... 10000, activity 1, 5, 20 %.

    python benchmarks/scaling.py              # all four sweeps (a few minutes)
    python benchmarks/scaling.py --quick      # tiny (CI)
    python benchmarks/scaling.py --sweeps N --sizes 1000 4000
"""
import argparse
import os
import sys
import time
import tracemalloc


def _threads_from_argv(argv):
    """--threads N (default 1), applied to numba and the BLAS/OpenMP pools before numpy loads:
    at batch 1 there is nothing to split, and idle pool threads spinning after a BLAS call
    slow the numba kernels down on a 2-core machine."""
    n = "1"
    if "--threads" in argv and argv.index("--threads") + 1 < len(argv):
        n = argv[argv.index("--threads") + 1]
    for k in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(k, n)


if __name__ == "__main__":
    _threads_from_argv(sys.argv)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forward as F  # noqa: E402  (activity calibration, Poisson input)

METHODS = ("forward", "eprop (window)", "eprop (trace)", "bptt")


def build(snnsim, N, L, w_ins, w_recs):
    layers = [snnsim.Layer([snnsim.LIF(N, tau_m=F.TAU_M, v_th=1.0)], name=f"l{l}") for l in range(L)]
    net = snnsim.Network(N, layers, snnsim.Readout(2, tau_out=20.0), dtype="float32",
                         rng=np.random.default_rng(1))
    for l in range(L):
        net.w_in[l][...] = w_ins[l]
        net.w_rec[l][...] = w_recs[l]
    return net


def run_method(net, method, x, tg, block):
    from snnsim.learning import run_rule
    if method == "forward":
        state = net.init_state(1)
        for t0 in range(0, x.shape[1], block):
            net.run_block(state, x[:, t0:t0 + block])
        return None
    if method == "bptt":
        return run_rule(net, x, tg, "bptt")
    engine = "window" if "window" in method else "trace"
    return run_rule(net, x, tg, "eprop", engine=engine, block=block)


def measure(net, method, x, tg, block, repeats):
    run_method(net, method, x[:, :min(50, x.shape[1])], tg[:, :min(50, x.shape[1])], block)
    best = None
    for _ in range(repeats):
        t = time.perf_counter()
        run_method(net, method, x, tg, block)
        el = time.perf_counter() - t
        best = el if best is None else min(best, el)
        if el > 2.0:
            break
    tracemalloc.start()
    run_method(net, method, x, tg, block)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak


def point(snnsim, K, N, L, T, p, args, rng):
    w_ins, w_recs, _ = F.calibrate(snnsim, K, N, p, L, rng, args.calib_steps, args.calib_steps // 3)
    net = build(snnsim, N, L, w_ins, w_recs)
    x = F.poisson(rng, T, N, p)
    tg = rng.standard_normal((1, T, 2))
    blocks, _ = net.forward(x)
    act = float(np.mean([b.z.mean() for b in blocks]))
    out = {"N": N, "L": L, "T": T, "p": p, "act": act}
    for m in METHODS:
        out[m] = measure(net, m, x, tg, args.block, args.repeats)
    return out


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sweeps", nargs="+", choices=("N", "depth", "T", "activity"),
                    default=["N", "depth", "T", "activity"])
    ap.add_argument("--sizes", type=int, nargs="+")
    ap.add_argument("--base-n", type=int)
    ap.add_argument("--base-t", type=int)
    ap.add_argument("--block", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--calib-steps", type=int)
    ap.add_argument("--threads", type=int, default=1,
                    help="numba and BLAS threads (set before numpy loads; default 1)")
    a = ap.parse_args(argv)
    if a.quick:
        a.sizes = a.sizes or [50, 100]
        a.base_n, a.base_t = a.base_n or 50, a.base_t or 60
        a.calib_steps = a.calib_steps or 60
        a.depths, a.lengths, a.acts = [1, 2], [30, 90], [0.05, 0.2]
    else:
        a.sizes = a.sizes or [100, 500, 1000, 2000, 4000]
        a.base_n, a.base_t = a.base_n or 500, a.base_t or 500
        a.calib_steps = a.calib_steps or 300
        a.depths, a.lengths, a.acts = [1, 2, 4], [100, 1000, 10000], [0.01, 0.05, 0.2]
    return a


def main(argv=None):
    args = parse_args(argv)
    import numba
    import snnsim
    from snnsim.kernels import forward as K
    from snnsim.kernels import warmup
    t = time.perf_counter()
    warmup()
    print("# snnsim learning cost: scaling\n")
    print(f"- snnsim {snnsim.__version__}, numba {numba.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPU(s), numba threads {numba.get_num_threads()}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; kernel load {time.perf_counter() - t:.2f} s")
    print(f"- base: 1 recurrent LIF layer, N = {args.base_n}, T = {args.base_t}, activity 5 %, "
          f"batch 1, float32, block {args.block}; time per simulated step (best of "
          f"{args.repeats}) and peak numpy memory of one call\n")
    rng = np.random.default_rng(0)
    grid = []
    bn, bt = args.base_n, args.base_t
    if "N" in args.sweeps:
        grid += [("N", N, 1, bt, 0.05) for N in args.sizes]
    if "depth" in args.sweeps:
        grid += [("depth", bn, L, bt, 0.05) for L in args.depths]
    if "T" in args.sweeps:
        grid += [("T", bn, 1, T, 0.05) for T in args.lengths]
    if "activity" in args.sweeps:
        grid += [("activity", bn, 1, bt, p) for p in args.acts]
    head = " | ".join(f"{m} us/step | {m} MB" for m in METHODS)
    print(f"| sweep | N | layers | T | target act. | measured act. | {head} |")
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * (2 * len(METHODS)))
    for sweep, N, L, T, p in grid:
        r = point(snnsim, K, N, L, T, p, args, rng)
        cells = " | ".join(f"{r[m][0] / T * 1e6:.1f} | {r[m][1] / 2**20:.2f}" for m in METHODS)
        print(f"| {sweep} | {N} | {L} | {T} | {p:.0%} | {r['act']:.2%} | {cells} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
