"""TBPTT-K and SnAp-n against BPTT / RTRL, a hand computation and an independent numpy reference."""
import numpy as np
import pytest

import snnsim
from snnsim import ConfigError, MemoryLimitError
from snnsim.learning import bptt, forward_mode, run_rule
from snnsim.learning.snap import pattern
from nets import assert_active, make_data, make_net, rel_err

CASES = [  # seed, layers, kinds, recurrent, delay, surrogate, t_ref, loss
    (0, 1, ("mix",), True, False, "piecewise", 0.0, "mse"),
    (1, 2, ("mix", "alif"), True, False, "piecewise", 2.0, "ce"),
    (2, 2, ("lif", "mix"), True, True, "smooth", 0.0, "mse"),
    (3, 3, ("alif", "mix", "lif"), True, False, "piecewise", 0.0, "mse"),
    (4, 3, ("mix",), False, True, "piecewise", 0.0, "ce"),
]


def build(case, T=16):
    seed, layers, kinds, rec, delay, surr, t_ref, loss = case
    net = make_net(seed, layers=layers, kinds=kinds, recurrent=rec, delay=delay,
                   surrogate=surr, t_ref=t_ref)
    x, tg = make_data(seed, T=T, loss=loss)
    assert_active(net, x)
    return net, x, tg, loss


@pytest.mark.parametrize("case", CASES)
def test_tbptt_long_window_is_bptt(case):
    net, x, tg, loss = build(case)
    lb, gb, _ = bptt(net, x, tg, loss=loss)
    for k in (16, 40):
        lt, gt, _ = run_rule(net, x, tg, f"tbptt-k{k}", loss=loss)
        assert lt == lb
        assert rel_err(gt, gb) < 1e-12
    _, g4, _ = run_rule(net, x, tg, "tbptt-k4", loss=loss)
    assert rel_err(g4, gb) > 1e-3          # truncation is not vacuous


def _net3(delay):
    """Two layers of 2 LIF/ALIF neurons, 3 steps, every neuron active."""
    layers = [snnsim.Layer([snnsim.ALIF(2, tau_m=10.0, v_th=0.3, beta=0.5, tau_a=20.0)],
                           recurrent=True, w_in_scale=2.0),
              snnsim.Layer([snnsim.LIF(2, tau_m=12.0, v_th=0.2)], recurrent=True,
                           delay=delay, w_in_scale=2.0)]
    net = snnsim.Network(2, layers, snnsim.Readout(2, tau_out=8.0), dtype="float64",
                         surrogate="smooth", sigma=0.3, rng=np.random.default_rng(7))
    x = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    tg = np.array([[[0.5, -0.2], [0.1, 0.3], [-0.4, 0.2]]])
    return net, x, tg


@pytest.mark.parametrize("delay", [False, True])
def test_tbptt_k1_by_hand(delay):
    """K = 1: only same-step paths. By hand: dE/dy^t = (y^t - y*^t)/B; readout grad z^t err^t;
    top layer: L = W_out err, grad W[i,j] = pre_i^t zeta_j psi_j^t L_j; the layer below gets
    W_in^1 (zeta psi L) at the same step (nothing across a one-step delay)."""
    net, x, tg = _net3(delay)
    blocks, y = net.forward(x)
    err = (y - tg)[0]
    z0, z1 = blocks[0].z[0], blocks[1].z[0]
    psi0, psi1 = blocks[0].psi[0], blocks[1].psi[0]
    zp0 = np.vstack([np.zeros(2), z0[:-1]])
    zp1 = np.vstack([np.zeros(2), z1[:-1]])
    p0, p1 = net.params
    want = {k: np.zeros_like(w) for k, w in net.weights().items()}
    names = net.weight_names()
    for t in range(3):
        L1 = net.w_out @ err[t]
        h1 = p1["zeta"] * psi1[t] * L1
        pre1 = (zp0 if delay else z0)[t]
        want[names[2]] += np.outer(pre1, h1)
        want[names[3]] += np.outer(zp1[t], h1)
        want[names[4]] += np.outer(z1[t], err[t])
        if not delay:
            h0 = p0["zeta"] * psi0[t] * (net.w_in[1] @ h1)
            want[names[0]] += np.outer(x[0, t], h0)
            want[names[1]] += np.outer(zp0[t], h0)
    for k, m in net.masks().items():      # no autapses: the diagonal of W_rec is not learnt
        if m is not None:
            want[k] *= m
    assert np.abs(want[names[4]]).sum() > 0 and np.abs(want[names[2]]).sum() > 0
    if not delay:
        assert np.abs(want[names[0]]).sum() > 0
    _, got, _ = run_rule(net, x, tg, "tbptt-k1")
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-15)
    _, full, _ = bptt(net, x, tg)
    assert rel_err(got, full) > 1e-3


