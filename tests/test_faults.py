"""Faults: divergence mid-run, SIGTERM during ``snnsim train`` (then --resume), bad outputs.

- NaN/inf produced at run time (inf weights, float32 overflow of an enormous w_in_scale)
  stops ``Network.simulate`` with DivergenceError and ``snnsim run``/``train`` with exit 1,
  keeping a file that opens, says ``diverged`` and holds every block before the fault.
- SIGTERM to a real ``snnsim train`` process closes the file (status ``interrupted``);
  ``--resume`` from it ends with the same weights, bit for bit, as an uninterrupted run.
- An existing output without --overwrite, or an output that cannot be created (a path under
  a regular file, /proc; a read-only directory when not root) is one line, exit 2.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import snnsim

K, QUIET_STEPS = 50, 250   # block length; steps without input before the input switches on


def run_config(config, *, w_in_scale=1.0, block=20, name="ok.toml"):
    """tests/configs/faults_run.toml (input from x.npy) with this input scale and block."""
    return config("faults_run", {"layer.0.w_in_scale": w_in_scale, "record.block": block,
                                 "record.buffer_steps": block}, filename=name)


def train_config(config, *, iterations, lr, name, **extra):
    """tests/configs/faults_train.toml with these iterations and rate (and train.<extra>)."""
    return config("faults_train", {"train.iterations": iterations, "train.lr": lr,
                                   **{f"train.{k}": v for k, v in extra.items()}}, filename=name)


def quiet_then_spiking(path, steps=400):
    """Spike input silent for QUIET_STEPS steps, then every input every step."""
    x = np.zeros((2, steps, 4), np.float32)
    x[:, QUIET_STEPS:] = 1.0
    np.save(path, x)


# ------------------------------------------------------------------------ divergence
class Blocks:
    def __init__(self):
        self.t0 = []

    def add_block(self, t0, data):
        assert np.all(np.isfinite(data["hid"]["v"]))
        self.t0.append(t0)


@pytest.mark.parametrize("how", ["inf weight", "float32 overflow"])
def test_simulate_raises_divergence_and_keeps_earlier_blocks(how):
    # finite float32 weights whose summed input overflows the membrane state
    scale = 3e37 if how == "float32 overflow" else 1.0
    net = snnsim.Network(4, snnsim.Layer(snnsim.LIF(6), w_in_scale=scale, name="hid"),
                         snnsim.Readout(1), rng=0, dtype="float32")
    if how == "inf weight":
        net.weights()["hid.w_in"][:, 0] = np.inf     # the live array: bypasses set_weights' check
    x = np.zeros((2, 400, 4))
    x[:, QUIET_STEPS:] = 1.0
    rec = Blocks()
    with pytest.raises(snnsim.DivergenceError, match="NaN/inf") as info:
        net.simulate(x, recorder=rec, block=K)
    assert "\n" not in str(info.value)
    assert rec.t0 == list(range(0, QUIET_STEPS, K))   # every block before the fault, not it


def test_cli_run_divergence_exit_1_keeps_blocks(tmp_path, config, invoke):
    quiet_then_spiking(tmp_path / "x.npy")
    cfg, out = run_config(config, w_in_scale=3e37, block=K, name="div.toml"), tmp_path / "div.h5"
    res = invoke("run", cfg, "--out", out)
    assert res.exit_code == 1, res.output
    assert len(res.stderr.splitlines()) == 1 and res.stderr.startswith("Error: ")
    assert "NaN/inf" in res.stderr and str(out) in res.stderr
    with h5py.File(out, "r") as f:
        assert f.attrs["status"].startswith("diverged (")
        assert f.attrs["stop_step"] == QUIET_STEPS
        v = f["report/hid/v"][()]
        assert v.shape == (QUIET_STEPS, 2, 6) and np.all(np.isfinite(v))
    assert "status: diverged" in invoke("info", out).stdout


def test_cli_train_divergence_exit_1_keeps_log(tmp_path, config, invoke):
    cfg = train_config(config, iterations=5, lr=1e37, optimizer="sgd", name="t.toml")
    out = tmp_path / "t.h5"
    res = invoke("train", cfg, "--out", out)
    assert res.exit_code == 1, res.output
    assert len(res.stderr.splitlines()) == 1 and "became NaN/inf" in res.stderr
    with h5py.File(out, "r") as f:   # kept, closed, no final weights
        assert f.attrs["status"].startswith("diverged (") and "weights" not in f


# ------------------------------------------------------------------ SIGTERM + resume
def _rows(path):
    """Iterations logged so far in a file being written (0 if not readable yet)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return f["training/iteration"].shape[0]
    except (OSError, KeyError, RuntimeError):
        return 0


