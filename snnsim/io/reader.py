"""Reading snnsim HDF5 output files.

Holds :func:`open_run` and :class:`Run`, a read-only view of one output file
(root attributes, spikes in SONATA layout, dense reports, dataset listing);
:func:`open_h5`, which opens a file read-only with h5py, also while it is
written or after its writer was killed (datasets then hold fewer rows). The
superblock and lock helpers behind that live in :mod:`snnsim.io._swmr`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import h5py
import numpy as np

from ._swmr import repair_if_unused


def open_h5(path: str | os.PathLike) -> h5py.File:
    """Open an output file read-only, including one being written or left by a killed run.

    A file no process uses is first repaired with :func:`repair_if_unused`
    (after a SIGKILL its superblock may still say "open for writing" and
    hold a stale end-of-file address); a file in use is opened as an SWMR
    reader.
    """
    modes = ({"swmr": True}, {}) if repair_if_unused(path) is None else ({}, {"swmr": True})
    first: OSError | None = None
    for kw in modes:
        try:
            return h5py.File(path, "r", **kw)
        except OSError as exc:
            first = first or exc
    raise first


def neuron_index(group: h5py.Group, node_ids: np.ndarray, batch_ids: np.ndarray) -> np.ndarray:
    """Neuron indices of the SONATA ``node_ids`` of spike group ``group`` (uint32).

    Files since the SONATA node layout (group attribute ``node_id_layout``) number
    neuron i of trial b as ``b * n_nodes + i``; older files store i itself.
    """
    if "node_id_layout" not in group.attrs:
        return node_ids
    n = np.uint64(group.attrs["n_nodes"])
    return (node_ids.astype(np.uint64) - batch_ids.astype(np.uint64) * n).astype(np.uint32)


def _plain(value: Any) -> Any:
    """Attribute value as a plain Python object."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


class Run:
    """Read-only access to one snnsim output file (use :func:`open_run`)."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._f = open_h5(self.path)

    # --------------------------------------------------------------- metadata
    @property
    def file(self) -> h5py.File:
        return self._f

    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes; ``config`` is parsed from JSON."""
        out = {k: _plain(v) for k, v in self._f.attrs.items()}
        if isinstance(out.get("config"), str):
            try:
                out["config"] = json.loads(out["config"])
            except json.JSONDecodeError:
                pass
        return out

    @property
    def dt(self) -> float:
        return float(self._f.attrs.get("dt", 1.0))

    @property
    def status(self) -> str:
        """``complete``, ``failed (...)`` or ``running`` (killed or still running)."""
        return str(_plain(self._f.attrs.get("status", "unknown")))

    @property
    def populations(self) -> list[str]:
        """Populations with spikes or reports, sorted (SONATA views ``<pop>:<var>`` left out)."""
        names: set[str] = set()
        for top in ("spikes", "report"):
            if top in self._f:
                names.update(k for k, g in self._f[top].items() if "sonata_view_of" not in g.attrs)
        return sorted(names)

    def datasets(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """All datasets: name -> (shape, dtype)."""
        out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                out[name] = (tuple(obj.shape), obj.dtype)

        self._f.visititems(visit)
        return out

    # ----------------------------------------------------------------- spikes
    def _spike_group(self, pop: str) -> h5py.Group:
        try:
            return self._f[f"spikes/{pop}"]
        except KeyError:
            raise KeyError(f"no spikes for population {pop!r} in {self.path}; "
                           f"populations: {self.populations}") from None

    def spikes(self, pop: str, batch: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(timestamps_ms, neurons, batch_ids)`` of ``pop`` (optionally one batch).

        ``neurons`` are neuron indices in the population (the SONATA ``node_ids``
        of trial b are offset by ``b * n_nodes``; see :mod:`snnsim.io.recorder`).
        """
        g = self._spike_group(pop)
        n = min(g[k].shape[0] for k in ("timestamps", "node_ids", "batch_ids"))
        ts, nodes = g["timestamps"][:n], g["node_ids"][:n]
        batches = g["batch_ids"][:n]
        nodes = neuron_index(g, nodes, batches)
        if batch is not None:
            keep = batches == batch
            ts, nodes, batches = ts[keep], nodes[keep], batches[keep]
        return ts, nodes, batches

    def spike_array(self, pop: str, T: int | None = None, n: int | None = None,
                    batch: int | None = None, dtype: Any = np.uint8) -> np.ndarray:
        """Dense 0/1 spike array indexed by global step (spikes at steps >= T dropped).

        Shape ``(batch, T, n)`` if ``batch`` is None, else ``(T, n)``. ``T``
        defaults to the root ``stop_step`` attribute, ``n`` to the group's
        ``n_nodes``.
        """
        g = self._spike_group(pop)
        T = int(self._f.attrs.get("stop_step", 0)) if T is None else int(T)
        n = int(g.attrs["n_nodes"]) if n is None else int(n)
        ts, nodes, batches = self.spikes(pop, batch)
        steps = np.rint(ts / self.dt).astype(np.int64)
        keep = (steps < T) & (nodes < n)
        if batch is not None:
            out = np.zeros((T, n), dtype=dtype)
            out[steps[keep], nodes[keep]] = 1
            return out
        B = int(g.attrs.get("n_batch", int(batches.max()) + 1 if batches.size else 1))
        out = np.zeros((B, T, n), dtype=dtype)
        out[batches[keep], steps[keep], nodes[keep]] = 1
        return out

    # ---------------------------------------------------------------- reports
    def report(self, pop: str, var: str, batch: int | None = None) -> np.ndarray:
        """Dense report ``(T_recorded, batch, n_selected)`` (or ``(T, n)`` for one batch)."""
        try:
            ds = self._f[f"report/{pop}/{var}"]
        except KeyError:
            raise KeyError(f"no report {pop}/{var} in {self.path}") from None
        return ds[:] if batch is None else ds[:, batch]

    def report_steps(self, pop: str, var: str) -> np.ndarray:
        """Global step of each row of a dense report."""
        ds = self._f[f"report/{pop}/{var}"]
        start, every = int(ds.attrs["start_step"]), int(ds.attrs["every"])
        return start + every * np.arange(ds.shape[0], dtype=np.int64)

    def report_node_ids(self, pop: str) -> np.ndarray:
        """Neuron indices of the report columns of ``pop``."""
        return self._f[f"report/{pop}/node_ids"][:]

    # ---------------------------------------------------------------- closing
    def close(self) -> None:
        if self._f:
            self._f.close()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return f"Run({self.path!r}, populations={self.populations})"


def open_run(path: str | os.PathLike) -> Run:
    """Open an snnsim output file for reading."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {os.fspath(path)}")
    return Run(path)
