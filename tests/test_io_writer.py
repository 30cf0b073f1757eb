"""Tests for snnsim.io.writer.H5Writer."""

import json
import os
from datetime import datetime

import h5py
import numpy as np
import pytest

from snnsim.io import H5Writer
from snnsim.io.writer import CHUNK_BYTES_CAP, chunk_shape


def make_writer(path, **kw):
    kw.setdefault("dt", 0.5)
    kw.setdefault("seed", 42)
    kw.setdefault("version", "9.9.9")
    kw.setdefault("config_json", json.dumps({"model": {"n": 3}}))
    return H5Writer(path, **kw)


def test_append_grows_by_blocks(tmp_path):
    p = tmp_path / "out.h5"
    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((k, 3, 5)).astype(np.float32) for k in (100, 37, 250)]
    with make_writer(p, block=64) as w:
        for i, blk in enumerate(blocks):
            ds = w.append("report/layer0/v", blk, attrs={"units": "mV"})
            assert ds.shape == (sum(len(b) for b in blocks[:i + 1]), 3, 5)
            w.flush()
    with h5py.File(p, "r") as f:
        ds = f["report/layer0/v"]
        np.testing.assert_array_equal(ds[:], np.concatenate(blocks))
        assert ds.dtype == np.float32
        assert ds.maxshape == (None, 3, 5)
        assert ds.chunks == (64, 3, 5)
        assert ds.compression == "gzip" and ds.compression_opts == 4 and ds.shuffle
        assert ds.attrs["units"] == "mV"


def test_append_resizes_once_per_block(tmp_path, monkeypatch):
    calls = []
    orig = h5py.Dataset.resize
    monkeypatch.setattr(h5py.Dataset, "resize",
                        lambda self, size, axis=None: (calls.append(size), orig(self, size, axis)))
    with make_writer(tmp_path / "o.h5") as w:
        for _ in range(4):
            w.append("x", np.ones(500))
    assert calls == [500, 1000, 1500, 2000]


def test_chunk_shape_respects_cap():
    shape = chunk_shape((1000, 8, 10_000), 8, 1024)
    assert np.prod(shape) * 8 <= CHUNK_BYTES_CAP
    assert shape[1:] == (8, 10_000)
    big = chunk_shape((10, 64, 100_000), 8, 1024)  # one row > 1 MiB
    assert big[0] == 1 and np.prod(big) * 8 <= CHUNK_BYTES_CAP
    # rows split into equal parts so appends of `rows` rows stay chunk-aligned
    assert chunk_shape((1000, 1000), 2, 1000)[0] == 500
    assert chunk_shape((5, 4), 8, 1024) == (1024, 4)


def test_root_attrs(tmp_path):
    p = tmp_path / "out.h5"
    with make_writer(p) as w:
        w.append("x", np.arange(3))
    with h5py.File(p, "r") as f:
        a = f.attrs
        assert a["dt"] == 0.5 and a["dt_unit"] == "ms"
        assert a["seed"] == 42 and a["snnsim_version"] == "9.9.9"
        assert json.loads(a["config"]) == {"model": {"n": 3}}
        assert a["format"] == "snnsim-1" and a["status"] == "complete"
        datetime.fromisoformat(a["created"])


def test_config_may_be_dict_and_seed_none(tmp_path):
    p = tmp_path / "out.h5"
    with make_writer(p, config_json={"a": [1, 2]}, seed=None):
        pass
    with h5py.File(p, "r") as f:
        assert json.loads(f.attrs["config"]) == {"a": [1, 2]}
        assert f.attrs["seed"] == -1


def test_overwrite_refused(tmp_path):
    p = tmp_path / "out.h5"
    p.write_bytes(b"old")
    with pytest.raises(FileExistsError) as exc:
        make_writer(p)
    msg = str(exc.value)
    assert str(p) in msg and "--overwrite" in msg and "\n" not in msg
    assert p.read_bytes() == b"old"
    with make_writer(p, overwrite=True) as w:
        w.append("x", np.arange(4))
    with h5py.File(p, "r") as f:
        assert f["x"].shape == (4,)


