"""Slow plain-numpy reference implementations of every numba kernel in ``snnsim.kernels``.

Written from the equations in the kernels' docstrings and /work/shared/spec/learning-rules.md,
not from the kernel code: explicit Python loops over trials and time, numpy vectors over
neurons. Same signatures and the same in-place semantics as the kernels, so a test can call
kernel and reference on copies of the same arrays and compare every output and state array.

Conventions (weights stored (pre, post)):
    v^t = alpha v^{t-1} + zeta (x^t W_in + z^{t-1} W_rec) - v_th z^{t-1}
    a^t = rho a^{t-1} + z^{t-1};  A^t = v_th + beta a^t;  d^t = v^t - A^t
    piecewise surrogate: z = [d >= 0], psi = gamma / v_th * max(0, 1 - |d| / v_th)
    smooth surrogate:    z = sigmoid(d / sigma), psi = z (1 - z) / sigma
    refractory neurons (ref > 0): z = psi = 0, ref -= 1; a spike sets ref = ref_steps.
"""
import numpy as np

SURROGATE_PIECEWISE = 0
SURROGATE_SMOOTH = 1


# ----------------------------------------------------------------------------- forward
def layer_run(x, w_in, w_rec, has_rec, alpha, zeta, v_th, beta, rho, gamma, ref_steps,
              surrogate, sigma, v, a, z, ref, z_out, v_out, a_out, psi_out):
    B, K, _ = x.shape
    for b in range(B):
        for t in range(K):
            z_last = z[b].copy()                       # z^{t-1}
            current = x[b, t] @ w_in
            if has_rec:
                current = current + z_last @ w_rec
            v_new = alpha * v[b] + zeta * current - v_th * z_last
            a_new = rho * a[b] + z_last
            d = v_new - (v_th + beta * a_new)
            refractory = ref[b] > 0
            if surrogate == SURROGATE_SMOOTH:
                with np.errstate(over="ignore"):
                    z_new = 1.0 / (1.0 + np.exp(-d / sigma))
                psi = z_new * (1.0 - z_new) / sigma
            else:
                z_new = (d >= 0.0).astype(v.dtype)
                psi = gamma / v_th * np.maximum(0.0, 1.0 - np.abs(d) / v_th)
            z_new = np.where(refractory, 0.0, z_new)
            psi = np.where(refractory, 0.0, psi)
            new_ref = np.where(refractory, ref[b] - 1, ref[b])
            if surrogate != SURROGATE_SMOOTH:
                new_ref = np.where(z_new != 0.0, ref_steps, new_ref)
            v[b] = v_new
            a[b] = a_new
            z[b] = z_new
            ref[b] = new_ref
            z_out[b, t] = z_new
            v_out[b, t] = v_new
            a_out[b, t] = a_new
            psi_out[b, t] = psi


def readout_run(z, w_out, kappa, y, y_out):
    B, K, _ = z.shape
    for b in range(B):
        for t in range(K):
            y[b] = kappa * y[b] + z[b, t] @ w_out
            y_out[b, t] = y[b]


# ----------------------------------------------------------------------------- BPTT
def layer_backward(pre, z_prev, psi, g_ext, w_in, w_rec, has_rec, alpha, zeta, v_th, beta, rho,
                   full, need_g_pre, gw_in, gw_rec, g_pre):
    """Adjoint recursion by explicit-hop order (see kernels/bptt.py).

    W~[j, k] = zeta_k W_rec[j, k] - v_th_j delta_jk (the reset is a self hop);
    gz^(n),t = g_ext^(n),t + W~ gv^(src),t+1 + ga^(n),t+1 with src = n (full) or n - 1
    (truncated; order 0 has no hop term at all).
    """
    M, B, T, n = g_ext.shape
    w_tilde = -np.diag(v_th)
    if has_rec:
        w_tilde = w_tilde + w_rec * zeta[None, :]
    for b in range(B):
        gv_next = np.zeros((M, n))
        ga_next = np.zeros((M, n))
        for t in reversed(range(T)):
            gv = np.zeros((M, n))
            ga = np.zeros((M, n))
            for m in range(M):
                gz = g_ext[m, b, t] + ga_next[m]
                src = m if full else m - 1
                if src >= 0:
                    gz = gz + w_tilde @ gv_next[src]
                gv[m] = psi[b, t] * gz + alpha * gv_next[m]
                ga[m] = -beta * psi[b, t] * gz + rho * ga_next[m]
            dv_total = zeta * gv.sum(axis=0)
            gw_in[b] += np.outer(pre[b, t], dv_total)
            if has_rec:
                gw_rec[b] += np.outer(z_prev[b, t], dv_total)
            if need_g_pre:
                for m in range(M):
                    g_pre[m, b, t] = w_in @ (zeta * gv[m])
            gv_next, ga_next = gv, ga


