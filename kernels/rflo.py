"""RFLO eligibility traces (Murray 2019, eLife 8:e43299): the leaky-filtered product of the
postsynaptic pseudo-derivative and the presynaptic input,

    p_ij^t = alpha_j p_ij^{t-1} + zeta_j psi_j^t pre_i^t ,    g_ij += lam_j^t p_ij^t

(the filter acts after the product, unlike e-prop's e = psi * filtered input).
Cost per trial and step: O(n_pre n) time, n_pre n values of memory.
"""
from numba import prange

from ._jit import kernel


@kernel(parallel=True)
def rflo_grad(pre, psi, lam, alpha, zeta, p, g):
    """Accumulate sum_t lam_j^t p_ij^t over a whole sequence.

    pre: (B, T, n_pre); psi, lam: (B, T, n); alpha, zeta: (n,).
    Trace p (B, n_pre, n): zeroed, then updated in place. Accumulated in place (+=): g (B, n_pre, n).
    """
    B, T, n_pre = pre.shape
    n = psi.shape[2]
    for b in prange(B):
        p[b] = 0.0
        for t in range(T):
            for i in range(n_pre):
                x = pre[b, t, i]
                for j in range(n):
                    pij = alpha[j] * p[b, i, j] + zeta[j] * psi[b, t, j] * x
                    p[b, i, j] = pij
                    g[b, i, j] += lam[b, t, j] * pij
