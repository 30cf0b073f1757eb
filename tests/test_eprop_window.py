"""The window engine of e-prop against the per-step trace kernels (same gradient to rounding)."""
import numpy as np
import pytest

import snnsim
from snnsim.learning import OnlineEprop, bptt, eprop, loss_and_error
from snnsim.learning.loss import window_mask
from snnsim.optim import make_optimizer
from snnsim.tasks import TaskData
from snnsim.trainer import Trainer
from nets import assert_active, make_data, make_net, rel_err


def window_mb_for(net, batch, steps):
    """The window_mb that gives windows of ``steps`` steps for this network and batch."""
    learner = OnlineEprop(net, batch)
    per_step = sum(w.bytes_per_step() for w in learner.engine.windows)
    return (steps + 0.5) * per_step / 2 ** 20


def run_learner(net, x, tg, *, engine, window=None, block=256, loss="mse", **kw):
    B, T, _ = x.shape
    mb = 256.0 if window is None else window_mb_for(net, B, window)
    learner = OnlineEprop(net, B, engine=engine, window_mb=mb, **kw)
    total, y = learner.run(x, tg, window_mask(None, B, T), loss, block=block)
    return total, learner.grads(), y, learner


CASES = [(1, ("lif",), False), (1, ("alif",), False), (1, ("lif-shared",), False),
         (1, ("mix",), False), (2, ("mix", "alif"), False), (2, ("alif", "lif-shared"), True),
         (3, ("mix", "lif", "alif"), True)]


@pytest.mark.parametrize("layers,kinds,delay,depth",
                         [c + ("spatial",) for c in CASES] + [c + ("onehop",) for c in CASES if c[0] > 1])
@pytest.mark.parametrize("window,block", [(None, 256), (None, 7), (7, 7), (10, 4), (1, 1)])
@pytest.mark.parametrize("c_reg", [0.0, 0.3])
def test_window_engine_equals_trace_engine(layers, kinds, delay, depth, window, block, c_reg):
    net = make_net(20, layers=layers, kinds=kinds, delay=delay)
    x, tg = make_data(20, T=37)
    assert_active(net, x)
    kw = dict(depth=depth, c_reg=c_reg, f_target=7.0)
    lt, gt, yt, _ = run_learner(net, x, tg, engine="trace", block=block, lazy=False, **kw)
    lw, gw, yw, learner = run_learner(net, x, tg, engine="window", window=window, block=block, **kw)
    assert learner.opts.windowed
    assert lw == lt
    np.testing.assert_array_equal(yw, yt)
    assert rel_err(gw, gt) < 1e-12
    if c_reg:
        assert learner.reg_loss > 0


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_window_engine_equals_bptt_with_recurrence_cut(loss):
    net = make_net(3, layers=1, kinds=("mix",), t_ref=2.0)
    x, tg = make_data(3, T=50, loss=loss)
    _, gw, _ = eprop(net, x, tg, loss=loss, engine="window")
    _, gb, _ = bptt(net, x, tg, loss=loss, order=0)
    assert rel_err(gw, gb) < 1e-10
    _, gs, _ = eprop(net, x, tg, loss=loss, engine="window", window_mb=window_mb_for(net, 2, 3))
    assert rel_err(gs, gb) < 1e-10


def test_window_memory_is_bounded_by_window_mb():
    net = make_net(4, layers=2)
    x, tg = make_data(4, T=200)
    _, ref, _ = eprop(net, x, tg, engine="trace", block=8)
    learner = OnlineEprop(net, 2, window_mb=window_mb_for(net, 2, 16))
    state, most = net.init_state(2), 0
    for t0 in range(0, 200, 8):
        blocks, y = net.run_block(state, x[:, t0:t0 + 8])
        _, err = loss_and_error(y, tg[:, t0:t0 + 8], None, "mse")
        learner.process_block(blocks, err)
        most = max(most, max(w.k for w in learner.engine.windows))
    assert most == 16 and all(w.carried for w in learner.engine.windows)
    assert rel_err(learner.grads(), ref) < 1e-12


