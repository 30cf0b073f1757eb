"""Kernels for layers with sparse (CSR) weights: forward pass and e-prop, O(synapses) per step.

Weights are CSR by presynaptic entry (``snnsim.sparse``): the synapses of presynaptic entry i
are s = indptr[i] .. indptr[i+1] - 1, with postsynaptic neuron j = indices[s] and weight
data[s]. The equations are those of the dense kernels (Bellec et al. 2020, Nat. Commun.
11:3625; ``forward.layer_run``, ``eprop.eprop_layer_block``, ``eprop_window``), restricted to
the synapses that exist:

    forward:  I_j^t = sum_{s: j(s) = j} data_s pre_{i(s)}^t      (event-driven: rows of active i)
    trace engine, per synapse s = (i -> j) (taken by postsynaptic neuron), reset "detach":
        eps_a^t = psi_j^{t-1} eps_v^{t-1} + (rho_j - psi_j^{t-1} beta_j) eps_a^{t-1}
        eps_v^t = alpha_j eps_v^{t-1} + zeta_j pre_i^t
        e^t     = psi_j^t (eps_v^t - beta_j eps_a^t)
        H^t = a_hat H^{t-1} + e^t (lower layers), ebar^t = kappa ebar^{t-1} + (e^t | H^t | H^{t-1})
        grad_s += L_j^t ebar^t,  esum_s += e^t
      reset "local": eps_v^t = (alpha_j - v_th_j psi_j^{t-1}) eps_v^{t-1}
                               + v_th_j beta_j psi_j^{t-1} eps_a^{t-1} + zeta_j pre_i^t
    window engine: out_s += sum_t c_j^t pre_i^t with the per-neuron coefficients c of the
      adjoint sweep (``eprop_window.adjoint_window``), per input event.

Cost per step: forward O(sum of the out-degrees of active inputs + n); trace engine
O(synapses); window engine O(events x out-degree) for the product. Memory O(synapses) per
trial; nothing of size n_pre x n is allocated.
"""
import numpy as np
from numba import prange

from ._jit import kernel


@kernel(parallel=True)
def sparse_layer_run(x, psi_out, in_ptr, in_idx, in_w, rec_ptr, rec_idx, rec_w, has_rec, alpha,
                     zeta, v_th, beta, rho, gamma, ref_steps, surrogate, sigma, v, a, z, ref,
                     z_out, v_out, a_out):
    """``forward.layer_run`` with CSR weights: one layer over a block of K steps.

    x: (B, K, n_in) input; in_ptr (n_in + 1), in_idx, in_w (nnz_in): input weights;
    rec_ptr (n + 1), rec_idx, rec_w: recurrent weights (ignored unless has_rec).
    State modified in place: v, a, z (B, n) (z holds z^{t-1} on entry), ref (B, n) int64.
    Written: z_out, psi_out (B, K, n); v_out, a_out (B, K, n), or (B, 0, n) to skip them.
    surrogate: 0 piecewise linear, 1 smooth (sigmoid of width sigma).
    """
    B, K, n_in = x.shape
    n = v.shape[1]
    inv_th = 1.0 / v_th
    g_th = gamma / v_th
    for b in prange(B):
        cur = np.zeros(n, dtype=v.dtype)
        dd = np.empty(n, dtype=v.dtype)
        vb = v[b].copy()           # local state: no aliasing with the outputs, so the
        ab = a[b].copy()           # per-neuron loops vectorise
        zb = z[b].copy()
        rb = ref[b].copy()
        keep_va = v_out.shape[1] == K
        for t in range(K):
            cur[:] = 0.0
            for i in range(n_in):
                xi = x[b, t, i]
                if xi != 0.0:
                    for s in range(in_ptr[i], in_ptr[i + 1]):
                        cur[in_idx[s]] += xi * in_w[s]
            if has_rec:
                for i in range(n):
                    zi = zb[i]
                    if zi != 0.0:
                        for s in range(rec_ptr[i], rec_ptr[i + 1]):
                            cur[rec_idx[s]] += zi * rec_w[s]
            for j in range(n):   # membrane and threshold (a loop that vectorises)
                zp = zb[j]
                vj = alpha[j] * vb[j] + zeta[j] * cur[j] - v_th[j] * zp
                aj = rho[j] * ab[j] + zp
                dd[j] = vj - (v_th[j] + beta[j] * aj)
                vb[j] = vj
                ab[j] = aj
            zo = z_out[b, t]
            po = psi_out[b, t]
            if surrogate == 1:
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
            if keep_va:
                v_out[b, t] = vb
                a_out[b, t] = ab
        v[b] = vb
        a[b] = ab
        z[b] = zb
        ref[b] = rb


