"""The taxonomy rules with a readout whose input is scaled (regular_spike_arrival = False:
y = kappa y + (1 - kappa) W z) give the hidden-weight gradients of the equivalent network with
the scale folded into W_out (the same function), and the readout gradient times the scale.
(UORO and KF-RTRL take the same scaled error, but their random estimates normalise by the
readout's tangent, which differs between the two networks: equal in mean only, not tested
here.)"""
import numpy as np
import pytest

import snnsim
from snnsim.learning import run_rule
from snnsim.tasks import make_task


def pair(layers, n_out):
    def build(regular):
        pops = lambda: [snnsim.LIF(4, tau_m=12.0, v_th=0.3),
                        snnsim.ALIF(3, tau_m=15.0, v_th=0.3, beta=0.4, tau_a=30.0)]
        return snnsim.Network(20, [snnsim.Layer(pops(), w_in_scale=1.5) for _ in range(layers)],
                              snnsim.Readout(n_out, tau_out=5.0, regular_spike_arrival=regular),
                              dtype="float64", rng=np.random.default_rng(4))
    scaled, plain = build(False), build(True)
    w = scaled.weights()
    w["readout.w_out"] = w["readout.w_out"] * scaled.readout_scale
    plain.set_weights(w)
    assert np.all(scaled.readout_scale < 0.5)
    return scaled, plain


CASES = [(r, 1) for r in ("ostl", "snap-n1", "rflo", "tbptt-k5", "eprop-reward")] + [
    (r, 2) for r in ("ostl", "snap-n1", "tbptt-k5")]


@pytest.mark.parametrize("rule,layers", CASES)
def test_scaled_readout_equals_folded_weights(rule, layers):
    d = make_task("bandit", np.random.default_rng(0), batch=2)
    scaled, plain = pair(layers, 3)
    if rule == "eprop-reward":
        x, tg, kw = d.inputs, d.targets, dict(loss="reward", mask=d.mask)
    else:
        x = d.inputs
        tg, kw = np.random.default_rng(1).standard_normal(d.targets.shape), {}
    _, ga, ya = run_rule(scaled, x, tg, rule, rng=np.random.default_rng(2), **kw)
    _, gb, yb = run_rule(plain, x, tg, rule, rng=np.random.default_rng(2), **kw)
    np.testing.assert_allclose(ya, yb, rtol=1e-12, atol=1e-12)
    for k in ga:
        want = gb[k] * (scaled.readout_scale if k == "readout.w_out" else 1.0)
        assert np.abs(want).max() > 0, k
        np.testing.assert_allclose(ga[k], want, rtol=1e-9, atol=1e-10 * np.abs(want).max())
