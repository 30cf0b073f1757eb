"""HDF5 output file writer for snnsim runs.

Holds :class:`H5Writer`, a context manager over one HDF5 file that

* writes run metadata as root attributes (``dt``, ``seed``, ``snnsim_version``,
  ``config``, ``created``, ``format``, ``status``),
* appends blocks of rows along axis 0 of resizable, chunked, compressed
  datasets (:meth:`H5Writer.append`),
* writes one-shot arrays and attributes,
* writes straight to the target path, so a killed process leaves a readable
  file holding every block written before the last :meth:`H5Writer.flush`.

On an exception inside the ``with`` block the file is closed and kept if any
rows were appended, and deleted otherwise. :meth:`H5Writer.abort` closes and
deletes the file unconditionally.
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

FORMAT = "snnsim-1"
CHUNK_BYTES_CAP = 1 << 20  # ~1 MiB per chunk
GZIP_LEVEL = 4
# SWMR needs the 1.10 file format; it keeps the on-disk file consistent at all
# times (a filtered chunk that is rewritten never has its old space reused).
LIBVER = ("v110", "latest")


def chunk_shape(shape: tuple[int, ...], itemsize: int, block: int,
                cap: int = CHUNK_BYTES_CAP) -> tuple[int, ...]:
    """Chunk shape for a dataset growing along axis 0.

    ``block`` rows along axis 0, reduced so a chunk stays under ``cap`` bytes;
    if a single row is bigger than ``cap`` the trailing axes are halved too.
    """
    trailing = [max(1, int(s)) for s in shape[1:]]
    row_bytes = itemsize * int(np.prod(trailing, dtype=np.int64))
    rows = max(1, min(int(block), cap // max(1, row_bytes)))
    while rows == 1 and itemsize * int(np.prod(trailing, dtype=np.int64)) > cap:
        axis = int(np.argmax(trailing))
        if trailing[axis] == 1:
            break
        trailing[axis] = (trailing[axis] + 1) // 2
    return (rows, *trailing)


def _check_target(path: Path, overwrite: bool) -> None:
    """Raise a one-line OSError subclass if ``path`` cannot be created."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise FileNotFoundError(f"output directory {parent} does not exist")
    if not parent.is_dir():
        raise FileNotFoundError(f"output directory {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"output directory {parent} is not writable")
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"output file {path} already exists; pass --overwrite to replace it")


def _attr_value(value: Any) -> Any:
    """Convert a Python value into something h5py stores as an attribute."""
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, (list, tuple)) and not all(
            isinstance(v, (int, float, np.number)) for v in value):
        return json.dumps(list(value))
    if value is None:
        return "null"
    return value


