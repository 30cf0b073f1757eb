"""Online e-prop (Bellec et al. 2020), its first-order extension and the O(N^2) deep variants.

:class:`OnlineEprop` forms the learning signals, the readout gradient and the firing-rate
regulariser, and hands each forward block to one of two engines that compute the same
gradient (to float rounding), chosen once from its :class:`~.options.EpropOptions`:
- ``engine="window"`` (default, :class:`~.eprop_window.WindowEngine`): the forward blocks of a
  window are kept, then one backward sweep per neuron gives the coefficient of every
  presynaptic input and the synapse work is one event-driven (spikes) or BLAS product per
  layer. Memory O(W B (n_pre + 2n)) for a window of W steps (``window_mb``); traces are
  carried across windows.
- ``engine="trace"`` (:class:`~.eprop_trace.TraceEngine`): per layer a fused kernel updates
  the eligibility traces in place and accumulates sum_t L_j^t ebar_ji^t in the same loop,
  block by block: nothing grows with T.

Learning signals:
- top layer: L^t = B err^t, with B = W_out (``feedback="symmetric"``), a fixed random matrix
  (``"random"``) or a random matrix that receives W_out's updates (``"adaptive"``, Bellec 2020);
- lower layers (Millidge 2025, arXiv 2512.24506, cheap variants of the depth recursion):
  delta^l_j = sum_k B^{l+1}[j, k] zeta_k psi^{l+1}_k delta^{l+1}_k at the same step, with
  B^{l+1} = W_in^{l+1} (symmetric) or, with random/adaptive feedback, a fixed random matrix of
  the same shape per layer (no weight transport at any depth; adaptive: it receives W_in^{l+1}'s
  updates). delta^l is paired with e^l (``depth="spatial"``, OSTL-style) or with the one-hop
  trace H^l = alpha_{l+1} H^l + e^l (``depth="onehop"``). Neither is BPTT's gradient below the
  top layer: the one-hop variant equals BPTT with the explicit recurrent paths cut (reset
  "detach", = ``bptt-m0`` with reset "detach") for the layer just below a LIF layer with one
  shared leak only when the readout has no leak (tau_out = 0); with kappa > 0 it pairs psi^t of
  the upper layer with a kappa-filtered trace and is an approximation, as it is deeper down.
For one layer with symmetric feedback, e-prop is exact for the network with the explicit
recurrent paths cut (``bptt-m0`` with the same reset convention); with the reset local and no
lateral weights it equals BPTT.
``order=1`` adds the factorised one-hop term of m-order e-prop (single LIF layer with one
shared leak; ``kernels.eprop_m1``). Firing-rate regularisation (Bellec 2020):
E_reg = c_reg/2 sum_j (f_j - f_target)^2 with rates f in Hz, gradient through sum_t e^t.
"""
import numpy as np

from .. import interrupt

from snnsim.kernels import eprop as KE

from .. import validate as V
from ..errors import ConfigError
from ..sparse import CSR
from ..state import ArrayPool, LayerBlock
from .common import LowRank, finish, readout_error, sequence
from .eprop_trace import TraceEngine
from .eprop_window import WindowEngine
from .loss import check_target, loss_and_error, window_mask
from .options import EpropOptions, m1_supported


