#!/usr/bin/env python
"""A long recorded ``snnsim run``: peak memory, wall time and file size versus run length.

One recurrent LIF layer of N neurons (dense recurrence without autapses, tau_m = 20 ms,
dt = 1 ms, float32, batch 1) driven by 200 Poisson input lines at 20 Hz. The input gain
(``w_in_scale``) is set by bisection on a short calibration run so that about 5 % of the
neurons spike per step (the table reports the activity the recorded runs really had). The
run records the spikes of all N neurons (SONATA ``/spikes``) and v of 100 neurons, streamed
to HDF5 block by block; ``snnsim run`` runs in a subprocess whose peak RSS comes from
``os.wait4`` (the child's own ``ru_maxrss``). The same config is run for a short and a long
length: memory must not grow with the length (only the file does).

    python benchmarks/large_run.py            # N = 2000, 10k and 100k steps
    python benchmarks/large_run.py --quick    # N = 200, 2k and 20k steps (CI)
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

N_IN, RATE_HZ, N_V, TARGET = 200, 20.0, 100, 0.05

CONFIG = """
[network]
n_in = {n_in}
dt = 1.0
dtype = "float32"
seed = {seed}
[[layer]]
name = "rec"
w_in_scale = {w_in_scale!r}
w_rec_scale = 0.5
  [[layer.population]]
  type = "lif"
  n = {n}
  tau_m = 20.0
  v_th = 1.0
[readout]
n = 1
[input]
type = "poisson"
rate = {rate!r}
steps = {steps}
batch = 1
[record]
populations = ["rec"]
variables = ["v"]
neurons = {{ rec = {neurons} }}
spikes = true
readout = false
block = 500
buffer_steps = 1000
"""


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="N = 200, 2k/20k steps (CI)")
    ap.add_argument("--neurons", type=int, help="layer size (default 2000; --quick 200)")
    ap.add_argument("--steps", type=int, nargs="+", help="run lengths (default 10000 100000)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    a.neurons = a.neurons or (200 if a.quick else 2000)
    a.steps = a.steps or ([2000, 20000] if a.quick else [10000, 100000])
    return a


def config_text(n, steps, w_in_scale, seed):
    return CONFIG.format(n_in=N_IN, seed=seed, w_in_scale=float(w_in_scale), n=n, rate=RATE_HZ,
                         steps=steps, neurons=list(range(min(N_V, n))))


def activity(n, w_in_scale, seed, steps=1000):
    """Fraction of neurons spiking per step in a short simulation (other input seed)."""
    import tomllib
    from snnsim.config import build, validate
    built = build(validate(tomllib.loads(config_text(n, steps, w_in_scale, seed + 1000))))
    s = built.network.simulate(built.source, steps=built.steps, batch=1, rng=built.rng)
    return s["spikes"][0] / (n * steps)


def calibrate(n, seed, lo=0.1, hi=200.0, iters=12):
    """w_in_scale giving about TARGET activity (bisection in log space)."""
    for _ in range(iters):
        mid = (lo * hi) ** 0.5
        if activity(n, mid, seed) < TARGET:
            lo = mid
        else:
            hi = mid
    return (lo * hi) ** 0.5


def run_child(cfg_path, out_path):
    """``snnsim run`` in a subprocess -> (wall s, simulation s, peak RSS bytes, stdout)."""
    cmd = [sys.executable, "-m", "snnsim.cli.main", "run", str(cfg_path), "--out", str(out_path),
           "--overwrite"]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)   # the child's own rusage (not a running max)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"snnsim run failed ({proc.returncode}): {stderr[-2000:]}")
    m = re.search(r"in ([0-9.]+) s wall time", stdout)
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return wall, float(m.group(1)) if m else float("nan"), rss, stdout


def spikes_in(stdout):
    m = re.search(r"rec: \d+ neurons, (\d+) spikes", stdout)
    return int(m.group(1)) if m else 0


def main(argv=None):
    a = parse_args(argv)
    n = a.neurons
    t0 = time.perf_counter()
    gain = calibrate(n, a.seed)
    calib_s = time.perf_counter() - t0
    rows = []
    with tempfile.TemporaryDirectory(prefix="snnsim-large-") as tmp:
        warm = os.path.join(tmp, "warm.toml")   # loads/compiles the kernels into numba's cache
        with open(warm, "w") as fh:
            fh.write(config_text(n, 100, gain, a.seed))
        run_child(warm, os.path.join(tmp, "warm.h5"))
        for steps in a.steps:
            cfg, out = os.path.join(tmp, f"run{steps}.toml"), os.path.join(tmp, f"run{steps}.h5")
            with open(cfg, "w") as fh:
                fh.write(config_text(n, steps, gain, a.seed))
            wall, sim, rss, stdout = run_child(cfg, out)
            rows.append({"steps": steps, "spikes": spikes_in(stdout), "wall": wall, "sim": sim,
                         "rss": rss, "size": os.path.getsize(out)})
    print(f"# snnsim run: 1 recurrent LIF layer, N = {n}, {N_IN} Poisson inputs at {RATE_HZ:g} Hz, "
          f"w_in_scale = {gain:.3f} (calibrated to ~{TARGET:.0%} activity in {calib_s:.1f} s), "
          f"recording spikes of all {n} + v of {min(N_V, n)} neurons, block 500, float32, batch 1")
    print("| neurons | steps | spikes | activity | wall (s) | simulate (s) | steps/s "
          "| peak RSS (MB) | file (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {n} | {r['steps']} | {r['spikes']} | {r['spikes'] / (n * r['steps']):.2%} "
              f"| {r['wall']:.2f} | {r['sim']:.2f} | {r['steps'] / max(r['sim'], 1e-9):,.0f} "
              f"| {r['rss'] / 2**20:.1f} | {r['size'] / 2**20:.2f} |")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(f"peak RSS x{last['rss'] / first['rss']:.2f} for x{last['steps'] / first['steps']:g} "
              f"steps (file x{last['size'] / first['size']:.1f})")
    return rows


if __name__ == "__main__":
    main()
