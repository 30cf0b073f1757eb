"""Files of ``snnsim run`` / ``snnsim train`` read by the standard tools: libsonata (SONATA
spikes and soma reports) and pynwb (NWB export, checked by pynwb's validator).

The expected values come from the network itself (``Network.forward`` on the same input),
not from snnsim's reader; the files are read by libsonata / pynwb only.
"""
import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from snnsim.cli.main import cli
from snnsim.config import build, load_config

B, T, N_IN = 3, 120, 16

CONFIG = """
[network]
n_in = 16
seed = 3
dtype = "float64"
[[layer]]
name = "mix"
w_in_scale = 3.0
  [[layer.population]]
  type = "lif"
  name = "fast"
  n = 7
  [[layer.population]]
  type = "alif"
  name = "adapt"
  n = 5
  beta = 0.5
[[layer]]
name = "top"
w_in_scale = 3.0
  [[layer.population]]
  type = "lif"
  n = 6
[readout]
n = 2
[input]
type = "spikes"
path = "x.npy"
[record]
variables = ["z", "v", "A"]
neurons = {{ top = [5, 0, 3] }}
{extra}
"""

TRAIN = """
[network]
n_in = 100
seed = 3
[[layer]]
name = "hid"
  [[layer.population]]
  type = "lif"
  n = 10
  [[layer.population]]
  type = "alif"
  n = 4
[readout]
n = 1
[task]
name = "sine_wave"
steps = 60
[train]
rule = "eprop"
iterations = 2
batch = 1
"""


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("sonata")
    x = (np.random.default_rng(1).random((B, T, N_IN)) < 0.15).astype(np.float64)
    np.save(d / "x.npy", x)
    (d / "run.toml").write_text(CONFIG.format(extra=""))
    res = invoke("run", d / "run.toml", "--out", d / "run.h5", "-q")
    assert res.exit_code == 0, res.output
    net = build(load_config(d / "run.toml")).network
    blocks, y = net.forward(x)
    return d, d / "run.h5", net, blocks, y


def decode(node_ids, n):
    """SONATA node id -> (trial, neuron): node id = trial * n + neuron (documented layout)."""
    node_ids = np.asarray(node_ids, dtype=np.int64)
    return node_ids // n, node_ids % n


def test_libsonata_reads_spikes_of_a_batched_run(run_file):
    libsonata = pytest.importorskip("libsonata")
    _, path, net, blocks, _ = run_file
    reader = libsonata.SpikeReader(str(path))
    assert sorted(reader.get_population_names()) == ["mix", "top"]
    for l, layer in enumerate(net.layers):
        pop = reader[layer.name]
        assert pop.sorting == "by_time" and pop.time_units == "ms"
        spikes = pop.get()
        ids = np.array([s[0] for s in spikes])
        times = np.array([s[1] for s in spikes])
        assert len(set(zip(ids.tolist(), times.tolist()))) == len(spikes)   # no merged trials
        trial, neuron = decode(ids, layer.n)
        got = np.zeros((B, T, layer.n))
        got[trial, np.rint(times / net.dt).astype(int), neuron] = 1
        np.testing.assert_array_equal(got, blocks[l].z)
        assert blocks[l].z.sum() > 20
        # a time window of a trial's neuron through libsonata's own selection
        sel = pop.get(node_ids=[2 * layer.n + 1], tstart=0.0, tstop=T * net.dt)
        np.testing.assert_array_equal([t for _, t in sel],
                                      np.flatnonzero(blocks[l].z[2, :, 1]) * net.dt)


def test_libsonata_reads_every_report_variable(run_file):
    libsonata = pytest.importorskip("libsonata")
    _, path, net, blocks, y = run_file
    reader = libsonata.SomaReportReader(str(path))
    names = set(reader.get_population_names())
    assert {"mix", "mix:z", "mix:A", "top", "top:z", "top:A", "readout"} <= names
    for l, layer in enumerate(net.layers):
        sel = np.arange(layer.n) if layer.name == "mix" else np.array([5, 0, 3])
        expect = {"v": blocks[l].v, "z": blocks[l].z,
                  "A": net.threshold(l, blocks[l].a)}
        for var, arr in expect.items():
            pop = reader[layer.name if var == "v" else f"{layer.name}:{var}"]
            assert pop.times == (0.0, T * net.dt, net.dt) and pop.time_units == "ms"
            frame = pop.get()
            data = np.asarray(frame.data)
            trial, neuron = decode(frame.ids, layer.n)
            assert data.shape == (T, B * sel.size)
            np.testing.assert_array_equal(neuron, np.tile(sel, B))
            np.testing.assert_array_equal(trial, np.repeat(np.arange(B), sel.size))
            np.testing.assert_allclose(data, arr[trial, :, neuron].T, rtol=1e-6, atol=1e-6)
        assert reader[layer.name].data_units == "units of v_th"
    frame = reader["readout"].get()
    np.testing.assert_allclose(np.asarray(frame.data), y.transpose(1, 0, 2).reshape(T, -1),
                               rtol=1e-6, atol=1e-9)