def test_sequences_accumulate_and_zero_grad_keeps_traces():
    """Two sequences without grads() in between; zero_grad in the middle of a window."""
    net = make_net(5, layers=2, kinds=("alif", "mix"))
    x, tg = make_data(5, T=30)
    mask = window_mask(None, 2, 30)
    res = {}
    for engine in ("trace", "window"):
        learner = OnlineEprop(net, 2, engine=engine, lazy=False, c_reg=0.2)
        learner.run(x, tg, mask, "mse", block=8)
        learner.run(x[:, ::-1].copy(), tg, mask, "mse", block=8)
        two = learner.grads()
        # zero_grad after 16 of 30 steps: only the last 14 steps' gradient is kept
        learner.zero_grad()
        learner.reset_traces()
        state = net.init_state(2)
        for t0 in range(0, 30, 8):
            blocks, y = net.run_block(state, x[:, t0:t0 + 8])
            _, err = loss_and_error(y, tg[:, t0:t0 + 8], None, "mse")
            learner.process_block(blocks, err)
            if t0 == 8:
                learner.zero_grad()
        res[engine] = (two, learner.grads())
    assert rel_err(res["window"][0], res["trace"][0]) < 1e-12
    assert rel_err(res["window"][1], res["trace"][1]) < 1e-12


@pytest.mark.parametrize("update_every", [None, 9])
def test_trainer_engines_give_the_same_weights(update_every):
    results = {}
    for engine in ("trace", "window"):
        net = make_net(6, layers=2, kinds=("mix", "lif"))
        rng = np.random.default_rng(0)

        def task(r):
            x = (r.random((3, 40, 3)) < 0.3).astype(np.float64)
            return TaskData(x, r.standard_normal((3, 40, 2)), np.ones((3, 40)), "mse")

        tr = Trainer(net, task, rule="eprop", optimizer=make_optimizer("adam", lr=1e-2),
                     feedback="random", c_reg=0.1, update_every=update_every, engine=engine,
                     block=11, seed=3)
        losses = [tr.step()["loss"] for _ in range(4)]
        results[engine] = (losses, net.weights())
        del rng
    lt, wt = results["trace"]
    lw, ww = results["window"]
    np.testing.assert_allclose(lw, lt, rtol=1e-10)
    for k in wt:
        np.testing.assert_allclose(ww[k], wt[k], rtol=1e-9, atol=1e-12)


def test_engine_option_is_validated():
    net = make_net(7, layers=1)
    with pytest.raises(snnsim.ConfigError, match="engine"):
        OnlineEprop(net, 1, engine="gemm")
    assert OnlineEprop(net, 1, engine="auto").opts.engine == "window"     # no update interval known
    with pytest.raises(snnsim.ConfigError, match="window_mb"):
        OnlineEprop(net, 1, window_mb=0)


def test_eprop_m1_uses_its_own_trace_kernel():
    net = make_net(7, layers=1, kinds=("lif-shared",))
    assert not OnlineEprop(net, 1, order=1).opts.windowed


def test_float32_window_engine_matches_trace_engine():
    rng = np.random.default_rng(12)
    net = snnsim.Network(6, [snnsim.Layer([snnsim.LIF(8, v_th=0.3), snnsim.ALIF(8, v_th=0.3, beta=0.3)],
                                          w_in_scale=3.0),
                             snnsim.Layer(snnsim.LIF(6, v_th=0.3), w_in_scale=3.0)],
                         snnsim.Readout(2), rng=rng, dtype="float32")
    x = (rng.random((3, 80, 6)) < 0.2).astype(np.float32)
    tg = rng.standard_normal((3, 80, 2))
    assert_active(net, x)
    _, gt, _ = eprop(net, x, tg, engine="trace", block=16, c_reg=0.1)
    for mb in (256.0, window_mb_for(net, 3, 20)):
        _, gw, _ = eprop(net, x, tg, engine="window", block=16, c_reg=0.1, window_mb=mb)
        assert all(g.dtype == np.float32 for g in gw.values())
        assert rel_err(gw, gt) < 1e-4


@pytest.mark.parametrize("surrogate,recurrent,analog", [("smooth", True, False), ("piecewise", False, False),
                                                        ("piecewise", True, True)])
