"""Event-driven forward kernels: one LIF/ALIF layer and the leaky readout over a block of steps.

Equations (Bellec et al. 2020, Nat. Commun. 11:3625; NEST ``eprop_iaf*_bsshslm_2020``),
for neuron j of a layer, presynaptic index i, weights stored (pre, post):

    v_j^t = alpha_j v_j^{t-1} + zeta_j (sum_i W_in[i,j] x_i^t + sum_i W_rec[i,j] z_i^{t-1}) - v_th_j z_j^{t-1}
    a_j^t = rho_j a_j^{t-1} + z_j^{t-1}             (ALIF; beta_j = 0 gives LIF)
    A_j^t = v_th_j + beta_j a_j^t
    z_j^t = H(v_j^t - A_j^t)   (0 while refractory; refractory for ref_steps after a spike)
    psi_j^t = gamma / v_th_j * max(0, 1 - |v_j^t - A_j^t| / v_th_j)      (surrogate 0)
    smooth mode (surrogate 1): z_j^t = sigmoid((v_j^t - A_j^t)/sigma), psi_j^t = dz/dv exactly
    readout: y_k^t = kappa y_k^{t-1} + sum_j W_out[j,k] z_j^t

Only the weight rows of non-zero presynaptic entries are added (event-driven): cost
scales with the number of spikes, not with the number of neurons squared.
"""
import numpy as np
from numba import prange

from ._jit import kernel, store

SURROGATE_PIECEWISE = 0
SURROGATE_SMOOTH = 1


@kernel(parallel=True)
def layer_run(x, w_in, w_rec, has_rec, alpha, zeta, v_th, beta, rho, gamma, ref_steps,
              surrogate, sigma, v, a, z, ref, z_out, v_out, a_out, psi_out):
    """Simulate one layer for a block of K steps, all trials in parallel.

    x: (B, K, n_pre) input to the layer at each step (spikes or analogue values).
    w_in: (n_pre, n); w_rec: (n, n) (ignored unless has_rec).
    alpha, zeta, v_th, beta, rho, gamma: (n,) float; ref_steps: (n,) int64.
    State modified in place: v, a, z (B, n) float (z holds z^{t-1} on entry), ref (B, n) int64.
    Written: z_out, psi_out (B, K, n); v_out, a_out (B, K, n), or (B, 0, n) to skip them.
    """
    B, K, n_pre = x.shape
    n = v.shape[1]
    inv_th = 1.0 / v_th
    g_th = gamma / v_th
    for b in prange(B):
        cur = np.zeros(n, dtype=v.dtype)
        dd = np.empty(n, dtype=v.dtype)
        idx = np.empty(max(n_pre, n), dtype=np.int64)
        vb = v[b].copy()           # local state: no aliasing with the outputs, so the
        ab = a[b].copy()           # per-neuron loops vectorise
        zb = z[b].copy()
        rb = ref[b].copy()
        keep_va = v_out.shape[1] == K
        for t in range(K):
            cur[:] = 0.0
            # event list of active inputs, then add only their weight rows
            n_act = 0
            for i in range(n_pre):
                if x[b, t, i] != 0.0:
                    idx[n_act] = i
                    n_act += 1
            for q in range(n_act):
                i = idx[q]
                xi = x[b, t, i]
                for j in range(n):
                    cur[j] += xi * w_in[i, j]
            if has_rec:
                n_act = 0
                for i in range(n):
                    if zb[i] != 0.0:
                        idx[n_act] = i
                        n_act += 1
                for q in range(n_act):
                    i = idx[q]
                    zi = zb[i]
                    for j in range(n):
                        cur[j] += zi * w_rec[i, j]
            for j in range(n):
                zp = zb[j]
                vj = alpha[j] * vb[j] + zeta[j] * cur[j] - v_th[j] * zp
                aj = rho[j] * ab[j] + zp
                dd[j] = vj - (v_th[j] + beta[j] * aj)
                vb[j] = vj
                ab[j] = aj
            if keep_va:
                store(v_out[b, t], vb)
                store(a_out[b, t], ab)
            zo = z_out[b, t]
            po = psi_out[b, t]
            if surrogate == SURROGATE_SMOOTH:
                for j in range(n):
                    if rb[j] > 0:
                        rb[j] -= 1
                        zj = 0.0
                        pj = 0.0
                    else:
                        zj = 1.0 / (1.0 + np.exp(-dd[j] / sigma))
                        pj = zj * (1.0 - zj) / sigma
                    zb[j] = zj
                    zo[j] = zj
                    po[j] = pj
            else:
                for j in range(n):
                    d = dd[j]
                    r = 1.0 - abs(d) * inv_th[j]
                    pj = g_th[j] * r if r > 0.0 else 0.0
                    rf = rb[j]
                    inref = rf > 0
                    spike = d >= 0.0 and not inref
                    zj = 1.0 if spike else 0.0
                    rb[j] = ref_steps[j] if spike else (rf - 1 if inref else 0)
                    zb[j] = zj
                    zo[j] = zj
                    po[j] = 0.0 if inref else pj
        store(v[b], vb)
        store(a[b], ab)
        store(z[b], zb)
        store(ref[b], rb)


@kernel()
def readout_run(z, w_out, kappa, y, y_out):
    """Leaky readout over a block: y (B, n_out) state updated in place; y_out (B, K, n_out) written.

    z: (B, K, n) spikes of the top layer; w_out: (n, n_out); kappa: (n_out,).
    """
    B, K, n = z.shape
    n_out = y.shape[1]
    for b in range(B):   # a few outputs: threads would cost more than they save
        for t in range(K):
            for k in range(n_out):
                y[b, k] *= kappa[k]
            for j in range(n):
                zj = z[b, t, j]
                if zj != 0.0:
                    for k in range(n_out):
                        y[b, k] += zj * w_out[j, k]
            for k in range(n_out):
                y_out[b, t, k] = y[b, k]
