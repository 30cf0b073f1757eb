#!/usr/bin/env python
"""snnsim's online e-prop (a weight update every step) against NEST 3.10's online e-prop models.

NEST 3.10 has two generations of e-prop models. ``benchmarks/vs_nest.py`` compares with the
``*_bsshslm_2020`` models, whose synapses apply one update per sequence, and whose semantics
snnsim matches to ~1e-15 (``tests/test_nest_crosscheck.py``). The newer models, ``eprop_iaf``,
``eprop_iaf_adapt``, ``eprop_readout``, ``eprop_synapse`` (with
``eprop_learning_signal_connection``), learn online: each synapse folds its gradient into the
weight at every presynaptic spike, which for gradient descent is the same as a weight update
at every time step. This script times both simulators on the sine-wave task of NEST's example
``eprop_supervised_regression_sine-waves.py`` (100 frozen Poisson inputs at p = 0.05, 100 LIF,
1 readout, tau_m = 30 ms, V_th = 0.03, T = 1000 steps, 200 sequences, gradient descent,
c_reg, f_target = 10 Hz, random feedback), snnsim with ``[train] update_every = 1`` (SGD).

The semantics cannot be matched exactly, so the comparison is of time on the same task, and
the two final losses are reported side by side, not as an agreement test. What differs
(NEST 3.10's model documentation and the example's settings):

* NEST runs the 200 sequences as one continuous simulation: the neurons are not reset between
  sequences and traces run on; snnsim resets the state at every sequence start.
* NEST delays the learning signal by one step (``eprop_learning_signal_connection`` delay) and
  the input spikes by the synaptic delay; snnsim's learning signal of step t uses the readout
  error of step t.
* NEST integrates a synapse's eligibility trace at most ``eprop_isi_trace_cutoff`` = 100 steps
  after the presynaptic spike; snnsim keeps the full trace.
* NEST filters the eligibility trace with its own ``kappa`` = 0.97 and the firing-rate
  regulariser with ``kappa_reg``; snnsim filters with the readout's kappa = exp(-dt/tau_out)
  and regularises with the rate over the sequence.
* Weight clipping (Wmin/Wmax = +-100) in NEST only; snnsim runs its own SGD with one learning
  rate, eta (1 - kappa_out), for all weights (NEST's parametrisation rescales the readout's).

Each simulator runs in a subprocess with 1 thread; the parent measures process wall time and
peak RSS. "train s" excludes the interpreter start, imports and snnsim's kernel load (cache
filled by a warm-up child first).

    python benchmarks/vs_nest_online.py            # 200 sequences (NEST ~1-2 min)
    python benchmarks/vs_nest_online.py --quick    # tiny sizes (CI); NEST skipped if absent
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import vs_nest as VN  # noqa: E402  (task data, child runner, snnsim set-up, NEST locator)


def spec(quick):
    s = VN.specs(quick)["sine"]
    s.update(kappa=0.97, isi_cutoff=100, update_every=1, snnsim_sgd=True)
    return s


def nest_child(s, out, keep_x1):
    t_all = time.perf_counter()
    import nest
    t_import = time.perf_counter() - t_all
    rss_import = VN.maxrss_mb()
    dt, T, n_iter = s["dt"], s["T"], s["n_iter"]
    n_in, n_rec, n_out = s["n_in"], s["n_lif"], s["n_out"]
    t_data = time.perf_counter()
    data = VN.TaskStream(s, keep_x1)
    x, target = data.batch()
    t_data = time.perf_counter() - t_data

    t0 = time.perf_counter()
    VN.nest_reset(nest, dt)
    scale = 1.0 - s["kappa"]            # the example's rescaling (no regular spike arrival)
    rec = nest.Create("eprop_iaf", n_rec, {
        "C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "V_m": 0.0, "V_th": s["v_th"], "tau_m": s["tau_m"],
        "t_ref": s["t_ref"], "c_reg": s["c_reg"] / T, "f_target": s["f_target"],
        "kappa": s["kappa"], "kappa_reg": s["kappa"], "eprop_isi_trace_cutoff": s["isi_cutoff"],
        "flush_event_send_interval": T * dt, "surrogate_gradient_function": "piecewise_linear",
        "surrogate_gradient_height": s["gamma"] / s["v_th"],
        "surrogate_gradient_width": abs(s["v_th"])})
    readout = nest.Create("eprop_readout", n_out, {
        "C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "V_m": 0.0, "tau_m": s["tau_out"],
        "eprop_isi_trace_cutoff": s["isi_cutoff"]})
    gen_x = nest.Create("spike_generator", n_in)
    parrots = nest.Create("parrot_neuron", n_in)
    gen_target = nest.Create("step_rate_generator", n_out)
    gen_window = nest.Create("step_rate_generator")
    nest.SetDefaults("eprop_synapse", {"optimizer": {
        "type": "gradient_descent", "batch_size": 1, "eta": s["optimizer"]["eta"] * scale ** 2,
        "optimize_each_step": False, "Wmin": s["Wmin"], "Wmax": s["Wmax"]}})
    syn = {"synapse_model": "eprop_synapse", "delay": dt}
    a2a = {"rule": "all_to_all", "allow_autapses": False}
    nest.Connect(gen_x, parrots, "one_to_one", {"synapse_model": "static_synapse", "delay": dt})
    nest.Connect(parrots, rec, a2a, dict(syn, weight=(scale * data.w_in).T.copy()))  # (post, pre)
    nest.Connect(rec, rec, a2a, dict(syn, weight=(scale * data.w_rec).T.copy()))
    nest.Connect(rec, readout, a2a, dict(syn, weight=(scale * data.w_out).T.copy()))
    nest.Connect(readout, rec, a2a, {"synapse_model": "eprop_learning_signal_connection",
                                     "delay": dt, "weight": scale * data.B.copy()})
    rate = {"synapse_model": "rate_connection_delayed", "delay": dt}
    nest.Connect(gen_window, readout, "all_to_all", dict(rate, receptor_type=1))
    nest.Connect(gen_target, readout, "one_to_one", dict(rate, receptor_type=2))
    n_seq = n_iter
    starts = np.arange(n_seq) * T + 1                       # generators start at step 1
    spikes = [np.flatnonzero(x[0, :, i]) for i in range(n_in)]
    gen_x.set([{"spike_times": (np.concatenate([st + sp for st in starts]) * dt).astype(np.float64)}
               for sp in spikes])
    gen_target.set([{"amplitude_times": (1 + np.arange(n_seq * T)) * dt,
                     "amplitude_values": np.tile(target[0, :, k], n_seq)} for k in range(n_out)])
    gen_window.set({"amplitude_times": [dt], "amplitude_values": [1.0]})
    t_end = n_seq * T + 2                                    # generator offset + delay
    gen_final = nest.Create("spike_generator", 1, {"spike_times": [t_end * dt]})
    nest.Connect(gen_final, parrots + rec, "all_to_all", {"weight": 1000.0, "delay": dt})
    mm = nest.Create("multimeter", {"interval": dt, "record_from": ["readout_signal", "target_signal"],
                                    "start": 2 * dt, "stop": (2 + n_seq * T) * dt})
    nest.Connect(mm, readout)
    nest.Simulate((t_end + 3) * dt)
    ev = mm.get("events")
    y, yt = np.asarray(ev["readout_signal"]), np.asarray(ev["target_signal"])
    loss = 0.5 * ((y - yt) ** 2)[: n_seq * T].reshape(n_seq, T).sum(axis=1)
    t_train = time.perf_counter() - t0
    VN.write_result(out, loss=loss, t_import=t_import, t_load=0.0, t_train=t_train,
                    t_data=t_data, rss_import=rss_import, rss_peak=VN.maxrss_mb(),
                    version=str(nest.__version__), threads=1, engine="eprop_iaf/eprop_synapse")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (CI)")
    ap.add_argument("--child", choices=("nest",), help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--keep-x1", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--block", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        nest_child(json.loads(Path(args.spec).read_text()), args.out, args.keep_x1)
        return 0
    s = spec(args.quick)
    nest_py, reason = VN.find_nest_python()
    print("# snnsim online e-prop (update every step) vs NEST 3.10 eprop_iaf/eprop_synapse\n")
    print(f"- sine task, {s['n_in']} inputs, {s['n_lif']} LIF, T = {s['T']}, {s['n_iter']} "
          f"sequences; load average at start {os.getloadavg()[0]:.2f}")
    print(f"- NEST: {nest_py} (1 thread)" if nest_py else f"- NEST skipped: {reason}")
    rows = []
    env1 = VN.threads_env(1)
    with tempfile.TemporaryDirectory(prefix="vs_nest_online_") as tmp:
        VN.run_child(sys.executable, "snnsim", dict(s, warmup_only=True), tmp, "warm", env1)
        results = []
        if nest_py:
            results.append(("NEST eprop_iaf (online)", VN.run_child(
                nest_py, "nest", s, tmp, "nest", env1, script=__file__)))
        for engine in ("auto", "trace"):
            r = VN.run_child(sys.executable, "snnsim", s, tmp, f"snnsim_{engine}", env1,
                             engine=engine)
            results.append((f"snnsim {r['version']} update_every=1, engine={engine} (path: {r['engine']})", r))
    ref = results[0][1] if nest_py else None
    print("\n| simulator | train s | process s | peak RSS MB | loss first / last | ratio NEST/snnsim |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in results:
        ratio = "-"
        if ref is not None and r is not ref:
            ratio = (f"train {float(ref['t_train']) / float(r['t_train']):.1f}x, "
                     f"process {ref['wall_s'] / r['wall_s']:.1f}x")
        print(f"| {name} | {VN.sec(r['t_train'])} | {VN.sec(r['wall_s'])} | {r['maxrss_mb']:.0f} "
              f"| {float(r['loss'][0]):.4g} / {float(r['loss'][-1]):.4g} | {ratio} |")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}. The models differ (module "
          "docstring): the losses are side by side, not an agreement check.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
