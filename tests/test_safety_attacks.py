"""The attack table (benchmarks/attacks.py) as a regression test.

Every row of the numbered reproductions 1-10 and of the one-line list must end in a one-line
error or a clean completion within seconds, with the attacked data intact.
"""
import pytest

#: rows of this branch's areas (the checkpoint and crafted-file rows C*, F1-F8 are checked by
#: the fuzzing and checkpoint tests)
ROWS = "1,2,3,4,5,6,7,8,9,10,T1,T2,T3,T4,T5,T6,F9"


@pytest.mark.slow
def test_attack_table_rows(run_benchmark):
    out = run_benchmark("attacks.py", "--only", ROWS, timeout=900)
    rows = [ln for ln in out.splitlines()[1:] if ln.strip()]
    assert len(rows) >= 30, out
    for row in rows:
        key, rest = row.split(None, 1)
        assert "TRACEBACK" not in row and "TIMEOUT" not in row and "script" not in row, row
        cells = rest[58:].split()
        code, intact, seconds = cells[0], cells[1], cells[2]
        if code == "skip":
            continue
        assert intact in ("yes", "-"), row
        assert float(seconds) < 30, row
