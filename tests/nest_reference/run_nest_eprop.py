"""Train an e-prop network with NEST 3.10's ``*_bsshslm_2020`` models from given weights and data.

The NEST side of the cross-check and of benchmarks/vs_nest.py. It supports:
* a recurrent layer that mixes LIF and ALIF neurons (one NEST population for each run of
  neurons of the same kind);
* several readouts, with MSE or cross-entropy loss;
* a different sequence for each trial, and mini-batches (gradient descent, gradient averaged
  over ``batch_size`` sequences by NEST's optimizer).

It is used by ``tests/test_nest_crosscheck.py`` and needs an interpreter that can ``import nest``
(see README.md in this folder)::

    $NEST_PYTHON tests/nest_reference/run_nest_eprop.py in.npz out.npz

in.npz (weights in snnsim's (pre, post) layout):
    w_in (n_in, n_rec), w_rec (n_rec, n_rec), w_out (n_rec, n_out)
        the diagonal of w_rec is ignored, because NEST has no autapses here
    B (n_rec, n_out)   fixed feedback weights; NEST never changes them. Default: the initial w_out.
    x       0/1 input spikes, either (T, n_in) for the same input in every sequence or
            (S, T, n_in). Sequence s of the run uses x[s % S].
    target  (T,), (T, n_out) or (S, T, n_out), indexed the same way as x
    beta    (n_rec,) or a scalar. A neuron with beta == 0 is an eprop_iaf_bsshslm_2020 (LIF);
            any other neuron is an eprop_iaf_adapt_bsshslm_2020 (ALIF).
    tau_a   (n_rec,) or a scalar; used by the ALIF neurons only.
  scalars (defaults in DEFAULTS):
    n_iter            number of weight updates; n_iter * batch_size sequences are simulated
    batch_size        sequences per update (NEST averages the gradient over them)
    eta_in, eta_rec, eta_out   learning rates of the three projections
    tau_m, tau_out, v_th, gamma, t_ref, c_reg, f_target, dt   NEST units (ms, mV, Hz)
    zeta_rec, zeta_out  1 for regular_spike_arrival=True (zeta = 1), 0 for False (zeta = 1 - alpha)
    learning_window   in steps, at the end of each sequence (default T)
    loss              "mse" or "ce"

out.npz:
    y, y_target (n_seq, T, n_out)  readout_signal and target_signal, aligned to step tau. For
                                   CE, y is the softmax pi. Both are 0 before the learning window.
    v_out (n_seq, T, n_out)        readout membrane potential (the un-normalised readout y)
    z (n_seq, T, n_rec)            recurrent spikes (uint8)
    loss_seq (n_seq,)              MSE 0.5 sum_{t in window} sum_k (y - y*)^2, or
                                   CE -sum_{t in window} sum_k y* log pi
    loss (n_iter,)                 loss_seq averaged over each batch (snnsim's convention)
    w_in, w_rec, w_out             final weights (pre, post); w_*_init the initial ones
    B, wall_time_s, nest_version, params (json)
"""
import argparse
import json
import sys
import time

import numpy as np

GEN = 1        # generators emit from step 1 on
REC = 2        # the recurrent neurons see input step tau at NEST step s T + 2 + tau (via a parrot)
OUT = 3        # readout step for recurrent spike tau: s T + 3 + tau
SIGNAL = 4     # readout_signal / target exchange: s T + 4 + tau

DEFAULTS = dict(n_iter=5, batch_size=1, eta_in=1e-4, eta_rec=1e-4, eta_out=1e-4, tau_m=30.0,
                tau_out=30.0, v_th=0.03, gamma=0.3, t_ref=0.0, c_reg=0.0, f_target=10.0,
                zeta_rec=0, zeta_out=1, learning_window=0, dt=1.0, loss="mse")
INTS = ("n_iter", "batch_size", "zeta_rec", "zeta_out", "learning_window")


def read_input(path):
    d = np.load(path)
    w_in, w_rec, w_out = (np.asarray(d[k], dtype=np.float64) for k in ("w_in", "w_rec", "w_out"))
    n_in, n_rec = w_in.shape
    n_out = w_out.shape[1]
    if w_rec.shape != (n_rec, n_rec) or w_out.shape[0] != n_rec:
        raise SystemExit("weight shapes do not fit together")
    x = np.asarray(d["x"]) != 0
    if x.ndim == 2:
        x = x[None]
    target = np.asarray(d["target"], dtype=np.float64)
    if target.ndim == 1:
        target = target[:, None]
    if target.ndim == 2:
        target = target[None]
    T = x.shape[1]
    if x.shape[2] != n_in or target.shape[1:] != (T, n_out):
        raise SystemExit(f"x must be (S, T, {n_in}) and target (S, T, {n_out})")
    p = dict(DEFAULTS)
    for k in DEFAULTS:
        if k in d:
            p[k] = str(d[k]) if d[k].dtype.kind == "U" else d[k].item()
    for k in INTS:
        p[k] = int(p[k])
    p["learning_window"] = p["learning_window"] or T
    B = np.asarray(d["B"], dtype=np.float64) if "B" in d else w_out.copy()
    beta = np.broadcast_to(np.asarray(d["beta"] if "beta" in d else 0.0, np.float64), (n_rec,)).copy()
    tau_a = np.broadcast_to(np.asarray(d["tau_a"] if "tau_a" in d else 2000.0, np.float64), (n_rec,)).copy()
    w_rec = w_rec.copy()
    np.fill_diagonal(w_rec, 0.0)
    return w_in, w_rec, w_out, B, x, target, beta, tau_a, p


