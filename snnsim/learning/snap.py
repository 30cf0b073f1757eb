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
W_out gy: O(n_pre N) time and memory per step and trial (numba kernel).

SnAp-1 on several layers (``snap1_stack``) stores only the pattern: for a weight of layer q, the
influence on its own neuron (a diagonal trace, n_pre n_q values) and on the layers above that
neuron reaches in the same step (all of layer l > q when W_in of the layers between is dense:
n_pre n_q n_l values). Within layer q nothing else is stored or propagated; above it, the
influence follows every path (lateral, reset, adaptation, the next layers), as in RTRL. So
the pattern itself is not small on a dense stack: memory O(n_pre n_q sum_{l>q} n_l) (O(N^3))
and time O(n_pre n_q sum_{l>q} n_l^2) per step (O(N^4) with lateral recurrence above q; the
top layer's weights cost O(n_pre N)). It drops the dense reference's work on layer q's own
off-diagonal block, which the pattern zeroes.

Other cases (n >= 2) run the forward-mode engine with the pattern applied: a reference
implementation that stores the dense influences (memory as RTRL, O(B N_layer N_params);
MemoryLimitError above the limit); it also checks ``snap1_stack`` (tests, to 1e-12).
"""
import numpy as np

from .. import interrupt
from ..errors import MemoryLimitError
from .common import finish, forward_errors, readout_grad, sequence
from .ostl import diag_trace_grads, self_hop
from .rtrl import DEFAULT_MAX_BYTES, _params, forward_mode


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
    if n == 1:
        return snap1_stack(net, inputs, targets, loss=loss, mask=mask, **kw)
    return forward_mode(net, inputs, targets, loss=loss, mask=mask, keep=pattern(net, n), **kw)


def snap1_bytes(net, batch):
    """Bytes of ``snap1_stack``'s influences (4 arrays per stored block, and the readout's)."""
    total = 0
    for q, _, (n_pre, n_q) in _params(net):
        rows = 4 * (1 + sum(net.sizes[q + 1:])) + net.readout.n
        total += rows * batch * n_pre * n_q
    return 8 * total


def snap1_stack(net, inputs, targets, *, loss="mse", mask=None, max_bytes=DEFAULT_MAX_BYTES):
    """SnAp-1 on a stack of layers, storing only its pattern (module docstring): the own-layer
    influence as a diagonal trace (B, n_pre, n_q), the layers above as (B, n_l, n_pre, n_q)
    masked by ``pattern(net, 1)``. Returns (loss, grads, y), grads summed over the batch."""
    x = sequence(net, inputs)
    B, T, _ = x.shape
    need = snap1_bytes(net, B)
    if need > max_bytes:
        raise MemoryLimitError(f"snap-n1 influences need {need / 2**30:.2f} GiB (> limit "
                               f"{max_bytes / 2**30:.2f} GiB); use e-prop, OSTL or BPTT, or a "
                               f"smaller network/batch")
    value, blocks, y, err, gy = forward_errors(net, x, targets, loss, mask)
    f8 = np.float64
    L = len(net.layers)
    params = _params(net)
    keep = pattern(net, 1)
    pr = [{k: v.astype(f8) for k, v in p.items()} for p in net.params]
    wt = []          # the explicit hop of each layer: zeta W_rec - v_th I (reset as a hop)
    for l in range(L):
        w = -np.diag(pr[l]["v_th"])
        if net.w_rec[l] is not None:
            w = w + net.w_rec[l].astype(f8) * pr[l]["zeta"][None, :]
        wt.append(w)
    w_in = [w.astype(f8) for w in net.w_in]
    w_out = net.w_out.astype(f8)
    kappa = net.kappa.astype(f8)[0]
    S = {}           # (l, pi) -> state arrays; l == q: diagonal (B, n_pre, n_q)
    for pi, (q, _, (n_pre, n_q)) in enumerate(params):
        for l in range(q, L):
            shape = (B, n_pre, n_q) if l == q else (B, net.sizes[l], n_pre, n_q)
            S[l, pi] = {k: np.zeros(shape) for k in ("v", "a", "dz", "dz_old")}
    dy = [np.zeros((B, net.readout.n) + shape) for (_, _, shape) in params]
    grads = [np.zeros(shape) for (_, _, shape) in params]
    col = lambda v: v[None, :, None, None]          # per-neuron vector over (B, n_l, i, j)
    for t in range(T):
        interrupt.check_inner()
        for st in S.values():
            st["dz_old"], st["dz"] = st["dz"], st["dz_old"]
        for l in range(L):
            p, blk = pr[l], blocks[l]
            psi = blk.psi[:, t].astype(f8)
            for pi, (q, kind, _) in enumerate(params):
                if q > l:
                    continue
                st = S[l, pi]
                if l == q:       # own neuron: diagonal trace with the self hop
                    src = (blk.pre[:, t] if kind == "in" else blk.z_prev[:, t]).astype(f8)
                    v = (p["alpha"] * st["v"] + np.diag(wt[l]) * st["dz_old"]
                         + p["zeta"][None, None, :] * src[:, :, None])
                    a = p["rho"] * st["a"] + st["dz_old"]
                    dz = psi[:, None, :] * (v - p["beta"] * a)
                else:            # layers above: every path (BLAS over the flattened i, j)
                    shape = st["v"].shape
                    flat = lambda arr: arr.reshape(B, arr.shape[1], -1)
                    v = col(p["alpha"]) * st["v"] + (wt[l].T @ flat(st["dz_old"])).reshape(shape)
                    below = S[l - 1, pi]["dz_old" if net.layers[l].delay else "dz"]
                    if l - 1 == q:   # the diagonal block below: W_in[j, k] dz[b, i, j]
                        v += col(p["zeta"]) * (w_in[l].T[None, :, None, :] * below[:, None])
                    else:
                        v += col(p["zeta"]) * (w_in[l].T @ flat(below)).reshape(shape)
                    a = col(p["rho"]) * st["a"] + st["dz_old"]
                    km = keep[l, pi][None, :, None, :]
                    v *= km
                    a *= km
                    dz = psi[:, :, None, None] * (v - col(p["beta"]) * a)
                st["v"], st["a"], st["dz"] = v, a, dz
        for pi, (q, _, shape) in enumerate(params):
            top = S[L - 1, pi]["dz"]
            if q == L - 1:
                dy[pi] = kappa * dy[pi] + w_out.T[None, :, None, :] * top[:, None]
            else:
                dy[pi] = kappa * dy[pi] + (w_out.T @ top.reshape(B, top.shape[1], -1)).reshape(
                    (B, net.readout.n) + shape)
            grads[pi] += np.tensordot(err[:, t], dy[pi], axes=([0, 1], [0, 1]))
    per_layer = [[None, None] for _ in range(L)]
    for pi, (q, kind, _) in enumerate(params):
        per_layer[q][0 if kind == "in" else 1] = grads[pi].astype(net.dtype)
    g_out = readout_grad(net, blocks[-1].z.astype(f8), gy)
    return value, finish(net, per_layer, g_out), y
