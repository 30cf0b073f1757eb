"""Activity-proportional e-prop kernel: lazy trace decay for neurons whose psi is zero.

Same rule as ``eprop.eprop_layer_block`` for a layer whose neurons share one leak alpha
(Bellec et al. 2020): then eps_v_ji = zeta_j zbar_i with one presynaptic trace
zbar_i^t = alpha zbar_i^{t-1} + pre_i^t, so no N x N_pre eps_v array is stored. While
psi_j^t = psi_j^{t-1} = 0, row j has e_ji = 0 and its traces only decay:
    ebar_ji^{t0+k} = kappa^k ebar_ji^{t0},   eps_a_ji^{t0+k} = rho_j^k eps_a_ji^{t0}
    sum_k L_j^{t0+k} ebar_ji^{t0+k} = ebar_ji^{t0} * S_j,   S_j = sum_k L_j^{t0+k} kappa^k
so the row costs O(1) per step; it is brought up to date (O(N_pre)) when the neuron
comes close to threshold again, and at the end of every block.
Reset "local" (``reset_v_th`` given): eps_v_ji is no longer zeta_j zbar_i (it depends on
psi_j, ``eprop.eprop_layer_block``), but its deviation d_ji = eps_v_ji - zeta_j zbar_i obeys
    d^t = (alpha - v_th_j psi_j^{t-1}) d^{t-1} - v_th_j psi_j^{t-1} zeta_j zbar_i^{t-1}
          + v_th_j beta_j psi_j^{t-1} eps_a^{t-1}
so it only decays (by alpha) while psi_j^{t-1} = 0: d (B, n, n_pre, in ``dv``) is kept and
decayed lazily like ebar and eps_a, and the kernel stays activity-proportional.
"""
import numpy as np
from numba import prange

from ._jit import kernel


@kernel()
def _catch_up(j, grad, eb, ea, adaptive, s_acc, dec_eb, dec_a, dv=None, dec_d=None):
    """Apply row j's pending decays and gradient (in place; one trial's (n, n_pre) arrays)
    and reset its accumulators (and the decay of the eps_v deviation ``dv`` with reset
    "local")."""
    s, de, da = s_acc[j], dec_eb[j], dec_a[j]
    for i in range(eb.shape[1]):
        grad[j, i] += s * eb[j, i]
        eb[j, i] *= de
        if adaptive:
            ea[j, i] *= da
    if dv is not None:
        dd = dec_d[j]
        for i in range(eb.shape[1]):
            dv[j, i] *= dd
        dec_d[j] = 1.0
    s_acc[j] = 0.0
    dec_eb[j] = 1.0
    dec_a[j] = 1.0


@kernel()
def lazy_step(pre_t, psi_t, sig_t, alpha, zeta, beta, rho, kappa, adaptive, want_esum,
              psi_prev, zbar, ea, eb, grad, esum, zprev, s_acc, dec_eb, dec_a, pending, dec_d,
              reset_v_th=None, dv=None):
    """One step of one trial (the body of :func:`eprop_lazy_block`, and of the fused online
    loop ``eprop_online``). Arrays of one trial: pre_t (n_pre,), psi_t, sig_t (n,);
    modified in place: psi_prev (n,), zbar (n_pre,), eb, grad (n, n_pre), ea when adaptive,
    esum when want_esum, dv (reset "local"); the lazy bookkeeping zprev (n_pre,) (scratch),
    s_acc, dec_eb, dec_a, dec_d (n,) float64 and pending (n,) bool, kept between steps
    until :func:`lazy_finish` brings every row up to date."""
    n_pre = pre_t.shape[0]
    n = psi_t.shape[0]
    for i in range(n_pre):
        zprev[i] = zbar[i]
        zbar[i] = alpha * zbar[i] + pre_t[i]
    for j in range(n):
        p = psi_t[j]
        pp = psi_prev[j]
        s = sig_t[j]
        if p == 0.0 and pp == 0.0:
            dec_eb[j] *= kappa
            dec_a[j] *= rho[j]
            if reset_v_th is not None:
                dec_d[j] *= alpha
            s_acc[j] += s * dec_eb[j]
            pending[j] = True
            continue
        if pending[j]:
            if reset_v_th is not None:
                _catch_up(j, grad, eb, ea, adaptive, s_acc, dec_eb, dec_a, dv, dec_d)
            else:
                _catch_up(j, grad, eb, ea, adaptive, s_acc, dec_eb, dec_a)
            pending[j] = False
        ze = zeta[j]
        be = beta[j]
        decay_a = rho[j] - pp * be
        if reset_v_th is not None:
            rv = reset_v_th[j] * pp
            dd = alpha - rv                 # d^t / d^{t-1}
            rva = rv * be                   # d^t / eps_a^{t-1}
            for i in range(n_pre):
                zp = ze * zprev[i]
                d_old = dv[j, i]
                if adaptive:
                    ea_old = ea[j, i]
                    ean = pp * (zp + d_old) + decay_a * ea_old
                    d_new = dd * d_old - rv * zp + rva * ea_old
                    ea[j, i] = ean
                    e = p * (ze * zbar[i] + d_new - be * ean)
                else:
                    d_new = dd * d_old - rv * zp
                    e = p * (ze * zbar[i] + d_new)
                dv[j, i] = d_new
                eb[j, i] = kappa * eb[j, i] + e
                if want_esum:
                    esum[j, i] += e
            if s != 0.0:
                for i in range(n_pre):
                    grad[j, i] += s * eb[j, i]
            psi_prev[j] = p
            continue
        for i in range(n_pre):
            evn = ze * zbar[i]
            if adaptive:
                ean = pp * (ze * zprev[i]) + decay_a * ea[j, i]
                ea[j, i] = ean
                e = p * (evn - be * ean)
            else:
                e = p * evn
            eb[j, i] = kappa * eb[j, i] + e
            if want_esum:
                esum[j, i] += e
        if s != 0.0:   # outside a learning window the signal is 0: no gradient pass
            for i in range(n_pre):
                grad[j, i] += s * eb[j, i]
        psi_prev[j] = p


