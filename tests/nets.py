"""Small random float64 networks and data for the learning-rule oracles."""
import numpy as np

import snnsim


def make_net(seed, *, layers=2, kinds=("mix", "alif"), recurrent=True, delay=False,
             surrogate="piecewise", tau_out=10.0, t_ref=0.0, sizes=None, w_in_scale=1.2):
    """A network with enough activity in every layer for meaningful gradients."""
    rng = np.random.default_rng(seed)
    sizes = sizes or [5, 4, 4][:layers]
    out = []
    for l in range(layers):
        kind = kinds[l % len(kinds)]
        n = sizes[l]
        tau_m = float(rng.uniform(8, 25))
        if kind == "lif":
            pops = [snnsim.LIF(n, tau_m=tau_m, v_th=0.3, t_ref=t_ref, name=f"l{l}lif")]
        elif kind == "lif-shared":
            pops = [snnsim.LIF(n, tau_m=15.0, v_th=0.3, t_ref=t_ref, name=f"l{l}lif")]
        elif kind == "alif":
            pops = [snnsim.ALIF(n, tau_m=tau_m, v_th=0.3, beta=0.4, tau_a=30.0, t_ref=t_ref,
                                name=f"l{l}alif")]
        else:
            k = n // 2
            pops = [snnsim.LIF(k, tau_m=tau_m, v_th=0.3, t_ref=t_ref, name=f"l{l}lif"),
                    snnsim.ALIF(n - k, tau_m=tau_m * 1.3, v_th=0.3, beta=0.4, tau_a=30.0,
                                t_ref=t_ref, name=f"l{l}alif")]
        out.append(snnsim.Layer(pops, recurrent=recurrent, delay=delay and l > 0,
                                w_in_scale=w_in_scale, w_rec_scale=1.0))
    return snnsim.Network(3, out, snnsim.Readout(2, tau_out=tau_out), dtype="float64",
                          surrogate=surrogate, sigma=0.2, rng=rng)


def make_data(seed, B=2, T=20, n_in=3, loss="mse"):
    rng = np.random.default_rng(seed + 100)
    x = (rng.random((B, T, n_in)) < 0.35).astype(np.float64)
    if loss == "mse":
        tg = rng.standard_normal((B, T, 2))
    else:
        tg = np.eye(2)[rng.integers(0, 2, (B, T))]
    return x, tg


def rel_err(a, b):
    """Worst relative error over the weight matrices of two gradient dicts."""
    worst = 0.0
    for k in b:
        nb = np.linalg.norm(b[k])
        d = np.linalg.norm(a[k] - b[k])
        worst = max(worst, d / nb if nb > 0 else d)
    return worst


def assert_active(net, x):
    blocks, _ = net.forward(x)
    for l, blk in enumerate(blocks):
        assert blk.z.sum() > 0, f"layer {l} silent: the oracle would be vacuous"
        assert np.count_nonzero(blk.psi) >= 5, f"layer {l}: pseudo-derivative almost always 0"
