"""Reward-based e-prop: actor-critic with eligibility traces (Bellec et al. 2020, Nat. Commun.
11:3625, "Reward-based e-prop", Methods and Supplementary Note 5), for one LIF/ALIF layer.

The readout has n_a + 1 outputs: policy logits y_k (k < n_a), pi^t = softmax(y^t[:n_a]), and
the value V^t = y^t[n_a]. At decision steps (m^t = 1) an action a^t ~ pi^t is drawn from the
Generator passed in; the task returns the rewards r^t. With the TD error
    delta^t = r^t + gamma V^{t+1} - V^t          (V^T = 0 after the last step)
the learning signal of neuron j and the eligibility traces of e-prop (reset detached),
    L_j^t = m^t sum_k B^pi_jk (1[a^t = k] - pi_k^t) + c_V B^V_j
    ebar_ij^t = kappa ebar_ij^{t-1} + e_ij^t            (e: e-prop's trace, kernels.diag_trace)
    q_ij^t = gamma q_ij^{t-1} + L_j^t ebar_ij^t
    Delta W[i,j] = eta sum_t delta^t q_ij^t    (ascent on the return; B = W_out^T or random)
and for the readout the same with ebar replaced by the filtered spikes zbar_j^t and L by the
output's own factor ((1[a^t = k] - pi_k^t) m^t for the policy, c_V for the value).
The returned "gradient" is -Delta W / eta, so an optimiser step w -= lr g follows the rule.

Tasks: open loop (the inputs do not depend on the actions: bandits, cue-response tasks).
Through the common rule API (``gradients(net, x, table, rule="eprop-reward", loss="reward",
mask=decisions, rng=...)``, ``[train] rule = "eprop-reward"``) the targets are a reward table
r[b, t, k] (the reward of action k at step t; ``snnsim.learning.reward``), read for
the sampled actions; the returned gradient is then divided by the batch size, like the other
rules' gradients of a batch-mean loss, and the loss is minus the mean obtained reward per trial.

What the rule estimates. Exchanging the sums, Delta W = sum_s L^s ebar^s (G^s - V^s) with the
discounted return G^s = sum_{t>=s} gamma^(t-s) r^t. In an open-loop task the network state and
V^s do not depend on the actions, and r^t depends on a^t alone, so over the actions
E[(1[a^s = k] - pi_k^s)(G^s - V^s)] = pi_k^s (r_k^s - sum_j pi_j^s r_j^s): the mean of the
policy term (c_V = 0) is e-prop's gradient (the same traces and feedback) of the expected
return J = sum_t m^t sum_k pi_k^t r_k^t, i.e. its exact gradient for the readout and e-prop's
approximation of it for the hidden weights (symmetric feedback). The mean of the critic term
is c_V times e-prop's gradient of 1/2 sum_t (V^t - Gbar^t)^2 with Gbar the expected discounted
return, held fixed (a semi-gradient). :func:`mean_update` samples both terms and
:func:`reward_fidelity` compares them with BPTT (``snnsim gradcheck``, ``fidelity``).

The update is computed after the episode by exchanging the sums over t (backward filters of
delta with gamma and of L Delta with kappa), which gives the online rule's numbers exactly
(the tests compare with the online form); one numba kernel pass per weight matrix.

Cost per trial and step: time O(n_pre N), memory 3 n_pre N values (O(N^2)).
"""
import numpy as np

from .. import interrupt, validate as V
from ..errors import ConfigError
from .common import finish, random_feedback, readout_backward, readout_error, sequence
from .loss import window_mask
from .ostl import diag_trace_grads
from .reward import check_table, policy


