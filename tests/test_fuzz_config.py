"""Hypothesis fuzzing: configs (API and ``snnsim run``/``train``) and the Python API.

Valid configs are built by a strategy mirroring the schema; hostile ones mutate them (wrong
types, NaN/inf, negative/zero taus, dt > tau, huge sizes, unknown keys, nested garbage, empty
lists, ...). Every case must end in a valid run or a clean error: ``snnsim.ConfigError``
(API; one line starting with its field) or exit code 2 with one line ``Error: <field>: ...``
(CLI, identical to the API's message); a run may also diverge (DivergenceError / exit 1).
``COUNTS`` tallies the cases; the last test prints it (always, not only with ``-s``).
"""
import collections
import datetime
import json
import math
import tempfile
import tomllib
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import snnsim
from snnsim.config import RECORD_VARIABLES, build, validate
from snnsim.cli.main import cli

COUNTS = collections.Counter()
SETTINGS = dict(deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
HUGE = [2**31, 10**12, 2**62, 2**63 - 1, -2**63]
STEPS = 50                                  # steps actually simulated per case (at most)
WORKDIR = Path(tempfile.mkdtemp(prefix="snnsim-fuzz-"))


# ------------------------------------------------------------------------ TOML writer
def _toml(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(map(_toml, v)) + "]"
    return "{" + ", ".join(f"{_toml(str(k))} = {_toml(x)}" for k, x in v.items()) + "}"


def dump_toml(cfg):
    """Every top-level key as ``key = inline value`` (tomllib reads it back to ``cfg``)."""
    return "".join(f"{_toml(str(k))} = {_toml(v)}\n" for k, v in cfg.items())


# -------------------------------------------------------------------- valid configs
def _maybe(draw, d, key, strategy):
    if draw(st.booleans()):
        d[key] = draw(strategy)


def _per_neuron(draw, n, elem):
    return draw(st.lists(elem, min_size=n, max_size=n) if draw(st.booleans()) else elem)


@st.composite
def valid_configs(draw, max_neurons=50):
    dt = draw(st.sampled_from([0.1, 0.5, 1.0, 2.0]))
    smooth = draw(st.booleans())
    net = {"n_in": draw(st.integers(1, 8)), "dt": dt, "surrogate": "smooth" if smooth else "piecewise"}
    _maybe(draw, net, "dtype", st.sampled_from(["float32", "float64"]))
    _maybe(draw, net, "sigma", st.floats(0.01, 2.0))
    _maybe(draw, net, "seed", st.integers(0, 2**63 - 1))
    layers, budget = [], max_neurons
    for i in range(draw(st.integers(1, 3))):
        pops = []
        for j in range(draw(st.integers(1, 2))):
            n = draw(st.integers(1, max(1, min(8, budget))))
            budget -= n
            kind = draw(st.sampled_from(["lif", "alif"]))
            p = {"type": kind, "n": n}
            _maybe(draw, p, "name", st.just(f"{kind}_{j}"))
            for key, elem in (("tau_m", st.floats(dt, 200.0)), ("v_th", st.floats(0.05, 5.0)),
                              ("gamma", st.floats(0.0, 1.0)), ("regular_spike_arrival", st.booleans())):
                if draw(st.booleans()):
                    p[key] = _per_neuron(draw, n, elem) if key != "regular_spike_arrival" else draw(elem)
            if not smooth and draw(st.booleans()):
                p["t_ref"] = _per_neuron(draw, n, st.floats(0.0, 5.0))
            if kind == "alif":
                _maybe(draw, p, "beta", st.floats(-2.0, 3.0))
                _maybe(draw, p, "tau_a", st.floats(dt, 2000.0))
            pops.append(p)
        layer = {"population": pops}
        _maybe(draw, layer, "name", st.just(f"L{i}"))
        for key, s in (("recurrent", st.booleans()), ("autapses", st.booleans()),
                       ("delay", st.booleans()), ("p_in", st.floats(0.05, 1.0)),
                       ("p_rec", st.floats(0.05, 1.0)), ("w_in_scale", st.floats(-5.0, 5.0)),
                       ("w_rec_scale", st.floats(-5.0, 5.0))):
            _maybe(draw, layer, key, s)
        layers.append(layer)
    cfg = {"network": net, "layer": layers}
    if draw(st.booleans()):
        ro = {"n": draw(st.integers(1, 3))}
        _maybe(draw, ro, "tau_out", st.one_of(st.just(0.0), st.floats(dt, 100.0)))
        _maybe(draw, ro, "w_scale", st.floats(-3.0, 3.0))
        cfg["readout"] = ro
    rate = st.floats(0.0, min(500.0, 1000.0 / dt))
    cfg["input"] = {"type": "poisson", "rate": _per_neuron(draw, net["n_in"], rate),
                    "steps": draw(st.integers(1, STEPS)), "batch": draw(st.integers(1, 3))}
    if draw(st.booleans()):
        names = [L.get("name", f"layer{i}") for i, L in enumerate(layers)]
        sizes = dict(zip(names, (sum(p["n"] for p in L["population"]) for L in layers)))
        rec = {}
        chosen = names
        if draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(names), unique=True))
            rec["populations"] = chosen
        _maybe(draw, rec, "variables", st.lists(st.sampled_from(RECORD_VARIABLES), unique=True))
        if chosen and draw(st.booleans()):
            rec["neurons"] = {name: draw(st.lists(st.integers(0, sizes[name] - 1), min_size=1,
                                                  unique=True)) for name in chosen[:2]}
        for key, s in (("every", st.integers(1, 5)), ("block", st.integers(1, 60)),
                       ("buffer_steps", st.integers(1, 100)), ("spikes", st.booleans()),
                       ("readout", st.booleans())):
            _maybe(draw, rec, key, s)
        cfg["record"] = rec
    return cfg


