"""The attack table (benchmarks/attacks.py) as a regression test, and single reproductions.

Every row of the numbered reproductions 1-10 and of the one-line list must end in a one-line
error or a clean completion within seconds, with the attacked data intact.
"""
import pytest

ROWS = "1,2,3,4,5,6,7,8,9,10,T1,T2,T3,T4,T5,T6,C5,F9"


def test_garbage_config_attribute_is_one_line(tmp_path, config, invoke):
    import h5py
    cfg = config("cli_train")
    out = tmp_path / "t.h5"
    assert invoke("train", cfg, "-o", out, "-q").exit_code == 0
    with h5py.File(out, "a") as f:
        f.attrs["config"] = "{not json"
    before = out.read_bytes()
    for args in (("train", cfg, "--resume", out, "--iterations", 8), ("run", out, "-o", tmp_path / "r.h5")):
        res = invoke(*args)
        assert res.exit_code == 2, res.output
        assert res.output.strip().splitlines() == [
            f"Error: {out}: its attribute 'config' is not a JSON table: crafted or damaged file"]
    assert out.read_bytes() == before


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
