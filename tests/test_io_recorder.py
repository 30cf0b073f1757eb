"""Tests for snnsim.io.recorder (Recorder, RecordSpec)."""

import h5py
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from snnsim.io import H5Writer, Recorder, RecordSpec

B = 3
POPS = {"layer0": 11, "layer1": 4}


def writer(path):
    return H5Writer(path, dt=0.25, seed=1, version="t", config_json="{}")


def make_run(T, seed=0, p_spike=0.2):
    """Random full-length arrays per population: name -> var -> (B, T, n)."""
    rng = np.random.default_rng(seed)
    return {pop: {"z": (rng.random((B, T, n)) < p_spike).astype(np.float32),
                  "v": rng.standard_normal((B, T, n)),
                  "A": rng.standard_normal((B, T, n)).astype(np.float32)}
            for pop, n in POPS.items()}


def feed(rec, data, t_start, sizes):
    """Feed `data` (starting at global step t_start) in blocks of the given sizes."""
    a = 0
    for K in sizes:
        blk = {pop: {var: arr[:, a:a + K] for var, arr in d.items()} for pop, d in data.items()}
        rec.add_block(t_start + a, blk)
        a += K
    return a


def reference_spikes(z, t_start, dt):
    """Slow reference: one row per spike, ordered by time, batch, node."""
    ts, nodes, batches = [], [], []
    for t in range(z.shape[1]):
        for b in range(z.shape[0]):
            for i in range(z.shape[2]):
                if z[b, t, i] != 0:
                    ts.append((t_start + t) * dt)
                    nodes.append(i)
                    batches.append(b)
    return np.array(ts), np.array(nodes), np.array(batches)


def test_spikes_round_trip_exact(tmp_path):
    p = tmp_path / "o.h5"
    data = make_run(537, seed=3)
    with writer(p) as w:
        rec = Recorder(w, RecordSpec(variables=()), POPS, batch=B, dt=0.25, buffer_steps=100)
        feed(rec, data, 7, [13, 100, 1, 200, 223])
        rec.close()
    with h5py.File(p, "r") as f:
        for pop in POPS:
            g = f[f"spikes/{pop}"]
            ts, nodes, batches = reference_spikes(data[pop]["z"], 7, 0.25)
            np.testing.assert_array_equal(g["timestamps"][:], ts)
            # SONATA node id of neuron i in trial b: b * n_nodes + i (see snnsim.io.recorder)
            np.testing.assert_array_equal(g["node_ids"][:], batches * POPS[pop] + nodes)
            np.testing.assert_array_equal(g["batch_ids"][:], batches)
            assert g["timestamps"].dtype == np.float64 and g["timestamps"].attrs["units"] == "ms"
            assert g["node_ids"].dtype == np.uint32 and g["batch_ids"].dtype == np.uint32
            assert h5py.check_enum_dtype(g.attrs.get_id("sorting").dtype) is not None
            assert g.attrs["sorting"] == 2 and g.attrs["n_nodes"] == POPS[pop]   # SONATA by_time
        assert f.attrs["start_step"] == 7 and f.attrs["stop_step"] == 7 + 537
        assert "report" not in f


@pytest.mark.parametrize("every,t_start,sizes", [
    (1, 0, [50, 50]), (3, 5, [7, 11, 13, 1, 2, 29]), (4, 2, [3, 3, 3, 3, 100]), (10, 9, [5, 1])])
def test_dense_every_k(tmp_path, every, t_start, sizes):
    p = tmp_path / "o.h5"
    T = sum(sizes)
    data = make_run(T, seed=every)
    with writer(p) as w:
        rec = Recorder(w, RecordSpec(every=every), POPS, batch=B, dt=0.25, buffer_steps=17)
        feed(rec, data, t_start, sizes)
    steps = np.arange(t_start, t_start + T)
    keep = steps % every == 0
    with h5py.File(p, "r") as f:
        for pop in POPS:
            for var in ("z", "v", "A"):
                ds = f[f"report/{pop}/{var}"]
                expect = data[pop][var][:, keep].transpose(1, 0, 2)
                np.testing.assert_array_equal(ds[:], expect)
                assert ds.dtype == data[pop][var].dtype
                assert ds.attrs["every"] == every and ds.attrs["dt"] == 0.25
                assert ds.attrs["start_step"] == steps[keep][0]
                assert ds.attrs["units"] == {"z": "1", "v": "units of v_th", "A": "units of v_th"}[var]
            np.testing.assert_array_equal(f[f"report/{pop}/node_ids"][:], np.arange(POPS[pop]))


