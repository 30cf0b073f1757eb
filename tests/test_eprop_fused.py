"""The fused online path (snnsim.learning.eprop_fused): weights after online training with
updates every k steps equal the block-by-block path's, a numpy reference of online e-prop
with per-step updates, and (k = T) one step along the once-per-sequence gradient."""
import numpy as np
import pytest

import snnsim
from snnsim.errors import DivergenceError
from snnsim.learning.eprop import eprop
from snnsim.optim import make_optimizer
from snnsim.tasks.base import TaskData
from snnsim.trainer import Trainer

from nets import assert_active, make_net

T = 24


def task(B=2, loss="mse", n_in=3):
    def draw(rng):
        x = (rng.random((B, T, n_in)) < 0.35).astype(np.float64)
        if loss == "mse":
            tg = rng.standard_normal((B, T, 2))
        else:
            tg = np.eye(2)[rng.integers(0, 2, (B, T))]
        return TaskData(x, tg, np.ones((B, T)), loss)
    return draw


def train(fused, k, *, layers=1, opt="adam", lr=0.01, its=3, seed=3, B=2, loss="mse",
          lazy=True, net=None, **kw):
    net = net or make_net(seed, layers=layers)
    tr = Trainer(net, task(B, loss), optimizer=make_optimizer(opt, lr=lr), update_every=k,
                 fused=fused, engine="trace", seed=seed, **kw)
    if not lazy:   # the block path's non-lazy top-layer kernel (the fused loop's arithmetic)
        from dataclasses import replace
        tr.learner.opts = replace(tr.learner.opts, lazy=False)
        tr.learner.engine = None
        tr.learner.set_batch(B)
    tr.train(its)
    return tr


def rel(a, b):
    return max(float(np.max(np.abs(a[n] - b[n])) / np.max(np.abs(b[n]))) for n in b)


CASES = [dict(), dict(c_reg=0.1), dict(reset="local"), dict(feedback="random"),
         dict(reset="local", c_reg=0.05, feedback="random")]


@pytest.mark.parametrize("k", [1, 3, 10, T])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_fused_equals_block_path(k, layers, opt, case):
    kw = CASES[case]
    lr = 0.01 if opt == "adam" else 0.002
    fused = train(True, k, layers=layers, opt=opt, lr=lr, **kw)
    blocks = train(False, k, layers=layers, opt=opt, lr=lr, lazy=False, **kw)
    assert fused.online_path == "fused"
    assert blocks.online_path == "blocks (fused = False)"
    w0 = make_net(3, layers=layers).weights()
    wf, wb = fused.net.weights(), blocks.net.weights()
    assert rel(wf, wb) < 1e-12
    assert rel(wf, w0) > 1e-4                      # the weights did move
    assert fused.optimizer.t == blocks.optimizer.t == 3 * -(-T // k)
    if opt == "adam":
        for n in wb:
            np.testing.assert_allclose(fused.optimizer.m[n], blocks.optimizer.m[n],
                                       rtol=1e-10, atol=1e-14)
    # and the default block path (lazy top-layer kernel: same rule, other rounding)
    assert rel(wf, train(False, k, layers=layers, opt=opt, lr=lr, **kw).net.weights()) < 1e-12


@pytest.mark.parametrize("k", [1, 5])
def test_fused_delay_ce_and_eps_on_v(k):
    net = lambda: make_net(4, layers=2, delay=True)   # noqa: E731
    for opt in (make_optimizer("adam", lr=0.02, eps_on="v"), make_optimizer("adam", lr=0.02)):
        out = []
        for fused in (True, False):
            o = make_optimizer("adam", lr=0.02, eps_on=opt.eps_on)
            tr = Trainer(net(), task(3, "ce"), optimizer=o, update_every=k, fused=fused,
                         engine="trace", seed=1, rule="deep-eprop-onehop")
            recs = [tr.step() for _ in range(3)]
            out.append((tr.net.weights(), [r["loss"] for r in recs], tr.online_path))
        assert out[0][2] == "fused"
        assert rel(out[0][0], out[1][0]) < 1e-12
        np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-12)


def test_fused_same_seed_bit_identical():
    a = train(True, 3).net.weights()
    b = train(True, 3).net.weights()
    for n in a:
        assert np.array_equal(a[n], b[n])


def test_k_equal_T_is_one_step_along_the_sequence_gradient():
    """k = T: one SGD step along e-prop's once-per-sequence gradient (checked against BPTT
    and NEST elsewhere), computed here by ``eprop()`` on the same batch."""
    net = make_net(5, layers=2)
    w0 = {n: w.copy() for n, w in net.weights().items()}
    tr = Trainer(net, task(2), optimizer=make_optimizer("sgd", lr=0.01), update_every=T,
                 engine="trace", seed=2)
    assert tr.online_path == "fused"
    data = task(2)(np.random.default_rng(0))
    tr.task = lambda rng: data
    tr.step()
    ref = make_net(5, layers=2)
    _, g, _ = eprop(ref, data.inputs, data.targets, engine="trace")
    for n in w0:
        np.testing.assert_allclose(net.weights()[n], w0[n] - 0.01 * g[n], rtol=1e-12,
                                   atol=1e-15)


