"""snnsim sweep: a 2x2 grid of tiny training runs in local processes (and over MPI), the
summary table, and one-line errors for a bad grid before anything runs."""
import json

import h5py
import numpy as np
import pytest

from snnsim.sweep import dump_toml, load_sweep, read_summary


@pytest.fixture
def sweep_dir(tmp_path, config):
    """tests/configs/sweep_base_train.toml as base.toml and sweep_grid.toml as sweep.toml."""
    config("sweep_base_train", filename="base.toml")
    config("sweep_grid", filename="sweep.toml")
    return tmp_path


def _check_summary(out, expected_points):
    rows = read_summary(out / "summary.csv")
    assert [(r["point"], float(r["train.lr"]), r["train.rule"]) for r in rows] == expected_points
    for r in rows:
        assert r["status"] == "ok" and r["mode"] == "train" and float(r["wall_s"]) > 0
        with h5py.File(out / r["file"], "r") as f:
            cfg = json.loads(f.attrs["config"])
            assert cfg["train"]["lr"] == float(r["train.lr"]) and cfg["train"]["rule"] == r["train.rule"]
            assert float(r["final_loss"]) == f["training/loss"][-1]
            assert float(r["accuracy"]) == f["training/accuracy"][-1]
            assert float(r["test_accuracy"]) == f.attrs["test_accuracy"]
    return rows


POINTS = [("0", 0.001, "eprop"), ("1", 0.001, "bptt"), ("2", 0.003, "eprop"), ("3", 0.003, "bptt")]


@pytest.mark.slow
def test_grid_of_four_points_in_two_local_processes(sweep_dir, invoke):
    res = invoke("sweep", sweep_dir / "sweep.toml", "--jobs", "2")
    assert res.exit_code == 0, res.output
    out = sweep_dir / "out"
    rows = _check_summary(out, POINTS)
    # the same rule and seed with a larger step: a different run; the table is printed too
    assert rows[0]["final_loss"] != rows[2]["final_loss"]
    table = [ln for ln in res.output.splitlines() if ln[:1].isdigit()]
    assert len(table) == 4 and table[3].split()[:3] == ["3", "0.003", "bptt"]
    # each point's config file reruns the point on its own
    assert (out / "point_3.toml").read_text().startswith("# sweep.toml point 3: train.lr=0.003")
    # an existing output is refused (exit 2, one line) unless --overwrite
    res = invoke("sweep", sweep_dir / "sweep.toml")
    assert res.exit_code == 2 and "point_0.h5 already exists; pass --overwrite" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_bad_grid_key_is_one_line_before_anything_runs(sweep_dir, invoke):
    grid = (sweep_dir / "sweep.toml").read_text()
    (sweep_dir / "bad.toml").write_text(grid.replace('"train.lr"', '"train.lrr"'))
    res = invoke("sweep", sweep_dir / "bad.toml")
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: grid point 0 (train.lrr=0.001")
    assert "train.lrr: unknown key; did you mean 'lr'?" in lines[0]
    assert not (sweep_dir / "out").exists()
    for text, msg in [('base = "base.toml"\n[grid]\nlr = [1]\n', "grid.lr: must be a dotted"),
                      ('base = "base.toml"\nbase_dir = 1\n[grid]\n"train.lr" = [1]\n',
                       "base_dir: unknown key"),
                      ('base = "base.toml"\n[grid]\n"train.lr" = 0.1\n',
                       "grid.train.lr: must be a non-empty list"),
                      ('base = "base.toml"\n[grid.train]\nlr = [0.1, -1.0]\n',
                       "grid point 1 (train.lr=-1.0): train.lr: must be > 0"),
                      ('base = "nope.toml"\n[grid]\n"train.lr" = [0.1]\n', "nope.toml: no such file")]:
        (sweep_dir / "bad.toml").write_text(text)
        res = invoke("sweep", sweep_dir / "bad.toml")
        assert res.exit_code == 2 and msg in res.output, (text, res.output)
        assert len(res.output.strip().splitlines()) == 1


def test_points_without_train_are_runs_and_configs_round_trip(tmp_path, config, invoke):
    config("sweep_base_run", filename="base.toml")
    (tmp_path / "s.toml").write_text('base = "base.toml"\n[grid]\n"network.seed" = [1, 2]\n')
    sweep = load_sweep(tmp_path / "s.toml", out_dir=tmp_path / "o")
    assert sweep.modes == ["run", "run"] and sweep.points == [{"network.seed": 1}, {"network.seed": 2}]
    import tomllib
    raw = {"a": {"s": 'q"\\\n\x7f é', "f": [1.5, float("inf")], "t": [{"x": True}], "k.k": 1}}
    assert tomllib.loads(dump_toml(raw)) == raw
    res = invoke("sweep", tmp_path / "s.toml", "--out-dir", tmp_path / "o", "-q")
    assert res.exit_code == 0, res.output
    rows = read_summary(tmp_path / "o" / "summary.csv")
    assert [r["status"] for r in rows] == ["ok", "ok"] and rows[0]["final_loss"] == ""
    with h5py.File(tmp_path / "o" / "point_1.h5", "r") as f:
        assert int(f.attrs["seed"]) == 2 and "spikes" in f


@pytest.mark.slow
def test_points_shared_over_two_mpi_ranks(sweep_dir, mpiexec):
    res = mpiexec(2, "sweep", "sweep.toml", "--mpi", "--out-dir", "mpi_out", cwd=sweep_dir)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[rank 1] point 1 done" in res.stderr and "[rank 0] point 2 done" in res.stderr
    assert res.stdout.count("summary:") == 1     # rank 0 gathers and prints the table
    rows = _check_summary(sweep_dir / "mpi_out", POINTS)
    assert np.isfinite([float(r["final_loss"]) for r in rows]).all()
