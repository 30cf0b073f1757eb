"""Random and adaptive feedback in every layer (no weight transport at any depth).

Oracle: a numpy e-prop written here from the equations (traces eps_v, eps_a, e, the readout
filter kappa and the optional one-step delay of the signal pairing), fed with learning signals
built from the same feedback matrices: L^L = err B_top^T, L^{l-1} = (L^l psi^l zeta^l) B_l^T.
"""
import numpy as np
import pytest

from snnsim import ConfigError
from snnsim.learning import OnlineEprop, gradients
from snnsim.learning.loss import loss_and_error
from snnsim.optim import make_optimizer
from snnsim.tasks import TaskData
from snnsim.trainer import Trainer
from nets import assert_active, make_data, make_net, rel_err


def numpy_eprop(net, x, tg, fb_top, fb_in):
    """e-prop (reset detach, spatial depth) with the given feedback matrices; MSE loss."""
    blocks, y = net.forward(x)
    _, err = loss_and_error(y, tg, None, "mse")
    kappa = float(net.kappa[0])
    L = len(net.layers)
    sig = [None] * L
    sig[-1] = err @ fb_top.T
    for l in range(L - 1, 0, -1):
        sig[l - 1] = (sig[l] * blocks[l].psi * net.params[l]["zeta"]) @ fb_in[l].T
    grads = {}
    for l, layer in enumerate(net.layers):
        p, blk = net.params[l], blocks[l]
        rec = net.w_rec[l] is not None
        pre = np.concatenate([blk.pre, blk.z_prev], axis=2) if rec else blk.pre
        B, T, n = blk.psi.shape
        ev = np.zeros((B, n, pre.shape[2]))
        ea = np.zeros_like(ev)
        e_old = np.zeros_like(ev)
        eb = np.zeros_like(ev)
        g = np.zeros_like(ev)
        pp = np.zeros((B, n))
        delay = l < L - 1 and net.layers[l + 1].delay
        for t in range(T):
            ea = pp[:, :, None] * ev + (p["rho"] - pp * p["beta"])[:, :, None] * ea
            ev = p["alpha"][None, :, None] * ev + p["zeta"][None, :, None] * pre[:, t][:, None, :]
            e = blk.psi[:, t][:, :, None] * (ev - p["beta"][None, :, None] * ea)
            eb = kappa * eb + (e_old if delay else e)
            g += sig[l][:, t][:, :, None] * eb
            e_old, pp = e, blk.psi[:, t]
        G = g.sum(0)
        n_in = blk.pre.shape[2]
        grads[f"{layer.name}.w_in"] = G[:, :n_in].T
        if rec:
            grads[f"{layer.name}.w_rec"] = G[:, n_in:].T
    for k, m in net.masks().items():
        if m is not None and k in grads:
            grads[k] = grads[k] * m
    return grads


@pytest.mark.parametrize("engine", ["window", "trace"])
@pytest.mark.parametrize("delay", [False, True])
def test_random_feedback_every_layer_matches_numpy(engine, delay):
    net = make_net(12, layers=3, kinds=("mix", "alif", "lif"), delay=delay)
    x, tg = make_data(12, T=25)
    assert_active(net, x)
    learner = OnlineEprop(net, x.shape[0], feedback="random", engine=engine,
                          rng=np.random.default_rng(3))
    mats = learner.feedback_matrices()
    assert set(mats) == {"readout.w_out", "layer1.w_in", "layer2.w_in"}
    for l in (1, 2):   # not the forward weights
        assert mats[f"layer{l}.w_in"] is not net.w_in[l]
        assert mats[f"layer{l}.w_in"].shape == net.w_in[l].shape
    g = gradients(net, x, tg, "eprop", feedback="random", engine=engine,
                  rng=np.random.default_rng(3))
    ref = numpy_eprop(net, x, tg, mats["readout.w_out"],
                      [None, mats["layer1.w_in"], mats["layer2.w_in"]])
    for name in ref:
        assert rel_err({name: g[name]}, {name: ref[name]}) < 1e-10, name
    # the lower layers' signals really differ from weight transport
    g_sym = gradients(net, x, tg, "eprop", engine=engine)
    ref_top_only = numpy_eprop(net, x, tg, mats["readout.w_out"], [None] + net.w_in[1:])
    assert rel_err({"a": g["layer0.w_in"]}, {"a": ref_top_only["layer0.w_in"]}) > 1e-3
    assert rel_err({"a": g_sym["layer0.w_in"]}, {"a": g["layer0.w_in"]}) > 1e-3


