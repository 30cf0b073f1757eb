"""The ``"reward"`` loss: reward tables of open-loop tasks, their expected return and accuracy.

An open-loop reward task (the inputs do not depend on the actions: bandits, cue-response
tasks) gives for every trial b a table ``targets[b, t, k]`` = the reward for choosing action k
at step t, and a mask m[b, t] of the decision steps. The readout has n_a + 1 outputs: the policy
logits y_k (k < n_a), pi^t = softmax(y^t[:n_a]), and the value V^t = y^t[n_a] (the critic of
reward-based e-prop, ``eprop_reward``). The table has one column per readout output; its last
column (the value output is not an action) must be 0.

Expected return of trial b under the policy (what reward-based e-prop ascends in expectation):

    J_b = sum_t m_bt sum_{k < n_a} pi_bk^t r_bk^t

The loss is E = -1/B sum_b J_b (minus the mean expected reward per trial), with

    dE/dy_k^t = -m^t pi_k^t (r_k^t - sum_j pi_j^t r_j^t) / B   (k < n_a),   dE/dV^t = 0,

so every gradient rule with ``loss="reward"`` follows the exact policy gradient (BPTT: the
gradient of the expected return; the rules that know the whole table see counterfactual
rewards, which an agent does not: that is what ``eprop-reward`` learns without).
Accuracy: the probability, under the policy, of choosing an optimal action (largest reward in
the table at that step; ties all count), averaged over the decision steps.
"""
import numpy as np

from ..errors import ConfigError


def policy(y):
    """pi = softmax of the policy logits y[..., :-1] (float64)."""
    s = np.asarray(y, dtype=np.float64)[..., :-1]
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def check_table(table):
    """Check a reward table (B, T, n_a + 1) already shaped like the readout; returns it."""
    if table.shape[-1] < 3:
        raise ConfigError("readout.n", f"loss 'reward' needs n_actions + 1 >= 3 readout outputs "
                                       f"(policy logits, then the value), got {table.shape[-1]}")
    if not np.all(np.isfinite(table)):
        raise ConfigError("targets", "the reward table must be finite")
    if np.any(table[..., -1] != 0):
        raise ConfigError("targets", "with loss 'reward' the last column (the value output, not "
                                     "an action) of the reward table must be 0")
    return table


def reward_loss(y, table, m):
    """(E, dE/dy) of the expected return (module docstring); m (B, T) decision steps."""
    B = y.shape[0]
    table = check_table(np.asarray(table, dtype=np.float64))
    pi = policy(y)
    r = table[..., :-1]
    mean_r = np.sum(pi * r, axis=-1, keepdims=True)
    err = np.zeros(y.shape)
    err[..., :-1] = -m[:, :, None] * pi * (r - mean_r) / B
    return float(-np.sum(m * mean_r[..., 0]) / B), err


def optimal_rate(y, table, m):
    """Probability under the policy of an optimal action, averaged over the decision steps."""
    r = np.asarray(table, dtype=np.float64)[..., :-1]
    best = r >= r.max(axis=-1, keepdims=True)
    p = np.sum(policy(y) * best, axis=-1)
    n = np.sum(m)
    return float(np.sum(m * p) / n) if n > 0 else float("nan")
