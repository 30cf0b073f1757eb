"""The reset convention through the public API: rule defaults, both e-prop engines,
``gradients(reset=)``, ``Trainer(reset=)``, ``[train] reset``.

References: the independent numpy BPTT (``numpy_bptt``) and the forward-mode engine
(itself checked against it in test_oracle_reset.py).
"""
import numpy as np
import pytest

import snnsim
from snnsim import ConfigError
from snnsim.learning import OnlineEprop, bptt, eprop, forward_mode, gradients, run_rule
from snnsim.learning.fidelity import compare
from snnsim.learning.options import DEFAULT_RESET, RuleOptions
from snnsim.trainer import Trainer
from nets import assert_active, make_data, make_net, rel_err
import numpy_bptt
from test_oracle_reset import STACKS, stack


@pytest.mark.parametrize("i", range(len(STACKS)))
def test_deep_eprop_default_equals_bptt_on_feedforward_stack(i):
    net, x, tg = stack(i)
    _, ref, _ = numpy_bptt.gradients(net, x, tg)
    assert rel_err(gradients(net, x, tg, "deep-eprop"), ref) < 1e-10
    assert rel_err(bptt(net, x, tg)[1], ref) < 1e-10
    # the name is the whole promise: with the reset detached it is not BPTT
    assert rel_err(gradients(net, x, tg, "deep-eprop", reset="detach"), ref) > 1e-3


def issue_stack(seed=0, T=60):
    """The issue's setting: 3 feed-forward LIF layers, 20 inputs at 20 % activity, float64."""
    rng = np.random.default_rng(seed)
    layers = [snnsim.Layer([snnsim.LIF(16, tau_m=20.0, v_th=0.3, name=f"l{l}")], recurrent=False,
                           w_in_scale=1.5) for l in range(3)]
    net = snnsim.Network(20, layers, snnsim.Readout(2, tau_out=20.0), dtype="float64", rng=rng)
    x = (rng.random((2, T, 20)) < 0.2).astype(float)
    tg = rng.standard_normal((2, T, 2))
    return net, x, tg


def test_issue_table_deep_eprop_default_is_bptt_per_layer():
    net, x, tg = issue_stack()
    assert_active(net, x)
    _, ref, _ = numpy_bptt.gradients(net, x, tg)
    g = gradients(net, x, tg, "deep-eprop")
    for name in ref:
        cos, rel = compare(g[name], ref[name])
        assert cos > 1 - 1e-12 and rel < 1e-10, name
        assert np.linalg.norm(g[name]) / np.linalg.norm(ref[name]) == pytest.approx(1, abs=1e-10)


def single_layer(seed=5, rec=True, tau_out=10.0, kind="mix"):
    net = make_net(seed, layers=1, kinds=(kind,), recurrent=rec, tau_out=tau_out, t_ref=2.0,
                   sizes=[6])
    x, tg = make_data(seed, T=40)
    assert_active(net, x)
    return net, x, tg


@pytest.mark.parametrize("engine", ["window", "trace"])
@pytest.mark.parametrize("rec", [True, False])
@pytest.mark.parametrize("kind", ["mix", "alif"])   # alif: one shared leak (lazy trace kernel)
def test_eprop_local_one_layer_equals_forward_mode_order0(engine, rec, kind):
    """One layer, symmetric feedback: e-prop == order-0 m-order e-prop of the same convention
    (forward mode), for both engines, several windows/blocks."""
    net, x, tg = single_layer(rec=rec, kind=kind)
    _, gf, _ = forward_mode(net, x, tg, order=0, reset="local")
    for block, mb in ((40, 256.0), (7, 0.0005)):
        _, g, _ = eprop(net, x, tg, engine=engine, reset="local", block=block, window_mb=mb)
        assert rel_err(g, gf) < 1e-10, (block, mb)
    _, gd, _ = eprop(net, x, tg, engine=engine, reset="detach")
    assert rel_err(gd, gf) > 1e-3
    if not rec:   # without lateral weights every path is within the neuron: exact
        _, ref, _ = numpy_bptt.gradients(net, x, tg)
        assert rel_err(gf, ref) < 1e-10


@pytest.mark.parametrize("rule", ["eprop", "deep-eprop-onehop"])
@pytest.mark.parametrize("c_reg", [0.0, 0.5])
def test_eprop_local_window_equals_trace_deep(rule, c_reg):
    net = make_net(6, layers=3, kinds=("mix", "alif", "lif-shared"), delay=True)
    x, tg = make_data(6, T=30)
    assert_active(net, x)
    kw = dict(reset="local", c_reg=c_reg, f_target=20.0)
    gt = gradients(net, x, tg, rule, engine="trace", **kw)
    for block, mb in ((30, 256.0), (4, 0.0004)):
        gw = gradients(net, x, tg, rule, engine="window", block=block, window_mb=mb, **kw)
        assert rel_err(gw, gt) < 1e-10
    assert rel_err(gradients(net, x, tg, rule, engine="trace", reset="detach",
                             c_reg=c_reg, f_target=20.0), gt) > 1e-4


def test_eprop_m1_local_runs_on_forward_mode():
    net = make_net(8, layers=1, kinds=("lif-shared",))
    x, tg = make_data(8, T=20)
    g = gradients(net, x, tg, "eprop-m1")
    assert rel_err(g, forward_mode(net, x, tg, order=1, reset="local")[1]) < 1e-12
    gd = gradients(net, x, tg, "eprop-m1", reset="detach")     # the factorised kernel
    assert rel_err(gd, forward_mode(net, x, tg, order=1, reset="detach")[1]) < 1e-10
    with pytest.raises(ConfigError, match="reset"):
        OnlineEprop(net, 2, order=1, reset="local")


