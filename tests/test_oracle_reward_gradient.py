"""eprop-reward against what it estimates, in float64, with oracles that do not share its code:

- the "reward" loss (minus the expected return of a reward table) and its derivative against
  finite differences in the readout, and BPTT with it against torch autograd of the same
  objective (the exact policy gradient);
- the mean of many sampled updates (one forward pass, independent action draws) against the
  expectation derived in ``eprop_reward``'s docstring, per entry within a CLT bound: the policy
  term's mean is e-prop's gradient of the expected return (the readout's: BPTT's, exact), the
  critic term's is c_V times e-prop's gradient of its semi-gradient objective; the same
  statistics reject BPTT's hidden-weight gradient (the test can fail);
- the cosine of the mean update to BPTT's gradient, printed and compared with e-prop's.
"""
import numpy as np
import pytest

import snnsim
from snnsim import ConfigError
from snnsim.learning import gradients, run_rule
from snnsim.learning.eprop_reward import critic_targets, mean_update, reward_fidelity
from snnsim.learning.fidelity import compare
from snnsim.learning.reward import reward_loss
from snnsim.tasks import make_task

S = 3000     # sampled batches of episodes per estimate


def bandit_setup(kind="mix", seed=0, B=3, p_reward=0.8):
    pops = [snnsim.LIF(6, tau_m=15.0, v_th=0.3)]
    if kind == "mix":
        pops.append(snnsim.ALIF(5, tau_m=20.0, v_th=0.3, beta=0.4, tau_a=30.0))
    net = snnsim.Network(20, [snnsim.Layer(pops, recurrent=True, w_in_scale=1.5)],
                         snnsim.Readout(3, tau_out=5.0), dtype="float64",
                         rng=np.random.default_rng(seed))
    d = make_task("bandit", np.random.default_rng(seed + 1), batch=B, p_reward=p_reward,
                  delay_ms=5.0)
    return net, d


def test_reward_loss_derivative_matches_finite_differences():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((2, 4, 4))
    table = np.zeros((2, 4, 4))
    table[..., :3] = rng.random((2, 4, 3))
    m = (rng.random((2, 4)) < 0.6).astype(float)
    J = lambda yy: -np.sum(m * np.sum(np.exp(yy[..., :3]) / np.exp(yy[..., :3]).sum(-1, keepdims=True)
                                      * table[..., :3], -1)) / 2
    loss, err = reward_loss(y, table, m)
    assert loss == pytest.approx(J(y), rel=1e-13)
    fd = np.zeros_like(y)
    for idx in np.ndindex(y.shape):
        e = np.zeros_like(y)
        e[idx] = 1e-6
        fd[idx] = (J(y + e) - J(y - e)) / 2e-6
    np.testing.assert_allclose(err, fd, atol=1e-9)
    assert np.all(err[..., 3] == 0) and np.abs(err).max() > 1e-3


@pytest.mark.parametrize("kind", ["lif", "mix"])
def test_bptt_reward_loss_matches_torch_autograd(kind):
    pytest.importorskip("torch")
    from snnsim.learning.torch_reference import torch_loss
    net, d = bandit_setup(kind)
    loss, g, _ = run_rule(net, d.inputs, d.targets, "bptt", loss="reward", mask=d.mask)
    t_loss, t_g = torch_loss(net, d.inputs, d.targets * d.mask[:, :, None], "reward")
    assert loss == pytest.approx(t_loss, rel=1e-12)
    for k in g:
        assert np.abs(g[k]).max() > 0
        np.testing.assert_allclose(g[k], t_g[k], rtol=1e-9, atol=1e-12 * np.abs(t_g[k]).max())


def z_scores(mean, sd, ref):
    live = sd > 0
    assert np.allclose(mean[~live], ref[~live], atol=1e-12)   # entries no sample moves: exact
    return (mean - ref)[live] / (sd[live] / np.sqrt(S))


@pytest.fixture(scope="module", params=["lif", "mix"])
def sampled(request):
    net, d = bandit_setup(request.param)
    est = mean_update(net, d.inputs, d.targets, mask=d.mask, episodes=S,
                      rng=np.random.default_rng(5), gamma=0.8, c_v=0.7)
    return net, d, est


