"""NIR export of a readout without regular spike arrival (y = kappa y + (1 - kappa) W z):
the LI node's R carries the scale, and the graph reproduces the network's readout."""
import numpy as np
import pytest
from click.testing import CliRunner

from snnsim.cli.main import cli
from snnsim.nir_export import load_trained

nir = pytest.importorskip("nir", reason="nir is not installed (pip install 'snnsim[nir]')")
from test_nir_export import CONFIG, simulate_graph  # noqa: E402


def test_scaled_readout_exports(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(type1="lif", extra="").replace(
        "tau_out = 25.0", "tau_out = 25.0\nregular_spike_arrival = false"))
    h5, out = tmp_path / "t.h5", tmp_path / "net.nir"
    for args in (["train", str(cfg), "-o", str(h5), "-q"], ["export-nir", str(h5), "-o", str(out)]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0, res.output
    g = nir.read(out)
    net, _, _ = load_trained(h5)
    assert net.readout.regular_spike_arrival is False
    np.testing.assert_allclose(g.nodes["readout"].r, 1.0)      # c / (1 - kappa) = 1
    dt = float(g.metadata["dt"])
    x = (np.random.default_rng(0).random((2, 120, 40)) < 0.1).astype(float)
    _, y = net.forward(x)
    assert y.std() > 0
    np.testing.assert_allclose(simulate_graph(g, x, dt), y, rtol=1e-9, atol=1e-12)
