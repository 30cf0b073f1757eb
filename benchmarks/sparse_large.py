#!/usr/bin/env python
"""Sparse networks of 10^5 neurons: forward pass and e-prop training, snnsim vs NEST 3.10.

One recurrent layer of N neurons (default 100,000) with K = 100 recurrent synapses per neuron
on average (``p_rec = K / N``, no autapses: 10^7 synapses) and 10 input synapses per neuron
from 100 Poisson inputs at 20 Hz (``p_in = 0.1``), stored sparse (``sparse = true``: CSR by
presynaptic neuron, drawn in sparse form), tau_m = 20 ms, v_th = 1, dt = 1 ms, float32, batch 1.
Every measurement runs in its own child process; the parent reads the child's peak RSS from
``os.wait4`` (``ru_maxrss``). Rows:

- ``snnsim forward (LIF)``: all-LIF network, ``Network.simulate`` with Poisson input.
- ``NEST forward (LIF)``: the same network in NEST 3.10 (1 thread): ``eprop_iaf`` neurons
  (the e-prop LIF: reset by subtracting V_th, a weight is the voltage jump as snnsim's with
  zeta = 1) with E_L = 0, V_th = 1, t_ref = 0, C_m = 1 and static synapses, parrot neurons
  relaying the Poisson inputs, and *the same synapses and weights* (snnsim's CSR arrays
  connected one-to-one, delay 1 ms = snnsim's z^{t-1}). NEST subtracts V_th in the step of
  the spike (before the next decay; snnsim one step later, after it) and draws other Poisson
  spikes, so rates are close, not equal.
- ``snnsim forward (LIF/ALIF)``: 80 % LIF, 20 % ALIF (beta = 0.2, tau_a = 200 ms).
- ``e-prop trace`` / ``e-prop window``: that LIF/ALIF network trained with e-prop (Adam with
  learning rate 0.1 / N, mse to a 2-channel sine target, one weight update per sequence of
  ``--train-steps`` steps, the same sequence every iteration).
  Steps/s counts forward + learning steps; the first iteration is excluded (allocation).

"build s" is the network construction (snnsim: drawing connectivity and weights; NEST: creating
nodes and connecting). Kernels are loaded from numba's cache (a small warm-up child fills it).

    python benchmarks/sparse_large.py            # N = 100,000 (~5 min on 2 cores)
    python benchmarks/sparse_large.py --quick    # N = 2000, short runs (CI); NEST if available
    python benchmarks/sparse_large.py --no-nest --phases trace window
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "nest_reference"))
from nest_locate import find_nest_python  # noqa: E402  (SNNSIM_NEST_PYTHON or /tmp/nestvenv)

N_IN, RATE_HZ, P_IN, TAU_M, V_TH = 100, 20.0, 0.1, 20.0, 1.0
W_IN_SCALE, W_REC_SCALE = 1.5, 1.0
PHASES = ("forward", "nest", "forward-mix", "trace", "window")
LABELS = {"forward": "snnsim forward (LIF)", "nest": "NEST 3.10 forward (LIF)",
          "forward-mix": "snnsim forward (LIF/ALIF)", "trace": "e-prop trace engine (LIF/ALIF)",
          "window": "e-prop window engine (LIF/ALIF)"}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="N = 2000, short runs (CI)")
    ap.add_argument("--neurons", type=int, help="N (default 100000; --quick 2000)")
    ap.add_argument("--k", type=int, default=100, help="recurrent synapses per neuron (mean)")
    ap.add_argument("--steps", type=int, help="forward steps (default 1000; --quick 200)")
    ap.add_argument("--train-steps", type=int, help="steps per training sequence (default 200)")
    ap.add_argument("--iterations", type=int, help="training iterations (default 3; --quick 2)")
    ap.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    ap.add_argument("--no-nest", action="store_true", help="skip NEST")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.neurons = a.neurons or (2000 if a.quick else 100_000)
    a.steps = a.steps or (200 if a.quick else 1000)
    a.train_steps = a.train_steps or (50 if a.quick else 200)
    a.iterations = a.iterations or (2 if a.quick else 3)
    return a


# ============================================================================ snnsim children
def build(a, alif):
    import numpy as np
    import snnsim
    n_alif = int(0.2 * a.neurons) if alif else 0
    pops = [snnsim.LIF(a.neurons - n_alif, tau_m=TAU_M, v_th=V_TH)]
    if n_alif:
        pops.append(snnsim.ALIF(n_alif, tau_m=TAU_M, v_th=V_TH, beta=0.2, tau_a=200.0))
    layer = snnsim.Layer(pops, p_in=P_IN, p_rec=min(1.0, a.k / a.neurons), sparse=True,
                         w_in_scale=W_IN_SCALE, w_rec_scale=W_REC_SCALE, name="rec")
    return snnsim.Network(N_IN, layer, snnsim.Readout(2), dtype="float32",
                          rng=np.random.default_rng(a.seed))


def child_forward(a, alif, save=None):
    import numpy as np
    import snnsim
    t0 = time.perf_counter()
    net = build(a, alif)
    t_build = time.perf_counter() - t0
    if save:
        np.savez(save, in_ptr=net.w_in[0].indptr, in_idx=net.w_in[0].indices,
                 in_w=net.w_in[0].data, rec_ptr=net.w_rec[0].indptr, rec_idx=net.w_rec[0].indices,
                 rec_w=net.w_rec[0].data)
    rng = np.random.default_rng(a.seed + 1)
    net.simulate(snnsim.PoissonInput(RATE_HZ, N_IN), steps=2, batch=1, rng=rng)   # kernel load
    t0 = time.perf_counter()
    res = net.simulate(snnsim.PoissonInput(RATE_HZ, N_IN), steps=a.steps, batch=1,
                       rng=rng, block=100)
    wall = time.perf_counter() - t0
    return dict(build_s=t_build, steps=a.steps, steps_per_s=a.steps / wall,
                rate_hz=res["rate_hz"][0], synapses=net.w_in[0].nnz + net.w_rec[0].nnz)


def child_train(a, engine):
    import numpy as np
    from snnsim.learning.eprop import OnlineEprop
    from snnsim.optim import make_optimizer
    t0 = time.perf_counter()
    net = build(a, True)
    t_build = time.perf_counter() - t0
    T = a.train_steps
    rng = np.random.default_rng(a.seed + 2)
    x = (rng.random((1, T, N_IN)) < RATE_HZ * 1e-3).astype(np.float32)
    t = np.arange(T)[None, :, None]
    target = np.sin(2 * np.pi * t / np.array([100.0, 50.0])).astype(np.float32)
    mask = np.ones((1, T), bool)
    learner = OnlineEprop(net, 1, engine=engine, window_mb=64)
    opt = make_optimizer("adam", lr=0.1 / a.neurons)   # the readout sums N neurons
    losses, times = [], []
    for _ in range(a.iterations):
        t0 = time.perf_counter()
        loss, _ = learner.run(x, target, mask, "mse", block=100, keep_y=False)
        opt.step(net.weights(), learner.pop_grads(), net.masks())
        times.append(time.perf_counter() - t0)
        losses.append(float(loss))
    timed = times[1:] or times
    return dict(build_s=t_build, steps=T * len(timed), steps_per_s=T * len(timed) / sum(timed),
                first_iteration_s=times[0], loss=losses,
                synapses=net.w_in[0].nnz + net.w_rec[0].nnz)


NEST_CHILD = r"""
import json, sys, time
import numpy as np
import nest
a = json.loads(sys.argv[1])
nest.set_verbosity("M_ERROR") if hasattr(nest, "set_verbosity") else None
nest.ResetKernel()
nest.SetKernelStatus({"resolution": 1.0, "local_num_threads": 1, "rng_seed": a["seed"] + 1})
d = np.load(a["conn"])
t0 = time.perf_counter()
n_in, n = len(d["in_ptr"]) - 1, len(d["rec_ptr"]) - 1
gen = nest.Create("poisson_generator", n_in, {"rate": a["rate"]})
par = nest.Create("parrot_neuron", n_in)
nest.Connect(gen, par, "one_to_one")
neu = nest.Create("eprop_iaf", n, {"E_L": 0.0, "V_m": 0.0, "V_th": a["v_th"], "tau_m": a["tau_m"],
                                   "C_m": 1.0, "t_ref": 0.0})
