"""``benchmarks/window_mb.py --quick`` still runs (no timing is checked)."""
import pytest

pytestmark = pytest.mark.slow     # runs the benchmark in subprocesses


def test_window_mb_quick(run_benchmark, md_table):
    rows = md_table(run_benchmark("window_mb.py", "--quick"), "| window_mb |")[2]
    assert [r[0] for r in rows] == ["0.05", "1", "256"]
    for r in rows:
        assert float(r[1]) > 0 and float(r[2]) >= 0 and r[3].endswith("x"), r
    assert rows[-1][3] == "1.00x"
