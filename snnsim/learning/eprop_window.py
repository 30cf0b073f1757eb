"""The window engine of e-prop: buffer a window of steps, then one matrix product per layer.

e-prop's gradient over a window of K steps, sum_t L_j^t ebar_ji^t (Bellec et al. 2020), is a
linear functional of the presynaptic inputs pre_i^t and of the traces at the window start, with
coefficients that depend on the postsynaptic neuron only (``kernels.eprop_window``). So the
window engine keeps the forward blocks' pre (B, K, n_pre), psi and L (B, K, n), runs one
O(K B n) backward sweep per neuron and accumulates the gradient as c^T pre, instead of
updating B n n_pre traces at every step. The product is done per input event (one row of n
per spike) when fewer than 10 % of the inputs are non-zero, else by BLAS. The gradient is the same as the per-step trace engine's (float rounding).

A window ends when the buffer is full (``window_mb``), at every weight update and at the end
of a sequence. Only when a sequence continues past a window are the traces themselves
computed (three more functionals: eps_a, H, ebar; eps_v = zeta zbar is kept as one presynaptic
trace when the layer shares one leak) and the per-trial sums of e for the firing-rate
regulariser; a sequence that fits in one window needs one matrix product per layer.
With ``reset="local"`` the adjoint sweep uses the within-neuron Jacobian with the reset
(``kernels.eprop_window``) and eps_v is carried per synapse (it depends on psi_j).
Memory: O(W B (n_pre + 2 n)) per layer for a window of W steps, independent of T once T > W.
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from snnsim.kernels import eprop_window as KW

from .. import interrupt
from ..state import ArrayPool
from .common import LowRank

# one forward block: input (B, K, n_in), spikes z (B, K, n) and z0 (B, n) before the block,
# pseudo-derivatives psi (B, K, n) and learning signals sig: (B, K, n), or for the top layer
# LowRank(err (B, K, n_out), fb (n, n_out)) with sig = err fb^T, formed chunk by chunk at the
# window's end (n_out << n: the window holds err instead of sig)
Chunk = namedtuple("Chunk", "pre z z0 psi sig")

STATES = ("ev", "ea", "hh", "eb")
SPARSE = 0.1   # below this fraction of non-zero inputs the product is done per event
MAX_EVENT_BYTES = 256 * 2 ** 20   # per-trial accumulators of the event-driven product


@dataclass
class CarriedTraces:
    """Traces of one layer at the start of the open window (B, n, n_pre each; None when the
    layer does not have them): eps_v (or the shared presynaptic trace zbar (B, n_pre) when the
    layer shares one leak), eps_a (ALIF), H (lower layers) and ebar."""
    ev: np.ndarray | None = None
    ea: np.ndarray | None = None
    hh: np.ndarray | None = None
    eb: np.ndarray | None = None
    zbar: np.ndarray | None = None


class WindowLayer:
    """The open window (references to the forward blocks) and carried traces of one layer."""

    def __init__(self, net, l, batch, capacity_max, *, a_hat=0.0, delay=False, pool=None,
                 reset="detach"):
        self.net, self.l, self.B = net, l, batch
        self.pool = pool or ArrayPool()
        p = net.params[l]
        self.n = net.sizes[l]
        self.n_in = net.n_in if l == 0 else net.sizes[l - 1]
        self.rec = net.w_rec[l] is not None
        self.n_pre = net.n_pre(l)
        self.syn_shape = (self.n, self.n_pre)   # per-trial shape of a trace or gradient
        self.top = l == len(net.sizes) - 1
        self.use_h = not self.top
        self.a_hat, self.delay = float(a_hat), bool(delay)
        self.adaptive = bool(np.any(p["beta"] != 0))
        self.reset_v_th = p["v_th"] if reset == "local" else None
        # eps_v = zeta zbar (a presynaptic trace) needs one leak and the reset detached
        self.shared = bool(np.all(p["alpha"] == p["alpha"][0])) and self.reset_v_th is None
        self.capacity_max = max(1, int(capacity_max))
        self.reset()

    def bytes_per_step(self):
        """Bytes one step of the window holds: input, spikes, psi and learning signal (the
        top layer's as the readout error)."""
        n_sig = self.net.readout.n if self.top else self.n
        return self.B * (self.n_in + 2 * self.n + n_sig) * np.dtype(self.net.dtype).itemsize

    def reset(self):
        """New sequence: empty window, zero traces."""
        self.k = 0
        self.chunks = []
        self.done = []       # arrays of flushed chunks, for the caller to recycle
        self.carried = False
        self.psi0 = np.zeros((self.B, self.n), self.net.dtype)
        self.state = CarriedTraces()

    def full_after(self, K):
        """True if adding K more steps would exceed the window."""
        return self.k > 0 and self.k + K > self.capacity_max

    def add(self, blk, sig):
        """Keep one forward block (B, K, ...) and its learning signal: sig (B, K, n), or
        ``LowRank(err, fb)`` (both copied, they are small: weights may change and the caller
        may reuse its error array before the window closes). The forward allocates new spike
        and psi arrays at every call (``Network.run_block``), but the first layer's input may
        be the caller's array, which can change too: it is copied into a pool array."""
        if isinstance(sig, LowRank):
            sig = LowRank(np.array(sig.err, order="C"), np.array(sig.fb, order="C"))
        pre = blk.pre
        if self.l == 0:
            pre = self.pool.take(blk.pre.shape, blk.pre.dtype)
            pre[...] = blk.pre
        self.chunks.append(Chunk(pre, blk.z, blk.z0, blk.psi, sig))
        self.k += blk.psi.shape[1]

    def _signal(self, ch):
        """The chunk's learning signal (B, K, n); a LowRank one is formed in an array from
        the pool (returned by ``_functional`` after use)."""
        if not isinstance(ch.sig, LowRank):
            return ch.sig
        err, fb = ch.sig
        B, K, _ = err.shape
        out = self.pool.take((B, K, self.n), self.net.dtype)
        KW.lowrank_signal(err, fb, out)
        return out

    def _sources(self, ch):
        """(slice, array) of the presynaptic parts of a chunk: input, then z^{t-1} if recurrent."""
        out = [(slice(0, self.n_in), ch.pre)]
        if self.rec:
            out.append((slice(self.n_in, None), np.concatenate([ch.z0[:, None], ch.z[:, :-1]], axis=1)))
        return out

    # ------------------------------------------------------------------ functionals
    def _sparse(self):
        """True when the window's inputs are spikes sparse enough for the event-driven product
        (estimated on the first trial; the choice affects speed only, both products are exact)."""
        dt = np.dtype(self.net.dtype)
        if self.B * self.n_pre * self.n * dt.itemsize > MAX_EVENT_BYTES:
            return False
        nz = size = 0
        for ch in self.chunks:
            for src in (ch.pre, ch.z if self.rec else None):
                if src is not None:
                    nz += np.count_nonzero(src[0])
                    size += src[0].size
        return nz < SPARSE * size

    def _functional(self, ws, we, term, out, per_trial, sparse=False):
        """out += the functional's c^T pre over the window (summed over trials unless
        ``per_trial``); returns the coefficients of the traces at the window start (B, n, 4)."""
        p, net, dt = self.net.params[self.l], self.net, self.net.dtype
        B, n = self.B, self.n
        adj = np.empty((B, n, KW.N_STATE), dt)
        adj[...] = np.asarray(term, dt)
        args = (dt(ws), we, p["alpha"], p["zeta"], p["beta"], p["rho"], dt(net.kappa[0]),
                dt(self.a_hat), self.use_h, self.delay, adj)
        gT = np.zeros((B, self.n_pre, n), dt) if sparse else None
        no_rec = (np.zeros((1, 1, 0), dt), np.zeros((1, 0), dt))
        local = () if self.reset_v_th is None else (self.reset_v_th,)   # detach: as before
        for c in range(len(self.chunks) - 1, -1, -1):
            interrupt.check_inner()
            ch = self.chunks[c]
            psi, sig = ch.psi, self._signal(ch)
            psi0 = np.ascontiguousarray(self.chunks[c - 1].psi[:, -1] if c > 0 else self.psi0)
            if sparse:   # fused sweep + per-event product, no coefficient array
                KW.adjoint_events(psi, sig, psi0, *args, ch.pre,
                                  *((ch.z, ch.z0) if self.rec else no_rec), gT, *local)
            else:
                coef = np.empty((B,) + psi.shape[1:], dt)
                KW.adjoint_window(psi, sig, psi0, *args, coef, *local)
                self._product(coef, ch, out, per_trial)
            if sig is not ch.sig:
                self.pool.give(sig)
        if sparse:
            out += gT.transpose(0, 2, 1) if per_trial else (gT[0] if B == 1 else gT.sum(axis=0)).T
        return adj

    def _product(self, coef, ch, out, per_trial):
        """out += coef^T pre for one chunk by BLAS (dense inputs)."""
        B, K, n = coef.shape
        for part, src in self._sources(ch):
            if per_trial:
                out[:, :, part] += np.matmul(coef.transpose(0, 2, 1), src)
            else:
                out[:, part] += coef.reshape(B * K, n).T @ src.reshape(B * K, -1)

    def _add_carried(self, init, out, per_trial):
        """out += sum_q init[b, j, q] s_q[b, j, i], the traces at the window start."""
        if not self.carried:
            return
        for q, name in enumerate(STATES):
            if name == "ev" and self.shared:       # eps_v = zeta_j zbar_i: an outer product
                w = init[:, :, 0] * self.net.params[self.l]["zeta"]
                zbar = self.state.zbar
                if per_trial:
                    out += w[:, :, None] * zbar[:, None, :]
                else:
                    out += w.T @ zbar
            elif getattr(self.state, name) is not None:
                st = getattr(self.state, name)
                if per_trial:
                    out += init[:, :, q, None] * st
                else:   # out[j] += sum_b init[b, j] st[b, j]: one (1 x B) (B x n_pre) product per j
                    out += np.matmul(init[:, :, q].T[:, None, :], st.transpose(1, 0, 2))[:, 0]

    def flush(self, G, esum=None, we=None, final=False):
        """Close the window: G (n, n_pre) += the batch-summed gradient of its steps.

        we (B, n): weight of e^t folded into the gradient (firing-rate regulariser whose rate
        is known now); with ``esum`` (B, n, n_pre) the per-trial sum_t e^t is accumulated
        instead (rate not known yet). Unless ``final``, the traces at the window end are
        computed so the sequence can continue. G and esum are modified in place.
        """
        if self.k == 0:
            return
        B, n, dt = self.B, self.n, self.net.dtype
        zeros = np.zeros((B, n), dt)
        none = (0.0,) * KW.N_STATE
        sparse = self._sparse()
        init = self._functional(1.0, zeros if we is None else we, none, G, False, sparse)
        self._add_carried(init, G, False)
        if esum is not None:
            self._add_carried(self._functional(0.0, np.ones((B, n), dt), none, esum, True, sparse),
                              esum, True)
        if not final:
            new = CarriedTraces()
            for name in STATES:
                if (name == "ev" and self.shared) or (name == "ea" and not self.adaptive) \
                        or (name == "hh" and not self.use_h):
                    continue
                term = np.zeros(KW.N_STATE)
                term[STATES.index(name)] = 1.0
                out = np.zeros((B,) + self.syn_shape, dt)
                self._add_carried(self._functional(0.0, zeros, term, out, True, sparse), out, True)
                setattr(new, name, out)
            if self.shared:
                zbar = self.state.zbar.copy() if self.carried else np.zeros((B, self.n_pre), dt)
                alpha = dt(self.net.params[self.l]["alpha"][0])
                for ch in self.chunks:
                    src = np.concatenate([a for _, a in self._sources(ch)], axis=2)
                    KW.advance_trace(src, alpha, zbar)
                new.zbar = zbar
            self.state = new
            self.carried = True
        self.psi0 = self.chunks[-1].psi[:, -1].copy()
        self.done += [(ch.z, ch.psi) + (() if isinstance(ch.sig, LowRank) else (ch.sig,))
                      + ((ch.pre,) if self.l == 0 else ()) for ch in self.chunks]
        self.chunks = []
        self.k = 0


class WindowEngine:
    """The window engine: one :class:`WindowLayer` per layer and their gradients.

    Parameters as :class:`~snnsim.learning.eprop_trace.TraceEngine` (of the options, depth,
    c_reg and window_mb are used). Attributes ``g[l]`` (1, n, n_pre; summed over trials by the window's product) and
    ``esum[l]`` (B, n, n_pre; per-trial sum of e of closed windows for the regulariser, a
    placeholder when c_reg = 0) accumulate since :meth:`zero_grad`.
    """
    lean = True           # z and psi of the forward blocks only
    dense_top = False     # keeps the top layer's signal as LowRank(err, fb)
    layer_class = WindowLayer

    def __init__(self, net, batch, opts, pool):
        self.net, self.batch, self.opts, self.pool = net, batch, opts, pool
        self.windows = []
        for l in range(len(net.sizes)):
            a_hat, delay = opts.depth_filter(net, l)
            self.windows.append(self.layer_class(net, l, batch, 1, a_hat=a_hat, delay=delay,
                                                 pool=pool, reset=opts.reset))
        per_step = sum(w.bytes_per_step() for w in self.windows)
        cap = max(1, int(opts.window_mb * 2 ** 20 // per_step))
        for w in self.windows:
            w.capacity_max = cap
        self.zero_grad()

    def reset(self):
        """Start a new sequence: close a window left open by the previous one (its gradient is
        kept), then zero the carried traces."""
        self.flush(final=True)
        for w in self.windows:
            w.reset()

    def zero_grad(self):
        """New gradient accumulators. Steps of the open window before this call advance the
        traces but drop their gradient contribution."""
        net, B, dt = self.net, self.batch, self.net.dtype
        if self.windows[0].k:
            for w in self.windows:
                w.flush(np.zeros(w.syn_shape, dt), final=False)
            self._recycle()
        self.g = [np.zeros((1,) + w.syn_shape, dt) for w in self.windows]
        self.esum = [np.zeros((B,) + w.syn_shape, dt) if self.opts.c_reg > 0
                     else np.zeros((1, 1, 1), dt) for w in self.windows]

    def add_block(self, blocks, sigs, top):
        """Keep one forward block of every layer in the open window (closing it first when the
        block would not fit). sigs[l] (B, K, n): learning signal of layer l (pooled arrays, now
        owned by the engine; the top layer's is not needed: ``top`` = LowRank(err, fb))."""
        K = top.err.shape[1]
        if any(w.full_after(K) for w in self.windows):
            self.flush(final=False)
        L = len(blocks)
        for l, (w, blk) in enumerate(zip(self.windows, blocks)):
            w.add(blk, top if l == L - 1 else sigs[l])
            for arr in (blk.v, blk.a, blk.z_prev):
                self.pool.give(arr)
        self.pool.give(sigs[-1])

    def flush(self, we=None, final=False):
        """Close the open window: g += its gradient (with ``we`` (list of (B, n)) the firing-rate
        regulariser's weight of e is folded in; else esum accumulates the per-trial sums of e).
        Unless ``final`` the traces at the window's end are kept for the next window."""
        c_reg = self.opts.c_reg > 0
        for l, w in enumerate(self.windows):
            esum = self.esum[l] if (c_reg and we is None) else None
            w.flush(self.g[l][0], esum, None if we is None else we[l], final=final)
        self._recycle()

    def _recycle(self):
        """Hand the closed windows' block arrays back to the pool (after every layer is
        flushed: a layer's spikes are the next layer's input)."""
        for w in self.windows:
            for arrays in w.done:
                for arr in arrays:
                    self.pool.give(arr)
            w.done = []
