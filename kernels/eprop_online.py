"""Fused online e-prop loop: forward step, learning signal, trace update and, every k steps,
the optimiser's weight update, all in one compiled call per chunk of a sequence.

Online e-prop (Bellec et al. 2020, Nat. Commun. 11:3625) updates the weights while the
sequence runs. Driven from Python, every update costs a forward block, a loss, the learning
signals, a trace block, a gradient reduction and an optimiser step, each a separate call
with its own allocations: 0.3-0.7 ms per update on a 100-neuron network. Here the loop
over steps is compiled; per step and trial b (layers l = 0..L-1 bottom-up):

    forward:   layer_run and readout_run (kernels.forward) for one step: y^t
    error:     err^t = dE/dy^t (mse: m (y - y*) / B; ce: m (softmax(y) sum y* - y*) / B),
               times the readout's input scale c
    signals:   L_top^t = B err^t;   delta_{l-1}^t = B_l (zeta_l psi_l^t delta_l^t)
    traces:    eprop_layer_block (kernels.eprop) for one step of every layer, or for a top
               layer whose neurons share one leak the activity-proportional lazy_step
               (kernels.eprop_lazy); readout_grad_step
and after every k-th step (and the last), with G_l = sum_b grad_l[b] (+ the regulariser's
sum_b w_bj esum_l[b]; w_bj = c_reg (f_bj - f_target) / (dur B), f in Hz since the last
update), masked, for every weight w with gradient g:

    SGD:   w <- w - lr g
    Adam:  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
           w <- w - lr (m / c1) / (sqrt(v / c2) + eps)          (eps on v_hat)
           w <- w - (lr sqrt(c2) / c1) m / (sqrt(v) + eps)      (eps on v)
           c1 = 1 - b1^t, c2 = 1 - b2^t of the update's count t

The update is compiled without fastmath and evaluates the expressions in the order
``snnsim.optim`` does with numpy, in float64, so the weights it writes are those of the
Python optimiser (the deltas are rounded to the weights' dtype before they are added).
"""
import numpy as np
from numba import njit

from ._jit import _options, kernel
from .eprop import eprop_layer_block, readout_grad_step
from .eprop_lazy import lazy_finish, lazy_step
from .forward import layer_run, readout_run

SGD = 0
ADAM = 1
_layer_block = eprop_layer_block.serial   # one step of every trial per call
_layer_run = layer_run.serial


# the update's arithmetic is numpy's: no fastmath, and float division by zero gives inf/nan
# as in numpy instead of a ZeroDivisionError check per division (which stops vectorisation)
exact = njit(**dict(_options(False, False), error_model="numpy"))


@exact
def update_weight(w, grad, off, mask, has_mask, kind, lr, b1, b2, eps, eps_on_v, c1, c2, mt, vt,
                  grow, drow):
    """One optimiser step of weight w (pre, post) from the per-trial gradients ``grad``
    (B, post, off + pre), summed over the trials in order (as numpy's ``sum(axis=0)``) and
    set to zero as they are read.

    Adam's moments are held transposed, mt and vt (post, pre) float64, so that they, the
    gradient and the arithmetic run along the presynaptic axis; only w is written with a
    stride. Modified in place: w, grad, mt and vt (Adam); grow (>= pre,) float64 and drow
    (as long, w's dtype) are scratch. Masked weights: g and the delta are multiplied by the
    mask (0 or 1), as ``finish`` and ``SGD.step`` do with numpy.
    Returns False when an updated entry is not finite.
    """
    finite = True
    om1 = 1.0 - b1
    om2 = 1.0 - b2
    lr_t = lr * np.sqrt(c2) / c1
    n_pre, n_post = w.shape
    B = grad.shape[0]
    for j in range(n_post):
        g0 = grad[0, j]
        if B == 1:
            for i in range(n_pre):
                grow[i] = g0[off + i]
        else:
            for i in range(n_pre):   # sum in the trials' order, in w's dtype
                g = g0[off + i]
                for b in range(1, B):
                    g += grad[b, j, off + i]
                grow[i] = g
        for b in range(B):
            gb = grad[b, j]
            for i in range(n_pre):
                gb[off + i] = 0.0
        if has_mask:
            for i in range(n_pre):
                grow[i] = grow[i] * (1.0 if mask[i, j] else 0.0)
        if kind == SGD:
            for i in range(n_pre):
                drow[i] = -lr * grow[i]
        else:
            mj = mt[j]
            vj = vt[j]
            if eps_on_v:
                for i in range(n_pre):
                    g64 = grow[i]
                    mm = mj[i] * b1 + om1 * g64
                    vv = vj[i] * b2 + om2 * g64 * g64
                    mj[i] = mm
                    vj[i] = vv
                    drow[i] = -lr_t * mm / (np.sqrt(vv) + eps)
            else:
                for i in range(n_pre):
                    g64 = grow[i]
                    mm = mj[i] * b1 + om1 * g64
                    vv = vj[i] * b2 + om2 * g64 * g64
                    mj[i] = mm
                    vj[i] = vv
                    drow[i] = -lr * (mm / c1) / (np.sqrt(vv / c2) + eps)
        if has_mask:
            for i in range(n_pre):
                drow[i] = drow[i] * (1.0 if mask[i, j] else 0.0)
        for i in range(n_pre):
            wn = w[i, j] + drow[i]
            w[i, j] = wn
            if not np.isfinite(wn):
                finite = False
    return finite


