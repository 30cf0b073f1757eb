"""SnAp-1 on several layers stored on its pattern only (snap.snap1_stack) gives the numbers of
the dense reference (the forward-mode engine with the pattern applied) to 1e-12, on recurrent,
feed-forward, delayed and sparsely connected stacks, both losses; and refuses what cannot fit."""
import numpy as np
import pytest

import snnsim
from snnsim import MemoryLimitError
from snnsim.learning import run_rule
from snnsim.learning.rtrl import forward_mode
from snnsim.learning.snap import pattern, snap1_stack
from nets import assert_active, make_data, make_net


def sparse_net(seed):
    return snnsim.Network(3, [snnsim.Layer([snnsim.LIF(6, tau_m=10.0, v_th=0.3)], p_in=0.4,
                                           p_rec=0.4, w_in_scale=2.0) for _ in range(3)],
                          snnsim.Readout(2, tau_out=5.0), dtype="float64",
                          rng=np.random.default_rng(seed))


CASES = {
    "rec2-mix": lambda: make_net(1, layers=2),
    "rec3-mix-ce": lambda: make_net(2, layers=3),
    "rec3-delay": lambda: make_net(3, layers=3, delay=True),
    "ff3": lambda: make_net(4, layers=3, recurrent=False),
    "rec2-alif-tref": lambda: make_net(6, layers=2, kinds=("alif", "mix"), t_ref=2.0),
    "sparse3": lambda: sparse_net(6),
}


@pytest.mark.parametrize("case", list(CASES))
def test_equals_dense_reference(case):
    net = CASES[case]()
    loss = "ce" if case.endswith("-ce") else "mse"
    x, tg = make_data(7, B=2, T=30, loss=loss)
    assert_active(net, x)
    _, g, y = snap1_stack(net, x, tg, loss=loss)
    _, ref, y_ref = forward_mode(net, x, tg, loss=loss, keep=pattern(net, 1))
    _, via_rule, _ = run_rule(net, x, tg, "snap-n1", loss=loss)
    assert np.array_equal(y, y_ref)
    for k in ref:
        scale = np.abs(ref[k]).max()
        if case != "rec3-delay" or k.startswith("layer2") or k.startswith("readout"):
            assert scale > 0, k      # not vacuous (with delays the lower layers reach nothing)
        np.testing.assert_allclose(g[k], ref[k], rtol=0, atol=1e-12 * max(scale, 1.0))
        assert np.array_equal(g[k], via_rule[k])


def test_memory_limit_names_gib():
    net = make_net(0, layers=3)
    x, tg = make_data(0, B=2, T=5)
    with pytest.raises(MemoryLimitError, match="GiB"):
        snap1_stack(net, x, tg, max_bytes=1000)
    with pytest.raises(MemoryLimitError, match="GiB"):
        run_rule(net, x, tg, "snap-n1", max_bytes=1000)
