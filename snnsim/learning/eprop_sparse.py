"""e-prop on networks with sparse (CSR) layers: the trace and window engines over synapse lists.

Same rule and learning signals as :mod:`.eprop_trace` and :mod:`.eprop_window` (Bellec et al.
2020, Nat. Commun. 11:3625); only the storage differs. Every per-synapse quantity of layer l
(eligibility traces eps_v, eps_a, H, ebar, the gradient and the regulariser's sum of e) is a
(B, nnz) array over the layer's synapses in CSR order: its input rows, then its recurrent
rows (:func:`snnsim.sparse.concat_rows`). A dense layer of the same network is handled as a
CSR pattern with every synapse present, so mixed networks need no special case.

- :class:`SparseTraceEngine`: ``kernels.sparse.sparse_eprop_block`` updates the traces of
  every synapse at every step, O(B K nnz) per block; memory O(B nnz), independent of T. Its
  per-synapse arrays are kept by postsynaptic neuron (one stable sort of the synapses per
  layer), so the per-neuron factors are loaded once per neuron; gradients are put back in
  CSR order when read.
- :class:`SparseWindowEngine`: the window engine's per-neuron adjoint sweep gives the
  coefficients c_j^t, and the gradient of synapse s = (i -> j) is sum_t c_j^t pre_i^t,
  accumulated per input event (``kernels.sparse.csr_window_product``): O(K B n + events x
  out-degree). Traces carried across windows are per synapse (eps_v included: the shared
  presynaptic trace of the dense engine is not used).

Gradients are returned per weight matrix as the CSR ``data`` layout (nnz,) for sparse layers
and as (pre, post) arrays for dense ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnsim.kernels import eprop_window as KW
from snnsim.kernels import sparse as KS

from .. import interrupt
from ..sparse import CSR, concat_rows, full_rows
from .eprop_trace import LayerTraces, TraceEngine
from .eprop_window import STATES, WindowEngine, WindowLayer


@dataclass
class Pattern:
    """Synapses of one layer over its presynaptic entries [input, own z^{t-1}]:
    indptr (n_pre + 1), indices (nnz); the first ``nnz_in`` are the input weights'.
    ``dense``: the layer's weights are dense arrays (every synapse present)."""
    indptr: np.ndarray
    indices: np.ndarray
    nnz_in: int
    n_in: int
    n: int
    rec: bool
    dense: bool

    @property
    def nnz(self):
        return len(self.indices)

    def by_post(self):
        """(col_ptr (n + 1), col_rows (nnz), order (nnz)): the synapses sorted by postsynaptic
        neuron (stable: by presynaptic entry within a neuron); synapse q of that order is
        synapse order[q] of the CSR order."""
        order = np.argsort(self.indices, kind="stable")
        col_ptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.indices, minlength=self.n), out=col_ptr[1:])
        rows = np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int64), np.diff(self.indptr))
        return col_ptr, rows[order], order

    def split(self, G):
        """(g_in, g_rec or None) of a per-synapse array G (nnz,): CSR data order for a sparse
        layer, (pre, post) arrays for a dense one."""
        g_in, g_rec = G[:self.nnz_in], G[self.nnz_in:]
        if self.dense:
            g_in, g_rec = g_in.reshape(self.n_in, self.n), g_rec.reshape(self.n, self.n)
        return g_in.copy(), (g_rec.copy() if self.rec else None)


def layer_pattern(net, l):
    """The :class:`Pattern` of layer l of ``net``."""
    w_in, w_rec = net.w_in[l], net.w_rec[l]
    n = net.sizes[l]
    n_in = net.n_in if l == 0 else net.sizes[l - 1]
    if isinstance(w_in, CSR):
        indptr, indices = concat_rows(w_in, w_rec)
        return Pattern(indptr, indices, w_in.nnz, n_in, n, w_rec is not None, False)
    indptr, indices = full_rows(net.n_pre(l), n)
    return Pattern(indptr, indices, n_in * n, n_in, n, w_rec is not None, True)


def layer_grads(engine, l, we, post=None, order=None):
    """(g_in, g_rec) of layer l from ``engine.g[l]`` (B, nnz) and, with the regulariser's
    weights ``we`` (B, n), its per-trial sums of e ``engine.esum[l]`` (B, nnz). ``post`` (nnz,):
    postsynaptic neuron of each entry of these arrays, ``order``: their CSR position (both
    None: CSR order)."""
    pat = engine.patterns[l]
    G = engine.g[l].sum(axis=0)
    if we is not None:
        G = G + (we[:, pat.indices if post is None else post] * engine.esum[l]).sum(axis=0)
    if order is not None:
        G_csr = np.empty_like(G)
        G_csr[order] = G
        G = G_csr
    return pat.split(G)


