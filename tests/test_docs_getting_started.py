"""docs/getting-started.md works as written: every code block of the page is run in order in
a fresh folder (except the install commands, which CI runs itself). A command shown with
``# Error: ...`` under it must fail with that error. A command whose comment says "press
Ctrl-C" is started, sent SIGINT once it has written some iterations, and must stop with the
exit code 130 and the resume hint; the resumed run's losses must equal, bit for bit, those
of a run that was never interrupted (run here as well).
"""
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "getting-started.md"
SKIP_SECTIONS = ("Install",)


def interrupt(cmd, cwd, env):
    """Run ``cmd`` (no shell: the signal goes to snnsim) and press Ctrl-C (SIGINT) once its
    output file holds at least one logged iteration; returns (returncode, stderr)."""
    args = shlex.split(cmd)
    out = cwd / args[args.index("--out") + 1]
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            with h5py.File(out, "r", swmr=True) as f:
                if "training/iteration" in f and len(f["training/iteration"]) > 0:
                    break
        except (OSError, KeyError):
            continue
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def blocks():
    """(section, language, text) of every fenced code block, in page order."""
    section, out = "", []
    for m in re.finditer(r"^## ([^\n]+)$|^```(\w+)\n(.*?)^```", PAGE.read_text(), re.M | re.S):
        if m.group(1):
            section = m.group(1).strip()
        else:
            out.append((section, m.group(2), m.group(3)))
    return out


@pytest.mark.slow
def test_getting_started_runs_as_written(tmp_path):
    pytest.importorskip("libsonata")
    pytest.importorskip("pynwb")
    pytest.importorskip("nir")
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    ran, interrupted = 0, None
    for section, lang, text in blocks():
        if section in SKIP_SECTIONS:
            continue
        if lang == "python":
            res = subprocess.run([sys.executable, "-c", text], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=600)
            assert res.returncode == 0, f"{section}: {res.stderr}"
            ran += 1
            continue
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if not line.strip() or line.startswith("#"):
                continue
            cmd = line.split("  #")[0].strip()
            expect = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("# Error") else None
            if "press Ctrl-C" in line:
                code, err = interrupt(cmd, tmp_path, env)
                target = shlex.split(cmd)[shlex.split(cmd).index("--out") + 1]
                assert code == 130, err
                assert err.strip().endswith(f"interrupted by SIGINT; resume with --resume {target}"), err
                interrupted = (cmd, target)
                ran += 1
                continue
            res = subprocess.run(cmd, shell=True, cwd=tmp_path, env=env, capture_output=True,
                                 text=True, timeout=600)
            if expect is None:
                assert res.returncode == 0, f"{section}: {cmd}: {res.stderr}"
                if cmd.startswith("python -c") and "validate" in cmd:
                    assert res.stdout.strip() == "[]"
            else:
                assert res.returncode == 2, f"{section}: {cmd} should fail"
                assert res.stderr.startswith(expect[2:].split("...")[0].rstrip(", ")), res.stderr
            ran += 1
    assert ran >= 18
    for name in ("run.h5", "run.png", "run.nwb", "my.toml", "train.h5", "train.png",
                 "trained_run.h5", "trained_cli.h5", "rerun.h5", "trained.toml", "rerun2.h5",
                 "long.h5"):
        assert (tmp_path / name).exists(), name
    # interrupted + resumed (+ extended) = never interrupted, over the iterations of the latter
    cmd, target = interrupted
    ref = cmd.replace(f"--out {target}", "--out ref.h5") + " -q"
    res = subprocess.run(shlex.split(ref), cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    with h5py.File(tmp_path / target, "r") as a, h5py.File(tmp_path / "ref.h5", "r") as b:
        n = len(b["training/loss"])
        assert a["training/iteration"][:n].tolist() == b["training/iteration"][()].tolist()
        assert np.array_equal(a["training/loss"][:n], b["training/loss"][()])
        assert a.attrs["status"] == "complete" and len(a["training/loss"]) > n
    # the "run TRAIN.h5" and "run CONFIG --weights TRAIN.h5" outputs are the same, dataset for dataset
    with h5py.File(tmp_path / "trained_cli.h5", "r") as a, h5py.File(tmp_path / "rerun.h5", "r") as b:
        names = []
        a.visititems(lambda k, o: names.append(k) if isinstance(o, h5py.Dataset) else None)
        assert names and all(np.array_equal(a[k][()], b[k][()]) for k in names)
