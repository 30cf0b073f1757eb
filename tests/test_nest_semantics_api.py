"""NEST/TF semantics through the public API: Readout(regular_spike_arrival=False), Adam's
epsilon placement, per-parameter-group learning rates.

Readout oracle: the independent numpy BPTT (``numpy_bptt``, own forward with
y = kappa y + (1 - kappa) W z) and torch autograd when installed.
"""
import numpy as np
import pytest

import snnsim
from snnsim import ConfigError
from snnsim.learning import gradients
from snnsim.optim import Adam, SGD, make_optimizer
from nets import assert_active, make_data, rel_err
import numpy_bptt

try:
    import torch  # noqa: F401
    from snnsim.learning.torch_reference import torch_loss
except ImportError:
    torch_loss = None


def net_nest_readout(seed, layers=2, recurrent=True):
    rng = np.random.default_rng(seed)
    ls = [snnsim.Layer([snnsim.LIF(4, tau_m=15.0, v_th=0.3),
                        snnsim.ALIF(3, tau_m=20.0, v_th=0.3, beta=0.4, tau_a=30.0)],
                       recurrent=recurrent, w_in_scale=0.8) for _ in range(layers)]
    net = snnsim.Network(3, ls, snnsim.Readout(2, tau_out=10.0, regular_spike_arrival=False),
                         dtype="float64", rng=rng)
    x, tg = make_data(seed, T=25)
    assert_active(net, x)
    return net, x, tg