def numpy_online_eprop(net, x, tg, k, lr):
    """Reference written from the equations (one recurrent LIF layer, reset detach, no
    refractoriness, mse): per-step traces, SGD every k steps and after the last step."""
    p = net.params[0]
    alpha, zeta, v_th, gamma = (np.asarray(p[s], float) for s in ("alpha", "zeta", "v_th", "gamma"))
    kappa = float(net.kappa[0])
    c = np.asarray(net.readout_scale, float)
    w_in, w_rec, w_out = net.w_in[0].copy(), net.w_rec[0].copy(), net.w_out.copy()
    mask_rec = 1.0 if net.mask_rec[0] is None else net.mask_rec[0]
    B, T_, n_in = x.shape
    n = w_in.shape[1]
    v = np.zeros((B, n)); z = np.zeros((B, n)); y = np.zeros((B, w_out.shape[1]))
    eps = np.zeros((B, n, n_in + n)); ebar = np.zeros_like(eps); zbar = np.zeros((B, n))
    g = np.zeros((n, n_in + n)); g_out = np.zeros_like(w_out)
    for t in range(T_):
        pre = np.concatenate([x[:, t], z], axis=1)                   # z^{t-1}
        v = alpha * v + zeta * (x[:, t] @ w_in + z @ w_rec) - v_th * z
        z = (v >= v_th).astype(float)
        psi = gamma / v_th * np.maximum(0.0, 1.0 - np.abs(v - v_th) / v_th)
        y = kappa * y + (z @ w_out) * c
        err = (y - tg[:, t]) / B * c
        L = err @ w_out.T                                            # (B, n)
        eps = alpha[None, :, None] * eps + zeta[None, :, None] * pre[:, None, :]
        ebar = kappa * ebar + psi[:, :, None] * eps
        g += np.einsum("bj,bji->ji", L, ebar)
        zbar = kappa * zbar + z
        g_out += np.einsum("bj,bo->jo", zbar, err)
        if (t + 1) % k == 0 or t == T_ - 1:
            w_in -= lr * g[:, :n_in].T
            w_rec -= lr * g[:, n_in:].T * mask_rec       # no autapses: diagonal absent
            w_out -= lr * g_out
            g[:] = 0.0
            g_out[:] = 0.0
    return {"layer0.w_in": w_in, "layer0.w_rec": w_rec, "readout.w_out": w_out}


@pytest.mark.parametrize("k", [1, 4, T])
def test_fused_equals_numpy_reference(k):
    net = make_net(6, layers=1, kinds=("lif",))
    data = task(2)(np.random.default_rng(7))
    assert_active(net, data.inputs)
    ref = numpy_online_eprop(net, data.inputs, data.targets, k, 0.05)
    tr = Trainer(net, lambda rng: data, optimizer=make_optimizer("sgd", lr=0.05),
                 update_every=k, engine="trace", seed=0)
    assert tr.online_path == "fused"
    w0 = {n: w.copy() for n, w in net.weights().items()}
    tr.step()
    for n in ref:
        assert not np.allclose(ref[n], w0[n])
        np.testing.assert_allclose(net.weights()[n], ref[n], rtol=1e-10, atol=1e-13)


def test_fallbacks_are_named_and_run():
    tr = train(True, 3, feedback="adaptive")
    assert tr.online_path == "blocks (adaptive feedback)"
    t2 = Trainer(make_net(3), task(), update_every=300, seed=0)
    assert t2.online_path == "blocks (engine 'window')"
    t3 = Trainer(make_net(3), task(), update_every=None, seed=0)
    assert t3.online_path is None and t3.fused is None


def test_fused_sparse_masks():
    """Connectivity masks (p_in, p_rec < 1): absent synapses stay absent, same weights."""
    def mk():
        return snnsim.Network(3, [snnsim.Layer(snnsim.ALIF(7, beta=0.3, v_th=0.3), p_in=0.6,
                                               p_rec=0.5, w_in_scale=2.0),
                                  snnsim.Layer(snnsim.LIF(5, v_th=0.3), p_in=0.5, w_in_scale=2.0)],
                              snnsim.Readout(2), rng=4, dtype="float64")
    ws = [train(f, 2, opt="adam", net=mk()).net for f in (True, False)]
    for n, m in ws[0].masks().items():
        if m is not None:
            assert not m.all() and np.all(ws[0].weights()[n][~m] == 0)
    assert rel(ws[0].weights(), ws[1].weights()) < 1e-12


def test_float32_close_to_block_path():
    def mk():
        return snnsim.Network(3, snnsim.Layer([snnsim.LIF(6), snnsim.ALIF(5, beta=0.3)],
                                              w_in_scale=3.0), snnsim.Readout(2), rng=2)
    ws = []
    for fused in (True, False):
        tr = Trainer(mk(), task(2), optimizer=make_optimizer("adam", lr=0.01), update_every=2,
                     fused=fused, engine="trace", seed=0)
        tr.train(2)
        ws.append(tr.net.weights())
    assert ws[0]["layer0.w_in"].dtype == np.float32
    assert rel(ws[0], ws[1]) < 1e-5


def test_divergence_raises_on_both_paths():
    for fused in (True, False):
        net = make_net(3)
        net.w_out[...] = 1e300
        tr = Trainer(net, task(), optimizer=make_optimizer("sgd", lr=1e300), update_every=2,
                     fused=fused, engine="trace", seed=0)
        with pytest.raises(DivergenceError, match="became NaN/inf"):
            tr.train(1)


def test_fused_resume_is_bit_identical():
    """Checkpoint state (weights, Adam moments, generators) after 2 iterations, resumed for 2
    more: the same weights as 4 iterations in one go."""
    full = train(True, 3, its=4)
    half = train(True, 3, its=2)
    arrays, meta = half.state()
    again = Trainer(make_net(3, layers=1), task(), optimizer=make_optimizer("adam", lr=0.01),
                    update_every=3, engine="trace", seed=3)
    again.load_state(arrays, meta)
    again.train(4)
    for n, w in full.net.weights().items():
        assert np.array_equal(again.net.weights()[n], w)
