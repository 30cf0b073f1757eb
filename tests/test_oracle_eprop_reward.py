"""Reward-based e-prop: the update against a numpy reference written in the rule's online form
(2-armed bandit, several decisions per episode), and learning a contextual bandit."""
import numpy as np
import pytest

import snnsim
from snnsim import ConfigError
from snnsim.learning import run_rule
from snnsim.learning.eprop_reward import episode_grads


def bandit_net(seed, kind="lif"):
    pop = (snnsim.LIF(6, tau_m=12.0, v_th=0.3) if kind == "lif" else
           snnsim.ALIF(6, tau_m=12.0, v_th=0.3, beta=0.4, tau_a=25.0))
    return snnsim.Network(3, [snnsim.Layer([pop], recurrent=True, w_in_scale=1.5)],
                          snnsim.Readout(3, tau_out=6.0), dtype="float64",
                          rng=np.random.default_rng(seed))


def reference(net, x, actions, rewards, decisions, gamma, c_v, fb):
    """Online form: e-prop traces e, ebar (kappa), q = gamma q + L ebar, Delta W += delta q."""
    blocks, y = net.forward(x)
    blk, p = blocks[0], net.params[0]
    B, T, _ = x.shape
    n, n_a, kappa = net.sizes[0], net.readout.n - 1, net.kappa[0]
    logits = y[:, :, :n_a]
    pi = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    V = y[:, :, n_a]
    out = {}
    names = net.weight_names()
    for name, pre in ((names[0], blk.pre), (names[1], blk.z_prev)):
        dw = np.zeros((pre.shape[2], n))
        for b in range(B):
            ev = np.zeros((pre.shape[2], n))
            ea = np.zeros_like(ev)
            e = np.zeros_like(ev)
            ebar = np.zeros_like(ev)
            q = np.zeros_like(ev)
            for t in range(T):
                ea = p["rho"] * ea + e
                ev = p["alpha"] * ev + p["zeta"] * pre[b, t][:, None]
                e = blk.psi[b, t] * (ev - p["beta"] * ea)
                ebar = kappa * ebar + e
                one = np.zeros(n_a)
                if actions[b, t] >= 0:
                    one[actions[b, t]] = 1.0
                L = fb[:, :n_a] @ ((one - pi[b, t]) * decisions[t]) + c_v * fb[:, n_a]
                q = gamma * q + L[None, :] * ebar
                delta = rewards[b, t] + gamma * (V[b, t + 1] if t + 1 < T else 0.0) - V[b, t]
                dw += delta * q
        out[name] = -dw
    dw = np.zeros_like(net.w_out)
    for b in range(B):
        zbar = np.zeros(n)
        q = np.zeros_like(dw)
        for t in range(T):
            zbar = kappa * zbar + blk.z[b, t]
            one = np.zeros(n_a)
            if actions[b, t] >= 0:
                one[actions[b, t]] = 1.0
            f = np.concatenate([(one - pi[b, t]) * decisions[t], [c_v]])
            q = gamma * q + np.outer(zbar, f)
            delta = rewards[b, t] + gamma * (V[b, t + 1] if t + 1 < T else 0.0) - V[b, t]
            dw += delta * q
    out[names[2]] = -dw
    return out


@pytest.mark.parametrize("kind,feedback", [("lif", "symmetric"), ("alif", "random")])
def test_bandit_update_matches_online_reference(kind, feedback):
    net = bandit_net(3, kind)
    data = np.random.default_rng(4)
    x = (data.random((3, 16, 3)) < 0.4).astype(float)
    decisions = np.zeros(16)
    decisions[[5, 10, 15]] = 1.0
    arms = np.array([0.2, 0.8])
    env = np.random.default_rng(5)
    reward = lambda t, a: (env.random(a.shape) < arms[a]).astype(float)
    fbw = np.random.default_rng(6).standard_normal((6, 3)) / np.sqrt(6)
    g, info = episode_grads(net, x, reward, rng=np.random.default_rng(7), decisions=decisions,
                            gamma=0.8, c_v=0.7, feedback=feedback,
                            feedback_w=fbw if feedback == "random" else None)
    assert (info["actions"][:, [5, 10, 15]] >= 0).all() and (info["actions"][:, 0] == -1).all()
    assert info["rewards"].sum() > 0
    fb = net.w_out if feedback == "symmetric" else fbw
    ref = reference(net, x, info["actions"], info["rewards"], decisions, 0.8, 0.7, fb)
    for name, want in ref.items():
        m = net.masks()[name]
        want = want * (1 if m is None else m)
        assert np.abs(want).max() > 0
        np.testing.assert_allclose(g[name], want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    g2, info2 = episode_grads(net, x, lambda t, a: (np.random.default_rng(t).random(a.shape)
                                                    < arms[a]).astype(float),
                              rng=np.random.default_rng(7), decisions=decisions, gamma=0.8,
                              c_v=0.7, feedback=feedback,
                              feedback_w=fbw if feedback == "random" else None)
    assert np.array_equal(info2["actions"], info["actions"])     # same seed, same actions


def cue_task(rng, B, T=10):
    cue = rng.integers(0, 2, B)
    x = np.zeros((B, T, 4))
    for b in range(B):
        x[b, :6, [0, 1] if cue[b] == 0 else [2, 3]] = rng.random((2, 6)) < 0.6
    return x, cue


def greedy_accuracy(net, seed):
    x, cue = cue_task(np.random.default_rng(seed), 200)
    _, y = net.forward(x)
    return np.mean(y[:, -1, :2].argmax(axis=1) == cue)


def test_learns_contextual_bandit():
    """Cue A or B on two input channels; the arm named by the cue pays 1 at the last step."""
    net = snnsim.Network(4, [snnsim.Layer([snnsim.LIF(20, tau_m=10.0, v_th=0.3)], recurrent=True,
                                          w_in_scale=1.5)],
                         snnsim.Readout(3, tau_out=5.0), dtype="float64",
                         rng=np.random.default_rng(0))
    before = greedy_accuracy(net, 99)
    rng = np.random.default_rng(1)
    dec = np.zeros(10)
    dec[-1] = 1.0
    for _ in range(150):
        x, cue = cue_task(rng, 16)
        g, _ = episode_grads(net, x, lambda t, a: (a == cue).astype(float), rng=rng,
                             decisions=dec, gamma=0.9, c_v=0.5)
        net.set_weights({k: w - 0.004 * g[k] for k, w in net.weights().items()})
    after = greedy_accuracy(net, 99)
    assert before < 0.75 and after > 0.9, (before, after)


def test_errors():
    net = bandit_net(0)
    x = np.zeros((1, 5, 3))
    with pytest.raises(ConfigError, match="rng"):
        episode_grads(net, x, lambda t, a: a * 0.0, rng=None, decisions=np.ones(5))
    with pytest.raises(ConfigError, match="gamma"):
        episode_grads(net, x, lambda t, a: a * 0.0, rng=np.random.default_rng(0),
                      decisions=np.ones(5), gamma=1.5)
    with pytest.raises(ConfigError, match="rewards, not targets"):
        run_rule(net, x, np.zeros((1, 5, 3)), "eprop-reward")
