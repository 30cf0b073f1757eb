"""Time per gradient: snnsim's rules versus BPTT in PyTorch (CPU), same network and sequence.

Network: `--layers` recurrent layers of `--n` neurons (half LIF, half ALIF, shared tau_m),
40 Poisson inputs at 2% per step, 2 readouts, MSE on a random target, batch `--batch`,
`--steps` steps, float32. The e-prop rules run with both engines: ``window`` (the default:
per-neuron backward sweep over a window, then one product per layer) and ``trace`` (per-step
eligibility traces, the fused online kernels). Each rule is warmed up (numba compile / torch first call) and then
timed `--reps` times (best and median reported). PyTorch's BPTT is
``snnsim.learning.torch_reference.torch_loss`` (autograd through the unrolled loop with the
same pseudo-derivative); its gradient is checked against snnsim's BPTT (cosine printed).

    python benchmarks/vs_torch.py                       # 2 x 200 neurons, batch 32, T 1000
    python benchmarks/vs_torch.py --quick               # tiny, for CI
"""
import argparse
import os
import statistics
import time

import numpy as np

import snnsim
from snnsim.learning import compare, run_rule

RULES = ("eprop", "deep-eprop-spatial", "deep-eprop-onehop", "bptt")
ONLINE = RULES[:3]     # the rules with the two e-prop engines (window, trace)


def build(n, layers, rng):
    mk = lambda: snnsim.Layer([snnsim.LIF(n // 2, v_th=0.6), snnsim.ALIF(n - n // 2, v_th=0.6, beta=0.05,
                                                                          tau_a=500.0)], w_in_scale=2.0)
    return snnsim.Network(40, [mk() for _ in range(layers)], snnsim.Readout(2), rng=rng)


def timed(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--torch-threads", type=int, default=2)
    ap.add_argument("--engines", nargs="+", choices=("window", "trace"), default=["window", "trace"],
                    help="e-prop engines (default both)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.batch, args.steps, args.reps = 20, 2, 50, 1
    rng = np.random.default_rng(0)
    net = build(args.n, args.layers, rng)
    x = (rng.random((args.batch, args.steps, 40)) < 0.02).astype(np.float32)
    tg = rng.standard_normal((args.batch, args.steps, 2))
    rows = []
    for rule in RULES:
        for engine in (args.engines if rule in ONLINE else [None]):
            kw = {} if engine is None else {"engine": engine}
            best, med, (_, g, _) = timed(lambda: run_rule(net, x, tg, rule, **kw), args.reps)
            rows.append((f"snnsim {rule}" + (f" ({engine})" if engine else ""), best, med))
            if rule == "bptt":
                g_bptt = g
    try:
        import torch
        from snnsim.learning.torch_reference import torch_loss
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.torch_threads)
        best, med, (_, gt) = timed(lambda: torch_loss(net, x, tg, "mse", dtype=torch.float32), args.reps)
        rows.append((f"torch {torch.__version__} BPTT ({args.torch_threads} threads)", best, med))
        cos = min(compare(gt[k], g_bptt[k])[0] for k in g_bptt)
    ref = rows[-1][1] if torch is not None else None
    import numba
    print(f"network: {args.layers} x {args.n} neurons (LIF+ALIF), batch {args.batch}, "
          f"T = {args.steps}, float32; snnsim with {numba.get_num_threads()} numba thread(s) "
          f"(BLAS: OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')})")
    print("| method | best s | median s | torch BPTT / method |\n|---|---|---|---|")
    for name, best, med in rows:
        ratio = f"{ref / best:.1f}x" if ref else "n/a"
        print(f"| {name} | {best:.4g} | {med:.4g} | {ratio} |")
    if torch is not None:
        print(f"min cosine(torch BPTT, snnsim BPTT) over weights: {cos:.6f}")
    else:
        print("torch not installed: no PyTorch row")


if __name__ == "__main__":
    main()