# ----------------------------------------------------------------------------- e-prop
def eprop_layer_block(pre, psi, sig, alpha, zeta, beta, rho, kappa, adaptive, use_h, a_hat, delay,
                      want_esum, psi_prev, ev, ea, hh, eb, grad, esum):
    """Eligibility traces (B, n, n_pre), neuron j on axis 1 and presynaptic i on axis 2.

    eps_a^t = psi^{t-1} eps_v^{t-1} + (rho - psi^{t-1} beta) eps_a^{t-1}
    eps_v^t = alpha eps_v^{t-1} + zeta pre^t
    e^t = psi^t (eps_v^t - beta eps_a^t)   (psi^t eps_v^t when not adaptive)
    H^t = a_hat H^{t-1} + e^t; source = H^{t-1} (delay) or H^t, or e^t without H
    ebar^t = kappa ebar^{t-1} + source;  grad += sig^t ebar^t;  esum += e^t
    """
    B, K, _ = pre.shape
    col = lambda vec: vec[:, None]
    for b in range(B):
        for t in range(K):
            p_now = col(psi[b, t])
            p_last = col(psi_prev[b])
            ev_old = ev[b].copy()
            ev_new = col(alpha) * ev_old + col(zeta) * pre[b, t][None, :]
            if adaptive:
                ea_new = p_last * ev_old + (col(rho) - p_last * col(beta)) * ea[b]
                e = p_now * (ev_new - col(beta) * ea_new)
                ea[b] = ea_new
            else:
                e = p_now * ev_new
            ev[b] = ev_new
            if use_h:
                h_old = hh[b].copy()
                h_new = a_hat * h_old + e
                hh[b] = h_new
                source = h_old if delay else h_new
            else:
                source = e
            eb[b] = kappa * eb[b] + source
            grad[b] += col(sig[b, t]) * eb[b]
            if want_esum:
                esum[b] += e
            psi_prev[b] = psi[b, t]


def _window_functional(psi, sig, psi0, ws, we, term, alpha, zeta, beta, rho, kappa, a_hat,
                       use_h, delay, x, s0):
    """J = sum_t [ws sig^t ebar^t + we e^t] + term . s^K for every neuron at once (vectors
    over neurons), by running the trace recursion of one synapse per neuron forward from the
    state s0 = (eps_v, eps_a, H, ebar) (each (n,)) with input x (K,) shared by all neurons."""
    ev, ea, hh, eb = (s0[q].copy() for q in range(4))
    J = np.zeros_like(alpha)
    p_last = psi0.copy()
    for t in range(psi.shape[0]):
        ev_old = ev
        ev = alpha * ev_old + zeta * x[t]
        ea = p_last * ev_old + (rho - p_last * beta) * ea
        e = psi[t] * (ev - beta * ea)
        if use_h:
            h_old = hh
            hh = a_hat * h_old + e
            source = h_old if delay else hh
        else:
            source = e
        eb = kappa * eb + source
        J = J + ws * sig[t] * eb + we * e
        p_last = psi[t]
    return J + term[0] * ev + term[1] * ea + term[2] * hh + term[3] * eb


