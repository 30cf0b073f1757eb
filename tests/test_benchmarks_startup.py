"""The thread and cold-start benchmarks still run (quick variants; no timing is checked)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(name):
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", name), "--quick"],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    return [l for l in res.stdout.splitlines() if l.startswith("| ") and not l.startswith("| load")
            and not l.startswith("| what")]


@pytest.mark.slow
def test_threads_benchmark_quick():
    rows = _run("threads.py")
    assert len(rows) == 4                                   # 2 cases x batch 1, 4
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == "idle" and float(cells[3]) > 0 and float(cells[4]) > 0


@pytest.mark.slow
def test_cold_start_benchmark_quick():
    rows = _run("cold_start.py")
    names = [r.strip("|").split("|")[0].strip() for r in rows]
    assert names == ["import snnsim.cli.main", "empty numba cache (compile)",
                     "warm cache (best of 2)", "compile share of the first run"]
