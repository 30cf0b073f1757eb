#!/usr/bin/env python
"""snnsim against NEST 3.10 on NEST's two e-prop examples: wall time, peak RSS, final loss.

Both simulators train the SAME network with the SAME rule from the same weights on the same
input spikes, with the sizes and iteration counts of NEST's own examples
(``eprop_supervised_regression_sine-waves_bsshslm_2020.py`` and
``eprop_supervised_classification_evidence-accumulation_bsshslm_2020.py``):

1. sine wave: 100 inputs (frozen Poisson, p = 0.05 per step), 100 LIF (tau_m 30 ms, V_th 0.03,
   regular_spike_arrival False), 1 readout (tau 30 ms, regular_spike_arrival False), T = 1000,
   200 iterations of batch 1, MSE, gradient descent eta = 1e-4, c_reg = 300, f_target 10 Hz,
   average_gradient False. Weights, feedback matrix, input and target are drawn exactly as
   in the example (legacy ``np.random.seed(1)`` stream, float32 weights).
2. evidence accumulation: 40 inputs, 50 LIF + 50 ALIF (tau_m 20, V_th 0.6, t_ref 5 ms,
   regular_spike_arrival True, adapt_beta = 1.7 (1 - rho)/(1 - alpha), adapt_tau 2000),
   2 readouts (tau 20, regular_spike_arrival False), cross-entropy in the 150-step recall
   window, T = 2250 (7 cues, 1050 ms delay), batch 32, 50 training iterations, Adam
   (eta 5e-3, 0.9, 0.999, eps 1e-8), average_gradient True, c_reg = 300. The example's task
   generator, one new batch per iteration. Only the 50 training iterations are run: the
   example also runs 5 validation batches and 4 test batches with eta = 0, which in NEST still
   move Adam's moments (and the first eta = 0 batch still learns, because a change of eta
   takes effect one update late), so there is no like-for-like snnsim counterpart.

NEST runs the example's settings; snnsim runs the equivalent parameters, derived from the
mapping in ``tests/nest_reference/README.md`` (verified there to ~1e-15):

* t_ref_snnsim = t_ref_NEST - dt (NEST blocks one step fewer); gamma = height * V_th,
  v_th = V_th, beta = adapt_beta, tau_a = adapt_tau, same regular_spike_arrival.
* The examples' readouts have regular_spike_arrival False: y = kappa y + (1 - kappa) W z.
  snnsim's readout is y = kappa y + W z, so W_out^snnsim = (1 - kappa) W_out^NEST.
* The optimiser is NEST's own (weight_optimizer.cpp: gradient descent, or Adam with the bias
  correction folded into the step size and eps added to sqrt(v)), run in NEST's parametrisation
  on NEST's gradient, which is snnsim's e-prop gradient times (1 - kappa) for input/recurrent
  weights (NEST's ebar has a (1 - kappa) factor) and times (1 - kappa) for the readout (chain
  rule through the rescaled W_out), divided by the learning window if average_gradient.
  ``NestOptimizer`` below does that with snnsim's optimiser interface (a few array operations
  per iteration; snnsim's own Adam differs in where eps enters).
* c_reg_snnsim = c_reg_NEST dt^2 / (1e6 (1 - kappa)), same f_target; feedback "random" with
  NEST's fixed feedback matrix B; snnsim float64 (NEST computes in double).
* Inputs at tau = 0 and tau = 1 of every sequence are removed in both (the examples remove
  tau = 0; NEST's synapses drop one L ebar term when an input's first spike of a sequence is
  at tau = 1, see the README's boundary quirks). ``--keep-x1`` keeps the example's tau = 1
  spikes; then the two simulators differ slightly (and NEST reproduces the example exactly).

Each simulator runs in its own subprocess: NEST in the interpreter from ``SNNSIM_NEST_PYTHON``
(empty = skip NEST) or /tmp/nestvenv/bin/python, with 1 thread; snnsim in this interpreter with
1 and 2 threads (numba and the BLAS/OpenMP pools limited alike), with both e-prop engines: the
window engine (default: per-neuron backward sweep over a window + one product per layer, see
``snnsim/learning/eprop_window.py``) and the per-step trace engine (``engine="trace"``, the
fused online trace kernels). Per child the parent measures the process wall time and the peak
RSS (``os.wait4``). Inside each child "train s" is the time from building the network to the
final weights, without the interpreter start, the imports, snnsim's kernel load and the
numpy generation of the task data (identical in both and timed separately). snnsim's kernels
are loaded from numba's cache before that (a warm-up child fills the cache; the load time is
reported), and a cold compile with an empty cache is reported separately. Neither simulator
records more than it needs for the loss (NEST: readout_signal and target_signal, cleared
after every iteration).

    python benchmarks/vs_nest.py                  # full benchmark (~7 min on 2 loaded cores, NEST ~5 of them)
    python benchmarks/vs_nest.py --quick          # tiny sizes (CI); skips NEST if not importable
    python benchmarks/vs_nest.py --tasks sine --threads 1 --engines window
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RUNNER_DIR = ROOT / "tests" / "nest_reference"
sys.path.insert(0, str(RUNNER_DIR))
from nest_locate import find_nest_python  # noqa: E402  (SNNSIM_NEST_PYTHON or /tmp/nestvenv)
TASKS = ("sine", "evidence")


# ============================================================================ task specifications
def specs(quick):
    """NEST-example parameters (NEST units: ms, mV, Hz) of both tasks."""
    sine = dict(task="sine", n_in=100, n_lif=100, n_alif=0, n_out=1, T=1000, n_iter=200, batch=1,
                seed=1, p_in=0.05, periods=[1000, 500, 333, 200], tau_m=30.0, tau_out=30.0,
                v_th=0.03, gamma=0.3, t_ref=0.0, zeta_rec=0, zeta_out=0, adapt_beta=0.0,
                adapt_tau=2000.0, c_reg=300.0, f_target=10.0, loss="mse", lw=1000,
                optimizer=dict(type="gradient_descent", eta=1e-4), average_gradient=False,
                Wmin=-100.0, Wmax=100.0, dt=1.0)
    dt, tau_m, tau_a = 1.0, 20.0, 2000.0
    beta = 1.7 * (1.0 - np.exp(-dt / tau_a)) / (1.0 - np.exp(-dt / tau_m))
    evid = dict(task="evidence", n_in=40, n_lif=50, n_alif=50, n_out=2, n_iter=50, batch=32, seed=1,
                n_symbols=4, n_cues=7, prob_group=0.3, spike_prob=0.04, cue=100, spacing=50,
                bg_noise=1050, recall=150, tau_m=tau_m, tau_out=20.0, v_th=0.6, gamma=0.3,
                t_ref=5.0, zeta_rec=1, zeta_out=0, adapt_beta=float(beta), adapt_tau=tau_a,
                c_reg=300.0, f_target=10.0, loss="ce",
                optimizer=dict(type="adam", eta=5e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8),
                average_gradient=True, Wmin=-100.0, Wmax=100.0, dt=dt)
    if quick:
        sine.update(n_in=20, n_lif=20, T=200, n_iter=4, lw=200, periods=[200, 100, 67, 40])
        evid.update(n_in=8, n_lif=6, n_alif=6, n_iter=3, batch=4, n_cues=3, cue=20, spacing=10,
                    bg_noise=60, recall=30)
    evid["T"] = evid["n_cues"] * (evid["cue"] + evid["spacing"]) + evid["bg_noise"] + evid["recall"]
    evid["lw"] = evid["recall"]
    return {"sine": sine, "evidence": evid}


# ============================================================================ data (numpy only)
class TaskStream:
    """Initial weights (pre, post), feedback B (n_rec, n_out) and the training batches, drawn
    as in the NEST examples from a legacy ``RandomState`` (the same stream in both children)."""

    def __init__(self, spec, keep_x1=False):
        self.s, self.keep_x1 = spec, keep_x1
        rs = self.rs = np.random.RandomState(spec["seed"])
        n_in, n_rec, n_out = spec["n_in"], spec["n_lif"] + spec["n_alif"], spec["n_out"]
        f32 = lambda a: np.asarray(a, dtype=np.float32).astype(np.float64)
        self.w_in = f32(rs.randn(n_in, n_rec) / np.sqrt(n_in))
        self.w_rec = f32(rs.randn(n_rec, n_rec) / np.sqrt(n_rec))
        np.fill_diagonal(self.w_rec, 0.0)
        if spec["task"] == "sine":
            self.w_out = f32(rs.randn(n_rec, n_out) / np.sqrt(n_rec))
            self.B = f32(rs.randn(n_rec, n_out) / np.sqrt(n_rec))
            x = rs.rand(spec["T"], n_in) < spec["p_in"]
            self.sine_x = self._clean(x[None])
            self.sine_target = self._sines(spec["T"], spec["periods"])[None, :, None]
        else:
            lim = np.sqrt(3.0 / max(1.0, (n_rec + n_out) / 2.0))   # the example's Glorot init
            self.w_out = f32(rs.uniform(-lim, lim, size=(n_rec, n_out)))
            self.B = f32(rs.randn(n_rec, n_out))

    def _clean(self, x):
        x = x.copy()
        x[:, 0] = False                    # NEST's e-prop synapses drop spikes at tau = 0
        if not self.keep_x1:
            x[:, 1] = False                # and drop a term of the gradient after spikes at tau = 1
        return x

    def _sines(self, T, periods):
        amp = self.rs.uniform(0.5, 2.0, len(periods))
        phase = self.rs.uniform(0.0, 2.0 * np.pi, len(periods))
        s = sum(a * np.sin(np.linspace(ph, ph + 2.0 * np.pi * (T // p), T))
                for a, ph, p in zip(amp, phase, periods))
        s = s - s[0]
        return s / max(np.abs(s).max(), 1e-6)

    def batch(self):
        """(x bool (B, T, n_in), target (B, T, n_out)) of the next training iteration."""
        s = self.s
        if s["task"] == "sine":
            return self.sine_x, self.sine_target
        rs, B, T, n_in = self.rs, s["batch"], s["T"], s["n_in"]
        n_pop = n_in // s["n_symbols"]
        choices = np.array([s["prob_group"], 1 - s["prob_group"]], dtype=np.float32)
        idx = rs.choice([0, 1], B)
        probs = np.zeros((B, 2), dtype=np.float32)
        probs[:, 0], probs[:, 1] = choices[idx], choices[1 - idx]
        cues = np.zeros((B, s["n_cues"]), dtype=int)
        for b in range(B):
            cues[b] = rs.choice([0, 1], s["n_cues"], p=probs[b])
        p = np.zeros((B, T, n_in))
        for b in range(B):
            for c in range(s["n_cues"]):
                t0 = c * (s["cue"] + s["spacing"]) + s["spacing"]
                p[b, t0:t0 + s["cue"], cues[b, c] * n_pop:(cues[b, c] + 1) * n_pop] = s["spike_prob"]
        p[:, -s["recall"]:, 2 * n_pop:3 * n_pop] = s["spike_prob"]
        p[:, :, 3 * n_pop:] = s["spike_prob"] / 4.0
        x = self._clean(p > rs.rand(p.size).reshape(p.shape))
        labels = (np.sum(cues, axis=1) > s["n_cues"] // 2).astype(int)
        target = np.zeros((B, T, s["n_out"]))
        target[np.arange(B), :, labels] = 1.0
        return x, target


def write_result(path, **kw):
    np.savez(path, **{k: np.asarray(v) for k, v in kw.items()})


def maxrss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ============================================================================ NEST child
SIGNAL = 4   # run_nest_eprop.py: readout_signal/target of step tau is exchanged at NEST step sT + 4 + tau


def nest_reset(nest, dt, **kernel):
    """A fresh NEST kernel: quiet, resolution dt (ms), one thread, plus ``kernel`` settings."""
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:
        nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.set(resolution=dt, total_num_virtual_procs=1, print_time=False, **kernel)


def nest_child(spec, out, keep_x1):
    t_all = time.perf_counter()
    import nest
    import run_nest_eprop as R          # (RUNNER_DIR is on sys.path) helpers of the cross-check runner (same time alignment)
    assert R.SIGNAL == SIGNAL
    t_import = time.perf_counter() - t_all
    rss_import = maxrss_mb()
    s = spec
    dt, T, lw, B, n_iter = s["dt"], s["T"], s["lw"], s["batch"], s["n_iter"]
    n_in, n_rec, n_out = s["n_in"], s["n_lif"] + s["n_alif"], s["n_out"]
    n_seq = n_iter * B
    t_data = time.perf_counter()
    data = TaskStream(s, keep_x1)
    t_data = time.perf_counter() - t_data

    t0 = time.perf_counter()
    nest_reset(nest, dt, eprop_update_interval=T * dt, eprop_learning_window=lw * dt,
               eprop_reset_neurons_on_update=True)
    common = {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "V_m": 0.0, "V_th": s["v_th"], "tau_m": s["tau_m"],
              "t_ref": s["t_ref"], "c_reg": s["c_reg"], "f_target": s["f_target"],
              "flush_event_send_interval": T * dt, "regular_spike_arrival": bool(s["zeta_rec"]),
              "surrogate_gradient_function": "piecewise_linear",
              "surrogate_gradient_height": s["gamma"] / s["v_th"],
              "surrogate_gradient_width": abs(s["v_th"])}
    beta = np.r_[np.zeros(s["n_lif"]), np.full(s["n_alif"], s["adapt_beta"])]
    rec = None
    for start, stop, adaptive in R.runs(beta != 0):
        model = "eprop_iaf_adapt_bsshslm_2020" if adaptive else "eprop_iaf_bsshslm_2020"
        pop = nest.Create(model, stop - start, common)
        if adaptive:
            pop.set(adapt_beta=s["adapt_beta"], adapt_tau=s["adapt_tau"], adaptation=0.0)
        rec = pop if rec is None else rec + pop
    readout = nest.Create("eprop_readout_bsshslm_2020", n_out,
                          {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "V_m": 0.0, "tau_m": s["tau_out"],
                           "loss": {"mse": "mean_squared_error", "ce": "cross_entropy"}[s["loss"]],
                           "regular_spike_arrival": bool(s["zeta_out"])})
    gen_x = nest.Create("spike_generator", n_in)
    parrots = nest.Create("parrot_neuron", n_in)
    gen_target = nest.Create("step_rate_generator", n_out)
    opt = dict(s["optimizer"], batch_size=B, Wmin=s["Wmin"], Wmax=s["Wmax"])
    nest.CopyModel("eprop_synapse_bsshslm_2020", "eprop_syn_bench",
                   {"optimizer": opt, "average_gradient": bool(s["average_gradient"])})
    syn = {"synapse_model": "eprop_syn_bench", "delay": dt, "tau_m_readout": s["tau_out"]}
    a2a = {"rule": "all_to_all", "allow_autapses": False}
    nest.Connect(gen_x, parrots, "one_to_one", {"synapse_model": "static_synapse", "delay": dt})
    nest.Connect(parrots, rec, a2a, dict(syn, weight=data.w_in.T.copy()))      # NEST: (post, pre)
    nest.Connect(rec, rec, a2a, dict(syn, weight=data.w_rec.T.copy()))
    nest.Connect(rec, readout, a2a, dict(syn, weight=data.w_out.T.copy()))
    nest.Connect(readout, rec, a2a, {"synapse_model": "eprop_learning_signal_connection_bsshslm_2020",
                                     "delay": dt, "weight": data.B.copy()})
    nest.Connect(gen_target, readout, "one_to_one",
                 {"synapse_model": "rate_connection_delayed", "delay": dt, "receptor_type": 2})
    if s["loss"] == "ce" and n_out > 1:
        nest.Connect(readout, readout, a2a, {"synapse_model": "rate_connection_delayed", "delay": dt,
                                             "receptor_type": 1, "weight": 1.0})
    t_final = n_seq * T + 3            # forced update: every synapse applies its pending update
    gen_final = nest.Create("spike_generator", 1, {"spike_times": [t_final * dt]})
    nest.Connect(gen_final, parrots + rec, "all_to_all", {"weight": 1000.0, "delay": dt})
    mm = nest.Create("multimeter", {"interval": dt, "record_from": ["readout_signal", "target_signal"],
                                    "start": SIGNAL * dt, "stop": (SIGNAL + n_seq * T) * dt})
    nest.Connect(mm, readout)
    out_col = {g: k for k, g in enumerate(readout.tolist())}
    loss_seq, pi_sum = np.zeros(n_seq), np.zeros((n_seq, n_out))
    tgt_sum = np.zeros((n_seq, n_out))

    def collect():
        ev = mm.get("events")
        mm.n_events = 0                                       # keep memory bounded
        g = np.rint(np.asarray(ev["times"]) / dt).astype(np.int64) - SIGNAL - 1
        seq, tau = g // T, g % T
        keep = tau >= T - lw
        y, yt = np.asarray(ev["readout_signal"])[keep], np.asarray(ev["target_signal"])[keep]
        seq, k = seq[keep], np.array([out_col[x] for x in np.asarray(ev["senders"])[keep]], dtype=int)
        if s["loss"] == "mse":
            np.add.at(loss_seq, seq, 0.5 * (y - yt) ** 2)
        else:                                                  # readout_signal = softmax pi
            np.add.at(loss_seq, seq, -yt * np.log(np.maximum(y, 1e-300)))
        np.add.at(pi_sum, (seq, k), y)
        np.add.at(tgt_sum, (seq, k), yt)

    # sine: one Simulate for all iterations (as the example); evidence: one per iteration
    chunk = n_iter if s["task"] == "sine" else 1
    t_gen = 0.0
    for it0 in range(0, n_iter, chunk):
        n_it = min(chunk, n_iter - it0)
        td = time.perf_counter()
        xs, ts = zip(*[data.batch() for _ in range(n_it)])
        t_gen += time.perf_counter() - td
        x = np.concatenate(xs).reshape(-1, n_in) if chunk == 1 else np.concatenate([xs[0]] * n_it).reshape(-1, n_in)
        tg = np.concatenate(ts).reshape(-1, n_out) if chunk == 1 else np.concatenate([ts[0]] * n_it).reshape(-1, n_out)
        base = it0 * B * T
        rows, cols = np.nonzero(x.T)                         # per input neuron, its spike steps
        split = np.searchsorted(rows, np.arange(1, n_in))
        gen_x.set([{"spike_times": (R.GEN + base + c).astype(np.float64) * dt}
                   for c in np.split(cols, split)])
        change = np.r_[True, np.any(tg[1:] != tg[:-1], axis=1)]
        change[::T] = True
        steps_c = np.flatnonzero(change)
        gen_target.set([{"amplitude_times": (SIGNAL + base + steps_c).astype(np.float64) * dt,
                         "amplitude_values": tg[steps_c, k].copy()} for k in range(n_out)])
        nest.Simulate(n_it * B * T * dt)
        collect()
    nest.Simulate((t_final + 3 - n_seq * T) * dt)
    collect()
    w_in = R.weight_matrix(nest, parrots, rec, "eprop_syn_bench", (n_in, n_rec))
    w_rec = R.weight_matrix(nest, rec, rec, "eprop_syn_bench", (n_rec, n_rec))
    w_out = R.weight_matrix(nest, rec, readout, "eprop_syn_bench", (n_rec, n_out))
    t_train = time.perf_counter() - t0 - t_gen
    acc = (np.argmax(pi_sum, axis=1) == np.argmax(tgt_sum, axis=1)).reshape(n_iter, B).mean(axis=1)
    write_result(out, loss=loss_seq.reshape(n_iter, B).mean(axis=1), accuracy=acc, w_in=w_in,
                 w_rec=w_rec, w_out=w_out, w_in0=data.w_in, w_rec0=data.w_rec, w_out0=data.w_out,
                 t_import=t_import, t_load=0.0, t_train=t_train, t_data=t_data + t_gen,
                 rss_import=rss_import, rss_peak=maxrss_mb(), version=str(nest.__version__),
                 threads=int(nest.GetKernelStatus("local_num_threads")))


# ============================================================================ snnsim child
class NestOptimizer:
    """NEST's weight optimizer (gradient descent or Adam, ``weight_optimizer.cpp``) in NEST's
    parametrisation, with snnsim's optimiser interface (``step`` returns the applied deltas).

    g_NEST = gscale[name] * g_snnsim and W_snnsim = wscale[name] * W_NEST (see the docstring).
    Adam: m, v per weight; alpha_t = eta sqrt(1 - b2^t) / (1 - b1^t); W -= alpha_t m / (sqrt(v) + eps).
    """
    name = "nest"

    def __init__(self, opt, gscale, wscale, wmin, wmax):
        self.kind, self.eta = opt["type"], float(opt["eta"])
        self.b1, self.b2 = float(opt.get("beta_1", 0.9)), float(opt.get("beta_2", 0.999))
        self.eps = float(opt.get("epsilon", 1e-8))
        self.gscale, self.wscale, self.wmin, self.wmax = gscale, wscale, wmin, wmax
        self.t, self.b1p, self.b2p, self.m, self.v = 0, 1.0, 1.0, {}, {}

    def step(self, weights, grads, masks=None):
        self.t += 1
        self.b1p *= self.b1
        self.b2p *= self.b2
        deltas = {}
        for name, g in grads.items():
            g = self.gscale[name] * g.astype(np.float64)
            w = weights[name]
            wn = w.astype(np.float64) / self.wscale[name]
            if self.kind == "adam":
                m = self.m.setdefault(name, np.zeros_like(g))
                v = self.v.setdefault(name, np.zeros_like(g))
                m *= self.b1
                m += (1.0 - self.b1) * g
                v *= self.b2
                v += (1.0 - self.b2) * g * g
                alpha = self.eta * np.sqrt(1.0 - self.b2p) / (1.0 - self.b1p)
                new = wn - alpha * m / (np.sqrt(v) + self.eps)
            else:
                new = wn - self.eta * g
            d = (np.clip(new, self.wmin, self.wmax) - wn) * self.wscale[name]
            if masks is not None and masks.get(name) is not None:
                d = d * masks[name]
            w += d.astype(w.dtype)
            deltas[name] = d
        return deltas

    def state(self):
        return {"t": np.array(self.t)}

    def load_state(self, state):
        raise NotImplementedError


def snnsim_setup(snnsim, s, n_in=None, n_lif=None, n_alif=None):
    """snnsim network + mapped settings for the NEST-example parameters ``s``."""
    dt = s["dt"]
    n_in = s["n_in"] if n_in is None else n_in
    n_lif = s["n_lif"] if n_lif is None else n_lif
    n_alif = s["n_alif"] if n_alif is None else n_alif
    common = dict(tau_m=s["tau_m"], v_th=s["v_th"], gamma=s["gamma"],
                  t_ref=max(0.0, s["t_ref"] - dt), regular_spike_arrival=bool(s["zeta_rec"]))
    pops = [snnsim.LIF(n_lif, **common)] if n_lif else []
    if n_alif:
        pops.append(snnsim.ALIF(n_alif, beta=s["adapt_beta"], tau_a=s["adapt_tau"], **common))
    net = snnsim.Network(n_in, [snnsim.Layer(pops, recurrent=True)],
                         snnsim.Readout(s["n_out"], tau_out=s["tau_out"]), dt=dt, dtype="float64",
                         rng=np.random.default_rng(0))
    kappa = float(np.exp(-dt / s["tau_out"]))
    zo = 1.0 if s["zeta_out"] else 1.0 - kappa            # NEST readout input factor
    avg = float(s["lw"]) if s["average_gradient"] else 1.0
    names = net.weight_names()
    gscale = {n: (zo if n == "readout.w_out" else 1.0 - kappa) / avg for n in names}
    wscale = {n: (zo if n == "readout.w_out" else 1.0) for n in names}
    c_reg = s["c_reg"] * dt ** 2 / (1e6 * (1.0 - kappa))
    opt = NestOptimizer(s["optimizer"], gscale, wscale, s["Wmin"], s["Wmax"])
    return net, opt, c_reg, zo


def task_data(TaskData, s, x, target):
    B, T = x.shape[:2]
    mask = np.zeros((B, T))
    mask[:, T - s["lw"]:] = 1.0
    labels = np.argmax(target[:, -1], axis=1) if s["loss"] == "ce" else None
    return TaskData(np.ascontiguousarray(x, dtype=np.float64), np.asarray(target, np.float64), mask,
                    s["loss"], labels=labels)


def tiny_run(snnsim, Trainer, TaskData, s):
    """One training iteration on a tiny network of the same kind: loads/compiles the kernels."""
    n_in, n_lif, n_alif = 4, 3, (3 if s["n_alif"] else 0)
    net, opt, c_reg, _ = snnsim_setup(snnsim, s, n_in, n_lif, n_alif)
    rng = np.random.default_rng(0)
    T = 20
    x = rng.random((2, T, n_in)) < 0.2
    tg = np.zeros((2, T, s["n_out"]))
    tg[:, :, 0] = 1.0
    d = task_data(TaskData, dict(s, lw=5), x, tg)
    Trainer(net, lambda r: d, rule="eprop", optimizer=opt, feedback="random", c_reg=c_reg,
            f_target=s["f_target"]).step()


def snnsim_child(spec, out, keep_x1, block, engine):
    t_all = time.perf_counter()
    import numba
    import snnsim
    from snnsim.tasks import TaskData
    from snnsim.trainer import Trainer
    t_import = time.perf_counter() - t_all
    t = time.perf_counter()
    tiny_run(snnsim, Trainer, TaskData, spec)                 # kernel load (numba cache) / compile
    t_load = time.perf_counter() - t
    rss_import = maxrss_mb()
    if spec.get("warmup_only"):
        write_result(out, t_import=t_import, t_load=t_load, rss_peak=maxrss_mb())
        return
    s = spec
    t_data = time.perf_counter()
    data = TaskStream(s, keep_x1)
    t_data = time.perf_counter() - t_data

    t0 = time.perf_counter()
    net, opt, c_reg, zo = snnsim_setup(snnsim, s)
    net.set_weights({"layer0.w_in": data.w_in, "layer0.w_rec": data.w_rec,
                     "readout.w_out": zo * data.w_out})
    holder = []
    if s.get("snnsim_sgd"):      # snnsim's own SGD (one learning rate; see vs_nest_online.py)
        opt = snnsim.SGD(lr=s["optimizer"]["eta"] * (1.0 - float(np.exp(-s["dt"] / s["tau_out"]))))
    trainer = Trainer(net, lambda rng: holder[-1], rule="eprop", optimizer=opt, feedback="random",
                      c_reg=c_reg, f_target=s["f_target"], block=block, engine=engine, seed=0,
                      feedback_w=data.B, update_every=s.get("update_every"))
    losses, accs, t_gen = [], [], 0.0
    for _ in range(s["n_iter"]):
        td = time.perf_counter()
        x, tg = data.batch()
        holder[:] = [task_data(TaskData, s, x, tg)]
        t_gen += time.perf_counter() - td
        rec = trainer.step()
        losses.append(rec["loss"])
        accs.append(rec.get("accuracy", np.nan))
    w = {k: v.copy() for k, v in net.weights().items()}
    t_train = time.perf_counter() - t0 - t_gen
    write_result(out, loss=np.array(losses), accuracy=np.array(accs), w_in=w["layer0.w_in"],
                 w_rec=w["layer0.w_rec"], w_out=w["readout.w_out"] / zo, t_import=t_import,
                 t_load=t_load, t_train=t_train, t_data=t_data + t_gen, rss_import=rss_import,
                 rss_peak=maxrss_mb(), version=str(snnsim.__version__),
                 threads=int(numba.get_num_threads()),
                 engine=trainer.online_path or type(getattr(trainer.learner, "engine",
                                                            trainer.learner)).__name__)


# ============================================================================ parent
def run_child(python, kind, spec, tmp, tag, env_extra=None, keep_x1=False, block=256,
              engine="window", script=None):
    """Run one child (of this script, or of ``script``); returns dict(result arrays, wall_s,
    maxrss_mb, load) or raises."""
    spec_path, out = Path(tmp) / f"{tag}.json", Path(tmp) / f"{tag}.npz"
    spec_path.write_text(json.dumps(spec))
    log = Path(tmp) / f"{tag}.log"
    env = dict(os.environ, **(env_extra or {}))
    cmd = [python, str(Path(script or __file__).resolve()), "--child", kind, "--spec", str(spec_path),
           "--out", str(out), "--block", str(block), "--engine", engine] + (["--keep-x1"] if keep_x1 else [])
    load = os.getloadavg()[0]
    with open(log, "w") as fh:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=tmp)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{tag} failed ({p.returncode}):\n{log.read_text()[-3000:]}")
    res = {k: v for k, v in np.load(out).items()}
    res.update(wall_s=wall, maxrss_mb=ru.ru_maxrss / 1024.0, load=load)
    return res


def agreement(nest_res, snn_res):
    """Loss-curve and final-weight agreement of two runs."""
    a, b = nest_res["loss"], snn_res["loss"]
    rel = float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-300)))
    corr = float(np.corrcoef(a, b)[0, 1]) if len(a) > 1 and np.std(a) > 0 and np.std(b) > 0 else float("nan")
    werr = {}
    for k in ("w_in", "w_rec", "w_out"):
        dn = nest_res[k] - nest_res[k + "0"]
        ds = snn_res[k] - nest_res[k + "0"]
        if k == "w_rec":
            np.fill_diagonal(ds, 0.0)
        werr[k] = float(np.abs(dn - ds).max() / max(np.abs(dn).max(), 1e-300))
    return rel, corr, werr


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes and iterations (CI)")
    ap.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    ap.add_argument("--threads", type=int, nargs="+", help="snnsim NUMBA_NUM_THREADS values "
                    "(default 1 2; --quick: 1)")
    ap.add_argument("--block", type=int, default=256, help="snnsim steps per block (Trainer default)")
    ap.add_argument("--engines", nargs="+", choices=("window", "trace"), default=["window", "trace"],
                    help="snnsim e-prop engines to run (default both)")
    ap.add_argument("--engine", default="window", help=argparse.SUPPRESS)
    ap.add_argument("--no-cold", dest="cold", action="store_false", default=None,
                    help="skip the cold numba compile (default: skipped with --quick)")
    ap.add_argument("--keep-x1", action="store_true",
                    help="keep the examples' input spikes at tau = 1 (NEST then drops a few gradient terms)")
    ap.add_argument("--child", choices=("nest", "snnsim"), help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.threads = a.threads or ([1] if a.quick else [1, 2])
    a.cold = (not a.quick) if a.cold is None else a.cold
    return a


def threads_env(n):
    """Environment limiting numba and the BLAS/OpenMP pools of a child to ``n`` threads."""
    return {k: str(n) for k in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                "MKL_NUM_THREADS")}


def sec(x):
    x = float(x)
    return f"{x:.3f}" if x < 1 else f"{x:.2f}"


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        spec = json.loads(Path(args.spec).read_text())
        (nest_child if args.child == "nest" else snnsim_child)(
            spec, args.out, args.keep_x1,
            *([args.block, args.engine] if args.child == "snnsim" else []))
        return 0

    all_specs = specs(args.quick)
    nest_py, reason = find_nest_python()
    import numba
    print("# snnsim vs NEST e-prop\n")
    print(f"- {'--quick (tiny sizes)' if args.quick else 'NEST example sizes'}; "
          f"Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"{os.cpu_count()} CPU(s); load average at start "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"- NEST: {nest_py} (1 thread)" if nest_py else f"- NEST skipped: {reason}")
    sys.stdout.flush()
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="vs_nest_") as tmp:
        warm_spec = dict(all_specs["evidence"], warmup_only=True)
        w = run_child(sys.executable, "snnsim", warm_spec, tmp, "warm")   # fills numba's cache
        compile_line = (f"- snnsim kernel load from the numba cache (first call, tiny run): "
                        f"{float(w['t_load']):.2f} s, imports {float(w['t_import']):.2f} s")
        if args.cold:
            with tempfile.TemporaryDirectory(prefix="numba_cold_") as cache:
                c = run_child(sys.executable, "snnsim", warm_spec, tmp, "cold",
                              {"NUMBA_CACHE_DIR": cache})
            compile_line += f"; cold compile (empty cache): {float(c['t_load']):.2f} s"
        print(compile_line)
        sys.stdout.flush()
        for task in args.tasks:
            s = all_specs[task]
            results = []
            if nest_py:
                r = run_child(nest_py, "nest", s, tmp, f"{task}_nest", keep_x1=args.keep_x1)
                results.append(("NEST " + str(r["version"]), 1, r))
            for engine in args.engines:
                for th in args.threads:
                    r = run_child(sys.executable, "snnsim", s, tmp, f"{task}_snnsim{th}_{engine}",
                                  threads_env(th), keep_x1=args.keep_x1, block=args.block,
                                  engine=engine)
                    results.append((f"snnsim {r['version']} ({engine})", th, r))
            ref = results[0][2] if nest_py else None
            scale = s["lw"] if s["loss"] == "ce" else 1.0   # the examples' loss conventions
            for name, th, r in results:
                ratio = "-"
                if ref is not None and r is not ref:
                    ratio = (f"train {float(ref['t_train']) / float(r['t_train']):.2f}x, "
                             f"process {ref['wall_s'] / r['wall_s']:.2f}x, "
                             f"RSS {ref['maxrss_mb'] / r['maxrss_mb']:.2f}x")
                rows.append(f"| {task} | {name} | {th} | {sec(r['t_train'])} | {sec(r['wall_s'])} "
                            f"| {r['maxrss_mb']:.0f} | {float(r['loss'][-1]) / scale:.8g} | {ratio} |")
                notes.append(f"- {task}, {name}, {th} thread(s): imports {float(r['t_import']):.2f} s, "
                             f"kernel load {float(r['t_load']):.2f} s, task-data generation "
                             f"{float(r['t_data']):.2f} s (excluded), RSS after imports "
                             f"{float(r['rss_import']):.0f} MB, load average {r['load']:.2f}; "
                             f"loss first/last {float(r['loss'][0]) / scale:.6g} / "
                             f"{float(r['loss'][-1]) / scale:.6g}"
                             + (f", accuracy of the last 10 iterations "
                                f"{np.nanmean(r['accuracy'][-10:]):.3f}" if s["loss"] == "ce" else ""))
                if ref is not None and r is not ref:
                    rel, corr, werr = agreement(ref, r)
                    notes.append(f"  - vs NEST: loss curve max rel diff {rel:.2e}, correlation "
                                 f"{corr:.12f}; final weight change max diff / max change "
                                 + ", ".join(f"{k} {v:.1e}" for k, v in werr.items()))
            if nest_py:
                losses = {name + f" ({th} thr)": r["loss"] / scale for name, th, r in results}
                notes.append(f"- {task} loss per iteration (every {max(1, s['n_iter'] // 10)}th):")
                for k, v in losses.items():
                    notes.append(f"  - {k}: " + " ".join(f"{x:.6g}" for x in v[::max(1, s['n_iter'] // 10)]))
    print(f"- load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| task | simulator | threads | train s | process s | peak RSS MB | final loss "
          "| ratio NEST/snnsim |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(r)
    print("\ntrain s: network build + training + reading the final weights (no imports, no kernel "
          "load, no task-data generation); process s: the whole child process; final loss: last "
          "iteration, sine 0.5 sum_t (y - y*)^2, evidence mean over the recall window of "
          "-sum_k y*_k log pi_k, batch mean. Accuracy (evidence): NEST as in the example (argmax of "
          "the mean softmax over the window), snnsim's Trainer (argmax of the summed readout).\n")
    for n in notes:
        print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
