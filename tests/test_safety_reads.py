"""Regression tests: bounded reads of truncated/crafted HDF5 files and of configs."""
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from snnsim.errors import ConfigError
from snnsim.io.reader import open_run
from snnsim.config import parse_toml

REPO = Path(__file__).resolve().parents[1]


def snnsim(*args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "snnsim.cli.main", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=60)


def _spike_file(path, rows=50):
    with h5py.File(path, "w", libver=("v110", "latest")) as f:
        f.attrs.update(dt=1.0, status="complete", config="{}")
        g = f.create_group("spikes/hidden")
        g.attrs["n_nodes"] = 10
        for k, dt in (("timestamps", "f8"), ("node_ids", "i8"), ("batch_ids", "i8")):
            g.create_dataset(k, data=np.arange(rows).astype(dt), maxshape=(None,), chunks=(16,))
        f.create_dataset("pad", data=np.random.default_rng(0).random(20000))


def test_truncated_file_refused_within_seconds(tmp_path):
    p = tmp_path / "t.h5"
    _spike_file(p)
    os.truncate(p, os.path.getsize(p) // 2)
    for cmd in (["info", p], ["export", p, "-o", tmp_path / "x.csv"], ["plot", p, "-o", tmp_path / "x.png"]):
        t0 = time.monotonic()
        res = snnsim(*cmd, cwd=tmp_path)
        assert time.monotonic() - t0 < 30
        assert res.returncode == 2 and "truncated" in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1


def test_crafted_huge_rows_refused(tmp_path):
    p = tmp_path / "c.h5"
    with h5py.File(p, "w") as f:
        f.attrs.update(dt=1.0, stop_step=10**12)
        g = f.create_group("spikes/hidden")
        g.attrs["n_nodes"] = 10**6
        for k in ("timestamps", "node_ids", "batch_ids"):
            d = g.create_dataset(k, shape=(10**12,), maxshape=(None,), chunks=(1024,), dtype="f8")
            d[:10] = np.arange(10)
    for cmd in (["export", p, "-o", tmp_path / "x.csv"], ["plot", p, "-o", tmp_path / "x.png"]):
        res = snnsim(*cmd, cwd=tmp_path)
        assert res.returncode == 2 and "declares shape" in res.stderr, res.stderr
    assert not list(tmp_path.glob(".*tmp")) and not (tmp_path / "x.csv").exists()


def test_external_link_and_spikes_dataset_refused(tmp_path):
    p = tmp_path / "e.h5"
    with h5py.File(p, "w") as f:
        f["ext"] = h5py.ExternalLink("/dev/zero", "/x")
    with pytest.raises(ConfigError, match="external link"):
        open_run(p)
    q = tmp_path / "s.h5"
    with h5py.File(q, "w") as f:
        f["spikes"] = np.zeros(3)
        f.create_group("x")
    res = snnsim("export", q, "-o", tmp_path / "y.csv", cwd=tmp_path)
    assert res.returncode in (1, 2) and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_config_device_fifo_and_deep_nesting(tmp_path):
    with pytest.raises(ConfigError, match="regular file"):
        parse_toml("/dev/zero")
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="regular file"):
        parse_toml(fifo)
    deep = tmp_path / "d.toml"
    deep.write_text("a = " + "[" * 2000 + "]" * 2000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply|invalid TOML"):
        parse_toml(deep)
    big = tmp_path / "big.toml"
    with open(big, "wb") as fh:
        fh.truncate(64 << 20)
    with pytest.raises(ConfigError, match="at most"):
        parse_toml(big)


@st.composite
def crafted_files(draw):
    """An HDF5 file with spike/report datasets of random shapes, dtypes, chunking, lengths."""
    rows = draw(st.sampled_from([0, 1, 5, 10**6, 10**12]))
    stored = draw(st.integers(0, 20))
    dtype = draw(st.sampled_from(["f8", "i4", "u1", "S3"]))
    chunked = draw(st.booleans())
    as_dataset = draw(st.booleans())
    return rows, stored, dtype, chunked, as_dataset


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(crafted_files())
def test_fuzz_crafted_files_bounded(tmp_path, spec):
    rows, stored, dtype, chunked, as_dataset = spec
    p = tmp_path / "f.h5"
    with h5py.File(p, "w") as f:
        f.attrs["dt"] = 1.0
        if as_dataset:
            f["spikes"] = np.zeros(3)
        else:
            g = f.create_group("spikes/p")
            for k in ("timestamps", "node_ids", "batch_ids"):
                kw = dict(chunks=(min(max(rows, 1), 1024),), maxshape=(None,)) if chunked else {}
                if not chunked and rows > 10**6:
                    kw = dict(chunks=(1024,), maxshape=(None,))
                d = g.create_dataset(k, shape=(rows,), dtype=dtype, **kw)
                n = min(stored, rows)
                if n:
                    d[:n] = np.zeros(n, dtype=dtype)
    t0 = time.monotonic()
    try:
        with open_run(p) as run:
            for pop in run.populations:
                run.spikes(pop)
    except (ConfigError, KeyError, MemoryError):
        pass
    assert time.monotonic() - t0 < 10