def test_m_order_rules_are_the_forward_mode_engine_on_deep_nets():
    """eprop-m<k> keeps every inter-layer path at every order (like bptt-m<k>): on a deep net
    eprop-m0 is the depth recursion, not e-prop's spatial signal."""
    net = make_net(4, layers=2, kinds=("mix", "alif"))
    x, tg = make_data(4, T=15)
    for m in (0, 1, 2):
        g = gradients(net, x, tg, f"eprop-m{m}")
        assert rel_err(g, forward_mode(net, x, tg, order=m, reset="local")[1]) < 1e-12
        assert rel_err(g, bptt(net, x, tg, order=m, reset="local")[1]) < 1e-10
        assert rel_err(gradients(net, x, tg, f"bptt-m{m}"), g) < 1e-10
    assert rel_err(gradients(net, x, tg, "eprop-m0"), gradients(net, x, tg, "deep-eprop")) < 1e-12


def test_rule_defaults_documented():
    assert RuleOptions().reset_for("eprop") == "detach"
    assert RuleOptions().reset_for("deep-eprop") == "local"
    assert RuleOptions().reset_for("eprop-m3") == "local"
    assert RuleOptions(reset="detach").reset_for("deep-eprop") == "detach"
    assert set(DEFAULT_RESET) >= {"bptt", "bptt-m", "rtrl", "eprop", "eprop-m", "deep-eprop",
                                  "deep-eprop-spatial", "deep-eprop-onehop"}
    net = make_net(0, layers=1)
    x, tg = make_data(0)
    with pytest.raises(ConfigError, match="reset"):
        gradients(net, x, tg, "eprop", reset="none")


def test_onehop_exact_only_without_readout_leak():
    """The one-hop variant equals BPTT with the explicit paths cut (reset detached) for the
    layer just below a LIF layer with a shared leak when tau_out = 0; with a leaky readout it
    pairs psi^t of the upper layer with a kappa-filtered trace and is not exact."""
    for tau_out, exact in ((0.0, True), (10.0, False)):
        net = make_net(8, layers=2, kinds=("mix", "lif-shared"), tau_out=tau_out)
        x, tg = make_data(8, T=25)
        assert_active(net, x)
        gh = gradients(net, x, tg, "deep-eprop-onehop")
        gb = bptt(net, x, tg, order=0, reset="detach")[1]
        err = rel_err({"l": gh["layer0.w_in"]}, {"l": gb["layer0.w_in"]})
        assert (err < 1e-10) if exact else (err > 1e-3), (tau_out, err)


def test_trainer_and_config_take_reset(tmp_path):
    net = make_net(3, layers=2, kinds=("mix", "alif"))
    x, tg = make_data(3, T=15)
    task = lambda rng: snnsim.tasks.TaskData(inputs=x, targets=tg, mask=np.ones(x.shape[:2]),
                                             loss="mse")
    w0 = {k: v.copy() for k, v in net.weights().items()}
    deltas = {}
    for reset in ("detach", "local"):
        net.set_weights(w0)
        tr = Trainer(net, task, optimizer=snnsim.optim.make_optimizer("sgd", lr=1.0),
                            rule="deep-eprop", reset=reset)
        tr.step()
        deltas[reset] = {k: net.weights()[k] - w0[k] for k in w0}
    g = {r: gradients(_with(net, w0), x, tg, "deep-eprop", reset=r) for r in ("detach", "local")}
    for r in ("detach", "local"):
        assert rel_err({k: -v for k, v in deltas[r].items()}, g[r]) < 1e-10
    from snnsim.config import load_config
    from snnsim.config_train import train_options
    toml = tmp_path / "c.toml"
    base = ('[network]\nn_in = 3\n[[layer]]\n[[layer.population]]\ntype = "lif"\nn = 4\n'
            '[task]\nname = "sine_wave"\nn_in = 3\nsteps = 10\n[train]\nrule = "deep-eprop"\n')
    toml.write_text(base + 'reset = "local"\n')
    assert train_options(load_config(toml)).learning.reset == "local"
    toml.write_text(base)
    assert train_options(load_config(toml)).learning.reset is None
    toml.write_text(base + 'reset = "soft"\n')
    with pytest.raises(ConfigError, match="train.reset"):
        load_config(toml)


def _with(net, w):
    net.set_weights(w)
    return net


@pytest.mark.parametrize("rule,kw", [("eprop", {"engine": "window"}), ("eprop", {"engine": "trace"}),
                                      ("deep-eprop-onehop", {"engine": "trace", "c_reg": 0.1}),
                                      ("bptt-m2", {})])
def test_reset_local_serial_equals_threaded(rule, kw):
    """The local specialisations of the threaded kernels and their serial twins agree bit
    for bit (sizes large enough that the default choice would use threads)."""
    from snnsim.kernels._jit import versions
    net = make_net(30, layers=2, kinds=("mix", "lif-shared"), sizes=[12, 9])
    x, tg = make_data(30, T=40, B=6)
    out = {}
    for mode in ("serial", "parallel"):
        with versions(mode):
            out[mode] = gradients(net, x, tg, rule, reset="local", **kw)
    for k in out["serial"]:
        np.testing.assert_array_equal(out["serial"][k], out["parallel"][k], err_msg=k)
