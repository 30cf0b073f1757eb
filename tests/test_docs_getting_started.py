"""docs/getting-started.md works as written: every code block of the page is run in order in
a fresh folder (except the install commands, which CI runs itself, and the interrupt/resume
section, which needs a Ctrl-C). A command shown with ``# Error: ...`` under it must fail
with that error.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "getting-started.md"
SKIP_SECTIONS = ("Install", "Interrupt and resume")


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
    ran = 0
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
    assert ran >= 12
    for name in ("run.h5", "run.png", "run.nwb", "my.toml", "train.h5", "train.png",
                 "trained_run.h5", "rerun.h5", "trained.toml", "rerun2.h5"):
        assert (tmp_path / name).exists(), name
