"""Interrupts never lose work: SIGTERM during train writes a final checkpoint even with
checkpoint_every = 0, and --resume continues from it to the same result."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py

REPO = Path(__file__).resolve().parents[1]
TRAIN = """
[network]
n_in = 40
seed = 2
[[layer]]
name = "hidden"
w_in_scale = 4.0
  [[layer.population]]
  type = "lif"
  n = 16
  v_th = 0.6
[readout]
n = 2
[task]
name = "evidence_accumulation"
n_cues = 3
delay_ms = 300.0
[train]
rule = "eprop"
iterations = 1000000
batch = 4
"""


def test_sigterm_without_checkpoint_every_keeps_a_checkpoint(tmp_path):
    cfg, out = tmp_path / "t.toml", tmp_path / "t.h5"
    cfg.write_text(TRAIN)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "snnsim.cli.main", "train", str(cfg)]
    proc = subprocess.Popen(cmd + ["--out", str(out)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "interrupted (SIGTERM)"
        assert "checkpoint/weights/hidden.w_rec" in f
        import json
        done = json.loads(f["checkpoint"].attrs["meta"])["iteration"]
        assert done >= 1 and f["training/iteration"][-1] == done
    res = subprocess.run(cmd + ["--resume", str(out), "--iterations", str(done + 2), "-q"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "complete" and f["training/iteration"][-1] == done + 2
