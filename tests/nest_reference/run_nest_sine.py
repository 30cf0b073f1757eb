"""Run the NEST 3.10 e-prop (``*_bsshslm_2020``) sine-wave network from given weights and inputs.

Not part of the test suite: it needs the ``nest-simulator`` pip package, which lives in a separate
venv (see README.md in this folder)::

    /tmp/nestvenv/bin/python tests/nest_reference/run_nest_sine.py in.npz out.npz [--n-iter N] ...

in.npz (weights in snnsim's (pre, post) layout):
    w_in   (n_in, n_rec)     input weights
    w_rec  (n_rec, n_rec)    recurrent weights (diagonal must be 0: NEST has no autapses here)
    w_out  (n_rec, n_out)    readout weights
    x      (T, n_in)         0/1 input spikes of ONE sequence, repeated every iteration
                             (alternatively spike_steps (S,) int + spike_ids (S,) int)
    target (T,) or (T, n_out)
  optional arrays / scalars (defaults = the NEST sine-wave example, see README.md):
    B (n_rec, n_out) fixed feedback weights (default: the initial w_out, never updated)
    n_iter, eta, eta_in, eta_rec, eta_out, tau_m, tau_out, v_th, gamma, t_ref, c_reg, f_target,
    zeta_rec (1 -> regular_spike_arrival=True, 0 -> False i.e. zeta = 1 - alpha),
    zeta_out (same for the readout), beta (scalar or (n_rec,)), tau_a, learning_window, dt
  Command-line options override the npz values.

out.npz:
    loss (n_iter,)            0.5 * sum_t sum_k (y - y*)^2 of each iteration (sum over readouts)
    loss_nest_example         the NEST example's formula (mean over readouts instead of sum)
    y, y_target (n_iter, T, n_out)   readout signal and target, aligned to the input step tau
    z (n_iter, T, n_rec)      recurrent spikes (uint8), aligned to tau
    w_in, w_rec, w_out        final weights (pre, post); w_*_init the initial ones
    with --record-all also v, psi, L (n_iter, T, n_rec) for all recurrent neurons
    wall_time_s, sim_time_s, max_rss_mb, nest_version, params (json string)

Every weight update is applied once per sequence (update interval = T steps), plain gradient
descent, batch 1. The number of steps per sequence T is taken from x.
"""
import argparse
import json
import resource
import sys
import time

import numpy as np

# offsets (in steps) hard-wired in NEST's e-prop bsshslm_2020 models
OFFSET_GEN = 1      # generator signals start at step 1
SHIFT_REC = 2       # recurrent neurons: offset_gen + delay_in_rec (input passes a parrot neuron)
SHIFT_OUT = 3       # readout: + delay_rec_out
TOTAL_OFFSET = 4    # + delay_out_norm: first step at which the readout signal of tau = 0 is seen

DEFAULTS = dict(
    n_iter=5, eta=1e-4, eta_in=None, eta_rec=None, eta_out=None,
    tau_m=30.0, tau_out=30.0, v_th=0.03, gamma=0.3, t_ref=0.0,
    c_reg=300.0, f_target=10.0, zeta_rec=0, zeta_out=0,
    beta=0.0, tau_a=2000.0, learning_window=None, dt=1.0, final_update_offset=3, loss="mse",
)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inp")
    ap.add_argument("out")
    for k, v in DEFAULTS.items():
        typ = int if k in ("n_iter", "zeta_rec", "zeta_out", "learning_window", "final_update_offset") else float
        typ = str if k == "loss" else typ
        ap.add_argument("--" + k.replace("_", "-"), dest=k, type=typ, default=None)
    ap.add_argument("--record-all", action="store_true", help="record v, psi, L of all recurrent neurons")
    ap.add_argument("--threads", type=int, default=1)
    return ap.parse_args(argv)


