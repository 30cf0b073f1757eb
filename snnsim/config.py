"""TOML run configuration: load, validate every field, build a ``Network`` and its input.

Sections are listed in :data:`SECTIONS` (name -> (validator, required)); they are validated
in that order and each validator sees the sections validated before it, so adding a
section is one entry there. Every error is a one-line :class:`~snnsim.ConfigError` whose
message starts with the dotted field path, e.g. ``layer[0].population[1].tau_m: ...``.

    cfg = load_config("run.toml", overrides={"input.steps": 100})
    built = build(cfg)            # Built(network, source, steps, batch, rng, config)
    built.network.simulate(built.source, steps=built.steps, batch=built.batch, rng=built.rng)

Seeding: ``network.seed`` (default 0) feeds one ``numpy.random.SeedSequence``; its first
child draws the weights, its second the input (Poisson spikes). No global seeds.
"""
from __future__ import annotations

import copy
import json
import os
import stat
import tomllib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from . import validate as V
from .config_fields import (ANY, REQUIRED, _array_of_tables, _bool, _choice, _count, _fields,
                            _kind, _list, _min_tau, _name, _nonneg, _per_neuron, _seed, _table)
from .config_train import task_section, train_section
from .errors import ConfigError
from .inputs import CurrentInput, PoissonInput, SpikeInput
from .layer import Layer, is_sparse, layer_values
from .network import DTYPES, SURROGATES, Network
from .state import block_values
from .neurons import ALIF, LIF, Readout, check_smooth_t_ref

POP_TYPES = ("lif", "alif")
INPUT_TYPES = ("poisson", "spikes", "current")
RECORD_VARIABLES = ("z", "v", "A", "a", "psi")


# ---------------------------------------------------------------------------- sections
def _network(path, t, ctx):
    return _fields(path, t, {
        "n_in": (_count, REQUIRED), "dt": (V.positive, 1.0),
        "dtype": (_choice(DTYPES), "float32"), "surrogate": (_choice(SURROGATES), "piecewise"),
        "sigma": (V.positive, 0.1), "seed": (_seed, 0)})


def _population(path, t, net):
    kind = _kind(path, t, POP_TYPES)
    if "n" not in t:
        raise ConfigError(f"{path}.n", "is required")
    n = V.count(f"{path}.n", t["n"])
    spec = {"type": (ANY, None), "n": (ANY, None), "name": (_name, None),
            "tau_m": (_per_neuron(n), 20.0), "v_th": (_per_neuron(n), 1.0),
            "t_ref": (_per_neuron(n, allow_zero=True), 0.0),
            "gamma": (_per_neuron(n, allow_zero=True), 0.3), "regular_spike_arrival": (_bool, True)}
    alif_only = {"beta": (_per_neuron(n, V.finite), 1.0), "tau_a": (_per_neuron(n), 200.0)}
    if kind == "alif":
        spec.update(alif_only)
    extra = sorted(set(alif_only) & set(t) - set(spec))
    if extra:
        raise ConfigError(f"{path}.{extra[0]}", 'is only allowed with type = "alif"')
    p = _fields(path, t, spec)
    for key in ("tau_m", "tau_a"):
        if key in p:
            _min_tau(f"{path}.{key}", p[key], net["dt"])
    if net["surrogate"] == "smooth":
        check_smooth_t_ref(f"{path}.t_ref", p["t_ref"])
    return p


def _sparse(f, value):
    """[[layer]] sparse: true, false or "auto" (CSR weights, see snnsim.sparse)."""
    if value == "auto" or isinstance(value, bool):
        return value
    raise ConfigError(f, f'must be true, false or "auto", got {value!r}')


