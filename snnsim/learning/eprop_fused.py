"""Online e-prop with the weight updates inside compiled code (the "fused" online path).

Same rule and same weights as :meth:`OnlineEprop.run` with ``update_every = k`` and an
optimiser step after every block (Bellec et al. 2020, Nat. Commun. 11:3625: weights are
updated while the sequence runs), but the loop over steps, with the forward step, the
learning signals, the trace update (the trace engine's per-step kernels, the top layer in
its activity-proportional form when its neurons share one leak) and every k steps the SGD or
Adam update, runs in one compiled call per chunk of the sequence
(``snnsim.kernels.eprop_online.online_chunk``): no Python between updates, no arrays
allocated per update (the step kernels keep their small per-call scratch). The loop runs
on one thread (trials in turn; the optimiser step needs all of them).

What it covers (else the Trainer keeps the block-by-block path; :func:`fused_unsupported`
says why): the order-0 rules (eprop, deep-eprop-spatial, deep-eprop-onehop) on the trace
engine, any number of LIF/ALIF layers (recurrent or not, inter-layer delays, both
surrogates), symmetric or random feedback, both reset conventions, c_reg >= 0, mse and ce
losses, any batch, SGD or Adam (with per-weight learning rates), float32 or float64,
without MPI.
"""
from __future__ import annotations

import numpy as np

from .. import interrupt
from ..errors import DivergenceError
from ..optim import SGD, Adam
from .eprop_trace import TraceEngine

CHUNK = 256   # steps per compiled call, rounded to a multiple of the update interval


def fused_unsupported(learner, optimizer, comm=None):
    """None when :class:`FusedOnline` can run ``learner``'s online updates with
    ``optimizer``, else the reason (a short phrase) why the block-by-block path runs."""
    o = learner.opts
    if o.engine != "trace":
        return f"engine {o.engine!r}"
    if learner.net.is_sparse():
        return "sparse layers"
    if o.order != 0:
        return "order 1 (eprop-m1)"
    if o.feedback == "adaptive":
        return "adaptive feedback"
    if comm is not None:
        return "MPI"
    if type(optimizer) not in (SGD, Adam):
        return f"optimiser {type(optimizer).__name__}"
    if not all(w.flags.c_contiguous for w in learner.net.weights().values()):
        return "non-contiguous weight arrays"
    return None


