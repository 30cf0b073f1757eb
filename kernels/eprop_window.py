"""Window form of e-prop: per-neuron adjoint recursions, so the synapse work is a matrix product.

Bellec et al. 2020 (Nat. Commun. 11:3625); same rule and state as ``eprop.eprop_layer_block``.
For one neuron j the per-synapse state s_ji = (eps_v, eps_a, H, ebar) obeys, at step t,

    eps_v^t = alpha_j eps_v^{t-1} + zeta_j pre_i^t
    eps_a^t = psi_j^{t-1} eps_v^{t-1} + (rho_j - psi_j^{t-1} beta_j) eps_a^{t-1}
    e^t     = psi_j^t (eps_v^t - beta_j eps_a^t)
    H^t     = a_hat H^{t-1} + e^t                      (lower layers only)
    ebar^t  = kappa ebar^{t-1} + src^t,  src = e^t, H^t or H^{t-1} (one-step delay)

(reset "detach"; with reset "local", ``reset_v_th`` given, the eps_v line becomes
    eps_v^t = (alpha_j - v_th_j psi_j^{t-1}) eps_v^{t-1} + v_th_j beta_j psi_j^{t-1} eps_a^{t-1}
              + zeta_j pre_i^t
and the adjoint sweep gets the transposed terms; see ``eprop.eprop_layer_block``), which is
linear in (pre_i, s_ji^0) with coefficients that depend on j and t only. A linear
functional J_ji = sum_t [ws L_j^t ebar_ji^t + we_j e_ji^t] + term . s_ji^K of one window of K
steps is therefore

    J_ji = sum_t c_j^t pre_i^t + sum_q d_jq s_jiq^0,

where c = zeta_j lambda_v^t and d are obtained by one backward (adjoint) sweep over the
window per neuron, O(K n); the O(K n n_pre) part is the product c^T pre, done by BLAS.
The gradient (ws = 1, we = regularisation weight), the summed trace sum_t e^t (we = 1) and the
end-of-window state (term = unit vector) are all such functionals. Results equal the
per-step trace kernels up to the summation order (float rounding).
"""
import numpy as np
from numba import prange

from ._jit import kernel, store

N_STATE = 4   # (eps_v, eps_a, H, ebar)


@kernel()
def _adjoint_row(p_t, pp_t, s_t, ws, w_e, alpha, zeta, beta, rho, kappa, a_hat, uh, dl,
                 n_v, n_a, n_h, n_b, c_t, reset_v_th=None):
    """One step of the backward sweep for the n neurons of one trial (in place on n_*, c_t).

    Branch-free so that it vectorises: uh, dl are 0/1 factors (H trace, one-step delay); with
    beta = 0 the eps_a adjoint stays 0, so LIF neurons need no separate path.
    reset_v_th: None (reset "detach") or v_th (n,) (reset "local"; a compile-time choice).
    """
    for j in range(p_t.shape[0]):
        p = p_t[j]
        pp = pp_t[j]
        l_b = ws * s_t[j] + n_b[j]
        n_b[j] = kappa * l_b
        l_h = n_h[j] + (1.0 - dl) * l_b
        n_h[j] = uh * (a_hat * l_h + dl * l_b)
        g_e = w_e[j] + uh * l_h + (1.0 - uh) * l_b
        l_v = p * g_e + n_v[j]
        c_t[j] = zeta[j] * l_v
        l_a = n_a[j] - beta[j] * p * g_e
        if reset_v_th is not None:
            r = reset_v_th[j] * pp
            n_v[j] = (alpha[j] - r) * l_v + pp * l_a
            n_a[j] = r * beta[j] * l_v + (rho[j] - pp * beta[j]) * l_a
        else:
            n_v[j] = alpha[j] * l_v + pp * l_a
            n_a[j] = (rho[j] - pp * beta[j]) * l_a


