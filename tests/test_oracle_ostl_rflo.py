"""OSTL and RFLO: numpy references written independently, and the paper's equivalences
(OSTL == BPTT for one layer without lateral recurrence; OSTL with the reset detached == e-prop)."""
import numpy as np
import pytest

from snnsim import ConfigError
from snnsim.learning import bptt, run_rule
from nets import assert_active, make_data, make_net, rel_err


def readout_adjoint(err, kappa):
    """gy^s = sum_{t >= s} kappa^(t - s) err^t (explicit double sum)."""
    B, T, n = err.shape
    gy = np.zeros_like(err)
    for s in range(T):
        for t in range(s, T):
            gy[:, s] += kappa ** (t - s) * err[:, t]
    return gy


def ostl_reference(net, x, tg, reset):
    """Per layer: the own-neuron (v, a) 2x2 Jacobian applied to per-synapse influences, and the
    spatial signal as an explicit product of the same-step Jacobians of the layers above
    (a delayed layer moves the chain one step later)."""
    blocks, y = net.forward(x)
    err = (y - tg) / x.shape[0]
    gy = readout_adjoint(err, net.kappa[0])
    B, T, _ = x.shape
    L = len(net.layers)
    out = {}
    names = iter(net.weight_names())
    for l in range(L):
        p, blk = net.params[l], blocks[l]
        n = net.sizes[l]
        wd = np.zeros(n) if reset == "detach" else (
            -p["v_th"] + (p["zeta"] * np.diag(net.w_rec[l]) if net.w_rec[l] is not None else 0))
        pres = [blk.pre] + ([blk.z_prev] if net.w_rec[l] is not None else [])
        for pre in pres:
            g = np.zeros((pre.shape[2], n))
            for b in range(B):
                P = np.zeros((2, pre.shape[2], n))
                for s in range(T):
                    psi_prev = blk.psi[b, s - 1] if s > 0 else np.zeros(n)
                    J = np.array([[p["alpha"] + wd * psi_prev, -p["beta"] * wd * psi_prev],
                                  [psi_prev, p["rho"] - p["beta"] * psi_prev]])
                    P = np.einsum("xyj,yij->xij", J, P)
                    P[0] += np.outer(pre[b, s], p["zeta"])
                    dz = blk.psi[b, s] * (P[0] - p["beta"] * P[1])        # (n_pre, n)
                    M, t = np.eye(n), s                                     # dz_k^t / dz_l^s
                    for k in range(l + 1, L):
                        t += 1 if net.layers[k].delay else 0
                        if t >= T:
                            break
                        M = M @ (net.w_in[k] * (net.params[k]["zeta"] * blocks[k].psi[b, t]))
                    else:
                        g += dz * (M @ (net.w_out @ gy[b, t]))[None, :]
            out[next(names)] = g
    return out


CASES = [(0, 1, ("mix",), True, False, 1.2), (3, 3, ("alif", "mix", "lif"), True, False, 1.2),
         (2, 2, ("lif", "mix"), True, True, 1.2), (7, 3, ("mix",), False, True, 2.0)]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("reset", ["local", "detach"])
def test_ostl_matches_numpy_reference(case, reset):
    seed, layers, kinds, rec, delay, scale = case
    net = make_net(seed, layers=layers, kinds=kinds, recurrent=rec, delay=delay, w_in_scale=scale)
    x, tg = make_data(seed, T=14)
    assert_active(net, x)
    _, g, _ = run_rule(net, x, tg, "ostl", reset=None if reset == "local" else reset)
    ref = ostl_reference(net, x, tg, reset)
    for k, m in net.masks().items():
        if k in ref:
            want = ref[k] * (1 if m is None else m)
            np.testing.assert_allclose(g[k], want, rtol=1e-10, atol=1e-12 * np.abs(want).max())


@pytest.mark.parametrize("seed,kinds", [(4, ("mix",)), (7, ("alif",))])
def test_ostl_shallow_without_recurrence_is_bptt(seed, kinds):
    """Bohnstingl et al.: for a shallow network the OSTL gradient is BPTT's (reset kept)."""
    net = make_net(seed, layers=1, kinds=kinds, recurrent=False, w_in_scale=2.0)
    x, tg = make_data(seed, T=20)
    assert_active(net, x)
    _, gb, _ = bptt(net, x, tg)
    _, go, _ = run_rule(net, x, tg, "ostl")
    assert rel_err(go, gb) < 1e-10
    _, gd, _ = run_rule(net, x, tg, "ostl", reset="detach")   # reset cut: not BPTT
    assert rel_err(gd, gb) > 1e-3