def runs(flags):
    """Split neuron indices into runs of equal flags: [(start, stop, flag), ...]."""
    out, start = [], 0
    for i in range(1, len(flags) + 1):
        if i == len(flags) or flags[i] != flags[start]:
            out.append((start, i, bool(flags[start])))
            start = i
    return out


def weight_matrix(nest, pre, post, model, shape):
    """(pre, post) matrix of the weights of ``model`` connections from ``pre`` to ``post``."""
    c = nest.GetConnections(pre, post, synapse_model=model).get(["source", "target", "weight"])
    pre_idx = {g: i for i, g in enumerate(pre.tolist())}
    post_idx = {g: i for i, g in enumerate(post.tolist())}
    w = np.zeros(shape)
    rows = [pre_idx[s] for s in np.atleast_1d(c["source"])]
    cols = [post_idx[t] for t in np.atleast_1d(c["target"])]
    w[rows, cols] = c["weight"]
    return w


def events_to_grid(ev, keys, nodes, first, n_steps, dt):
    """Recorder events -> {key: (n_steps, len(nodes))}; the value stamped (first + 1 + i) dt goes to row i."""
    col = {g: i for i, g in enumerate(nodes.tolist())}
    rows = np.rint(np.asarray(ev["times"]) / dt).astype(int) - first - 1
    cols = np.array([col[s] for s in np.asarray(ev["senders"])], dtype=int)
    out = {}
    for k in keys:
        arr = np.zeros((n_steps, len(nodes)))
        if k is None:
            arr[rows, cols] = 1.0
        else:
            arr[rows, cols] = np.asarray(ev[k])
        out[k] = arr
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(sys.argv[1:] if argv is None else argv)
    w_in, w_rec, w_out, B, x, target, beta, tau_a, p = read_input(a.inp)
    S, T, n_in = x.shape
    n_rec, n_out = w_out.shape
    n_seq = p["n_iter"] * p["batch_size"]
    dt, lw = float(p["dt"]), p["learning_window"]
    if x[:, 0].any():
        print("warning: NEST's e-prop synapses drop input spikes at tau = 0; removed", file=sys.stderr)
        x = x.copy()
        x[:, 0] = False
    t_wall = time.time()

    import nest  # late import: --help works without NEST

    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:   # older NEST 3.x
        nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.set(resolution=dt, total_num_virtual_procs=a.threads, print_time=False,
             eprop_update_interval=T * dt, eprop_learning_window=lw * dt,
             eprop_reset_neurons_on_update=True)

    # psi = gamma / v_th * max(0, 1 - |v - A| / v_th)
    common = {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "V_m": 0.0, "V_th": p["v_th"], "tau_m": p["tau_m"],
              "t_ref": p["t_ref"], "c_reg": p["c_reg"], "f_target": p["f_target"],
              "regular_spike_arrival": bool(p["zeta_rec"]),
              "surrogate_gradient_function": "piecewise_linear",
              "surrogate_gradient_height": p["gamma"] / p["v_th"],
              "surrogate_gradient_width": abs(p["v_th"])}
    rec = None
    models = []
    for start, stop, adaptive in runs(beta != 0):
        model = "eprop_iaf_adapt_bsshslm_2020" if adaptive else "eprop_iaf_bsshslm_2020"
        pop = nest.Create(model, stop - start, common)
        if adaptive:
            pop.set([{"adapt_beta": float(b), "adapt_tau": float(ta), "adaptation": 0.0}
                     for b, ta in zip(beta[start:stop], tau_a[start:stop])])
        models.append((model, stop - start))
        rec = pop if rec is None else rec + pop
    readout = nest.Create("eprop_readout_bsshslm_2020", n_out,
                          {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "V_m": 0.0, "tau_m": p["tau_out"],
                           "loss": {"mse": "mean_squared_error", "ce": "cross_entropy"}[p["loss"]],
                           "regular_spike_arrival": bool(p["zeta_out"])})
    gen_x = nest.Create("spike_generator", n_in)
    parrots = nest.Create("parrot_neuron", n_in)
    gen_target = nest.Create("step_rate_generator", n_out)

    for name in ("in", "rec", "out"):
        nest.CopyModel("eprop_synapse_bsshslm_2020", "eprop_syn_" + name,
                       {"optimizer": {"type": "gradient_descent", "batch_size": p["batch_size"],
                                      "eta": p["eta_" + name], "Wmin": -1e6, "Wmax": 1e6},
                        "average_gradient": False})
    syn = {"delay": dt, "tau_m_readout": p["tau_out"]}
    a2a = {"rule": "all_to_all", "allow_autapses": False}
    nest.Connect(gen_x, parrots, "one_to_one", {"synapse_model": "static_synapse", "delay": dt})
    # NEST takes weight matrices as (post, pre)
    nest.Connect(parrots, rec, a2a, dict(syn, synapse_model="eprop_syn_in", weight=w_in.T.copy()))
    nest.Connect(rec, rec, a2a, dict(syn, synapse_model="eprop_syn_rec", weight=w_rec.T.copy()))
    nest.Connect(rec, readout, a2a, dict(syn, synapse_model="eprop_syn_out", weight=w_out.T.copy()))
    nest.Connect(readout, rec, a2a, {"synapse_model": "eprop_learning_signal_connection_bsshslm_2020",
                                     "delay": dt, "weight": B.copy()})
    nest.Connect(gen_target, readout, "one_to_one",
                 {"synapse_model": "rate_connection_delayed", "delay": dt, "receptor_type": 2})
    if p["loss"] == "ce" and n_out > 1:   # softmax: every readout receives the others' exp(y)
        nest.Connect(readout, readout, a2a, {"synapse_model": "rate_connection_delayed", "delay": dt,
                                             "receptor_type": 1, "weight": 1.0})

    # step tau of sequence s: generator time (1 + s T + tau) dt, target seen at (4 + s T + tau) dt
    xs = x[np.arange(n_seq) % S]                       # (n_seq, T, n_in)
    ts = target[np.arange(n_seq) % S]                  # (n_seq, T, n_out)
    steps = (GEN + T * np.arange(n_seq))[:, None] + np.arange(T)[None, :]
    gen_x.set([{"spike_times": np.sort(steps[xs[:, :, i]]).astype(np.float64) * dt} for i in range(n_in)])
    amp_times = (SIGNAL + np.arange(n_seq * T)) * dt
    gen_target.set([{"amplitude_times": amp_times, "amplitude_values": ts[:, :, k].ravel()}
                    for k in range(n_out)])

    # a synapse applies its pending update only when it next transmits a spike: after the last
    # sequence, send one strong spike into every presynaptic neuron
    t_final = n_seq * T + 3
    gen_final = nest.Create("spike_generator", 1, {"spike_times": [t_final * dt]})
    nest.Connect(gen_final, parrots + rec, "all_to_all", {"weight": 1000.0, "delay": dt})

    # recorders keep times in (start, stop]; a value computed in NEST step s is stamped (s + 1) dt
    n_steps = n_seq * T
    mm_sig = nest.Create("multimeter", {"interval": dt, "record_from": ["readout_signal", "target_signal"],
                                        "start": SIGNAL * dt, "stop": (SIGNAL + n_steps) * dt})
    mm_v = nest.Create("multimeter", {"interval": dt, "record_from": ["V_m"],
                                      "start": OUT * dt, "stop": (OUT + n_steps) * dt})
    sr = nest.Create("spike_recorder", {"start": REC * dt, "stop": (REC + n_steps) * dt})
    nest.Connect(mm_sig, readout)
    nest.Connect(mm_v, readout)
    nest.Connect(rec, sr)

    nest.Simulate((t_final + 3) * dt)

    shape = (n_seq, T, n_out)
    g = events_to_grid(mm_sig.get("events"), ["readout_signal", "target_signal"], readout, SIGNAL, n_steps, dt)
    y, y_target = g["readout_signal"].reshape(shape), g["target_signal"].reshape(shape)
    v_out = events_to_grid(mm_v.get("events"), ["V_m"], readout, OUT, n_steps, dt)["V_m"].reshape(shape)
    z = events_to_grid(sr.get("events"), [None], rec, REC, n_steps, dt)[None].reshape(n_seq, T, n_rec)
    win = slice(T - lw, T)
    if p["loss"] == "mse":
        loss_seq = 0.5 * np.sum((y - y_target)[:, win] ** 2, axis=(1, 2))
    else:
        loss_seq = -np.sum(y_target[:, win] * np.log(np.maximum(y[:, win], 1e-300)), axis=(1, 2))

    res = dict(y=y, y_target=y_target, v_out=v_out, z=z.astype(np.uint8), loss_seq=loss_seq,
               loss=loss_seq.reshape(p["n_iter"], p["batch_size"]).mean(axis=1),
               w_in=weight_matrix(nest, parrots, rec, "eprop_syn_in", (n_in, n_rec)),
               w_rec=weight_matrix(nest, rec, rec, "eprop_syn_rec", (n_rec, n_rec)),
               w_out=weight_matrix(nest, rec, readout, "eprop_syn_out", (n_rec, n_out)),
               w_in_init=w_in, w_rec_init=w_rec, w_out_init=w_out, B=B,
               wall_time_s=time.time() - t_wall, nest_version=str(nest.__version__),
               params=json.dumps(dict(p, populations=models)))
    np.savez(a.out, **res)
    print("loss per iteration:", " ".join(f"{v:.8g}" for v in res["loss"]))
    print(f"wall {res['wall_time_s']:.2f} s")


if __name__ == "__main__":
    main()
