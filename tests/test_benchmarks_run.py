"""The benchmark scripts still run (quick variants; no timing is checked)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_forward_benchmark_quick():
    script = os.path.join(ROOT, "benchmarks", "forward.py")
    res = subprocess.run([sys.executable, script, "--quick"], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    header = [i for i, l in enumerate(lines) if l.startswith("| layers |")]
    assert len(header) == 1, res.stdout
    h = header[0]
    assert lines[h + 1].startswith("|---")
    rows = [l for l in lines[h + 2:] if l.startswith("|")]
    assert len(rows) == 2, res.stdout                       # --quick: 1 and 2 layers, N = 100
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 8, row
        assert cells[1] == "100" and cells[2] == "5%"
        assert cells[3].endswith("]") and "%" in cells[3]   # measured activity is reported
        assert float(cells[4]) > 0                           # time (ms)
