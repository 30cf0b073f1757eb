"""Independent BPTT oracle: PyTorch autograd (CPU, float64) on the same network and data."""
import pytest

from snnsim.learning import bptt
from nets import assert_active, make_data, make_net, rel_err

torch = pytest.importorskip("torch")
from snnsim.learning.torch_reference import torch_loss  # noqa: E402
pytestmark = pytest.mark.torch


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
