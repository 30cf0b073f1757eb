"""Sparse (CSR) layers: drawn connectivity statistics, forward pass and e-prop (trace and window
engines) equal to the dense path with the same connectivity, training, determinism, storage.

The dense path (dense kernels over (pre, post) arrays with the same weights and the CSR's
mask) is the oracle: its kernels are independent code, validated against BPTT, finite
differences and torch in the other test files; one case is also checked against dense BPTT
with the explicit recurrent paths cut (bptt-m0, reset detach), which e-prop equals on one layer.
"""
import numpy as np
import pytest

import snnsim
from snnsim import ALIF, LIF, Layer, Network, Readout
from snnsim.errors import ConfigError
from snnsim.learning.eprop import eprop
from snnsim.learning.rules import run_rule
from snnsim.optim import make_optimizer
from snnsim.sparse import CSR, draw
from snnsim.tasks import make_task
from snnsim.trainer import Trainer


def _layers(sparse, delay, ff=False, lif_only=False):
    second = LIF if lif_only else ALIF
    extra = {} if lif_only else dict(beta=0.3)
    return [Layer([LIF(8, v_th=0.3), (LIF(6, v_th=0.3, tau_m=30.0) if lif_only else
                                      ALIF(6, v_th=0.3, beta=0.5, tau_a=50.0))], p_in=0.4,
                  p_rec=0.3, sparse=sparse, w_in_scale=3.0, recurrent=not ff),
            Layer([second(7, v_th=0.3, tau_m=[20.0 + i for i in range(7)], **extra)], p_in=0.5,
                  p_rec=0.4, sparse=sparse, delay=delay, w_in_scale=3.0)]


def _pair(delay=True, surrogate="piecewise", ff=False, n_layers=2, seed=0, lif_only=False):
    """(sparse net, dense net with the same weights and connectivity), float64."""
    kw = dict(dtype="float64", surrogate=surrogate)
    sp = Network(12, _layers(True, delay, ff, lif_only)[:n_layers], Readout(2), rng=seed, **kw)
    de = Network(12, _layers(False, delay, ff, lif_only)[:n_layers], Readout(2), rng=seed + 1,
                 **kw)
    for l in range(n_layers):
        de.w_in[l][...] = sp.w_in[l].to_dense()
        de.mask_in[l] = sp.w_in[l].mask()
        if sp.w_rec[l] is not None:
            de.w_rec[l][...] = sp.w_rec[l].to_dense()
            de.mask_rec[l] = sp.w_rec[l].mask()
    de.w_out[...] = sp.w_out
    return sp, de


def _data(T=300, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.random((3, T, 12)) < 0.1).astype(float), rng.standard_normal((3, T, 2))


def _at_synapses(sp, name, g_dense):
    """A dense (pre, post) gradient read at the synapses of sparse weight ``name``."""
    l = [layer.name for layer in sp.layers].index(name.split(".")[0])
    w = sp.w_in[l] if name.endswith("w_in") else sp.w_rec[l]
    return g_dense[w.rows(), w.indices]


def _assert_grads_equal(sp, g_sparse, g_dense, rtol=1e-12):
    assert set(g_sparse) == set(g_dense)
    for name, gd in g_dense.items():
        ref = gd if name == "readout.w_out" else _at_synapses(sp, name, gd)
        assert g_sparse[name].shape == ref.shape
        scale = np.abs(ref).max()
        assert scale > 0, name
        np.testing.assert_allclose(g_sparse[name], ref, rtol=0, atol=rtol * scale, err_msg=name)