for ptr, idx, w, src0 in ((d["in_ptr"], d["in_idx"], d["in_w"], par[0].global_id),
                          (d["rec_ptr"], d["rec_idx"], d["rec_w"], neu[0].global_id)):
    pre = (np.repeat(np.arange(len(ptr) - 1), np.diff(ptr)) + src0).astype(np.int64)
    post = (idx + neu[0].global_id).astype(np.int64)
    nest.Connect(pre, post, "one_to_one", {"synapse_model": "static_synapse",
                 "weight": w.astype(np.float64), "delay": np.ones(len(w))})
rec = nest.Create("spike_recorder")
nest.Connect(neu, rec)
t_build = time.perf_counter() - t0
t0 = time.perf_counter()
nest.Simulate(float(a["steps"]))
wall = time.perf_counter() - t0
rate = rec.n_events / (n * a["steps"] * 1e-3)
print(json.dumps(dict(build_s=t_build, steps=a["steps"], steps_per_s=a["steps"] / wall,
                      rate_hz=rate, synapses=int(nest.num_connections) - n_in - n)))
"""


def run_child(cmd):
    """(json result of the child's last stdout line or None, peak RSS MB, wall s)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, etext = out.read(), err.read()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"child {cmd[-1][:60]} failed ({proc.returncode}): {etext.strip()[-400:]}",
              file=sys.stderr)
        return None, ru.ru_maxrss / 1024, wall
    return json.loads(text.strip().splitlines()[-1]), ru.ru_maxrss / 1024, wall


