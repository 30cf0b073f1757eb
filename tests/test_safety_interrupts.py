"""SIGINT/SIGTERM in sweep, gradcheck, the final test evaluation of train, MPI and long rules
(issue: attack 10). In-process tests record the signal at a chosen point (what the handler of
:func:`snnsim.cli.signals.stop_on_signals` does); the sweep and MPI tests send real signals.
"""
import os
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from snnsim import interrupt
from snnsim.sweep import read_summary


def _request_when_called(monkeypatch, owner, name, signum=signal.SIGTERM):
    """Record ``signum`` (like the signal handler) when ``owner.name`` is next called."""
    original = getattr(owner, name)

    def wrapped(*args, **kwargs):
        interrupt.request(signum)
        return original(*args, **kwargs)
    monkeypatch.setattr(owner, name, wrapped)


def test_train_sigterm_during_final_test_is_honoured(tmp_path, config, invoke, monkeypatch):
    from snnsim.trainer import Trainer
    _request_when_called(monkeypatch, Trainer, "test")
    out = tmp_path / "t.h5"
    res = invoke("train", config("cli_train"), "-o", out, "-q")
    assert res.exit_code == 143, res.output   # before: exit 0, status complete
    assert "during the final test evaluation" in res.output
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "interrupted (SIGTERM)"
        assert "weights" in f and "checkpoint" in f and "test_loss" not in f.attrs
        assert f["training/iteration"][-1] == 4


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_gradcheck_interrupted_writes_nothing_and_reruns(tmp_path, config, invoke, monkeypatch,
                                                         signum, code):
    from snnsim.cli import gradcheck
    out = tmp_path / "g.h5"
    with monkeypatch.context() as m:
        _request_when_called(m, gradcheck, "run_rule", signum)
        res = invoke("gradcheck", config("cli_train"), "--rules", "eprop", "--out", out)
    assert res.exit_code == code, res.output
    lines = [ln for ln in res.output.strip().splitlines() if "compiling kernels" not in ln]
    assert lines == [f"interrupted by {signal.Signals(signum).name}; nothing written to {out}"]
    assert not out.exists() and not list(tmp_path.glob(".*tmp"))
    res = invoke("gradcheck", config("cli_train"), "--rules", "eprop", "--out", out)
    assert res.exit_code == 0, res.output   # before: an empty 'running' file blocked the rerun
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "complete" and len(f["gradcheck/rule"]) > 0


def test_gradcheck_refuses_existing_out_before_computing(tmp_path, config, invoke, monkeypatch):
    from snnsim.cli import gradcheck
    out = tmp_path / "g.h5"
    out.write_text("keep me")
    monkeypatch.setattr(gradcheck, "run_rule", lambda *a, **k: pytest.fail("computed first"))
    res = invoke("gradcheck", config("cli_train"), "--rules", "eprop", "--out", out)
    assert res.exit_code == 2 and "already exists" in res.output
    assert out.read_text() == "keep me"


@pytest.mark.parametrize("rule", ["ostl", "rflo", "tbptt-k7", "uoro", "kf-rtrl"])
def test_taxonomy_rules_check_inside_the_sequence(rule, monkeypatch):
    """A signal recorded before the rule starts is raised from inside it (block/trial/step
    granularity), not after the whole sequence."""
    from snnsim.learning import run_rule
    from snnsim.learning import common
    import snnsim
    net = snnsim.Network(3, [snnsim.Layer(snnsim.LIF(n=4))], snnsim.Readout(n=1), dtype="float64",
                         rng=np.random.default_rng(0))
    x = (np.random.default_rng(1).random((2, 30, 3)) < 0.3).astype(float)
    y = np.zeros((2, 30, 1))
    calls = []
    monkeypatch.setattr(interrupt, "check_inner", lambda: calls.append(1))
    run_rule(net, x, y, rule, rng=np.random.default_rng(2))
    assert calls, f"{rule} never checks for a signal"
    monkeypatch.undo()
    interrupt.request(signal.SIGTERM)
    try:
        with pytest.raises(interrupt.Interrupted):
            run_rule(net, x, y, rule, rng=np.random.default_rng(2))
    finally:
        interrupt.reset()
    assert common.CHUNK_OPS > 0


def _processes_with(text):
    """PIDs of live processes whose command line contains ``text``."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
                with open(f"/proc/{pid}/stat") as fh:
                    zombie = fh.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                continue
            if text in cmd and not zombie:
                out.append(int(pid))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sweep_signal_stops_points_and_writes_summary(tmp_path, write_config, snnsim_cmd,
                                                      signum, code):
    write_config("sweep_base_train", tmp_path, {"train.iterations": 100000}, filename="base.toml")
    sweep = tmp_path / "sw.toml"
    sweep.write_text('base = "base.toml"\nout_dir = "out"\n[grid]\n"train.lr" = [0.001, 0.002, 0.003]\n')
    proc = subprocess.Popen(snnsim_cmd("sweep", sweep, "--jobs", "1"), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = tmp_path / "out"
    deadline = time.time() + 120
    while time.time() < deadline and not _processes_with(str(out / "point_0.toml")):
        time.sleep(0.2)
    time.sleep(4)   # the point is training
    t0 = time.perf_counter()
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=90)
    latency = time.perf_counter() - t0
    assert proc.returncode == code, stderr   # before: SIGINT ran every point; SIGTERM orphaned them
    assert latency < 40
    assert not _processes_with(str(out / "point_")), "point processes left running"
    rows = read_summary(out / "summary.csv")
    name = signal.Signals(signum).name
    assert [r["status"] for r in rows] == [f"interrupted ({name}, exit {code})",
                                           f"not run ({name})", f"not run ({name})"]
    assert f"interrupted by {name}: 0 of 3 points finished" in stderr
    with h5py.File(out / "point_0.h5", "r") as f:   # the running point kept its file
        assert f.attrs["status"] == f"interrupted ({name})"
    assert not (out / "point_1.h5").exists()


@pytest.mark.slow
def test_mpi_signal_on_one_rank_stops_every_rank(tmp_path, write_config, mpiexec, snnsim_cmd):
    """SIGTERM to one rank alone (not mpiexec): both ranks stop at the same iteration, rank 0 writes the
    checkpoint, no rank hangs."""
    cfg = write_config("mpi_train", tmp_path, {"train.iterations": 100000, "train.val_every": 3,
                                               "train.val_batch": 16}, filename="c.toml")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1",
               PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe")
    out = tmp_path / "mpi.h5"
    proc = subprocess.Popen(["mpiexec", "-n", "2", *snnsim_cmd("train", cfg, "--mpi", "-o", out,
                                                                "-q")],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.time() + 120
        ranks = []
        while time.time() < deadline and len(ranks) < 2:
            ranks = [p for p in _processes_with(f"--mpi -o {out}")
                     if p != proc.pid and "mpiexec" not in open(f"/proc/{p}/cmdline").read()]
            time.sleep(0.2)
        assert len(ranks) == 2
        time.sleep(8)   # training
        os.kill(max(ranks), signal.SIGTERM)   # the rank started last: rank 1 in practice
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "interrupted by SIGTERM" in stderr, stderr
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "interrupted (SIGTERM)"
        assert "checkpoint" in f and f["training/iteration"][-1] >= 1