def load_inputs(a):
    d = np.load(a.inp)
    w_in = np.asarray(d["w_in"], dtype=np.float64)
    w_rec = np.asarray(d["w_rec"], dtype=np.float64)
    w_out = np.asarray(d["w_out"], dtype=np.float64)
    n_in, n_rec = w_in.shape
    n_out = w_out.shape[1]
    assert w_rec.shape == (n_rec, n_rec) and w_out.shape[0] == n_rec, "weight shapes"
    target = np.asarray(d["target"], dtype=np.float64)
    if target.ndim == 1:
        target = target[:, None]
    T = target.shape[0]
    assert target.shape == (T, n_out), f"target must be (T, n_out={n_out})"
    if "x" in d:
        x = np.asarray(d["x"]) != 0
        assert x.shape == (T, n_in), f"x must be (T={T}, n_in={n_in})"
    else:
        x = np.zeros((T, n_in), dtype=bool)
        x[np.asarray(d["spike_steps"], dtype=int), np.asarray(d["spike_ids"], dtype=int)] = True
    B = np.asarray(d["B"], dtype=np.float64) if "B" in d else w_out.copy()
    assert B.shape == (n_rec, n_out)
    p = dict(DEFAULTS)
    for k in DEFAULTS:
        if k in d and k != "beta":
            p[k] = d[k].item() if d[k].dtype.kind != "U" else str(d[k])
    beta = np.asarray(d["beta"], dtype=np.float64) if "beta" in d else np.float64(p["beta"])
    for k in DEFAULTS:
        v = getattr(a, k)
        if v is not None:
            if k == "beta":
                beta = np.float64(v)
            else:
                p[k] = v
    beta = np.broadcast_to(beta, (n_rec,)).astype(np.float64)
    for k in ("eta_in", "eta_rec", "eta_out"):
        if p[k] is None:
            p[k] = p["eta"]
    if p["learning_window"] is None:
        p["learning_window"] = T
    if np.any(np.diag(w_rec) != 0):
        print("warning: diagonal of w_rec ignored (no autapses in NEST)", file=sys.stderr)
        w_rec = w_rec.copy()
        np.fill_diagonal(w_rec, 0.0)
    if x[0].any():
        print("warning: input spikes at tau = 0 are dropped by NEST's e-prop synapse; removed", file=sys.stderr)
        x = x.copy()
        x[0] = False
    return w_in, w_rec, w_out, B, x, target, beta, p


