"""Forward-mode sensitivity engine: RTRL, m-order e-prop and the full deep e-prop recursion.

Influence of every weight on every neuron state, propagated forward in time (Williams &
Zipser 1989). For layer l, parameter p (a weight matrix of layer q <= l) and hop order n:

    Mv^(n),t = alpha Mv^(n),t-1 - [local] v_th dz^(n),t-1 + W~^T dz^(n-1),t-1
               + zeta W_in^l^T dx^(n),t + [q = l, n = 0] zeta pre^t
    Ma^(n),t = rho Ma^(n),t-1 + dz^(n),t-1
    dz^(n),t = psi^t (Mv^(n),t - beta Ma^(n),t)          (influence on the spikes)
    dy^t     = kappa dy^{t-1} + W_out^T sum_{n<=m} dz^(n),t_L ;  grad_p += sum_o err_o^t dy_o^t
with dx the influence on the layer's input (the layer below's dz at t, or at t-1 with the
one-step delay) and the explicit hop W~ (one per step) set by the reset convention
(``common.RESETS``): W~ = zeta W_rec - v_th I with ``reset="detach"`` (the reset is a hop),
W~ = zeta W_rec with ``reset="local"`` (the reset stays in the within-neuron Jacobian: the
-v_th dz^(n),t-1 term above, at the same order).

- ``rtrl``: one order, hops kept (exact; deferred updates equal BPTT with either convention).
- ``order=m``: m-order e-prop (Martin-Sanchez, Bohte & Otte 2022): P = sum_{n<=m} P^(n).
- ``order=0`` on a deep network is the full deep e-prop recursion S^{m<-l} (Millidge 2025);
  with ``reset="local"`` it equals BPTT on a stack without lateral recurrence (every remaining
  path is within a neuron or between layers, none is dropped).
- ``keep``: SnAp-n (``snap.py``): after each step the influences are zeroed outside a fixed
  sparsity pattern (the dense arrays are kept: a reference implementation).
Memory O(M B N_layer N_params) (N^3 per layer pair): small networks only; the engine
refuses (MemoryLimitError, naming the bytes it would need) above ``max_bytes``.
"""
import numpy as np

from .. import interrupt
from ..errors import MemoryLimitError
from .. import validate as V
from .common import finish, readout_error, sequence
from .loss import check_target, loss_and_error
from .options import RESETS

DEFAULT_MAX_BYTES = 2 * 1024**3


def _params(net):
    out = []
    for q in range(len(net.layers)):
        out.append((q, "in", net.w_in[q].shape))
        if net.w_rec[q] is not None:
            out.append((q, "rec", net.w_rec[q].shape))
    return out


def required_bytes(net, batch, orders=1):
    """Bytes the engine needs for Mv, Ma, dz and the readout influence."""
    total = 0
    sizes = net.sizes
    for q, _, shape in _params(net):
        per = int(np.prod(shape))
        total += sum(4 * orders * batch * sizes[l] * per for l in range(q, len(sizes)))
        total += orders * batch * net.readout.n * per
    return total * 8


