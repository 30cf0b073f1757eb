"""Helpers shared by the learning rules: inputs, layer inputs with delays, gradient dicts."""
import numpy as np

from ..inputs import as_source


def sequence(net, inputs):
    """Validated whole input sequence (B, T, n_in) in the network dtype."""
    src = as_source(inputs, net.n_in)
    return src.block(0, src.steps, src.batch, None, net.dtype)


def shift_back(g):
    """Gradient w.r.t. z^{t-1} from a gradient w.r.t. the delayed input at t (last axis time=-2)."""
    out = np.zeros_like(g)
    out[..., :-1, :] = g[..., 1:, :]
    return out


def finish(net, per_layer, g_out):
    """Dict name -> gradient in (pre, post) layout, with connectivity masks applied."""
    grads = {}
    for l, layer in enumerate(net.layers):
        g_in, g_rec = per_layer[l]
        grads[f"{layer.name}.w_in"] = g_in
        if net.w_rec[l] is not None:
            grads[f"{layer.name}.w_rec"] = g_rec
    grads["readout.w_out"] = g_out
    masks = net.masks()
    for name, g in grads.items():
        if masks[name] is not None:
            g *= masks[name]
    return grads


def readout_backward(y_err, kappa):
    """gy^t = err^t + kappa gy^{t+1} (reverse-time filter of the error), (B, T, n_out)."""
    gy = np.empty_like(y_err)
    acc = np.zeros_like(y_err[:, 0])
    for t in range(y_err.shape[1] - 1, -1, -1):
        acc = y_err[:, t] + kappa * acc
        gy[:, t] = acc
    return gy