def matrix(nest, pre, post, model, shape):
    c = nest.GetConnections(pre, post, synapse_model=model).get(["source", "target", "weight"])
    w = np.zeros(shape)
    w[np.asarray(c["source"]) - pre[0].global_id, np.asarray(c["target"]) - post[0].global_id] = c["weight"]
    return w


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    w_in, w_rec, w_out, B, x, target, beta, p = load_inputs(a)
    T, n_in = x.shape
    n_rec, n_out = w_out.shape
    n_iter, dt = int(p["n_iter"]), float(p["dt"])
    t_wall = time.time()

    import nest  # imported late so that --help works without NEST

    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:
        pass
    nest.ResetKernel()
    nest.set(resolution=dt, total_num_virtual_procs=a.threads, print_time=False,
             eprop_update_interval=T * dt, eprop_learning_window=p["learning_window"] * dt,
             eprop_reset_neurons_on_update=True)

    adaptive = bool(np.any(beta != 0))
    rec_model = "eprop_iaf_adapt_bsshslm_2020" if adaptive else "eprop_iaf_bsshslm_2020"
    # pseudo-derivative: psi = gamma / v_th * max(0, 1 - |v - A| / v_th)
    prm_rec = {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "V_m": 0.0, "V_th": p["v_th"], "tau_m": p["tau_m"],
               "t_ref": p["t_ref"], "c_reg": p["c_reg"], "f_target": p["f_target"],
               "regular_spike_arrival": bool(p["zeta_rec"]),
               "surrogate_gradient_function": "piecewise_linear",
               "surrogate_gradient_height": p["gamma"] / p["v_th"],
               "surrogate_gradient_width": abs(p["v_th"])}
    if adaptive:
        prm_rec.update({"adapt_tau": p["tau_a"], "adaptation": 0.0})
    prm_out = {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "V_m": 0.0, "tau_m": p["tau_out"],
               "loss": {"mse": "mean_squared_error", "ce": "cross_entropy"}[p["loss"]],
               "regular_spike_arrival": bool(p["zeta_out"])}

    gen_in = nest.Create("spike_generator", n_in)
    nrn_in = nest.Create("parrot_neuron", n_in)
    nrn_rec = nest.Create(rec_model, n_rec, prm_rec)
    if adaptive:
        nrn_rec.set([{"adapt_beta": float(b)} for b in beta])
    nrn_out = nest.Create("eprop_readout_bsshslm_2020", n_out, prm_out)
    gen_tgt = nest.Create("step_rate_generator", n_out)

    # one synapse model per projection so that each can have its own learning rate
    for name, eta in (("in", p["eta_in"]), ("rec", p["eta_rec"]), ("out", p["eta_out"])):
        nest.CopyModel("eprop_synapse_bsshslm_2020", "eprop_syn_" + name,
                       {"optimizer": {"type": "gradient_descent", "batch_size": 1, "eta": eta,
                                      "Wmin": -1e6, "Wmax": 1e6},
                        "average_gradient": False})
    base = {"delay": dt, "tau_m_readout": p["tau_out"]}
    a2a = {"rule": "all_to_all", "allow_autapses": False}
    nest.Connect(gen_in, nrn_in, "one_to_one", {"synapse_model": "static_synapse", "delay": dt})
    nest.Connect(nrn_in, nrn_rec, a2a, dict(base, synapse_model="eprop_syn_in", weight=w_in.T.copy()))
    nest.Connect(nrn_rec, nrn_rec, a2a, dict(base, synapse_model="eprop_syn_rec", weight=w_rec.T.copy()))
    nest.Connect(nrn_rec, nrn_out, a2a, dict(base, synapse_model="eprop_syn_out", weight=w_out.T.copy()))
    nest.Connect(nrn_out, nrn_rec, a2a, {"synapse_model": "eprop_learning_signal_connection_bsshslm_2020",
                                         "delay": dt, "weight": B.copy()})
    nest.Connect(gen_tgt, nrn_out, "one_to_one",
                 {"synapse_model": "rate_connection_delayed", "delay": dt, "receptor_type": 2})
    if p["loss"] == "ce" and n_out > 1:  # softmax normalisation: each readout receives the others' exp(y)
        nest.Connect(nrn_out, nrn_out, a2a,
                     {"synapse_model": "rate_connection_delayed", "delay": dt, "receptor_type": 1, "weight": 1.0})

    # input step tau of sequence k -> generator time (1 + k T + tau) dt -> neuron step 2 + k T + tau
    starts = OFFSET_GEN + T * np.arange(n_iter)
    gen_in.set([{"spike_times": ((starts[:, None] + np.nonzero(x[:, i])[0][None, :]).ravel() * dt)}
                for i in range(n_in)])
    # target of step tau must be seen by the readout at step 4 + k T + tau
    amp_times = (TOTAL_OFFSET + np.arange(n_iter * T)) * dt
    gen_tgt.set([{"amplitude_times": amp_times, "amplitude_values": np.tile(target[:, k], n_iter)}
                 for k in range(n_out)])

    # strong spike into all presynaptic neurons after the last sequence: synapses apply a pending
    # update only when they transmit a spike (the NEST examples do the same)
    t_final = n_iter * T + int(p["final_update_offset"])
    gen_fin = nest.Create("spike_generator", 1, {"spike_times": [t_final * dt]})
    nest.Connect(gen_fin, nrn_in + nrn_rec, "all_to_all", {"weight": 1000.0, "delay": dt})

    # recorders: a device with start s, stop e records NEST times in (s, e]; a value computed in
    # NEST step t is stamped t + 1
    task = n_iter * T
    mm_out = nest.Create("multimeter", {"interval": dt, "record_from": ["readout_signal", "target_signal"],
                                        "start": TOTAL_OFFSET * dt, "stop": (TOTAL_OFFSET + task) * dt})
    nest.Connect(mm_out, nrn_out)
    sr = nest.Create("spike_recorder", {"start": SHIFT_REC * dt, "stop": (SHIFT_REC + task) * dt})
    nest.Connect(nrn_rec, sr)
    if a.record_all:
        mm_rec = nest.Create("multimeter", {"interval": dt,
                                            "record_from": ["V_m", "surrogate_gradient", "learning_signal"],
                                            "start": SHIFT_REC * dt, "stop": (SHIFT_REC + task) * dt})
        nest.Connect(mm_rec, nrn_rec)

    t_sim = time.time()
    nest.Simulate((t_final + 3) * dt)
    t_sim = time.time() - t_sim

    res = {}
    ev = mm_out.get("events")
    snd, tm = np.asarray(ev["senders"]), np.rint(np.asarray(ev["times"]) / dt).astype(int)
    y = np.zeros((n_iter * T, n_out))
    ys = np.zeros((n_iter * T, n_out))
    col = snd - nrn_out[0].global_id
    y[tm - TOTAL_OFFSET - 1, col] = ev["readout_signal"]
    ys[tm - TOTAL_OFFSET - 1, col] = ev["target_signal"]
    y, ys = y.reshape(n_iter, T, n_out), ys.reshape(n_iter, T, n_out)
    res["y"], res["y_target"] = y, ys
    win = slice(T - int(p["learning_window"]), T)  # NEST zeroes y and y* before the learning window
    if p["loss"] == "mse":
        res["loss"] = 0.5 * np.sum((y - ys)[:, win] ** 2, axis=(1, 2))
        res["loss_nest_example"] = 0.5 * np.mean(np.sum((y - ys)[:, win] ** 2, axis=1), axis=1)
    else:  # y is the softmax pi here
        res["loss"] = -np.sum(ys[:, win] * np.log(np.maximum(y[:, win], 1e-300)), axis=(1, 2))
        res["loss_nest_example"] = res["loss"] / (T - win.start)

    ev = sr.get("events")
    z = np.zeros((n_iter * T, n_rec), dtype=np.uint8)
    st = np.rint(np.asarray(ev["times"]) / dt).astype(int) - SHIFT_REC - 1
    z[st, np.asarray(ev["senders"]) - nrn_rec[0].global_id] = 1
    res["z"] = z.reshape(n_iter, T, n_rec)
    if a.record_all:
        ev = mm_rec.get("events")
        tm = np.rint(np.asarray(ev["times"]) / dt).astype(int) - SHIFT_REC - 1
        col = np.asarray(ev["senders"]) - nrn_rec[0].global_id
        for key, name in (("v", "V_m"), ("psi", "surrogate_gradient"), ("L", "learning_signal")):
            arr = np.zeros((n_iter * T, n_rec))
            arr[tm, col] = ev[name]
            res[key] = arr.reshape(n_iter, T, n_rec)

    res["w_in"] = matrix(nest, nrn_in, nrn_rec, "eprop_syn_in", (n_in, n_rec))
    res["w_rec"] = matrix(nest, nrn_rec, nrn_rec, "eprop_syn_rec", (n_rec, n_rec))
    res["w_out"] = matrix(nest, nrn_rec, nrn_out, "eprop_syn_out", (n_rec, n_out))
    res.update(w_in_init=w_in, w_rec_init=w_rec, w_out_init=w_out, B=B, x=x.astype(np.uint8))
    res["wall_time_s"] = time.time() - t_wall
    res["sim_time_s"] = t_sim
    res["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    res["nest_version"] = str(nest.__version__)
    pj = {k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v) for k, v in p.items()}
    pj["beta"] = beta.tolist()
    pj["rec_model"] = rec_model
    res["params"] = json.dumps(pj)
    np.savez(a.out, **res)
    ls = [f"{v:.6g}" for v in res["loss"]]
    print("loss per iteration:", " ".join(ls if len(ls) <= 20 else ls[:10] + ["..."] + ls[-5:]))
    print(f"sim {t_sim:.2f} s, wall {res['wall_time_s']:.2f} s, max RSS {res['max_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
