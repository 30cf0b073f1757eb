"""The benchmark scripts still run (quick variants; no timing is checked)."""
import pytest

pytestmark = pytest.mark.slow     # every test here runs a benchmark script in a subprocess


def test_forward_benchmark_quick(run_benchmark, md_table):
    stdout = run_benchmark("forward.py", "--quick", timeout=600)
    _, _, rows = md_table(stdout, "| layers |")
    assert len(rows) == 2, stdout                           # --quick: 1 and 2 layers, N = 100
    for cells in rows:
        assert len(cells) == 8, cells
        assert cells[1] == "100" and cells[2] == "5%"
        assert cells[3].endswith("]") and "%" in cells[3]   # measured activity is reported
        assert float(cells[4]) > 0                           # time (ms)


def test_vs_torch_quick(run_benchmark, md_table):
    rows = md_table(run_benchmark("vs_torch.py", "--quick"), "| method |")[2]
    names = [r[0] for r in rows]
    for rule in ("eprop", "deep-eprop-spatial", "deep-eprop-onehop"):
        assert f"snnsim {rule} (window)" in names and f"snnsim {rule} (trace)" in names
    assert "snnsim bptt" in names
    assert all(float(r[1]) > 0 for r in rows)


def test_memory_T_quick(run_benchmark, md_table):
    rows = md_table(run_benchmark("memory_T.py", "--quick"), "| rule |")[2]
    engines = {(r[0], r[1]) for r in rows}
    assert ("bptt", "-") in engines and ("eprop", "trace") in engines
    assert ("eprop", "window") in engines and ("eprop", "window, window_mb=0.05") in engines
    assert len(rows) == 2 * (1 + 3 * 3)                     # 2 lengths per (rule, engine)
    assert all(float(r[3]) > 0 and float(r[4]) > 0 for r in rows)


def test_roofline_quick(run_benchmark, md_table):
    rows = md_table(run_benchmark("roofline.py", "--quick"), "| measurement |")[2]
    assert rows[0][0].startswith("STREAM-like triad")
    assert any(r[0].startswith("dense e-prop trace kernel") for r in rows)
    assert any(r[0].startswith("window engine backward sweep") for r in rows)
    assert all(float(r[1]) > 0 for r in rows)


def test_scaling_quick(run_benchmark, md_table):
    rows = md_table(run_benchmark("scaling.py", "--quick"), "| sweep |")[2]
    assert {r[0] for r in rows} == {"N", "depth", "T", "activity"}
    for r in rows:
        assert len(r) == 6 + 2 * 4, r
        assert r[5].endswith("%")                                  # measured activity
        assert all(float(c) > 0 for c in r[6:]), r                 # us/step and MB per method


def test_online_updates_quick(run_benchmark, md_table):
    rows = md_table(run_benchmark("online_updates.py", "--quick"), "| batch |")[2]
    assert len(rows) == 2 * 3
    assert {r[1] for r in rows} == {"1", "10", "end of sequence"}
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)


def test_sparse_large_quick(run_benchmark, md_table):
    rows = md_table(run_benchmark("sparse_large.py", "--quick", timeout=600), "| run |")[2]
    assert len(rows) == 5, rows                          # 2 snnsim forward runs, NEST, 2 training runs
    for cells in rows:
        assert len(cells) == 9, cells
        if not cells[0].startswith("NEST"):              # NEST: a row even when it is skipped
            assert int(cells[1].replace(",", "")) > 100_000 and float(cells[4]) > 0, cells
