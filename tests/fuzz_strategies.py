"""Hypothesis strategies shared by the fuzz tests: configs mirroring the schema, hostile
mutations of them and garbage values (the fuzz tests write configs with ``toml_writer``).

``COUNTS`` tallies the cases of every fuzz test of the session; :func:`report` prints it.
"""
import collections
import copy
import math
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, strategies as st

import snnsim
from snnsim.config import RECORD_VARIABLES

COUNTS = collections.Counter()
SCALE = float(os.environ.get("SNNSIM_FUZZ_SCALE", "1"))   # e.g. 10 for a longer soak
# CI runs a fixed, reproducible set of cases (a red CI must be repeatable); locally each run
# explores new random cases.
SETTINGS = dict(deadline=None, database=None, derandomize=os.environ.get("CI") == "true",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
HUGE = [2**31, 10**12, 2**62, 2**63 - 1, -2**63]
STEPS = 50                                  # steps actually simulated per case (at most)
WORKDIR = Path(tempfile.mkdtemp(prefix="snnsim-fuzz-"))


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
    """Set (or DELETE) ``path`` in cfg; value is copied (the SEMANTIC constants stay pristine)."""
    value = value if value is DELETE else copy.deepcopy(value)
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


# ------------------------------------------------------------------ train configs
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
        _maybe(draw, tr, "engine", st.sampled_from(["auto", "window", "trace"]))
        _maybe(draw, tr, "window_mb", st.sampled_from([1e-4, 0.01, 256.0]))
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


def report(capsys):
    """Print how many fuzz cases ran in this session (shown without -s)."""
    with capsys.disabled():
        print(f"\nhypothesis cases run: {sum(v for k, v in COUNTS.items() if not k.startswith(' '))}")
        for k, v in COUNTS.items():
            print(f"  {k}: {v}")
