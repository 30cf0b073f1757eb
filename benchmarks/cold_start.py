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
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env):
    """(wall s, stderr, peak RSS MB) of one child process."""
    with tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        err.seek(0)
        text = err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(text[-3000:])
    return wall, text, ru.ru_maxrss / 1024


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
        imp, _, rss_imp = run([sys.executable, "-c", "import snnsim.cli.main"], env)
        cold, err, rss_cold = run(cmd, env)
        warm, _, rss_warm = min(run(cmd, env) for _ in range(2))
        rss_all = None
        if not args.quick:        # compile every kernel into the cache, then measure a load
            load_all = [sys.executable, "-c", "from snnsim.kernels import _warmup; _warmup.run()"]
            run(load_all, env)
            rss_all = run(load_all, env)[2]
    noticed = "compiling kernels" in err
    print(f"README main job (sine_wave, {iterations} iterations), {os.cpu_count()} cores")
    print("| what | wall s | peak RSS MB |")
    print("|---|---:|---:|")
    print(f"| import snnsim.cli.main | {imp:.2f} | {rss_imp:.0f} |")
    print(f"| empty numba cache (compile) | {cold:.2f} | {rss_cold:.0f} |")
    print(f"| warm cache (best of 2) | {warm:.2f} | {rss_warm:.0f} |")
    print(f"| compile share of the first run | {cold - warm:.2f} | - |")
    print(f"\nfirst-run notice printed: {'yes' if noticed else 'no'}. Kernels load lazily "
          f"(numba loads a kernel from its cache at its first call): the warm main job loads "
          f"only the kernels it calls.")
    if rss_all is not None:
        print(f"A process loading every kernel of the package from the cache, in both versions "
              f"and both dtypes (``snnsim.kernels._warmup.run()``), peaks at {rss_all:.0f} MB.")


if __name__ == "__main__":
    main()
