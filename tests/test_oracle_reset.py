"""Reset convention: oracles that do not share it.

The reference is an independent numpy BPTT (``numpy_bptt``: own forward loop and own adjoint
recursion, every path kept) and, when torch is installed, torch autograd. Neither has a hop
split or a reset convention, so they can see a convention error in the code under test.
"""
import numpy as np
import pytest

from snnsim import ConfigError
from snnsim.learning import bptt, forward_mode, run_rule
from nets import assert_active, make_data, make_net, rel_err
import numpy_bptt

try:
    import torch  # noqa: F401
    from snnsim.learning.torch_reference import torch_loss
except ImportError:
    torch_loss = None

# feed-forward stacks (no lateral recurrence): layers, kinds, delay, tau_out (0 = no leak)
STACKS = [
    (2, ("lif",), False, 10.0),
    (2, ("alif", "lif"), True, 0.0),
    (3, ("lif",), False, 0.0),
    (3, ("mix", "alif", "lif"), True, 10.0),
    (4, ("alif", "mix"), False, 10.0),
    (4, ("lif", "alif"), True, 0.0),
]


def stack(i):
    """Feed-forward stack number i (refractory period 2 ms in every other one)."""
    layers, kinds, delay, tau_out = STACKS[i]
    net = make_net(10 + i, layers=layers, kinds=kinds, recurrent=False, delay=delay,
                   tau_out=tau_out, t_ref=2.0 if i % 2 else 0.0, sizes=[6, 5, 5, 4][:layers],
                   w_in_scale=0.8)
    x, tg = make_data(10 + i, T=25)
    assert_active(net, x)
    return net, x, tg


def test_numpy_oracle_matches_snnsim_bptt():
    """The independent oracle agrees with snnsim's BPTT (recurrent, ALIF, delay, refractory)."""
    for seed, kw in enumerate([dict(layers=1, kinds=("mix",)),
                               dict(layers=2, kinds=("mix", "alif"), t_ref=2.0),
                               dict(layers=2, kinds=("lif", "mix"), delay=True, surrogate="smooth"),
                               dict(layers=3, kinds=("alif", "mix", "lif"))]):
        net = make_net(seed, **kw)
        x, tg = make_data(seed, T=16)
        assert_active(net, x)
        lb, gb, _ = bptt(net, x, tg)
        ln, gn, _ = numpy_bptt.gradients(net, x, tg)
        assert ln == pytest.approx(lb, rel=1e-12)
        assert rel_err(gb, gn) < 1e-10


@pytest.mark.parametrize("i", range(len(STACKS)))
def test_deep_eprop_local_equals_full_bptt_on_feedforward_stack(i):
    """Order-0 depth recursion with the reset local == BPTT (every path kept) on a stack
    without lateral recurrence; with the reset detached it is not (the oracle can fail)."""
    net, x, tg = stack(i)
    _, ref, _ = numpy_bptt.gradients(net, x, tg)
    _, g_local, _ = forward_mode(net, x, tg, order=0, reset="local")
    assert rel_err(g_local, ref) < 1e-10
    _, g_detach, _ = forward_mode(net, x, tg, order=0, reset="detach")
    assert rel_err(g_detach, ref) > 1e-3


@pytest.mark.skipif(torch_loss is None, reason="torch not installed")
@pytest.mark.parametrize("i", [1, 3, 5])
def test_deep_eprop_local_equals_torch_autograd(i):
    net, x, tg = stack(i)
    lt, gt = torch_loss(net, x, tg, "mse")
    lf, gf, _ = run_rule(net, x, tg, "deep-eprop")          # its default: reset local
    assert lf == pytest.approx(lt, rel=1e-12)
    assert rel_err(gf, gt) < 1e-10


@pytest.mark.parametrize("reset", ["detach", "local"])
def test_order_at_least_T_minus_1_is_bptt(reset):
    """m >= T-1 keeps every path, whatever counts as a hop (recurrent net, ALIF, delay)."""
    net = make_net(7, layers=2, kinds=("mix", "alif"), recurrent=True, delay=True)
    x, tg = make_data(7, T=12)
    assert_active(net, x)
    _, ref, _ = numpy_bptt.gradients(net, x, tg)
    T = x.shape[1]
    for m in (T - 1, T + 2):
        assert rel_err(bptt(net, x, tg, order=m, reset=reset)[1], ref) < 1e-10
    assert rel_err(forward_mode(net, x, tg, order=T - 1, reset=reset)[1], ref) < 1e-10
    assert rel_err(forward_mode(net, x, tg, order=None, reset=reset)[1], ref) < 1e-10
    # below T-1 the truncation is not vacuous
    assert rel_err(bptt(net, x, tg, order=1, reset=reset)[1], ref) > 1e-4


@pytest.mark.parametrize("seed", [1, 12])
def test_local_forward_mode_equals_hop_truncated_bptt(seed):
    """Two implementations of the same truncation (forward in time / reverse) agree."""
    net = make_net(seed, layers=2, kinds=("mix", "alif"), recurrent=True, delay=seed % 2 == 1,
                   t_ref=2.0)
    x, tg = make_data(seed, T=14)
    assert_active(net, x)
    for m in (0, 1, 2, 3):
        gb = bptt(net, x, tg, order=m, reset="local")[1]
        gf = forward_mode(net, x, tg, order=m, reset="local")[1]
        assert rel_err(gf, gb) < 1e-10, m


def random_nets(count=12, T=30):
    """Random 2-3 layer recurrent nets (LIF, ALIF or mixed layers, with or without delay)."""
    out, seed = [], 0
    while len(out) < count:
        rng = np.random.default_rng(1000 + seed)
        layers = int(rng.integers(2, 4))
        kinds = tuple(rng.choice(["lif", "alif", "mix"], layers))
        net = make_net(1000 + seed, layers=layers, kinds=kinds, recurrent=True,
                       delay=bool(rng.integers(0, 2)), sizes=[6, 5, 5][:layers])
        x, tg = make_data(1000 + seed, T=T)
        seed += 1
        try:
            assert_active(net, x)
        except AssertionError:
            continue
        out.append((net, x, tg))
    return out


def test_m_order_local_converges_in_median_every_order():
    """Over 12 random nets the median relative error to BPTT does not increase from m to
    m + 1, m = 0..4 (odd orders included), with the reset local (m-order e-prop itself:
    the forward-mode engine)."""
    errs = []
    for net, x, tg in random_nets():
        _, ref, _ = numpy_bptt.gradients(net, x, tg)
        errs.append([rel_err(forward_mode(net, x, tg, order=m, reset="local")[1], ref)
                     for m in range(6)])
    med = np.median(np.array(errs), axis=0)
    assert med[0] > 0.05    # order 0 is a real approximation on these nets
    assert np.all(np.diff(med) <= 0), med


def test_reset_is_validated():
    net = make_net(0, layers=1)
    x, tg = make_data(0)
    with pytest.raises(ConfigError, match="reset"):
        bptt(net, x, tg, order=0, reset="soft")
    with pytest.raises(ConfigError, match="reset"):
        forward_mode(net, x, tg, order=0, reset="Local")
