"""Networks reused from output files: :func:`load` (network + config) and :func:`load_weights`.

A file written by ``snnsim train``, ``snnsim run`` or ``Network.simulate(out=...)`` stores
its config as JSON (root attribute ``config``) and its weights under ``/weights`` (for a
training run that did not finish: ``/checkpoint/weights``), so the network can be rebuilt
exactly: the architecture from the config, then the stored weights copied in.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Config
    from .network import Network

WEIGHT_GROUPS = ("weights", "checkpoint/weights")


def load_weights(path: str | os.PathLike, net=None) -> tuple[dict[str, np.ndarray], str]:
    """The stored weights of an output file.

    Parameters
    ----------
    path : path
        An snnsim HDF5 output file.
    net : snnsim.Network, optional
        The network the weights must fit: a one-line ConfigError names the first weight
        that is missing, extra or of another shape (:func:`snnsim.io.training.check_weights`).
        Every stored matrix must be a finite 2-D float dataset in any case.

    Returns
    -------
    weights : dict
        Name (e.g. ``"hidden.w_in"``) -> array, (pre, post) layout.
    group : str
        ``"weights"`` or ``"checkpoint/weights"`` (a training run that did not finish).
    """
    from .io import open_h5
    with open_h5(path) as f:
        return read_weights(f, os.fspath(path), net)


def read_weights(f, where: str, net=None) -> tuple[dict[str, np.ndarray], str]:
    """:func:`load_weights` of the open HDF5 file ``f`` (``where``: its name in messages)."""
    import h5py

    from .io.reader import read_array
    from .io.training import check_weights
    group = next((g for g in WEIGHT_GROUPS if g in f), None)
    if group is None:
        raise ConfigError(where, "holds no weights (/weights or /checkpoint/weights)")
    g = f[group]
    if not isinstance(g, h5py.Group):
        raise ConfigError(f"{where}:/{group}", "must be a group of weight matrices")
    out = {}
    for k in g:
        ds = g.get(k)
        if not isinstance(ds, h5py.Dataset) or ds.ndim not in (1, 2):
            raise ConfigError(f"{where}:/{group}/{k}", "must be a weight matrix (2-D dataset; "
                                                       "1-D: the data of a sparse layer)")
        out[k] = read_array(ds, f"{where}:/{group}/{k}")
    if net is not None:
        check_weights(out, net.weights(), f"{where}:/{group}")
    return out, group


def load_connectivity(path: str | os.PathLike, group: str, net) -> dict:
    """Synapses of ``net``'s sparse layers stored next to the weights group ``group``
    (``/connectivity`` or ``/checkpoint/connectivity``): name -> (indptr, indices).

    Sizes are checked against the network before anything is read (indptr: n_pre + 1
    integers; indices: at most n_pre x n integers); the values are checked by
    :meth:`~snnsim.Network.set_connectivity`. A sparse layer without stored synapses is a
    one-line ConfigError.
    """
    from .io import open_h5
    where = group.replace("weights", "connectivity")
    out = {}
    with open_h5(path) as f:
        for name, (indptr, _) in net.connectivity().items():
            g = f.get(f"{where}/{name}")
            if g is None or "indptr" not in g or "indices" not in g:
                raise ConfigError(os.fspath(path), f"holds no /{where}/{name} (indptr, indices) "
                                                   f"for the sparse weights {name}")
            n_pre, n = len(indptr) - 1, net.weights_shape(name)[1]
            ip, ix = g["indptr"], g["indices"]
            if ip.shape != (n_pre + 1,) or len(ix.shape) != 1 or ix.shape[0] > n_pre * n:
                raise ConfigError(f"{os.fspath(path)}:/{where}/{name}",
                                  f"indptr must have {n_pre + 1} entries and indices at most "
                                  f"{n_pre * n}, got {ip.shape} and {ix.shape}")
            out[name] = (ip[()], ix[()])
    return out


def _set_stored(net, path, weights, group, field=None):
    """Copy stored connectivity (sparse layers) and weights into ``net``; a missing, extra
    or misshapen weight is a one-line ConfigError (``field`` prefixes it, e.g. --weights)."""
    from .io.training import check_weights
    if net.connectivity():   # sparse layers: the stored synapses first (they fix the shapes)
        net.set_connectivity(load_connectivity(path, group, net))
    where = f"{os.fspath(path)}:/{group}"
    check_weights(weights, net.weights(), where if field is None else f"{field} {where}")
    net.set_weights(weights)


def stored_config(path: str | os.PathLike) -> dict:
    """The config (parsed JSON of the root attribute ``config``) of an output file."""
    from .io import open_h5
    from .io.reader import json_object, text_attr
    with open_h5(path) as f:
        if "config" not in f.attrs:
            raise ConfigError(os.fspath(path), "holds no config (attr 'config'): not an snnsim file")
        field = f"{os.fspath(path)}:config"
        return json_object(text_attr(f, "config", field), field)


def _stored_sections(data: dict, sections) -> dict:
    """A deep copy of the ``sections`` of a stored (validated) config, with the fields that
    validation derives removed, ready to be validated again."""
    raw = {k: json.loads(json.dumps(data[k])) for k in sections if k in data}
    for layer in raw.get("layer", []) if isinstance(raw.get("layer"), list) else []:
        if isinstance(layer, dict):
            layer.pop("n", None)   # derived by validation (sum of the populations)
    return raw


def network_config(data: dict):
    """A validated :class:`~snnsim.config.Config` of the network part of a stored config.

    Only ``[network]``, ``[[layer]]``, ``[readout]`` (and ``[task]`` if stored) are
    validated: the input a file was simulated with is not needed to rebuild the network.
    """
    from pathlib import Path

    from .config import SECTIONS, Config
    raw = _stored_sections(data, ("network", "layer", "readout", "task"))
    for key, value in raw.items():   # a crafted file: one line, not a TypeError
        want = list if key == "layer" else dict
        if not isinstance(value, want) or (key == "layer" and not all(
                isinstance(layer, dict) for layer in value)):
            raise ConfigError(f"config.{key}", "must be " + ("a list of tables ([[layer]])"
                              if key == "layer" else f"a table ([{key}])") + " in the stored config")
    ctx: dict = {"_base_dir": Path(".")}
    for name in ("network", "layer", "readout", "task"):
        if name in raw or name != "task":
            ctx[name] = SECTIONS[name][0](name, raw.get(name, {}), ctx)
    return Config(data={k: v for k, v in ctx.items() if not k.startswith("_")})


def file_config(path: str | os.PathLike, *, sections=None, overrides: dict | None = None):
    """The config stored in an output file, validated again as a :class:`~snnsim.config.Config`.

    Parameters
    ----------
    path : path
        An snnsim HDF5 output file (e.g. of ``snnsim train``).
    sections : sequence of str, optional
        Only these sections (default: all stored ones).
    overrides : dict, optional
        Dotted keys -> values, as :func:`snnsim.config.validate` (``None`` values ignored).

    Relative input paths (``input.path``) are relative to the folder of ``path``.
    """
    from pathlib import Path

    from .config import SECTIONS, validate
    raw = _stored_sections(stored_config(path), sections or SECTIONS)
    return validate(raw, base_dir=Path(path).resolve().parent, overrides=overrides)


def load_trained(path: str | os.PathLike):
    """``(network, config, group)``: the network of ``path`` with its stored weights.

    ``group`` says where the weights came from (see :func:`load_weights`).
    """
    from .config import build_network
    cfg = network_config(stored_config(path))
    weights, group = load_weights(path)
    net = build_network(cfg)
    _set_stored(net, path, weights, group)
    return net, cfg, group


def load(path: str | os.PathLike) -> tuple[Network, Config]:
    """Load the (trained) network stored in an output file.

    Parameters
    ----------
    path : path
        File written by ``snnsim train``, ``snnsim run`` or ``Network.simulate(out=...)``.

    Returns
    -------
    network : snnsim.Network
        Architecture from the stored config, weights from ``/weights`` (or the last
        checkpoint of an unfinished training run).
    config : snnsim.config.Config
        The validated network part of the stored config (``config.data`` is a dict).

    Examples
    --------
    >>> net, cfg = snnsim.load("sine.h5")          # doctest: +SKIP
    >>> summary = net.simulate(x, out="rerun.h5")  # doctest: +SKIP
    """
    net, cfg, _ = load_trained(path)
    return net, cfg


def set_weights_from(net, path: str | os.PathLike) -> str:
    """Copy the weights stored in ``path`` into ``net`` (same names and shapes); returns the group.

    A one-line :class:`ConfigError` names the first weight that is missing, extra or of
    another shape (:func:`snnsim.io.training.check_weights`), after ``--weights``.
    """
    try:
        weights, group = load_weights(path)
    except ConfigError as exc:
        raise ConfigError("--weights", str(exc)) from None
    _set_stored(net, path, weights, group, field="--weights")
    return group
