"""A SIGKILLed writer process must leave a readable file holding every flushed block."""

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from snnsim.io import H5Writer, clear_write_flags, open_h5, open_run

pytestmark = pytest.mark.slow     # every test starts (and kills) a writer process

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


class Child:
    """The writer subprocess and the stop_step values it reported after each flush."""

    def __init__(self, path, timeout=20.0):
        self.timeout, self.stops = timeout, []
        # run from the file's directory: the installed snnsim, not the source tree's
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=Path(path).parent)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_flushes(self, n):
        while len(self.stops) < n:
            line = self.lines.get(timeout=self.timeout)
            if line is None:
                self.proc.kill()
                pytest.fail(f"child exited early: {self.proc.stderr.read().decode()[-2000:]}")
            self.stops.append(int(line.split()[1]))

    def kill(self):
        """SIGKILL the child; return the last stop_step it reported."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=self.timeout)
        # lines printed before the kill landed; a partial last line has no newline
        while (line := self.lines.get(timeout=self.timeout)) is not None:
            if line.endswith(b"\n"):
                self.stops.append(int(line.split()[1]))
        return self.stops[-1] if self.stops else None


def run_and_kill(path, n_flushes=3):
    child = Child(path)
    try:
        child.wait_flushes(n_flushes)
    finally:
        stop = child.kill()
    assert child.proc.returncode == -signal.SIGKILL
    return stop


@pytest.mark.parametrize("n_flushes", [3, 5])
def test_sigkill_keeps_flushed_blocks(tmp_path, n_flushes):
    path = tmp_path / "killed.h5"
    stop = run_and_kill(path, n_flushes)
    assert stop >= n_flushes * 2 * K
    exp = expected(stop)
    keep = np.arange(stop) % EVERY == 0
    # as an SWMR reader h5py reads a killed file as it is (no repair needed)
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
            np.testing.assert_array_equal(g["node_ids"][:len(k)], b * POPS[pop] + i)   # SONATA ids
            np.testing.assert_array_equal(g["batch_ids"][:len(k)], b)
            sel = [1, 4] if pop == "b" else slice(None)
            for var in ("z", "v", "A"):
                want = exp[pop][var][:, keep][:, :, sel].transpose(1, 0, 2)
                ds = f[f"report/{pop}/{var}"]
                assert ds.shape[0] >= want.shape[0]
                np.testing.assert_array_equal(ds[:want.shape[0]], want)
    with open_run(path) as run:  # repairs flags / end-of-file address if needed
        assert run.status == "running"
        np.testing.assert_array_equal(run.spike_array("a", T=stop), exp["a"]["z"])
    with h5py.File(path, "r") as f:  # after the repair plain h5py reads everything
        for ds in _datasets(f).values():
            ds[...]


def test_live_file_readable_and_locked_against_writers(tmp_path):
    path = tmp_path / "live.h5"
    child = Child(path)
    try:
        child.wait_flushes(2)
        with open_h5(path) as f:  # read while being written
            assert f["spikes/a/timestamps"].shape[0] > 0
            assert f.attrs["status"] == "running"
        with pytest.raises(OSError, match="in use"):
            H5Writer.reopen(path)
        with pytest.raises(OSError):
            h5py.File(path, "r+")
    finally:
        child.kill()


def test_reopen_after_kill(tmp_path):
    path = tmp_path / "resume.h5"
    stop = run_and_kill(path, 3)
    with open_h5(path) as f:
        n = f["spikes/a/timestamps"].shape[0]
        ts = f["spikes/a/timestamps"][:]
    with H5Writer.reopen(path) as w:
        assert w.has_data
        w.append("spikes/a/timestamps", np.array([1e9]))
        w.append("training/loss", np.array([0.5, 0.25]))
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "complete"
        np.testing.assert_array_equal(f["spikes/a/timestamps"][:], np.append(ts, 1e9))
        assert f["training/loss"].shape == (2,) and n >= 1 and stop > 0


def test_clear_write_flags(tmp_path):
    path = tmp_path / "flagged.h5"
    run_and_kill(path, 1)
    clear_write_flags(path)  # idempotent with what the writer already cleared
    assert clear_write_flags(path) is False
    with h5py.File(path, "r") as f:
        f["spikes/a/timestamps"][...]
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5" * 20)
    with pytest.raises(ValueError):
        clear_write_flags(junk)


def _datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return out