class SparseTraceEngine(TraceEngine):
    """:class:`~.eprop_trace.TraceEngine` over synapse lists (parameters the same; the
    options lazy and order are not used: order 1 is refused by the learner). Attributes
    ``g[l]`` and ``esum[l]`` are (B, nnz_l)."""

    def __init__(self, net, batch, opts, pool):
        self.patterns = [layer_pattern(net, l) for l in range(len(net.sizes))]
        self.columns = [p.by_post() for p in self.patterns]   # traces kept by post neuron
        super().__init__(net, batch, opts, pool)

    def reset(self):
        net, B, dt = self.net, self.batch, self.net.dtype
        ph = np.zeros((1, 1), dt)
        self.traces = []
        for l, (n, pat) in enumerate(zip(net.sizes, self.patterns)):
            shape = (B, pat.nnz)
            adaptive = bool(np.any(net.params[l]["beta"] != 0))
            top = l == len(net.sizes) - 1
            self.traces.append(LayerTraces(
                psi_prev=np.zeros((B, n), dt), ev=np.zeros(shape, dt), eb=np.zeros(shape, dt),
                ea=np.zeros(shape, dt) if adaptive else ph, hh=ph if top else np.zeros(shape, dt),
                lazy=False, adaptive=adaptive))

    def zero_grad(self):
        B, dt = self.batch, self.net.dtype
        self.g = [np.zeros((B, p.nnz), dt) for p in self.patterns]
        self.esum = [np.zeros((B, p.nnz), dt) if self.opts.c_reg > 0 else np.zeros((1, 1), dt)
                     for p in self.patterns]

    def _layer(self, l, blk, sig, top):
        net, o = self.net, self.opts
        p, tr, pat = net.params[l], self.traces[l], self.patterns[l]
        pre = blk.pre if net.w_rec[l] is None else np.concatenate([blk.pre, blk.z_prev], axis=2)
        a_hat, delay = o.depth_filter(net, l)
        col_ptr, col_rows, _ = self.columns[l]
        KS.sparse_eprop_block(np.ascontiguousarray(pre), blk.psi, sig, col_ptr, col_rows,
                              p["alpha"], p["zeta"], p["beta"], p["rho"], net.dtype(net.kappa[0]),
                              tr.adaptive, l < len(net.sizes) - 1, net.dtype(a_hat), delay,
                              o.c_reg > 0, tr.psi_prev, tr.ev, tr.ea, tr.hh, tr.eb, self.g[l],
                              self.esum[l], *((p["v_th"],) if o.reset == "local" else ()))

    def layer_grads(self, l, we):
        col_ptr, _, order = self.columns[l]
        post = np.repeat(np.arange(len(col_ptr) - 1), np.diff(col_ptr)) if we is not None else None
        return layer_grads(self, l, we, post, order)


class SparseWindowLayer(WindowLayer):
    """:class:`~.eprop_window.WindowLayer` whose per-synapse arrays are (B, nnz) over the
    layer's :class:`Pattern` (eps_v carried per synapse)."""

    def __init__(self, net, l, batch, capacity_max, **kw):
        super().__init__(net, l, batch, capacity_max, **kw)
        self.pattern = layer_pattern(net, l)
        self.syn_shape = (self.pattern.nnz,)
        self.shared = False

    def _sparse(self):
        return False   # one product: per input event over the synapses of its row

    def _functional(self, ws, we, term, out, per_trial, sparse=False):
        """out += the functional's sum_t c_j^t pre_i^t per synapse (B, nnz) if ``per_trial``,
        else summed over trials (nnz,); returns the coefficients of the traces at the window
        start (B, n, 4)."""
        p, net, dt = self.net.params[self.l], self.net, self.net.dtype
        B, n, pat = self.B, self.n, self.pattern
        adj = np.empty((B, n, KW.N_STATE), dt)
        adj[...] = np.asarray(term, dt)
        args = (dt(ws), we, p["alpha"], p["zeta"], p["beta"], p["rho"], dt(net.kappa[0]),
                dt(self.a_hat), self.use_h, self.delay, adj)
        acc = out if per_trial else (out[None] if B == 1 else np.zeros((B, pat.nnz), dt))
        no_rec = (np.zeros((B, 1, 0), dt), np.zeros((B, 0), dt))
        local = () if self.reset_v_th is None else (self.reset_v_th,)
        for c in range(len(self.chunks) - 1, -1, -1):
            interrupt.check_inner()
            ch = self.chunks[c]
            psi, sig = ch.psi, self._signal(ch)
            psi0 = np.ascontiguousarray(self.chunks[c - 1].psi[:, -1] if c > 0 else self.psi0)
            coef = self.pool.take(psi.shape, dt)
            KW.adjoint_window(psi, sig, psi0, *args, coef, *local)
            KS.csr_window_product(coef, ch.pre, *((ch.z, ch.z0) if self.rec else no_rec),
                                  pat.indptr, pat.indices, acc)
            self.pool.give(coef)
            if sig is not ch.sig:
                self.pool.give(sig)
        if not per_trial and B > 1:
            out += acc.sum(axis=0)
        return adj

    def _add_carried(self, init, out, per_trial):
        """out += sum_q init[b, j(s), q] state_q[b, s], the traces at the window start."""
        if not self.carried:
            return
        for q, name in enumerate(STATES):
            st = getattr(self.state, name)
            if st is not None:
                KS.add_state_term(np.ascontiguousarray(init[:, :, q]), st, self.pattern.indices,
                                  out if per_trial else out[None])


class SparseWindowEngine(WindowEngine):
    """:class:`~.eprop_window.WindowEngine` over synapse lists: ``g[l]`` (1, nnz_l) and
    ``esum[l]`` (B, nnz_l)."""
    layer_class = SparseWindowLayer

    @property
    def patterns(self):
        return [w.pattern for w in self.windows]

    def layer_grads(self, l, we):
        return layer_grads(self, l, we)