def child_cmd(a, phase, out=None):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", phase,
           "--neurons", str(a.neurons), "--k", str(a.k), "--steps", str(a.steps),
           "--train-steps", str(a.train_steps), "--iterations", str(a.iterations),
           "--seed", str(a.seed)]
    return cmd + (["--out", out] if out else [])


def main(argv=None):
    a = parse_args(argv)
    if a.child:
        os.environ.setdefault("NUMBA_NUM_THREADS", "2")
        res = {"forward": lambda: child_forward(a, False, a.out), "forward-mix": lambda: child_forward(a, True),
               "trace": lambda: child_train(a, "trace"), "window": lambda: child_train(a, "window")}[a.child]()
        print(json.dumps(res))
        return
    warm = parse_args(["--neurons", "300", "--steps", "20", "--train-steps", "20",
                       "--iterations", "1"])
    for phase in ("forward-mix", "trace", "window"):   # fill numba's cache (not timed)
        run_child(child_cmd(warm, phase))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        conn = os.path.join(tmp, "conn.npz")
        nest_py, why = (None, "--no-nest") if a.no_nest else find_nest_python()
        for phase in a.phases:
            if phase == "nest":
                if nest_py is None or not os.path.exists(conn):
                    rows.append((phase, None, 0.0, 0.0, f"skipped: {why}" if nest_py is None
                                 else "needs the forward phase"))
                    continue
                spec = dict(conn=conn, steps=a.steps, seed=a.seed, rate=RATE_HZ, v_th=V_TH,
                            tau_m=TAU_M)
                res, rss, wall = run_child([nest_py, "-c", NEST_CHILD, json.dumps(spec)])
            else:
                save = conn if (phase == "forward" and "nest" in a.phases) else None
                res, rss, wall = run_child(child_cmd(a, phase, save))
            rows.append((phase, res, rss, wall, "" if res else "failed"))
    print(f"N = {a.neurons}, {a.k} recurrent + {N_IN * P_IN:g} input synapses per neuron "
          f"(mean), batch 1, float32, dt = 1 ms, 1 process (numba threads: "
          f"{os.environ.get('NUMBA_NUM_THREADS', 'default')})\n")
    print("| run | synapses | build s | steps | steps/s | rate Hz | peak RSS MB | process s | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for phase, res, rss, wall, note in rows:
        if res is None:
            print(f"| {LABELS[phase]} | - | - | - | - | - | - | - | {note} |")
            continue
        rate = f"{res['rate_hz']:.1f}" if "rate_hz" in res else "-"
        if "loss" in res:
            note = f"loss {res['loss'][0]:.3g} -> {res['loss'][-1]:.3g}; first it. {res['first_iteration_s']:.1f} s"
        print(f"| {LABELS[phase]} | {res['synapses']:,} | {res['build_s']:.1f} | {res['steps']} | "
              f"{res['steps_per_s']:.1f} | {rate} | {rss:.0f} | {wall:.1f} | {note} |")


if __name__ == "__main__":
    main()
