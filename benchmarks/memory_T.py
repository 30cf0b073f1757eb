"""Peak memory of one gradient computation versus sequence length T, per learning rule.

Each (rule, engine, T) runs in a fresh subprocess and reports the peak of numpy allocations
(tracemalloc; numpy registers its buffers there) and the process's peak RSS. e-prop and
the O(N^2) deep variants advance the network in blocks. With the trace engine their memory
does not grow with T; the window engine keeps the inputs, spikes, pseudo-derivatives and
learning signals of one window (O(W B (n_pre + 2 n)), capped by ``window_mb``, default 256 MB),
so it grows with T until the window is full and is flat after that (shown with
``window_mb`` = 1). BPTT stores the whole history (O(N T)).

    python benchmarks/memory_T.py                 # T = 100, 1000, 10000, 3-layer ALIF network
    python benchmarks/memory_T.py --quick         # tiny version (CI)
"""
import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, tracemalloc
import numpy as np
import snnsim
from snnsim.learning import run_rule
rule, T, n, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
kw = json.loads(sys.argv[5])
rng = np.random.default_rng(0)
net = snnsim.Network(40, [snnsim.Layer([snnsim.LIF(n // 2), snnsim.ALIF(n - n // 2, beta=1.0, tau_a=200.0)],
                                       w_in_scale=3.0) for _ in range(layers)],
                     snnsim.Readout(2), rng=rng)
x = (rng.random((1, T, 40)) < 0.02).astype(np.float32)
tg = rng.standard_normal((1, T, 2))
run_rule(net, x[:, :50], tg[:, :50], rule, **kw)    # compile outside the measurement
tracemalloc.start()
run_rule(net, x, tg, rule, **kw)
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"rule": rule, "T": T, "numpy_peak_mb": peak / 2**20,
                  "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rules", default="bptt,eprop,deep-eprop-spatial,deep-eprop-onehop")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--layers", type=int, default=3)
    args = ap.parse_args(argv)
    Ts = [50, 200] if args.quick else [100, 1000, 10000]
    n = 10 if args.quick else args.n
    rows = []
    window_mb = 0.05 if args.quick else 1.0
    for rule in args.rules.split(","):
        variants = [("-", {})]
        if rule != "bptt":
            variants = [("window", {"block": 256}),
                        (f"window, window_mb={window_mb:g}", {"block": 256, "window_mb": window_mb}),
                        ("trace", {"block": 256, "engine": "trace"})]
        for label, kw in variants:
            for T in Ts:
                out = subprocess.run([sys.executable, "-c", CHILD, rule, str(T), str(n),
                                      str(args.layers), json.dumps(kw)],
                                     capture_output=True, text=True, check=True)
                rows.append(dict(json.loads(out.stdout.strip().splitlines()[-1]), engine=label))
    print("| rule | engine | T | numpy peak (MB) | process peak RSS (MB) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['rule']} | {r['engine']} | {r['T']} | {r['numpy_peak_mb']:.2f} | {r['rss_peak_mb']:.0f} |")
    return rows


if __name__ == "__main__":
    main()
