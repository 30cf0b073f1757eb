"""BPTT: the exact reverse-mode gradient of the unrolled network (the reference of every rule).

Forward pass of the whole sequence (memory O(N T)), then the readout adjoint
gy^t = err^t + kappa gy^{t+1}, then each layer top-down with ``kernels.bptt.layer_backward``.
``order=m`` gives hop-truncated BPTT: only paths with at most m explicit hops (passes through
W~ = zeta W_rec - v_th I, one time step each) are kept (Martin-Sanchez et al. 2022);
The reset convention (``common.RESETS``) decides what a hop is: with ``reset="detach"`` the
reset is a hop (W~ = zeta W_rec - v_th I) and order 0 is BPTT with every explicit recurrent
path (lateral weights and reset) cut; with ``reset="local"`` the reset stays in the
within-neuron Jacobian and hops count passes through zeta W_rec only.
Inter-layer paths never count as hops (they are exact at every order).
"""
import numpy as np

from snnsim.kernels import bptt as KB

from .. import interrupt
from .. import validate as V
from .common import finish, readout_backward, readout_error, sequence, shift_back
from .loss import check_target, loss_and_error
from .options import RESETS


def bptt(net, inputs, targets, *, loss="mse", mask=None, order=None, reset="detach"):
    """Return (loss, grads, y) with grads summed over the batch (loss is a batch mean).

    ``order``: None (exact) or m >= 0 (hop-truncated); ``reset``: "detach" or "local" (what
    counts as a hop; irrelevant when ``order`` is None)."""
    V.choice("reset", reset, RESETS)
    x = sequence(net, inputs)
    blocks, y = net.forward(x)
    target = check_target(targets, y.shape, loss)
    value, err = loss_and_error(y, target, mask, loss)
    return value, backward(net, blocks, err, order=order, reset=reset), y


def backward(net, blocks, err, *, order=None, reset="detach"):
    """Gradients from stored forward histories and dE/dy (B, T, n_out)."""
    full = order is None
    local = V.choice("reset", reset, RESETS) == "local" and not full
    M = 1 if full else int(order) + 1
    dt = net.dtype
    gy = readout_backward(readout_error(net, err), net.kappa)
    z_top = blocks[-1].z
    g_out = np.einsum("btj,bto->jo", z_top, gy).astype(dt)
    B, T, _ = z_top.shape
    g_ext = np.zeros((M, B, T, z_top.shape[2]), dtype=dt)
    g_ext[0] = gy @ net.w_out.T
    per_layer = [None] * len(net.layers)
    for l in range(len(net.layers) - 1, -1, -1):
        interrupt.check_inner()
        blk, p = blocks[l], net.params[l]
        n, n_pre = blk.z.shape[2], blk.pre.shape[2]
        has_rec = net.w_rec[l] is not None
        gw_in = np.zeros((B, n_pre, n), dtype=dt)
        gw_rec = np.zeros((B, n, n) if has_rec else (1, 1, 1), dtype=dt)
        need = l > 0
        g_pre = np.zeros((M, B, T, n_pre) if need else (1, 1, 1, 1), dtype=dt)
        KB.layer_backward(blk.pre, blk.z_prev, blk.psi, g_ext, net.w_in[l],
                          net.w_rec[l] if has_rec else net._empty_rec, has_rec,
                          p["alpha"], p["zeta"], p["v_th"], p["beta"], p["rho"],
                          full, need, gw_in, gw_rec, g_pre, local)
        per_layer[l] = (gw_in.sum(0), gw_rec.sum(0) if has_rec else None)
        if need:
            g_ext = shift_back(g_pre) if net.layers[l].delay else g_pre
    return finish(net, per_layer, g_out)
