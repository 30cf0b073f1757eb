"""Training output in the run's HDF5 file: per-iteration log rows and resumable checkpoints.

- ``/training/<key>``: one row per iteration (iteration, loss, accuracy, rates, validation),
  buffered in memory and appended in blocks (every ``flush_every`` rows and at checkpoints).
- ``/checkpoint``: weights, optimiser state and feedback matrix as datasets, the iteration,
  early-stopping state and every Generator state as JSON in the attr ``meta``. It is written
  as ``/checkpoint_new`` and then renamed over the old one, so a kill during the write keeps
  the previous checkpoint.

Reading a checkpoint back (``snnsim train --resume``, :func:`snnsim.load` of an unfinished
run) goes through :func:`read_checkpoint`, the one place where every field is checked
before anything is used or the file is opened for writing: the file format, the root
attributes ``config`` and ``dt``, the checkpoint group and ``meta`` (iteration, early-stopping
state, generator states), the weights (names, shapes, dtypes, finite values), the optimiser
state and the feedback matrices against the network and optimiser being resumed, and the
training log the resumed run continues. Each problem is a one-line
:class:`~snnsim.errors.ConfigError` naming the field and what is allowed.
"""
import json
import math
import os
from dataclasses import dataclass

import h5py
import numpy as np

from ..errors import ConfigError
from .reader import json_object, open_h5, read_array, text_attr
from .writer import FORMAT

LOG = "training"


class TrainLog:
    """Buffered per-iteration rows; every column stays aligned with ``iteration`` (NaN = absent)."""

    def __init__(self, writer, flush_every=50):
        self.writer, self.flush_every = writer, flush_every
        self.rows = []
        f = writer.file
        self.written = len(f[LOG]["iteration"]) if LOG in f and "iteration" in f[LOG] else 0
        self.keys = set(f[LOG].keys()) if LOG in f else set()

    def add(self, rec):
        self.rows.append(rec)
        if len(self.rows) >= self.flush_every:
            self.flush()

    def flush(self):
        if not self.rows:
            return
        for key in sorted(self.keys | {k for r in self.rows for k in r}):
            dtype = np.int64 if key == "iteration" else np.float64
            if key not in self.keys and self.written:     # a column that starts late
                self.writer.append(f"{LOG}/{key}", np.full(self.written, np.nan),
                                   attrs={"units": _units(key)})
            col = np.array([r.get(key, np.nan) for r in self.rows], dtype=dtype)
            self.writer.append(f"{LOG}/{key}", col, attrs={"units": _units(key)})
            self.keys.add(key)
        self.written += len(self.rows)
        self.rows = []
        self.writer.flush()


def _units(key):
    return "Hz" if key.startswith("rate") else ("s" if key.endswith("_s") else "1")


def _delete_group(f, name):
    """Delete group ``name`` bottom-up: in SWMR mode HDF5 2.0 segfaults deleting a group that
    still holds subgroups (``del f[name]`` on the checkpoint crashed the process)."""
    def rm(g):
        for key in list(g):
            if isinstance(g[key], h5py.Group):
                rm(g[key])
            del g[key]
    rm(f[name])
    del f[name]


def save_checkpoint(writer, trainer, log, state=None):
    """Flush the log, write ``/checkpoint`` atomically (write new, then swap) and flush.

    ``state`` ((arrays, meta), default ``trainer.state()``) is e.g. the snapshot taken at
    the end of the last complete iteration when an interrupt arrived inside one."""
    log.flush()
    f = writer.file
    arrays, meta = trainer.state() if state is None else state
    if "checkpoint_new" in f:
        _delete_group(f, "checkpoint_new")
    g = f.create_group("checkpoint_new")
    for name, arr in arrays.items():
        g.create_dataset(name, data=arr)
    g.attrs["meta"] = json.dumps(meta)
    f.flush()
    if "checkpoint" in f:
        _delete_group(f, "checkpoint")
    f.move("checkpoint_new", "checkpoint")
    f.flush()


