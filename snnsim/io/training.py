"""Training output in the run's HDF5 file: per-iteration log rows and resumable checkpoints.

- ``/training/<key>``: one row per iteration (iteration, loss, accuracy, rates, validation),
  buffered in memory and appended in blocks (every ``flush_every`` rows and at checkpoints).
- ``/checkpoint``: weights, optimiser state and feedback matrix as datasets, the iteration,
  early-stopping state and every Generator state as JSON in the attr ``meta``. It is written
  as ``/checkpoint_new`` and then renamed over the old one, so a kill during the write keeps
  the previous checkpoint.
"""
import json

import h5py
import numpy as np

from ..errors import ConfigError
from .reader import open_h5

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


def load_checkpoint(path):
    """(arrays, meta) of the last complete checkpoint in ``path``."""
    with open_h5(path) as f:
        name = "checkpoint" if "checkpoint" in f else ("checkpoint_new" if "checkpoint_new" in f else None)
        if name is None:
            raise ConfigError("--resume", f"{path} holds no checkpoint (train.checkpoint_every = 0?)")
        g = f[name]
        arrays = {}
        g.visititems(lambda k, obj: arrays.__setitem__(k, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return arrays, json.loads(g.attrs["meta"])


def truncate_log(f, iteration):
    """Drop log rows written after the checkpoint's iteration (they will be redone)."""
    if LOG not in f or "iteration" not in f[LOG]:
        return
    keep = int(np.searchsorted(f[LOG]["iteration"][()], iteration, side="right"))
    for ds in f[LOG].values():
        ds.resize(keep, axis=0)
