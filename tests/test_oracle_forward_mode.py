"""RTRL == BPTT; m-order sensitivities == hop-truncated BPTT; deep e-prop full == BPTT order 0."""
import pytest

from snnsim import MemoryLimitError
from snnsim.learning import bptt, forward_mode, run_rule
from nets import assert_active, make_data, make_net, rel_err

CASES = [  # seed, layers, kinds, recurrent, delay, surrogate, t_ref, loss
    (0, 1, ("mix",), True, False, "piecewise", 0.0, "mse"),
    (1, 2, ("mix", "alif"), True, False, "piecewise", 2.0, "ce"),
    (2, 2, ("lif", "mix"), True, True, "smooth", 0.0, "mse"),
    (3, 3, ("alif", "mix", "lif"), True, False, "piecewise", 0.0, "mse"),
    (4, 3, ("mix",), False, True, "piecewise", 0.0, "ce"),
]


def build(case):
    seed, layers, kinds, rec, delay, surr, t_ref, loss = case
    net = make_net(seed, layers=layers, kinds=kinds, recurrent=rec, delay=delay,
                   surrogate=surr, t_ref=t_ref)
    x, tg = make_data(seed, T=16, loss=loss)
    assert_active(net, x)
    return net, x, tg, loss


@pytest.mark.parametrize("case", CASES)
def test_rtrl_equals_bptt(case):
    net, x, tg, loss = build(case)
    lb, gb, _ = bptt(net, x, tg, loss=loss)
    lr, gr, _ = run_rule(net, x, tg, "rtrl", loss=loss)
    assert lr == pytest.approx(lb, rel=1e-12)
    assert rel_err(gr, gb) < 1e-10


@pytest.mark.parametrize("case", CASES)
def test_m_order_equals_hop_truncated_bptt(case):
    net, x, tg, loss = build(case)
    _, full, _ = bptt(net, x, tg, loss=loss)
    for m in (0, 1, 2):
        _, gb, _ = bptt(net, x, tg, loss=loss, order=m)
        _, gf, _ = forward_mode(net, x, tg, loss=loss, order=m)
        assert rel_err(gf, gb) < 1e-10, m
    # truncation is not vacuous: order 0 differs from the full gradient
    _, g0, _ = bptt(net, x, tg, loss=loss, order=0)
    assert rel_err(g0, full) > 1e-3
    # m >= T-1 recovers BPTT exactly
    T = x.shape[1]
    _, gT, _ = run_rule(net, x, tg, f"eprop-m{T - 1}", loss=loss)
    assert rel_err(gT, full) < 1e-10


def test_m_order_converges_monotonically_on_average():
    net, x, tg, loss = build(CASES[3])
    _, full, _ = bptt(net, x, tg, loss=loss)
    errs = [rel_err(bptt(net, x, tg, loss=loss, order=m)[1], full) for m in range(0, 15, 2)]
    assert errs[-1] < errs[0]


@pytest.mark.parametrize("case", CASES)
def test_deep_eprop_full_recursion_equals_bptt_order0(case):
    """Full depth recursion with the reset detached == BPTT with every explicit (lateral and
    reset) path cut (same convention on both sides; the default, reset local, is checked
    against an independent BPTT in test_oracle_reset.py)."""
    net, x, tg, loss = build(case)
    _, gd, _ = run_rule(net, x, tg, "deep-eprop", loss=loss, reset="detach")
    _, gb, _ = bptt(net, x, tg, loss=loss, order=0)
    assert rel_err(gd, gb) < 1e-10


def test_rtrl_refuses_large_networks():
    net = make_net(0, layers=1)
    x, tg = make_data(0)
    with pytest.raises(MemoryLimitError, match="GiB"):
        forward_mode(net, x, tg, max_bytes=1000)
