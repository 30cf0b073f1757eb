"""``benchmarks/vs_nest_online.py --quick`` still runs (no timing is checked): snnsim's rows
with a weight update every step, and NEST 3.10's online eprop_iaf row when NEST is found."""
import os

import pytest

pytestmark = pytest.mark.slow     # runs the benchmark script in subprocesses (and NEST)


@pytest.mark.parametrize("nest", ["found", "disabled"])
def test_vs_nest_online_quick(run_benchmark, md_table, nest):
    env = {} if nest == "found" else {"SNNSIM_NEST_PYTHON": ""}
    stdout = run_benchmark("vs_nest_online.py", "--quick", env=env)
    rows = md_table(stdout, "| simulator |")[2]
    snn = [r for r in rows if r[0].startswith("snnsim")]
    assert [r[0].split("engine=")[1].split(" ")[0] for r in snn] == ["auto", "trace"], rows
    for r in rows:
        assert len(r) == 6 and float(r[1]) > 0 and float(r[2]) > 0 and float(r[3]) > 0, r
        first, last = (float(v) for v in r[4].split(" / "))
        assert first > 0 and last > 0
    nest_rows = [r for r in rows if r[0].startswith("NEST")]
    if nest == "disabled":
        assert not nest_rows and "NEST skipped" in stdout
    elif "NEST skipped" not in stdout:
        assert len(nest_rows) == 1 and all(r[5].startswith("train ") for r in snn), rows
