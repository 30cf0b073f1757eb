"""HDF5 output file writer for snnsim runs.

Holds :class:`H5Writer`, a context manager over one HDF5 file: root attributes
(``dt``, ``seed``, ``snnsim_version``, ``config``, ``created``, ``format``,
``status``), blocks of rows appended along axis 0 of chunked compressed
datasets, one-shot arrays and attributes. It writes to the target path itself.

Crash safety: SIGKILL keeps every block written before the last flush. The
file is in SWMR-write mode (HDF5 1.10 format), since otherwise HDF5 reuses the
space of a rewritten compressed chunk (the partly filled last chunk of each
growing dataset) and a kill between flushes can silently corrupt flushed rows.
Every flush clears the superblock's "open for writing" flags, so plain h5py
opens the file while it is written or after a kill; a shared ``flock`` keeps
other writers out. A stale end-of-file address left by a kill is repaired by
:func:`snnsim.io.reader.open_h5` and :meth:`H5Writer.reopen`.

On an exception inside ``with`` the file is closed and kept if any rows were
appended, else deleted; :meth:`H5Writer.abort` closes and deletes it.
"""

from __future__ import annotations

import errno
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from ._swmr import clear_write_flags, hold_shared_lock, repair_if_unused

FORMAT = "snnsim-1"
CHUNK_BYTES_CAP = 1 << 20  # ~1 MiB per chunk
GZIP_LEVEL = 4
LIBVER = ("v110", "latest")  # SWMR needs the 1.10 file format