@settings(max_examples=25, deadline=None)
@given(every=st.integers(1, 6), t_start=st.integers(0, 20),
       sizes=st.lists(st.integers(1, 9), min_size=1, max_size=8), buf=st.integers(1, 20))
def test_every_k_property(tmp_path_factory, every, t_start, sizes, buf):
    p = tmp_path_factory.mktemp("h") / "o.h5"
    T = sum(sizes)
    data = {"p": {"z": np.arange(B * T * 2, dtype=np.int64).reshape(B, T, 2) % 3}}
    with writer(p) as w:
        rec = Recorder(w, RecordSpec(every=every, variables=("z",)), {"p": 2}, batch=B,
                       dt=1.0, buffer_steps=buf)
        feed(rec, data, t_start, sizes)
    steps = np.arange(t_start, t_start + T)
    keep = steps % every == 0
    with h5py.File(p, "r") as f:
        if keep.any():
            np.testing.assert_array_equal(f["report/p/z"][:], data["p"]["z"][:, keep].transpose(1, 0, 2))
            assert f["report/p/z"].attrs["start_step"] == steps[keep][0]
        else:
            assert "z" not in f["report/p"]
        assert f["spikes/p/timestamps"].shape[0] == np.count_nonzero(data["p"]["z"])


def test_neuron_subset_and_population_subset(tmp_path):
    p = tmp_path / "o.h5"
    data = make_run(40)
    spec = RecordSpec(populations=["layer0"], variables=("v",), neurons={"layer0": [9, 0, 4]})
    with writer(p) as w:
        rec = Recorder(w, spec, POPS, batch=B, dt=0.25)
        feed(rec, data, 0, [20, 20])
    with h5py.File(p, "r") as f:
        np.testing.assert_array_equal(f["report/layer0/node_ids"][:], [9, 0, 4])
        np.testing.assert_array_equal(f["report/layer0/v"][:],
                                      data["layer0"]["v"][:, :, [9, 0, 4]].transpose(1, 0, 2))
        assert "layer1" not in f["report"] and "layer1" not in f["spikes"]
        # spikes always cover the whole population
        assert f["spikes/layer0/timestamps"].shape[0] == np.count_nonzero(data["layer0"]["z"])


def test_buffering_writes_about_T_over_buffer(tmp_path, monkeypatch):
    p = tmp_path / "o.h5"
    data = make_run(5000, p_spike=0.01)
    counts, flushes = {}, []
    with writer(p) as w:
        orig_append, orig_flush = w.append, w.flush
        monkeypatch.setattr(w, "append", lambda name, d, **kw: (
            counts.__setitem__(name, counts.get(name, 0) + (len(d) > 0)), orig_append(name, d, **kw))[1])
        monkeypatch.setattr(w, "flush", lambda: (flushes.append(1), orig_flush()))
        rec = Recorder(w, RecordSpec(), POPS, batch=B, dt=0.25, buffer_steps=1000)
        for t0 in range(0, 5000, 100):
            blk = {pop: {v: a[:, t0:t0 + 100] for v, a in d.items()} for pop, d in data.items()}
            rec.add_block(t0, blk)
            assert rec._buf_steps < 1000  # never holds more than one buffer
        rec.close()
    assert counts["report/layer0/v"] == 5 and counts["spikes/layer1/node_ids"] == 5
    assert len(flushes) == 5
    with h5py.File(p, "r") as f:
        assert f["report/layer0/v"].shape == (5000, B, 11)
        assert f["report/layer0/v"].chunks[0] == 1000  # chunk = one write


def test_missing_variable_error(tmp_path):
    with writer(tmp_path / "o.h5") as w:
        rec = Recorder(w, RecordSpec(variables=("z", "v", "trace")), POPS, batch=B, dt=0.25)
        data = make_run(5)
        with pytest.raises(ValueError, match="'trace'"):
            feed(rec, data, 0, [5])
        rec2 = Recorder(w, RecordSpec(variables=("v",), populations=["layer1"]), POPS, batch=B,
                        dt=0.25)
        with pytest.raises(ValueError, match="'z'.*spikes"):
            rec2.add_block(0, {"layer1": {"v": data["layer1"]["v"]}})
        w.abort()