@pytest.mark.slow
def test_mean_policy_update_is_eprop_gradient_of_expected_return(sampled):
    net, d, est = sampled
    kw = dict(loss="reward", mask=d.mask)
    ep = run_rule(net, d.inputs, d.targets, "eprop", **kw)[1]
    bp = run_rule(net, d.inputs, d.targets, "bptt", **kw)[1]
    far = []
    for k in ep:
        z = z_scores(est["policy"][k], est["policy_sd"][k], ep[k])
        assert np.abs(z).max() < 5.0, k
        bound = 4 * np.linalg.norm(est["policy_sd"][k]) / np.sqrt(S)
        assert np.linalg.norm(est["policy"][k] - ep[k]) < bound < 0.5 * np.linalg.norm(ep[k])
        if k.startswith("readout"):      # the readout's mean is the exact gradient
            assert np.abs(z_scores(est["policy"][k], est["policy_sd"][k], bp[k])).max() < 5.0
        else:                            # e-prop's hidden-weight gradient is not BPTT's
            far.append(np.abs(z_scores(est["policy"][k], est["policy_sd"][k], bp[k])).max())
        cos_mean, cos_eprop = compare(est["policy"][k], bp[k])[0], compare(ep[k], bp[k])[0]
        print(f"{k}: cosine to BPTT of the mean of {S} updates {cos_mean:.4f}, "
              f"of e-prop {cos_eprop:.4f}")
        assert abs(cos_mean - cos_eprop) < 0.05
    assert max(far) > 5.0


@pytest.mark.slow
def test_mean_critic_update_is_semi_gradient_of_value_error(sampled):
    net, d, est = sampled
    tg = critic_targets(net, d.inputs, d.targets, mask=d.mask, gamma=0.8)
    ep = run_rule(net, d.inputs, tg, "eprop", loss="mse")[1]
    bp = run_rule(net, d.inputs, tg, "bptt", loss="mse")[1]
    for k in ep:
        z = z_scores(est["critic"][k], est["critic_sd"][k], 0.7 * ep[k])
        assert np.abs(z).max() < 5.0, k
    np.testing.assert_allclose(bp["readout.w_out"][:, :2], 0.0, atol=0)
    z = z_scores(est["critic"]["readout.w_out"], est["critic_sd"]["readout.w_out"],
                 0.7 * bp["readout.w_out"])
    assert np.abs(z).max() < 5.0
    # a wrong discount is rejected
    wrong = critic_targets(net, d.inputs, d.targets, mask=d.mask, gamma=0.5)
    bw = run_rule(net, d.inputs, wrong, "bptt", loss="mse")[1]["readout.w_out"]
    assert np.abs(z_scores(est["critic"]["readout.w_out"], est["critic_sd"]["readout.w_out"],
                           0.7 * bw)).max() > 5.0


def test_reward_fidelity_rows_and_gradients_api():
    net, d = bandit_setup("mix", p_reward=1.0)
    rows = reward_fidelity(net, d.inputs, d.targets, mask=d.mask, episodes=400,
                           rng=np.random.default_rng(1))
    cos = {(r["rule"], r["weight"]): r["cosine"] for r in rows}
    assert cos[("eprop-reward", "readout.w_out")] > 0.95
    assert cos[("eprop-reward/critic", "readout.w_out")] > 0.99
    assert all(r["noise"] > 0 for r in rows)
    g = gradients(net, d.inputs, d.targets, rule="eprop-reward", loss="reward", mask=d.mask,
                  rng=np.random.default_rng(2))
    g2 = gradients(net, d.inputs, d.targets, rule="eprop-reward", loss="reward", mask=d.mask,
                   rng=np.random.default_rng(2))
    for k, w in net.weights().items():
        assert g[k].shape == w.shape and np.isfinite(g[k]).all() and np.array_equal(g[k], g2[k])


def test_errors_name_the_field():
    net, d = bandit_setup("lif")
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="loss"):
        run_rule(net, d.inputs, d.targets, "eprop-reward", loss="mse", rng=rng)
    bad = d.targets.copy()
    bad[:, -1, -1] = 1.0
    with pytest.raises(ConfigError, match="last column"):
        run_rule(net, d.inputs, bad, "eprop-reward", loss="reward", mask=d.mask, rng=rng)
    with pytest.raises(ConfigError, match="last column"):
        run_rule(net, d.inputs, bad, "bptt", loss="reward", mask=d.mask)
    with pytest.raises(ConfigError, match="gamma"):
        run_rule(net, d.inputs, d.targets, "eprop-reward", loss="reward", rng=rng, gamma=1.5)
    with pytest.raises(ConfigError, match="gamma"):
        run_rule(net, d.inputs, d.targets, "bptt", loss="reward", gamma=0.5)
    with pytest.raises(ConfigError, match="rng"):
        run_rule(net, d.inputs, d.targets, "eprop-reward", loss="reward")
