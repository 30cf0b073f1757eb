"""Taxonomy map: every gradient rule on the same two networks, fidelity against cost.

Runs each rule on (A) one recurrent layer and (B) three recurrent layers (LIF + ALIF, float64,
the same inputs and targets), and measures for each:
  - cosine similarity of its gradient of the input and recurrent weights (all layers, the
    readout left out: it is exact for every rule) with BPTT's,
  - wall time per time step (best of ``--reps`` runs after a warm-up that compiles the kernels),
  - peak of numpy allocations during one gradient (tracemalloc; every array of the rules
    here, the kernels' traces included, is allocated by numpy).
UORO and KF-RTRL are stochastic: one estimate per seed, the cosine is the median over
``--seeds`` seeds (their mean over seeds converges to RTRL: tests/test_oracle_uoro_kf.py).
Rules that do not apply to a network (rflo on three layers) or exceed the memory limit are
listed as skipped. Writes taxonomy.csv and taxonomy.png to ``--out``.

eprop-reward learns from rewards: its row (column ``objective`` = "reward"; the others "mse")
uses the same hidden network with a 3-output readout (2 action logits, then the value) and a
reward table on the same inputs (a decision every 10 steps, each arm paying 1 with probability
0.3 or 0.7, drawn per trial). Its cosine is that of the mean of ``--reward-episodes`` sampled
updates (policy term) with BPTT's gradient of minus the expected return, whose e-prop
counterpart is printed alongside; its time is one sampled update (one batch of episodes).

Timings use one numba thread (``--threads``) so that they compare the rules' work rather
than the thread pool's behaviour on a shared machine.

    python benchmarks/taxonomy.py                  # N = 32 / 3 x 16 neurons, T = 300, B = 4
    python benchmarks/taxonomy.py --quick          # tiny version (CI)
"""
import argparse
import csv
import os
import sys
import time
import tracemalloc

if __name__ == "__main__":      # before numba is imported
    _t = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--threads=")]
    os.environ.setdefault("NUMBA_NUM_THREADS", _t[0] if _t else "1")

import numpy as np  # noqa: E402

import snnsim  # noqa: E402
from snnsim import ConfigError, MemoryLimitError
from snnsim.learning import run_rule  # noqa: E402
from snnsim.learning.fidelity import compare  # noqa: E402

RULES = ["bptt", "tbptt-k{k}", "rtrl", "snap-n1", "snap-n2", "uoro", "kf-rtrl", "rflo", "ostl",
         "eprop", "eprop-m1", "eprop-m2", "deep-eprop", "deep-eprop-spatial",
         "deep-eprop-onehop"]
STOCHASTIC = ("uoro", "kf-rtrl")