@pytest.mark.parametrize("case", CASES[:3])
def test_ostl_detached_reset_is_eprop(case):
    """Reset and self-connection cut: OSTL's trace is e-prop's eligibility trace; with one layer
    (any readout) or a readout without leak (deep, spatial signal, at most one delayed layer:
    e-prop's engine does not move the signal by one step per delayed layer) the gradients
    are equal."""
    seed, layers, kinds, rec, delay, _ = case
    net = make_net(seed, layers=layers, kinds=kinds, recurrent=rec, delay=delay,
                   tau_out=10.0 if layers == 1 else 0.0)
    x, tg = make_data(seed, T=16, loss="ce")
    assert_active(net, x)
    _, ge, _ = run_rule(net, x, tg, "eprop", loss="ce")
    _, go, _ = run_rule(net, x, tg, "ostl", reset="detach", loss="ce")
    assert rel_err(go, ge) < 1e-10
    _, gl, _ = run_rule(net, x, tg, "ostl", loss="ce")
    assert rel_err(gl, ge) > 1e-4       # the local reset term matters


def rflo_reference(net, x, tg, fb):
    blocks, y = net.forward(x)
    err = (y - tg) / x.shape[0]
    blk, p = blocks[0], net.params[0]
    B, T, _ = x.shape
    out = []
    for pre in (blk.pre, blk.z_prev):
        g = np.zeros((pre.shape[2], net.sizes[0]))
        for b in range(B):
            pbar = np.zeros((pre.shape[2], net.sizes[0], net.readout.n))   # kappa-filtered
            ptr = np.zeros((pre.shape[2], net.sizes[0]))
            for t in range(T):
                for i in range(pre.shape[2]):
                    for j in range(net.sizes[0]):
                        ptr[i, j] = p["alpha"][j] * ptr[i, j] + p["zeta"][j] * blk.psi[b, t, j] * pre[b, t, i]
                pbar = net.kappa[0] * pbar + ptr[:, :, None] * fb[None, :, :]
                g += pbar @ err[b, t]
        out.append(g)
    return out


@pytest.mark.parametrize("seed,kinds,feedback", [(0, ("mix",), "symmetric"),
                                                 (6, ("lif",), "random")])
def test_rflo_matches_numpy_reference(seed, kinds, feedback):
    net = make_net(seed, layers=1, kinds=kinds)
    x, tg = make_data(seed, T=15)
    assert_active(net, x)
    _, g, _ = run_rule(net, x, tg, "rflo", feedback=feedback, rng=np.random.default_rng(3))
    fb = net.w_out if feedback == "symmetric" else \
        np.random.default_rng(3).standard_normal(net.w_out.shape) / np.sqrt(net.sizes[0])
    ref = rflo_reference(net, x, tg, fb)
    names = net.weight_names()
    masks = net.masks()
    for name, want in zip(names[:2], ref):
        want = want * (1 if masks[name] is None else masks[name])
        np.testing.assert_allclose(g[name], want, rtol=1e-10, atol=1e-13)
    _, g2, _ = run_rule(net, x, tg, "rflo", feedback=feedback, rng=np.random.default_rng(3))
    assert all(np.array_equal(g[k], g2[k]) for k in g)
    _, ge, _ = run_rule(net, x, tg, "eprop")
    assert rel_err(g, ge) > 1e-3       # not e-prop under another name


def test_rflo_and_ostl_errors():
    net = make_net(3, layers=3, kinds=("mix",))
    x, tg = make_data(3)
    with pytest.raises(ConfigError, match="rflo.*one layer"):
        run_rule(net, x, tg, "rflo")
    net1 = make_net(0, layers=1)
    with pytest.raises(ConfigError, match="rng"):
        run_rule(net1, x, tg, "rflo", feedback="random")
    with pytest.raises(ConfigError, match="feedback"):
        run_rule(net1, x, tg, "rflo", feedback="adaptive")
    with pytest.raises(ConfigError, match="feedback"):
        run_rule(net1, x, tg, "ostl", feedback="random")