def test_abort_removes_file(tmp_path):
    p = tmp_path / "out.h5"
    w = make_writer(p)
    w.append("x", np.arange(10))
    w.abort()
    assert not p.exists() and w.closed
    w.abort()  # idempotent


def test_exception_after_append_keeps_data(tmp_path):
    p = tmp_path / "out.h5"
    with pytest.raises(RuntimeError, match="boom"):
        with make_writer(p) as w:
            w.append("a/b", np.arange(6).reshape(3, 2))
            w.flush()
            w.append("a/b", np.arange(6, 10).reshape(2, 2))
            raise RuntimeError("boom")
    with h5py.File(p, "r") as f:
        np.testing.assert_array_equal(f["a/b"][:], np.arange(10).reshape(5, 2))
        assert f.attrs["status"].startswith("failed (RuntimeError: boom")


def test_exception_before_append_removes_file(tmp_path):
    p = tmp_path / "out.h5"
    with pytest.raises(ValueError):
        with make_writer(p) as w:
            w.write_dataset("weights", np.ones(3))
            raise ValueError("bad config")
    assert not p.exists()


def test_close_callbacks_run_before_close(tmp_path):
    p = tmp_path / "out.h5"
    with pytest.raises(KeyError):
        with make_writer(p) as w:
            w.on_close(lambda: w.append("late", np.arange(2)))
            raise KeyError("x")
    with h5py.File(p, "r") as f:  # the callback's append makes the file worth keeping
        assert f["late"].shape == (2,)


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_writer(tmp_path / "nope" / "out.h5")


def test_unwritable_directory_message(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(PermissionError) as exc:
        make_writer(tmp_path / "out.h5")
    assert "not writable" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores modes")
def test_unwritable_directory_real(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            make_writer(d / "out.h5")
    finally:
        d.chmod(0o700)


def test_one_shot_datasets_and_attrs(tmp_path):
    p = tmp_path / "out.h5"
    with make_writer(p) as w:
        w.write_dataset("weights/w_in", np.eye(3), units="1")
        w.write_dataset("weights/w_in", np.eye(4))  # replaced
        w.write_dataset("scalar", 3.5)
        w.set_attrs("training", optimizer="adam", lr=1e-3, layers=[1, 2], meta={"a": 1})
        w.write_json_attr("/", "fidelity", {"nest": [0.1, 0.2]})
        w.append("x", np.arange(3), attrs={"units": "ms"})
        w.set_attrs("x", note="hi")
    with h5py.File(p, "r") as f:
        np.testing.assert_array_equal(f["weights/w_in"][:], np.eye(4))
        assert f["scalar"][()] == 3.5
        assert f["training"].attrs["optimizer"] == "adam"
        assert list(f["training"].attrs["layers"]) == [1, 2]
        assert json.loads(f["training"].attrs["meta"]) == {"a": 1}
        assert json.loads(f.attrs["fidelity"]) == {"nest": [0.1, 0.2]}
        assert f["x"].attrs["note"] == "hi" and f["x"].attrs["units"] == "ms"


def test_append_errors(tmp_path):
    with make_writer(tmp_path / "out.h5") as w:
        w.append("x", np.zeros((2, 3)))
        with pytest.raises(ValueError, match="row shape"):
            w.append("x", np.zeros((2, 4)))
        with pytest.raises(ValueError, match="1-D"):
            w.append("y", 1.0)
        w.append("empty", np.zeros((0, 5)))  # creates, does not count as data
        assert w.rows_appended == 2
    with pytest.raises(ValueError, match="compression"):
        make_writer(tmp_path / "o2.h5", compression="zstd")


def test_uncompressed(tmp_path):
    p = tmp_path / "out.h5"
    with make_writer(p, compression=None) as w:
        w.append("x", np.arange(10))
    with h5py.File(p, "r") as f:
        assert f["x"].compression is None
