"""Online e-prop (Bellec et al. 2020), its first-order extension and the O(N^2) deep variants.

Two engines compute the same gradient (to float rounding):
- ``engine="window"`` (default, ``eprop_window``): the forward blocks of a window are kept,
  then one backward sweep per neuron gives the coefficient of every presynaptic input and the
  synapse work is one event-driven (spikes) or BLAS product per layer. Memory O(W B (n_pre + 2n))
  for a window of W steps (``window_mb``); traces are carried across windows.
- ``engine="trace"``: per layer the fused kernel ``kernels.eprop.eprop_layer_block`` (or the
  activity-proportional ``eprop_lazy`` kernel) updates the eligibility traces in place and
  accumulates sum_t L_j^t ebar_ji^t in the same loop, block by block: nothing grows with T.

Learning signals:
- top layer: L^t = B err^t, with B = W_out (``feedback="symmetric"``), a fixed random matrix
  (``"random"``) or a random matrix that receives W_out's updates (``"adaptive"``, Bellec 2020);
- lower layers (Millidge 2025, arXiv 2512.24506, cheap variants of the depth recursion):
  delta^l_j = sum_k W_in^{l+1}[j, k] zeta_k psi^{l+1}_k delta^{l+1}_k at the same step, paired
  with e^l (``depth="spatial"``, OSTL-style) or with the one-hop trace
  H^l = alpha_{l+1} H^l + e^l (``depth="onehop"``; exact for the layer just below a LIF layer
  with one shared leak when the readout has no leak, tau_out = 0).
``order=1`` adds the factorised one-hop term of m-order e-prop (single LIF layer with one
shared leak; ``kernels.eprop_m1``). Firing-rate regularisation (Bellec 2020):
E_reg = c_reg/2 sum_j (f_j - f_target)^2 with rates f in Hz, gradient through sum_t e^t.
"""
import numpy as np

from .. import interrupt

from snnsim.kernels import eprop as KE
from snnsim.kernels import eprop_lazy as KL
from snnsim.kernels import eprop_m1 as KM1

from .. import validate as V
from ..errors import ConfigError
from .common import finish, sequence
from ..state import ArrayPool
from .eprop_window import LowRank, WindowLayer
from .loss import check_target, loss_and_error, window_mask

FEEDBACK = ("symmetric", "random", "adaptive")
DEPTH = ("spatial", "onehop")
ENGINES = ("window", "trace")
AUTO_MIN_WINDOW = 200   # online updates more often than this: the trace engine is faster


def choose_engine(engine, update_every=None):
    """Resolve ``engine`` ("auto", "window" or "trace"). "auto": the window engine, unless
    weights are updated every fewer than AUTO_MIN_WINDOW steps; then every update closes a
    short window and the per-step trace kernels are faster (measured: benchmarks/README.md)."""
    V.choice("engine", engine, ("auto",) + ENGINES)
    if engine != "auto":
        return engine
    return "trace" if update_every and update_every < AUTO_MIN_WINDOW else "window"


def m1_supported(net):
    """The factorised m = 1 kernel needs one recurrent LIF layer whose neurons share one leak."""
    p = net.params[0]
    return (len(net.layers) == 1 and net.w_rec[0] is not None and not np.any(p["beta"] != 0)
            and np.all(p["alpha"] == p["alpha"][0]))


