"""RFLO: random-feedback local online learning (Murray 2019, "Local online learning in recurrent
networks with random feedback", eLife 8:e43299), for one recurrent LIF/ALIF layer.

Murray's rule drops every non-local term of RTRL: the eligibility of W[i,j] is the leaky
(membrane time constant) filter of the product of the postsynaptic derivative and the
presynaptic input, and the error reaches neuron j through a fixed random matrix B:

    p_ij^t = alpha_j p_ij^{t-1} + zeta_j psi_j^t pre_i^t           (``kernels.rflo``)
    grad W[i,j] = sum_t lam_j^t p_ij^t ,   lam^t = B gy^t ,  grad W_out exact

pre is the input x^t (W_in) or the layer's spikes z^{t-1} (W_rec). Differences from e-prop:
the filter acts after psi (e-prop: psi times the filtered input), the adaptation and reset
terms are ignored, and B is random (``feedback="random"``, Murray's rule; ``"symmetric"``
uses B = W_out, for fidelity studies). The readout filter is handled as in OSTL (the error is
filtered backwards, gy^t = err^t + kappa gy^{t+1}; with tau_out -> 0 it is Murray's rule).

Cost per trial and step: time O(n_pre N), memory n_pre N values per weight matrix (O(N^2)).
"""
import numpy as np

from snnsim.kernels import rflo as KR

from ..errors import ConfigError
from .common import finish, forward_errors, random_feedback, readout_grad, trial_chunks


def rflo(net, inputs, targets, *, loss="mse", mask=None, feedback="symmetric", rng=None,
         feedback_w=None):
    """Return (loss, grads, y) of RFLO (grads summed over the batch).

    Parameters
    ----------
    net : snnsim.Network
        One layer (recurrent or not).
    inputs, targets : arrays (B, T, n_in), (B, T, n_out)
    loss : {"mse", "ce"}
    mask : array (T,) or (B, T), optional
    feedback : {"symmetric", "random"}
        B = W_out, or a fixed random matrix drawn from ``rng`` (Murray's rule).
    rng : numpy.random.Generator
        Needed for ``feedback="random"`` unless ``feedback_w`` is given.
    feedback_w : array (n, n_out), optional
        The random feedback matrix to use.
    """
    if len(net.layers) != 1:
        raise ConfigError("rule", f"rule 'rflo' needs a network with one layer, got "
                                  f"{len(net.layers)} layers")
    if feedback not in ("symmetric", "random"):
        raise ConfigError("feedback", f"rule 'rflo' takes 'symmetric' or 'random', got {feedback!r}")
    if feedback == "random" and feedback_w is None:
        if not isinstance(rng, np.random.Generator):
            raise ConfigError("rng", "rflo with feedback='random' needs a numpy.random.Generator")
        feedback_w = random_feedback(net, rng)
    fb = net.w_out if feedback == "symmetric" else feedback_w
    value, blocks, y, _, gy = forward_errors(net, inputs, targets, loss, mask)
    blk, p = blocks[0], net.params[0]
    f8 = lambda a: np.ascontiguousarray(a, dtype=np.float64)
    lam = f8(gy @ f8(fb).T)
    grads = []
    for pre in (blk.pre, blk.z_prev if net.w_rec[0] is not None else None):
        if pre is None:
            grads.append(None)
            continue
        B, T, n_pre = pre.shape
        g = np.zeros((B, n_pre, net.sizes[0]))
        work, pre, psi = np.empty_like(g), f8(pre), f8(blk.psi)
        for b in trial_chunks(B, T * n_pre * net.sizes[0]):
            KR.rflo_grad(pre[b], psi[b], lam[b], f8(p["alpha"]), f8(p["zeta"]), work[b], g[b])
        grads.append(g.sum(0).astype(net.dtype))
    return value, finish(net, [tuple(grads)], readout_grad(net, blk.z, gy)), y
