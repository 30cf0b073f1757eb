"""Threaded kernels and their serial twins (``kernels/_jit.py``) give bit-identical results.

The version a call runs depends on the batch, the sizes and the number of numba threads, so
results must not depend on it: same seed, same bits, whatever the machine. Each rule and the
forward pass run once with every ParallelKernel forced serial and once forced threaded, on
networks and batches large enough that the default choice would use threads.
"""
import numpy as np
import pytest

from snnsim.kernels._jit import PAR_MIN_WORK, ParallelKernel, versions
from snnsim.kernels import forward
from snnsim.learning import gradients

from nets import make_data, make_net


def _both(fn):
    out = {}
    for mode in ("serial", "parallel"):
        with versions(mode):
            out[mode] = fn()
    return out["serial"], out["parallel"]


def _assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_serial_equals_threaded(dtype):
    import snnsim
    net = snnsim.Network(30, [snnsim.Layer([snnsim.LIF(40, v_th=0.5), snnsim.ALIF(20, v_th=0.5)]),
                              snnsim.Layer(snnsim.LIF(30, v_th=0.5), delay=True)],
                         snnsim.Readout(3), dtype=dtype, rng=5)
    x = (np.random.default_rng(6).random((6, 80, 30)) < 0.2).astype(dtype)
    s, p = _both(lambda: net.forward(x))
    for bs, bp in zip(s[0], p[0]):
        for name in ("z", "v", "a", "psi"):
            np.testing.assert_array_equal(getattr(bs, name), getattr(bp, name))
    np.testing.assert_array_equal(s[1], p[1])
    assert s[0][0].z.any() and s[0][1].z.any()


@pytest.mark.parametrize("rule,kw", [("bptt", {}), ("eprop", {"engine": "window"}),
                                      ("eprop", {"engine": "trace"}),
                                      ("deep-eprop-onehop", {"engine": "trace", "c_reg": 0.1}),
                                      ("deep-eprop-onehop", {"engine": "window", "c_reg": 0.1})])
def test_rules_serial_equal_threaded(rule, kw):
    net = make_net(30, layers=2, kinds=("mix", "lif-shared"), sizes=[12, 9])
    x, tg = make_data(30, T=40, B=6)
    s, p = _both(lambda: gradients(net, x, tg, rule, **kw))
    _assert_same(s, p)


def test_m1_kernel_serial_equals_threaded():
    net = make_net(30, layers=1, kinds=("lif-shared",), sizes=[12])
    x, tg = make_data(30, T=40, B=6)
    s, p = _both(lambda: gradients(net, x, tg, "eprop-m1"))
    _assert_same(s, p)


def test_choice_follows_batch_and_work():
    k = forward.layer_run
    assert isinstance(k, ParallelKernel)
    one = np.zeros((1, 5, 400)), np.zeros((400, 400))
    assert k.choose(*one) is k.serial                     # one trial: nothing to split
    big = np.zeros((8, 5, 400)), np.zeros((400, 400))
    small = np.zeros((2, 5, 10)), np.zeros((10, 10))
    assert 2 * 10 * 10 < PAR_MIN_WORK <= 8 * 400 * 400
    assert k.choose(*small) is k.serial
    import numba
    assert k.choose(*big) is (k.parallel if numba.get_num_threads() > 1 else k.serial)