def chunk_shape(shape: tuple[int, ...], itemsize: int, rows: int,
                cap: int = CHUNK_BYTES_CAP) -> tuple[int, ...]:
    """Chunk shape for a dataset growing along axis 0.

    About ``rows`` rows along axis 0; if that exceeds ``cap`` bytes the rows
    are split into equal parts under the cap (so appends of ``rows`` rows stay
    chunk-aligned), and if one row alone exceeds ``cap`` the trailing axes are
    halved too.
    """
    trailing = [max(1, int(s)) for s in shape[1:]]
    row_bytes = itemsize * int(np.prod(trailing, dtype=np.int64))
    rows = max(1, int(rows))
    parts = -(-rows * row_bytes // cap)
    if parts > 1:
        rows = max(1, min(-(-rows // parts), cap // row_bytes))
    while rows == 1 and itemsize * int(np.prod(trailing, dtype=np.int64)) > cap:
        axis = int(np.argmax(trailing))
        if trailing[axis] == 1:
            break
        trailing[axis] = (trailing[axis] + 1) // 2
    return (rows, *trailing)


def _unflag(path: str | os.PathLike) -> None:
    """Clear the superblock's "open for writing" flags so plain h5py can open the file."""
    try:
        clear_write_flags(path, raise_eoa=False)
    except (OSError, ValueError):
        pass


class _File(h5py.File):
    """h5py.File whose ``flush()`` in SWMR mode also clears the write flags (see module doc)."""

    def flush(self) -> None:
        super().flush()
        if self.swmr_mode:
            _unflag(self.filename)


def _create_file(path: Path, overwrite: bool) -> h5py.File:
    """Create ``path`` for writing; raise one-line OSError subclasses on failure."""
    parent = path.parent
    exists_msg = f"output file {path} already exists; pass --overwrite to replace it"
    if not parent.is_dir():
        raise FileNotFoundError(f"output directory {parent} does not exist"
                                + (" (it is a file)" if parent.exists() else ""))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"output directory {parent} is not writable")
    if path.exists() and not overwrite:
        raise FileExistsError(exists_msg)
    try:
        return _File(path, "w" if overwrite else "w-", libver=LIBVER)
    except OSError as exc:
        if getattr(exc, "errno", None) == errno.EACCES:
            raise PermissionError(f"cannot create output file {path}: permission denied") from None
        if path.exists() and not overwrite:
            raise FileExistsError(exists_msg) from None
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        # e.g. /proc/x.h5 (ENOENT although the directory exists): a user error, not a crash
        cls = {errno.ENOENT: FileNotFoundError, errno.EPERM: PermissionError,
               errno.EROFS: PermissionError}.get(getattr(exc, "errno", None), OSError)
        raise cls(f"cannot create output file {path}: {first}") from None


def _put_attrs(obj: h5py.HLObject, attrs: dict[str, Any]) -> None:
    """Set attributes; dicts, non-numeric lists and None are stored as JSON strings."""
    for key, value in attrs.items():
        if value is None or isinstance(value, dict) or (
                isinstance(value, (list, tuple))
                and not all(isinstance(v, (int, float, np.number)) for v in value)):
            value = json.dumps(value, sort_keys=True)
        obj.attrs[key] = value


class H5Writer:
    """Context manager writing one snnsim HDF5 output file.

    ``dt`` is in ms, ``seed=None`` is stored as -1, ``config_json`` is a JSON
    string or JSON-able object, ``compression`` is ``"gzip"`` (level 4 +
    shuffle), ``"lzf"`` or ``None``, ``block`` is the default chunk length
    along axis 0 of appended datasets.
    """

    def __init__(self, path: str | os.PathLike, *, dt: float, seed: int | None,
                 version: str, config_json: str | dict | None,
                 overwrite: bool = False, compression: str | None = "gzip",
                 block: int = 1024):
        self._setup(path, compression, block)
        if config_json is None:
            config_json = "{}"
        if not isinstance(config_json, str):
            config_json = json.dumps(config_json, sort_keys=True)
        json.loads(config_json)  # fail early on invalid JSON
        self._f = _create_file(self.path, overwrite)
        self.dt = float(dt)
        self._f.attrs.update(
            dt=self.dt, dt_unit="ms", seed=-1 if seed is None else int(seed),
            snnsim_version=str(version), config=config_json, format=FORMAT, status="running",
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self._enter_swmr()

    def _setup(self, path: str | os.PathLike, compression: str | None, block: int) -> None:
        self.path = Path(path)
        if compression not in (None, "none", "gzip", "lzf"):
            raise ValueError(f"unknown compression {compression!r}; use gzip, lzf or none")
        self.compression = None if compression == "none" else compression
        self.block = int(block)
        if self.block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        self.rows_appended = 0
        self._on_close: list[Callable[[], None]] = []
        self._swmr = False
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ state
    @property
    def file(self) -> h5py.File:
        """The open :class:`h5py.File` (raises if closed)."""
        if self._f is None:
            raise ValueError(f"H5Writer for {self.path} is closed")
        return self._f

    @property
    def closed(self) -> bool:
        return self._f is None

    @property
    def has_data(self) -> bool:
        """True once any non-empty block was appended."""
        return self.rows_appended > 0

    def _enter_swmr(self) -> None:
        """Switch to SWMR-write mode (flushes); files in the pre-1.10 format stay as they are."""
        if not self._swmr:
            self._swmr = True
            try:
                self._f.swmr_mode = True
            except (OSError, ValueError):  # pre-1.10 file (reopen): HDF5 keeps its own lock
                self._f.flush()
                return
            self._lock_fd = hold_shared_lock(self.path)
            _unflag(self.path)

    def on_close(self, callback: Callable[[], None]) -> None:
        """Register ``callback`` to run before the file is closed (not on abort).

        Recorders use this to write their buffered blocks.
        """
        self._on_close.append(callback)

    # ---------------------------------------------------------------- writing
    def _filters(self, compression: Any = "default") -> dict:
        compression = self.compression if compression == "default" else compression
        if compression is None or compression == "none":
            return {}
        kw: dict = {"compression": compression, "shuffle": True}
        if compression == "gzip":
            kw["compression_opts"] = GZIP_LEVEL
        return kw

    def append(self, name: str, data: Any, *, attrs: dict | None = None,
               chunk_rows: int | None = None, compression: Any = "default") -> h5py.Dataset:
        """Append ``data`` (a block of rows) along axis 0 of dataset ``name``.

        The dataset is created on the first call (``maxshape=(None, ...)``,
        chunked, compressed, dtype of ``data``; ``attrs`` set then) and
        resized to its new length on every later call. Zero-row blocks only
        create the dataset. ``chunk_rows`` (default ``block``) is the chunk
        length hint used at creation; matching it to the usual append size
        avoids rewriting partly filled chunks. ``compression`` (``None``,
        ``"gzip"``, ``"lzf"``) overrides the writer's for a new dataset.
        """
        data = np.asarray(data)
        if data.ndim == 0:
            raise ValueError(f"append to {name!r} needs at least 1-D data (rows on axis 0)")
        f = self.file
        self._enter_swmr()
        name = name.strip("/")
        if name not in f:
            ds = f.create_dataset(
                name, shape=(0, *data.shape[1:]), maxshape=(None, *data.shape[1:]),
                dtype=data.dtype,
                chunks=chunk_shape(data.shape, data.dtype.itemsize, chunk_rows or self.block),
                **self._filters(compression))
            _put_attrs(ds, attrs or {})
        else:
            ds = f[name]
            if ds.shape[1:] != data.shape[1:]:
                raise ValueError(f"append to {name!r}: row shape {data.shape[1:]} does "
                                 f"not match dataset row shape {ds.shape[1:]}")
        n, k = ds.shape[0], data.shape[0]
        if k:
            ds.resize(n + k, axis=0)
            ds[n:n + k] = data
            self.rows_appended += k
        return ds

    def write_dataset(self, name: str, array: Any, *, compression: Any = "default",
                      **attrs: Any) -> h5py.Dataset:
        """Write a one-shot array (replacing any existing dataset ``name``).

        ``compression`` overrides the writer's (``None``, ``"gzip"``, ``"lzf"``).
        """
        f = self.file
        name = name.strip("/")
        array = np.asarray(array)
        if name in f:
            del f[name]
        kw = self._filters(compression) if array.ndim and array.size > 1 else {}
        if kw:
            rows = min(self.block, array.shape[0])
            kw["chunks"] = chunk_shape(array.shape, array.dtype.itemsize, rows)
        ds = f.create_dataset(name, data=array, **kw)
        _put_attrs(ds, attrs)
        return ds

    def set_attrs(self, name: str, **attrs: Any) -> None:
        """Set attributes on group/dataset ``name`` (``"/"`` = root; groups are created)."""
        f = self.file
        key = name.strip("/")
        _put_attrs(f if not key else (f[key] if key in f else f.require_group(key)), attrs)

    def write_json_attr(self, name: str, key: str, obj: Any) -> None:
        """Store ``obj`` as a JSON string attribute ``key`` on ``name``."""
        self.set_attrs(name, **{key: json.dumps(obj, sort_keys=True)})

    def flush(self) -> None:
        """Flush HDF5 buffers to disk (everything so far survives a SIGKILL)."""
        self.file.flush()
        self._enter_swmr()

    # ---------------------------------------------------------------- closing
    def _drop(self) -> None:
        f, self._f = self._f, None
        fd, self._lock_fd = self._lock_fd, None
        try:
            if f is not None:
                f.close()
        finally:
            if fd is not None:
                os.close(fd)

    def close(self, status: str = "complete") -> None:
        """Run close callbacks, record ``status`` and close the file (idempotent)."""
        if self._f is None:
            return
        callbacks, self._on_close = self._on_close, []
        try:
            for cb in callbacks:
                cb()
        finally:
            try:
                self._f.attrs["status"] = status
            finally:
                self._drop()

    def abort(self) -> None:
        """Close the file without running callbacks and delete it."""
        self._on_close = []
        self._drop()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "H5Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        elif self._f is not None:
            try:
                msg = f"{exc_type.__name__}: {exc}".splitlines()[0] if exc else exc_type.__name__
                self.close(status=f"failed ({msg})")
            except Exception:  # never mask the original exception
                self._drop()
            if not self.has_data:
                self.path.unlink(missing_ok=True)
        return False

    @classmethod
    def reopen(cls, path: str | os.PathLike, *, compression: str | None = "gzip",
               block: int = 1024) -> "H5Writer":
        """Open an existing snnsim file to continue it (``snnsim train --resume``).

        A file left by a killed run is repaired first (see
        :func:`snnsim.io._swmr.repair_if_unused`). Until the first
        :meth:`append` or :meth:`flush` the file is not in SWMR mode, so
        :attr:`file` may be restructured (datasets deleted).
        """
        self = cls.__new__(cls)
        self._setup(path, compression, block)
        if self.path.exists() and repair_if_unused(self.path) is None:
            raise OSError(f"cannot reopen {self.path}: it is in use by another process "
                          "(or not writable)")
        try:
            self._f = _File(self.path, "r+", libver=LIBVER)
        except OSError as exc:
            raise OSError(f"cannot reopen {self.path}: {str(exc).splitlines()[0]}") from None
        self.dt = float(self._f.attrs["dt"])
        self.rows_appended = 1   # the file already holds a run: never delete it on failure
        self._f.attrs["status"] = "running"
        self._f.flush()
        return self

    def __repr__(self) -> str:
        return f"H5Writer({str(self.path)!r}, {'closed' if self.closed else 'open'})"
