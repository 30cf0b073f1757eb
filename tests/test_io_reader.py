"""Tests for snnsim.io.reader (open_run, Run) and snnsim.io.export (CSV)."""

import csv
import struct

import h5py
import numpy as np
import pytest

from snnsim.io import H5Writer, Recorder, RecordSpec, open_run, spikes_to_csv
from snnsim.io._swmr import _lookup3

B, T, DT = 2, 120, 0.5
POPS = {"in": 6, "hid": 9}


@pytest.fixture()
def run_file(tmp_path):
    rng = np.random.default_rng(11)
    data = {pop: {"z": (rng.random((B, T, n)) < 0.15).astype(np.uint8),
                  "v": rng.standard_normal((B, T, n)).astype(np.float32),
                  "A": np.full((B, T, n), 1.5, np.float32)}
            for pop, n in POPS.items()}
    p = tmp_path / "run.h5"
    with H5Writer(p, dt=DT, seed=5, version="0.1.0", config_json='{"net": {"layers": [6, 9]}}') as w:
        rec = Recorder(w, RecordSpec(every=2, neurons={"hid": [1, 3, 8]}), POPS, batch=B, dt=DT,
                       buffer_steps=50)
        for t0 in range(0, T, 30):
            rec.add_block(t0, {pop: {v: a[:, t0:t0 + 30] for v, a in d.items()}
                               for pop, d in data.items()})
        rec.add_scalars("training", 0, loss=0.5)
        w.write_dataset("weights/w_in_hid", np.ones((6, 9)))
    return p, data


def test_attrs_and_populations(run_file):
    p, _ = run_file
    with open_run(p) as run:
        a = run.attrs
        assert a["config"] == {"net": {"layers": [6, 9]}}
        assert a["dt"] == DT and a["seed"] == 5 and a["snnsim_version"] == "0.1.0"
        assert a["format"] == "snnsim-1" and run.status == "complete"
        assert a["start_step"] == 0 and a["stop_step"] == T
        assert run.populations == ["hid", "in"]
    assert not run.file  # closed


def test_spikes_and_spike_array(run_file):
    p, data = run_file
    run = open_run(p)
    try:
        for pop, n in POPS.items():
            z = data[pop]["z"]
            ts, nodes, batches = run.spikes(pop)
            assert len(ts) == np.count_nonzero(z)
            assert np.all(np.diff(ts) >= 0)
            np.testing.assert_array_equal(run.spike_array(pop), z)
            np.testing.assert_array_equal(run.spike_array(pop, T, n), z)
            for b in range(B):
                ts_b, nodes_b, batches_b = run.spikes(pop, batch=b)
                assert np.all(batches_b == b) and len(ts_b) == np.count_nonzero(z[b])
                np.testing.assert_array_equal(run.spike_array(pop, T, n, batch=b), z[b])
            # shorter T drops later spikes
            np.testing.assert_array_equal(run.spike_array(pop, 10, n), z[:, :10])
        with pytest.raises(KeyError, match="nope"):
            run.spikes("nope")
    finally:
        run.close()


def test_reports(run_file):
    p, data = run_file
    with open_run(p) as run:
        np.testing.assert_array_equal(run.report("in", "v"), data["in"]["v"][:, ::2].transpose(1, 0, 2))
        np.testing.assert_array_equal(run.report("hid", "A", batch=1),
                                      data["hid"]["A"][1, ::2][:, [1, 3, 8]])
        np.testing.assert_array_equal(run.report_steps("hid", "v"), np.arange(0, T, 2))
        np.testing.assert_array_equal(run.report_node_ids("hid"), [1, 3, 8])
        with pytest.raises(KeyError):
            run.report("in", "nope")


def test_datasets_listing(run_file):
    p, _ = run_file
    with open_run(p) as run:
        ds = run.datasets()
    assert ds["report/hid/v"][0] == (T // 2, B, 3)
    assert ds["report/hid/v"][1] == np.float32
    assert ds["weights/w_in_hid"][0] == (6, 9)
    assert "spikes/in/timestamps" in ds and "training/loss" in ds


def test_open_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_run(tmp_path / "none.h5")


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_csv_export_round_trip(run_file, tmp_path):
    p, data = run_file
    out = tmp_path / "spikes.csv"
    n = spikes_to_csv(p, out)
    rows = read_csv(out)
    assert n == len(rows) == sum(np.count_nonzero(d["z"]) for d in data.values())
    assert list(rows[0]) == ["population", "batch_id", "node_id", "timestamp_ms", "subpopulation"]
    with open_run(p) as run:
        for pop in POPS:
            sub = [r for r in rows if r["population"] == pop]
            ts, nodes, batches = run.spikes(pop)
            np.testing.assert_array_equal([float(r["timestamp_ms"]) for r in sub], ts)
            np.testing.assert_array_equal([int(r["node_id"]) for r in sub], nodes)
            np.testing.assert_array_equal([int(r["batch_id"]) for r in sub], batches)


def test_csv_export_one_population(run_file, tmp_path):
    p, data = run_file
    out = tmp_path / "hid.csv"
    assert spikes_to_csv(p, out, population="hid") == np.count_nonzero(data["hid"]["z"])
    assert {r["population"] for r in read_csv(out)} == {"hid"}
    with pytest.raises(KeyError, match="nope"):
        spikes_to_csv(p, tmp_path / "x.csv", population="nope")


@pytest.mark.parametrize("libver", [("v110", "latest"), ("v108", "latest")])
def test_lookup3_matches_hdf5_superblock_checksum(tmp_path, libver):
    p = tmp_path / "c.h5"
    with h5py.File(p, "w", libver=libver) as f:
        f["x"] = np.arange(3)
    head = p.read_bytes()[:64]
    n = 12 + 4 * head[9]
    assert _lookup3(head[:n]) == struct.unpack("<I", head[n:n + 4])[0]


def test_lookup3_reference_values():
    # values of Bob Jenkins' hashlittle(key, len, 0) from lookup3.c's driver
    assert _lookup3(b"") == 0xDEADBEEF
    assert _lookup3(b"Four score and seven years ago") == 0x17770551