def test_feedback_passed_as_argument_reproduces_symmetric():
    net = make_net(13, layers=2, kinds=("mix", "alif"))
    x, tg = make_data(13, T=20)
    fb = {"readout.w_out": net.w_out, "layer1.w_in": net.w_in[1]}
    learner = OnlineEprop(net, 2, feedback="random", feedback_w=fb)
    np.testing.assert_array_equal(learner.feedback_matrices()["layer1.w_in"], net.w_in[1])
    learner.run(x, tg, np.ones(x.shape[:2]), "mse")
    g = learner.pop_grads()
    assert rel_err(g, gradients(net, x, tg, "eprop")) < 1e-10
    with pytest.raises(ConfigError, match="feedback_w.layer9"):
        OnlineEprop(net, 2, feedback="random", feedback_w={"layer9.w_in": net.w_in[1]})
    with pytest.raises(ConfigError, match="feedback_w.layer1.w_in"):
        OnlineEprop(net, 2, feedback="random", feedback_w={"layer1.w_in": np.zeros((2, 2))},
                    rng=np.random.default_rng(0))


def test_adaptive_feedback_follows_updates_and_checkpoints():
    net = make_net(14, layers=2, kinds=("mix", "alif"))
    x, tg = make_data(14, T=15)
    task = lambda rng: TaskData(inputs=x, targets=tg, mask=np.ones(x.shape[:2]), loss="mse")
    tr = Trainer(net, task, optimizer=make_optimizer("sgd", lr=0.1), rule="eprop",
                 feedback="adaptive", seed=2)
    before = {k: v.copy() for k, v in tr.learner.feedback_matrices().items()}
    w0 = {k: v.copy() for k, v in net.weights().items()}
    tr.step()
    after = tr.learner.feedback_matrices()
    for name in before:
        np.testing.assert_allclose(after[name] - before[name], net.weights()[name] - w0[name],
                                   rtol=1e-12, atol=1e-15)
    arrays, meta = tr.state()
    assert "feedback/layer1.w_in" in arrays and "feedback/B" in arrays
    tr2 = Trainer(make_net(14, layers=2, kinds=("mix", "alif")), task,
                  optimizer=make_optimizer("sgd", lr=0.1), rule="eprop", feedback="adaptive",
                  seed=99)
    tr2.load_state(arrays, meta)
    for name, b in tr2.learner.feedback_matrices().items():
        np.testing.assert_array_equal(b, after[name])
    tr.step()
    tr2.step()
    for name, w in net.weights().items():
        np.testing.assert_array_equal(tr2.net.weights()[name], w)


def test_trainer_takes_feedback_matrices():
    net = make_net(15, layers=2, kinds=("mix", "alif"))
    x, tg = make_data(15, T=10)
    task = lambda rng: TaskData(inputs=x, targets=tg, mask=np.ones(x.shape[:2]), loss="mse")
    fb = {"readout.w_out": np.full(net.w_out.shape, 0.3), "layer1.w_in": np.full(net.w_in[1].shape, -0.2)}
    tr = Trainer(net, task, rule="eprop", feedback="random", feedback_w=fb)
    for k, b in tr.learner.feedback_matrices().items():
        np.testing.assert_array_equal(b, fb[k])
        assert b is not fb[k]                       # copied
    with pytest.raises(ConfigError, match="feedback_w"):
        Trainer(net, task, rule="bptt", feedback_w=fb)
    with pytest.raises(ConfigError, match="feedback_w"):
        Trainer(net, task, rule="eprop", feedback_w=fb)      # symmetric feedback