class FusedOnline:
    """Runs sequences of one :class:`~snnsim.learning.eprop.OnlineEprop` learner with the
    optimiser's updates every ``update_every`` steps in compiled code.

    Parameters
    ----------
    learner : OnlineEprop
        Its network, options and feedback matrices are used (check
        :func:`fused_unsupported` first); after :meth:`run` its per-sequence spike counts
        (``rates_hz(sequence=True)``) are those of the run.
    optimizer : snnsim.optim.SGD or snnsim.optim.Adam
        Updated in place (step count, Adam's moments), as its ``step`` would be.
    """

    def __init__(self, learner, optimizer):
        self.learner, self.opt = learner, optimizer
        self.engine = None

    def _engine(self, B):
        lr = self.learner
        if self.engine is None or self.engine.batch != B:
            self.engine = TraceEngine(lr.net, B, lr.opts, lr.pool)
        else:
            self.engine.reset()
            self.engine.zero_grad()
        return self.engine

    def _optimizer_arrays(self, names, shapes):
        """(kind, m, v, lr) per weight name: Adam's moments (created as its step would) as
        transposed copies (post, pre) for the kernel (:meth:`_store_moments` writes them
        back), placeholders for SGD."""
        opt = self.opt
        if opt.t == 0:
            opt._check_groups(names)
        lrs = {n: float(opt.rate(n)) for n in names}
        if isinstance(opt, Adam):
            for mom in (opt.m, opt.v):
                for n, s in zip(names, shapes):
                    mom[n] = np.asarray(mom.get(n, np.zeros(s)), dtype=np.float64)
            mt = {n: np.ascontiguousarray(opt.m[n].T) for n in names}
            vt = {n: np.ascontiguousarray(opt.v[n].T) for n in names}
            return 1, mt, vt, lrs
        ph = np.zeros((1, 1))
        return 0, {n: ph for n in names}, {n: ph for n in names}, lrs

    def _store_moments(self, kind, mt, vt):
        if kind:
            for n in mt:
                self.opt.m[n][...] = mt[n].T
                self.opt.v[n][...] = vt[n].T

    def run(self, x, target, mask, loss, update_every, *, keep_y=True):
        """Run one batch of sequences from a fresh state, updating the weights after every
        ``update_every`` steps and after the last; returns (summed loss, y or None).

        x (B, T, n_in) in the network's dtype, target (B, T, n_out), mask (B, T) float64
        (trusted: the Trainer validates them). Raises DivergenceError when an update makes
        a weight NaN/inf (the weights are left as that update wrote them).
        """
        from snnsim.kernels import eprop_online as KO
        from snnsim.kernels import forward as KF
        learner, net, opt = self.learner, self.learner.net, self.opt
        dt = net.dtype
        x = np.ascontiguousarray(x, dtype=dt)
        target = np.ascontiguousarray(target, dtype=np.float64)
        mask = np.ascontiguousarray(mask, dtype=np.float64)
        B, T, _ = x.shape
        k = int(update_every)
        L = len(net.layers)
        eng = self._engine(B)
        state = net.init_state(B)
        o = learner.opts
        table = net.weight_table()
        names = [row[0] for row in table]
        kind, m, v, lrs = self._optimizer_arrays(names, [row[3].shape for row in table])
        n_upd = -(-T // k)
        ts = opt.t + 1 + np.arange(n_upd)
        b1, b2 = (opt.beta1, opt.beta2) if kind else (0.0, 0.0)
        c1s = np.array([1 - b1 ** int(t) for t in ts]) if kind else np.ones(n_upd)
        c2s = np.array([1 - b2 ** int(t) for t in ts]) if kind else np.ones(n_upd)
        ph2, phb = np.zeros((1, 1), dt), np.ones((1, 1), np.bool_)
        win = [row for row in table if row[2] == "in"]
        rec = {row[1]: row for row in table if row[2] == "rec"}
        P = lambda key: tuple(p[key] for p in net.params)   # noqa: E731
        a_hat, h_delay = zip(*(o.depth_filter(net, l) for l in range(L)))
        fb = learner.feedback_matrix()
        fb_in = tuple(ph2 if l == 0 else (net.w_in[l] if learner.feedback_in[l] is None
                                          else learner.feedback_in[l]) for l in range(L))
        regular = bool(net.readout.regular_spike_arrival)
        w_out_eff = net.w_out if regular else net.w_out * net.readout_scale
        y_out = np.empty((B, T if keep_y else 0, net.readout.n), dt)
        zbar = np.zeros((B, net.sizes[-1]), dt)
        g_out = np.zeros((B, net.sizes[-1], net.readout.n), dt)
        spikes = tuple(np.zeros((B, n)) for n in net.sizes)
        seq_spikes = tuple(np.zeros(n) for n in net.sizes)
        pre = tuple(np.zeros((B, 1, net.n_pre(l)), dt) for l in range(L))
        per_n = lambda: tuple(np.zeros(n, dt) for n in net.sizes)   # noqa: E731
        per_bn = lambda: tuple(np.zeros((B, 1, n), dt) for n in net.sizes)   # noqa: E731
        counters = np.zeros(3, np.int64)
        n_max = max([net.n_pre(l) for l in range(L)] + net.sizes)
        acc = np.zeros(1)
        tr = eng.traces
        top = tr[-1]
        n_top, n_pre_top = net.sizes[-1], net.n_pre(L - 1)
        ph3 = np.zeros((1, 1, 1), dt)
        lazy_args = (net.params[-1]["alpha"][0], top.ev if top.lazy else None,
                     top.dv if top.dv is not None else ph3,
                     np.zeros((B, n_pre_top), dt),
                     np.zeros((B, n_top)), np.ones((B, n_top)), np.ones((B, n_top)),
                     np.ones((B, n_top)), np.zeros((B, n_top), np.bool_))
        args_static = (
            tuple(net.w_in), tuple(ph2 if w is None else w for w in net.w_rec),
            np.array([w is not None for w in net.w_rec]),
            np.array([layer.delay for layer in net.layers]),
            P("alpha"), P("zeta"), P("v_th"), P("beta"), P("rho"), P("gamma"), P("ref_steps"),
            {"piecewise": KF.SURROGATE_PIECEWISE, "smooth": KF.SURROGATE_SMOOTH}[net.surrogate],
            dt(net.sigma),
            tuple(state.v), tuple(state.a), tuple(state.z), tuple(state.ref),
            tuple(state.x_last),
            tuple(t.psi_prev for t in tr), tuple(ph3 if t.lazy else t.ev for t in tr),
            tuple(t.ea for t in tr),
            tuple(t.hh for t in tr), tuple(t.eb for t in tr), tuple(eng.g), tuple(eng.esum),
            np.array([t.adaptive for t in tr]), np.array([l < L - 1 for l in range(L)]),
            np.array(a_hat, dt), np.array(h_delay, np.bool_),
            P("v_th") if o.reset == "local" else None, o.c_reg > 0, fb_in, *lazy_args,
            net.w_out, w_out_eff, net.kappa, dt(net.kappa[0]), state.y, y_out, keep_y, zbar,
            g_out, fb, spikes, seq_spikes, float(o.c_reg), float(o.f_target), float(net.dt),
            kind, np.array([lrs[r[0]] for r in win]),
            np.array([lrs[rec[l][0]] if l in rec else 0.0 for l in range(L)]),
            lrs["readout.w_out"], float(b1), float(b2), float(getattr(opt, "eps", 0.0)),
            getattr(opt, "eps_on", "") == "v", c1s, c2s,
            tuple(m[r[0]] for r in win), tuple(v[r[0]] for r in win),
            tuple(m[rec[l][0]] if l in rec else np.zeros((1, 1)) for l in range(L)),
            tuple(v[rec[l][0]] if l in rec else np.zeros((1, 1)) for l in range(L)),
            m["readout.w_out"], v["readout.w_out"],
            tuple(phb if r[4] is None else r[4] for r in win),
            tuple(phb if l not in rec or rec[l][4] is None else rec[l][4] for l in range(L)),
            np.array([r[4] is not None for r in win]),
            np.array([l in rec and rec[l][4] is not None for l in range(L)]),
            pre, per_bn(), per_bn(), per_bn(),
            tuple(np.zeros((B, 1, n), dt) for n in [net.n_in] + net.sizes[:-1]),
            tuple(np.zeros((B, 0, n), dt) for n in net.sizes), np.zeros((B, 1, net.readout.n), dt),
            per_n(),
            np.zeros(net.readout.n, dt), np.zeros(n_max), np.zeros(n_max, dt), counters, acc)
        chunk = k * max(1, CHUNK // k)
        try:
            for t0 in range(0, T, chunk):
                interrupt.check_inner()
                KO.online_chunk(t0, min(T, t0 + chunk), k, x, target, mask, loss == "ce",
                                regular, net.readout_scale, *args_static)
                if counters[2]:
                    break
        finally:   # also when interrupted: the optimiser's state matches the updates made
            opt.t += int(counters[0])
            self._store_moments(kind, m, v)
        learner.seq_spikes = list(seq_spikes)
        learner.seq_steps = T
        learner.seq_done = True
        if counters[2]:
            bad = [n for n, w in net.weights().items() if not np.all(np.isfinite(w))]
            raise DivergenceError(f"weights {bad[0]} became NaN/inf at update {int(counters[0])} "
                                  "of this sequence")
        return float(acc[0]), (y_out if keep_y else None)
