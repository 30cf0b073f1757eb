"""Helpers shared by the learning rules: inputs, layer inputs with delays, gradient dicts."""
from collections import namedtuple

import numpy as np

from .. import interrupt
from ..inputs import as_source

#: operations of one kernel call between two interrupt checks (a fraction of a second)
CHUNK_OPS = 1 << 26


# the top layer's learning signal err fb^T in factored form: err (B, K, n_out), fb (n, n_out)
# (n_out << n: engines that need the dense signal form it, the window engine keeps err)
LowRank = namedtuple("LowRank", "err fb")


def readout_error(net, err):
    """dE/d(input of the readout filter): err scaled by the readout's input scale c (1 with
    regular spike arrival, else 1 - kappa). Every rule's gradient is linear in err after the
    readout, so scaling it once here gives each rule the readout y = kappa y + c W z."""
    return err if net.readout.regular_spike_arrival else err * net.readout_scale


def sequence(net, inputs):
    """Validated whole input sequence (B, T, n_in) in the network dtype."""
    src = as_source(inputs, net.n_in)
    return src.block(0, src.steps, src.batch, None, net.dtype)


def trial_chunks(B, ops_per_trial):
    """Slices of a batch of B trials for kernels that treat trials independently, each of
    about ``CHUNK_OPS`` operations (at least one trial per numba thread), with
    :func:`snnsim.interrupt.check_inner` before each: SIGINT/SIGTERM is honoured within a
    fraction of a second. The results are those of one call (the trials do not interact)."""
    import numba
    step = max(numba.get_num_threads(), CHUNK_OPS // max(1, int(ops_per_trial)))
    for b0 in range(0, B, step):
        interrupt.check_inner()
        yield slice(b0, min(B, b0 + step))


def shift_back(g):
    """Gradient w.r.t. z^{t-1} from a gradient w.r.t. the delayed input at t (last axis time=-2)."""
    out = np.zeros_like(g)
    out[..., :-1, :] = g[..., 1:, :]
    return out


def finish(net, per_layer, g_out):
    """Dict name -> gradient in (pre, post) layout, with connectivity masks applied."""
    grads = {}
    for name, l, kind, _, mask in net.weight_table():
        g = g_out if kind == "out" else per_layer[l][0 if kind == "in" else 1]
        if mask is not None:
            g *= mask
        grads[name] = g
    return grads


def readout_backward(y_err, kappa):
    """gy^t = err^t + kappa gy^{t+1} (reverse-time filter of the error), (B, T, n_out)."""
    gy = np.empty_like(y_err)
    acc = np.zeros_like(y_err[:, 0])
    for t in range(y_err.shape[1] - 1, -1, -1):
        acc = y_err[:, t] + kappa * acc
        gy[:, t] = acc
    return gy


def forward_errors(net, inputs, targets, loss, mask):
    """Whole-sequence forward pass, dE/dy and the readout adjoint of the loss: (value, blocks,
    y, err, gy) with err = dE/dy^t scaled by the readout's input scale (``readout_error``) and
    gy^t = err^t + kappa gy^{t+1}, (B, T, n_out) float64."""
    from .loss import check_target, loss_and_error
    x = sequence(net, inputs)
    blocks, y = net.forward(x)
    value, err = loss_and_error(y, check_target(targets, y.shape, loss), mask, loss)
    err = readout_error(net, err.astype(np.float64))
    return value, blocks, y, err, readout_backward(err, np.float64(net.kappa[0]))


def readout_grad(net, z_top, gy):
    """Exact readout-weight gradient sum_t z^t (outer) gy^t, summed over the batch (n, n_out)."""
    return np.einsum("btj,bto->jo", z_top, gy).astype(net.dtype)


def random_feedback(net, rng):
    """Fixed random feedback matrix (n_top, n_out), entries N(0, 1/n_top), drawn from ``rng``."""
    shape = (net.sizes[-1], net.readout.n)
    return (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(net.dtype)
