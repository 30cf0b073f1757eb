#!/usr/bin/env python
"""Speed against memory of the window engine as ``window_mb`` varies: the curve the default is
chosen from.

The window engine keeps the forward block histories (spikes, pseudo-derivatives, learning
signals) of up to ``window_mb`` MB and sweeps backwards over them; a smaller window closes
more often (one more backward sweep start and a carried-trace hand-over per window, the same
gradient). For each value, a fresh process trains ``--iterations`` iterations of a bundled
example (default: evidence accumulation, batch 32, T = 2250, the largest bundled task) after a
first iteration (not timed), and reports the training time per iteration and the memory the
training adds: peak RSS of the process minus its RSS before the first iteration (network and
trainer built, every kernel loaded).

    python benchmarks/window_mb.py                       # evidence, 8 iterations per value
    python benchmarks/window_mb.py --quick               # sine, 2 iterations, 3 values (CI)
    python benchmarks/window_mb.py --config examples/sine_wave.toml --values 1 4 16 256
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(config, window_mb, iterations):
    import resource
    import time

    import numpy as np

    from snnsim.config import build_network, load_config
    from snnsim.config_train import make_trainer
    from snnsim.kernels import _warmup

    def rss_now():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20

    cfg = load_config(config)
    cfg["train"]["window_mb"] = float(window_mb)
    cfg["train"]["engine"] = "window"
    net = build_network(cfg)
    trainer = make_trainer(cfg, net)
    _warmup.run((np.dtype(net.dtype).type,))          # every kernel loaded: not counted below
    base = rss_now()
    trainer.step()                                    # first iteration: pools filled
    t = time.perf_counter()
    losses = [trainer.step()["loss"] for _ in range(iterations)]
    dt = (time.perf_counter() - t) / iterations
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"s_per_it": dt, "base_mb": base, "peak_mb": peak,
                      "loss": float(np.mean(losses))}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "examples" / "evidence_accumulation.toml"))
    ap.add_argument("--values", type=float, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128, 256])
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], float(args.child[1]), int(args.child[2]))
        return 0
    if args.quick:
        args.config, args.values, args.iterations = str(ROOT / "examples" / "sine_wave.toml"), [0.05, 1, 256], 2
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    print(f"# window engine: time and memory against window_mb ({Path(args.config).name}, "
          f"{args.iterations} iterations per value, 1 thread, load {os.getloadavg()[0]:.2f})\n")
    print("| window_mb | s / iteration | memory added by training MB | vs largest window: time |")
    print("|---:|---:|---:|---:|")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for v in args.values:
            res = subprocess.run([sys.executable, __file__, "--child", args.config, str(v),
                                  str(args.iterations)], capture_output=True, text=True, env=env,
                                 cwd=tmp, timeout=1800)
            if res.returncode != 0:
                raise SystemExit(res.stdout[-2000:] + res.stderr[-2000:])
            r = json.loads(res.stdout.strip().splitlines()[-1])
            rows.append((v, r))
    ref = rows[-1][1]["s_per_it"]
    for v, r in rows:
        added = r["peak_mb"] - r["base_mb"]
        print(f"| {v:g} | {r['s_per_it']:.3f} | {added:.0f} | {r['s_per_it'] / ref:.2f}x |")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}; memory added = peak RSS minus the "
          "RSS before the first iteration (network, trainer and every kernel loaded).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