@kernel(parallel=True)
def sparse_eprop_block(pre, psi, sig, col_ptr, col_rows, alpha, zeta, beta, rho, kappa, adaptive,
                       use_h, a_hat, delay, want_esum, psi_prev, ev, ea, hh, eb, grad, esum,
                       reset_v_th=None):
    """``eprop.eprop_layer_block`` over the synapses of a sparse pattern (trace engine).

    The synapses are taken by postsynaptic neuron (compressed sparse columns): those of
    neuron j are q = col_ptr[j] .. col_ptr[j+1] - 1, with presynaptic entry col_rows[q], so
    the per-neuron factors are loaded once per neuron and the traces are read in order.
    pre: (B, K, n_pre) presynaptic entries [input, own z^{t-1}]; psi, sig: (B, K, n).
    Modified in place: psi_prev (B, n); ev, eb, grad (B, nnz) (in this column order); ea when
    adaptive; hh when use_h; esum when want_esum (else (1, 1) placeholders).
    reset_v_th: None for reset "detach", or the thresholds v_th (n,) for reset "local".
    """
    B, K, n_pre = pre.shape
    n = psi.shape[2]
    for b in prange(B):
        for t in range(K):
            x = pre[b, t]
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
                for q in range(col_ptr[j], col_ptr[j + 1]):
                    zx = ze * x[col_rows[q]]
                    evo = ev[b, q]
                    if reset_v_th is not None:
                        if adaptive:
                            eao = ea[b, q]
                            evn = dvv * evo + dva * eao + zx
                            ean = pp * evo + decay_a * eao
                            ea[b, q] = ean
                            e = p * (evn - be * ean)
                        else:
                            evn = dvv * evo + zx
                            e = p * evn
                    else:
                        evn = al * evo + zx
                        if adaptive:
                            ean = pp * evo + decay_a * ea[b, q]
                            ea[b, q] = ean
                            e = p * (evn - be * ean)
                        else:
                            e = p * evn
                    ev[b, q] = evn
                    if use_h:
                        h_old = hh[b, q]
                        h_new = a_hat * h_old + e
                        hh[b, q] = h_new
                        src = h_old if delay else h_new
                    else:
                        src = e
                    ebn = kappa * eb[b, q] + src
                    eb[b, q] = ebn
                    grad[b, q] += s * ebn
                    if want_esum:
                        esum[b, q] += e
                psi_prev[b, j] = p


@kernel(parallel=True)
def csr_backproject(sig, out, indptr, indices, data):
    """out[b, t, i] = sum_{s in row i} data[s] sig[b, t, indices[s]]: a signal on the
    postsynaptic side mapped to the presynaptic entries through W (n_pre, n) in CSR.
    sig (B, K, n); out (B, K, n_pre) written."""
    B, K, n = sig.shape
    n_pre = out.shape[2]
    for b in prange(B):
        for t in range(K):
            for i in range(n_pre):
                acc = 0.0
                for s in range(indptr[i], indptr[i + 1]):
                    acc += data[s] * sig[b, t, indices[s]]
                out[b, t, i] = acc


@kernel(parallel=True)
def csr_window_product(coef, x, z, z0, indptr, indices, out):
    """out[b, s] += sum_t c[b, t, j(s)] pre[b, t, i(s)] for every synapse s (window engine),
    one pass over the synapses of each non-zero presynaptic entry.

    coef (B, K, n): the adjoint sweep's coefficients; presynaptic entries: x (B, K, m), then
    the layer's own z^{t-1}: z[b, t - 1] (z0[b] at t = 0), z (B, K, n_z), z0 (B, n_z)
    (n_z = 0 without recurrence). indptr (m + n_z + 1), indices (nnz). out (B, nnz) in place.
    """
    B, K, n = coef.shape
    m = x.shape[2]
    mz = z.shape[2]
    for b in prange(B):
        for t in range(K):
            for i in range(m + mz):
                if i < m:
                    v = x[b, t, i]
                else:
                    v = z[b, t - 1, i - m] if t > 0 else z0[b, i - m]
                if v != 0.0:
                    for s in range(indptr[i], indptr[i + 1]):
                        out[b, s] += v * coef[b, t, indices[s]]


@kernel()
def add_state_term(coef, state, indices, out):
    """out[b', s] += coef[b, indices[s]] * state[b, s] with b' = b, or b' = 0 when out has one
    row (summed over trials): a window's functional of the traces carried into it.
    coef (B, n); state (B, nnz); out (B, nnz) or (1, nnz), modified in place."""
    B, nnz = state.shape
    one = out.shape[0] == 1
    for b in range(B):
        ob = 0 if one else b
        for s in range(nnz):
            out[ob, s] += coef[b, indices[s]] * state[b, s]