def _layers(path, value, ctx):
    out, names = [], {"readout"}
    for i, t in enumerate(_array_of_tables(path, value, "[[layer]]")):
        lp = f"{path}[{i}]"
        layer = _fields(lp, t, {
            "name": (_name, f"layer{i}"), "recurrent": (_bool, True),
            "p_in": (V.probability, 1.0), "p_rec": (V.probability, 1.0),
            "autapses": (_bool, False), "delay": (_bool, False),
            "w_in_scale": (V.finite, 1.0), "w_rec_scale": (V.finite, 1.0),
            "sparse": (_sparse, False),
            "population": (partial(_array_of_tables, example="[[layer.population]]"), REQUIRED)})
        if layer["name"] in names:
            raise ConfigError(f"{lp}.name", f"{layer['name']!r} is already used "
                                            "(layer names must be unique and not 'readout')")
        names.add(layer["name"])
        n_pre, ns = out[-1]["n"] if out else ctx["network"]["n_in"], [p.get("n") for p in layer["population"]]
        if all(type(n) is int for n in ns):   # bound memory before any per-neuron array exists
            n = sum(ns)
            sp = (layer["p_in"], layer["p_rec"]) if is_sparse(
                layer["sparse"], layer["p_in"], layer["p_rec"], layer["recurrent"]) else None
            V.fits_memory(f"{lp}.population", layer_values(n_pre, n, layer["recurrent"], sp),
                          f"{n} neurons with {n_pre} inputs")
        pops = [_population(f"{lp}.population[{j}]", p, ctx["network"])
                for j, p in enumerate(layer["population"])]
        for j, p in enumerate(pops):
            same = sum(q["type"] == p["type"] for q in pops)
            p.setdefault("name", p["type"] if same == 1 else f"{p['type']}{j}")
            if [q["name"] for q in pops[:j] if "name" in q].count(p["name"]):
                raise ConfigError(f"{lp}.population[{j}].name",
                                  f"{p['name']!r} is already used in this layer")
        layer.update(population=pops, n=sum(p["n"] for p in pops))
        out.append(layer)
    return out


def _readout(path, t, ctx):
    r = _fields(path, t, {"n": (_count, 1), "tau_out": (_nonneg, 20.0), "w_scale": (V.finite, 1.0),
                          "regular_spike_arrival": (_bool, True)})
    _min_tau(f"{path}.tau_out", r["tau_out"], ctx["network"]["dt"], allow_zero=True)
    return r


def _load_npy(f, value, base_dir):
    if not isinstance(value, str) or not value:
        raise ConfigError(f, f"must be a path to a .npy file, got {value!r}")
    p = Path(base_dir) / value  # an absolute value replaces base_dir
    try:
        is_file = p.is_file()
    except (OSError, ValueError):   # e.g. a name too long for the OS
        is_file = False
    if not is_file:
        raise ConfigError(f, f"no such file: {p}")
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # any reader failure is a user error about this field
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f, f"cannot read {p} as .npy ({msg})") from None
    if not isinstance(arr, np.ndarray):   # np.load opens an .npz archive whatever its name
        arr.close()
        raise ConfigError(f, f"{p} is an .npz archive, not a .npy array (write one array "
                             "with numpy.save)")
    return arr


def _input(path, t, ctx):
    kind = _kind(path, t, INPUT_TYPES)
    n_in, dt = ctx["network"]["n_in"], ctx["network"]["dt"]
    if kind == "poisson":
        d = _fields(path, t, {"type": (ANY, None), "steps": (_count, 1000), "batch": (_count, 1),
                              "rate": (_per_neuron(n_in, allow_zero=True), REQUIRED)})
        top = max(np.atleast_1d(d["rate"]))
        if top * dt > 1000.0:
            raise ConfigError(f"{path}.rate", f"must be <= 1000/dt = {1000.0 / dt} Hz "
                                              f"(at most one spike per step), got {top}")
        return d
    d = _fields(path, t, {"type": (ANY, None), "path": (ANY, REQUIRED), "steps": (_count, None),
                          "batch": (_count, None)})
    arr = _load_npy(f"{path}.path", d["path"], ctx["_base_dir"])
    if arr.ndim != 3:
        raise ConfigError(f"{path}.path", f"must hold an array (batch, T, n_in), got {arr.shape}")
    B, T, n = arr.shape
    if n != n_in:
        raise ConfigError(f"{path}.path", f"last axis must be network.n_in = {n_in}, got {n}")
    if d.setdefault("batch", B) != B:
        raise ConfigError(f"{path}.batch", f"must equal the batch of {d['path']} ({B}), "
                                           f"got {d['batch']}")
    if d.setdefault("steps", T) > T:
        raise ConfigError(f"{path}.steps", f"must be <= {T} (time steps in {d['path']}), "
                                           f"got {d['steps']}")
    d["_array"] = arr
    return d