# ----------------------------------------------------------------- hostile mutations
FLOATS = st.one_of(st.floats(-1000.0, 1000.0), st.sampled_from(  # no mid-range: runs stay small
    [1e12, 1e300, -1e300, 5e-324, -0.0, math.nan, math.inf, -math.inf]))
SCALARS = st.one_of(
    FLOATS, st.integers(-5, 60), st.sampled_from(HUGE),
    st.booleans(), st.text(max_size=6), st.dates(),
    st.sampled_from([0, -1, 0.0, -0.0, 1e-300, 1e300, math.nan, math.inf, -math.inf, "", "1.0",
                     "lif", "all", "readout", True, []]))
GARBAGE = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4)
                       | st.dictionaries(st.text(max_size=5), kids, max_size=3), max_leaves=8)
SEMANTIC = [  # (path, value): the classic mistakes, applied on top of random ones
    (("network", "dt"), 1000.0), (("network", "dt"), 0.0), (("network", "dt"), math.nan),
    (("network", "n_in"), True), (("network", "n_in"), "4"), (("network", "n_in"), 10**12),
    (("layer", 0, "population", 0, "tau_m"), -1.0), (("layer", 0, "population", 0, "tau_m"), 0.0),
    (("layer", 0, "population", 0, "tau_m"), math.inf), (("layer", 0, "population", 0, "tau_m"), []),
    (("layer", 0, "population", 0, "v_th"), "1.0"), (("layer", 0, "population", 0, "n"), 2**40),
    (("layer", 0, "population", 0, "n"), True), (("layer", 0, "population", 0, "n"), 0),
    (("layer", 0, "population", 0, "tau_a"), 1.0), (("layer", 0, "name"), "readout"),
    (("layer", 0, "population"), []), (("layer",), []), (("readout", "tau_out"), 0.01),
    (("readout", "n"), 2**62), (("input", "batch"), 2**40), (("input", "steps"), 0),
    (("input", "steps"), 2**62), (("input", "rate"), 1e6), (("input", "rate"), [math.nan]),
    (("record", "neurons"), {"layer0": [10**9]}), (("record", "every"), 2**62),
    (("record", "variables"), ["v", "v"]), (("network", "w"), 1.0), (("bogus",), {"x": 1}),
]