def _weights(path):
    with h5py.File(path, "r") as f:
        return {k: f["weights"][k][()] for k in f["weights"]}


@pytest.mark.slow
def test_sigterm_train_then_resume_is_bit_identical(tmp_path, config, invoke, snnsim_cmd):
    n_iter = 24
    cfg = train_config(config, iterations=n_iter, lr=0.005, name="t.toml")
    ref, part = tmp_path / "ref.h5", tmp_path / "part.h5"
    proc = subprocess.Popen(snnsim_cmd("train", cfg, "--out", part), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while _rows(part) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no training rows within 60 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err.decode()
    assert err.decode().strip().splitlines()[-1] == f"interrupted by SIGTERM; resume with --resume {part}"
    with h5py.File(part, "r") as f:   # closed cleanly: plain h5py opens it
        assert f.attrs["status"] == "interrupted (SIGTERM)"
        done = f["training/iteration"].shape[0]
        assert 3 <= done < n_iter, done
        print(f"SIGTERM after {done} of {n_iter} iterations")
        assert "checkpoint/weights/top.w_rec" in f and "weights" not in f
    res = invoke("train", cfg, "--resume", part)
    assert res.exit_code == 0, res.output
    assert invoke("train", cfg, "--out", ref, "-q").exit_code == 0
    a, b = _weights(ref), _weights(part)
    assert set(a) == {"hidden.w_in", "hidden.w_rec", "top.w_in", "top.w_rec", "readout.w_out"}
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
    with h5py.File(ref, "r") as f, h5py.File(part, "r") as g:
        assert g.attrs["status"] == "complete"
        np.testing.assert_array_equal(f["training/iteration"][()], np.arange(1, n_iter + 1))
        np.testing.assert_array_equal(f["training/iteration"][()], g["training/iteration"][()])
        assert f["training/loss"][()].tobytes() == g["training/loss"][()].tobytes()


# ---------------------------------------------------------------------------- outputs
def _ok_config(tmp_path, config):
    quiet_then_spiking(tmp_path / "x.npy", steps=60)
    return run_config(config)


def _one_line_exit_2(res, *needles):
    assert res.exit_code == 2, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("command", ["run", "train"])
def test_existing_output_refused(tmp_path, command, config, invoke):
    cfg = _ok_config(tmp_path, config)
    if command == "train":
        train_config(config, iterations=1, lr=0.005, name=cfg.name)
    out = tmp_path / "exists.h5"
    out.write_bytes(b"keep me")
    _one_line_exit_2(invoke(command, cfg, "--out", out), "already exists", "--overwrite")
    assert out.read_bytes() == b"keep me"


def _unwritable(tmp_path):
    (tmp_path / "file.txt").write_text("a regular file")
    outs = [tmp_path / "file.txt" / "out.h5", Path("/proc/out.h5")]
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if not os.access(ro, os.W_OK):   # only when not root (root writes anyway)
        outs.append(ro / "out.h5")
    return outs


@pytest.mark.parametrize("command", ["run", "train"])
def test_unwritable_output_one_line_exit_2(tmp_path, command, config, invoke):
    cfg = _ok_config(tmp_path, config)
    if command == "train":
        train_config(config, iterations=1, lr=0.005, name=cfg.name)
    for out in _unwritable(tmp_path):
        _one_line_exit_2(invoke(command, cfg, "--out", out), str(out.parent))
        assert not out.exists()