@exact
def step_error(yb, tg, mb, ce, inv_b, scale, regular, errb):
    """dE/dy of one step of one trial into errb (n_out,) (cast to its dtype, times the
    readout's input scale unless ``regular``); returns the step's loss (float64)."""
    n_out = yb.shape[0]
    loss = 0.0
    if ce:
        mx = np.float64(yb[0])
        for k in range(1, n_out):
            mx = max(mx, np.float64(yb[k]))
        se = 0.0
        ts = 0.0
        for k in range(n_out):
            se += np.exp(np.float64(yb[k]) - mx)
            ts += tg[k]
        lse = np.log(se)
        for k in range(n_out):
            logp = (np.float64(yb[k]) - mx) - lse
            loss -= mb * tg[k] * logp
            errb[k] = mb * (np.exp(logp) * ts - tg[k]) * inv_b
    else:
        for k in range(n_out):
            d = np.float64(yb[k]) - tg[k]
            loss += 0.5 * mb * d * d
            errb[k] = mb * d * inv_b
    if not regular:
        for k in range(n_out):
            errb[k] = errb[k] * scale[k]
    return loss * inv_b


@kernel()
def online_chunk(t0, t1, k, x, target, mask, ce, regular, scale,
                 w_in, w_rec, has_rec, delay_in, alpha, zeta, v_th, beta, rho, gamma,
                 ref_steps, surrogate, sigma,
                 v, a, z, ref, x_last,
                 psi_prev, ev, ea, hh, eb, grad, esum, adaptive, use_h, a_hat, h_delay,
                 local_vth, want_esum, fb_in,
                 alpha_top, lz_zbar, lz_dv, lz_zprev, lz_sacc, lz_deceb, lz_deca,
                 lz_decd, lz_pending,
                 w_out, w_out_eff, kappa_out, kappa, y, y_out, keep_y, zbar, g_out, fb,
                 spikes, seq_spikes, c_reg, f_target, dt_ms,
                 opt_kind, lr_in, lr_rec, lr_out, b1, b2, eps, eps_on_v, c1s, c2s,
                 m_in, v_in, m_rec, v_rec, m_out, v_out, mask_in, mask_rec, has_mask_in,
                 has_mask_rec,
                 pre, psi_t, sig_t, z_t, lin, no_va, y_t, cur, errb, grow, drow,
                 counters, acc):
    """Steps t0..t1-1 of a sequence (B trials) with a weight update after every k-th step
    of the sequence and after its last step (see the module docstring).

    Per-layer arguments are tuples over layers (placeholders (1, 1[, 1]) where unused).
    ``local_vth``: None (reset "detach") or the thresholds per layer (reset "local"); None
    prunes the other branch at compile time. With ``lz_zbar`` given (else None) the top
    layer (one shared leak ``alpha_top``) runs the activity-proportional form (``kernels.eprop_lazy.lazy_step``): its presynaptic trace lz_zbar
    (B, n_pre), eps_v deviation lz_dv (B, n, n_pre; reset "local") and lazy bookkeeping
    (B, n) are modified in place, and every row is brought up to date before an update.
    x (B, T, n_in), target (B, T, n_out) float64, mask (B, T) float64.
    Modified in place: weights w_in, w_rec, w_out (and w_out_eff = w_out * scale when not
    ``regular``), the optimiser's m and v, the state v, a, z, ref, x_last, y, the traces
    psi_prev, ev, ea, hh, eb, the gradients grad, esum, g_out, zbar, spike counts ``spikes``
    (B, n, since the last update) and ``seq_spikes`` (n,), y_out (B, T, n_out) when
    keep_y, scratch (pre .. drow; grow, drow: as long as the largest presynaptic axis),
    counters [updates done, steps since the last update, 1 if an update made a weight
    non-finite] and acc [summed loss].
    Returns when done, or right after an update that made a weight non-finite.
    """
    B = x.shape[0]
    T = x.shape[1]
    L = len(w_in)
    top = L - 1
    inv_b = 1.0 / B
    n_top = z_t[top].shape[2]
    n_out = y.shape[1]
    for t in range(t0, t1):
        for l in range(L):   # the forward step of every trial (layer_run, one step)
            n_in = w_in[l].shape[0]
            xin = lin[l]
            for b in range(B):
                src = x[b, t] if l == 0 else z_t[l - 1][b, 0]
                xb = xin[b, 0]
                if delay_in[l]:
                    xl = x_last[l][b]
                    for i in range(n_in):
                        xb[i] = xl[i]
                        xl[i] = src[i]
                else:
                    for i in range(n_in):
                        xb[i] = src[i]
                p_l = pre[l][b, 0]   # the trace's presynaptic entries: [input, z^{t-1}]
                for i in range(n_in):
                    p_l[i] = xb[i]
                if has_rec[l]:
                    zl = z[l][b]
                    for i in range(zl.shape[0]):
                        p_l[n_in + i] = zl[i]
            _layer_run(xin, w_in[l], w_rec[l], has_rec[l], alpha[l], zeta[l], v_th[l], beta[l],
                       rho[l], gamma[l], ref_steps[l], surrogate, sigma, v[l], a[l], z[l],
                       ref[l], z_t[l], no_va[l], no_va[l], psi_t[l])
        readout_run(z_t[top], w_out_eff, kappa_out, y, y_t)
        for b in range(B):
            yb = y[b]
            if keep_y:
                for o in range(n_out):
                    y_out[b, t, o] = yb[o]
            acc[0] += step_error(yb, target[b, t], mask[b, t], ce, inv_b, scale, regular, errb)
            st = sig_t[top][b, 0]
            for j in range(n_top):
                s = 0.0 * st[j]
                for o in range(n_out):
                    s += errb[o] * fb[j, o]
                st[j] = s
            for l in range(top, 0, -1):   # the signal handed to the layer below, same step
                up = sig_t[l][b, 0]
                pl = psi_t[l][b, 0]
                ze = zeta[l]
                tmp = cur[l]
                for j in range(up.shape[0]):
                    tmp[j] = up[j] * pl[j] * ze[j]
                dn = sig_t[l - 1][b, 0]
                bl = fb_in[l]
                for i in range(dn.shape[0]):
                    s = 0.0 * dn[i]
                    for j in range(up.shape[0]):
                        s += tmp[j] * bl[i, j]
                    dn[i] = s
            for l in range(L):
                zl = z_t[l][b, 0]
                sp = spikes[l][b]
                ss = seq_spikes[l]
                for j in range(zl.shape[0]):
                    sp[j] += zl[j]
                    ss[j] += zl[j]
            readout_grad_step(z_t[top][b, 0], errb, kappa, zbar[b], g_out[b])
            if lz_zbar is not None:   # shared leak: one presynaptic trace, lazy rows
                rb = b if adaptive[top] else 0
                eb_ = b if want_esum else 0
                if local_vth is not None:
                    lazy_step(pre[top][b, 0], psi_t[top][b, 0], sig_t[top][b, 0], alpha_top,
                              zeta[top], beta[top], rho[top], kappa, adaptive[top], want_esum,
                              psi_prev[top][b], lz_zbar[b], ea[top][rb], eb[top][b],
                              grad[top][b], esum[top][eb_], lz_zprev[b], lz_sacc[b],
                              lz_deceb[b], lz_deca[b], lz_pending[b], lz_decd[b],
                              local_vth[top], lz_dv[b])
                else:
                    lazy_step(pre[top][b, 0], psi_t[top][b, 0], sig_t[top][b, 0], alpha_top,
                              zeta[top], beta[top], rho[top], kappa, adaptive[top], want_esum,
                              psi_prev[top][b], lz_zbar[b], ea[top][rb], eb[top][b],
                              grad[top][b], esum[top][eb_], lz_zprev[b], lz_sacc[b],
                              lz_deceb[b], lz_deca[b], lz_pending[b], lz_decd[b])
        for l in range(L if lz_zbar is None else L - 1):   # this step of every trial
            if local_vth is not None:
                _layer_block(pre[l], psi_t[l], sig_t[l], alpha[l], zeta[l], beta[l], rho[l],
                             kappa, adaptive[l], use_h[l], a_hat[l], h_delay[l], want_esum,
                             psi_prev[l], ev[l], ea[l], hh[l], eb[l], grad[l], esum[l],
                             local_vth[l])
            else:
                _layer_block(pre[l], psi_t[l], sig_t[l], alpha[l], zeta[l], beta[l], rho[l],
                             kappa, adaptive[l], use_h[l], a_hat[l], h_delay[l], want_esum,
                             psi_prev[l], ev[l], ea[l], hh[l], eb[l], grad[l], esum[l])
        counters[1] += 1
        if (t + 1) % k != 0 and t != T - 1:
            continue
        # ---------------------------------------------------------------- weight update
        u = counters[0]
        c1 = c1s[u]
        c2 = c2s[u]
        counters[0] += 1
        dur = max(counters[1], 1) * dt_ms * 1e-3
        ok = True
        if lz_zbar is not None:   # the top layer's rows up to date before its gradient is read
            for bb in range(B):
                ra = bb if adaptive[top] else 0
                if local_vth is not None:
                    lazy_finish(grad[top][bb], eb[top][bb], ea[top][ra], adaptive[top],
                                lz_sacc[bb], lz_deceb[bb], lz_deca[bb], lz_pending[bb],
                                lz_decd[bb], lz_dv[bb])
                else:
                    lazy_finish(grad[top][bb], eb[top][bb], ea[top][ra], adaptive[top],
                                lz_sacc[bb], lz_deceb[bb], lz_deca[bb], lz_pending[bb],
                                lz_decd[bb])
        for l in range(L):
            if want_esum:   # the regulariser's gradient, added to trial 0's
                es = esum[l]
                sp = spikes[l]
                wb = cur[l]
                g0 = grad[l][0]
                for bb in range(B):
                    for j in range(g0.shape[0]):
                        wb[j] = c_reg * (sp[bb, j] / dur - f_target) / (dur * B)
                        for i in range(g0.shape[1]):
                            g0[j, i] += wb[j] * es[bb, j, i]
                es[:, :, :] = 0.0
            ok &= update_weight(w_in[l], grad[l], 0, mask_in[l], has_mask_in[l], opt_kind,
                                lr_in[l], b1, b2, eps, eps_on_v, c1, c2, m_in[l], v_in[l], grow,
                                drow)
            if has_rec[l]:
                ok &= update_weight(w_rec[l], grad[l], w_in[l].shape[0], mask_rec[l],
                                    has_mask_rec[l], opt_kind, lr_rec[l], b1, b2, eps, eps_on_v,
                                    c1, c2, m_rec[l], v_rec[l], grow, drow)
            spikes[l][:, :] = 0.0
        ok &= update_weight(w_out, g_out.transpose(0, 2, 1), 0, mask_in[0], False, opt_kind,
                            lr_out, b1, b2, eps, eps_on_v, c1, c2, m_out, v_out, grow, drow)
        if not regular:
            for j in range(w_out.shape[0]):
                for o in range(n_out):
                    w_out_eff[j, o] = w_out[j, o] * scale[o]
        counters[1] = 0
        if not ok:
            counters[2] = 1
            return
