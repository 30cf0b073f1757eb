"""Independent float64 BPTT in plain numpy, written from the forward equations alone.

Shares nothing with snnsim's backward code (no hop split, no kernels, no reset convention):
it simulates the network step by step with its own loop, then runs the adjoint recursion of
that loop. Only the network's parameters and weights are read from the ``Network`` object.

Forward (per layer, neuron j):
    v^t = alpha v^{t-1} + zeta (W_in^T pre^t + W_rec^T z^{t-1}) - v_th z^{t-1}
    a^t = rho a^{t-1} + z^{t-1};  d^t = v^t - v_th - beta a^t
    z^t = H(d^t) (0 while refractory), dz^t/dd^t := psi^t (piecewise or sigmoid)
    y^t = kappa y^{t-1} + c W_out^T z^t   (c = 1, or 1 - kappa with regular spike arrival)
Reverse: every path (reset, adaptation, lateral, between layers, readout leak) is kept.
"""
import numpy as np


def simulate(net, x):
    """Own forward pass: per-layer lists of (pre, z_prev, z, psi) arrays (B, T, .) and y."""
    B, T, _ = x.shape
    pre = x.astype(np.float64)
    hist = []
    for l, layer in enumerate(net.layers):
        p = {k: np.asarray(v, dtype=np.float64) for k, v in net.params[l].items()}
        w_in = net.w_in[l].astype(np.float64)
        w_rec = None if net.w_rec[l] is None else net.w_rec[l].astype(np.float64)
        if layer.delay:
            pre = np.concatenate([np.zeros_like(pre[:, :1]), pre[:, :-1]], axis=1)
        n = layer.n
        v = np.zeros((B, n))
        a = np.zeros((B, n))
        z = np.zeros((B, n))
        ref = np.zeros((B, n), dtype=np.int64)
        zs, psis, zps = np.zeros((B, T, n)), np.zeros((B, T, n)), np.zeros((B, T, n))
        for t in range(T):
            cur = pre[:, t] @ w_in
            if w_rec is not None:
                cur = cur + z @ w_rec
            zps[:, t] = z
            v = p["alpha"] * v + p["zeta"] * cur - p["v_th"] * z
            a = p["rho"] * a + z
            d = v - p["v_th"] - p["beta"] * a
            if net.surrogate == "smooth":
                z = 1.0 / (1.0 + np.exp(-d / net.sigma))
                psi = z * (1.0 - z) / net.sigma
            else:
                free = ref == 0
                psi = np.where(free, p["gamma"] / p["v_th"]
                               * np.maximum(0.0, 1.0 - np.abs(d) / p["v_th"]), 0.0)
                z = np.where(free & (d >= 0), 1.0, 0.0)
                ref = np.where(ref > 0, ref - 1, np.where(z > 0, p["ref_steps"], 0))
            zs[:, t], psis[:, t] = z, psi
        hist.append((pre, zps, zs, psis))
        pre = zs
    kappa = np.asarray(net.kappa, dtype=np.float64)
    scale = readout_scale(net)
    y = np.zeros((B, T, net.readout.n))
    acc = np.zeros((B, net.readout.n))
    for t in range(T):
        acc = kappa * acc + scale * (pre[:, t] @ net.w_out.astype(np.float64))
        y[:, t] = acc
    return hist, y


def readout_scale(net):
    """Input scale of the readout: 1 with regular spike arrival (default), else 1 - kappa."""
    kappa = np.asarray(net.kappa, dtype=np.float64)
    return np.ones_like(kappa) if getattr(net.readout, "regular_spike_arrival", True) else 1.0 - kappa


def mse_error(y, target):
    """(loss, dE/dy) of E = 1/(2B) sum (y - y*)^2."""
    B = y.shape[0]
    d = y - target
    return 0.5 * float(np.sum(d * d)) / B, d / B


def gradients(net, x, target):
    """(loss, dict of exact gradients) of the MSE loss, in snnsim's (pre, post) layout."""
    hist, y = simulate(net, x)
    loss, err = mse_error(y, np.asarray(target, dtype=np.float64))
    B, T, _ = x.shape
    L = len(net.layers)
    kappa = np.asarray(net.kappa, dtype=np.float64)
    w_out = net.w_out.astype(np.float64)
    scale = readout_scale(net)
    # readout: gy^t = err^t + kappa gy^{t+1}; dE/dz_top^t = (scale gy^t) W_out^T
    gy = np.zeros_like(err)
    acc = np.zeros_like(err[:, 0])
    for t in range(T - 1, -1, -1):
        acc = err[:, t] + kappa * acc
        gy[:, t] = acc
    z_top = hist[-1][2]
    grads = {"readout.w_out": np.einsum("btj,bto->jo", z_top, gy * scale)}
    P = [{k: np.asarray(v, dtype=np.float64) for k, v in net.params[l].items()} for l in range(L)]
    W_in = [w.astype(np.float64) for w in net.w_in]
    W_rec = [None if w is None else w.astype(np.float64) for w in net.w_rec]
    gW_in = [np.zeros_like(w) for w in W_in]
    gW_rec = [None if w is None else np.zeros_like(w) for w in W_rec]
    # adjoints of v and a at t+1 per layer, and dE/dpre of each layer by time
    gv_next = [np.zeros((B, layer.n)) for layer in net.layers]
    ga_next = [np.zeros((B, layer.n)) for layer in net.layers]
    g_pre = [np.zeros((B, T, W_in[l].shape[0])) for l in range(L)]
    for t in range(T - 1, -1, -1):
        for l in range(L - 1, -1, -1):
            pre, zps, zs, psis = hist[l]
            p = P[l]
            gz = np.zeros((B, net.layers[l].n))
            if l == L - 1:
                gz += (gy[:, t] * scale) @ w_out.T
            elif not net.layers[l + 1].delay:
                gz += g_pre[l + 1][:, t]          # pre^t of the layer above is z^t
            elif t + 1 < T:
                gz += g_pre[l + 1][:, t + 1]      # one-step delay: pre^{t+1} is z^t
            # z^t feeds v^{t+1} (reset and lateral) and a^{t+1}
            gz += -p["v_th"] * gv_next[l] + ga_next[l]
            if W_rec[l] is not None:
                gz += (p["zeta"] * gv_next[l]) @ W_rec[l].T
            gd = psis[:, t] * gz
            gv = gd + p["alpha"] * gv_next[l]
            ga = -p["beta"] * gd + p["rho"] * ga_next[l]
            gcur = p["zeta"] * gv
            gW_in[l] += pre[:, t].T @ gcur
            if W_rec[l] is not None:
                gW_rec[l] += zps[:, t].T @ gcur
            g_pre[l][:, t] = gcur @ W_in[l].T
            gv_next[l], ga_next[l] = gv, ga
    masks = net.masks()
    for l, layer in enumerate(net.layers):
        grads[f"{layer.name}.w_in"] = gW_in[l]
        if W_rec[l] is not None:
            grads[f"{layer.name}.w_rec"] = gW_rec[l]
    for k, m in masks.items():
        if m is not None:
            grads[k] = grads[k] * m
    return loss, grads, y
