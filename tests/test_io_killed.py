"""A SIGKILLed writer process must leave a readable file holding every flushed block."""

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from snnsim.io import open_run

REPO = Path(__file__).resolve().parents[1]
K, B, EVERY, DT = 40, 2, 3, 0.5
POPS = {"a": 30, "b": 5}

CHILD = f"""
import sys
import numpy as np
from snnsim.io import H5Writer, Recorder, RecordSpec

K, B, POPS = {K}, {B}, {POPS!r}

def block(t0):
    out = {{}}
    for pop, n in POPS.items():
        rng = np.random.default_rng([t0, n])
        out[pop] = {{"z": (rng.random((B, K, n)) < 0.1).astype(np.float32),
                    "v": rng.standard_normal((B, K, n)),
                    "A": rng.standard_normal((B, K, n)).astype(np.float32)}}
    return out

w = H5Writer(sys.argv[1], dt={DT}, seed=0, version="test", config_json="{{}}", block=64)
rec = Recorder(w, RecordSpec(every={EVERY}, neurons={{"b": [1, 4]}}), POPS, batch=B, dt={DT},
               buffer_steps=2 * K)
flush = w.flush
def reporting_flush():
    flush()
    print("FLUSH", rec.stop_step, flush=True)
w.flush = reporting_flush
t0 = 0
while True:
    rec.add_block(t0, block(t0))
    t0 += K
"""


def expected(stop):
    """Full arrays (B, stop, n) per population, built like the child builds them."""
    out = {}
    for pop, n in POPS.items():
        parts = {"z": [], "v": [], "A": []}
        for t0 in range(0, stop, K):
            rng = np.random.default_rng([t0, n])
            parts["z"].append(rng.random((B, K, n)) < 0.1)
            parts["v"].append(rng.standard_normal((B, K, n)))
            parts["A"].append(rng.standard_normal((B, K, n)).astype(np.float32))
        out[pop] = {k: np.concatenate(v, axis=1) for k, v in parts.items()}
    return out


def run_and_kill(path, n_flushes=3, timeout=20.0):
    """Start the child, SIGKILL it after `n_flushes` reported flushes; return last stop_step."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)],
                     daemon=True).start()
    stops = []
    try:
        while len(stops) < n_flushes:
            line = lines.get(timeout=timeout)
            if line is None:
                pytest.fail(f"child exited early: {proc.stderr.read().decode()[-2000:]}")
            stops.append(int(line.split()[1]))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=timeout)
    # lines printed before the kill landed; a partial last line has no newline
    while (line := lines.get(timeout=timeout)) is not None:
        if line.endswith(b"\n"):
            stops.append(int(line.split()[1]))
    assert proc.returncode == -signal.SIGKILL
    return stops[-1]


@pytest.mark.parametrize("n_flushes", [3, 5])
def test_sigkill_keeps_flushed_blocks(tmp_path, n_flushes):
    path = tmp_path / "killed.h5"
    stop = run_and_kill(path, n_flushes)
    assert stop >= n_flushes * 2 * K
    exp = expected(stop)
    keep = np.arange(stop) % EVERY == 0
    with h5py.File(path, "r", swmr=True) as f:
        assert f.attrs["status"] == "running"  # never closed
        assert f.attrs["stop_step"] >= stop
        for name, ds in _datasets(f).items():
            ds[...]  # every dataset is fully readable, including rows after the last flush
        for pop in POPS:
            z = exp[pop]["z"]
            k, b, i = np.nonzero(z.transpose(1, 0, 2))
            g = f[f"spikes/{pop}"]
            assert g["timestamps"].shape[0] >= len(k)
            np.testing.assert_array_equal(g["timestamps"][:len(k)], k * DT)
            np.testing.assert_array_equal(g["node_ids"][:len(k)], i)
            np.testing.assert_array_equal(g["batch_ids"][:len(k)], b)
            sel = [1, 4] if pop == "b" else slice(None)
            for var in ("z", "v", "A"):
                want = exp[pop][var][:, keep][:, :, sel].transpose(1, 0, 2)
                ds = f[f"report/{pop}/{var}"]
                assert ds.shape[0] >= want.shape[0]
                np.testing.assert_array_equal(ds[:want.shape[0]], want)
    with open_run(path) as run:  # the reader copes with the "open for writing" flag
        assert run.status == "running"
        assert run.spike_array("a", T=stop).shape == (B, stop, POPS["a"])
        np.testing.assert_array_equal(run.spike_array("a", T=stop), exp["a"]["z"])


def _datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return out
