"""UORO and KF-RTRL: unbiased estimates of RTRL's gradient (checked by a CLT bound over many
independent samples), KF-RTRL's variance lower than UORO's, seeded determinism."""
import numpy as np
import pytest

from snnsim import ConfigError, MemoryLimitError
from snnsim.learning import run_rule
from snnsim.learning.kf_rtrl import kf_rtrl_samples
from snnsim.learning.uoro import uoro_samples
from nets import assert_active, make_data, make_net

S = 40000          # samples per estimator and network


def setup(layers):
    net = make_net(0, layers=layers, kinds=("mix", "alif"), sizes=[4, 3])
    x, tg = make_data(0, B=2, T=8)
    assert_active(net, x)
    return net, x, tg


def sample_stats(net, samples, ref):
    """Per-entry z scores of the sample mean against ``ref``, total variance, relative bias
    and its CLT bound (4 standard errors of the norm), over the learnt entries."""
    names = [n for n in net.weight_names() if not n.startswith("readout")]
    masks = net.masks()
    z, var, d2, n2 = [], 0.0, 0.0, 0.0
    for name, g in zip(names, samples):
        m = masks[name] if masks[name] is not None else np.ones(g.shape[1:], bool)
        g = g[:, m]
        mean, sd = g.mean(0), g.std(0, ddof=1)
        fixed = sd == 0          # entries no sample moves (silent input or neuron): exact
        assert np.allclose(mean[fixed], ref[name][m][fixed], rtol=0, atol=1e-12)
        z.append((mean - ref[name][m])[~fixed] / (sd[~fixed] / np.sqrt(len(g))))
        var += np.sum(sd ** 2)
        d2 += np.sum((mean - ref[name][m]) ** 2)
        n2 += np.sum(ref[name][m] ** 2)
    z = np.concatenate(z)
    return z, var, np.sqrt(d2 / n2), 4 * np.sqrt(var / S / n2)


@pytest.fixture(scope="module", params=[1, 2])
def estimates(request):
    net, x, tg = setup(request.param)
    _, ref, _ = run_rule(net, x, tg, "rtrl")
    _, eprop, _ = run_rule(net, x, tg, "eprop")
    out = {}
    for name, fn in (("uoro", uoro_samples), ("kf-rtrl", kf_rtrl_samples)):
        rng = np.random.default_rng(11)
        chunks = [fn(net, x, tg, rng=rng, samples=S // 4)[1] for _ in range(4)]
        out[name] = [np.concatenate(c) for c in zip(*chunks)]
    return net, ref, eprop, out


@pytest.mark.parametrize("rule", ["uoro", "kf-rtrl"])
def test_mean_converges_to_rtrl(estimates, rule):
    net, ref, eprop, out = estimates
    z, var, bias, bound = sample_stats(net, out[rule], ref)
    assert np.abs(z).max() < 5.0
    assert np.mean(z ** 2) < 2.0
    assert bias < bound < 0.3          # the bound is tight enough to detect a real bias
    # the same statistics reject a biased gradient (e-prop's): the test can fail
    zb = []
    for n, g in zip(ref, out[rule]):
        sd = g.std(0, ddof=1)
        live = sd > 0
        zb.append((g.mean(0) - eprop[n])[live] / (sd[live] / np.sqrt(len(g))))
    assert np.abs(np.concatenate(zb)).max() > 5.0


def test_kf_rtrl_variance_lower_than_uoro(estimates):
    net, ref, _, out = estimates
    _, var_u, _, _ = sample_stats(net, out["uoro"], ref)
    _, var_k, _, _ = sample_stats(net, out["kf-rtrl"], ref)
    assert var_k < 0.5 * var_u


@pytest.mark.parametrize("rule", ["uoro", "kf-rtrl"])
def test_seeded_and_checked(rule):
    net, x, tg = setup(2)
    g1 = run_rule(net, x, tg, rule, rng=np.random.default_rng(5))[1]
    g2 = run_rule(net, x, tg, rule, rng=np.random.default_rng(5))[1]
    g3 = run_rule(net, x, tg, rule, rng=np.random.default_rng(6))[1]
    assert all(np.array_equal(g1[k], g2[k]) for k in g1)
    assert not np.array_equal(g1["layer0.w_in"] if "layer0.w_in" in g1 else next(iter(g1.values())),
                              g3["layer0.w_in"] if "layer0.w_in" in g3 else next(iter(g3.values())))
    with pytest.raises(ConfigError, match="rng"):
        run_rule(net, x, tg, rule)
    with pytest.raises(MemoryLimitError, match="GiB"):
        run_rule(net, x, tg, rule, rng=np.random.default_rng(0), max_bytes=100)
