#!/usr/bin/env python
"""First run in seconds: the README main job from an empty numba cache, then warm.

Runs ``snnsim train examples/sine_wave.toml`` (the README's main job; ``--iterations`` to
shorten it) in fresh processes: first with ``NUMBA_CACHE_DIR`` pointing to a new empty
directory (every kernel the run needs is compiled), then twice more with that cache filled
(kernels loaded). Also reports the process's peak RSS and what importing costs.

    python benchmarks/cold_start.py             # the full main job (200 iterations)
    python benchmarks/cold_start.py --quick     # 5 iterations (CI)
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env):
    t = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(res.stdout[-2000:] + res.stderr[-2000:])
    return wall, res.stderr


def peak_rss_children_mb():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--iterations", type=int, default=None)
    args = ap.parse_args(argv)
    iterations = args.iterations or (5 if args.quick else 200)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "numba-cache"))
        out = os.path.join(tmp, "sine.h5")
        cmd = [sys.executable, "-m", "snnsim.cli.main", "train",
               os.path.join(ROOT, "examples", "sine_wave.toml"), "--out", out, "--overwrite",
               "--iterations", str(iterations), "-q"]
        imp, _ = run([sys.executable, "-c", "import snnsim.cli.main"], env)
        cold, err = run(cmd, env)
        warm = min(run(cmd, env)[0] for _ in range(2))
    noticed = "compiling kernels" in err
    print(f"README main job (sine_wave, {iterations} iterations), {os.cpu_count()} cores")
    print("| what | wall s |")
    print("|---|---:|")
    print(f"| import snnsim.cli.main | {imp:.2f} |")
    print(f"| empty numba cache (compile) | {cold:.2f} |")
    print(f"| warm cache (best of 2) | {warm:.2f} |")
    print(f"| compile share of the first run | {cold - warm:.2f} |")
    print(f"\npeak RSS of the runs: {peak_rss_children_mb():.0f} MB; "
          f"first-run notice printed: {'yes' if noticed else 'no'}")


if __name__ == "__main__":
    main()
