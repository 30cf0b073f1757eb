"""Fused e-prop kernels: eligibility-trace update and gradient accumulation in one loop.

Bellec et al. 2020 (Nat. Commun. 11:3625), order m = 0 of Martin-Sanchez et al. 2022.
For neuron j and presynaptic entry i of ``pre`` (= [layer input, own z^{t-1}]):

    eps_a^t = psi_j^{t-1} eps_v^{t-1} + (rho_j - psi_j^{t-1} beta_j) eps_a^{t-1}     (ALIF)
    eps_v^t = alpha_j eps_v^{t-1} + zeta_j pre_i^t
    e^t     = psi_j^t (eps_v^t - beta_j eps_a^t)
    top layer:   ebar^t = kappa ebar^{t-1} + e^t,                 grad += L_j^t ebar^t
    lower layer (deep e-prop variants, Millidge 2025, arXiv 2512.24506):
                 H^t = a_hat H^{t-1} + e^t  (a_hat = 0: spatial-only, a_hat = alpha_{l+1}: one-hop)
                 ebar^t = kappa ebar^{t-1} + H^t (H^{t-1} with the one-step delay), grad += delta_j^t ebar^t
Optionally esum += e^t (firing-rate regularisation). All traces are (B, n, n_pre) and are
carried across blocks, so memory does not depend on the sequence length.

Reset convention: the recursion above is reset "detach" (the reset -v_th z^{t-1} is an
explicit hop, dropped at order 0; Bellec 2020, NEST). With reset "local" (``reset_v_th``
given) the reset stays in the within-neuron Jacobian:
    eps_v^t = (alpha_j - v_th_j psi_j^{t-1}) eps_v^{t-1} + v_th_j beta_j psi_j^{t-1} eps_a^{t-1}
              + zeta_j pre_i^t
and eps_a, e, H, ebar as above. eps_v then depends on j through psi: it is no longer a
presynaptic trace (the shared-leak shortcuts of ``eprop_lazy`` and the window engine do not
apply). The detach specialisation is compiled without the local terms (numba prunes the
``reset_v_th is None`` branch), so its arithmetic is unchanged.
The fused online loop (``eprop_online``) calls ``eprop_layer_block.serial`` one step at a
time (its per-step body factored into a function of its own ran 1.3-1.8x slower).
"""
from numba import prange

from ._jit import kernel


@kernel(parallel=True)
def eprop_layer_block(pre, psi, sig, alpha, zeta, beta, rho, kappa, adaptive, use_h, a_hat, delay,
                      want_esum, psi_prev, ev, ea, hh, eb, grad, esum, reset_v_th=None):
    """One block of K steps for one layer (all trials in parallel).

    pre: (B, K, n_pre); psi, sig: (B, K, n) pseudo-derivatives and learning signals.
    Modified in place: psi_prev (B, n); ev, eb, grad (B, n, n_pre); ea when adaptive;
    hh when use_h; esum when want_esum (else these may be (1, 1, 1) placeholders).
    reset_v_th: None for reset "detach", or the thresholds v_th (n,) for reset "local".
    """
    B, K, n_pre = pre.shape
    n = psi.shape[2]
    plain = not use_h and not want_esum
    for b in prange(B):
        for t in range(K):
            for j in range(n):
                p = psi[b, t, j]
                pp = psi_prev[b, j]
                s = sig[b, t, j]
                al = alpha[j]
                ze = zeta[j]
                be = beta[j]
                decay_a = rho[j] - pp * be
                if reset_v_th is not None:
                    dvv = al - reset_v_th[j] * pp            # dv^t/dv^{t-1}, reset kept
                    dva = reset_v_th[j] * be * pp            # dv^t/da^{t-1}
                    if adaptive and plain:
                        # the common ALIF case (top layer, no regulariser) as a branch-free
                        # loop: with the H-trace and esum branches in it, the compiler gave
                        # up on the coupled eps_v/eps_a update (2.5x slower, benchmarks/)
                        for i in range(n_pre):
                            evo = ev[b, j, i]
                            eao = ea[b, j, i]
                            evn = dvv * evo + dva * eao + ze * pre[b, t, i]
                            ean = pp * evo + decay_a * eao
                            ev[b, j, i] = evn
                            ea[b, j, i] = ean
                            ebn = kappa * eb[b, j, i] + p * (evn - be * ean)
                            eb[b, j, i] = ebn
                            grad[b, j, i] += s * ebn
                        psi_prev[b, j] = p
                        continue
                for i in range(n_pre):
                    evo = ev[b, j, i]
                    if reset_v_th is not None:   # both traces loaded before either is stored
                        if adaptive:
                            eao = ea[b, j, i]
                            evn = dvv * evo + dva * eao + ze * pre[b, t, i]
                            ean = pp * evo + decay_a * eao
                            ev[b, j, i] = evn
                            ea[b, j, i] = ean
                            e = p * (evn - be * ean)
                        else:
                            evn = dvv * evo + ze * pre[b, t, i]
                            ev[b, j, i] = evn
                            e = p * evn
                    else:
                        evn = al * evo + ze * pre[b, t, i]
                        ev[b, j, i] = evn
                        if adaptive:
                            ean = pp * evo + decay_a * ea[b, j, i]
                            ea[b, j, i] = ean
                            e = p * (evn - be * ean)
                        else:
                            e = p * evn
                    if use_h:
                        h_old = hh[b, j, i]
                        h_new = a_hat * h_old + e
                        hh[b, j, i] = h_new
                        src = h_old if delay else h_new
                    else:
                        src = e
                    ebn = kappa * eb[b, j, i] + src
                    eb[b, j, i] = ebn
                    grad[b, j, i] += s * ebn
                    if want_esum:
                        esum[b, j, i] += e
                psi_prev[b, j] = p


@kernel()
def readout_grad_step(zt, errt, kappa, zbar, grad):
    """One step of one trial of :func:`readout_grad_block`: zt (n,), errt (n_out,);
    zbar (n,) and grad (n, n_out) modified in place."""
    n = zt.shape[0]
    n_out = errt.shape[0]
    active = False
    for k in range(n_out):
        if errt[k] != 0.0:
            active = True
    for j in range(n):
        zb = kappa * zbar[j] + zt[j]
        zbar[j] = zb
        if active and zb != 0.0:
            for k in range(n_out):
                grad[j, k] += zb * errt[k]


@kernel()
def readout_grad_block(z, err, kappa, zbar, grad):
    """Exact readout-weight gradient over a block: zbar = kappa zbar + z; grad[b] += zbar (x) err.

    z: (B, K, n); err: (B, K, n_out). Modified in place: zbar (B, n), grad (B, n, n_out).
    """
    B, K, n = z.shape
    for b in range(B):   # O(n n_out) per step: serial is faster than a thread launch
        for t in range(K):
            readout_grad_step(z[b, t], err[b, t], kappa, zbar[b], grad[b])