class OnlineEprop:
    """Online e-prop learner of one network: learning signals, readout gradient, regulariser.

    Parameters
    ----------
    net : snnsim.Network
    batch : int
        Trials per sequence (see :meth:`set_batch`).
    options : EpropOptions, optional
        Validated settings; or give them as keyword ``settings`` (``EpropOptions.build``:
        order, depth, feedback, c_reg, f_target, engine, window_mb, lazy, reset).
    rng : numpy.random.Generator, optional
        Draws the random feedback matrix (``feedback`` "random" or "adaptive").
    feedback_w : array (n_top, n_out), or dict, optional
        The feedback matrices to use instead of random draws (copied): the top layer's, or a
        dict keyed like :meth:`feedback_matrices` (missing entries are drawn).

    Attributes
    ----------
    feedback_w : array (n_top, n_out) or None
        Fixed random / adaptive feedback matrix of the top layer (None: symmetric, W_out is used).
    feedback_in : list of arrays (n_{l-1}, n_l) or None per layer
        Feedback matrix that replaces W_in[l]^T in the signal handed to layer l - 1 (None for
        layer 0 and with symmetric feedback).
    """

    def __init__(self, net, batch, options=None, *, rng=None, feedback_w=None, **settings):
        if options is None:
            options = EpropOptions.build(**settings)
        elif settings:
            raise ConfigError(next(iter(settings)), "give either options or keyword settings")
        self.net, self.opts = net, options
        if options.order == 1 and not m1_supported(net):
            raise ConfigError("rule", "eprop-m1 (fast kernel) needs a single LIF layer with one "
                                      "shared tau_m; use order >= 1 via the forward-mode engine")
        if net.is_sparse() and options.order == 1:
            raise ConfigError("rule", "eprop-m1 needs dense weights (sparse layers: order 0)")
        if options.feedback != "symmetric" and net.is_sparse() and len(net.layers) > 1:
            raise ConfigError("feedback", f"{options.feedback!r} feedback in a deep network with "
                              "sparse layers is not supported; use feedback = 'symmetric'")
        self.feedback_w = None
        self.feedback_in = [None] * len(net.layers)
        if feedback_w is not None and options.feedback == "symmetric":
            raise ConfigError("feedback_w", "is used with feedback = 'random' or 'adaptive' only")
        if options.feedback != "symmetric":
            given = feedback_w if isinstance(feedback_w, dict) else (
                {} if feedback_w is None else {"readout.w_out": feedback_w})
            V.unknown_keys("feedback_w", given, list(self._feedback_shapes()))
            mats = {}
            for name, shape in self._feedback_shapes().items():   # top first: same draw as before
                if name in given:
                    mats[name] = V.array(f"feedback_w.{name}", given[name], shape).astype(net.dtype)
                elif not isinstance(rng, np.random.Generator):
                    raise ConfigError("rng", f"feedback={options.feedback!r} needs a "
                                             "numpy.random.Generator")
                else:
                    mats[name] = (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(net.dtype)
            self.feedback_w = mats["readout.w_out"]
            for l in range(1, len(net.layers)):
                self.feedback_in[l] = mats[f"{net.layers[l].name}.w_in"]
        self.pool = ArrayPool()     # block histories are recycled between blocks
        self.engine = None
        self.set_batch(batch)

    # ------------------------------------------------------------------ state
    def set_batch(self, batch):
        """Use ``batch`` trials per sequence (a new engine when it changes; gradients and
        traces start from zero)."""
        batch = V.count("batch", batch)
        if self.engine is not None and batch == self.batch:
            return
        self.batch = batch
        kind = WindowEngine if self.opts.windowed else TraceEngine
        if self.net.is_sparse():   # synapse lists (snnsim.sparse): per-synapse arrays (B, nnz)
            from .eprop_sparse import SparseTraceEngine, SparseWindowEngine
            kind = SparseWindowEngine if self.opts.windowed else SparseTraceEngine
        self.engine = kind(self.net, batch, self.opts, self.pool)
        self.zero_grad()
        self.reset_traces()

    def _feedback_shapes(self):
        """Name (of the forward weight it stands in for) -> shape of every feedback matrix."""
        net = self.net
        out = {"readout.w_out": (net.sizes[-1], net.readout.n)}
        for l in range(1, len(net.layers)):
            out[f"{net.layers[l].name}.w_in"] = net.w_in[l].shape
        return out

    def feedback_matrices(self):
        """Dict name -> the feedback matrix used in place of that forward weight (the live
        arrays; the forward weights themselves with symmetric feedback)."""
        net = self.net
        out = {"readout.w_out": self.feedback_matrix()}
        for l in range(1, len(net.layers)):
            b = self.feedback_in[l]
            out[f"{net.layers[l].name}.w_in"] = net.w_in[l] if b is None else b
        return out

    def _signal_below(self, sig, blk, l):
        """Learning signal of layer l - 1 at the same steps: (sig psi zeta) B^l^T (pooled),
        B^l = W_in^l or layer l's random feedback matrix."""
        net = self.net
        tmp = self.pool.take(sig.shape, net.dtype)
        np.multiply(sig, blk.psi, out=tmp)
        tmp *= net.params[l]["zeta"]
        fb = net.w_in[l] if self.feedback_in[l] is None else self.feedback_in[l]
        out = self.pool.take(sig.shape[:2] + (net.sizes[l - 1],), net.dtype)
        if isinstance(fb, CSR):
            from snnsim.kernels import sparse as KS
            KS.csr_backproject(tmp, out, fb.indptr, fb.indices, fb.data)
        else:
            np.matmul(tmp, fb.T, out=out)
        self.pool.give(tmp)
        return out

    def reset_traces(self):
        """Start a new sequence: zero every eligibility trace (weights' gradients are kept)."""
        net, B = self.net, self.batch
        self.seq_done = False
        self.seq_spikes = [np.zeros(n) for n in net.sizes]
        self.seq_steps = 0
        self.zbar = np.zeros((B, net.sizes[-1]), net.dtype)
        self.engine.reset()

    def zero_grad(self):
        """Start a new gradient (traces are kept)."""
        net, B, dt = self.net, self.batch, self.net.dtype
        self.engine.zero_grad()
        self.g_out = np.zeros((B, net.sizes[-1], net.readout.n), dt)
        self.spike_count = [np.zeros((B, n)) for n in net.sizes]   # per trial, for c_reg
        self.steps = 0

    def feedback_matrix(self):
        """The matrix (n_top, n_out) that maps the readout error to the top layer's signal."""
        return self.net.w_out if self.feedback_w is None else self.feedback_w

    def adapt_feedback(self, deltas):
        """Adaptive feedback: every feedback matrix receives the same update as the forward
        weight it stands in for. ``deltas``: dict name -> weight change (an optimiser step's),
        or the change of W_out alone (an array)."""
        if self.opts.feedback != "adaptive":
            return
        if not isinstance(deltas, dict):
            deltas = {"readout.w_out": deltas}
        for name, b in self.feedback_matrices().items():
            if name in deltas:
                b += np.asarray(deltas[name]).astype(b.dtype)

    def new_blocks(self, B, K):
        """Pooled forward blocks of K steps for :meth:`Network.run_block`'s ``out`` (with the
        histories the engine uses only)."""
        net = self.net
        return [LayerBlock.empty(B, K, n, net.dtype, lean=self.engine.lean, alloc=self.pool.take)
                for n in net.sizes]

    # ------------------------------------------------------------------ one block
    def process_block(self, blocks, err):
        """Update traces and accumulate gradients for one forward block; err = dE/dy (B, K, n_out).
        The pooled arrays of ``blocks`` (from :meth:`new_blocks`) are recycled."""
        net = self.net
        L = len(net.layers)
        err = np.ascontiguousarray(readout_error(net, err), dtype=net.dtype)
        fb = self.feedback_matrix()
        sigs = [None] * L
        if self.engine.dense_top or L > 1:
            sigs[-1] = np.matmul(err, fb.T, out=self.pool.take(err.shape[:2] + (fb.shape[0],),
                                                                 net.dtype))
        for l in range(L - 1, 0, -1):   # learning signal handed to the layer below (same step)
            sigs[l - 1] = self._signal_below(sigs[l], blocks[l], l)
        for l, blk in enumerate(blocks):
            counts = blk.z.sum(axis=1)
            self.spike_count[l] += counts
            self.seq_spikes[l] += counts.sum(axis=0)
        KE.readout_grad_block(blocks[-1].z, err, net.dtype(net.kappa[0]), self.zbar, self.g_out)
        self.engine.add_block(blocks, sigs, LowRank(err, fb))
        self.steps += err.shape[1]
        self.seq_steps += err.shape[1]

    def run(self, x, target, mask, loss, *, block=256, keep_y=True, update_every=None, update=None):
        """Run one batch of sequences from a fresh state; returns (summed loss, y or None).

        With ``update_every`` (steps) and ``update`` (callable taking this learner), the
        accumulated gradient is handed to ``update`` every ``update_every`` steps and at the
        end (online learning); otherwise gradients accumulate over the whole sequence.
        Inputs are trusted (validated by the caller: ``eprop``, the Trainer).
        """
        net = self.net
        B, T, _ = x.shape
        block = block if update_every is None else update_every
        self.reset_traces()
        state = net.init_state(B)
        total, ys = 0.0, []
        for t0 in range(0, T, block):
            interrupt.check_inner()
            sl = slice(t0, min(T, t0 + block))
            blocks, y = net.run_block(state, x[:, sl], out=self.new_blocks(B, sl.stop - t0))
            value, err = loss_and_error(y, target[:, sl], mask[:, sl], loss)
            total += value
            self.seq_done = t0 + block >= T
            self.process_block(blocks, err)
            if keep_y:
                ys.append(y)
            if update is not None and update_every is not None:
                update(self)
        return total, (np.concatenate(ys, axis=1) if keep_y else None)

    # ------------------------------------------------------------------ results
    def rates_hz(self, sequence=False):
        """Mean rate (Hz) per neuron (over the batch) since zero_grad or the sequence start."""
        if sequence:
            counts, steps = self.seq_spikes, self.seq_steps
        else:
            counts, steps = [c.sum(axis=0) for c in self.spike_count], self.steps
        dur = self.batch * max(steps, 1) * self.net.dt * 1e-3
        return [c / dur for c in counts]

    def grads(self):
        """Dict name -> gradient (pre, post), summed over the batch, regularisation included,
        since the last ``zero_grad`` (reading it changes nothing; see also ``pop_grads``).

        Regularisation per trial b (NEST/Bellec): E_reg = c_reg/2 mean_b sum_j (f_bj - f_target)^2
        with f_bj the trial's rate (Hz) and df_bj/dW_ji = sum_t e_bji^t / duration.
        """
        return self._grads(fold=False)

    def pop_grads(self):
        """``grads()`` followed by ``zero_grad()`` (what a weight update does). With the window
        engine and c_reg > 0 it is cheaper: the rates are final for this gradient, so the
        regulariser's term is folded into the window's sweep instead of accumulating the
        per-trial sums of e."""
        out = self._grads(fold=True)
        self.zero_grad()
        return out

    def _reg_weights(self, dur):
        """Weight of e^t in the regulariser's gradient per trial and neuron, (B, n) per layer."""
        o = self.opts
        return [(o.c_reg * (c / dur - o.f_target) / (dur * self.batch)).astype(self.net.dtype)
                for c in self.spike_count]

    def _grads(self, fold):
        net, o = self.net, self.opts
        per_layer = []
        dur = max(self.steps, 1) * net.dt * 1e-3
        self.reg_loss = 0.0
        we = self._reg_weights(dur) if o.c_reg > 0 else None
        self.engine.flush(we if fold else None, final=self.seq_done)
        for l in range(len(net.layers)):
            if o.c_reg > 0:
                dev = self.spike_count[l] / dur - o.f_target            # (B, n)
                self.reg_loss += 0.5 * o.c_reg * float(np.sum(dev * dev)) / self.batch
            if hasattr(self.engine, "layer_grads"):   # sparse engines: per-synapse arrays
                per_layer.append(self.engine.layer_grads(l, we[l] if o.c_reg > 0 else None))
                continue
            G = self.engine.g[l].sum(axis=0)
            if o.c_reg > 0:
                G = G + np.einsum("bj,bji->ji", we[l], self.engine.esum[l])
            n_in = self.net.n_in if l == 0 else net.sizes[l - 1]
            g_rec = G[:, n_in:].T.copy() if net.w_rec[l] is not None else None
            per_layer.append((G[:, :n_in].T.copy(), g_rec))
        return finish(net, per_layer, self.g_out.sum(axis=0))


def eprop(net, inputs, targets, *, loss="mse", mask=None, block=256, keep_y=True, rng=None,
          **settings):
    """Deferred e-prop gradient over one batch of sequences: (loss, grads, y or None).

    ``settings``: :class:`EpropOptions` fields (validated here), or ``options=`` one."""
    x = sequence(net, inputs)
    B, T, _ = x.shape
    target = check_target(targets, (B, T, net.readout.n), loss)
    learner = OnlineEprop(net, B, rng=rng, **settings)
    total, y = learner.run(x, target, window_mask(mask, B, T), loss, block=V.count("block", block),
                           keep_y=keep_y)
    return total, learner.pop_grads(), y
