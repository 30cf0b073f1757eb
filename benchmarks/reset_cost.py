"""Cost of reset="local" versus reset="detach" in the e-prop kernels and engines.

Kernel rows time one call of a fused kernel over K steps with each specialisation (same
inputs): the dense trace kernel ``kernels.eprop.eprop_layer_block`` (LIF and ALIF, top layer,
and a lower layer with the H trace), the activity-proportional ``kernels.eprop_lazy`` (top
layer with one shared leak) and the window engine's backward sweep
``kernels.eprop_window.adjoint_window``. Engine rows time the deferred e-prop gradient of a
whole network (``snnsim.learning.gradients``, rule ``eprop``) with each engine.

    python benchmarks/reset_cost.py            # N = 256, n_pre = N + 100, B = 4, K = 200
    python benchmarks/reset_cost.py --quick    # tiny (CI)

Times are the best of ``--reps`` runs after a warm-up call (compile excluded); float32.
"""
import argparse
import platform
import time

import numba
import numpy as np

import snnsim
from snnsim.kernels import eprop as KE
from snnsim.kernels import eprop_lazy as KL
from snnsim.kernels import eprop_window as KW
from snnsim.learning import gradients


def best_of(fn, reps):
    fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def kernel_rows(n, B, K, reps, dt=np.float32):
    rng = np.random.default_rng(0)
    n_pre = n + 100
    pre = np.ascontiguousarray((rng.random((B, K, n_pre)) < 0.05).astype(dt))
    psi = np.ascontiguousarray((rng.random((B, K, n)) * (rng.random((B, K, n)) < 0.3)).astype(dt))
    sig = rng.standard_normal((B, K, n)).astype(dt)
    one = np.ones(n, dt)
    alpha, zeta, rho, v_th = one * dt(0.95), one * dt(0.05), one * dt(0.99), one * dt(0.3)
    rows = []
    for kind, lower in (("LIF", False), ("ALIF", False), ("ALIF, lower layer", True)):
        adaptive = kind.startswith("ALIF")
        beta = one * dt(0.4) if adaptive else np.zeros(n, dt)
        s3 = lambda: np.zeros((B, n, n_pre), dt)
        ph = np.zeros((1, 1, 1), dt)
        state = [np.zeros((B, n), dt), s3(), s3() if adaptive else ph, s3() if lower else ph,
                 s3(), s3(), ph]

        def run(local):
            KE.eprop_layer_block(pre, psi, sig, alpha, zeta, beta, rho, dt(0.9), adaptive, lower,
                                 dt(0.9 if lower else 0.0), False, False, *state, *local)
        t = {name: best_of(lambda: run(loc), reps) for name, loc in (("detach", ()), ("local", (v_th,)))}
        rows.append((f"kernel eprop_layer_block ({kind})", f"B={B}, n={n}, n_pre={n_pre}", K, t))
    for kind in ("LIF", "ALIF"):
        adaptive = kind == "ALIF"
        beta = one * dt(0.4) if adaptive else np.zeros(n, dt)
        s3 = lambda: np.zeros((B, n, n_pre), dt)
        ph = np.zeros((1, 1, 1), dt)
        lazy = [np.zeros((B, n), dt), np.zeros((B, n_pre), dt), s3() if adaptive else ph, s3(),
                s3(), ph]
        dv = s3()

        def run_lazy(local):
            KL.eprop_lazy_block(pre, psi, sig, dt(0.95), zeta, beta, rho, dt(0.9), adaptive, False,
                                *lazy, *local)
        t = {name: best_of(lambda: run_lazy(loc), reps)
             for name, loc in (("detach", ()), ("local", (v_th, dv)))}
        rows.append((f"kernel eprop_lazy_block ({kind})", f"B={B}, n={n}, n_pre={n_pre}", K, t))
    for kind in ("LIF", "ALIF"):
        beta = one * dt(0.4) if kind == "ALIF" else np.zeros(n, dt)
        coef = np.empty((B, K, n), dt)
        adj = np.zeros((B, n, 4), dt)

        def sweep(local):
            KW.adjoint_window(psi, sig, np.zeros((B, n), dt), dt(1.0), np.zeros((B, n), dt), alpha,
                              zeta, beta, rho, dt(0.9), dt(0.0), False, False, adj, coef, *local)
        t = {name: best_of(lambda: sweep(loc), reps) for name, loc in (("detach", ()), ("local", (v_th,)))}
        rows.append((f"kernel adjoint_window ({kind})", f"B={B}, n={n}", K, t))
    return rows


def engine_rows(n, layers, B, T, reps):
    rng = np.random.default_rng(1)
    net = snnsim.Network(n, [snnsim.Layer([snnsim.LIF(n // 2, v_th=0.3), snnsim.ALIF(n - n // 2, v_th=0.3)])
                             for _ in range(layers)],
                         snnsim.Readout(4), dtype="float32", rng=rng)
    x = (rng.random((B, T, n)) < 0.05).astype(np.float32)
    tg = rng.standard_normal((B, T, 4))
    rows = []
    for engine in ("window", "trace"):
        t = {reset: best_of(lambda: gradients(net, x, tg, "eprop", engine=engine, reset=reset), reps)
             for reset in ("detach", "local")}
        rows.append((f"engine {engine}, rule eprop", f"B={B}, {layers} x {n} LIF+ALIF", T, t))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    n, B, K = (32, 1, 20) if args.quick else (args.n, args.batch, args.steps)
    numba.set_num_threads(1)
    print("# cost of reset='local' vs reset='detach'\n")
    print(f"- snnsim {snnsim.__version__}, numba {numba.__version__}, numpy {np.__version__}, "
          f"Python {platform.python_version()}, 1 numba thread; float32; best of {args.reps}\n")
    print("| what | size | steps | detach ms/step | local ms/step | local/detach |")
    print("|---|---|---:|---:|---:|---:|")
    for what, size, steps, t in kernel_rows(n, B, K, args.reps) + engine_rows(n, 2, B, K, args.reps):
        d, l = 1e3 * t["detach"] / steps, 1e3 * t["local"] / steps
        print(f"| {what} | {size} | {steps} | {d:.4g} | {l:.4g} | {l / d:.3f} |")


if __name__ == "__main__":
    main()
