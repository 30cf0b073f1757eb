"""Reset "local" variants of the e-prop kernels against independent numpy references.

- ``eprop_layer_block(..., reset_v_th=v_th)``: a numpy recursion in state form, per synapse
  s = (eps_v, eps_a), s^t = J_j^t s^{t-1} + (zeta pre^t, 0) with the within-neuron Jacobian
  J = [[alpha - v_th psi', v_th beta psi'], [psi', rho - beta psi']] (psi' = psi^{t-1});
  and, end to end, the kernel's gradient on one feed-forward layer == the independent numpy
  BPTT (``numpy_bptt``): there every path is within a neuron, so e-prop with the reset local
  is exact, and with the reset detached it is not.
- ``adjoint_window`` / ``adjoint_events``: the adjoint identity. The functional
  J = sum_t [ws sig^t ebar^t + we e^t] + term . s^K computed by running the numpy state
  recursion forward equals sum_t coef^t pre^t + adj_out . s^0.
"""
import numpy as np
import pytest

from snnsim.kernels import eprop as KE
from snnsim.kernels import eprop_window as KW
from nets import assert_active, make_data, make_net, rel_err
import numpy_bptt


def params(rng, n, adaptive):
    return dict(alpha=rng.uniform(0.8, 0.97, n), zeta=rng.uniform(0.05, 1.0, n),
                beta=rng.uniform(0.2, 1.5, n) * adaptive, rho=rng.uniform(0.9, 0.99, n),
                v_th=rng.uniform(0.2, 1.0, n))