def adjoint_window(psi, sig, psi0, ws, we, alpha, zeta, beta, rho, kappa, a_hat, use_h, delay,
                   adj, coef):
    """The functional is linear in the inputs and the initial traces: its coefficients are
    its values for unit impulses (O(K^2) forward runs). adj holds the end weights on entry
    and the initial-trace coefficients on return; coef[b, t] = dJ/dpre^t."""
    B, K, n = psi.shape
    for b in range(B):
        term = adj[b].T.copy()                                  # (4, n)
        zero_s, zero_x = np.zeros((4, n)), np.zeros(K)
        run = lambda s0, x: _window_functional(psi[b], sig[b], psi0[b], ws, we[b], term, alpha,
                                               zeta, beta, rho, kappa, a_hat, use_h, delay, x, s0)
        base = run(zero_s, zero_x)
        assert np.allclose(base, 0.0)                       # linear, no constant part
        for t in range(K):
            x = zero_x.copy()
            x[t] = 1.0
            coef[b, t] = run(zero_s, x)
        for q in range(4):
            s0 = zero_s.copy()
            s0[q] = 1.0
            adj[b, :, q] = run(s0, zero_x)


def adjoint_events(psi, sig, psi0, ws, we, alpha, zeta, beta, rho, kappa, a_hat, use_h, delay,
                   adj, x, z, z0, gT):
    """gT[b] += sum_t outer(input^t, dJ/dpre^t), input^t = [x^t, z^{t-1}] (z^{-1} = z0)."""
    B, K, n = psi.shape
    coef = np.zeros((B, K, n))
    adjoint_window(psi, sig, psi0, ws, we, alpha, zeta, beta, rho, kappa, a_hat, use_h, delay,
                   adj, coef)
    if z.shape[2]:
        z_prev = np.concatenate([z0[:, None], z[:, :-1]], axis=1)
    else:                                                       # no recurrence
        z_prev = np.zeros((B, K, 0))
    for b in range(B):
        inputs = np.concatenate([x[b], z_prev[b]], axis=1)    # (K, m + n_z)
        gT[b] += inputs.T @ coef[b]


def lowrank_signal(err, fb, out):
    out[...] = np.einsum("btk,jk->btj", err, fb)


def advance_trace(pre, alpha, zbar):
    for t in range(pre.shape[1]):
        zbar[...] = alpha * zbar + pre[:, t]


def readout_grad_block(z, err, kappa, zbar, grad):
    B, K, _ = z.shape
    for b in range(B):
        for t in range(K):
            zbar[b] = kappa * zbar[b] + z[b, t]
            grad[b] += np.outer(zbar[b], err[b, t])


def eprop_m1_block(pre, psi, sig, c, err, alpha, zeta, a_shared, kappa, psi_prev, ev, eb, f, y1, grad):
    """First-order e-prop for a LIF layer (see kernels/eprop_m1.py):

    F^t = a_shared F^{t-1} + e^{t-1}  (e^{t-1} = psi^{t-1} eps^{t-1})
    eps^t = alpha eps^{t-1} + zeta pre^t;  ebar^t = kappa ebar^{t-1} + psi^t eps^t
    Y1^t[j, i, o] = kappa Y1^{t-1}[j, i, o] + c^t[j, o] F^t[j, i]
    grad[j, i] += sig^t_j ebar^t[j, i] + sum_o err^t_o Y1^t[j, i, o]
    """
    B, K, _ = pre.shape
    for b in range(B):
        for t in range(K):
            ev_old = ev[b].copy()
            f[b] = a_shared * f[b] + psi_prev[b][:, None] * ev_old
            ev[b] = alpha[:, None] * ev_old + zeta[:, None] * pre[b, t][None, :]
            eb[b] = kappa * eb[b] + psi[b, t][:, None] * ev[b]
            y1[b] = kappa * y1[b] + c[b, t][:, None, :] * f[b][:, :, None]
            grad[b] += sig[b, t][:, None] * eb[b] + np.einsum("jio,o->ji", y1[b], err[b, t])
            psi_prev[b] = psi[b, t]
