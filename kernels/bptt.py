"""Reverse-mode (BPTT) kernel for one LIF/ALIF layer, optionally split by explicit-hop order.

Adjoints of the layer equations in ``forward.py`` (Werbos 1990; Bellec et al. 2020 use the
same pseudo-derivative psi), for order n = number of explicit hops (Martin-Sanchez, Bohte &
Otte 2022, arXiv 2207.11439). With W~[i,j] = zeta_j W_rec[i,j] - v_th_j delta_ij (reset
"detach": the reset is an explicit hop):

    gz^(n),t_j = g_ext^(n),t_j + sum_k W~[j,k] gv^(n-1),t+1_k + ga^(n),t+1_j
    gv^(n),t_j = psi^t_j gz^(n),t_j + alpha_j gv^(n),t+1_j
    ga^(n),t_j = -beta_j psi^t_j gz^(n),t_j + rho_j ga^(n),t+1_j
    dW_in[i,j]  += pre^t_i  zeta_j sum_n gv^(n),t_j ;  dW_rec[i,j] += z^{t-1}_i zeta_j sum_n gv^(n),t_j
    g_pre^(n),t_i = sum_j W_in[i,j] zeta_j gv^(n),t_j       (handed to the layer below)

With ``local=True`` (reset "local") the reset stays within the neuron, W~ = zeta W_rec and
    gz^(n),t_j = g_ext^(n),t_j + sum_k W~[j,k] gv^(n-1),t+1_k + ga^(n),t+1_j - v_th_j gv^(n),t+1_j

``full=True`` is exact BPTT (one order, hops stay in it; both conventions give the same
gradient); otherwise orders 0..M-1 are kept and hops beyond M-1 are dropped (hop-truncated BPTT).
"""
import numpy as np
from numba import prange

from ._jit import kernel


@kernel(parallel=True)
def layer_backward(pre, z_prev, psi, g_ext, w_in, w_rec, has_rec, alpha, zeta, v_th, beta, rho,
                   full, need_g_pre, gw_in, gw_rec, g_pre, local=False):
    """Backward pass of one layer over the whole sequence.

    pre: (B, T, n_pre); z_prev, psi: (B, T, n); g_ext: (M, B, T, n) dL/dz from above, by order.
    Accumulated in place (+=): gw_in (B, n_pre, n), gw_rec (B, n, n) (per-trial gradients).
    Written: g_pre (M, B, T, n_pre) when need_g_pre.
    local: reset convention, False = "detach" (the reset is an explicit hop), True = "local".
    """
    M, B, T, n = g_ext.shape
    n_pre = pre.shape[2]
    for b in prange(B):
        gv_next = np.zeros((M, n), dtype=g_ext.dtype)
        ga_next = np.zeros((M, n), dtype=g_ext.dtype)
        gv = np.zeros((M, n), dtype=g_ext.dtype)
        ga = np.zeros((M, n), dtype=g_ext.dtype)
        h = np.zeros(n, dtype=g_ext.dtype)
        gsum = np.zeros(n, dtype=g_ext.dtype)
        for t in range(T - 1, -1, -1):
            for m in range(M):
                src = m if full else m - 1
                for j in range(n):
                    gz = g_ext[m, b, t, j] + ga_next[m, j]
                    if local:
                        gz -= v_th[j] * gv_next[m, j]
                    if src >= 0:
                        lat = 0.0 if local else -v_th[j] * gv_next[src, j]
                        if has_rec:
                            for k in range(n):
                                lat += w_rec[j, k] * zeta[k] * gv_next[src, k]
                        gz += lat
                    p = psi[b, t, j]
                    gv[m, j] = p * gz + alpha[j] * gv_next[m, j]
                    ga[m, j] = -beta[j] * p * gz + rho[j] * ga_next[m, j]
            for j in range(n):
                s = 0.0
                for m in range(M):
                    s += gv[m, j]
                gsum[j] = zeta[j] * s
            for i in range(n_pre):
                xi = pre[b, t, i]
                if xi != 0.0:
                    for j in range(n):
                        gw_in[b, i, j] += xi * gsum[j]
            if has_rec:
                for i in range(n):
                    zi = z_prev[b, t, i]
                    if zi != 0.0:
                        for j in range(n):
                            gw_rec[b, i, j] += zi * gsum[j]
            if need_g_pre:
                for m in range(M):
                    for j in range(n):
                        h[j] = zeta[j] * gv[m, j]
                    for i in range(n_pre):
                        s = 0.0
                        for j in range(n):
                            s += w_in[i, j] * h[j]
                        g_pre[m, b, t, i] = s
            for m in range(M):
                for j in range(n):
                    gv_next[m, j] = gv[m, j]
                    ga_next[m, j] = ga[m, j]