#: file formats (root attribute ``format``) whose checkpoints this version resumes
FORMATS = (FORMAT,)
#: keys of a checkpoint's JSON attribute ``meta``
META_KEYS = ("iteration", "best_val", "bad_evals", "stopped", "rng")
#: the trainer's generators (see :class:`snnsim.trainer.Trainer`), saved in ``meta["rng"]``
RNG_STREAMS = ("data", "feedback", "eval")
MAX_ITERATION = 2**63 - 1


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read and validated by :func:`read_checkpoint`.

    Attributes
    ----------
    path : str
        The file it was read from.
    iteration : int
        Iterations done (>= 0).
    weights : dict
        Weight name -> array (pre, post), finite.
    optimizer : dict
        ``"t"`` (0-d int64: optimiser steps done) and, for Adam, ``"m/<weight>"``,
        ``"v/<weight>"`` (float64 moments).
    feedback : dict
        ``"B"`` (feedback of the readout) and ``"<layer>.w_in"`` matrices of an online rule
        with random/adaptive feedback; empty otherwise.
    best_val, bad_evals, stopped :
        Early-stopping state: best validation loss (inf: none yet), validations without
        improvement, whether training stopped early.
    rng : dict
        Stream name -> ``bit_generator.state`` of the trainer's generators.
    log_rows : int
        Rows of ``/training`` up to and including ``iteration`` (kept on resume).
    config : dict
        The run's config (root attribute ``config``, parsed).
    dt : float
        Time step of the run in ms (root attribute ``dt``).
    connectivity : dict
        Sparse layers: weight name -> (indptr, indices) of its synapses (CSR); the weight
        is then the 1-D ``data`` of that CSR.
    """
    path: str
    iteration: int
    weights: dict
    optimizer: dict
    feedback: dict
    best_val: float
    bad_evals: int
    stopped: bool
    rng: dict
    log_rows: int
    config: dict
    dt: float
    connectivity: dict

    def state(self):
        """``(arrays, meta)`` in the layout of :meth:`snnsim.trainer.Trainer.state`."""
        arrays = {f"weights/{k}": v for k, v in self.weights.items()}
        arrays.update({f"optimizer/{k}": v for k, v in self.optimizer.items()})
        arrays.update({f"feedback/{k}": v for k, v in self.feedback.items()})
        for k, (indptr, indices) in self.connectivity.items():
            arrays.update({f"connectivity/{k}/indptr": indptr, f"connectivity/{k}/indices": indices})
        meta = {"iteration": self.iteration, "best_val": self.best_val,
                "bad_evals": self.bad_evals, "stopped": self.stopped, "rng": self.rng}
        return arrays, meta


def _integer(field, value, minimum=0, maximum=MAX_ITERATION):
    """An int in [minimum, maximum] (bools, floats and strings refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigError(field, f"must be an integer in [{minimum}, {maximum}], got {value!r}")
    if not minimum <= int(value) <= maximum:
        raise ConfigError(field, f"must be an integer in [{minimum}, {maximum}], got {value}")
    return int(value)


def check_weights(weights, expected, field, *, dtype=None, shapes=True):
    """Refuse stored ``weights`` (name -> array or dataset) that do not fit ``expected``
    (name -> the network's array): a missing or extra name, another shape, another dtype
    (``dtype``, e.g. the network's), a non-numeric dtype (``shapes=False``: names only).
    ``field`` prefixes the names."""
    missing = [k for k in expected if k not in weights]
    extra = sorted(set(weights) - set(expected))
    allowed = ", ".join(expected)
    if missing:
        raise ConfigError(f"{field}/{missing[0]}", f"is missing; the network's weights are {allowed}")
    if extra:
        raise ConfigError(f"{field}/{extra[0]}", f"is not a weight of this network ({allowed})")
    for name, want in expected.items() if shapes else ():
        w = weights[name]
        if dtype is not None and getattr(w, "dtype", None) != dtype:
            raise ConfigError(f"{field}/{name}", f"must be {np.dtype(dtype).name} (network.dtype), "
                                                 f"got {getattr(w, 'dtype', type(w).__name__)}")
        if not hasattr(w, "dtype") or w.dtype.kind not in "biuf":
            raise ConfigError(f"{field}/{name}", f"must be a numeric array, got "
                                                 f"{getattr(w, 'dtype', type(w).__name__)}")
        if tuple(w.shape) != tuple(want.shape):
            raise ConfigError(f"{field}/{name}", f"must have shape {tuple(want.shape)}, "
                                                 f"got {tuple(w.shape)}")


#: the groups inside a checkpoint group (everything else in it is a dataset in one of them;
#: sparse layers add ``connectivity/<weight>`` groups of ``indptr`` and ``indices``)
GROUPS = ("weights", "optimizer", "optimizer/m", "optimizer/v", "feedback", "connectivity")
CSR_PARTS = ("indptr", "indices")


def _in_group(name):
    """True if ``name`` is one of the groups a checkpoint holds."""
    head, _, rest = name.partition("/")
    return name in GROUPS or (head == "connectivity" and rest != "" and "/" not in rest)


def _dataset_allowed(name):
    parent, _, leaf = name.rpartition("/")
    if parent.startswith("connectivity/"):
        return _in_group(parent) and leaf in CSR_PARTS
    return parent in GROUPS and parent != "connectivity" and name not in GROUPS


def _members(g, where):
    """name -> dataset of every dataset below checkpoint group ``g`` (paths relative to
    it); a dataset or group anywhere else (a subgroup of ``weights``, a dataset where a
    group belongs, a soft link to elsewhere) is refused."""
    out, bad = {}, []

    def visit(name, obj):
        parent = name.rpartition("/")[0]
        if isinstance(obj, h5py.Group) and _in_group(name):
            return
        if isinstance(obj, h5py.Dataset) and _dataset_allowed(name):
            out[name] = obj
        elif not bad:
            bad.append((name, obj))
    g.visititems(visit)
    if bad:
        name, obj = bad[0]
        what = "a group" if isinstance(obj, h5py.Group) else "a dataset"
        if _in_group(name):
            raise ConfigError(f"{where}/{name}", f"must be a group, got {what}")
        raise ConfigError(f"{where}/{name}", f"is {what} where none belongs; a checkpoint "
                                             "holds the datasets of weights/, optimizer/ "
                                             "and feedback/")
    return out


def _read_connectivity(arrays, where, net):
    """name -> (indptr, indices) of the sparse layers (sizes and ranges checked)."""
    stored = {}
    for key, ds in arrays.items():
        if key.startswith("connectivity/"):
            name, part = key[13:].rsplit("/", 1)
            stored.setdefault(name, {})[part] = ds
    if net is not None:
        check_weights(stored, {k: None for k in net.connectivity()}, f"{where}/connectivity",
                      shapes=False)
    out = {}
    for name, parts in stored.items():
        field = f"{where}/connectivity/{name}"
        for part in CSR_PARTS:
            if part not in parts:
                raise ConfigError(f"{field}/{part}", "is missing (CSR of a sparse layer)")
        n_pre, n_post = (None, None) if net is None else net.weights_shape(name)
        indptr = read_array(parts["indptr"], f"{field}/indptr", kinds="iu",
                            shape=None if n_pre is None else (n_pre + 1,))
        indices = read_array(parts["indices"], f"{field}/indices", kinds="iu")
        if indptr.ndim != 1 or indices.ndim != 1 or indptr.size < 1 or indptr[0] != 0 \
                or np.any(np.diff(indptr) < 0) or indptr[-1] != indices.size \
                or (indices.size and (indices.min() < 0 or (
                    n_post is not None and indices.max() >= n_post))):
            raise ConfigError(field, "is not a valid CSR (indptr: increasing from 0 to "
                                     "len(indices); indices: postsynaptic neurons)")
        out[name] = (indptr, indices)
    return out


def _read_weights(arrays, where, net, dtype, connectivity):
    stored = {k[8:]: v for k, v in arrays.items() if k.startswith("weights/")}
    expected = stored if net is None else {   # sparse layers: one weight per stored synapse
        k: np.empty(connectivity[k][1].shape) if k in connectivity else w
        for k, w in net.weights().items()}
    if not expected:
        raise ConfigError(f"{where}/weights", "is missing or empty")
    check_weights(stored, expected, f"{where}/weights", dtype=dtype)
    return {k: read_array(stored[k], f"{where}/weights/{k}") for k in expected}


def _read_optimizer(arrays, where, trainer, weights):
    stored = {k[10:]: v for k, v in arrays.items() if k.startswith("optimizer/")}
    if not stored:
        raise ConfigError(f"{where}/optimizer", "is missing (the optimiser's state: t, and m, v "
                                                "for Adam)")
    t = read_array(_dataset_of(stored, "t", f"{where}/optimizer"), f"{where}/optimizer/t", shape=(),
               kinds="iu")
    t = _integer(f"{where}/optimizer/t", t.item())
    out = {"t": np.array(t, dtype=np.int64)}
    kind = "adam" if any(k.startswith(("m/", "v/")) for k in stored) else "sgd"
    want = None if trainer is None else trainer.optimizer.name
    if want is not None and want != kind and (kind == "adam" or t > 0):
        raise ConfigError(f"{where}/optimizer", f"holds the state of {kind}, the config's "
                                                f"optimiser is {want} (train.optimizer)")
    kind = want or kind
    for key in stored:
        if key != "t" and not (kind == "adam" and key[:2] in ("m/", "v/")):
            allowed = "t, m/<weight>, v/<weight>" if kind == "adam" else "t"
            raise ConfigError(f"{where}/optimizer/{key}", f"is not part of the {kind} state "
                                                          f"({allowed})")
    if kind == "adam":
        names = list(weights) if t > 0 else []
        for moment in ("m", "v"):
            have = {k[2:]: v for k, v in stored.items() if k.startswith(f"{moment}/")}
            check_weights(have, {k: weights[k] for k in names}, f"{where}/optimizer/{moment}")
            for name in names:
                field = f"{where}/optimizer/{moment}/{name}"
                arr = read_array(have[name], field).astype(np.float64)
                if moment == "v" and np.any(arr < 0):
                    raise ConfigError(field, "must be >= 0 (a mean of squared gradients)")
                out[f"{moment}/{name}"] = arr
    return out


def _dataset_of(stored, key, where):
    if key not in stored:
        raise ConfigError(f"{where}/{key}", "is missing")
    return stored[key]


def _read_feedback(arrays, where, trainer):
    stored = {k[9:]: v for k, v in arrays.items() if k.startswith("feedback/")}
    learner = None if trainer is None else trainer.learner
    if trainer is None:
        return {k: read_array(v, f"{where}/feedback/{k}") for k, v in stored.items()}
    expected = {} if learner is None or learner.feedback_w is None else {
        "B" if k == "readout.w_out" else k: b for k, b in learner.feedback_matrices().items()}
    if expected and "B" not in stored:
        raise ConfigError(f"{where}/feedback/B", "is missing (the run's random/adaptive "
                                                 "feedback matrix)")
    out = {}
    for key, ds in stored.items():
        field = f"{where}/feedback/{key}"
        if key not in expected:
            raise ConfigError(field, "is not a feedback matrix of this run "
                                     f"({', '.join(expected) or 'it has none'})")
        out[key] = read_array(ds, field, shape=expected[key].shape)
    return out


def _read_meta(g, where, trainer):
    field = f"{where}.meta"
    meta = json_object(text_attr(g, "meta", field), field)
    for key in META_KEYS:
        if key not in meta:
            raise ConfigError(f"{field}.{key}", "is missing")
    for key in meta:
        if key not in META_KEYS:
            raise ConfigError(f"{field}.{key}", f"unknown key; allowed: {', '.join(META_KEYS)}")
    best = meta["best_val"]
    if isinstance(best, bool) or not isinstance(best, (int, float)) or math.isnan(best) \
            or best == -math.inf:
        raise ConfigError(f"{field}.best_val", f"must be a number or Infinity, got {best!r}")
    if not isinstance(meta["stopped"], bool):
        raise ConfigError(f"{field}.stopped", f"must be true or false, got {meta['stopped']!r}")
    rng = meta["rng"]
    if not isinstance(rng, dict):
        raise ConfigError(f"{field}.rng", f"must be an object of generator states "
                                          f"({', '.join(RNG_STREAMS)}), got {type(rng).__name__}")
    for key in RNG_STREAMS:
        if key not in rng:
            raise ConfigError(f"{field}.rng.{key}", "is missing")
    for key, st in rng.items():
        if key not in RNG_STREAMS:
            raise ConfigError(f"{field}.rng.{key}", f"unknown generator; allowed: "
                                                    f"{', '.join(RNG_STREAMS)}")
        kind = type(trainer.rngs[key].bit_generator) if trainer is not None else np.random.PCG64
        _check_rng_state(f"{field}.rng.{key}", st, kind)
    return {"iteration": _integer(f"{field}.iteration", meta["iteration"]),
            "best_val": float(best),
            "bad_evals": _integer(f"{field}.bad_evals", meta["bad_evals"]),
            "stopped": meta["stopped"], "rng": rng}


def _check_rng_state(field, state, kind):
    """Refuse a generator state that ``kind`` (a numpy bit generator class) would not take
    back exactly."""
    name = kind.__name__
    if not isinstance(state, dict) or state.get("bit_generator") != name:
        got = state.get("bit_generator") if isinstance(state, dict) else type(state).__name__
        raise ConfigError(field, f"must be a {name} generator state, got {str(got)[:40]!r}")
    bg = kind()
    try:
        bg.state = state
        ok = bg.state == state
    except (TypeError, ValueError, KeyError, OverflowError, AttributeError):
        ok = False
    if not ok:
        raise ConfigError(field, f"is not a valid {name} state (damaged checkpoint)")


def _read_root(f, where, trainer):
    fmt = text_attr(f, "format", f"{where}:format")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}:format", f"is {fmt[:40]!r}; this version of snnsim "
                                             f"resumes {', '.join(FORMATS)}")
    config = json_object(text_attr(f, "config", f"{where}:config"), f"{where}:config")
    if "dt" not in f.attrs:
        raise ConfigError(f"{where}:dt", "is missing")
    dt = f.attrs["dt"]
    if isinstance(dt, (bool, np.bool_)) or not isinstance(dt, (float, int, np.floating, np.integer)) \
            or not np.isfinite(dt) or dt <= 0:
        shown = dt if isinstance(dt, str) else np.asarray(dt).tolist()
        raise ConfigError(f"{where}:dt", f"must be a positive number (ms), got {shown!r}"[:120])
    if trainer is not None and float(dt) != float(trainer.net.dt):
        raise ConfigError(f"{where}:dt", f"is {float(dt)} ms, the config's network.dt is "
                                         f"{trainer.net.dt} ms")
    return config, float(dt)