def _record(path, t, ctx):
    layers = {L["name"]: L["n"] for L in ctx["layer"]}

    def pops(f, v):
        return "all" if v == "all" else _list(f, v, _choice(layers), '"all" or layer names')

    def neurons(f, v):
        V.unknown_keys(f, _table(f, v), layers)
        out = {}
        for name, ids in v.items():
            out[name] = _list(f"{f}.{name}", ids, partial(V.count, minimum=0), "neuron indices")
            if not out[name] or max(out[name]) >= layers[name]:
                raise ConfigError(f"{f}.{name}", f"must list neuron indices in [0, {layers[name]}),"
                                                 f" got {ids}")
        return out

    r = _fields(path, t, {
        "populations": (pops, "all"), "neurons": (neurons, {}),
        "variables": (lambda f, v: _list(f, v, _choice(RECORD_VARIABLES), "variables"), []),
        "every": (_count, 1), "block": (_count, 500), "buffer_steps": (_count, 1000),
        "spikes": (_bool, True), "readout": (_bool, True)})
    if "input" in ctx:   # one block of input, layer histories and readout must fit in memory
        inp, k = ctx["input"], min(r["block"], ctx["input"]["steps"])
        V.fits_memory("input.batch", block_values(inp["batch"], k, ctx["network"]["n_in"],
                                                  ctx["readout"]["n"], layers.values()),
                      f"blocks of {inp['batch']} trials x {k} steps (record.block)")
    chosen = list(layers) if r["populations"] == "all" else r["populations"]
    for name in r["neurons"]:
        if name not in chosen:
            raise ConfigError(f"{path}.neurons.{name}", f"{name!r} is not in record.populations")
    return r


#: name -> (validator(path, value, ctx), required); validated in this order.
SECTIONS = {
    "network": (_network, True),
    "layer": (_layers, True),
    "readout": (_readout, False),
    "task": (task_section, False),
    "input": (_input, False),
    "record": (_record, False),
    "train": (train_section, False),
}


# -------------------------------------------------------------------------- public API
@dataclass
class Config:
    """A validated configuration: ``data`` holds plain JSON-able values with defaults filled."""
    data: dict
    path: Path | None = None
    base_dir: Path = Path(".")
    input_array: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> str:
        return json.dumps(self.data, sort_keys=True)

    def __getitem__(self, key):
        return self.data[key]


@dataclass
class Built:
    network: Network
    source: object
    steps: int
    batch: int
    rng: np.random.Generator
    config: Config


def _apply_overrides(raw, overrides):
    raw = copy.deepcopy(raw)
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, key = dotted.split(".", 1)
        node = raw.setdefault(section, {})
        if not isinstance(node, dict):
            raise ConfigError(section, "must be a table")
        node[key] = value
    return raw


def validate(raw, *, base_dir=".", path=None, overrides=None):
    """Validate a config dict (as parsed from TOML); returns a :class:`Config`."""
    raw = _apply_overrides(_table("config", raw), overrides)
    V.unknown_keys("", raw, SECTIONS)
    ctx = {"_base_dir": Path(base_dir)}
    for name, (check, required) in SECTIONS.items():
        if name not in raw and required:
            raise ConfigError(name, f"section is required ([{name}])")
        if name not in raw and name in ("input", "task", "train"):
            if name == "input" and "task" not in raw:
                raise ConfigError("input", "section is required ([input], or [task] to train)")
            continue
        ctx[name] = check(name, raw.get(name, {}), ctx)
    array = ctx["input"].pop("_array", None) if "input" in ctx else None
    data = {k: v for k, v in ctx.items() if not k.startswith("_")}
    return Config(data=data, path=None if path is None else Path(path), base_dir=Path(base_dir),
                  input_array=array)


#: largest config file read (bytes); real configs are a few kB
MAX_CONFIG_BYTES = 4 << 20


