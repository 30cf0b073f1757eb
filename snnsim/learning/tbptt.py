"""Truncated BPTT (TBPTT-K): exact reverse mode inside windows of K steps, state carried across.

The sequence is cut into windows [t0, t0 + K). The network state (membranes, adaptation,
spikes, readout) is carried from one window to the next by the forward pass, but treated as a
constant at each window's start: no gradient flows back across a window boundary
(Williams & Peng 1990, "An efficient gradient-based algorithm for on-line training of recurrent
network trajectories", Neural Comput. 2:490). Inside a window the adjoints are those of BPTT:

    gy^t = err^t + kappa gy^{t+1}          (t < t0 + K; gy^{t0+K} = 0)
    gz^t, gv^t, ga^t as in ``kernels.bptt``  (adjoints at t0 + K are 0)
    grad = sum over windows of the window's BPTT gradient of its own losses

so K >= T is BPTT and K = 1 keeps only the same-step (immediate) paths.

Cost: memory O(B K N) for the histories of one window plus the weights (this implementation
keeps the whole forward history, O(B T N), and slices it); time O(B N^2) per step, as BPTT.
"""
import numpy as np

from .. import interrupt

from ..state import LayerBlock
from .bptt import backward
from .common import sequence
from .loss import check_target, loss_and_error


def _window(blk, sl):
    c = lambda a: np.ascontiguousarray(a[:, sl])
    return LayerBlock(pre=c(blk.pre), z_prev=c(blk.z_prev), z=c(blk.z), v=c(blk.v), a=c(blk.a),
                      psi=c(blk.psi))


def tbptt(net, inputs, targets, *, k, loss="mse", mask=None):
    """Return (loss, grads, y) of truncated BPTT over windows of ``k`` steps (grads summed over
    the batch and the windows; loss is the batch mean over the whole sequence).

    Parameters
    ----------
    net : snnsim.Network
    inputs, targets : arrays (B, T, n_in), (B, T, n_out)
    k : int
        Window length in steps (>= 1); k >= T gives BPTT.
    loss : {"mse", "ce"}
    mask : array (T,) or (B, T), optional
    """
    x = sequence(net, inputs)
    blocks, y = net.forward(x)
    value, err = loss_and_error(y, check_target(targets, y.shape, loss), mask, loss)
    T = x.shape[1]
    grads = None
    for t0 in range(0, T, int(k)):
        interrupt.check_inner()
        sl = slice(t0, min(T, t0 + int(k)))
        g = backward(net, [_window(b, sl) for b in blocks], np.ascontiguousarray(err[:, sl]))
        if grads is None:
            grads = g
        else:
            for name in grads:
                grads[name] += g[name]
    return value, grads, y