def network(layers, n, n_in, seed, n_out=2):
    rng = np.random.default_rng(seed)
    ls = [snnsim.Layer([snnsim.LIF(n // 2, tau_m=20.0, v_th=0.5),
                        snnsim.ALIF(n - n // 2, tau_m=20.0, v_th=0.5, beta=0.5, tau_a=100.0)],
                       recurrent=True, w_in_scale=2.0, name=f"h{l}") for l in range(layers)]
    return snnsim.Network(n_in, ls, snnsim.Readout(n_out, tau_out=20.0), dtype="float64",
                          rng=rng)


def reward_task(B, T, data):
    """A reward table (B, T, 3) and decision mask (B, T): 2 arms, a decision every 10 steps."""
    p = np.where(data.random((B, 1, 2)) < 0.5, 0.3, 0.7)
    table = np.zeros((B, T, 3))
    mask = np.zeros((B, T))
    mask[:, 9::10] = 1.0
    table[:, :, :2] = (data.random((B, T, 2)) < p) * mask[:, :, None]
    return table, mask


def reward_row(layers, n, n_in, x, data, reps, episodes):
    """eprop-reward's row on the reward objective, and e-prop's cosine on that objective."""
    from snnsim.learning.eprop_reward import mean_update
    name = f"{layers} layer{'s' if layers > 1 else ''} x {n}"
    net = network(layers, n, n_in, seed=2, n_out=3)     # the same hidden weights
    table, mask = reward_task(x.shape[0], x.shape[1], data)
    kw = dict(loss="reward", mask=mask)
    row = {"network": name, "rule": "eprop-reward", "objective": "reward"}
    try:
        gs, step_s, peak = measure(net, x, table, "eprop-reward", reps, 1, None, **kw)
    except ConfigError as exc:
        if exc.field != "rule":
            raise
        return {**row, "cosine": np.nan, "us_per_step": np.nan, "peak_mib": np.nan,
                "status": f"skipped: {exc}"}, None
    _, ref, _ = run_rule(net, x, table, "bptt", **kw)
    est = mean_update(net, x, table, mask=mask, episodes=episodes, rng=np.random.default_rng(7))
    eprop = run_rule(net, x, table, "eprop", **kw)[1]
    cos = compare(core(est["policy"]), core(ref))[0]
    return ({**row, "cosine": cos, "us_per_step": step_s * 1e6, "peak_mib": peak / 2**20,
             "status": "ok"}, compare(core(eprop), core(ref))[0])


def core(g):
    return np.concatenate([v.ravel() for k, v in g.items() if not k.startswith("readout")])


def measure(net, x, tg, rule, reps, seeds, max_bytes, **kw):
    if max_bytes is not None:
        kw["max_bytes"] = max_bytes
    rng = lambda s: np.random.default_rng(s)
    short = {**kw, **({"mask": kw["mask"][:, :5]} if "mask" in kw else {})}
    run_rule(net, x[:, :5], tg[:, :5], rule, rng=rng(0), **short)       # compile
    tracemalloc.start()
    tracemalloc.reset_peak()
    _, g, _ = run_rule(net, x, tg, rule, rng=rng(0), **kw)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    best = np.inf
    for r in range(reps):
        t0 = time.perf_counter()
        run_rule(net, x, tg, rule, rng=rng(r), **kw)
        best = min(best, time.perf_counter() - t0)
    gs = [g] + ([run_rule(net, x, tg, rule, rng=rng(s), **kw)[1] for s in range(1, seeds)]
                if rule in STOCHASTIC else [])
    return gs, best / x.shape[1], peak


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=".")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--max-gib", type=float, default=2.0)
    ap.add_argument("--T", type=int, default=300, help="steps per sequence")
    ap.add_argument("--threads", default="1", help="numba threads (give as --threads=K)")
    ap.add_argument("--reward-episodes", type=int, default=1000,
                    help="sampled updates averaged for eprop-reward's cosine")
    args = ap.parse_args(argv)
    if args.quick:
        nets, T, B, n_in, reps, seeds = [(1, 8), (3, 6)], 20, 2, 6, 1, 2
        args.reward_episodes = 20
    else:
        nets, T, B, n_in, reps, seeds = [(1, 32), (3, 16)], args.T, 4, 20, args.reps, args.seeds
    data = np.random.default_rng(1)
    x = (data.random((B, T, n_in)) < 0.1).astype(np.float64)
    tg = np.cumsum(data.standard_normal((B, T, 2)), axis=1) / np.sqrt(T)
    rows, reward_notes = [], {}
    for layers, n in nets:
        net = network(layers, n, n_in, seed=2)
        name = f"{layers} layer{'s' if layers > 1 else ''} x {n}"
        _, ref, _ = run_rule(net, x, tg, "bptt")
        for rule in [r.format(k=max(1, T // 10)) for r in RULES]:
            try:
                gs, step_s, peak = measure(net, x, tg, rule, reps, seeds,
                                           int(args.max_gib * 2**30))
            except (MemoryLimitError, ConfigError) as exc:
                if isinstance(exc, ConfigError) and exc.field != "rule":
                    raise
                rows.append({"network": name, "rule": rule, "objective": "mse", "cosine": np.nan,
                             "us_per_step": np.nan, "peak_mib": np.nan,
                             "status": f"skipped: {exc}"})
                continue
            cos = float(np.median([compare(core(g), core(ref))[0] for g in gs]))
            rows.append({"network": name, "rule": rule, "objective": "mse", "cosine": cos,
                         "us_per_step": step_s * 1e6, "peak_mib": peak / 2**20, "status": "ok"})
        row, cos_eprop = reward_row(layers, n, n_in, x, np.random.default_rng(3), reps,
                                    args.reward_episodes)
        rows.append(row)
        if cos_eprop is not None:
            reward_notes[name] = cos_eprop
    for name in {r["network"] for r in rows}:
        e = [r["us_per_step"] for r in rows if r["network"] == name and r["rule"] == "eprop"][0]
        for r in rows:
            if r["network"] == name:
                r["time_vs_eprop"] = r["us_per_step"] / e
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "taxonomy.csv")
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["network", "rule", "objective", "cosine", "us_per_step",
                                          "time_vs_eprop", "peak_mib", "status"])
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)
    figure(rows, os.path.join(args.out, "taxonomy.png"))
    print(f"networks: {', '.join(f'{l} x {n}' for l, n in nets)} neurons; T = {T}, B = {B}, "
          f"float64, {os.environ.get('NUMBA_NUM_THREADS', 'all')} numba thread(s); "
          f"stochastic rules: median of {seeds} seeds; eprop-reward (*): reward objective, "
          f"mean of {args.reward_episodes} sampled updates")
    print("| network | rule | cosine to BPTT | us / step | time / e-prop | peak numpy MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        star = " *" if r["objective"] == "reward" else ""
        if r["status"] == "ok":
            print(f"| {r['network']} | {r['rule']}{star} | {r['cosine']:.3f} | {r['us_per_step']:.0f} "
                  f"| {r['time_vs_eprop']:.2f} | {r['peak_mib']:.2f} |")
        else:
            print(f"| {r['network']} | {r['rule']}{star} | {r['status']} | | | |")
    for name, c in reward_notes.items():
        print(f"\n(*) {name}: on the reward objective e-prop's cosine to BPTT is {c:.3f}; "
              f"eprop-reward's mean update estimates e-prop's gradient of the expected return")
    print(f"wrote {path} and {os.path.join(args.out, 'taxonomy.png')}")


def figure(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    nets = sorted({r["network"] for r in rows})
    fig, axes = plt.subplots(2, len(nets), figsize=(6 * len(nets), 9), squeeze=False)
    for c, name in enumerate(nets):
        ok = [r for r in rows if r["network"] == name and r["status"] == "ok"]
        for row, (key, label) in enumerate((("peak_mib", "peak numpy memory per gradient (MiB)"),
                                            ("us_per_step", "time per step (us)"))):
            ax = axes[row, c]
            for r in ok:
                ax.scatter(r[key], r["cosine"], s=25)
                tag = r["rule"] + (" (reward, mean)" if r["objective"] == "reward" else "")
                ax.annotate(tag, (r[key], r["cosine"]), fontsize=7,
                            xytext=(3, 2), textcoords="offset points")
            ax.set_xscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel("cosine to BPTT")
            ax.set_title(name)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