def _log_rows(f, where, iteration, field_iteration):
    """Rows of the training log up to ``iteration``; refuses a log the run cannot continue."""
    if LOG not in f:
        if iteration:
            raise ConfigError(f"{where}:/{LOG}", f"is missing; the checkpoint is at iteration "
                                                 f"{iteration}")
        return 0
    g = f[LOG]
    if not isinstance(g, h5py.Group):
        raise ConfigError(f"{where}:/{LOG}", "must be a group of 1-D columns, got a dataset")
    for key, ds in g.items():
        field = f"{where}:/{LOG}/{key}"
        if not isinstance(ds, h5py.Dataset):
            raise ConfigError(field, "must be a 1-D column (dataset), got a group")
        if ds.ndim != 1 or ds.dtype.kind not in "biuf":
            raise ConfigError(field, f"must be a 1-D numeric column, got shape {ds.shape}, "
                                     f"dtype {ds.dtype}")
        if ds.chunks is None or ds.maxshape[0] is not None:
            raise ConfigError(field, "must be a resizable (chunked, unlimited) column as "
                                     "snnsim writes it")
    if "iteration" not in g:
        if iteration or len(g):
            raise ConfigError(f"{where}:/{LOG}/iteration", "is missing")
        return 0
    field = f"{where}:/{LOG}/iteration"
    iters = read_array(g["iteration"], field, kinds="iu")
    if iters.size and np.any(np.diff(iters) <= 0):
        raise ConfigError(field, "must be increasing")
    keep = int(np.searchsorted(iters, iteration, side="right"))
    if iteration and (keep == 0 or iters[keep - 1] != iteration):
        last = int(iters[-1]) if iters.size else 0
        raise ConfigError(field_iteration,
                          f"is {iteration}, but the training log ends at iteration {last}")
    for key, ds in g.items():
        if ds.shape[0] < keep:
            raise ConfigError(f"{where}:/{LOG}/{key}", f"has {ds.shape[0]} rows, the log "
                                                       f"needs {keep} (up to the checkpoint)")
    return keep