@kernel(parallel=True)
def adjoint_window(psi, sig, psi0, ws, we, alpha, zeta, beta, rho, kappa, a_hat, use_h, delay,
                   adj, coef, reset_v_th=None):
    """Backward sweep over one chunk of K steps for one functional (all trials in parallel).

    psi, sig: (B, K, n) pseudo-derivatives and learning signals; psi0: (B, n) the pseudo-
    derivative of the step before the chunk; ws: scalar weight of sig; we: (B, n) weight of
    e^t at every step. adj (B, n, 4), modified in place: on entry the adjoint of the state
    (eps_v, eps_a, H, ebar) after the chunk's last step (the functional's end weights, or what
    the following chunk returned), on return the adjoint of the state before its first step.
    Writes coef (B, K, n): the coefficient of pre_i^t.
    reset_v_th: None for reset "detach", or v_th (n,) for reset "local".
    """
    B, K, n = psi.shape
    uh = 1.0 if use_h else 0.0
    dl = 1.0 if delay else 0.0
    for b in prange(B):
        n_v, n_a, n_h, n_b = adj[b, :, 0].copy(), adj[b, :, 1].copy(), adj[b, :, 2].copy(), adj[b, :, 3].copy()
        for t in range(K - 1, -1, -1):
            _adjoint_row(psi[b, t], psi[b, t - 1] if t > 0 else psi0[b], sig[b, t], ws, we[b],
                         alpha, zeta, beta, rho, kappa, a_hat, uh, dl, n_v, n_a, n_h, n_b, coef[b, t],
                         reset_v_th)
        store(adj[b, :, 0], n_v)
        store(adj[b, :, 1], n_a)
        store(adj[b, :, 2], n_h)
        store(adj[b, :, 3], n_b)


@kernel(parallel=True)
def adjoint_events(psi, sig, psi0, ws, we, alpha, zeta, beta, rho, kappa, a_hat, use_h, delay,
                   adj, x, z, z0, gT, reset_v_th=None):
    """``adjoint_window`` fused with the gradient product for spike inputs: the coefficient
    row of step t is added to gT[b, i, :] for every non-zero input i of that step, scaled by
    its value, without writing the coefficients to memory: O(B K n + events n).
    Inputs: x (B, K, m), then the layer's own z^{t-1}: z[b, t - 1] (z0[b] at t = 0), with
    z (B, K, n_z) and z0 (B, n_z); n_z = 0 for a layer without recurrence.
    adj (B, n, 4) and gT (B, m + n_z, n) are modified in place (one slice per trial).
    reset_v_th: None for reset "detach", or v_th (n,) for reset "local".
    """
    B, K, n = psi.shape
    m = x.shape[2]
    mz = z.shape[2]
    uh = 1.0 if use_h else 0.0
    dl = 1.0 if delay else 0.0
    for b in prange(B):
        n_v, n_a, n_h, n_b = adj[b, :, 0].copy(), adj[b, :, 1].copy(), adj[b, :, 2].copy(), adj[b, :, 3].copy()
        c_t = np.empty(n, adj.dtype)
        g = gT[b]
        for t in range(K - 1, -1, -1):
            _adjoint_row(psi[b, t], psi[b, t - 1] if t > 0 else psi0[b], sig[b, t], ws, we[b],
                         alpha, zeta, beta, rho, kappa, a_hat, uh, dl, n_v, n_a, n_h, n_b, c_t,
                         reset_v_th)
            for i in range(m + mz):
                if i < m:
                    s = x[b, t, i]
                else:
                    s = z[b, t - 1, i - m] if t > 0 else z0[b, i - m]
                if s != 0.0:
                    for j in range(n):
                        g[i, j] += s * c_t[j]
        store(adj[b, :, 0], n_v)
        store(adj[b, :, 1], n_a)
        store(adj[b, :, 2], n_h)
        store(adj[b, :, 3], n_b)


@kernel(parallel=True)
def lowrank_signal(err, fb, out):
    """out[b, t, j] = sum_k err[b, t, k] fb[j, k]: the top layer's learning signal from the
    readout error (n_out << n), without a BLAS call between the parallel sweeps.
    err (B, K, n_out), fb (n, n_out); out (B, K, n) written."""
    B, K, n_out = err.shape
    n = fb.shape[0]
    for b in prange(B):
        for t in range(K):
            row = out[b, t]
            for j in range(n):
                row[j] = 0.0
            for k in range(n_out):
                e = err[b, t, k]
                if e != 0.0:
                    for j in range(n):
                        row[j] += e * fb[j, k]


@kernel()
def advance_trace(pre, alpha, zbar):
    """zbar^t = alpha zbar^{t-1} + pre^t over a window; pre (B, K, n_pre); zbar (B, n_pre) in place."""
    B, K, n_pre = pre.shape
    for b in range(B):
        for t in range(K):
            for i in range(n_pre):
                zbar[b, i] = alpha * zbar[b, i] + pre[b, t, i]
