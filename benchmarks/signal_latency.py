"""SIGTERM latency of ``snnsim train``: seconds from the signal to the process exit, per rule/engine.

    python benchmarks/signal_latency.py [CONFIG.toml] [--wait S]

Starts ``snnsim train CONFIG --rule R [--engine E]`` for each case in a temporary folder,
waits until the run is past start-up (the first iteration logged, or ``--wait`` seconds),
sends SIGTERM and measures the time until the process has exited; prints a table with the
exit code, the status the file was left in and the latency. Not a test (timings depend on
the machine).
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = [("eprop", "window"), ("eprop", "trace"), ("eprop-m1", None), ("bptt", None),
         ("ostl", None), ("rflo", None), ("tbptt-k50", None)]
#: eprop-m1's fast kernel needs one LIF layer with one shared tau_m and reset = "detach" (the
#: forward-mode engine it falls back to would need > 2 GiB on the example): its ALIF
#: population becomes LIF
LIF_ONLY = ("eprop-m1",)


def lif_only(text):
    """The config text with every ALIF population made LIF (beta, tau_a dropped)."""
    lines = [ln.replace('type = "alif"', 'type = "lif"') for ln in text.splitlines()]
    return "\n".join(ln for ln in lines if not ln.strip().startswith(("beta", "tau_a"))) + "\n"


def status_of(path):
    """(status attribute, mean seconds per logged iteration) of a train file."""
    import h5py
    try:
        with h5py.File(path, "r") as f:
            wall = f["training/wall_s"][()] if "training/wall_s" in f else []
            return str(f.attrs.get("status", "?")), (float(sum(wall) / len(wall)) if len(wall)
                                                      else float("nan"))
    except OSError as exc:
        return f"unreadable ({str(exc).splitlines()[0][:40]})", float("nan")


def measure(config, rule, engine, wait, folder):
    out = Path(folder) / f"{rule}-{engine or 'default'}.h5"
    cfg = Path(folder) / f"{rule}-{engine or 'default'}.toml"
    text = Path(config).read_text()
    if rule in LIF_ONLY:
        text = lif_only(text).replace("[train]\n", '[train]\nreset = "detach"\n', 1)
    if engine:
        text = text.replace("[train]\n", f"[train]\nengine = \"{engine}\"\n", 1)
    cfg.write_text(text)
    cmd = [sys.executable, "-m", "snnsim.cli.main", "train", str(cfg), "--out", str(out),
           "--rule", rule, "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(wait)
    if proc.poll() is not None:
        err = proc.stderr.read().strip().splitlines()
        return (rule, engine, proc.returncode, "ended before the signal: " + (err[-1] if err else ""),
                float("nan"), float("nan"))
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    latency = time.perf_counter() - t0
    status, per_iter = status_of(out) if out.exists() else ("no file", float("nan"))
    return rule, engine, proc.returncode, status, per_iter, latency


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default=str(ROOT / "examples/evidence_accumulation.toml"))
    ap.add_argument("--wait", type=float, default=20.0, help="seconds before the signal")
    ap.add_argument("--rules", default=None, help="comma-separated rule[:engine] cases")
    args = ap.parse_args()
    cases = CASES if args.rules is None else [
        tuple(c.split(":")) if ":" in c else (c, None) for c in args.rules.split(",")]
    print(f"{'rule':<12} {'engine':<8} {'exit':>4}  {'status':<26} {'s/iteration':>11} "
          f"{'latency s':>9}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for rule, engine in cases:
            r = measure(args.config, rule, engine, args.wait, folder)
            print(f"{r[0]:<12} {r[1] or '-':<8} {r[2]:>4}  {r[3]:<26} {r[4]:>11.2f} {r[5]:>9.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