def _paths(node, prefix=()):
    """Every key / list index path inside the config."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield prefix + (k,)
        yield from _paths(v, prefix + (k,))


def _set(cfg, path, value):
    node = cfg
    for k in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(k, {})
        elif isinstance(node, list) and isinstance(k, int) and k < len(node):
            node = node[k]
        else:
            return
    if isinstance(node, dict):
        if value is DELETE:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    elif isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node):
        if value is DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value


DELETE = object()


@st.composite
def hostile_configs(draw):
    cfg = draw(valid_configs())
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["set", "set", "delete", "unknown", "semantic"]))
        paths = list(_paths(cfg))
        if how == "semantic":
            _set(cfg, *draw(st.sampled_from(SEMANTIC)))
        elif how == "unknown":
            tables = [()] + [p for p in paths if isinstance(_get(cfg, p), dict)]
            _set(cfg, draw(st.sampled_from(tables)) + (draw(st.text(min_size=1, max_size=8)),),
                 draw(GARBAGE))
        elif paths:
            _set(cfg, draw(st.sampled_from(paths)), DELETE if how == "delete" else draw(GARBAGE))
    return cfg


def _get(cfg, path):
    for k in path:
        cfg = cfg[k]
    return cfg


# ------------------------------------------------------------------------- checks
def invoke(args):
    """CliRunner run; numpy/Python warnings reach its stderr as they would a terminal's."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        res = CliRunner().invoke(cli, args)
    assert isinstance(res.exception, (SystemExit, type(None))), repr(res.exception)
    assert "Traceback" not in res.output
    return res


def _check_config_error(exc):
    msg = str(exc)
    assert isinstance(exc.field, str) and exc.field and msg.startswith(f"{exc.field}: "), msg
    assert len(msg.splitlines()) == 1, msg


def _affordable(cfg):
    """Small enough to simulate in a fuzz case (huge-but-valid values are only validated)."""
    d = cfg.data
    n = sum(L["n"] for L in d["layer"])
    return n <= 500 and d["network"]["n_in"] <= 500 and d["readout"]["n"] <= 100 \
        and d["input"]["batch"] <= 16


def api_outcome(cfg, base_dir=WORKDIR):
    """'error' (ConfigError checked), 'skipped' (valid, too large), 'diverged' or 'ok'."""
    try:
        config = validate(cfg, base_dir=base_dir)
        if not _affordable(config):
            return "skipped", config
        built = build(config)
        summary = built.network.simulate(built.source, steps=min(built.steps, STEPS),
                                         batch=built.batch, rng=built.rng)
    except snnsim.ConfigError as exc:
        _check_config_error(exc)
        return "error", exc
    except snnsim.DivergenceError:
        return "diverged", None
    assert summary["steps"] == min(built.steps, STEPS)
    return "ok", config


def cli_run(cfg, tmp):
    """Write cfg as TOML, ``snnsim run`` it; compare with the API on the same parsed file."""
    toml = tmp / "c.toml"
    toml.write_text(dump_toml(cfg))
    with open(toml, "rb") as fh:
        parsed = tomllib.load(fh)
    kind, info = api_outcome(parsed, base_dir=tmp)
    if kind == "skipped":
        return kind
    out = tmp / "o.h5"
    args = ["run", str(toml), "--out", str(out), "-q"]
    if kind == "ok" and info["input"]["steps"] > STEPS:
        args += ["--steps", str(STEPS)]
    res = invoke(args)
    if kind == "error":
        assert res.exit_code == 2, res.output
        assert res.stderr.splitlines() == [f"Error: {info}"]
        assert not out.exists()
    elif kind == "diverged":
        assert res.exit_code == 1 and len(res.stderr.splitlines()) == 1, res.output
        assert res.stderr.startswith("Error: ")
    else:
        assert res.exit_code == 0, res.output
        with h5py.File(out, "r") as f:
            assert f.attrs["status"] == "complete"
            steps = min(info["input"]["steps"], STEPS)   # no stop_step if nothing was recorded
            assert f.attrs.get("stop_step", steps) == steps
    return kind


# ----------------------------------------------------------------------- API: configs
@settings(max_examples=150, **SETTINGS)
@given(cfg=valid_configs())
def test_valid_configs_build_and_simulate(cfg):
    kind, info = api_outcome(cfg)
    COUNTS["api valid config"] += 1
    assert kind == "ok", info


@settings(max_examples=500, **SETTINGS)
@given(cfg=hostile_configs())
def test_hostile_configs_raise_config_error(cfg):
    COUNTS["api hostile config"] += 1
    COUNTS[f"  -> api: {api_outcome(cfg)[0]}"] += 1


# ---------------------------------------------------------------------- CLI: snnsim run
def _tmpdir():
    return Path(tempfile.mkdtemp(dir=WORKDIR))


@settings(max_examples=60, **SETTINGS)
@given(cfg=st.one_of(valid_configs(), hostile_configs(), hostile_configs()))
def test_cli_run_valid_or_one_line_error(cfg):
    COUNTS["cli run config"] += 1
    COUNTS[f"  -> run: {cli_run(cfg, _tmpdir())}"] += 1


