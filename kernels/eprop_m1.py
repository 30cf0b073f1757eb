"""Fused first-order e-prop kernel (m = 1 of Martin-Sanchez, Bohte & Otte 2022) for a LIF layer.

With one shared leak alpha, the one-hop sensitivity factorises (see the spec):
    P^(1),t[k, j, i] = W~[j, k] F_ji^t,   F^t = alpha F^{t-1} + e^{t-1},   W~ = zeta W_rec - v_th I
Its contribution to the (leaky) readout is tracked exactly per output o:
    Y1^t[j, i, o] = kappa Y1^{t-1}[j, i, o] + C^t[j, o] F_ji^t,   C^t[j, o] = sum_k W~[j, k] psi_k^t B[k, o]
    grad_ji += sum_o err_o^t Y1^t[j, i, o]
in the same loop as the order-0 trace (eps^t = alpha eps^{t-1} + zeta pre^t, e = psi eps,
ebar = kappa ebar + e, grad += L ebar). Memory O(B N N_pre n_out), flat in time.
Reset "detach" only (the reset is the -v_th I part of the hop W~): with the reset local the
order-0 Jacobian alpha - v_th psi_k^{t-1} differs between neurons and P^(1) does not factorise.
"""
from numba import prange

from ._jit import kernel


@kernel(parallel=True, twin=False)   # its serial compilation rounds differently
def eprop_m1_block(pre, psi, sig, c, err, alpha, zeta, a_shared, kappa, psi_prev, ev, eb, f, y1, grad):
    """One block for a LIF layer. pre (B,K,n_pre); psi, sig (B,K,n); c (B,K,n,n_out); err (B,K,n_out).

    Modified in place: psi_prev (B,n); ev, eb, f, grad (B,n,n_pre); y1 (B,n,n_pre,n_out).
    """
    B, K, n_pre = pre.shape
    n = psi.shape[2]
    n_out = err.shape[2]
    for b in prange(B):
        for t in range(K):
            for j in range(n):
                p = psi[b, t, j]
                pp = psi_prev[b, j]
                s = sig[b, t, j]
                al = alpha[j]
                ze = zeta[j]
                for i in range(n_pre):
                    evo = ev[b, j, i]
                    fn = a_shared * f[b, j, i] + pp * evo
                    f[b, j, i] = fn
                    evn = al * evo + ze * pre[b, t, i]
                    ev[b, j, i] = evn
                    ebn = kappa * eb[b, j, i] + p * evn
                    eb[b, j, i] = ebn
                    g = s * ebn
                    for o in range(n_out):
                        yn = kappa * y1[b, j, i, o] + c[b, t, j, o] * fn
                        y1[b, j, i, o] = yn
                        g += err[b, t, o] * yn
                    grad[b, j, i] += g
                psi_prev[b, j] = p
