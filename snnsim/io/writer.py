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

File lifecycle (never destroy data): the output must be a regular file (or
absent), must not be the same file as any input (``inputs``; hard links and
symlinks included) and must not be open in another process (an exclusive
``flock`` probe; HDF5 readers and writers hold locks). A new output is created
exclusively under its own name (so a killed run leaves a readable file there);
with ``overwrite`` an existing output is left untouched until the new file,
written under a temporary name in the same directory, is closed, and is then
replaced by one atomic rename (also after a clean interrupt or a divergence:
:meth:`H5Writer.close`). On an exception inside ``with`` the new file is kept
under its name if rows were appended and it is not replacing an older output;
otherwise it is deleted, and only if it is still the file this writer created
(same device and inode): a path the writer did not create is never unlinked
or truncated. :meth:`H5Writer.abort` closes and deletes the writer's own file.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import h5py
import numpy as np

from ..errors import ConfigError
from ._swmr import clear_write_flags, hold_shared_lock, in_use, repair_if_unused

FORMAT = "snnsim-1"
CHUNK_BYTES_CAP = 1 << 20  # ~1 MiB per chunk
GZIP_LEVEL = 4
LIBVER = ("v110", "latest")  # SWMR needs the 1.10 file format

#: files HDF5 failed to write or close (e.g. disk full), kept referenced: HDF5 would try to
#: write them again when they are closed or the interpreter exits (which can crash)
BROKEN: list = []


def broken() -> bool:
    """True if a writer's file could not be closed; the process should then leave with
    ``os._exit`` (after its message) instead of letting HDF5 flush at interpreter exit."""
    return bool(BROKEN)


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


def _errno_message(exc: OSError) -> str:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return os.strerror(exc.errno) if getattr(exc, "errno", None) else first


def check_output(path: str | os.PathLike, *, overwrite: bool,
                 inputs: Iterable[str | os.PathLike] = (), option: str = "--out") -> Path:
    """Check that ``path`` may be written; returns the path to write (symlinks resolved).

    Refuses (one-line errors): a missing or unwritable directory, a name the OS
    rejects (too long), an existing output without ``overwrite``, an existing
    output that is not a regular file (device, FIFO, directory, socket), an
    output that is the same file as one of ``inputs`` (``os.path.samefile``:
    hard links and symlinks too) and an output another process has open (an
    exclusive non-blocking ``flock`` probe fails while HDF5 readers/writers or
    another snnsim writer hold it). Nothing is created or changed.
    """
    path = Path(path)
    try:
        exists = os.path.lexists(path)
        if exists and path.is_symlink() and path.exists():
            path = Path(os.path.realpath(path))   # replace the link's target, not the link
        st = os.stat(path) if path.exists() else None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise ConfigError(option, f"file name too long for this file system: {path}") from None
        raise
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"output directory {parent} does not exist"
                                + (" (it is a file)" if parent.exists() else ""))
    if not os.access(parent, os.W_OK | os.X_OK):
        if read_only(parent):   # a fault of the medium (exit 1), not a permission to change
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(parent))
        raise PermissionError(f"output directory {parent} is not writable")
    if exists and st is None:
        raise ConfigError(option, f"{path} is a dangling symbolic link; not writing through it")
    if st is not None:
        if not overwrite:
            raise FileExistsError(f"output file {path} already exists; pass --overwrite to replace it")
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a device" if
                    stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                    "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file")
            raise ConfigError(option, f"{path} is {kind}; only regular files are replaced")
        for inp in inputs:
            try:
                same = os.path.samefile(path, inp)
            except (OSError, ValueError):
                same = False
            if same:
                raise ConfigError(option, f"{path} is the same file as the input {os.fspath(inp)}"
                                          " (a link to it?); refusing to overwrite an input")
        if in_use(path):
            raise BlockingIOError(errno.EBUSY, f"output file {path} is open in another process "
                                               "(h5py, a running snnsim?); not touching it")
    return path


