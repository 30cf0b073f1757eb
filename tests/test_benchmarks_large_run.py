"""benchmarks/large_run.py --quick still runs and prints its table (no timing is checked)."""
import pytest


@pytest.mark.slow
def test_large_run_benchmark_quick(run_benchmark):
    stdout = run_benchmark("large_run.py", "--quick", timeout=600)
    lines = stdout.splitlines()
    header = [i for i, l in enumerate(lines) if l.startswith("| neurons |")]
    assert len(header) == 1, stdout
    h = header[0]
    assert lines[h + 1].startswith("|---")
    rows = [l for l in lines[h + 2:] if l.startswith("|")]
    assert len(rows) == 2, stdout                      # --quick: 2k and 20k steps, N = 200
    for row, steps in zip(rows, (2000, 20000)):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 9, row
        assert cells[0] == "200" and cells[1] == str(steps)
        assert int(cells[2]) > 0 and cells[3].endswith("%")   # spikes, measured activity
        assert float(cells[7]) > 0 and float(cells[8]) > 0    # peak RSS (MB), file size (MB)
    assert any(l.startswith("peak RSS x") for l in lines[h:]), stdout