def ref_traces(pre, psi, sig, p, kappa, use_h, a_hat, delay, s0, psi_prev):
    """Numpy state-form recursion. s0: dict of (B, n, n_pre) start traces. Returns
    (grad, esum, final traces, final psi_prev)."""
    B, K, n_pre = pre.shape
    n = psi.shape[2]
    S = np.stack([s0["ev"], s0["ea"]], axis=-1)          # (B, n, n_pre, 2)
    hh, eb = s0["hh"].copy(), s0["eb"].copy()
    grad = np.zeros((B, n, n_pre))
    esum = np.zeros((B, n, n_pre))
    pp = psi_prev.copy()
    for t in range(K):
        J = np.empty((B, n, 2, 2))
        J[..., 0, 0] = p["alpha"] - p["v_th"] * pp
        J[..., 0, 1] = p["v_th"] * p["beta"] * pp
        J[..., 1, 0] = pp
        J[..., 1, 1] = p["rho"] - p["beta"] * pp
        S = np.einsum("bjxy,bjiy->bjix", J, S)
        S[..., 0] += p["zeta"][None, :, None] * pre[:, t][:, None, :]
        e = psi[:, t][:, :, None] * (S[..., 0] - p["beta"][None, :, None] * S[..., 1])
        if use_h:
            h_old = hh
            hh = a_hat * hh + e
            src = h_old if delay else hh
        else:
            src = e
        eb = kappa * eb + src
        grad += sig[:, t][:, :, None] * eb
        esum += e
        pp = psi[:, t].copy()
    return grad, esum, {"ev": S[..., 0], "ea": S[..., 1], "hh": hh, "eb": eb}, pp


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("hmode", ["top", "spatial", "onehop", "onehop-delay"])
def test_eprop_layer_block_local_matches_state_form(seed, adaptive, hmode):
    rng = np.random.default_rng(seed)
    B, K, n, n_pre = 2, 9, 4, 5
    p = params(rng, n, adaptive)
    use_h = hmode != "top"
    a_hat = 0.0 if hmode in ("top", "spatial") else 0.85
    delay = hmode == "onehop-delay"
    kappa = 0.9
    pre = (rng.random((B, 2 * K, n_pre)) < 0.4).astype(float)
    psi = rng.random((B, 2 * K, n)) * (rng.random((B, 2 * K, n)) < 0.6)
    sig = rng.standard_normal((B, 2 * K, n))
    zeros = lambda: np.zeros((B, n, n_pre))
    s0 = {"ev": zeros(), "ea": zeros(), "hh": zeros(), "eb": zeros()}
    g_ref, es_ref, fin, pp_ref = ref_traces(pre, psi, sig, p, kappa, use_h, a_hat, delay, s0,
                                            np.zeros((B, n)))
    # the kernel, in two blocks (traces carried)
    ev, ea, hh, eb, grad, esum = (zeros() for _ in range(6))
    pp = np.zeros((B, n))
    for sl in (slice(0, K), slice(K, 2 * K)):
        KE.eprop_layer_block(np.ascontiguousarray(pre[:, sl]), np.ascontiguousarray(psi[:, sl]),
                             np.ascontiguousarray(sig[:, sl]), p["alpha"], p["zeta"], p["beta"],
                             p["rho"], kappa, adaptive, use_h, a_hat, delay, True, pp, ev,
                             ea if adaptive else np.zeros((1, 1, 1)), hh if use_h else np.zeros((1, 1, 1)),
                             eb, grad, esum, p["v_th"])
    np.testing.assert_allclose(grad, g_ref, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(esum, es_ref, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(ev, fin["ev"], rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(eb, fin["eb"], rtol=1e-11, atol=1e-12)
    if adaptive:
        np.testing.assert_allclose(ea, fin["ea"], rtol=1e-11, atol=1e-12)
    np.testing.assert_array_equal(pp, pp_ref)
    # the local terms matter: the detach kernel gives another gradient
    g_det = zeros()
    KE.eprop_layer_block(pre, psi, sig, p["alpha"], p["zeta"], p["beta"], p["rho"], kappa,
                         adaptive, use_h, a_hat, delay, False, np.zeros((B, n)), zeros(),
                         zeros() if adaptive else np.zeros((1, 1, 1)),
                         zeros() if use_h else np.zeros((1, 1, 1)), zeros(), g_det,
                         np.zeros((1, 1, 1)))
    assert np.linalg.norm(g_det - g_ref) > 1e-3 * np.linalg.norm(g_ref)


@pytest.mark.parametrize("kind,seed,tau_out,t_ref", [("lif", 21, 10.0, 0.0), ("alif", 22, 0.0, 2.0),
                                                     ("mix", 23, 10.0, 2.0)])
def test_eprop_kernel_local_is_exact_on_one_feedforward_layer(kind, seed, tau_out, t_ref):
    """One layer without recurrence: every path is within a neuron, so the fused kernel's
    gradient with the reset local (symmetric feedback, readout filter kappa) is BPTT's."""
    net = make_net(seed, layers=1, kinds=(kind,), recurrent=False, tau_out=tau_out, t_ref=t_ref,
                   sizes=[6])
    x, tg = make_data(seed, T=30)
    assert_active(net, x)
    _, ref, y = numpy_bptt.gradients(net, x, tg)
    blocks, y_net = net.forward(x)
    np.testing.assert_allclose(y_net, y, rtol=1e-12, atol=1e-12)
    err = (y - tg) / x.shape[0]
    sig = np.ascontiguousarray(err @ net.w_out.T)
    p = net.params[0]
    B, n, n_pre = x.shape[0], net.sizes[0], net.n_in
    adaptive = bool(np.any(p["beta"] != 0))

    def run(reset_v_th):
        g = np.zeros((B, n, n_pre))
        z3 = lambda: np.zeros((B, n, n_pre))
        KE.eprop_layer_block(blocks[0].pre, blocks[0].psi, sig, p["alpha"], p["zeta"], p["beta"],
                             p["rho"], float(net.kappa[0]), adaptive, False, 0.0, False, False,
                             np.zeros((B, n)), z3(), z3() if adaptive else np.zeros((1, 1, 1)),
                             np.zeros((1, 1, 1)), z3(), g, np.zeros((1, 1, 1)), reset_v_th)
        return {"layer0.w_in": g.sum(0).T}
    name = net.layers[0].name + ".w_in"
    ref_w = {"layer0.w_in": ref[name]}
    assert rel_err(run(p["v_th"]), ref_w) < 1e-10
    assert rel_err(run(None), ref_w) > 1e-3


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("hmode", ["top", "onehop", "onehop-delay"])
def test_adjoint_window_local_adjoint_identity(seed, adaptive, hmode):
    rng = np.random.default_rng(50 + seed)
    B, K, n, n_pre = 2, 11, 4, 6
    p = params(rng, n, adaptive)
    use_h = hmode != "top"
    a_hat = 0.0 if hmode == "top" else 0.8
    delay = hmode == "onehop-delay"
    kappa, ws = 0.85, 0.7
    pre = (rng.random((B, K, n_pre)) < 0.4).astype(float)
    psi = rng.random((B, K, n)) * (rng.random((B, K, n)) < 0.6)
    psi0 = rng.random((B, n))
    sig = rng.standard_normal((B, K, n))
    we = rng.standard_normal((B, n))
    term = rng.standard_normal((B, n, 4)) * np.array([1, adaptive, use_h, 1])
    s0 = {k: rng.standard_normal((B, n, n_pre)) * f for k, f in
          (("ev", 1), ("ea", adaptive), ("hh", use_h), ("eb", 1))}
    g_sig, esum, fin, _ = ref_traces(pre, psi, sig, p, kappa, use_h, a_hat, delay, s0, psi0)
    J_ref = ws * g_sig + we[:, :, None] * esum
    for q, k in enumerate(("ev", "ea", "hh", "eb")):
        J_ref = J_ref + term[:, :, q][:, :, None] * fin[k]
    adj = term.copy()
    coef = np.zeros((B, K, n))
    KW.adjoint_window(psi, sig, psi0, ws, we, p["alpha"], p["zeta"], p["beta"], p["rho"], kappa,
                      a_hat, use_h, delay, adj, coef, p["v_th"])
    J = np.einsum("btj,bti->bji", coef, pre)
    for q, k in enumerate(("ev", "ea", "hh", "eb")):
        J = J + adj[:, :, q][:, :, None] * s0[k]
    np.testing.assert_allclose(J, J_ref, rtol=1e-10, atol=1e-11)
    # adjoint_events: the same coefficients folded into the product with spike inputs
    # (here the inputs are x = pre[:, :, :m] and the layer's own z = pre[:, 1:, m:] shifted)
    m = n_pre - n
    x_in = np.ascontiguousarray(pre[:, :, :m])
    z = np.zeros((B, K, n))
    z[:, :-1] = pre[:, 1:, m:]
    z0 = np.ascontiguousarray(pre[:, 0, m:])
    gT = np.zeros((B, m + n, n))
    adj2 = term.copy()
    KW.adjoint_events(psi, sig, psi0, ws, we, p["alpha"], p["zeta"], p["beta"], p["rho"], kappa,
                      a_hat, use_h, delay, adj2, x_in, z, z0, gT, p["v_th"])
    np.testing.assert_allclose(adj2, adj, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gT, np.einsum("btj,bti->bij", coef, pre), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("want_esum", [False, True])
def test_eprop_lazy_block_local_matches_state_form(seed, adaptive, want_esum):
    """The activity-proportional kernel with the reset local (eps_v = zeta zbar + d, d decayed
    lazily) == the numpy state form, with long silent stretches and rows pending at block ends."""
    from snnsim.kernels import eprop_lazy as KL
    rng = np.random.default_rng(70 + seed)
    B, K, n, n_pre = 2, 15, 5, 6
    p = params(rng, n, adaptive)
    p["alpha"] = np.full(n, 0.9)                      # one shared leak
    kappa = 0.85
    pre = (rng.random((B, 2 * K, n_pre)) < 0.4).astype(float)
    active = rng.random((B, 2 * K, n)) < 0.25         # mostly silent rows
    active[:, K - 3:K + 4, 0] = False                 # a row pending across the block boundary
    psi = rng.random((B, 2 * K, n)) * active
    sig = rng.standard_normal((B, 2 * K, n)) * (rng.random((B, 2 * K, n)) < 0.8)
    zeros = lambda: np.zeros((B, n, n_pre))
    s0 = {"ev": zeros(), "ea": zeros(), "hh": zeros(), "eb": zeros()}
    g_ref, es_ref, fin, _ = ref_traces(pre, psi, sig, p, kappa, False, 0.0, False, s0,
                                       np.zeros((B, n)))
    zbar, ea, eb, grad, esum, dv = np.zeros((B, n_pre)), zeros(), zeros(), zeros(), zeros(), zeros()
    pp = np.zeros((B, n))
    ph = np.zeros((1, 1, 1))
    for sl in (slice(0, K), slice(K, 2 * K)):
        KL.eprop_lazy_block(np.ascontiguousarray(pre[:, sl]), np.ascontiguousarray(psi[:, sl]),
                            np.ascontiguousarray(sig[:, sl]), 0.9, p["zeta"], p["beta"], p["rho"],
                            kappa, adaptive, want_esum, pp, zbar, ea if adaptive else ph, eb, grad,
                            esum if want_esum else ph, p["v_th"], dv)
    np.testing.assert_allclose(grad, g_ref, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(eb, fin["eb"], rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(p["zeta"][None, :, None] * zbar[:, None, :] + dv, fin["ev"],
                               rtol=1e-11, atol=1e-12)
    if adaptive:
        np.testing.assert_allclose(ea, fin["ea"], rtol=1e-11, atol=1e-12)
    if want_esum:
        np.testing.assert_allclose(esum, es_ref, rtol=1e-11, atol=1e-12)
    assert np.abs(dv).max() > 1e-3      # the local terms were exercised