def test_readout_without_regular_spike_arrival_forward():
    net, x, _ = net_nest_readout(1)
    _, y_ref = numpy_bptt.simulate(net, x)
    _, y = net.forward(x)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-13)
    kappa = net.kappa[0]
    # the scale is really (1 - kappa): with the default readout y is 1 / (1 - kappa) larger
    net.readout.regular_spike_arrival = True
    _, y1 = net.forward(x)
    np.testing.assert_allclose(y1 * (1 - kappa), y, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("rule", ["bptt", "rtrl", "eprop-m30"])
def test_exact_rules_with_scaled_readout(rule):
    net, x, tg = net_nest_readout(2)
    _, ref, _ = numpy_bptt.gradients(net, x, tg)
    assert rel_err(gradients(net, x, tg, rule), ref) < 1e-10


def test_deep_eprop_and_eprop_with_scaled_readout():
    net, x, tg = net_nest_readout(3, layers=3, recurrent=False)
    _, ref, _ = numpy_bptt.gradients(net, x, tg)
    assert rel_err(gradients(net, x, tg, "deep-eprop"), ref) < 1e-10
    net1, x1, tg1 = net_nest_readout(4, layers=1, recurrent=False)
    _, ref1, _ = numpy_bptt.gradients(net1, x1, tg1)
    for engine in ("window", "trace"):   # one feed-forward layer, reset local: exact
        g = gradients(net1, x1, tg1, "eprop", engine=engine, reset="local")
        assert rel_err(g, ref1) < 1e-10
    # recurrent layer, reset detach: e-prop == BPTT with the explicit paths cut
    net2, x2, tg2 = net_nest_readout(5, layers=1)
    g0 = gradients(net2, x2, tg2, "bptt-m0", reset="detach")
    for engine in ("window", "trace"):
        assert rel_err(gradients(net2, x2, tg2, "eprop", engine=engine), g0) < 1e-10


@pytest.mark.skipif(torch_loss is None, reason="torch not installed")
def test_scaled_readout_matches_torch():
    net, x, tg = net_nest_readout(6)
    lt, gt = torch_loss(net, x, tg, "mse")
    _, ref, _ = numpy_bptt.gradients(net, x, tg)
    assert rel_err(gt, ref) < 1e-10
    assert rel_err(gradients(net, x, tg, "bptt"), gt) < 1e-10


def test_config_readout_flag(tmp_path):
    from snnsim.config import build_network, load_config
    toml = tmp_path / "c.toml"
    toml.write_text('[network]\nn_in = 2\n[[layer]]\n[[layer.population]]\ntype = "lif"\nn = 3\n'
                    '[readout]\nn = 1\nregular_spike_arrival = false\n'
                    '[task]\nname = "sine_wave"\nn_in = 2\nsteps = 10\n')
    assert build_network(load_config(toml)).readout.regular_spike_arrival is False
    toml.write_text(toml.read_text().replace("false", '"no"'))
    with pytest.raises(ConfigError, match="readout.regular_spike_arrival"):
        load_config(toml)


def tf_adam(grads, lr, b1, b2, eps):
    """TensorFlow's Adam (tf.keras.optimizers.Adam / NEST e-prop), written from its formula."""
    m = v = 0.0
    w = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        w = w - lr_t * m / (np.sqrt(v) + eps)
        out.append(w)
    return np.array(out)


def test_adam_eps_placement():
    rng = np.random.default_rng(0)
    gs = rng.standard_normal((6, 3, 2)) * 1e-3     # small gradients: eps matters
    for eps_on in ("v", "v_hat"):
        opt = Adam(lr=0.1, eps=1e-3, eps_on=eps_on)
        w = {"a": np.zeros((3, 2))}
        traj = []
        for g in gs:
            opt.step(w, {"a": g})
            traj.append(w["a"].copy())
        traj = np.array(traj)
        tf = tf_adam(gs, 0.1, 0.9, 0.999, 1e-3)
        if eps_on == "v":
            np.testing.assert_allclose(traj, tf, rtol=1e-12, atol=1e-15)
        else:
            assert np.max(np.abs(traj - tf)) > 1e-3 * np.max(np.abs(tf))
    with pytest.raises(ConfigError, match="optimizer.eps_on"):
        Adam(eps_on="m")


def test_learning_rates_per_group():
    w = {"layer0.w_in": np.zeros(2), "layer0.w_rec": np.zeros(2), "readout.w_out": np.zeros(2)}
    g = {k: np.ones(2) for k in w}
    opt = SGD(lr={"default": 0.1, "w_out": 0.5, "layer0.w_rec": 0.01})
    opt.step(w, g)
    np.testing.assert_allclose(w["layer0.w_in"], -0.1)
    np.testing.assert_allclose(w["layer0.w_rec"], -0.01)
    np.testing.assert_allclose(w["readout.w_out"], -0.5)
    adam = make_optimizer("adam", lr={"w_in": 1e-3, "default": 1e-2})
    w2 = {k: np.zeros(2) for k in w}
    adam.step(w2, g)
    np.testing.assert_allclose(w2["layer0.w_in"], -1e-3, rtol=1e-6)
    np.testing.assert_allclose(w2["readout.w_out"], -1e-2, rtol=1e-6)
    with pytest.raises(ConfigError, match="optimizer.lr"):
        SGD(lr={"layer9.w_in": 0.1, "default": 0.1}).step(w, g)
    with pytest.raises(ConfigError, match="optimizer.lr"):
        SGD(lr={"w_in": 0.1}).step(w, g)          # no rate for w_rec / w_out
    with pytest.raises(ConfigError, match="optimizer.lr.w_in"):
        SGD(lr={"w_in": -1.0})


def test_config_optimizer_options(tmp_path):
    from snnsim.config import build_network, load_config
    from snnsim.config_train import make_trainer
    base = ('[network]\nn_in = 2\n[[layer]]\n[[layer.population]]\ntype = "lif"\nn = 3\n'
            '[task]\nname = "sine_wave"\nn_in = 2\nsteps = 10\n[train]\n')
    toml = tmp_path / "c.toml"
    toml.write_text(base + 'eps_on = "v"\n[train.lr]\ndefault = 0.01\nw_out = 0.1\n')
    cfg = load_config(toml)
    tr = make_trainer(cfg, build_network(cfg))
    assert tr.optimizer.eps_on == "v"
    assert tr.optimizer.rate("readout.w_out") == 0.1 and tr.optimizer.rate("layer0.w_in") == 0.01
    for bad, field in (('optimizer = "sgd"\neps_on = "v"\n', "train.eps_on"),
                       ('eps_on = "m"\n', "train.eps_on"),
                       ('[train.lr]\nw_in = -1.0\n', "train.lr.w_in")):
        toml.write_text(base + bad)
        with pytest.raises(ConfigError, match=field):
            load_config(toml)