@pytest.mark.parametrize("case", CASES)
def test_snap_large_n_is_rtrl(case):
    net, x, tg, loss = build(case)
    _, gr, _ = run_rule(net, x, tg, "rtrl", loss=loss)
    n_all = sum(net.sizes) + 1
    for n in (n_all, n_all + 3):
        _, gs, _ = run_rule(net, x, tg, f"snap-n{n}", loss=loss)
        assert rel_err(gs, gr) < 1e-10


def test_snap_pattern_saturates_and_is_not_vacuous():
    net, x, tg, loss = build(CASES[0])
    keep1 = pattern(net, 1)
    assert all(np.array_equal(m, np.eye(5, dtype=bool)) for m in keep1.values())
    assert all(m.all() for m in pattern(net, 2).values())     # dense W_rec: 2 steps reach all
    _, gr, _ = run_rule(net, x, tg, "rtrl", loss=loss)
    _, g1, _ = run_rule(net, x, tg, "snap-n1", loss=loss)
    assert rel_err(g1, gr) > 1e-3


def test_snap1_exact_without_lateral_recurrence():
    """No W_rec, no delays: a weight reaches only its neuron and the layers above in the same
    step, so SnAp-1's pattern is complete (== BPTT)."""
    net = make_net(7, layers=3, kinds=("mix",), recurrent=False, w_in_scale=2.0)
    x, tg = make_data(7, T=14)
    assert_active(net, x)
    _, gb, _ = bptt(net, x, tg)
    _, g1, _ = run_rule(net, x, tg, "snap-n1")
    assert rel_err(g1, gb) < 1e-10


def snap1_reference(net, x, tg):
    """Independent SnAp-1 for one layer: per synapse the 2x2 Jacobian of neuron j's own (v, a)
    (leak, reset and self weight) and the readout influence filtered forward with kappa."""
    blocks, y = net.forward(x)
    err = (y - tg) / x.shape[0]
    blk, p = blocks[0], net.params[0]
    B, T, _ = x.shape
    n = net.sizes[0]
    wd = p["zeta"] * np.diag(net.w_rec[0]) - p["v_th"]       # dv_j^t / dz_j^{t-1}
    out = {}
    kappa = net.kappa[0]
    for name, pre in (("in", blk.pre), ("rec", blk.z_prev)):
        g = np.zeros((pre.shape[2], n))
        for b in range(B):
            P = np.zeros((2, pre.shape[2], n))               # (dv_j, da_j) / dW[i, j]
            ybar = np.zeros((pre.shape[2], n, 2))              # readout influence, per output
            for t in range(T):
                psi_prev = blk.psi[b, t - 1] if t > 0 else np.zeros(n)
                J = np.array([[p["alpha"] + wd * psi_prev, -p["beta"] * wd * psi_prev],
                              [psi_prev, p["rho"] - p["beta"] * psi_prev]])   # (2, 2, n)
                P = np.einsum("xyj,yij->xij", J, P)
                P[0] += np.outer(pre[b, t], p["zeta"])
                dz = blk.psi[b, t] * (P[0] - p["beta"] * P[1])
                ybar = kappa * ybar + dz[:, :, None] * net.w_out[None, :, :]
                g += ybar @ err[b, t]
        out[name] = g
    return out


@pytest.mark.parametrize("seed,kinds", [(0, ("mix",)), (6, ("alif",)), (7, ("lif",))])
def test_snap1_kernel_matches_numpy_reference_and_engine(seed, kinds):
    net = make_net(seed, layers=1, kinds=kinds)
    rng = np.random.default_rng(seed)
    np.fill_diagonal(net.w_rec[0], rng.standard_normal(net.sizes[0]) * 0.3)   # autapses too
    x, tg = make_data(seed, T=18)
    assert_active(net, x)
    _, g, _ = run_rule(net, x, tg, "snap-n1")
    ref = snap1_reference(net, x, tg)
    names = net.weight_names()
    np.testing.assert_allclose(g[names[0]], ref["in"], rtol=1e-10, atol=1e-13)
    m = net.masks()[names[1]]
    np.testing.assert_allclose(g[names[1]], ref["rec"] * (1 if m is None else m), rtol=1e-10,
                               atol=1e-13)
    _, ge, _ = forward_mode(net, x, tg, keep=pattern(net, 1))        # masked RTRL engine
    assert rel_err(g, ge) < 1e-10


def test_snap_refuses_large_and_bad_names():
    net, x, tg, _ = build(CASES[3])
    with pytest.raises(MemoryLimitError, match="GiB"):
        run_rule(net, x, tg, "snap-n2", max_bytes=1000)
    for bad in ("snap-n0", "snap-n", "tbptt-k0", "tbptt-kx"):
        with pytest.raises(ConfigError, match="rule"):
            run_rule(net, x, tg, bad)
    with pytest.raises(ConfigError, match="reset"):
        run_rule(net, x, tg, "tbptt-k3", reset="detach")