def forward_mode(net, inputs, targets, *, loss="mse", mask=None, order=None, reset="detach",
                 max_bytes=DEFAULT_MAX_BYTES, keep=None):
    """Sensitivities propagated forward in time, gradient accumulated online.

    Parameters
    ----------
    net : Network
    inputs, targets : arrays (B, T, n_in) and (B, T, n_out) (targets: one-hot for "ce").
    loss : "mse" or "ce"; mask : optional (B, T) or (T,) learning window.
    order : None (exact: RTRL) or int m >= 0 (keep paths with at most m explicit hops).
    reset : "detach" (the reset is a hop) or "local" (the reset stays within the neuron).
    max_bytes : refuse (MemoryLimitError) when the sensitivities would need more.
    keep : optional dict (layer l, parameter index) -> bool array (n_l, n_post of the
        parameter): influence entries outside it are set to 0 after every step (SnAp).

    Returns
    -------
    (loss, grads, y): batch-mean loss, dict of gradients summed over the batch, readout (B, T, n_out).
    """
    local = V.choice("reset", reset, RESETS) == "local"
    x = sequence(net, inputs)
    B, T, _ = x.shape
    M = 1 if order is None else int(order) + 1
    need = required_bytes(net, B, M)
    if need > max_bytes:
        raise MemoryLimitError(f"forward-mode sensitivities need {need / 2**30:.2f} GiB "
                               f"(> limit {max_bytes / 2**30:.2f} GiB); use e-prop or BPTT, "
                               f"or a smaller network/batch")
    blocks, y = net.forward(x)
    value, err = loss_and_error(y, check_target(targets, y.shape, loss), mask, loss)
    err = readout_error(net, err)
    f8 = np.float64
    L = len(net.layers)
    params = _params(net)
    P = {}   # (l, pidx) -> dict of Mv, Ma, dz_prev
    for pi, (q, _, shape) in enumerate(params):
        for l in range(q, L):
            zeros = lambda: np.zeros((M, B, net.sizes[l]) + shape, f8)
            P[l, pi] = {"v": zeros(), "a": zeros(), "dz": zeros(), "dz_old": zeros()}
    dy = [np.zeros((M, B, net.readout.n) + shape, f8) for (_, _, shape) in params]
    grads = [np.zeros(shape, f8) for (_, _, shape) in params]
    pr = [{k: v.astype(f8) for k, v in p.items()} for p in net.params]
    wt = []   # the explicit hop W~ of each layer (None: no hop)
    for l in range(L):
        p = pr[l]
        w = None if local else -np.diag(p["v_th"])
        if net.w_rec[l] is not None:
            w_rec = net.w_rec[l].astype(f8) * p["zeta"][None, :]
            w = w_rec if w is None else w + w_rec
        wt.append(w)
    w_in = [w.astype(f8) for w in net.w_in]
    w_out = net.w_out.astype(f8)
    kappa = net.kappa.astype(f8)[0]

    def bc(v, extra):   # broadcast a per-neuron vector over (M, B, n, *param dims)
        return v.reshape((1, 1, -1) + (1,) * extra)

    for t in range(T):
        interrupt.check_inner()
        for S in P.values():
            S["dz_old"], S["dz"] = S["dz"], S["dz_old"]
        for l in range(L):
            p, blk = pr[l], blocks[l]
            psi = blk.psi[:, t].astype(f8)
            for pi, (q, kind, shape) in enumerate(params):
                if q > l:
                    continue
                S, ex = P[l, pi], len(shape)
                v = bc(p["alpha"], ex) * S["v"]
                if local:
                    v -= bc(p["v_th"], ex) * S["dz_old"]
                if wt[l] is not None:
                    hop = np.einsum("jk,mbj...->mbk...", wt[l], S["dz_old"])
                    if order is None:
                        v += hop
                    else:
                        v[1:] += hop[:-1]
                if q < l:
                    below = P[l - 1, pi]["dz_old" if net.layers[l].delay else "dz"]
                    v += bc(p["zeta"], ex) * np.einsum("jk,mbj...->mbk...", w_in[l], below)
                else:
                    src = blk.pre[:, t] if kind == "in" else blk.z_prev[:, t]
                    nn = net.sizes[l]
                    idx = np.arange(nn)
                    v[0, :, idx, :, idx] += (p["zeta"][:, None, None]
                                             * src.astype(f8)[None, :, :])
                a = bc(p["rho"], ex) * S["a"] + S["dz_old"]
                if keep is not None:
                    km = keep[l, pi].reshape((1, 1, net.sizes[l]) + (1,) * (ex - 1) + (-1,))
                    v *= km
                    a *= km
                S["v"], S["a"] = v, a
                S["dz"] = psi[None, :, :].reshape((1, B, -1) + (1,) * ex) * (v - bc(p["beta"], ex) * a)
        for pi, (q, _, shape) in enumerate(params):
            dz_top = P[L - 1, pi]["dz"]
            dy[pi] = kappa * dy[pi] + np.einsum("jo,mbj...->mbo...", w_out, dz_top)
            grads[pi] += np.einsum("bo,bo...->...", err[:, t].astype(f8), dy[pi].sum(axis=0))
    z_top = blocks[-1].z.astype(f8)
    zbar = np.zeros_like(z_top[:, 0])
    g_out = np.zeros_like(w_out)
    for t in range(T):
        zbar = kappa * zbar + z_top[:, t]
        g_out += zbar.T @ err[:, t].astype(f8)
    per_layer = [[None, None] for _ in range(L)]
    for pi, (q, kind, _) in enumerate(params):
        per_layer[q][0 if kind == "in" else 1] = grads[pi].astype(net.dtype)
    return value, finish(net, per_layer, g_out.astype(net.dtype)), y


def rtrl(net, inputs, targets, **kw):
    """Exact real-time recurrent learning (deferred update over the sequence)."""
    return forward_mode(net, inputs, targets, order=None, **kw)