NPY = st.one_of(
    hnp.arrays(st.sampled_from(["f4", "f8", "i4", "u1", "?", "c8", "U2", "O"]),
               hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)),
    st.tuples(st.integers(1, 2), st.integers(1, 30)).map(   # the right shape, 0/1 or analogue
        lambda s: np.random.default_rng(s[1]).integers(0, 2, (s[0], s[1], 3)).astype("f4")),
    st.tuples(st.integers(1, 2), st.integers(1, 30), st.floats(allow_nan=True)).map(
        lambda s: np.full((s[0], s[1], 3), s[2])))


@settings(max_examples=40, **SETTINGS)
@given(arr=NPY, kind=st.sampled_from(["spikes", "current"]),
       extra=st.dictionaries(st.sampled_from(["steps", "batch"]), st.one_of(st.integers(-1, 40), GARBAGE)))
@example(arr=np.zeros((1, 0, 3)), kind="current", extra={})  # T = 0 used to crash in run_block
def test_cli_npy_inputs(arr, kind, extra):
    COUNTS["cli run .npy input"] += 1
    tmp = _tmpdir()
    np.save(tmp / "x.npy", arr, allow_pickle=arr.dtype == object)
    cfg = {"network": {"n_in": 3}, "layer": [{"population": [{"type": "lif", "n": 4}]}],
           "input": {"type": kind, "path": "x.npy", **extra}}
    COUNTS[f"  -> npy: {cli_run(cfg, tmp)}"] += 1


# -------------------------------------------------------------------- CLI: snnsim train
RULES = ["bptt", "eprop", "eprop-m1", "deep-eprop-onehop", "deep-eprop-spatial", "rtrl",
         "deep-eprop", "eprop-m2", "bptt-m1"]


@st.composite
def train_configs(draw):
    cfg = draw(valid_configs(max_neurons=12))
    cfg.pop("input")
    cfg.pop("record", None)
    cfg["network"]["dt"] = 1.0
    for layer in cfg["layer"]:
        for p in layer["population"]:
            for key in ("tau_m", "tau_a"):
                p.pop(key, None)
    name = draw(st.sampled_from(["sine_wave", "evidence_accumulation", "store_recall"]))
    if name == "sine_wave":
        task = {"steps": draw(st.integers(1, 30)), "n_in": draw(st.integers(1, 5))}
    else:
        task = {k: draw(st.floats(0.0, 6.0)) for k in ("cue_ms", "delay_ms", "recall_ms")}
        task["n_group"] = draw(st.integers(1, 2))
        if name == "evidence_accumulation":
            task.update(n_cues=draw(st.integers(1, 3)), gap_ms=draw(st.floats(0.0, 3.0)))
    probe = snnsim.tasks.make_task(name, np.random.default_rng(0), batch=1, **task)
    cfg["network"]["n_in"] = probe.n_in
    cfg["readout"] = {**cfg.get("readout", {}), "n": probe.n_out}
    cfg["task"] = {"name": name, **task}
    rule = draw(st.sampled_from(RULES))
    tr = {"rule": rule, "iterations": draw(st.integers(1, 2)), "batch": draw(st.integers(1, 2))}
    online = rule in ("eprop", "deep-eprop-onehop", "deep-eprop-spatial", "eprop-m1")
    _maybe(draw, tr, "optimizer", st.sampled_from(["sgd", "adam"]))
    _maybe(draw, tr, "lr", st.floats(1e-4, 0.1))
    if rule in ("eprop", "deep-eprop-onehop", "deep-eprop-spatial"):
        _maybe(draw, tr, "feedback", st.sampled_from(["symmetric", "random", "adaptive"]))
    if online:
        _maybe(draw, tr, "update_every", st.integers(0, 10))
    for key, s in (("c_reg", st.floats(0.0, 1.0)), ("f_target", st.floats(0.0, 50.0)),
                   ("block", st.integers(1, 40)), ("val_every", st.integers(0, 2)),
                   ("val_batch", st.integers(1, 2)), ("patience", st.integers(0, 2)),
                   ("test_batch", st.integers(0, 2)), ("checkpoint_every", st.integers(0, 2))):
        _maybe(draw, tr, key, s)
    cfg["train"] = tr
    return cfg


