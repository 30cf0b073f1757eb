"""BPTT with PyTorch autograd (CPU) on a snnsim Network: an independent reference and a peer.

Same equations as ``kernels/forward.py``; the spike's backward is Bellec's piecewise-linear
pseudo-derivative (or the exact sigmoid derivative in the smooth mode), refractory neurons
have psi = 0. Used by the oracle test and by ``benchmarks/vs_torch.py``; needs ``torch``.
"""
import numpy as np
import torch


class PiecewiseSpike(torch.autograd.Function):
    """Heaviside forward, Bellec's piecewise-linear pseudo-derivative backward."""

    @staticmethod
    def forward(ctx, d, v_th, gamma):
        ctx.save_for_backward(d, v_th, gamma)
        return (d >= 0).to(d.dtype)

    @staticmethod
    def backward(ctx, g):
        d, v_th, gamma = ctx.saved_tensors
        psi = gamma / v_th * torch.clamp(1 - d.abs() / v_th, min=0)
        return g * psi, None, None


def torch_loss(net, x, tg, loss, dtype=torch.float64):
    """(loss, grads) of BPTT through autograd; grads masked like snnsim's (absent synapses).
    ``loss="reward"``: minus the expected reward, tg = the reward table times the decision
    mask (softmax over the outputs but the last, the value)."""
    T = x.shape[1]
    tt = lambda a: torch.tensor(np.asarray(a, dtype=np.float64)).to(dtype)
    weights = {k: tt(w).requires_grad_(True) for k, w in net.weights().items()}
    pre_seq = [tt(x[:, t]) for t in range(T)]
    for l, layer in enumerate(net.layers):
        p = {k: tt(v) for k, v in net.params[l].items()}
        B, n = x.shape[0], layer.n
        v = torch.zeros(B, n, dtype=dtype)
        a, z = torch.zeros_like(v), torch.zeros_like(v)
        ref = torch.zeros(B, n, dtype=torch.int64)
        outs = []
        for t in range(T):
            if layer.delay:
                inp = pre_seq[t - 1] if t > 0 else torch.zeros_like(pre_seq[0])
            else:
                inp = pre_seq[t]
            cur = inp @ weights[f"{layer.name}.w_in"]
            if f"{layer.name}.w_rec" in weights:
                cur = cur + z @ weights[f"{layer.name}.w_rec"]
            v = p["alpha"] * v + p["zeta"] * cur - p["v_th"] * z
            a = p["rho"] * a + z
            d = v - (p["v_th"] + p["beta"] * a)
            if net.surrogate == "smooth":
                z = torch.sigmoid(d / net.sigma)
            else:
                free = (ref == 0).to(dtype)
                z = PiecewiseSpike.apply(d, p["v_th"], p["gamma"]) * free
                ref = torch.where(ref > 0, ref - 1, torch.where(z > 0, p["ref_steps"], ref))
            outs.append(z)
        pre_seq = outs
    kappa = tt(net.kappa)
    scale = tt(net.readout.input_scale(net.dt))   # 1, or 1 - kappa without regular spike arrival
    y = torch.zeros(x.shape[0], net.readout.n, dtype=dtype)
    total = 0.0
    target = tt(tg)
    for t in range(T):
        y = kappa * y + scale * (pre_seq[t] @ weights["readout.w_out"])
        if loss == "mse":
            total = total + 0.5 * ((y - target[:, t]) ** 2).sum()
        elif loss == "reward":
            total = total - (torch.softmax(y[:, :-1], dim=1) * target[:, t, :-1]).sum()
        else:
            total = total - (target[:, t] * torch.log_softmax(y, dim=1)).sum()
    total = total / x.shape[0]
    total.backward()
    masks = net.masks()   # absent synapses (no autapses, sparse masks) are not learnable
    return total.item(), {k: w.grad.numpy() * (1 if masks[k] is None else masks[k])
                          for k, w in weights.items()}
