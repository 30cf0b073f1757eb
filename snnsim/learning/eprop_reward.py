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
The update is computed after the episode by exchanging the sums over t (backward filters of
delta with gamma and of L Delta with kappa), which gives the online rule's numbers exactly
(the tests compare with the online form); one numba kernel pass per weight matrix.

Cost per trial and step: time O(n_pre N), memory 3 n_pre N values (O(N^2)).
"""
import numpy as np

from .. import validate as V
from ..errors import ConfigError
from .common import finish, random_feedback, readout_backward, sequence
from .ostl import diag_trace_grads


def _softmax(y):
    s = np.exp(y - y.max(axis=-1, keepdims=True))
    return s / s.sum(axis=-1, keepdims=True)


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
    if len(net.layers) != 1:
        raise ConfigError("rule", "rule 'eprop-reward' needs a network with one layer")
    n_a = net.readout.n - 1
    if n_a < 2:
        raise ConfigError("readout.n", "eprop-reward needs n_actions + 1 >= 3 outputs "
                                       "(policy logits, then the value)")
    if not isinstance(rng, np.random.Generator):
        raise ConfigError("rng", "eprop-reward samples actions: give a numpy.random.Generator")
    V.choice("feedback", feedback, ["symmetric", "random"])
    gamma = float(gamma)
    if not 0.0 <= gamma <= 1.0:
        raise ConfigError("gamma", f"must be in [0, 1], got {gamma}")
    V.positive("c_v", c_v, allow_zero=True)
    x = sequence(net, inputs)
    B, T, _ = x.shape
    m = np.asarray(decisions, dtype=np.float64)
    m = np.broadcast_to(V.array("decisions", m, (T,) if m.ndim == 1 else (B, T)), (B, T))
    blocks, y = net.forward(x)
    y = y.astype(np.float64)
    pi = _softmax(y[:, :, :n_a])
    value = y[:, :, n_a]
    actions = np.full((B, T), -1, dtype=np.int64)
    rewards = np.zeros((B, T))
    for t in np.flatnonzero(m.any(axis=0)):
        u = rng.random(B)
        a = np.minimum((np.cumsum(pi[:, t], axis=1) < u[:, None]).sum(axis=1), n_a - 1)
        a = np.where(m[:, t] > 0, a, -1)
        actions[:, t] = a
        r = np.asarray(reward(int(t), a), dtype=np.float64)
        rewards[:, t] = np.where(m[:, t] > 0, V.array("reward", r, (B,)), 0.0)
    v_next = np.concatenate([value[:, 1:], np.zeros((B, 1))], axis=1)
    td = rewards + gamma * v_next - value
    # per-output factor of the update: policy (1[a = k] - pi_k) m, value c_V
    onehot = np.zeros_like(pi)
    bb, tt = np.nonzero(actions >= 0)
    onehot[bb, tt, actions[bb, tt]] = 1.0
    factor = np.concatenate([(onehot - pi) * m[:, :, None], np.full((B, T, 1), float(c_v))], axis=2)
    fb = net.w_out if feedback == "symmetric" else (
        feedback_w if feedback_w is not None else random_feedback(net, rng))
    big_delta = readout_backward(td[:, :, None], gamma)[:, :, 0]    # sum_{t>=s} gamma^(t-s) delta^t
    per_out = factor * big_delta[:, :, None]                          # (B, T, n_a + 1)
    lam = readout_backward(per_out @ np.asarray(fb, np.float64).T, np.float64(net.kappa[0]))
    per_layer = diag_trace_grads(net, blocks, [-lam], [np.zeros(net.sizes[0])])
    g_out = -np.einsum("btj,bto->jo", blocks[0].z,
                       readout_backward(per_out, np.float64(net.kappa[0]))).astype(net.dtype)
    info = {"actions": actions, "rewards": rewards, "td": td, "value": value, "pi": pi}
    return finish(net, per_layer, g_out), info
