"""UORO: unbiased online recurrent optimisation (Tallec & Ollivier 2018, ICLR,
"Unbiased online recurrent optimization").

RTRL's influence J^t = ds^t/dtheta (state s = v, a of every neuron and the readout y, see
``tangent.py``; theta = every input and recurrent weight) is replaced by a random rank-1
estimate s~ theta~^T with E[s~ theta~^T] = J. With nu a vector of independent random signs
(one per state entry), D^t = ds^t/ds^{t-1} and I^t = ds^t/dtheta at fixed s^{t-1}:

    rho0 = sqrt(|theta~| / |D s~|),  rho1 = sqrt(|nu^T I| / |nu|)       (variance-minimising)
    s~     <- rho0 D^t s~ + rho1 nu
    theta~ <- theta~ / rho0 + (nu^T I^t) / rho1
    grad   += (dE/dy^t . s~_y) theta~ ,     grad W_out exact (the readout filter of e-prop)

The cross terms have zero mean (nu -> -nu leaves the rho's unchanged), so the gradient is an
unbiased estimate of RTRL's (== BPTT's); its variance is large and grows with T.
Randomness comes only from the numpy Generator passed in (same seed, same numbers).

Cost per trial and step: one Jacobian-vector and one vector-Jacobian product, time O(N^2)
(O(N_params)), memory O(N + N_params) (numpy reference implementation).
"""
import numpy as np

from .. import interrupt

from ..errors import ConfigError, MemoryLimitError
from .common import finish, forward_errors, readout_grad
from .rtrl import DEFAULT_MAX_BYTES, _params
from .tangent import Linearised

EPS = 1e-7


def _norm(arrs, axes):
    return np.sqrt(sum(np.sum(a * a, axis=axes) for a in arrs))


def signs(rng, shape):
    """Independent random signs +-1.0 (float64) drawn from ``rng``."""
    return rng.integers(0, 2, size=shape).astype(np.float64) * 2.0 - 1.0


def check_rng(rng, rule):
    if not isinstance(rng, np.random.Generator):
        raise ConfigError("rng", f"rule {rule!r} is stochastic and needs a numpy.random.Generator")


def check_bytes(need, max_bytes, rule):
    limit = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    if need > limit:
        raise MemoryLimitError(f"{rule} needs {need / 2**30:.2f} GiB (> limit "
                               f"{limit / 2**30:.2f} GiB); use fewer samples, a smaller "
                               f"network/batch, or e-prop")


def uoro_samples(net, inputs, targets, *, rng, samples=1, loss="mse", mask=None, max_bytes=None):
    """Independent UORO estimates. Returns (loss, list of per-sample gradient arrays
    (samples, n_pre, n_post) in ``rtrl._params`` order, readout gradient, y); gradients are
    summed over the batch."""
    check_rng(rng, "uoro")
    value, blocks, y, err, gy = forward_errors(net, inputs, targets, loss, mask)
    lin = Linearised(net, blocks)
    B, T = gy.shape[:2]
    R = int(samples)
    P = sum(int(np.prod(s)) for _, _, s in lin.params)
    check_bytes(8 * B * R * (3 * lin.D + 3 * P), max_bytes, "uoro")
    s_t = np.zeros((B, lin.D, R))
    th = [np.zeros((B, R) + s) for _, _, s in lin.params]
    grads = [np.zeros((R,) + s) for _, _, s in lin.params]
    for t in range(T):
        interrupt.check_inner()
        nu = signs(rng, (B, lin.D, R))
        ds = lin.jvp(t, s_t)
        nui = lin.vjp_immediate(t, nu)
        rho0 = np.sqrt(_norm(th, (2, 3)) / (_norm([ds], (1,)) + EPS)) + EPS   # (B, R)
        rho1 = np.sqrt(_norm(nui, (2, 3)) / (_norm([nu], (1,)) + EPS)) + EPS
        s_t = rho0[:, None, :] * ds + rho1[:, None, :] * nu
        r0, r1 = rho0[:, :, None, None], rho1[:, :, None, None]
        th = [a / r0 + b / r1 for a, b in zip(th, nui)]
        c = np.einsum("bo,bor->br", err[:, t], s_t[:, lin.y0:])
        for g, a in zip(grads, th):
            g += np.einsum("br,brij->rij", c, a)
    return value, grads, readout_grad(net, blocks[-1].z, gy), y


def assemble(net, params, grads, g_out):
    """Gradient dict from per-parameter arrays in ``rtrl._params`` order."""
    per_layer = [[None, None] for _ in net.layers]
    for (q, kind, _), g in zip(params, grads):
        per_layer[q][0 if kind == "in" else 1] = np.asarray(g).astype(net.dtype)
    return finish(net, per_layer, g_out)


def one_estimate(samples_fn, net, inputs, targets, *, rng, loss="mse", mask=None,
                 max_bytes=None):
    """(loss, grads, y) of one estimate of a sampling rule: ``samples_fn`` is
    :func:`uoro_samples` or ``kf_rtrl.kf_rtrl_samples`` (the rule entry points' one home)."""
    value, grads, g_out, y = samples_fn(net, inputs, targets, rng=rng, loss=loss, mask=mask,
                                        max_bytes=max_bytes)
    return value, assemble(net, _params(net), [g[0] for g in grads], g_out), y


def uoro(net, inputs, targets, *, rng, loss="mse", mask=None, max_bytes=None):
    """Return (loss, grads, y) of one UORO estimate (grads summed over the batch).

    Parameters
    ----------
    net : snnsim.Network
    inputs, targets : arrays (B, T, n_in), (B, T, n_out)
    rng : numpy.random.Generator
        Source of the random signs.
    loss : {"mse", "ce"}
    mask : array (T,) or (B, T), optional
    max_bytes : int, optional
        Memory limit, bytes.
    """
    return one_estimate(uoro_samples, net, inputs, targets, rng=rng, loss=loss, mask=mask,
                        max_bytes=max_bytes)
