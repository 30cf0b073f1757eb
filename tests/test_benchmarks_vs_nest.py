"""``benchmarks/vs_nest.py --quick`` still runs (no timing is checked).

The first test uses whatever NEST interpreter the benchmark finds (``SNNSIM_NEST_PYTHON`` or
/tmp/nestvenv/bin/python); when NEST is there, its rows must show the same losses as snnsim.
The second one disables NEST and checks that the benchmark skips it cleanly.
"""
import pytest

pytestmark = pytest.mark.slow     # runs the benchmark script in a subprocess (and NEST)

HEADER = "| task | simulator | threads | train s | process s | peak RSS MB | final loss | ratio NEST/snnsim |"


def run_quick(run_benchmark, env_extra=None):
    stdout = run_benchmark("vs_nest.py", "--quick", env=env_extra or {})
    lines = stdout.splitlines()
    assert HEADER in lines, stdout
    h = lines.index(HEADER)
    assert lines[h + 1].startswith("|---")
    rows = []
    for line in lines[h + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == 8, line
        rows.append(cells)
    return stdout, rows


def check_rows(rows):
    by_task = {}
    for task, sim, threads, train_s, proc_s, rss, loss, _ in rows:
        assert task in ("sine", "evidence")
        assert int(threads) >= 1 and float(train_s) >= 0 and float(proc_s) > 0 and float(rss) > 0
        by_task.setdefault(task, []).append((sim, float(loss)))
    assert sorted(by_task) == ["evidence", "sine"]
    for task, entries in by_task.items():
        assert any(sim.startswith("snnsim") for sim, _ in entries), entries
    return by_task


def test_vs_nest_quick(run_benchmark):
    out, rows = run_quick(run_benchmark)
    by_task = check_rows(rows)
    for task, entries in by_task.items():
        nest = [l for sim, l in entries if sim.startswith("NEST")]
        snn = [l for sim, l in entries if sim.startswith("snnsim")]
        if nest:   # NEST was found: both simulators ran the same rule on the same data
            assert "vs NEST: loss curve max rel diff" in out
            for l in snn:
                assert abs(l - nest[0]) <= 1e-6 * abs(nest[0]), (task, entries)


def test_vs_nest_quick_without_nest(run_benchmark):
    out, rows = run_quick(run_benchmark, {"SNNSIM_NEST_PYTHON": ""})
    assert "NEST skipped" in out
    by_task = check_rows(rows)
    assert all(sim.startswith("snnsim") for entries in by_task.values() for sim, _ in entries)
