"""BPTT == central finite differences in the smooth-surrogate mode (sigmoid spikes)."""
import numpy as np
import pytest

from snnsim.learning import bptt
from nets import make_data, make_net

pytestmark = pytest.mark.slow     # finite differences: every test takes > 5 s


def fd_grad(net, x, tg, loss, h=1e-4):
    """Fourth-order central differences (error O(h^4) + rounding ~1e-16 |E| / h)."""
    grads = {}
    for name, w in net.weights().items():
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            old = w[idx]
            vals = []
            for k in (2, 1, -1, -2):
                w[idx] = old + k * h
                vals.append(bptt(net, x, tg, loss=loss)[0])
            w[idx] = old
            g[idx] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
        mask = net.masks()[name]
        grads[name] = g * mask if mask is not None else g
    return grads


@pytest.mark.parametrize("seed,layers,delay,loss", [
    (0, 2, False, "mse"), (1, 2, True, "ce"), (2, 3, False, "ce"), (3, 3, True, "mse")])
def test_bptt_matches_finite_differences(seed, layers, delay, loss):
    net = make_net(seed, layers=layers, delay=delay, surrogate="smooth")
    x, tg = make_data(seed, T=12, loss=loss)
    _, g, _ = bptt(net, x, tg, loss=loss)
    fd = fd_grad(net, x, tg, loss)
    for name in g:
        rel = np.linalg.norm(g[name] - fd[name]) / np.linalg.norm(fd[name])
        assert rel < 1e-6, (name, rel)


def test_fd_check_can_fail():
    """Dropping the reset path from BPTT must be caught by the finite-difference oracle."""
    net = make_net(5, layers=1, surrogate="smooth")
    x, tg = make_data(5, T=12)
    _, g0, _ = bptt(net, x, tg, order=0)
    fd = fd_grad(net, x, tg, "mse")
    name = "layer0.w_in"
    assert np.linalg.norm(g0[name] - fd[name]) / np.linalg.norm(fd[name]) > 1e-3
