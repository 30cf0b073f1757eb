"""OSTL: online spatio-temporal learning (Bohnstingl, Wozniak, Pantazi & Eleftheriou 2022,
IEEE TNNLS, doi:10.1109/TNNLS.2022.3153985).

The gradient is split into a temporal part, carried forward per synapse inside each layer,
and a spatial part, passed down through the layers at the same step:

  temporal (eligibility of W^l[i,j], own-neuron Jacobian, ``kernels.diag_trace``):
      ev^t = alpha_j ev^{t-1} + d_j dz^{t-1} + zeta_j pre_i^t,   ea^t = rho_j ea^{t-1} + dz^{t-1}
      dz^t = psi_j^t (ev^t - beta_j ea^t)
      d_j = zeta_j W_rec[j,j] - v_th_j   (reset = "local", the default: the paper keeps the
            reset and the neuron's own recurrent term in the temporal Jacobian)
      d_j = 0                            (reset = "detach": reset and self-connection cut)
  spatial (learning signal of layer l, same step; a one-step inter-layer delay shifts it by 1):
      lam^L_j^t = sum_k W_out[j,k] gy_k^t
      lam^l_j^t = sum_k W_in^{l+1}[j,k] zeta_k psi^{l+1}_k^t lam^{l+1}_k^t
  grad W^l[i,j] = sum_t lam^l_j^t dz_ij^t ;   grad W_out exact.

The paper's claims checked by the tests: one layer without lateral recurrence, reset local ->
exactly BPTT; reset detached and no self-connections -> exactly e-prop (deep: the spatial deep
e-prop). Lateral recurrence (off-diagonal W_rec) and temporal cross-layer paths are dropped.

The readout filter: online, the traces are kappa-filtered and paired with W_out err^t;
here the error is filtered backwards instead (gy), which gives the same sum (exchange of the
sums over t and s) with one trace fewer.

Cost per trial and step: time O(sum_l n_pre,l n_l) (O(N^2)), memory 3 n_pre,l n_l per layer
(O(N^2)), plus O(B T n_out) for gy.
"""
import numpy as np

from snnsim.kernels import diag_trace as KD

from .common import finish, forward_errors, readout_grad, shift_back, trial_chunks


def spatial_signals(net, blocks, lam_top):
    """Learning signal of every layer: lam_top (B, T, n_L) passed down at the same step
    (through zeta psi W_in of the layer above; shifted by one step across a delay)."""
    lams = [None] * len(net.layers)
    lams[-1] = lam_top
    for l in range(len(net.layers) - 2, -1, -1):
        p = net.params[l + 1]
        h = (p["zeta"] * blocks[l + 1].psi.astype(np.float64)) * lams[l + 1]
        lam = h @ net.w_in[l + 1].astype(np.float64).T
        lams[l] = shift_back(lam) if net.layers[l + 1].delay else lam
    return lams


def self_hop(net, l, reset):
    """d_j of layer l: zeta_j W_rec[j,j] - v_th_j ("local") or 0 ("detach")."""
    p = net.params[l]
    if reset == "detach":
        return np.zeros(net.sizes[l])
    d = -p["v_th"].astype(np.float64)
    if net.w_rec[l] is not None:
        d = d + p["zeta"] * np.diag(net.w_rec[l]).astype(np.float64)
    return d


def diag_trace_grads(net, blocks, lams, diags):
    """Per-layer [(grad W_in, grad W_rec or None)] of the diagonal traces with signals ``lams``
    and self hops ``diags`` (lists over layers)."""
    f8 = np.float64
    out = []
    for l, blk in enumerate(blocks):
        p = {k: np.ascontiguousarray(v, dtype=f8) for k, v in net.params[l].items()}
        psi = np.ascontiguousarray(blk.psi, dtype=f8)
        lam = np.ascontiguousarray(lams[l], dtype=f8)
        grads = []
        for pre in (blk.pre, blk.z_prev if net.w_rec[l] is not None else None):
            if pre is None:
                grads.append(None)
                continue
            B, T, n_pre = pre.shape
            g = np.zeros((B, n_pre, net.sizes[l]))
            ev, ea, dz = (np.empty_like(g) for _ in range(3))
            pre = np.ascontiguousarray(pre, dtype=f8)
            d = np.ascontiguousarray(diags[l])
            for b in trial_chunks(B, T * n_pre * net.sizes[l]):
                KD.diag_trace_grad(pre[b], psi[b], lam[b], p["alpha"], p["zeta"], p["beta"],
                                   p["rho"], d, ev[b], ea[b], dz[b], g[b])
            grads.append(g.sum(0).astype(net.dtype))
        out.append(tuple(grads))
    return out


def ostl(net, inputs, targets, *, loss="mse", mask=None, reset="local"):
    """Return (loss, grads, y) of OSTL (grads summed over the batch).

    Parameters
    ----------
    net : snnsim.Network
    inputs, targets : arrays (B, T, n_in), (B, T, n_out)
    loss : {"mse", "ce"}
    mask : array (T,) or (B, T), optional
    reset : {"local", "detach"}
        Keep the reset (and self-connection) in the temporal Jacobian, or cut it.
    """
    value, blocks, y, _, gy = forward_errors(net, inputs, targets, loss, mask)
    lams = spatial_signals(net, blocks, gy @ net.w_out.astype(np.float64).T)
    per_layer = diag_trace_grads(net, blocks, lams,
                                 [self_hop(net, l, reset) for l in range(len(net.layers))])
    return value, finish(net, per_layer, readout_grad(net, blocks[-1].z, gy)), y
