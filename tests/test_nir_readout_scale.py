"""NIR export of a readout without regular spike arrival (y = kappa y + (1 - kappa) W z):
the scale c / (1 - kappa) is folded into the readout's Linear rows (the LI node has r = 1),
and the graph reproduces the network's readout."""
import numpy as np
import pytest

from snnsim.nir_export import load_trained

nir = pytest.importorskip("nir", reason="nir is not installed (pip install 'snnsim[nir]')")
from test_nir_export import simulate_graph  # noqa: E402


def test_scaled_readout_exports(tmp_path, config, invoke):
    cfg = config("nir_train", {"readout.regular_spike_arrival": False}, filename="c.toml")
    h5, out = tmp_path / "t.h5", tmp_path / "net.nir"
    for args in (["train", cfg, "-o", h5, "-q"], ["export-nir", h5, "-o", out]):
        res = invoke(*args)
        assert res.exit_code == 0, res.output
    g = nir.read(out)
    net, _, _ = load_trained(h5)
    assert net.readout.regular_spike_arrival is False
    np.testing.assert_allclose(g.nodes["readout"].r, 1.0)
    kappa = float(net.readout.kappa(net.dt)[0])
    np.testing.assert_allclose(g.nodes["readout.w_out"].weight,
                               net.w_out.T.astype(np.float64), rtol=1e-12)   # c / (1 - kappa) = 1
    assert kappa > 0
    dt = float(g.metadata["dt"])
    x = (np.random.default_rng(0).random((2, 120, 40)) < 0.1).astype(float)
    _, y = net.forward(x)
    assert y.std() > 0
    np.testing.assert_allclose(simulate_graph(g, x, dt), y, rtol=1e-9, atol=1e-12)
