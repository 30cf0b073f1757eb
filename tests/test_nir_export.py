"""snnsim export-nir: a trained LIF network written as a NIR graph and read back with nir.read.

Skipped (with the reason) when the ``nir`` package is not installed (pip install 'snnsim[nir]').
"""
import json

import h5py
import numpy as np
import pytest

from snnsim.nir_export import load_trained, to_nir

nir = pytest.importorskip("nir", reason="nir is not installed (pip install 'snnsim[nir]')")


def train(tmp_path, config, invoke, type1="lif", **extra):
    """Train tests/configs/nir_train.toml, its population "slow" of this type and with the
    ``extra`` parameters; the path of the HDF5 file."""
    slow = {f"layer.0.population.1.{k}": v for k, v in dict(type=type1, **extra).items()}
    cfg = config("nir_train", slow, filename="c.toml")
    out = tmp_path / "train.h5"
    res = invoke("train", cfg, "-o", out, "-q", "--overwrite")
    assert res.exit_code == 0, res.output
    return out


def simulate_graph(g, x, dt):
    """Step the NIR graph with our discretisation (exact exp integration, reset by
    subtraction as snnsim does; NIR itself would reset to v_reset)."""
    edges = set(map(tuple, g.edges))
    preds = {k: [a for a, b in edges if b == k] for k in g.nodes}
    lifs = [k for k, n in g.nodes.items() if isinstance(n, nir.LIF)]
    cyclic = {k for k in g.nodes if preds[k] and (k, preds[k][0]) in edges}   # <l>.w_rec
    v = {k: 0.0 for k in lifs}
    z = {k: np.zeros(len(g.nodes[k].tau)) for k in lifs}
    delayed = {k: np.zeros((x.shape[0], len(n.delay))) for k, n in g.nodes.items()
               if isinstance(n, nir.Delay)}
    li = g.nodes["readout"]
    y, ys = 0.0, []
    for t in range(x.shape[1]):
        out, z_prev = {"input": x[:, t]}, dict(z)

        def value(k):   # output of node k at step t; a cycle carries the previous step's spikes
            if k not in out:
                node, src = g.nodes[k], preds[k][0]
                if isinstance(node, nir.Linear):
                    out[k] = (z_prev[src] if k in cyclic else value(src)) @ node.weight.T
                elif isinstance(node, nir.Delay):
                    out[k], delayed[k] = delayed[k], value(src)
                elif isinstance(node, nir.LIF):
                    alpha = np.exp(-dt / node.tau)
                    current = sum(value(p) for p in preds[k])
                    v[k] = alpha * v[k] + node.r * (1 - alpha) * current - node.v_threshold * z[k]
                    z[k] = (v[k] >= node.v_threshold).astype(float)
                    out[k] = z[k]
            return out[k]

        kappa = np.exp(-dt / li.tau)
        y = kappa * y + li.r * (1 - kappa) * value(preds["readout"][0])
        ys.append(y)
    return np.stack(ys, axis=1)


