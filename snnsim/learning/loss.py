"""Losses inside a learning window and their derivative with respect to the readout.

MSE (regression):        E = 1/B sum_b sum_t m_bt sum_k 0.5 (y_bk^t - y*_bk^t)^2
Cross-entropy (classes): E = -1/B sum_b sum_t m_bt sum_k y*_bk^t log softmax(y_b^t)_k
Reward (open-loop RL):   E = -1/B sum_b sum_t m_bt sum_k pi_bk^t r_bk^t, targets = reward
                         table r, m = decision steps (``reward``: minus the expected return)
``err`` = dE/dy^t, which is the e-prop error term (y - y*) or (pi - pi*) (Bellec et al. 2020).

The loss names are exactly those of :data:`LOSSES` (lower case); every entry point
(:class:`~snnsim.TaskData`, :func:`check_target`, :func:`loss_and_error`, hence every rule)
checks the name with :func:`check_loss`, so another spelling (``"MSE"``) is a one-line
:class:`~snnsim.ConfigError` naming ``loss``, never a silent fallback to cross-entropy.
"""
import numpy as np

from .. import validate as V

#: the allowed loss names: mean squared error, cross-entropy of the softmax readout,
#: minus the expected reward of a reward table (snnsim.learning.reward)
LOSSES = ("mse", "ce", "reward")


def check_loss(kind):
    """``kind`` if it is one of :data:`LOSSES`, else a ConfigError naming ``loss``."""
    return V.choice("loss", kind, LOSSES)


def window_mask(mask, B, T):
    """Broadcast a learning-window mask (None, (T,) or (B, T)) to (B, T) float64."""
    if mask is None:
        return np.ones((B, T))
    try:
        one_d = np.ndim(np.asarray(mask, dtype=object)) == 1
    except ValueError:   # a ragged nest; V.array below reports it
        one_d = False
    m = V.array("mask", mask, (T,) if one_d else (B, T)).astype(np.float64)
    return np.broadcast_to(m, (B, T)).copy() if one_d else m


def check_target(target, y_shape, kind):
    """The target as float64 of shape ``y_shape``, after checking the loss name (a reward table
    is checked too)."""
    check_loss(kind)
    table = V.array("targets", target, y_shape).astype(np.float64)
    if kind == "reward":
        from .reward import check_table
        check_table(table)
    return table


def loss_and_error(y, target, mask, kind):
    """Return (loss, err) with err (B, T, n_out) = dE/dy, in y's dtype.

    Parameters
    ----------
    y : ndarray (B, T, n_out)
        Readout (dimensionless).
    target : ndarray (B, T, n_out)
        Target readout (``"mse"``) or class probabilities (``"ce"``).
    mask : ndarray (B, T) or (T,) or None
        Learning window (1 where the loss counts).
    kind : {"mse", "ce", "reward"}
        Loss name (anything else: :class:`~snnsim.ConfigError` naming ``loss``).
    """
    check_loss(kind)
    B, T, _ = y.shape
    if kind == "reward":
        from .reward import reward_loss
        loss, err = reward_loss(y, target, window_mask(mask, B, T))
        return loss, err.astype(y.dtype)
    m = window_mask(mask, B, T)[:, :, None]
    y64 = y.astype(np.float64)
    if kind == "mse":
        d = y64 - target
        loss = 0.5 * np.sum(m * d * d) / B
        err = m * d / B
    else:
        s = y64 - y64.max(axis=2, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=2, keepdims=True))
        loss = -np.sum(m * target * logp) / B
        err = m * (np.exp(logp) * target.sum(axis=2, keepdims=True) - target) / B
    return float(loss), err.astype(y.dtype)