class OnlineEprop:
    def __init__(self, net, batch, *, order=0, feedback="symmetric", depth="spatial", rng=None,
                 c_reg=0.0, f_target=10.0, lazy=True, engine="auto", window_mb=256.0):
        self.net = net
        self.lazy = bool(lazy)   # activity-proportional kernel where the layer allows it
        self.engine = choose_engine(engine)      # "auto" -> window (no update interval here)
        self.window_mb = V.positive("window_mb", window_mb)
        self.batch = V.count("batch", batch)
        self.order = V.choice("order", order, [0, 1])
        if order == 1 and not m1_supported(net):
            raise ConfigError("rule", "eprop-m1 (fast kernel) needs a single LIF layer with one "
                                      "shared tau_m; use order >= 1 via the forward-mode engine")
        self.feedback = V.choice("feedback", feedback, FEEDBACK)
        self.depth = V.choice("depth", depth, DEPTH)
        self.c_reg = V.positive("c_reg", c_reg, allow_zero=True)
        self.f_target = V.positive("f_target", f_target, allow_zero=True)
        self.B = None
        if feedback != "symmetric":
            if not isinstance(rng, np.random.Generator):
                raise ConfigError("rng", f"feedback={feedback!r} needs a numpy.random.Generator")
            n_top = net.sizes[-1]
            self.B = (rng.standard_normal((n_top, net.readout.n)) / np.sqrt(n_top)).astype(net.dtype)
        self.windows = None
        self.pool = ArrayPool()     # block histories are recycled between blocks
        self.zero_grad()
        self.reset_traces()

    # ------------------------------------------------------------------ state
    def _n_pre(self, l):
        n_in = self.net.n_in if l == 0 else self.net.sizes[l - 1]
        return n_in + (self.net.sizes[l] if self.net.w_rec[l] is not None else 0)

    @property
    def windowed(self):
        """True when the window engine (``eprop_window``) computes this learner's traces."""
        return self.engine == "window" and self.order == 0

    def _depth_filter(self, l):
        """(a_hat, delay) of layer l's H trace (lower layers of the deep variants; see above)."""
        if l == len(self.net.sizes) - 1:
            return 0.0, False
        a_hat = float(np.mean(self.net.params[l + 1]["alpha"])) if self.depth == "onehop" else 0.0
        return a_hat, self.net.layers[l + 1].delay

    def _signal_below(self, sig, blk, l):
        """Learning signal of layer l - 1 at the same steps: (sig psi zeta) W_in^l^T (pooled)."""
        net = self.net
        tmp = self.pool.take(sig.shape, net.dtype)
        np.multiply(sig, blk.psi, out=tmp)
        tmp *= net.params[l]["zeta"]
        out = np.matmul(tmp, net.w_in[l].T,
                        out=self.pool.take(sig.shape[:2] + (net.sizes[l - 1],), net.dtype))
        self.pool.give(tmp)
        return out

    def _make_windows(self):
        net = self.net
        wins = []
        for l in range(len(net.sizes)):
            a_hat, delay = self._depth_filter(l)
            wins.append(WindowLayer(net, l, self.batch, 1, a_hat=a_hat, delay=delay, pool=self.pool))
        per_step = sum(w.bytes_per_step() for w in wins)
        cap = max(1, int(self.window_mb * 2 ** 20 // per_step))
        for w in wins:
            w.capacity_max = cap
        return wins

    def _flush(self, final, we=None):
        """Close the open window of every layer (window engine)."""
        for l, w in enumerate(self.windows):
            esum = self.esum[l] if (self.c_reg > 0 and we is None) else None
            w.flush(self.g[l][0], esum, None if we is None else we[l], final=final)
        self._recycle()

    def _recycle(self):
        """Hand the flushed windows' block arrays back to the pool."""
        for w in self.windows:
            for arrays in w.done:
                for arr in arrays:
                    self.pool.give(arr)
            w.done = []

    def reset_traces(self):
        """Start a new sequence: zero every eligibility trace (weights' gradients are kept)."""
        net, B, dt = self.net, self.batch, self.net.dtype
        self.seq_done = False
        self.seq_spikes = [np.zeros(n) for n in net.sizes]
        self.seq_steps = 0
        self.zbar = np.zeros((B, net.sizes[-1]), dt)
        if self.windowed:
            if self.windows is not None and self.windows[0].B == B:
                self._flush(final=True)     # a window left open by the previous sequence
                for w in self.windows:
                    w.reset()
            else:
                self.windows = self._make_windows()
            return
        self.traces = []
        ph = np.zeros((1, 1, 1), dt)
        for l, n in enumerate(net.sizes):
            shape = (B, n, self._n_pre(l))
            z = lambda: np.zeros(shape, dt)
            adaptive = bool(np.any(net.params[l]["beta"] != 0))
            top = l == len(net.sizes) - 1
            alpha = net.params[l]["alpha"]
            lazy = self.lazy and top and self.order == 0 and np.all(alpha == alpha[0])
            tr = {"psi_prev": np.zeros((B, n), dt), "eb": z(), "lazy": lazy,
                  "ev": np.zeros((B, self._n_pre(l)), dt) if lazy else z(),
                  "ea": z() if adaptive else ph, "hh": ph if top else z(),
                  "adaptive": adaptive}
            if top and self.order == 1:
                tr["f"] = z()
                tr["y1"] = np.zeros(shape + (net.readout.n,), dt)
            self.traces.append(tr)

    def zero_grad(self):
        net, B, dt = self.net, self.batch, self.net.dtype
        if self.windows is not None and self.windows[0].B != B:   # batch size changed
            self.windows = self._make_windows()
        elif self.windows is not None and self.windows[0].k:
            # steps before zero_grad: advance the traces, drop their gradient contribution
            for w in self.windows:
                w.flush(np.zeros((w.n, w.n_pre), dt), final=False)
            self._recycle()
        gb = 1 if self.windowed else B     # the window engine sums over trials in its GEMM
        self.g = [np.zeros((gb, n, self._n_pre(l)), dt) for l, n in enumerate(net.sizes)]
        self.g_out = np.zeros((B, net.sizes[-1], net.readout.n), dt)
        want = self.c_reg > 0
        self.esum = [np.zeros((B,) + g.shape[1:], dt) if want else np.zeros((1, 1, 1), dt)
                     for g in self.g]
        self.spike_count = [np.zeros((B, n)) for n in net.sizes]   # per trial, for c_reg
        self.steps = 0

    def feedback_matrix(self):
        return self.net.w_out if self.B is None else self.B

    def adapt_feedback(self, delta_w_out):
        """Adaptive feedback: B receives the same update as W_out."""
        if self.feedback == "adaptive":
            self.B += delta_w_out.astype(self.B.dtype)

    # ------------------------------------------------------------------ one block
    def process_block(self, blocks, err):
        """Update traces and accumulate gradients for one forward block; err = dE/dy (B, K, n_out)."""
        net = self.net
        L = len(net.layers)
        kappa = net.dtype(net.kappa[0])
        err = np.ascontiguousarray(err, dtype=net.dtype)
        fb = self.feedback_matrix()
        pool = self.pool
        sig = top_sig = None
        if not self.windowed or L > 1:   # the window keeps the top layer's signal as (err, fb)
            sig = top_sig = np.matmul(err, fb.T, out=pool.take(err.shape[:2] + (fb.shape[0],),
                                                               net.dtype))
        K = err.shape[1]
        if self.windowed and any(w.full_after(K) for w in self.windows):
            self._flush(final=False)
        for l in range(L - 1, -1, -1):
            blk, p = blocks[l], net.params[l]
            if self.windowed:
                self.windows[l].add(blk, LowRank(err, fb) if l == L - 1 else sig)
                for arr in (blk.v, blk.a, blk.z_prev):
                    pool.give(arr)
                self._count(l, blk)
                if l > 0:   # learning signal handed to the layer below (same step)
                    sig = self._signal_below(sig, blk, l)
                continue
            tr = self.traces[l]
            pre = blk.pre if net.w_rec[l] is None else np.concatenate([blk.pre, blk.z_prev], axis=2)
            pre = np.ascontiguousarray(pre)
            top = l == L - 1
            if top and self.order == 1:
                wt = net.w_rec[l] * p["zeta"][None, :] - np.diag(p["v_th"])
                c = np.einsum("jk,btko->btjo", wt, blk.psi[:, :, :, None] * fb[None, None])
                KM1.eprop_m1_block(pre, blk.psi, sig, np.ascontiguousarray(c), err, p["alpha"],
                                   p["zeta"], p["alpha"][0], kappa, tr["psi_prev"], tr["ev"],
                                   tr["eb"], tr["f"], tr["y1"], self.g[l])
            elif tr["lazy"]:   # tr["ev"] holds the shared presynaptic trace zbar (B, n_pre)
                KL.eprop_lazy_block(pre, blk.psi, sig, p["alpha"][0], p["zeta"], p["beta"], p["rho"],
                                    kappa, tr["adaptive"], self.c_reg > 0, tr["psi_prev"], tr["ev"],
                                    tr["ea"], tr["eb"], self.g[l], self.esum[l])
            else:
                a_hat, delay = self._depth_filter(l)
                KE.eprop_layer_block(pre, blk.psi, sig, p["alpha"], p["zeta"], p["beta"], p["rho"],
                                     kappa, tr["adaptive"], not top, net.dtype(a_hat), delay,
                                     self.c_reg > 0, tr["psi_prev"], tr["ev"], tr["ea"], tr["hh"],
                                     tr["eb"], self.g[l], self.esum[l])
            self._count(l, blk)
            if l > 0:   # learning signal handed to the layer below (same step)
                below = self._signal_below(sig, blk, l)
                if sig is not top_sig:
                    pool.give(sig)          # the trace kernels are done with it
                sig = below
        KE.readout_grad_block(blocks[-1].z, err, kappa, self.zbar, self.g_out)
        if not self.windowed:   # the trace kernels are done with this block
            for blk in blocks:
                for arr in (blk.z_prev, blk.z, blk.v, blk.a, blk.psi):
                    pool.give(arr)
            if sig is not top_sig:
                pool.give(sig)
        pool.give(top_sig)      # a window keeps the top layer's signal as (err, fb)
        self.steps += err.shape[1]
        self.seq_steps += err.shape[1]

    def _count(self, l, blk):
        counts = blk.z.sum(axis=1)
        self.spike_count[l] += counts
        self.seq_spikes[l] += counts.sum(axis=0)

    def run(self, x, target, mask, loss, *, block=256, keep_y=True, update_every=None, update=None):
        """Run one batch of sequences from a fresh state; returns (summed loss, y or None).

        With ``update_every`` (steps) and ``update`` (callable taking this learner), the
        accumulated gradient is handed to ``update`` every ``update_every`` steps and at the
        end (online learning); otherwise gradients accumulate over the whole sequence.
        """
        net = self.net
        B, T, _ = x.shape
        block = V.count("block", block if update_every is None else update_every)
        self.reset_traces()
        state = net.init_state(B)
        total, ys = 0.0, []
        for t0 in range(0, T, block):
            interrupt.check_inner()
            sl = slice(t0, min(T, t0 + block))
            blocks, y = net.run_block(state, x[:, sl], lean=self.windowed, alloc=self.pool.take)
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

    def _grads(self, fold):
        net = self.net
        per_layer = []
        dur = max(self.steps, 1) * net.dt * 1e-3
        self.reg_loss = 0.0
        if self.windowed:   # close the open window
            we = None
            if self.c_reg > 0 and fold:
                we = [(self.c_reg * (c / dur - self.f_target) / (dur * self.batch)).astype(net.dtype)
                      for c in self.spike_count]
            self._flush(final=self.seq_done, we=we)
        for l in range(len(net.layers)):
            G = self.g[l].sum(axis=0)
            if self.c_reg > 0:
                dev = self.spike_count[l] / dur - self.f_target            # (B, n)
                w = (self.c_reg * dev / (dur * self.batch)).astype(net.dtype)
                G = G + np.einsum("bj,bji->ji", w, self.esum[l])
                self.reg_loss += 0.5 * self.c_reg * float(np.sum(dev * dev)) / self.batch
            n_in = self.net.n_in if l == 0 else net.sizes[l - 1]
            g_rec = G[:, n_in:].T.copy() if net.w_rec[l] is not None else None
            per_layer.append((G[:, :n_in].T.copy(), g_rec))
        return finish(net, per_layer, self.g_out.sum(axis=0))


def eprop(net, inputs, targets, *, loss="mse", mask=None, block=256, keep_y=True, **kw):
    """Deferred e-prop gradient over one batch of sequences: (loss, grads, y or None)."""
    x = sequence(net, inputs)
    B, T, _ = x.shape
    target = check_target(targets, (B, T, net.readout.n), loss)
    learner = OnlineEprop(net, B, **kw)
    total, y = learner.run(x, target, window_mask(mask, B, T), loss, block=block, keep_y=keep_y)
    return total, learner.pop_grads(), y