def read_text_file(path, *, what="config", limit=MAX_CONFIG_BYTES):
    """Bytes of a regular file of at most ``limit`` bytes (one-line ConfigError otherwise).

    Devices (``/dev/zero``), FIFOs and sockets are refused before they are read (they
    could stream forever or block); the file is opened non-blocking and checked again
    after opening, and never more than ``limit + 1`` bytes are read.
    """
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ConfigError(name, "no such file") from None
    except OSError as exc:
        raise ConfigError(name, f"cannot read {what} ({os.strerror(exc.errno) if exc.errno else exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(name, f"{what} must be a regular file (not a device, FIFO or directory)")
        if st.st_size > limit:
            raise ConfigError(name, f"{what} file is {st.st_size} bytes; at most {limit} are read")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ConfigError(name, f"{what} file is larger than {limit} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError(name, f"cannot read {what} ({os.strerror(exc.errno) if exc.errno else exc})") from None
    finally:
        os.close(fd)


def parse_toml(path):
    """Read a TOML file; syntax and I/O errors become ConfigError(file name, ...)."""
    name = str(path)
    data = read_text_file(path)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(name, f"invalid TOML: {str(exc).splitlines()[0]}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(name, f"cannot read file ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise ConfigError(name, "invalid TOML: tables or arrays nested too deeply") from None


def load_config(path: str | os.PathLike, *, overrides: dict[str, Any] | None = None) -> Config:
    """Parse and validate a TOML config file.

    Parameters
    ----------
    path : path
        The TOML file; relative input paths in it (``input.path``) are relative to its folder.
    overrides : dict, optional
        Dotted keys -> values applied before validation (``{"train.iterations": 10}``;
        ``None`` values are ignored).

    Returns
    -------
    Config
        The validated config; a bad value is a one-line :class:`~snnsim.ConfigError` naming
        the field.
    """
    raw = parse_toml(path)
    return validate(raw, base_dir=Path(path).resolve().parent, path=path, overrides=overrides)


def build_network(config):
    """The Network of a validated Config (weights drawn from the first child of network.seed)."""
    d = config.data
    net_cfg = d["network"]
    w_seq = np.random.SeedSequence(net_cfg["seed"]).spawn(2)[0]
    layers = []
    for L in d["layer"]:
        pops = [(ALIF if p["type"] == "alif" else LIF)(**{k: p[k] for k in p if k != "type"})
                for p in L["population"]]
        layers.append(Layer(pops, **{k: v for k, v in L.items() if k not in ("population", "n")}))
    kw = {k: v for k, v in net_cfg.items() if k not in ("n_in", "seed")}
    return Network(net_cfg["n_in"], layers, Readout(**d["readout"]), **kw,
                   rng=np.random.default_rng(w_seq))


def build(config: Config) -> Built:
    """Construct the Network, input source and input Generator of a validated Config.

    Parameters
    ----------
    config : Config
        A validated config with an ``[input]`` section.

    Returns
    -------
    Built
        ``network``, ``source`` (the input), ``steps``, ``batch``, ``rng`` (the input's
        Generator, from ``network.seed``) and ``config``.
    """
    d = config.data
    if "input" not in d:
        raise ConfigError("input", "section is required to simulate ([input])")
    net = build_network(config)
    in_seq = np.random.SeedSequence(d["network"]["seed"]).spawn(2)[1]
    inp = d["input"]
    source: PoissonInput | SpikeInput | CurrentInput
    if inp["type"] == "poisson":
        source = PoissonInput(inp["rate"], d["network"]["n_in"], field="input.rate")
    else:
        cls = SpikeInput if inp["type"] == "spikes" else CurrentInput
        assert config.input_array is not None   # validate() loads it for these types
        source = cls(np.asarray(config.input_array[:, :inp["steps"]]), field="input.path")
    return Built(network=net, source=source, steps=inp["steps"], batch=inp["batch"],
                 rng=np.random.default_rng(in_seq), config=config)


def build_from_dict(cfg, *, base_dir=".", overrides=None):
    """Validate a config dict and build it (see :func:`build`)."""
    return build(validate(cfg, base_dir=base_dir, overrides=overrides))


def load(path, *, overrides=None):
    """Load a TOML file and build it (see :func:`build`)."""
    return build(load_config(path, overrides=overrides))