def test_export_reads_back_with_weights_parameters_and_dynamics(tmp_path, config, invoke):
    h5 = train(tmp_path, config, invoke)
    out = tmp_path / "net.nir"
    res = invoke("export-nir", h5, "-o", out)
    assert res.exit_code == 0, res.output
    assert "1 Delay" in res.output and "2 LIF" in res.output
    g = nir.read(out)
    kinds = {k: type(n).__name__ for k, n in g.nodes.items()}
    assert kinds == {"input": "Input", "l0.w_in": "Linear", "l0": "LIF", "l0.w_rec": "Linear",
                     "l1.delay": "Delay", "l1.w_in": "Linear", "l1": "LIF", "l1.w_rec": "Linear",
                     "readout.w_out": "Linear", "readout": "LI", "output": "Output"}
    assert set(map(tuple, g.edges)) == {
        ("input", "l0.w_in"), ("l0.w_in", "l0"), ("l0", "l0.w_rec"), ("l0.w_rec", "l0"),
        ("l0", "l1.delay"), ("l1.delay", "l1.w_in"), ("l1.w_in", "l1"), ("l1", "l1.w_rec"),
        ("l1.w_rec", "l1"), ("l1", "readout.w_out"), ("readout.w_out", "readout"),
        ("readout", "output")}
    net, _, group = load_trained(h5)
    assert group == "weights"
    with h5py.File(h5, "r") as f:
        trained = {k: f["weights"][k][()] for k in f["weights"]}
    dt = float(g.metadata["dt"])          # NIR times in seconds
    assert dt == net.dt * 1e-3 and g.metadata["time_unit"] == "s"
    # ours (pre, post), NIR's (out, in); the input resistance r = zeta / (1 - alpha) of the
    # post neuron (readout: 1 / (1 - kappa)) is folded into the rows, the nodes have r = 1
    gain = {}
    for l, layer in enumerate(net.layers):
        p = layer.params(net.dt, np.float64)
        gain[layer.name] = p["zeta"] / (1 - p["alpha"])
    gain["readout"] = 1 / (1 - net.kappa)
    for name, w in trained.items():
        post = name.rsplit(".", 1)[0]
        np.testing.assert_allclose(g.nodes[name].weight, gain[post][:, None] * w.T, rtol=1e-12)
    for l, layer in enumerate(net.layers):
        p = layer.params(net.dt, np.float64)
        node = g.nodes[layer.name]
        np.testing.assert_allclose(np.exp(-dt / node.tau), p["alpha"], rtol=1e-15)
        np.testing.assert_allclose(gain[layer.name] * (1 - np.exp(-dt / node.tau)), p["zeta"],
                                   rtol=1e-14)
        np.testing.assert_array_equal(node.r, 1.0)
        np.testing.assert_array_equal(node.v_threshold, p["v_th"])
        assert not node.v_leak.any() and not node.v_reset.any()
    np.testing.assert_allclose(g.nodes["l0"].tau, [0.010] * 6 + [0.030] * 5, rtol=1e-15)
    np.testing.assert_allclose(gain["l0"][6:], 1.0)        # regular_spike_arrival = false
    np.testing.assert_allclose(np.exp(-dt / g.nodes["readout"].tau), net.kappa)
    np.testing.assert_array_equal(g.nodes["l1.delay"].delay, np.full(11, dt))
    # the graph, stepped with our discretisation, reproduces the network's readout
    rng = np.random.default_rng(0)
    x = (rng.random((2, 150, 40)) < 0.1).astype(float)
    _, y = net.forward(x)
    assert y.std() > 0
    np.testing.assert_allclose(simulate_graph(g, x, dt), y, rtol=1e-9, atol=1e-12)
    # an existing output is refused
    res = invoke("export-nir", h5, "-o", out)
    assert res.exit_code == 2 and "already exists" in res.output


def test_checkpoint_weights_when_the_run_did_not_finish(tmp_path, config, invoke):
    h5 = train(tmp_path, config, invoke)
    with h5py.File(h5, "r+") as f:   # as a run killed before its end: checkpoint, no /weights
        del f["checkpoint"]
        f.copy("weights", "checkpoint/weights")
        w = f["weights/l0.w_in"][()]
        del f["weights"]
    net, _, group = load_trained(h5)
    assert group == "checkpoint/weights"
    gain = net.params[0]["zeta"] / (1 - net.params[0]["alpha"])
    np.testing.assert_allclose(to_nir(net).nodes["l0.w_in"].weight, gain[:, None] * w.T, rtol=1e-12)


@pytest.mark.parametrize("type1,extra,field", [
    ("alif", {"beta": 0.5}, "layer[0].population[1].beta: an adaptive threshold"),
    ("lif", {"t_ref": 2.0}, "layer[0].population[1].t_ref: refractoriness"),
])
def test_what_nir_cannot_express_is_refused_naming_the_field(tmp_path, type1, extra, field, config,
                                                             invoke):
    h5 = train(tmp_path, config, invoke, type1, **extra)
    res = invoke("export-nir", h5, "-o", tmp_path / "n.nir")
    assert res.exit_code == 2
    assert res.output.startswith(f"Error: {field}") and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "n.nir").exists() and not list(tmp_path.glob(".n.nir*"))


def test_alif_with_zero_beta_is_a_lif_and_exports(tmp_path, config, invoke):
    h5 = train(tmp_path, config, invoke, "alif", beta=0.0)
    res = invoke("export-nir", h5, "-o", tmp_path / "n.nir", "-q")
    assert res.exit_code == 0, res.output
    assert json.loads(h5py.File(h5, "r").attrs["config"])["layer"][0]["population"][1]["type"] == "alif"
    assert isinstance(nir.read(tmp_path / "n.nir").nodes["l0"], nir.LIF)