@st.composite
def hostile_train_configs(draw):
    cfg = draw(train_configs())
    paths = [p for p in _paths(cfg) if p[0] in ("task", "train")] or list(_paths(cfg))
    for _ in range(draw(st.integers(1, 2))):
        _set(cfg, draw(st.sampled_from(paths)), DELETE if draw(st.booleans()) else draw(GARBAGE))
    return cfg


@settings(max_examples=25, **SETTINGS)
@given(cfg=st.one_of(train_configs(), hostile_train_configs()))
def test_cli_train_valid_or_one_line_error(cfg):
    COUNTS["cli train config"] += 1
    tmp = _tmpdir()
    toml, out = tmp / "t.toml", tmp / "t.h5"
    toml.write_text(dump_toml(cfg))
    with open(toml, "rb") as fh:
        parsed = tomllib.load(fh)
    try:
        config, error = validate(parsed, base_dir=tmp), None
    except snnsim.ConfigError as exc:
        _check_config_error(exc)
        config, error = None, exc
    args = ["train", str(toml), "--out", str(out), "-q"]
    if config is not None:
        tr = config.data.get("train", {})
        used = [tr.get("batch", 0), tr.get("test_batch", 0), tr.get("val_batch", 0) * bool(tr.get("val_every"))]
        if max(used) > 16:
            COUNTS["  -> train: skipped"] += 1
            return
        if tr.get("iterations", 0) > 2:
            args += ["--iterations", "2"]
    res = invoke(args)
    if error is not None:
        assert res.exit_code == 2 and res.stderr.splitlines() == [f"Error: {error}"], res.output
    elif res.exit_code == 0:
        with h5py.File(out, "r") as f:
            assert f.attrs["status"] == "complete" and "weights" in f
    else:   # a runtime ConfigError (exit 2) or a divergence (exit 1)
        assert res.exit_code in (1, 2) and len(res.stderr.splitlines()) == 1, res.output
        assert res.stderr.startswith("Error: ") and ": " in res.stderr[7:], res.output
    COUNTS[f"  -> train: {'error' if error else res.exit_code or 'ok'}"] += 1


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


@settings(max_examples=200, **SETTINGS)
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


@settings(max_examples=200, **SETTINGS)
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


@settings(max_examples=200, **SETTINGS)
@given(x=ARRAYS, dtype=st.sampled_from(["float32", "float64"]),
       sim=st.dictionaries(st.sampled_from(["steps", "batch", "block", "rng"]),
                           st.one_of(st.integers(1, 8), HOSTILE), max_size=3))
@example(x=np.zeros((1, 0, 3)), dtype="float32", sim={})       # T = 0: was IndexError
@example(x=np.full((1, 2, 3), 1e39), dtype="float32", sim={})  # overflows float32
@example(x=np.ones((1, 2, 3)), dtype="float32", sim={"steps": "a"})
def test_api_forward_and_simulate(x, dtype, sim):
    COUNTS["api forward/simulate"] += 1
    net = small_net(dtype)
    res = _expect_config_error(net.forward, x)
    if res is not None:
        assert res[1].shape[:2] == np.shape(x)[:2]
    try:
        net.simulate(x, **sim)
    except snnsim.ConfigError as exc:
        _check_config_error(exc)
    except snnsim.DivergenceError:
        pass


@settings(max_examples=150, **SETTINGS)
@given(x=st.one_of(st.just("ok"), ARRAYS), target=st.one_of(st.just("ok"), ARRAYS),
       rule=st.one_of(st.sampled_from(RULES + ["deep-eprop-spatial", "eprop-m0"]), HOSTILE),
       kw=st.dictionaries(st.sampled_from(["loss", "mask", "feedback", "rng", "block", "max_bytes",
                                           "c_reg", "f_target"]),
                          st.one_of(st.sampled_from(["ce", "random", "adaptive", 1, 1e6]), HOSTILE, ARRAYS),
                          max_size=2))
@example(x="ok", target="ok", rule="eprop", kw={"mask": ["a", "b"]})   # was ValueError
@example(x="ok", target="ok", rule=np.zeros(2), kw={})                # was ValueError
@example(x="ok", target="ok", rule="rtrl", kw={"max_bytes": "x"})     # was TypeError
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
    """Print how many fuzz cases ran (shown without -s)."""
    with capsys.disabled():
        print(f"\nhypothesis cases run: {sum(v for k, v in COUNTS.items() if not k.startswith(' '))}")
        for k, v in COUNTS.items():
            print(f"  {k}: {v}")