def read_only(folder: str | os.PathLike) -> bool:
    """True if ``folder`` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(folder).f_flag & getattr(os, "ST_RDONLY", 1))
    except OSError:
        return False


def temp_name(target: Path) -> Path:
    """A fresh hidden name next to ``target`` (same directory, so a rename is atomic)."""
    return target.with_name(f".snnsim-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of ``path`` (None if absent)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def remove_own(path: str | os.PathLike, ident: tuple[int, int] | None) -> None:
    """Unlink ``path`` only if it is still the file ``ident`` this process created."""
    if ident is not None and identity(path) == ident:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _create_file(path: Path) -> h5py.File:
    """Create ``path`` exclusively for writing; raise one-line OSError subclasses on failure."""
    try:
        return _File(path, "w-", libver=LIBVER)
    except OSError as exc:
        code = getattr(exc, "errno", None)
        if code == errno.EACCES:
            raise PermissionError(f"cannot create output file {path}: permission denied") from None
        if path.exists():
            raise FileExistsError(f"output file {path} already exists; pass --overwrite "
                                  "to replace it") from None
        # e.g. /proc/x.h5 (ENOENT although the directory exists): a user error, not a crash
        cls = {errno.ENOENT: FileNotFoundError, errno.EPERM: PermissionError}.get(code, OSError)
        err = cls(f"cannot create output file {path}: {_errno_message(exc)}")
        err.errno = code
        raise err from None


#: free bytes kept on the output's file system beyond the data about to be written (HDF5
#: metadata, the final status); HDF5 2.0 can crash on ENOSPC in SWMR mode, so the writer
#: refuses a write that would not fit instead of letting HDF5 fail
SPACE_MARGIN = 1 << 20


class NoSpaceLeft(OSError):
    """Raised by the writer before a write that would not fit on the file system."""


def _guard(method: Callable) -> Callable:
    """Mark the writer failed when HDF5 cannot write (disk full, I/O error): HDF5 must not
    touch that file again (a second flush after a failed one can crash the process)."""
    def wrapped(self: "H5Writer", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (OSError, RuntimeError) as exc:
            if isinstance(exc, NoSpaceLeft):   # refused before HDF5 wrote: the file is sound
                raise
            if isinstance(exc, OSError) or "errno = " in str(exc):
                self._failed = True
                BROKEN.append(exc)   # its frames hold HDF5 objects: no destructor may close them
            raise
    wrapped.__name__, wrapped.__doc__ = method.__name__, method.__doc__
    return wrapped


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
    along axis 0 of appended datasets, ``inputs`` are the files the run reads
    (the output may not be one of them). See the module docstring for the
    file lifecycle (temporary name + rename when replacing an output).
    """

    def __init__(self, path: str | os.PathLike, *, dt: float, seed: int | None,
                 version: str, config_json: str | dict | None,
                 overwrite: bool = False, compression: str | None = "gzip",
                 block: int = 1024, inputs: Iterable[str | os.PathLike] = ()):
        self._setup(path, compression, block)
        if config_json is None:
            config_json = "{}"
        if not isinstance(config_json, str):
            config_json = json.dumps(config_json, sort_keys=True)
        json.loads(config_json)  # fail early on invalid JSON
        target = check_output(self.path, overwrite=overwrite, inputs=inputs)
        if target.exists():   # replace only on close: write next to it first
            self._target, self._file_path = target, temp_name(target)
        self._f = _create_file(self._file_path)
        self._ident = identity(self._file_path)
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
        self._file_path, self._target, self._ident = self.path, None, None
        self._on_close: list[Callable[[], None]] = []
        self._swmr = False
        self._failed = False
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
            self._lock_fd = hold_shared_lock(self._file_path)
            _unflag(self._file_path)

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

    @_guard
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
        self._reserve(data.nbytes)
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

    @_guard
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

    @_guard
    def set_attrs(self, name: str, **attrs: Any) -> None:
        """Set attributes on group/dataset ``name`` (``"/"`` = root; groups are created)."""
        f = self.file
        key = name.strip("/")
        _put_attrs(f if not key else (f[key] if key in f else f.require_group(key)), attrs)

    def write_json_attr(self, name: str, key: str, obj: Any) -> None:
        """Store ``obj`` as a JSON string attribute ``key`` on ``name``."""
        self.set_attrs(name, **{key: json.dumps(obj, sort_keys=True)})

    def _reserve(self, nbytes: int) -> None:
        """Refuse (NoSpaceLeft, errno ENOSPC) a write of ``nbytes`` more unflushed bytes that
        would leave less than SPACE_MARGIN free on the output's file system."""
        self._pending = getattr(self, "_pending", 0) + int(nbytes)
        try:
            free = shutil.disk_usage(Path(self._file_path).parent).free
        except OSError:
            return
        if free < self._pending + SPACE_MARGIN:
            raise NoSpaceLeft(errno.ENOSPC, f"no space left on the device for {self.path} "
                                            f"({free} bytes free); output up to here kept")

    @_guard
    def flush(self) -> None:
        """Flush HDF5 buffers to disk (everything so far survives a SIGKILL)."""
        self._reserve(0)
        self.file.flush()
        self._pending = 0
        self._enter_swmr()

    # ---------------------------------------------------------------- closing
    def _drop(self) -> None:
        """Close the HDF5 file and the lock; a close that fails (disk full) is recorded in
        :data:`BROKEN` instead of raising (HDF5 then still holds the file: see :func:`broken`)."""
        f, self._f = self._f, None
        fd, self._lock_fd = self._lock_fd, None
        try:
            if f is not None:
                try:
                    f.close()
                except Exception:   # noqa: BLE001 - HDF5 could not write its metadata
                    BROKEN.append(str(self._file_path))
        finally:
            if fd is not None:
                os.close(fd)

    def close(self, status: str = "complete") -> None:
        """Run close callbacks, record ``status``, close the file and put it in place (idempotent).

        When replacing an existing output, the new file is renamed over it now
        (atomically). If a close callback or the status write fails (disk
        full), the new file is discarded and an older output stays intact.
        """
        if self._f is None:
            return
        if self._failed:   # HDF5 could not write this file: leave it alone (see _abandon)
            self._abandon()
            return
        callbacks, self._on_close = self._on_close, []
        try:
            for cb in callbacks:
                cb()
            self._f.attrs["status"] = status
            self._f.flush()
        except BaseException as exc:
            if isinstance(exc, (OSError, RuntimeError)):
                self._failed = True
                self._abandon()
            else:
                self._drop()
                if self._target is not None:
                    remove_own(self._file_path, self._ident)
            raise
        self._drop()
        self._commit()

    def _abandon(self) -> None:
        """Give up a file HDF5 failed to write: never call HDF5 on it again (the object is
        kept alive in :data:`BROKEN`, so no destructor flushes it), release the lock, and
        delete it if it was to replace an older output (which stays intact)."""
        f, self._f = self._f, None
        fd, self._lock_fd = self._lock_fd, None
        self._on_close = []
        BROKEN.append(f)
        if fd is not None:
            os.close(fd)
        if self._target is not None:
            self._target = None
            remove_own(self._file_path, self._ident)

    def _commit(self) -> None:
        """Rename the temporary file over the output it replaces (no-op for new files)."""
        target, self._target = self._target, None
        if target is None:
            return
        if in_use(target):
            raise BlockingIOError(errno.EBUSY, f"output file {target} was opened by another process "
                                               f"meanwhile; the new output is kept in {self._file_path}")
        os.replace(self._file_path, target)
        self._file_path = target

    def abort(self) -> None:
        """Close the file without running callbacks and delete it (only the writer's own file)."""
        self._on_close = []
        if self._failed and self._f is not None:
            self._abandon()
        self._drop()
        self._target = None
        remove_own(self._file_path, self._ident)

    def __enter__(self) -> "H5Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        elif self._f is not None:
            replacing = self._target is not None
            if replacing:   # an older output exists: keep it, drop the failed new file
                self.abort()
                return False
            try:
                msg = f"{exc_type.__name__}: {exc}".splitlines()[0] if exc else exc_type.__name__
                self.close(status=f"failed ({msg})")
            except BaseException:  # never mask the original exception
                self._drop()
            if not self.has_data and not self._failed:
                remove_own(self._file_path, self._ident)
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
        check_writable(self.path)
        if repair_if_unused(self.path) is None:
            raise BlockingIOError(errno.EBUSY, f"cannot reopen {self.path}: it is in use by "
                                               "another process")
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


def check_writable(path: str | os.PathLike) -> None:
    """Raise a one-line OSError (with its errno) if ``path`` cannot be opened for writing."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot open {os.fspath(path)}: {_errno_message(exc)}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(os.fspath(path), "is not a regular file")
    try:
        os.close(os.open(path, os.O_RDWR))
    except OSError as exc:
        err = OSError(exc.errno, f"cannot write {os.fspath(path)}: {_errno_message(exc)}")
        if exc.errno in (errno.EACCES, errno.EPERM):
            err = PermissionError(exc.errno, str(err.strerror))
        raise err from None
