"""Hypothesis fuzzing of the Python API: ``snnsim.LIF/ALIF/Readout/Layer/Network`` with hostile
parameters, ``net.forward``/``net.simulate``/``snnsim.gradients`` with hostile arrays (NaN, inf,
wrong shapes, ndim and dtypes: strings, objects, complex) -> a result or ``snnsim.ConfigError``
(one line, starting with its field); never another exception. The ``@example`` rows are bugs
this found (kept as regressions). Case counts: see ``fuzz_strategies.report``.
"""
import math

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import snnsim
from fuzz_strategies import COUNTS, GARBAGE, RULES, SCALE, SETTINGS, report


def _check_config_error(exc):
    msg = str(exc)
    assert isinstance(exc.field, str) and exc.field and msg.startswith(f"{exc.field}: "), msg
    assert len(msg.splitlines()) == 1, msg


# ---------------------------------------------------------------- Python API objects
HOSTILE = st.one_of(GARBAGE, st.none(), hnp.arrays(
    st.sampled_from(["f4", "f8", "i8", "?", "c16", "U3", "O"]),
    hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4)))
POS = st.floats(1.0, 50.0)


def _expect_config_error(fn, *args, **kw):
    """Call fn; return its result, or None after a (checked) ConfigError."""
    try:
        return fn(*args, **kw)
    except snnsim.ConfigError as exc:
        _check_config_error(exc)
        return None


@pytest.mark.slow
@settings(max_examples=int(600 * SCALE), **SETTINGS)
@given(kind=st.sampled_from([snnsim.LIF, snnsim.ALIF]), n=st.one_of(st.integers(1, 5), HOSTILE),
       kw=st.dictionaries(st.sampled_from(["tau_m", "v_th", "t_ref", "gamma", "beta", "tau_a",
                                           "regular_spike_arrival", "name"]),
                          st.one_of(POS, HOSTILE), max_size=4),
       ro=st.dictionaries(st.sampled_from(["n", "tau_out", "w_scale", "name"]),
                          st.one_of(st.integers(1, 3), POS, HOSTILE), max_size=2))
@example(kind=snnsim.LIF, n=2**62, kw={}, ro={})          # was ValueError: array is too big
@example(kind=snnsim.LIF, n=1, kw={}, ro={"n": 10**12})   # was MemoryError
def test_api_populations_and_readout(kind, n, kw, ro):
    COUNTS["api LIF/ALIF/Readout"] += 1
    if kind is snnsim.LIF:
        kw = {k: v for k, v in kw.items() if k not in ("beta", "tau_a")}
    pop = _expect_config_error(kind, n, **kw)
    readout = _expect_config_error(snnsim.Readout, **{"n": 1, **ro})
    if pop is not None and readout is not None:
        net = _expect_config_error(snnsim.Network, 3, snnsim.Layer(pop), readout, rng=0)
        if net is not None:
            blocks, y = net.forward(np.ones((1, 4, 3)))
            assert y.shape == (1, 4, readout.n)


@pytest.mark.slow
@settings(max_examples=int(600 * SCALE), **SETTINGS)
@given(layer_kw=st.dictionaries(st.sampled_from(["recurrent", "p_in", "p_rec", "autapses", "delay",
                                                 "w_in_scale", "w_rec_scale", "name"]),
                                st.one_of(st.floats(0.1, 1.0), st.booleans(), HOSTILE), max_size=3),
       pops=st.one_of(st.just("ok"), HOSTILE),
       layers=st.one_of(st.just("ok"), HOSTILE),
       net_kw=st.dictionaries(st.sampled_from(["n_in", "dt", "dtype", "surrogate", "sigma", "rng"]),
                              st.one_of(st.sampled_from(["float64", "smooth", 0.5, 2, 1.0]), HOSTILE),
                              max_size=3))
@example(layer_kw={}, pops=5, layers="ok", net_kw={})               # was TypeError
@example(layer_kw={}, pops="ok", layers=np.zeros(2), net_kw={})     # was ValueError (ambiguous)
@example(layer_kw={}, pops="ok", layers="ok", net_kw={"rng": -1})   # was ValueError (default_rng)
@example(layer_kw={}, pops="ok", layers="ok", net_kw={"dtype": np.zeros(2)})
def test_api_layer_and_network(layer_kw, pops, layers, net_kw):
    COUNTS["api Layer/Network"] += 1
    pops = [snnsim.LIF(3), snnsim.ALIF(2)] if isinstance(pops, str) and pops == "ok" else pops
    layer = _expect_config_error(snnsim.Layer, pops, **layer_kw)
    if layer is None:
        return
    layers = [layer] if isinstance(layers, str) and layers == "ok" else layers
    net = _expect_config_error(snnsim.Network, **{"n_in": 3, "layers": layers,
                                                  "readout": snnsim.Readout(2), **net_kw})
    if net is not None:
        _, y = net.forward(np.ones((2, 5, net.n_in)))
        assert y.shape == (2, 5, 2)