def read_checkpoint(path, trainer=None, *, net=None):
    """Read and validate the last complete checkpoint of a training file.

    Parameters
    ----------
    path : path
        A file written by ``snnsim train`` (``/checkpoint``, or ``/checkpoint_new`` if a
        kill interrupted the swap).
    trainer : snnsim.trainer.Trainer, optional
        The trainer about to resume: the weights must match its network (names, shapes,
        ``network.dtype``), the optimiser state its optimiser (SGD: ``t``; Adam: ``t`` and
        float64 moments of every weight once ``t > 0``), the feedback matrices its online
        rule, the generator states its generators, ``dt`` its ``network.dt``.
    net : snnsim.Network, optional
        Without a trainer: the network whose weight names and shapes the weights (and Adam
        moments) must have, any float dtype (e.g. :func:`snnsim.load` of an unfinished run). With neither, only the structure of the
        checkpoint is checked.

    Returns
    -------
    Checkpoint
        Every field, validated; nothing in the file is changed.

    Raises
    ------
    ConfigError
        One line naming the first field that is missing, malformed or does not fit.
    """
    where = os.fspath(path)
    with open_h5(path) as f:
        config, dt = _read_root(f, where, trainer)
        name = next((n for n in ("checkpoint", "checkpoint_new") if n in f), None)
        if name is None:
            raise ConfigError("--resume", f"{where} holds no checkpoint "
                                          "(train.checkpoint_every = 0?)")
        g = f[name]
        field = f"{where}:/{name}"
        if not isinstance(g, h5py.Group):
            raise ConfigError(field, "must be a group (weights, optimizer, meta), got a dataset")
        meta = _read_meta(g, field, trainer)
        arrays = _members(g, field)
        net = net if trainer is None else trainer.net
        connectivity = _read_connectivity(arrays, field, net)
        weights = _read_weights(arrays, field, net, None if trainer is None else net.dtype,
                                connectivity)
        optimizer = _read_optimizer(arrays, field, trainer, weights)
        feedback = _read_feedback(arrays, field, trainer)
        rows = _log_rows(f, where, meta["iteration"], f"{field}.meta.iteration")
    return Checkpoint(path=where, weights=weights, optimizer=optimizer, feedback=feedback,
                      connectivity=connectivity, log_rows=rows, config=config, dt=dt, **meta)


def truncate_log(f, iteration):
    """Drop log rows written after the checkpoint's iteration (they will be redone)."""
    if LOG not in f or "iteration" not in f[LOG]:
        return
    keep = int(np.searchsorted(f[LOG]["iteration"][()], iteration, side="right"))
    for ds in f[LOG].values():
        ds.resize(keep, axis=0)
