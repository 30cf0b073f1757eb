"""The trace engine of e-prop: eligibility traces updated in place at every step.

Bellec et al. 2020 (Nat. Commun. 11:3625). Per layer the fused kernel
``kernels.eprop.eprop_layer_block`` updates the traces of every synapse j <- i and accumulates
the gradient in the same loop, block by block (nothing grows with T):

    eps_a^t = psi_j^{t-1} eps_v^{t-1} + (rho_j - psi_j^{t-1} beta_j) eps_a^{t-1}     (ALIF)
    eps_v^t = alpha_j eps_v^{t-1} + zeta_j pre_i^t
    e^t     = psi_j^t (eps_v^t - beta_j eps_a^t)
    top layer:   ebar^t = kappa ebar^{t-1} + e^t,                 grad += L_j^t ebar^t
    lower layer: H^t = a_hat H^{t-1} + e^t, ebar^t = kappa ebar^{t-1} + H^t (H^{t-1} with the
                 one-step delay), grad += delta_j^t ebar^t      (deep variants, Millidge 2025)

This is reset "detach" (Bellec 2020, NEST). With ``reset="local"`` the reset stays in the
within-neuron Jacobian (``options`` module docstring):
    eps_v^t = (alpha_j - v_th_j psi_j^{t-1}) eps_v^{t-1} + v_th_j beta_j psi_j^{t-1} eps_a^{t-1}
              + zeta_j pre_i^t
(the same fused kernel, its local specialisation).

The top layer, when its neurons share one leak, uses the activity-proportional kernel
``kernels.eprop_lazy`` (one presynaptic trace zbar, lazy decay of silent rows; with the reset
local it also keeps the deviation of eps_v from zeta zbar, decayed lazily); with ``order=1``
the fused first-order kernel ``kernels.eprop_m1`` (Martin-Sanchez et al. 2022; reset "detach"
only).
Memory: O(B n n_pre) per layer (traces and gradient), independent of T.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnsim.kernels import eprop as KE
from snnsim.kernels import eprop_lazy as KL
from snnsim.kernels import eprop_m1 as KM1


@dataclass
class LayerTraces:
    """Eligibility traces of one layer (B trials), modified in place by the kernels.

    psi_prev (B, n): psi of the step before the next block. ev: eps_v (B, n, n_pre), or the
    shared presynaptic trace zbar (B, n_pre) when ``lazy``. ea (ALIF), hh (lower layers), eb,
    f and y1 (order 1) are (B, n, n_pre[, n_out]) or (1, 1, 1) placeholders when unused;
    dv (B, n, n_pre): eps_v - zeta zbar of a lazy layer with the reset local (else None).
    """
    psi_prev: np.ndarray
    ev: np.ndarray
    ea: np.ndarray
    hh: np.ndarray
    eb: np.ndarray
    lazy: bool
    adaptive: bool
    f: np.ndarray | None = None
    y1: np.ndarray | None = None
    dv: np.ndarray | None = None


class TraceEngine:
    """Per-step eligibility traces of every layer and their accumulated gradients.

    Parameters
    ----------
    net : snnsim.Network
    batch : int
        Trials per sequence.
    opts : snnsim.learning.options.EpropOptions
        Validated settings (order, depth, c_reg, lazy).
    pool : snnsim.state.ArrayPool
        Pool the forward blocks' arrays are taken from and returned to.

    Attributes ``g[l]`` (B, n, n_pre) and ``esum[l]`` (B, n, n_pre; the per-trial sum of e for
    the regulariser, a placeholder when c_reg = 0) accumulate since :meth:`zero_grad`.
    """
    lean = False          # uses z_prev of the forward blocks
    dense_top = True      # needs the top layer's learning signal as a (B, K, n) array

    def __init__(self, net, batch, opts, pool):
        self.net, self.batch, self.opts, self.pool = net, batch, opts, pool
        self.zero_grad()
        self.reset()

    def reset(self):
        """Start a new sequence: zero every eligibility trace (gradients are kept)."""
        net, B, dt, o = self.net, self.batch, self.net.dtype, self.opts
        ph = np.zeros((1, 1, 1), dt)
        self.traces = []
        for l, n in enumerate(net.sizes):
            shape = (B, n, net.n_pre(l))
            adaptive = bool(np.any(net.params[l]["beta"] != 0))
            top = l == len(net.sizes) - 1
            alpha = net.params[l]["alpha"]
            lazy = o.lazy and top and o.order == 0 and bool(np.all(alpha == alpha[0]))
            tr = LayerTraces(psi_prev=np.zeros((B, n), dt), eb=np.zeros(shape, dt), lazy=lazy,
                             ev=np.zeros((B, shape[2]), dt) if lazy else np.zeros(shape, dt),
                             ea=np.zeros(shape, dt) if adaptive else ph,
                             hh=ph if top else np.zeros(shape, dt), adaptive=adaptive)
            if lazy and o.reset == "local":
                tr.dv = np.zeros(shape, dt)
            if top and o.order == 1:
                tr.f = np.zeros(shape, dt)
                tr.y1 = np.zeros(shape + (net.readout.n,), dt)
            self.traces.append(tr)

    def zero_grad(self):
        """New gradient accumulators (traces are kept)."""
        net, B, dt = self.net, self.batch, self.net.dtype
        self.g = [np.zeros((B, n, net.n_pre(l)), dt) for l, n in enumerate(net.sizes)]
        self.esum = [np.zeros((B, n, net.n_pre(l)), dt) if self.opts.c_reg > 0
                     else np.zeros((1, 1, 1), dt) for l, n in enumerate(net.sizes)]

    def add_block(self, blocks, sigs, top):
        """Advance every layer's traces over one forward block and accumulate the gradient.

        blocks : LayerBlock per layer (pre, z_prev, psi used); sigs[l] (B, K, n): learning
        signal of layer l; top : LowRank(err, fb) of the readout (used by order 1). The pooled
        arrays of blocks and sigs are handed back to the pool when the kernels are done.
        """
        for l in range(len(blocks) - 1, -1, -1):
            self._layer(l, blocks[l], sigs[l], top)
        for blk in blocks:
            for arr in (blk.z_prev, blk.z, blk.v, blk.a, blk.psi):
                self.pool.give(arr)
        for sig in sigs:
            self.pool.give(sig)

    def _layer(self, l, blk, sig, top):
        net, o = self.net, self.opts
        p, tr = net.params[l], self.traces[l]
        kappa = net.dtype(net.kappa[0])
        is_top = l == len(net.sizes) - 1
        pre = blk.pre if net.w_rec[l] is None else np.concatenate([blk.pre, blk.z_prev], axis=2)
        pre = np.ascontiguousarray(pre)
        if is_top and o.order == 1:
            err, fb = top
            wt = net.w_rec[l] * p["zeta"][None, :] - np.diag(p["v_th"])
            c = np.einsum("jk,btko->btjo", wt, blk.psi[:, :, :, None] * fb[None, None])
            KM1.eprop_m1_block(pre, blk.psi, sig, np.ascontiguousarray(c), err, p["alpha"],
                               p["zeta"], p["alpha"][0], kappa, tr.psi_prev, tr.ev,
                               tr.eb, tr.f, tr.y1, self.g[l])
        elif tr.lazy:   # tr.ev holds the shared presynaptic trace zbar (B, n_pre)
            KL.eprop_lazy_block(pre, blk.psi, sig, p["alpha"][0], p["zeta"], p["beta"], p["rho"],
                                kappa, tr.adaptive, o.c_reg > 0, tr.psi_prev, tr.ev,
                                tr.ea, tr.eb, self.g[l], self.esum[l],
                                *((p["v_th"], tr.dv) if o.reset == "local" else ()))
        else:
            a_hat, delay = o.depth_filter(net, l)
            KE.eprop_layer_block(pre, blk.psi, sig, p["alpha"], p["zeta"], p["beta"], p["rho"],
                                 kappa, tr.adaptive, not is_top, net.dtype(a_hat), delay,
                                 o.c_reg > 0, tr.psi_prev, tr.ev, tr.ea, tr.hh,
                                 tr.eb, self.g[l], self.esum[l],
                                 *((p["v_th"],) if o.reset == "local" else ()))

    def flush(self, we=None, final=False):
        """Nothing is pending: the gradient is up to date after every block."""

