"""RFLO eligibility traces (Murray 2019, eLife 8:e43299): the leaky-filtered product of the
postsynaptic pseudo-derivative and the presynaptic input,

    p_ij^t = alpha_j p_ij^{t-1} + zeta_j psi_j^t pre_i^t ,    g_ij += lam_j^t p_ij^t

(the filter acts after the product, unlike e-prop's e = psi * filtered input).
Cost per trial and step: O(n_pre n) time, n_pre n values of memory.
"""
import numpy as np
from numba import prange

from ._jit import kernel


@kernel(parallel=True)
def rflo_grad(pre, psi, lam, alpha, zeta, g):
    """Accumulate sum_t lam_j^t p_ij^t over a whole sequence.

    pre: (B, T, n_pre); psi, lam: (B, T, n); alpha, zeta: (n,).
    Accumulated in place (+=): g (B, n_pre, n).
    """
    B, T, n_pre = pre.shape
    n = psi.shape[2]
    for b in prange(B):
        p = np.zeros((n_pre, n), dtype=g.dtype)
        for t in range(T):
            for i in range(n_pre):
                x = pre[b, t, i]
                for j in range(n):
                    pij = alpha[j] * p[i, j] + zeta[j] * psi[b, t, j] * x
                    p[i, j] = pij
                    g[b, i, j] += lam[b, t, j] * pij