@pytest.mark.parametrize("window", [None, 6])
def test_dense_inputs_and_feedforward_layers(surrogate, recurrent, analog, window, monkeypatch):
    """Smooth spikes and analogue inputs take the BLAS product, spikes the per-event one, and
    feed-forward layers have no recurrent part; both engines agree in every case."""
    import snnsim.learning.eprop_window as EW
    net = make_net(20, layers=2, kinds=("mix", "lif"), surrogate=surrogate, recurrent=recurrent)
    x, tg = make_data(20, T=37)
    if analog:
        x = x * np.random.default_rng(1).uniform(0.2, 1.5, x.shape) + 0.05   # no zeros
    _, gt, _, _ = run_learner(net, x, tg, engine="trace", block=8, lazy=False, c_reg=0.2)
    calls = []
    real = EW.KW.adjoint_events
    monkeypatch.setattr(EW.KW, "adjoint_events", lambda *a: calls.append(a[-1].shape[1]) or real(*a))
    _, gw, _, _ = run_learner(net, x, tg, engine="window", window=window, block=8, c_reg=0.2)
    assert rel_err(gw, gt) < 1e-12
    n_pre = [3 + 5 * recurrent, 5 + 4 * recurrent]          # per layer (make_net sizes 5, 4)
    if surrogate == "smooth":        # every layer's input is dense
        assert calls == []
    else:                            # layer 1's input is layer 0's spikes (sparse)
        assert n_pre[1] in calls
    if analog:                       # no zero in x: layer 0 takes the BLAS product
        assert n_pre[0] not in calls


@pytest.mark.parametrize("update_every,expected", [(None, "window"), (9, "trace"), (199, "trace"),
                                                   (200, "window"), (500, "window")])
def test_trainer_auto_engine(update_every, expected):
    net = make_net(6, layers=1)
    task = lambda r: TaskData(np.zeros((1, 10, 3)), np.zeros((1, 10, 2)), np.ones((1, 10)), "mse")
    tr = Trainer(net, task, rule="eprop", update_every=update_every)
    assert tr.learner.opts.engine == expected
    assert Trainer(net, task, rule="eprop", update_every=update_every,
                   engine="window").learner.opts.engine == "window"
    with pytest.raises(snnsim.ConfigError, match="engine"):
        Trainer(net, task, rule="eprop", engine="fast")


@pytest.mark.parametrize("c_reg", [0.0, 0.3])
def test_grads_only_reads_and_pop_grads_resets(c_reg):
    """grads() mid-accumulation (e.g. for logging) must not change later results; pop_grads()
    equals grads() + zero_grad()."""
    net = make_net(20, layers=1, kinds=("mix",))
    x, tg = make_data(20, T=30)
    mask = window_mask(None, 2, 30)
    res = {}
    for engine in ("trace", "window"):
        learner = OnlineEprop(net, 2, engine=engine, lazy=False, c_reg=c_reg, f_target=7.0)
        learner.run(x, tg, mask, "mse", block=10, update_every=10, update=lambda le: le.grads())
        res[engine] = learner.grads()
        assert rel_err(learner.grads(), res[engine]) == 0.0          # reading twice: the same
        popped = []
        learner.run(x, tg, mask, "mse", block=10, update_every=10,
                    update=lambda le: popped.append(le.pop_grads()))
        res[engine + "-pop"] = popped
    assert rel_err(res["window"], res["trace"]) < 1e-12
    for a, b in zip(res["window-pop"], res["trace-pop"]):
        assert rel_err(a, b) < 1e-12


def test_caller_may_reuse_its_input_buffer():
    net = make_net(20, layers=1, kinds=("mix",))
    (x1, tg1), (x2, tg2) = make_data(20, T=30), make_data(21, T=30)
    mask = window_mask(None, 2, 30)
    res = {}
    for engine in ("trace", "window"):
        learner = OnlineEprop(net, 2, engine=engine, lazy=False)
        xbuf = x1.copy()
        learner.run(xbuf, tg1, mask, "mse")      # the window stays open after run()
        xbuf[...] = x2                           # the caller refills its buffer
        learner.run(xbuf, tg2, mask, "mse")
        res[engine] = learner.grads()
    assert rel_err(res["window"], res["trace"]) < 1e-12


@pytest.mark.parametrize("engine", ["window", "trace"])
def test_array_pool_does_not_grow_with_sequence_lengths(engine):
    net = make_net(20, layers=2, kinds=("mix", "lif"), sizes=[30, 30])
    rng = np.random.default_rng(0)
    learner = OnlineEprop(net, 4, engine=engine, lazy=False)
    held = []
    for it in range(60):
        T = 16 + it                              # a new last-block shape every time
        x = (rng.random((4, T, 3)) < 0.3).astype(np.float64)
        learner.zero_grad()
        learner.run(x, rng.standard_normal((4, T, 2)), window_mask(None, 4, T), "mse", block=16)
        learner.pop_grads()
        held.append(learner.pool.nbytes())
        assert len(learner.pool.free) <= learner.pool.max_shapes
    assert max(held[30:]) <= 1.5 * max(held[:30])