def test_extra_variables_come_from_block(tmp_path):
    p = tmp_path / "o.h5"
    data = make_run(6)
    for d in data.values():
        d["e_trace"] = d["v"] * 2
    with writer(p) as w:
        rec = Recorder(w, RecordSpec(variables=("e_trace",)), POPS, batch=B, dt=0.25)
        feed(rec, data, 0, [6])
    with h5py.File(p, "r") as f:
        assert f["report/layer1/e_trace"].attrs["units"] == "1"
        assert f["report/layer1/e_trace"].shape == (6, B, 4)


def test_block_validation(tmp_path):
    with writer(tmp_path / "o.h5") as w:
        rec = Recorder(w, RecordSpec(), POPS, batch=B, dt=0.25)
        data = make_run(10)
        feed(rec, data, 0, [5])
        with pytest.raises(ValueError, match="expected 5"):
            feed(rec, data, 6, [5])
        with pytest.raises(ValueError, match="missing"):
            rec.add_block(5, {"layer0": data["layer0"]})
        bad = {pop: {v: a[:, :4, :2] for v, a in d.items()} for pop, d in data.items()}
        with pytest.raises(ValueError, match="shape"):
            rec.add_block(5, bad)
        with pytest.raises(ValueError, match="unknown population"):
            Recorder(w, RecordSpec(populations=["nope"]), POPS, batch=B, dt=0.25)
        with pytest.raises(ValueError, match="out of range"):
            Recorder(w, RecordSpec(neurons={"layer1": [4]}), POPS, batch=B, dt=0.25)
        with pytest.raises(ValueError, match="every"):
            Recorder(w, RecordSpec(every=0), POPS, batch=B, dt=0.25)


def test_caller_may_reuse_block_arrays(tmp_path):
    p = tmp_path / "o.h5"
    z = np.zeros((1, 4, 2), np.float32)
    with writer(p) as w:
        rec = Recorder(w, RecordSpec(variables=("z",)), {"p": 2}, batch=1, dt=1.0)
        z[0, 1, 1] = 1
        rec.add_block(0, {"p": {"z": z}})
        z[:] = 0  # simulator reuses its buffer
        rec.add_block(4, {"p": {"z": z}})
    with h5py.File(p, "r") as f:
        assert f["report/p/z"][:].sum() == 1 and f["report/p/z"][1, 0, 1] == 1
        np.testing.assert_array_equal(f["spikes/p/timestamps"][:], [1.0])


def test_writer_exit_flushes_buffer_on_error(tmp_path):
    p = tmp_path / "o.h5"
    data = make_run(30)
    with pytest.raises(RuntimeError):
        with writer(p) as w:
            rec = Recorder(w, RecordSpec(), POPS, batch=B, dt=0.25, buffer_steps=1000)
            feed(rec, data, 0, [10, 10, 10])
            raise RuntimeError("solver diverged")
    with h5py.File(p, "r") as f:
        assert f["report/layer0/v"].shape == (30, B, 11)
        assert f.attrs["stop_step"] == 30 and f.attrs["status"].startswith("failed")


def test_add_scalars_buffered(tmp_path, monkeypatch):
    p = tmp_path / "o.h5"
    n_appends = []
    with writer(p) as w:
        orig = w.append
        monkeypatch.setattr(w, "append", lambda name, d, **kw: (n_appends.append(name),
                                                                 orig(name, d, **kw))[1])
        rec = Recorder(w, RecordSpec(populations=[]), POPS, batch=B, dt=0.25, scalar_rows=10)
        for it in range(25):
            rec.add_scalars("training", it * 5, loss=1.0 / (it + 1), grad=np.arange(2) * it)
        assert n_appends.count("training/loss") == 2  # 2 full buffers written, 5 rows pending
        with pytest.raises(ValueError, match="keys"):
            rec.add_scalars("training", 0, loss=1.0)
        rec.close()
    with h5py.File(p, "r") as f:
        np.testing.assert_array_equal(f["training/step"][:], np.arange(25) * 5)
        np.testing.assert_allclose(f["training/loss"][:], 1.0 / (np.arange(25) + 1))
        assert f["training/grad"].shape == (25, 2)
