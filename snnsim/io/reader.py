"""Reading snnsim HDF5 output files.

Holds :func:`open_run` and :class:`Run`, a read-only view of one output file
(root attributes, spikes in SONATA layout, dense reports, dataset listing);
:func:`open_h5`, which opens a file read-only with h5py, also while it is
written or after its writer was killed (datasets then hold fewer rows); and
the superblock helpers behind that: :func:`clear_write_flags` (what
``h5clear`` does), :func:`repair_if_unused` and :func:`hold_shared_lock`.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

import h5py
import numpy as np

try:
    import fcntl
except ImportError:  # not POSIX: no locking, no repair
    fcntl = None

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_WRITE_FLAGS = 0x01 | 0x04  # superblock "open for write" and "open for SWMR write"
_M32 = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def _lookup3(data: bytes) -> int:
    """Jenkins lookup3 ``hashlittle`` (initval 0), the checksum HDF5 uses for metadata."""
    n, pos = len(data), 0
    a = b = c = (0xDEADBEEF + n) & _M32
    while n - pos > 12:
        x, y, z = struct.unpack_from("<3I", data, pos)
        a, b, c = (a + x) & _M32, (b + y) & _M32, (c + z) & _M32
        a = ((a - c) & _M32) ^ _rot(c, 4)
        c = (c + b) & _M32
        b = ((b - a) & _M32) ^ _rot(a, 6)
        a = (a + c) & _M32
        c = ((c - b) & _M32) ^ _rot(b, 8)
        b = (b + a) & _M32
        a = ((a - c) & _M32) ^ _rot(c, 16)
        c = (c + b) & _M32
        b = ((b - a) & _M32) ^ _rot(a, 19)
        a = (a + c) & _M32
        c = ((c - b) & _M32) ^ _rot(b, 4)
        b = (b + a) & _M32
        pos += 12
    if pos == n:
        return c
    x, y, z = struct.unpack("<3I", data[pos:].ljust(12, b"\0"))
    a, b, c = (a + x) & _M32, (b + y) & _M32, (c + z) & _M32
    c = ((c ^ b) - _rot(b, 14)) & _M32
    a = ((a ^ c) - _rot(c, 11)) & _M32
    b = ((b ^ a) - _rot(a, 25)) & _M32
    c = ((c ^ b) - _rot(b, 16)) & _M32
    a = ((a ^ c) - _rot(c, 4)) & _M32
    b = ((b ^ a) - _rot(a, 14)) & _M32
    return ((c ^ b) - _rot(b, 24)) & _M32


def clear_write_flags(path: str | os.PathLike, *, raise_eoa: bool = True) -> bool:
    """Clear the "open for writing" flags HDF5 keeps in the superblock while writing.

    What ``h5clear -s`` does, for the version 2/3 superblock snnsim writes at
    offset 0. With ``raise_eoa`` the end-of-file address is also raised to the
    file size, so data is never placed over bytes written after the last
    flush (only for files no process has open). Returns True if the file was
    changed; raises ValueError for an unexpected superblock.
    """
    with open(path, "r+b") as fh:
        head = fh.read(12)
        if head[:8] != _SIGNATURE or head[8] not in (2, 3):
            raise ValueError(f"{os.fspath(path)}: not an HDF5 file with a version 2/3 superblock")
        size_o = head[9]
        body = bytearray(head + fh.read(4 * size_o))
        (stored,) = struct.unpack("<I", fh.read(4))
        if _lookup3(bytes(body)) != stored:
            raise ValueError(f"{os.fspath(path)}: superblock checksum mismatch; not touching it")
        eoa_at = 12 + 2 * size_o
        eoa = int.from_bytes(body[eoa_at:eoa_at + size_o], "little")
        new_eoa = max(eoa, os.fstat(fh.fileno()).st_size) if raise_eoa else eoa
        if not body[11] & _WRITE_FLAGS and new_eoa == eoa:
            return False
        body[11] &= ~_WRITE_FLAGS & 0xFF
        body[eoa_at:eoa_at + size_o] = new_eoa.to_bytes(size_o, "little")
        fh.seek(0)
        fh.write(bytes(body) + struct.pack("<I", _lookup3(bytes(body))))
    return True


def hold_shared_lock(path: str | os.PathLike) -> int | None:
    """Open ``path`` and hold a shared ``flock`` on it; return the fd (None if impossible).

    An SWMR writer drops HDF5's own exclusive lock; holding a shared one keeps
    other writers out (HDF5 wants an exclusive lock to write) while readers,
    which take shared locks, still get in.
    """
    if fcntl is None:
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def repair_if_unused(path: str | os.PathLike) -> bool | None:
    """Clear a killed writer's flags (see :func:`clear_write_flags`) if no process uses ``path``.

    Returns None if another process has the file open (or it cannot be
    locked or written), else whether the file was changed (False also for
    files whose superblock is not one snnsim writes).
    """
    if fcntl is None:
        return None
    try:
        with open(path, "r+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                return clear_write_flags(path)
            except ValueError:  # not a superblock we know: leave it to HDF5
                return False
    except OSError:
        return None


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
        """Populations with spikes or reports, sorted."""
        names: set[str] = set()
        for top in ("spikes", "report"):
            if top in self._f:
                names.update(self._f[top].keys())
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
        """``(timestamps_ms, node_ids, batch_ids)`` of ``pop`` (optionally one batch)."""
        g = self._spike_group(pop)
        n = min(g[k].shape[0] for k in ("timestamps", "node_ids", "batch_ids"))
        ts, nodes = g["timestamps"][:n], g["node_ids"][:n]
        batches = g["batch_ids"][:n]
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
