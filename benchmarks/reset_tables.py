"""The two tables of issue 12, regenerated: per-layer fidelity of deep-eprop and eprop-m1 on a
3-layer feed-forward LIF stack, and m = 0 vs m = 1 over 12 random recurrent nets.

    python benchmarks/reset_tables.py

Uses the networks of the tests (``tests/test_reset_rules.py::issue_stack``: 3 x 16 LIF, no
lateral recurrence, 20 inputs at 20 % activity, T = 60, float64, tau_out = 20 ms;
``tests/test_oracle_reset.py::random_nets``: 12 random 2-3 layer recurrent LIF/ALIF nets with
or without delay, T = 30). Reference: snnsim's BPTT (itself equal to an independent numpy
BPTT to ~1e-15, tests/test_oracle_reset.py).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from snnsim.learning import bptt, gradients  # noqa: E402
from snnsim.learning.fidelity import compare  # noqa: E402
from test_oracle_reset import random_nets  # noqa: E402
from test_reset_rules import issue_stack  # noqa: E402


def main():
    net, x, tg = issue_stack()
    ref = bptt(net, x, tg)[1]
    print("| rule | reset | layer0.w_in cos / norm ratio | layer1.w_in | layer2.w_in |")
    print("|---|---|---|---|---|")
    for rule, reset in (("deep-eprop", None), ("deep-eprop", "detach"), ("eprop-m1", None),
                        ("eprop-m1", "detach")):
        g = gradients(net, x, tg, rule, reset=reset)
        cells = []
        for l in range(3):
            k = f"layer{l}.w_in"
            cos, _ = compare(g[k], ref[k])
            cells.append(f"{cos:+.3f} / {np.linalg.norm(g[k]) / np.linalg.norm(ref[k]):.3f}x")
        print(f"| `{rule}` | {reset or 'default (local)'} | " + " | ".join(cells) + " |")
    print()
    print("| reset | median rel. error m=0 | m=1 | m=1 worse than m=0 | m=1 cosine < 0 |")
    print("|---|---:|---:|---:|---:|")
    nets = random_nets()
    for reset in ("local", "detach"):
        e0, e1, c1 = [], [], []
        for net, x, tg in nets:
            ref = bptt(net, x, tg)[1]
            flat = lambda g: np.concatenate([g[k].ravel() for k in ref])
            g0 = flat(gradients(net, x, tg, "eprop-m0", reset=reset))
            g1 = flat(gradients(net, x, tg, "eprop-m1", reset=reset))
            e0.append(compare(g0, flat(ref))[1])
            cos1, rel1 = compare(g1, flat(ref))
            e1.append(rel1)
            c1.append(cos1)
        e0, e1 = np.array(e0), np.array(e1)
        print(f"| {reset} | {np.median(e0):.3f} | {np.median(e1):.3f} | "
              f"{int((e1 > e0).sum())} of {len(nets)} | {int((np.array(c1) < 0).sum())} of {len(nets)} |")


if __name__ == "__main__":
    main()