def _setup(net, rng, feedback, feedback_w, gamma, c_v):
    """Validate the rule's settings; return (gamma, c_v, feedback matrix (n, n_a + 1))."""
    if len(net.layers) != 1:
        raise ConfigError("rule", "rule 'eprop-reward' needs a network with one layer, got "
                                  f"{len(net.layers)} layers")
    if net.readout.n - 1 < 2:
        raise ConfigError("readout.n", "eprop-reward needs n_actions + 1 >= 3 outputs "
                                       "(policy logits, then the value)")
    if not isinstance(rng, np.random.Generator):
        raise ConfigError("rng", "eprop-reward samples actions: give a numpy.random.Generator")
    V.choice("feedback", feedback, ["symmetric", "random"])
    gamma = float(gamma)
    if not 0.0 <= gamma <= 1.0:
        raise ConfigError("gamma", f"must be in [0, 1], got {gamma}")
    V.positive("c_v", c_v, allow_zero=True)
    if feedback == "symmetric":
        fb = net.w_out
    else:
        fb = feedback_w if feedback_w is not None else random_feedback(net, rng)
        fb = V.array("feedback_w", fb, net.w_out.shape)
    return gamma, float(c_v), np.asarray(fb, np.float64)


def _decisions(m, B, T):
    m = np.asarray(m, dtype=np.float64)
    return np.broadcast_to(V.array("decisions", m, (T,) if m.ndim == 1 else (B, T)), (B, T))


def _sample(pi, m, reward, rng):
    """Actions a^t ~ pi^t at the decision steps (inverse CDF of one uniform per trial and
    step, from ``rng``), -1 elsewhere, and the rewards ``reward(t, a)`` they obtain."""
    B, T, n_a = pi.shape
    actions = np.full((B, T), -1, dtype=np.int64)
    rewards = np.zeros((B, T))
    for t in np.flatnonzero(m.any(axis=0)):
        u = rng.random(B)
        a = np.minimum((np.cumsum(pi[:, t], axis=1) < u[:, None]).sum(axis=1), n_a - 1)
        a = np.where(m[:, t] > 0, a, -1)
        actions[:, t] = a
        r = np.asarray(reward(int(t), a), dtype=np.float64)
        rewards[:, t] = np.where(m[:, t] > 0, V.array("reward", r, (B,)), 0.0)
    return actions, rewards


def _terms(net, blocks, pi, value, actions, rewards, m, gamma, c_v, fb, split=False):
    """Minus the rule's update summed over the batch: one dict, or with ``split`` the policy
    term and the critic term (the update is linear in the per-output factors)."""
    B, T, n_a = pi.shape
    v_next = np.concatenate([value[:, 1:], np.zeros((B, 1))], axis=1)
    td = rewards + gamma * v_next - value
    big_delta = readout_backward(td[:, :, None], gamma)    # sum_{t>=s} gamma^(t-s) delta^t
    onehot = np.zeros_like(pi)
    bb, tt = np.nonzero(actions >= 0)
    onehot[bb, tt, actions[bb, tt]] = 1.0
    fac_pi = np.concatenate([(onehot - pi) * m[:, :, None], np.zeros((B, T, 1))], axis=2)
    fac_v = np.zeros((B, T, n_a + 1))
    fac_v[:, :, n_a] = c_v
    kappa = np.float64(net.kappa[0])
    out = []
    for fac in ((fac_pi, fac_v) if split else (fac_pi + fac_v,)):
        per_out = readout_error(net, fac * big_delta)            # (B, T, n_a + 1)
        lam = readout_backward(per_out @ fb.T, kappa)
        per_layer = diag_trace_grads(net, blocks, [-lam], [np.zeros(net.sizes[0])])
        g_out = -np.einsum("btj,bto->jo", blocks[0].z,
                           readout_backward(per_out, kappa)).astype(net.dtype)
        out.append(finish(net, per_layer, g_out))
    return out if split else out[0]


