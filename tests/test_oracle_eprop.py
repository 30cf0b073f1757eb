"""Online e-prop kernels against their exact oracles (BPTT with explicit paths cut / truncated)."""
import numpy as np
import pytest

import snnsim
from snnsim.learning import bptt, eprop, run_rule
from nets import assert_active, make_data, make_net, rel_err


@pytest.mark.parametrize("seed,kinds,loss,t_ref", [
    (0, ("lif",), "mse", 0.0), (1, ("alif",), "ce", 0.0), (2, ("mix",), "mse", 3.0),
    (3, ("mix",), "ce", 0.0)])
@pytest.mark.parametrize("block", [1, 7, 100])
def test_symmetric_eprop_equals_bptt_with_recurrence_cut(seed, kinds, loss, t_ref, block):
    net = make_net(seed, layers=1, kinds=kinds, t_ref=t_ref)
    x, tg = make_data(seed, T=30, loss=loss)
    assert_active(net, x)
    le, ge, y = eprop(net, x, tg, loss=loss, block=block)
    lb, gb, yb = bptt(net, x, tg, loss=loss, order=0)
    assert le == pytest.approx(lb, rel=1e-12)
    np.testing.assert_allclose(y, yb, rtol=0, atol=1e-12)
    assert rel_err(ge, gb) < 1e-10
    _, full, _ = bptt(net, x, tg, loss=loss)
    assert rel_err(ge, full) > 1e-3   # e-prop is an approximation of the full gradient


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("tau_out", [0.0, 10.0])
def test_eprop_m1_kernel_equals_hop_truncated_bptt(loss, tau_out):
    net = make_net(7, layers=1, kinds=("lif-shared",), tau_out=tau_out)
    x, tg = make_data(7, T=30, loss=loss)
    assert_active(net, x)
    _, g1, _ = eprop(net, x, tg, loss=loss, order=1, block=9)
    _, gb, _ = bptt(net, x, tg, loss=loss, order=1)
    assert rel_err(g1, gb) < 1e-10
    _, g0, _ = bptt(net, x, tg, loss=loss, order=0)
    assert rel_err(g0, gb) > 1e-3


@pytest.mark.parametrize("delay", [False, True])
def test_onehop_deep_eprop_exact_below_lif_layer_with_shared_leak(delay):
    net = make_net(8, layers=2, kinds=("mix", "lif-shared"), delay=delay, tau_out=0.0)
    x, tg = make_data(8, T=25)
    assert_active(net, x)
    _, gh, _ = run_rule(net, x, tg, "deep-eprop-onehop")
    _, gb, _ = bptt(net, x, tg, order=0)
    assert rel_err(gh, gb) < 1e-10
    _, gs, _ = run_rule(net, x, tg, "deep-eprop-spatial")
    assert rel_err(gs, gb) > 1e-3   # the spatial-only variant is an approximation


def test_top_layer_identical_across_deep_variants():
    net = make_net(9, layers=3, kinds=("mix", "alif", "mix"))
    x, tg = make_data(9, T=20)
    _, gb, _ = bptt(net, x, tg, order=0)
    for rule in ("eprop", "deep-eprop-onehop", "deep-eprop"):
        _, g, _ = run_rule(net, x, tg, rule, reset="detach")   # the convention of order=0 above
        for name in ("layer2.w_in", "layer2.w_rec", "readout.w_out"):
            assert np.linalg.norm(g[name] - gb[name]) <= 1e-10 * np.linalg.norm(gb[name])


def test_random_and_adaptive_feedback():
    net = make_net(10, layers=1, kinds=("mix",))
    x, tg = make_data(10, T=20)
    rng = np.random.default_rng(0)
    _, gr, _ = run_rule(net, x, tg, "eprop", feedback="random", rng=rng)
    _, gs, _ = run_rule(net, x, tg, "eprop")
    np.testing.assert_allclose(gr["readout.w_out"], gs["readout.w_out"], rtol=1e-12)
    assert rel_err(gr, gs) > 1e-3
    # random feedback equal to W_out reproduces symmetric e-prop
    learner = snnsim.learning.OnlineEprop(net, 2, feedback="adaptive", rng=np.random.default_rng(1))
    learner.feedback_w[...] = net.w_out
    state = net.init_state(2)
    blocks, y = net.run_block(state, x)
    _, err = snnsim.learning.loss_and_error(y, tg, None, "mse")
    learner.process_block(blocks, err)
    assert rel_err(learner.grads(), gs) < 1e-12
    with pytest.raises(snnsim.ConfigError, match="feedback"):
        run_rule(net, x, tg, "bptt", feedback="random", rng=rng)


def test_firing_rate_regularisation_gradient_direction():
    net = make_net(11, layers=1, kinds=("lif",))
    x, tg = make_data(11, T=40)
    _, g0, _ = eprop(net, x, tg)
    _, g_lo, _ = eprop(net, x, tg, c_reg=1.0, f_target=0.0)   # too active -> push rates down
    learner_dir = g_lo["layer0.w_in"] - g0["layer0.w_in"]
    # descending the regularisation gradient must lower the rates
    before = net.forward(x)[0][0].z.mean()
    net.w_in[0] -= 0.05 * learner_dir / np.abs(learner_dir).max()
    after = net.forward(x)[0][0].z.mean()
    assert after < before


@pytest.mark.parametrize("kinds,c_reg", [(("lif",), 0.0), (("alif",), 0.5), (("lif-shared",), 0.1)])
@pytest.mark.parametrize("block", [1, 13, 200])
def test_lazy_kernel_equals_dense_kernel(kinds, c_reg, block):
    """The activity-proportional kernel (shared leak, psi = 0 rows skipped) == the dense one."""
    net = make_net(12, layers=1, kinds=kinds)
    x, tg = make_data(12, T=60)
    blocks, _ = net.forward(x)
    assert 0.0 < np.mean(blocks[0].psi == 0) < 1.0      # both code paths are exercised
    kw = dict(block=block, c_reg=c_reg, f_target=5.0, engine="trace")
    _, g_lazy, _ = eprop(net, x, tg, **kw)
    _, g_dense, _ = eprop(net, x, tg, lazy=False, **kw)
    assert rel_err(g_lazy, g_dense) < 1e-12
    learner = snnsim.learning.OnlineEprop(net, 2, engine="trace")
    assert learner.engine.traces[0].lazy and learner.engine.traces[0].ev.shape == (2, net.n_in + net.sizes[0])
