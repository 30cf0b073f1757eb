"""Helpers shared by the learning rules: inputs, layer inputs with delays, gradient dicts,
and the reset convention.

Reset convention of the approximate rules (the reset -v_th z_j^{t-1} is a path from neuron j
to itself):
- ``"detach"``: the reset is an explicit self hop, W~ = zeta W_rec - v_th I, cut with the lateral
  weights at order 0 (Bellec et al. 2020's code and NEST's e-prop);
- ``"local"``: the reset stays in the within-neuron Jacobian,
  dv^t/dv^{t-1} = alpha - v_th psi^{t-1},  dv^t/da^{t-1} = v_th beta psi^{t-1},
  da^t/dv^{t-1} = psi^{t-1},              da^t/da^{t-1} = rho - beta psi^{t-1},
  and a hop is one pass through zeta W_rec only.
Exact rules (BPTT, RTRL) give the same gradient with either.
"""
import numpy as np

from .. import validate as V
from ..inputs import as_source

RESETS = ("detach", "local")


def check_reset(reset):
    """Validated reset convention ("detach" or "local"); ConfigError naming ``reset`` otherwise."""
    return V.choice("reset", reset, RESETS)


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