def episode_grads(net, inputs, reward, *, rng, decisions, gamma=0.9, c_v=0.5,
                  feedback="symmetric", feedback_w=None):
    """Run one batch of episodes, sample actions, collect rewards, return the update.

    Parameters
    ----------
    net : snnsim.Network
        One layer; readout with n_a + 1 outputs (policy logits, then the value).
    inputs : array (B, T, n_in)
    reward : callable (t, actions (B,) int) -> rewards (B,)
        Called at every decision step; other steps give reward 0.
    rng : numpy.random.Generator
        Draws the actions.
    decisions : array (T,) or (B, T) of 0/1
        Steps at which an action is taken.
    gamma : float
        Discount factor per step, in [0, 1].
    c_v : float
        Weight of the critic's learning signal (>= 0).
    feedback : {"symmetric", "random"}
        B = W_out^T, or a fixed random matrix (``feedback_w``, or drawn from ``rng``).

    Returns
    -------
    grads : dict name -> array (pre, post)
        Minus the rule's update (descent direction), summed over the batch.
    info : dict
        actions (B, T) int (-1 where no decision), rewards (B, T), td (B, T), value (B, T),
        pi (B, T, n_a).
    """
    gamma, c_v, fb = _setup(net, rng, feedback, feedback_w, gamma, c_v)
    x = sequence(net, inputs)
    B, T, _ = x.shape
    m = _decisions(decisions, B, T)
    blocks, y = net.forward(x)
    y = y.astype(np.float64)
    pi, value = policy(y), y[:, :, -1]
    actions, rewards = _sample(pi, m, reward, rng)
    grads = _terms(net, blocks, pi, value, actions, rewards, m, gamma, c_v, fb)
    v_next = np.concatenate([value[:, 1:], np.zeros((B, 1))], axis=1)
    info = {"actions": actions, "rewards": rewards, "td": rewards + gamma * v_next - value,
            "value": value, "pi": pi}
    return grads, info


def _table_episode(net, inputs, targets, loss, mask, rng, settings):
    """Shared set-up of the table form: (x, table, m, blocks, y, pi, value, reward, gamma, c_v,
    fb) after validating everything."""
    if loss != "reward":
        raise ConfigError("loss", f"rule 'eprop-reward' learns from rewards, not targets: it "
                                  f"needs loss 'reward' (targets = a reward table), got {loss!r}")
    gamma, c_v, fb = _setup(net, rng, **settings)
    x = sequence(net, inputs)
    B, T, _ = x.shape
    table = check_table(V.array("targets", targets, (B, T, net.readout.n)).astype(np.float64))
    m = window_mask(mask, B, T)
    blocks, y = net.forward(x)
    y64 = y.astype(np.float64)
    rows = np.arange(B)
    reward = lambda t, a: table[rows, t, a]
    return x, table, m, blocks, y, policy(y64), y64[:, :, -1], reward, gamma, c_v, fb


def eprop_reward(net, inputs, targets, *, loss="reward", mask=None, rng=None, gamma=0.9,
                 c_v=0.5, feedback="symmetric", feedback_w=None):
    """Return (loss, grads, y) of reward-based e-prop on an open-loop task given as a reward
    table (the rule API; ``snnsim.learning.reward``).

    Parameters
    ----------
    net : snnsim.Network
        One layer; readout with n_a + 1 outputs (policy logits, then the value).
    inputs : array (B, T, n_in)
    targets : array (B, T, n_a + 1)
        Reward table: targets[b, t, k] is the reward of action k at step t; last column 0.
    loss : {"reward"}
    mask : array (T,) or (B, T), optional
        Decision steps (default: every step).
    rng : numpy.random.Generator
        Draws the actions (and a random feedback matrix when ``feedback_w`` is not given).
    gamma, c_v, feedback, feedback_w
        As :func:`episode_grads`.

    Returns
    -------
    loss : float
        Minus the mean obtained reward per trial (sampled actions).
    grads : dict name -> array (pre, post)
        Minus the rule's update divided by the batch size.
    y : array (B, T, n_a + 1)
        Readout.
    """
    settings = dict(feedback=feedback, feedback_w=feedback_w, gamma=gamma, c_v=c_v)
    x, table, m, blocks, y, pi, value, reward, gamma, c_v, fb = _table_episode(
        net, inputs, targets, loss, mask, rng, settings)
    B = x.shape[0]
    actions, rewards = _sample(pi, m, reward, rng)
    grads = _terms(net, blocks, pi, value, actions, rewards, m, gamma, c_v, fb)
    return float(-rewards.sum() / B), {k: g / B for k, g in grads.items()}, y