class H5Writer:
    """Context manager writing one snnsim HDF5 output file.

    Parameters
    ----------
    path : output file path (written in place).
    dt : time step in ms (root attr ``dt`` with ``dt_unit="ms"``).
    seed : RNG seed (``None`` is stored as -1).
    version : snnsim version string.
    config_json : run configuration, a JSON string or a JSON-able object.
    overwrite : replace an existing file instead of raising FileExistsError.
    compression : ``"gzip"`` (level 4 + shuffle), ``"lzf"`` or ``None``.
    block : target chunk length along axis 0 of appended datasets.
    """

    def __init__(self, path: str | os.PathLike, *, dt: float, seed: int | None,
                 version: str, config_json: str | dict | None,
                 overwrite: bool = False, compression: str | None = "gzip",
                 block: int = 1024):
        self.path = Path(path)
        if compression not in (None, "none", "gzip", "lzf"):
            raise ValueError(f"unknown compression {compression!r}; use gzip, lzf or none")
        self.compression = None if compression == "none" else compression
        self.block = int(block)
        if self.block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        if config_json is None:
            config_json = "{}"
        if not isinstance(config_json, str):
            config_json = json.dumps(config_json, sort_keys=True)
        json.loads(config_json)  # fail early on invalid JSON
        _check_target(self.path, overwrite)
        try:
            self._f = h5py.File(self.path, "w" if overwrite else "w-", libver=LIBVER)
        except OSError as exc:
            if getattr(exc, "errno", None) == errno.EACCES:
                raise PermissionError(f"cannot create output file {self.path}: "
                                      "permission denied") from None
            if self.path.exists() and not overwrite:
                raise FileExistsError(f"output file {self.path} already exists; "
                                      "pass --overwrite to replace it") from None
            raise OSError(f"cannot create output file {self.path}: "
                          f"{str(exc).splitlines()[0]}") from None
        self.dt = float(dt)
        self.rows_appended = 0
        self._on_close: list[Callable[[], None]] = []
        a = self._f.attrs
        a["dt"] = self.dt
        a["dt_unit"] = "ms"
        a["seed"] = -1 if seed is None else int(seed)
        a["snnsim_version"] = str(version)
        a["config"] = config_json
        a["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        a["format"] = FORMAT
        a["status"] = "running"
        self._f.swmr_mode = True  # also flushes

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

    def on_close(self, callback: Callable[[], None]) -> None:
        """Register ``callback`` to run before the file is closed (not on abort).

        Recorders use this to write their buffered blocks.
        """
        self._on_close.append(callback)

    # ---------------------------------------------------------------- writing
    def _filters(self) -> dict:
        if self.compression is None:
            return {}
        kw: dict = {"compression": self.compression, "shuffle": True}
        if self.compression == "gzip":
            kw["compression_opts"] = GZIP_LEVEL
        return kw

    def append(self, name: str, data: Any, *, attrs: dict | None = None) -> h5py.Dataset:
        """Append ``data`` (a block of rows) along axis 0 of dataset ``name``.

        The dataset is created on the first call (``maxshape=(None, ...)``,
        chunked, compressed, dtype of ``data``; ``attrs`` set then) and
        resized to its new length on every later call. Zero-row blocks only
        create the dataset.
        """
        data = np.asarray(data)
        if data.ndim == 0:
            raise ValueError(f"append to {name!r} needs at least 1-D data (rows on axis 0)")
        f = self.file
        name = name.strip("/")
        if name not in f:
            ds = f.create_dataset(
                name, shape=(0, *data.shape[1:]), maxshape=(None, *data.shape[1:]),
                dtype=data.dtype, chunks=chunk_shape(data.shape, data.dtype.itemsize, self.block),
                **self._filters())
            for key, value in (attrs or {}).items():
                ds.attrs[key] = _attr_value(value)
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

    def write_dataset(self, name: str, array: Any, **attrs: Any) -> h5py.Dataset:
        """Write a one-shot array (replacing any existing dataset ``name``)."""
        f = self.file
        name = name.strip("/")
        array = np.asarray(array)
        if name in f:
            del f[name]
        kw = self._filters() if array.ndim and array.size > 1 else {}
        if kw:
            rows = min(self.block, array.shape[0])
            kw["chunks"] = chunk_shape(array.shape, array.dtype.itemsize, rows)
        ds = f.create_dataset(name, data=array, **kw)
        for key, value in attrs.items():
            ds.attrs[key] = _attr_value(value)
        return ds

    def set_attrs(self, name: str, **attrs: Any) -> None:
        """Set attributes on group/dataset ``name`` (``"/"`` = root; groups are created)."""
        f = self.file
        key = name.strip("/")
        obj = f if not key else (f[key] if key in f else f.require_group(key))
        for k, value in attrs.items():
            obj.attrs[k] = _attr_value(value)

    def write_json_attr(self, name: str, key: str, obj: Any) -> None:
        """Store ``obj`` as a JSON string attribute ``key`` on ``name``."""
        self.set_attrs(name, **{key: json.dumps(obj, sort_keys=True)})

    def flush(self) -> None:
        """Flush HDF5 buffers to disk (everything so far survives a SIGKILL)."""
        self.file.flush()

    # ---------------------------------------------------------------- closing
    def close(self, status: str = "complete") -> None:
        """Run close callbacks, record ``status`` and close the file (idempotent)."""
        if self._f is None:
            return
        try:
            callbacks, self._on_close = self._on_close, []
            for cb in callbacks:
                cb()
        finally:
            try:
                self._f.attrs["status"] = status
            finally:
                self._f.close()
                self._f = None

    def abort(self) -> None:
        """Close the file without running callbacks and delete it."""
        self._on_close = []
        if self._f is not None:
            try:
                self._f.close()
            finally:
                self._f = None
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "H5Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
            return False
        if self._f is None:
            return False
        try:
            msg = f"{exc_type.__name__}: {exc}".splitlines()[0] if exc else exc_type.__name__
            self.close(status=f"failed ({msg})")
        except Exception:  # never mask the original exception
            if self._f is not None:
                self._f.close()
                self._f = None
        if not self.has_data:
            self.path.unlink(missing_ok=True)
        return False

    @classmethod
    def reopen(cls, path: str | os.PathLike, *, compression: str | None = "gzip",
               block: int = 1024) -> "H5Writer":
        """Open an existing snnsim file to continue it (``snnsim train --resume``)."""
        self = cls.__new__(cls)
        self.path = Path(path)
        self.compression = None if compression == "none" else compression
        self.block = int(block)
        try:
            self._f = h5py.File(self.path, "r+")
        except OSError as exc:
            raise OSError(f"cannot reopen {self.path}: {str(exc).splitlines()[0]}") from None
        self.dt = float(self._f.attrs["dt"])
        self.rows_appended = 1   # the file already holds a run: never delete it on failure
        self._on_close = []
        self._f.attrs["status"] = "running"
        self._f.flush()
        return self

    def __repr__(self) -> str:
        state = "closed" if self._f is None else "open"
        return f"H5Writer({str(self.path)!r}, {state}, rows_appended={self.rows_appended})"
