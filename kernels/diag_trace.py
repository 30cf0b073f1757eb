"""Per-synapse eligibility traces with the neuron's own (diagonal) Jacobian: SnAp-1 and OSTL.

For a weight W[i, j] (presynaptic input i, neuron j of a LIF/ALIF layer) the influence of W[i,j]
on neuron j's own state only (Menick et al. 2021, SnAp-1; Bohnstingl et al. 2022, OSTL):

    ev_ij^t = alpha_j ev_ij^{t-1} + d_j dz_ij^{t-1} + zeta_j pre_i^t
    ea_ij^t = rho_j ea_ij^{t-1} + dz_ij^{t-1}
    dz_ij^t = psi_j^t (ev_ij^t - beta_j ea_ij^t)            (influence on z_j^t)
    g_ij   += lam_j^t dz_ij^t

d_j is the neuron's self hop: zeta_j W_rec[j,j] - v_th_j (reset kept, "local"), or 0 (reset and
self-connection detached, Bellec 2020: then dz is e-prop's eligibility trace e_ij).
Cost per trial and step: O(n_pre n) time, 3 n_pre n values of memory.
"""
from numba import prange

from ._jit import kernel


@kernel(parallel=True)
def diag_trace_grad(pre, psi, lam, alpha, zeta, beta, rho, d, ev, ea, dz, g):
    """Accumulate sum_t lam_j^t dz_ij^t over a whole sequence.

    pre: (B, T, n_pre) presynaptic input seen at each step; psi, lam: (B, T, n) pseudo-derivative
    and learning signal; alpha, zeta, beta, rho, d: (n,).
    Traces ev, ea, dz (B, n_pre, n): zeroed, then updated in place (their values after the last
    step on return). Accumulated in place (+=): g (B, n_pre, n).
    """
    B, T, n_pre = pre.shape
    n = psi.shape[2]
    for b in prange(B):
        ev[b] = 0.0
        ea[b] = 0.0
        dz[b] = 0.0
        for t in range(T):
            for i in range(n_pre):
                x = pre[b, t, i]
                for j in range(n):
                    dzp = dz[b, i, j]
                    v = alpha[j] * ev[b, i, j] + d[j] * dzp + zeta[j] * x
                    a = rho[j] * ea[b, i, j] + dzp
                    ev[b, i, j] = v
                    ea[b, i, j] = a
                    dzn = psi[b, t, j] * (v - beta[j] * a)
                    dz[b, i, j] = dzn
                    g[b, i, j] += lam[b, t, j] * dzn