def mean_update(net, inputs, targets, *, episodes, rng, mask=None, gamma=0.9, c_v=0.5,
                feedback="symmetric", feedback_w=None):
    """Sample the rule's policy and critic terms over ``episodes`` independent batches of
    episodes (one forward pass: open loop) and return their means and spreads.

    Returns
    -------
    dict
        "policy", "critic": dict name -> mean over episodes of the term (as the ``grads`` of
        :func:`eprop_reward`); "policy_sd", "critic_sd": per-entry standard deviations over the
        episodes (float64); "episodes": the count.
    """
    V.count("episodes", episodes, minimum=2)
    settings = dict(feedback=feedback, feedback_w=feedback_w, gamma=gamma, c_v=c_v)
    x, table, m, blocks, y, pi, value, reward, gamma, c_v, fb = _table_episode(
        net, inputs, targets, "reward", mask, rng, settings)
    B = x.shape[0]
    acc = {}
    for _ in range(episodes):
        interrupt.check_inner()
        actions, rewards = _sample(pi, m, reward, rng)
        terms = _terms(net, blocks, pi, value, actions, rewards, m, gamma, c_v, fb, split=True)
        for term, g in zip(("policy", "critic"), terms):
            for k, v in g.items():
                v = v.astype(np.float64) / B
                s = acc.setdefault((term, k), [0.0, 0.0])
                s[0] = s[0] + v
                s[1] = s[1] + v * v
    out = {"policy": {}, "critic": {}, "policy_sd": {}, "critic_sd": {}, "episodes": episodes}
    for (term, k), (s1, s2) in acc.items():
        mean = s1 / episodes
        out[term][k] = mean
        out[f"{term}_sd"][k] = np.sqrt(np.maximum(s2 / episodes - mean * mean, 0.0)
                                       * episodes / (episodes - 1))
    return out


def critic_targets(net, inputs, targets, *, mask=None, gamma=0.9):
    """MSE targets whose BPTT gradient, times c_V, is the exact gradient of the critic term's
    mean: the readout y itself on the policy outputs (no error there) and the expected
    discounted return Gbar^s = sum_{t>=s} gamma^(t-s) m^t sum_k pi_k^t r_k^t on the value
    output (with the mask of every step)."""
    x = sequence(net, inputs)
    B, T, _ = x.shape
    table = check_table(V.array("targets", targets, (B, T, net.readout.n)).astype(np.float64))
    m = window_mask(mask, B, T)
    y = net.forward(x)[1].astype(np.float64)
    expected = m * np.sum(policy(y) * table[..., :-1], axis=-1)
    out = y.copy()
    out[..., -1] = readout_backward(expected[:, :, None], float(gamma))[..., 0]
    return out


def reward_fidelity(net, inputs, targets, *, episodes, rng, mask=None, gamma=0.9, c_v=0.5):
    """Rows (rule, weight, cosine, rel_error, norm, noise) of the mean of ``episodes`` sampled
    updates against BPTT: "eprop-reward" (policy term) against the gradient of minus the
    expected return (BPTT with ``loss="reward"``), "eprop-reward/critic" against c_V times
    BPTT of the critic's objective (:func:`critic_targets`). ``noise``: the standard error of
    the mean, ||sd|| / sqrt(episodes), relative to ||BPTT||. Symmetric feedback."""
    from .bptt import bptt
    from .fidelity import compare
    est = mean_update(net, inputs, targets, episodes=episodes, rng=rng, mask=mask, gamma=gamma,
                      c_v=c_v)
    refs = {"policy": bptt(net, inputs, targets, loss="reward", mask=mask)[1],
            "critic": {k: c_v * g for k, g in bptt(
                net, inputs, critic_targets(net, inputs, targets, mask=mask, gamma=gamma),
                loss="mse", mask=None)[1].items()}}
    rows = []
    for term, rule in (("policy", "eprop-reward"), ("critic", "eprop-reward/critic")):
        for k, ref in refs[term].items():
            cos, rel = compare(est[term][k], ref)
            nref = np.linalg.norm(ref)
            noise = (float(np.linalg.norm(est[f"{term}_sd"][k]) / np.sqrt(episodes) / nref)
                     if nref > 0 else float("nan"))
            rows.append({"rule": rule, "weight": k, "cosine": cos, "rel_error": rel,
                         "norm": float(np.linalg.norm(est[term][k])), "noise": noise})
    return rows
