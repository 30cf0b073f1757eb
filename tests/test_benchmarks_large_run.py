"""benchmarks/large_run.py --quick still runs and prints its table (no timing is checked)."""
import pytest


@pytest.mark.slow
def test_large_run_benchmark_quick(run_benchmark, md_table):
    stdout = run_benchmark("large_run.py", "--quick", timeout=600)
    lines, h, rows = md_table(stdout, "| neurons |")
    assert len(rows) == 2, stdout                      # --quick: 2k and 20k steps, N = 200
    for cells, steps in zip(rows, (2000, 20000)):
        assert len(cells) == 9, cells
        assert cells[0] == "200" and cells[1] == str(steps)
        assert int(cells[2]) > 0 and cells[3].endswith("%")   # spikes, measured activity
        assert float(cells[7]) > 0 and float(cells[8]) > 0    # peak RSS (MB), file size (MB)
    assert any(l.startswith("peak RSS x") for l in lines[h:]), stdout