def test_sonata_datasets_are_uncompressed_unless_asked(run_file):
    d, path, *_ = run_file
    with h5py.File(path, "r") as f:
        for name in ("spikes/mix/timestamps", "spikes/mix/node_ids", "report/mix/v"):
            assert f[name].compression is None, name
        assert f["report/mix/data"].is_virtual
        assert list(f["spikes/mix"].attrs["subpopulation_names"]) == ["fast", "adapt"]
        np.testing.assert_array_equal(f["spikes/mix"].attrs["subpopulation_offsets"], [0, 7, 12])
    (d / "gz.toml").write_text(CONFIG.format(extra=""))
    res = invoke("run", d / "gz.toml", "--out", d / "gz.h5", "-q", "--compression", "gzip")
    assert res.exit_code == 0, res.output
    with h5py.File(d / "gz.h5", "r") as f, h5py.File(path, "r") as g:
        assert f["spikes/mix/timestamps"].compression == "gzip"
        np.testing.assert_array_equal(f["report/mix/v"][()], g["report/mix/v"][()])


def test_libsonata_reads_a_train_file(tmp_path):
    libsonata = pytest.importorskip("libsonata")
    (tmp_path / "t.toml").write_text(TRAIN)
    res = invoke("train", tmp_path / "t.toml", "--out", tmp_path / "t.h5", "-q")
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "t.h5", "r") as f:
        n_spikes = f["spikes/hid/timestamps"].shape[0]
        v = f["report/hid/v"][()]
        y = f["report/readout/y"][()]
    spikes = libsonata.SpikeReader(str(tmp_path / "t.h5"))["hid"].get()
    assert len(spikes) == n_spikes
    reports = libsonata.SomaReportReader(str(tmp_path / "t.h5"))
    np.testing.assert_array_equal(np.asarray(reports["hid"].get().data), v[:, 0])
    np.testing.assert_array_equal(np.asarray(reports["readout"].get().data), y[:, 0])
    with h5py.File(tmp_path / "t.h5", "r") as f:
        target = f["report/readout/target"][()]
    np.testing.assert_array_equal(np.asarray(reports["readout:target"].get().data),
                                  target[:, 0].astype(np.float32))   # SONATA data: float32


def test_nwb_export_validates_and_holds_spikes_trials_config_weights(run_file, tmp_path):
    pynwb = pytest.importorskip("pynwb")
    _, path, net, blocks, _ = run_file
    out = tmp_path / "run.nwb"
    res = invoke("export-nwb", path, "-o", out)
    assert res.exit_code == 0, res.output
    assert pynwb.validate(path=str(out)) == []
    duration = T * net.dt * 1e-3
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        trials = nwb.trials.to_dataframe()
        np.testing.assert_allclose(trials["start_time"], np.arange(B) * duration)
        np.testing.assert_allclose(trials["stop_time"], (np.arange(B) + 1) * duration)
        units = nwb.units.to_dataframe()
        assert len(units) == sum(layer.n for layer in net.layers)
        for l, layer in enumerate(net.layers):
            mine = units[units["layer"] == layer.name]
            for _, row in mine.iterrows():
                i = int(row["neuron"])
                b, t = np.nonzero(blocks[l].z[:, :, i])
                np.testing.assert_allclose(np.sort(row["spike_times"]),
                                           np.sort(b * duration + t * net.dt * 1e-3), atol=1e-12)
        mix = units[units["layer"] == "mix"]
        assert list(mix["subpopulation"]) == ["fast"] * 7 + ["adapt"] * 5
        with h5py.File(path, "r") as f:
            assert json.loads(nwb.notes) == json.loads(f.attrs["config"])
            weights = {k: f["weights"][k][()] for k in f["weights"]}
        tables = nwb.processing["snnsim_weights"]
        for name, w in weights.items():
            t = tables[name].to_dataframe()
            rebuilt = np.zeros_like(w, dtype=np.float64)
            rebuilt[t["pre"].to_numpy(), t["post"].to_numpy()] = t["weight"].to_numpy()
            np.testing.assert_array_equal(rebuilt, w)
    res = invoke("export-nwb", path, "-o", out)
    assert res.exit_code == 2 and "already exists" in res.output