@kernel()
def lazy_finish(grad, eb, ea, adaptive, s_acc, dec_eb, dec_a, pending, dec_d, dv=None):
    """Bring every pending row of one trial up to date (in place; see :func:`lazy_step`)."""
    for j in range(pending.shape[0]):
        if pending[j]:
            if dv is not None:
                _catch_up(j, grad, eb, ea, adaptive, s_acc, dec_eb, dec_a, dv, dec_d)
            else:
                _catch_up(j, grad, eb, ea, adaptive, s_acc, dec_eb, dec_a)
            pending[j] = False


@kernel(parallel=True)
def eprop_lazy_block(pre, psi, sig, alpha, zeta, beta, rho, kappa, adaptive, want_esum,
                     psi_prev, zbar, ea, eb, grad, esum, reset_v_th=None, dv=None):
    """One block of K steps for a layer with a shared leak ``alpha`` (scalar)
    (:func:`lazy_step` per step, :func:`lazy_finish` at the end).

    pre (B, K, n_pre); psi, sig (B, K, n). Modified in place: psi_prev (B, n),
    zbar (B, n_pre), eb and grad (B, n, n_pre), ea when adaptive, esum when want_esum
    (placeholders (1, 1, 1) otherwise). All rows are up to date when the call returns.
    reset_v_th, dv: None (reset "detach"), or v_th (n,) and the eps_v deviation (B, n, n_pre),
    modified in place (reset "local").
    """
    B, K, n_pre = pre.shape
    n = psi.shape[2]
    for b in prange(B):
        zprev = np.empty(n_pre, dtype=zbar.dtype)
        s_acc = np.zeros(n)
        dec_eb = np.ones(n)
        dec_a = np.ones(n)
        dec_d = np.ones(n)
        pending = np.zeros(n, dtype=np.bool_)
        ea_b = ea[b] if adaptive else ea[0]        # placeholders (1, 1, 1) when unused
        es_b = esum[b] if want_esum else esum[0]
        if reset_v_th is not None:
            dv_b = dv[b]
            for t in range(K):
                lazy_step(pre[b, t], psi[b, t], sig[b, t], alpha, zeta, beta, rho, kappa,
                          adaptive, want_esum, psi_prev[b], zbar[b], ea_b, eb[b], grad[b], es_b,
                          zprev, s_acc, dec_eb, dec_a, pending, dec_d, reset_v_th, dv_b)
            lazy_finish(grad[b], eb[b], ea_b, adaptive, s_acc, dec_eb, dec_a, pending, dec_d,
                        dv_b)
        else:
            for t in range(K):
                lazy_step(pre[b, t], psi[b, t], sig[b, t], alpha, zeta, beta, rho, kappa,
                          adaptive, want_esum, psi_prev[b], zbar[b], ea_b, eb[b], grad[b], es_b,
                          zprev, s_acc, dec_eb, dec_a, pending, dec_d)
            lazy_finish(grad[b], eb[b], ea_b, adaptive, s_acc, dec_eb, dec_a, pending, dec_d)