# ----------------------------------------------------------------------------- connectivity
@pytest.mark.parametrize("no_diagonal", [False, True])
def test_drawn_connectivity_has_the_bernoulli_statistics(no_diagonal):
    n_pre = n = 1500
    p = 0.02
    indptr, indices = draw(np.random.default_rng(3), n_pre, n, p, no_diagonal=no_diagonal)
    csr = CSR.checked("w", indptr, indices, np.zeros(len(indices)), (n_pre, n), np.float64)
    m = n - 1 if no_diagonal else n
    total, N = len(indices), n_pre * m
    assert abs(total - p * N) < 5 * np.sqrt(N * p * (1 - p))           # binomial total
    if no_diagonal:
        assert not np.any(csr.rows() == csr.indices)
    for deg, size in ((np.diff(indptr), m), (np.bincount(indices, minlength=n), n_pre)):
        # out- and in-degrees are Binomial(size, p): mean and variance within 5 standard errors
        mean, var = p * size, p * (1 - p) * size
        assert abs(deg.mean() - mean) < 5 * np.sqrt(var / len(deg))
        assert abs(deg.var() / var - 1) < 5 * np.sqrt(2 / len(deg))
    # every pair equally likely: the 10 x 10 blocks' counts are uniform (chi-square, 99 dof)
    blocks = np.zeros((10, 10))
    np.add.at(blocks, (csr.rows() * 10 // n_pre, csr.indices * 10 // n), 1)
    chi2 = ((blocks - blocks.mean()) ** 2 / blocks.mean()).sum()
    assert chi2 < 99 + 6 * np.sqrt(2 * 99)


def test_same_seed_gives_identical_connectivity_and_weights():
    a, b = _pair()[0], _pair()[0]
    c = _pair(seed=5)[0]
    for name, (ip, ix) in a.connectivity().items():
        assert np.array_equal(ip, b.connectivity()[name][0])
        assert np.array_equal(ix, b.connectivity()[name][1])
        assert np.array_equal(a.weights()[name], b.weights()[name])
        assert not np.array_equal(a.weights()[name][:5], c.weights()[name][:5])


def test_sparse_layer_never_allocates_a_dense_matrix():
    """10^5 x 10^5 dense would be 80 GB: a sparse layer of that size builds in O(synapses)."""
    net = Network(10, Layer(LIF(100_000), p_in=1e-4, p_rec=2e-5, sparse="auto"), Readout(1),
                  rng=0)
    w = net.w_rec[0]
    assert isinstance(w, CSR) and w.shape == (100_000, 100_000)
    assert abs(w.nnz - 2e-5 * 100_000 * 99_999) < 5 * np.sqrt(2e-5 * 1e10)


# ----------------------------------------------------------------------------- forward
@pytest.mark.parametrize("surrogate", ["piecewise", "smooth"])
@pytest.mark.parametrize("delay", [False, True])
def test_forward_equals_dense(surrogate, delay):
    sp, de = _pair(delay=delay, surrogate=surrogate)
    x, _ = _data()
    b1, y1 = sp.forward(x)
    b2, y2 = de.forward(x)
    assert sum(b.z.sum() for b in b2) > 50                 # the layers do spike
    for s, d in zip(b1, b2):
        for key in ("z", "v", "a", "psi"):
            np.testing.assert_allclose(getattr(s, key), getattr(d, key), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y1, y2, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- e-prop
@pytest.mark.parametrize("engine", ["trace", "window"])
@pytest.mark.parametrize("reset", ["detach", "local"])
@pytest.mark.parametrize("depth,delay,c_reg", [("spatial", False, 0.0), ("onehop", True, 0.5),
                                               ("spatial", True, 0.5), ("onehop", False, 0.0)])
def test_eprop_gradients_equal_dense(engine, reset, depth, delay, c_reg):
    sp, de = _pair(delay=delay)
    x, y = _data()
    # window_mb small: several windows per sequence, so the carried traces are exercised
    kw = dict(engine=engine, reset=reset, depth=depth, c_reg=c_reg, block=64, window_mb=0.01)
    l1, g1, _ = eprop(sp, x, y, **kw)
    l2, g2, _ = eprop(de, x, y, **kw)
    assert l1 == l2
    _assert_grads_equal(sp, g1, g2)


@pytest.mark.parametrize("engine", ["trace", "window"])
@pytest.mark.parametrize("reset", ["detach", "local"])
def test_eprop_lif_only_equals_dense(engine, reset):
    sp, de = _pair(lif_only=True)
    assert not np.any(sp.params[0]["beta"]) and not np.any(sp.params[1]["beta"])
    x, y = _data()
    kw = dict(engine=engine, reset=reset, depth="onehop", c_reg=0.5, block=64, window_mb=0.01)
    _assert_grads_equal(sp, eprop(sp, x, y, **kw)[1], eprop(de, x, y, **kw)[1])


@pytest.mark.parametrize("engine", ["trace", "window"])
def test_eprop_feedforward_and_single_layer_equal_dense(engine):
    for sp, de in (_pair(ff=True), _pair(n_layers=1)):
        x, y = _data(T=120)
        _assert_grads_equal(sp, eprop(sp, x, y, engine=engine)[1], eprop(de, x, y, engine=engine)[1])


@pytest.mark.parametrize("engine", ["trace", "window"])
def test_eprop_equals_dense_bptt_m0_on_one_layer(engine):
    """Independent oracle: on one layer with symmetric feedback e-prop is BPTT with the
    explicit recurrent paths cut (bptt-m0, reset detach), computed by the dense BPTT kernel."""
    sp, de = _pair(n_layers=1)
    x, y = _data(T=150)
    g = eprop(sp, x, y, engine=engine, block=50)[1]
    ref = run_rule(de, x, y, "bptt-m0", reset="detach")[1]
    _assert_grads_equal(sp, g, ref, rtol=1e-10)


def test_mixed_sparse_and_dense_layers():
    sp, de = _pair()
    mixed = Network(12, [_layers(False, True)[0], _layers(True, True)[1]], Readout(2),
                    dtype="float64", rng=0)
    mixed.w_in[0][...], mixed.mask_in[0] = de.w_in[0], de.mask_in[0]
    mixed.w_rec[0][...], mixed.mask_rec[0] = de.w_rec[0], de.mask_rec[0]
    mixed.w_in[1], mixed.w_rec[1], mixed.w_out[...] = sp.w_in[1], sp.w_rec[1], sp.w_out
    x, y = _data()
    for engine in ("trace", "window"):
        g = eprop(mixed, x, y, engine=engine, block=64, window_mb=0.01)[1]
        ref = eprop(de, x, y, engine=engine, block=64, window_mb=0.01)[1]
        for name in ("layer0.w_in", "layer0.w_rec"):
            np.testing.assert_allclose(g[name], ref[name], rtol=0, atol=1e-12 * np.abs(ref[name]).max())
        _assert_grads_equal(sp, {k: g[k] for k in ref if k.startswith("layer1") or k[0] == "r"},
                            {k: ref[k] for k in ref if k.startswith("layer1") or k[0] == "r"})


def _task(rng):
    return make_task("evidence_accumulation", rng, batch=3, n_cues=2, delay_ms=50.0)


def _train_pair(engine, update_every=None):
    def net(sparse):
        return Network(40, [Layer([LIF(10, v_th=0.5), ALIF(8, v_th=0.5, beta=0.2, tau_a=100.0)],
                                  p_in=0.3, p_rec=0.3, sparse=sparse, w_in_scale=2.0)],
                       Readout(2), rng=0, dtype="float64")
    sp, de = net(True), net(False)
    de.w_in[0][...], de.mask_in[0] = sp.w_in[0].to_dense(), sp.w_in[0].mask()
    de.w_rec[0][...], de.mask_rec[0] = sp.w_rec[0].to_dense(), sp.w_rec[0].mask()
    de.w_out[...] = sp.w_out
    out = []
    for n in (sp, de):
        tr = Trainer(n, _task, rule="eprop", optimizer=make_optimizer("adam", lr=0.01), seed=1,
                     engine=engine, update_every=update_every)
        tr.train(3)
        out.append(tr)
    return out


@pytest.mark.parametrize("engine,update_every", [("trace", None), ("window", None), ("trace", 100)])
def test_training_weights_equal_dense(engine, update_every):
    ts, td = _train_pair(engine, update_every)
    sp = ts.net
    for name, wd in td.net.weights().items():
        ref = wd if name == "readout.w_out" else _at_synapses(sp, name, wd)
        np.testing.assert_allclose(sp.weights()[name], ref, rtol=1e-12, atol=1e-12)
    assert not np.array_equal(sp.w_in[0].data, _pair()[0].w_in[0].data)
    again = _train_pair(engine, update_every)[0]          # same seed: bit-identical
    for name, w in sp.weights().items():
        assert np.array_equal(again.net.weights()[name], w)


# ----------------------------------------------------------------------------- API, storage
def test_sparse_option_validation():
    with pytest.raises(ConfigError, match=r"^hid\.sparse: must be true, false or \"auto\""):
        Layer(LIF(3), sparse="yes", name="hid")
    assert Layer(LIF(10), p_in=0.05, p_rec=0.05, sparse="auto").is_sparse
    assert not Layer(LIF(10), p_in=0.5, sparse="auto").is_sparse


def test_config_sparse_field(config, tmp_path):
    from snnsim.config import build_network, load_config
    path = config("cli_run_small", {"layer.0.sparse": True, "layer.0.p_in": 0.2})
    net = build_network(load_config(path))
    assert net.is_sparse(0) and net.config()["layer"][0]["sparse"] is True
    bad = config("cli_run_small", {"layer.0.sparse": "maybe"}, filename="bad.toml")
    with pytest.raises(ConfigError, match=r"layer\[0\]\.sparse"):
        load_config(bad)


def test_dense_only_rules_and_exports_refuse_sparse_layers():
    sp, _ = _pair()
    x, y = _data(T=20)
    with pytest.raises(ConfigError, match=r"^layer0\.sparse: rule 'bptt' needs dense weights"):
        run_rule(sp, x, y, "bptt")
    from snnsim.nir_export import check_exportable
    with pytest.raises(ConfigError, match=r"^layer0\.sparse: NIR export needs dense weights"):
        check_exportable(sp)


def test_weights_round_trip_through_hdf5(tmp_path):
    sp, _ = _pair()
    x, _y = _data(T=30)
    out = tmp_path / "run.h5"
    sp.simulate(x, out=out)
    net, _cfg = snnsim.load(out)
    for name, w in sp.weights().items():
        assert np.array_equal(net.weights()[name], w)
    for name, (ip, ix) in sp.connectivity().items():
        assert np.array_equal(net.connectivity()[name][0], ip)
        assert np.array_equal(net.connectivity()[name][1], ix)
    np.testing.assert_array_equal(net.forward(x)[1], sp.forward(x)[1])


def test_tampered_connectivity_is_a_one_line_error(tmp_path):
    import h5py
    sp, _ = _pair()
    out = tmp_path / "run.h5"
    sp.simulate(_data(T=10)[0], out=out)
    with h5py.File(out, "a") as f:
        ix = f["connectivity/layer0.w_rec/indices"]
        bad = ix[()]
        bad[0] = 10 ** 6
        del f["connectivity/layer0.w_rec/indices"]
        f["connectivity/layer0.w_rec/indices"] = bad
    with pytest.raises(ConfigError, match=r"connectivity\.layer0\.w_rec\.indices: must be in"):
        snnsim.load(out)
    with h5py.File(out, "a") as f:
        del f["connectivity/layer0.w_rec/indptr"]
        f["connectivity/layer0.w_rec/indptr"] = np.zeros(10 ** 5, np.int64)
    with pytest.raises(ConfigError, match=r"indptr must have 15 entries"):
        snnsim.load(out)


def test_checkpoint_state_round_trip():
    ts, _ = _train_pair("window")
    arrays, meta = ts.state()
    fresh = _train_pair("window")[0]
    fresh.net.w_in[0].data[...] = 0.0
    fresh.load_state(arrays, meta)
    for name, w in ts.net.weights().items():
        assert np.array_equal(fresh.net.weights()[name], w)


def test_random_feedback_single_sparse_layer_equals_dense():
    sp, de = _pair(n_layers=1)
    x, y = _data(T=120)
    fb = np.random.default_rng(4).standard_normal((14, 2))
    for engine in ("trace", "window"):
        kw = dict(engine=engine, feedback="random", feedback_w=fb)
        _assert_grads_equal(sp, eprop(sp, x, y, **kw)[1], eprop(de, x, y, **kw)[1])
    with pytest.raises(ConfigError, match=r"^feedback: 'random' feedback in a deep network"):
        eprop(_pair()[0], x, y, feedback="random", rng=np.random.default_rng(0))


def test_cli_train_and_run_with_a_sparse_layer(config, invoke, tmp_path):
    cfg = config("cli_train", {"layer.0.sparse": True, "layer.0.p_in": 0.3, "layer.0.p_rec": 0.3})
    out = tmp_path / "train.h5"
    invoke("train", cfg, "-o", out, "-q")
    net, _ = snnsim.load(out)
    assert net.is_sparse(0) and net.w_rec[0].nnz < 0.5 * 24 * 23
    import h5py
    with h5py.File(out, "r") as f:
        assert "connectivity/hidden.w_rec/indptr" in f and "checkpoint/connectivity" in f
        assert np.array_equal(f["weights/hidden.w_rec"][()], net.w_rec[0].data)
    rerun = tmp_path / "run.h5"
    run_cfg = config("cli_train", {"layer.0.sparse": True, "layer.0.p_in": 0.3,
                                   "layer.0.p_rec": 0.3, "input": {"type": "poisson", "rate": 20.0,
                                                                   "steps": 50}},
                     filename="run.toml")
    invoke("run", run_cfg, "-o", rerun, "--weights", out, "-q")
    again, _ = snnsim.load(rerun)
    assert np.array_equal(again.w_rec[0].data, net.w_rec[0].data)


def test_nwb_export_lists_the_synapses_of_sparse_weights(tmp_path, invoke):
    pynwb = pytest.importorskip("pynwb")
    sp, _ = _pair()
    run = tmp_path / "run.h5"
    sp.simulate(_data(T=20)[0], out=run)
    out = tmp_path / "run.nwb"
    invoke("export-nwb", run, "-o", out)
    assert pynwb.validate(path=str(out)) == []
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        tables = io.read().processing["snnsim_weights"]
        for name, csr in (("layer0.w_rec", sp.w_rec[0]), ("layer1.w_in", sp.w_in[1])):
            t = tables[name].to_dataframe()
            np.testing.assert_array_equal(t["pre"].to_numpy(), csr.rows())
            np.testing.assert_array_equal(t["post"].to_numpy(), csr.indices)
            np.testing.assert_array_equal(t["weight"].to_numpy(), csr.data)


@pytest.mark.parametrize("engine", ["trace", "window"])
def test_sparse_kernels_serial_equal_threaded(engine):
    """The threaded and serial versions of the sparse kernels give bit-identical results."""
    from snnsim.kernels._jit import versions
    sp, _ = _pair()
    x, y = _data(T=100)
    out = {}
    for mode in ("serial", "parallel"):
        with versions(mode):
            out[mode] = (sp.forward(x)[1], eprop(sp, x, y, engine=engine, block=40,
                                                 window_mb=0.01)[1])
    np.testing.assert_array_equal(out["serial"][0], out["parallel"][0])
    for name, g in out["serial"][1].items():
        np.testing.assert_array_equal(out["parallel"][1][name], g)


def test_cli_resume_extends_a_sparse_run_bit_identically(config, invoke, read_h5, tmp_path):
    over = {"layer.0.sparse": True, "layer.0.p_in": 0.3, "layer.0.p_rec": 0.3}
    cfg = config("cli_train", over)
    whole, part = tmp_path / "whole.h5", tmp_path / "part.h5"
    invoke("train", cfg, "-o", whole, "--iterations", 4, "-q")
    invoke("train", cfg, "-o", part, "--iterations", 2, "-q")
    invoke("train", "--resume", part, "--iterations", 4, "-q")
    a, b = read_h5(whole), read_h5(part)
    for key in ("weights/hidden.w_in", "weights/hidden.w_rec", "weights/readout.w_out",
                "connectivity/hidden.w_rec/indices", "training/loss"):
        np.testing.assert_array_equal(a[key], b[key])
