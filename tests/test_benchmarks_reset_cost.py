"""benchmarks/reset_cost.py still runs (quick variant; no timing is checked)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_reset_cost_quick():
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "reset_cost.py"),
                          "--quick", "--reps", "1"], capture_output=True, text=True, timeout=600,
                         cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = [l for l in res.stdout.splitlines() if l.startswith("| kernel") or l.startswith("| engine")]
    assert len(rows) == 9, res.stdout
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[3]) > 0 and float(cells[4]) > 0
