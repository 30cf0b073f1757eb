"""Data-parallel training over MPI: ``mpiexec -n 2 snnsim train --mpi`` equals the single-process run.

The MPI runs are skipped (with the reason) unless ``mpiexec`` is on PATH and mpi4py imports
in this interpreter (``.ci/run`` installs Debian's openmpi and PyPI's mpi4py).
"""
import subprocess
import sys

import numpy as np
import pytest

from snnsim.errors import ConfigError
from snnsim.parallel import shard_slice


def write(config, rule="eprop", batch=4):
    """tests/configs/mpi_train.toml with this rule and batch, as c.toml."""
    return config("mpi_train", {"train.rule": rule, "train.batch": batch}, filename="c.toml")


def test_shards_are_contiguous_balanced_and_cover_the_batch():
    for B, size in [(4, 2), (5, 2), (7, 3), (3, 3), (32, 5)]:
        sl = [shard_slice(B, r, size) for r in range(size)]
        assert sl[0].start == 0 and sl[-1].stop == B
        assert all(a.stop == b.start for a, b in zip(sl, sl[1:]))
        sizes = [s.stop - s.start for s in sl]
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    with pytest.raises(ConfigError, match=r"^train\.batch: .*MPI ranks \(3\)"):
        shard_slice(2, 0, 3)


def test_mpi_flag_without_mpi4py_is_a_one_line_error(tmp_path, monkeypatch, config, invoke):
    monkeypatch.setitem(sys.modules, "mpi4py", None)    # import mpi4py -> ImportError
    cfg = write(config)
    res = invoke("train", cfg, "--mpi", "-o", tmp_path / "a.h5")
    assert res.exit_code == 2
    assert "--mpi: needs mpi4py: pip install 'snnsim[mpi]'" in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "a.h5").exists()


@pytest.mark.slow
@pytest.mark.parametrize("rule,batch", [("eprop", 4), ("bptt", 4), ("eprop", 3)])
def test_two_ranks_equal_the_single_process_run(tmp_path, rule, batch, config, read_h5, snnsim_cmd,
                                                mpiexec):
    cfg = write(config, rule, batch)
    single = subprocess.run(snnsim_cmd("train", cfg, "-o", "single.h5", "-q"), cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr
    res = mpiexec(2, "train", cfg, "--mpi", "-o", "mpi.h5", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    # rank 0 alone prints the summary and writes the file
    assert res.stdout.count("3 iterations") == 1 and "2 MPI ranks" in res.stdout
    a, b = read_h5(tmp_path / "single.h5"), read_h5(tmp_path / "mpi.h5")
    assert set(a) == set(b)
    assert a["training/iteration"].tolist() == b["training/iteration"].tolist() == [1, 2, 3]
    for key in sorted(a):
        if key.startswith(("weights/", "checkpoint/", "training/")) and key != "training/wall_s":
            np.testing.assert_allclose(b[key], a[key], rtol=1e-10, atol=0, err_msg=key)
    assert np.all(np.isfinite(b["training/loss"]))


@pytest.mark.slow
def test_two_ranks_resume_and_refuse_a_batch_smaller_than_the_ranks(tmp_path, config, read_h5,
                                                                    snnsim_cmd, mpiexec):
    cfg = write(config)
    full = subprocess.run(snnsim_cmd("train", cfg, "-o", "full.h5", "-q", "--iterations", 4),
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr
    assert mpiexec(2, "train", cfg, "--mpi", "-o", "part.h5", "--iterations", 2, "-q",
                   cwd=tmp_path).returncode == 0
    res = mpiexec(2, "train", cfg, "--mpi", "--resume", "part.h5", "--iterations", 4, "-q",
                  cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    a, b = read_h5(tmp_path / "full.h5"), read_h5(tmp_path / "part.h5")
    assert b["training/iteration"].tolist() == [1, 2, 3, 4]
    for key in ("training/loss", "weights/hidden.w_in", "weights/readout.w_out"):
        np.testing.assert_allclose(b[key], a[key], rtol=1e-10, atol=0, err_msg=key)
    write(config, batch=1)
    res = mpiexec(2, "train", cfg, "--mpi", "-o", "small.h5", cwd=tmp_path)
    assert res.returncode == 2
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("Error:")]
    assert errors == ["Error: train.batch: must be >= the number of MPI ranks (2) so that every "
                      "rank has a trial, got 1"]
    assert not (tmp_path / "small.h5").exists()
