"""SnAp-n: the sparse n-step approximation of RTRL (Menick, Elsen, Evci, Osindero, Simonyan &
Graves 2021, "Practical real time recurrent learning with a sparse approximation", ICLR).

RTRL carries the influence J^t = ds^t/dtheta of every parameter on every neuron state s
(membrane v and adaptation a): J^t = I^t + D^t J^{t-1}, with D^t = ds^t/ds^{t-1} and I^t the
immediate influence (``rtrl.py``). SnAp-n keeps J only on a fixed pattern: the neurons that a
parameter can reach within n steps of the network's connectivity,

    pattern_n(theta) = P_I(theta) u P_I(theta) A u ... u P_I(theta) A^{n-1}
    J^t = pattern_n o (I^t + D^t J^{t-1})        (entries outside the pattern set to 0)

where P_I(W[i,j]) = neuron j and the neurons of higher layers it reaches within one step
(inputs without delay), and A is the one-step neuron graph (self loop for leak/reset/adaptation,
lateral W_rec entries, delayed inter-layer entries, each followed by the same-step upward
closure). The pattern comes from the connectivity masks, not from the data. For n large
enough the pattern is complete and SnAp-n is RTRL (== BPTT); for a stack without lateral
recurrence and without delays SnAp-1 is already exact.

SnAp-1 on one layer keeps only J[j, W[i,j]]: the diagonal trace of ``kernels.diag_trace`` with
the self hop d_j = zeta_j W_rec[j,j] - v_th_j (the reset kept) and the exact learning signal
W_out gy: O(n_pre N) time and memory per step and trial (numba kernel). Other cases run the
forward-mode engine with the pattern applied: a reference implementation that stores the
dense influences (memory as RTRL, O(B N_layer N_params); MemoryLimitError above the limit).
"""
import numpy as np

from .common import finish, forward_errors, readout_grad
from .ostl import diag_trace_grads, self_hop
from .rtrl import _params, forward_mode


def _neurons(net):
    off = np.cumsum([0] + net.sizes)
    return off, int(off[-1])


def _closure_up(net, off, N):
    """C[k, m]: neuron m is reached from neuron k within one step (same-step upward paths)."""
    C = np.eye(N, dtype=bool)
    for l in range(1, len(net.layers)):
        if net.layers[l].delay:
            continue
        w = net.w_in[l] != 0 if net.mask_in[l] is None else net.mask_in[l].astype(bool)
        E = np.zeros((N, N), dtype=bool)
        E[off[l - 1]:off[l], off[l]:off[l + 1]] = w
        C = C | (C.astype(np.int64) @ E.astype(np.int64) > 0)   # layers in order: one pass each
    return C


def pattern(net, n):
    """Dict (layer l, parameter index) -> bool (n_l, n_post) of the SnAp-n pattern (parameter
    order of ``rtrl._params``)."""
    off, N = _neurons(net)
    C = _closure_up(net, off, N)
    A0 = np.eye(N, dtype=bool)
    for l in range(len(net.layers)):
        s = slice(off[l], off[l + 1])
        if net.w_rec[l] is not None:
            A0[s, s] |= net.w_rec[l] != 0 if net.mask_rec[l] is None else net.mask_rec[l].astype(bool)
        if l > 0 and net.layers[l].delay:
            w = net.w_in[l] != 0 if net.mask_in[l] is None else net.mask_in[l].astype(bool)
            A0[off[l - 1]:off[l], s] |= w
    A = (A0.astype(np.int64) @ C.astype(np.int64)) > 0
    reach = C.copy()          # reach[j, k]: a parameter into neuron j reaches neuron k
    step = C.copy()
    for _ in range(n - 1):
        step = (step.astype(np.int64) @ A.astype(np.int64)) > 0
        reach |= step
    keep = {}
    for pi, (q, _, _) in enumerate(_params(net)):
        rows = reach[off[q]:off[q + 1]]      # (n_q, N)
        for l in range(q, len(net.layers)):
            keep[l, pi] = np.ascontiguousarray(rows[:, off[l]:off[l + 1]].T)
    return keep


def snap(net, inputs, targets, *, n, loss="mse", mask=None, max_bytes=None):
    """Return (loss, grads, y) of SnAp-n (grads summed over the batch).

    Parameters
    ----------
    net : snnsim.Network
    inputs, targets : arrays (B, T, n_in), (B, T, n_out)
    n : int
        Steps of the sparsity pattern (>= 1).
    loss : {"mse", "ce"}
    mask : array (T,) or (B, T), optional
    max_bytes : int, optional
        Memory limit of the reference (forward-mode) path, bytes.
    """
    if n == 1 and len(net.layers) == 1:
        value, blocks, y, _, gy = forward_errors(net, inputs, targets, loss, mask)
        per_layer = diag_trace_grads(net, blocks, [gy @ net.w_out.astype(np.float64).T],
                                     [self_hop(net, 0, "local")])
        return value, finish(net, per_layer, readout_grad(net, blocks[-1].z, gy)), y
    kw = {} if max_bytes is None else {"max_bytes": max_bytes}
    return forward_mode(net, inputs, targets, loss=loss, mask=mask, keep=pattern(net, n), **kw)
