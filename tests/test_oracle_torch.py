"""Independent BPTT oracle: PyTorch autograd (CPU, float64) on the same network and data."""
import numpy as np
import pytest

from snnsim.learning import bptt
from nets import assert_active, make_data, make_net, rel_err

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


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


def torch_loss(net, x, tg, loss):
    T = x.shape[1]
    tt = lambda a: torch.tensor(np.asarray(a, dtype=np.float64))
    weights = {k: tt(w).requires_grad_(True) for k, w in net.weights().items()}
    pre_seq = [tt(x[:, t]) for t in range(T)]
    for l, layer in enumerate(net.layers):
        p = {k: tt(v) for k, v in net.params[l].items()}
        B, n = x.shape[0], layer.n
        v = torch.zeros(B, n, dtype=torch.float64)
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
                free = (ref == 0).to(torch.float64)
                z = PiecewiseSpike.apply(d, p["v_th"], p["gamma"]) * free
                ref = torch.where(ref > 0, ref - 1, torch.where(z > 0, p["ref_steps"], ref))
            outs.append(z)
        pre_seq = outs
    kappa = tt(net.kappa)
    y = torch.zeros(x.shape[0], net.readout.n, dtype=torch.float64)
    total = 0.0
    target = tt(tg)
    for t in range(T):
        y = kappa * y + pre_seq[t] @ weights["readout.w_out"]
        if loss == "mse":
            total = total + 0.5 * ((y - target[:, t]) ** 2).sum()
        else:
            total = total - (target[:, t] * torch.log_softmax(y, dim=1)).sum()
    total = total / x.shape[0]
    total.backward()
    masks = net.masks()   # absent synapses (no autapses, sparse masks) are not learnable
    return total.item(), {k: w.grad.numpy() * (1 if masks[k] is None else masks[k])
                          for k, w in weights.items()}


@pytest.mark.parametrize("seed,layers,delay,surrogate,t_ref,loss", [
    (0, 1, False, "piecewise", 0.0, "mse"), (1, 2, True, "piecewise", 2.0, "ce"),
    (2, 3, False, "piecewise", 0.0, "mse"), (3, 2, True, "smooth", 0.0, "ce")])
def test_bptt_equals_torch_autograd(seed, layers, delay, surrogate, t_ref, loss):
    net = make_net(seed, layers=layers, delay=delay, surrogate=surrogate, t_ref=t_ref)
    x, tg = make_data(seed, T=25, loss=loss)
    assert_active(net, x)
    lt, gt = torch_loss(net, x, tg, loss)
    lb, gb, _ = bptt(net, x, tg, loss=loss)
    assert lb == pytest.approx(lt, rel=1e-12)
    assert rel_err(gb, gt) < 1e-10
