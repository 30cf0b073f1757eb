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
        return json.dumps(v).replace("\x7f", "\\u007f")
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
SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 60), st.sampled_from(HUGE),
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
    res = CliRunner().invoke(cli, args)
    assert isinstance(res.exception, (SystemExit, type(None))), repr(res.exception)
    assert "Traceback" not in res.output
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
            assert f.attrs["stop_step"] == min(info["input"]["steps"], STEPS)
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
    COUNTS[f"  -> {api_outcome(cfg)[0]}"] += 1