# --------------------------------------------------------- forward / simulate / gradients
_NETS = {}


def small_net(dtype):
    if dtype not in _NETS:
        layers = [snnsim.Layer([snnsim.LIF(3), snnsim.ALIF(2)], w_in_scale=3.0),
                  snnsim.Layer(snnsim.LIF(4), delay=True)]
        _NETS[dtype] = snnsim.Network(3, layers, snnsim.Readout(2), rng=1, dtype=dtype)
    return _NETS[dtype]


ARRAYS = st.one_of(
    HOSTILE,
    hnp.arrays(st.sampled_from(["f4", "f8", "i2", "?", "c8", "U1", "O", "f2"]),
               hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4)),
    st.tuples(st.integers(1, 3), st.integers(0, 6), st.sampled_from([3, 3, 2]),
              st.sampled_from([0.0, 1.0, 0.5, math.nan, math.inf, 1e39, -1e300])).map(
        lambda s: np.where(np.arange(s[0] * s[1] * s[2]).reshape(s[:3]) % 2, s[3], 1.0)),
    st.lists(st.lists(st.lists(st.one_of(st.floats(0, 1), st.text(max_size=1)), max_size=3),
                      max_size=3), max_size=2))


@pytest.mark.slow
@settings(max_examples=int(600 * SCALE), **SETTINGS)
@given(x=ARRAYS, dtype=st.sampled_from(["float32", "float64"]),
       sim=st.dictionaries(st.sampled_from(["steps", "batch", "block", "rng"]),
                           st.one_of(st.integers(1, 8), HOSTILE,
                                     st.builds(np.random.default_rng, st.integers(0, 9))),
                           max_size=4))
@example(x=np.zeros((1, 0, 3)), dtype="float32", sim={})       # T = 0: was IndexError
@example(x=np.full((1, 2, 3), 1e39), dtype="float32", sim={})  # overflowed float32 silently
@example(x=np.ones((1, 2, 3)), dtype="float32", sim={"steps": "a", "batch": 1,
                                                    "rng": np.random.default_rng(0)})  # TypeError
@example(x=np.ones((1, 2, 3)), dtype="float32", sim={"steps": 2, "batch": 2**40,
                                                    "rng": np.random.default_rng(0)})  # MemoryError
def test_api_forward_and_simulate(x, dtype, sim):
    COUNTS["api forward/simulate"] += 1
    net = small_net(dtype)
    res = _expect_config_error(net.forward, x)
    if res is not None:
        assert res[1].shape[:2] == np.shape(x)[:2]
    for source in (x, snnsim.PoissonInput(200.0, 3)):
        try:
            net.simulate(source, **sim)
        except snnsim.ConfigError as exc:
            _check_config_error(exc)
        except snnsim.DivergenceError:
            pass


@pytest.mark.slow
@settings(max_examples=int(500 * SCALE), **SETTINGS)
@given(x=st.one_of(st.just("ok"), ARRAYS), target=st.one_of(st.just("ok"), ARRAYS),
       rule=st.one_of(st.sampled_from(RULES + ["deep-eprop-spatial", "eprop-m0"]), HOSTILE),
       kw=st.dictionaries(st.sampled_from(["loss", "mask", "feedback", "rng", "block", "max_bytes",
                                           "c_reg", "f_target"]),
                          st.one_of(st.sampled_from(["ce", "random", "adaptive", 1, 1e6]), HOSTILE, ARRAYS),
                          max_size=2))
@example(x="ok", target="ok", rule="eprop", kw={"mask": ["a", "b"]})   # was ValueError
@example(x="ok", target="ok", rule=np.zeros(2), kw={})                # was ValueError
@example(x="ok", target="ok", rule="rtrl", kw={"max_bytes": "x"})     # was TypeError
@example(x="ok", target="ok", rule="bptt", kw={"feedback": np.zeros(0)})  # was ValueError
def test_api_gradients(x, target, rule, kw):
    COUNTS["api gradients"] += 1
    net = small_net("float64")
    x = np.ones((2, 6, 3)) if isinstance(x, str) and x == "ok" else x
    target = np.zeros((2, 6, 2)) if isinstance(target, str) and target == "ok" else target
    try:
        grads = snnsim.gradients(net, x, target, rule, **kw)
    except snnsim.ConfigError as exc:
        _check_config_error(exc)
        return
    except snnsim.MemoryLimitError:   # forward-mode rules refuse a too small max_bytes
        return
    assert set(grads) == set(net.weights())


def test_zz_report_case_counts(capsys):
    report(capsys)
