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
import stat
import time
from typing import Any

import h5py
import numpy as np

from .. import validate as V
from ..errors import ConfigError
from ._swmr import PatchedSuperblock, in_use, repair_if_unused, superblock_info

#: largest ratio of a chunked dataset's declared size to its stored bytes (deflate's
#: maximum is about 1032:1); beyond it the declared rows are not in the file
MAX_RATIO = 1100
#: declared bytes of an unallocated contiguous dataset (all fill value) accepted
MAX_UNALLOCATED = 1 << 20


def _regular_file(path: str | os.PathLike) -> int:
    """Size of ``path``; one-line errors for missing and non-regular files."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {os.fspath(path)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{os.fspath(path)} is a directory, not an HDF5 file")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(os.fspath(path), "is not a regular file (device, FIFO or socket?)")
    return st.st_size


def _truncated(path: str | os.PathLike, size: int, busy: bool) -> tuple[int, int] | None:
    """(file size, end-of-file address) if the superblock says the file was longer.

    A file being written may momentarily look short while its writer flushes, so for
    a file in use the check is repeated for up to about half a second.
    """
    for attempt in range(6 if busy else 1):
        info = superblock_info(path)
        if info is None or info[1] <= size:
            return None
        if attempt + 1 < (6 if busy else 1):
            time.sleep(0.1)
            size = os.stat(path).st_size
    return size, info[1]


def open_h5(path: str | os.PathLike, *, check: bool = True) -> h5py.File:
    """Open an output file read-only, including one being written or left by a killed run.

    Bounded in time and memory: only regular files are opened; a file shorter than its
    superblock's end-of-file address is refused as truncated (HDF5's SWMR reader would
    retry its reads without end); with ``check`` every dataset's declared size is checked
    against the bytes the file stores (:func:`check_datasets`) and external links are
    refused. A file no process uses is first repaired with :func:`repair_if_unused`
    (after a SIGKILL its superblock may still say "open for writing" and hold a stale
    end-of-file address); one that cannot be written (read-only media) is read through
    :class:`~snnsim.io._swmr.PatchedSuperblock` instead; a file in use is opened as an
    SWMR reader. Errors are one-line ConfigError/OSError.
    """
    size = _regular_file(path)
    busy = in_use(path)
    bad = _truncated(path, size, busy)
    if bad is not None:
        raise ConfigError(os.fspath(path), f"truncated HDF5 file ({bad[0]} bytes, its header "
                                           f"says {bad[1]}); not readable")
    info = superblock_info(path)
    flagged = info is not None and info[0] >= 2 and info[2] & 0x05
    try:
        if busy:
            f = h5py.File(path, "r", swmr=True)
        elif flagged and repair_if_unused(path) is None:   # cannot repair in place
            f = h5py.File(PatchedSuperblock(path), "r", driver="fileobj")
        else:
            f = h5py.File(path, "r")
    except OSError as exc:
        text = str(exc).strip().splitlines()
        reason = text[0] if text else type(exc).__name__
        raise ConfigError(os.fspath(path), f"cannot open as an HDF5 file ({reason})") from None
    if check:
        try:
            check_datasets(f, os.fspath(path), size)
        except BaseException:
            f.close()
            raise
    return f


def check_dataset(ds: h5py.Dataset, where: str, file_size: int) -> None:
    """Refuse a dataset whose declared shape is not backed by bytes in the file.

    Chunked: declared bytes <= MAX_RATIO x stored bytes + one chunk; contiguous: stored
    within the file, or unallocated and at most MAX_UNALLOCATED bytes.
    """
    nominal = int(np.prod(ds.shape, dtype=np.float64) * ds.dtype.itemsize) if ds.shape else 0
    if nominal == 0:
        return
    name = f"{where}:{ds.name}"
    stored = ds.id.get_storage_size()
    if ds.chunks is not None:
        chunk = int(np.prod(ds.chunks, dtype=np.int64)) * ds.dtype.itemsize
        if nominal > MAX_RATIO * stored + chunk:
            raise ConfigError(name, f"declares shape {ds.shape} ({nominal:.3g} bytes) but the "
                                    f"file stores only {stored} bytes of it; crafted or damaged")
        return
    offset = ds.id.get_offset()
    if offset is None:
        if nominal > MAX_UNALLOCATED:
            raise ConfigError(name, f"declares shape {ds.shape} but stores no data")
    elif offset + min(nominal, stored or nominal) > file_size:
        raise ConfigError(name, f"extends past the end of the file (truncated?)")


def check_datasets(f: h5py.File, where: str, file_size: int) -> None:
    """:func:`check_dataset` on every dataset of ``f``; refuse external links and soft
    links that do not resolve."""
    links: list[tuple[str, Any]] = []
    datasets: list[h5py.Dataset] = []

    def link(name: str, lk: Any) -> None:   # collect: raising inside h5py's visit breaks it
        if isinstance(lk, (h5py.ExternalLink, h5py.SoftLink)):
            links.append((name, lk))

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            datasets.append(obj)

    f.visititems_links(link)
    for name, lk in links:
        if isinstance(lk, h5py.ExternalLink):
            raise ConfigError(f"{where}:/{name}", f"is an external link to {lk.filename}; "
                                                  "snnsim files hold none")
        try:
            f[name]
        except (KeyError, RuntimeError, OSError):
            raise ConfigError(f"{where}:/{name}", f"is a soft link to {lk.path[:60]} that does "
                                                  "not resolve (dangling or a cycle)") from None
    f.visititems(visit)
    for ds in datasets:
        check_dataset(ds, where, file_size)


def text_attr(obj, key, field):
    """Attribute ``key`` of ``obj`` as a string (str or UTF-8 bytes, scalar); ConfigError naming
    ``field`` if it is missing or of another type."""
    if key not in obj.attrs:
        raise ConfigError(field, "is missing")
    try:
        value = obj.attrs[key]
    except (OSError, TypeError, ValueError) as exc:
        raise ConfigError(field, f"cannot be read ({type(exc).__name__})") from None
    if isinstance(value, (bytes, np.bytes_)):
        try:
            value = bytes(value).decode()
        except UnicodeDecodeError:
            raise ConfigError(field, "must be a UTF-8 string") from None
    if not isinstance(value, str):
        raise ConfigError(field, f"must be a string, got {type(value).__name__}"
                                 + (f" of shape {value.shape}" if hasattr(value, "shape") else ""))
    return value


def json_object(text, field):
    """The dict a JSON text holds; ConfigError for invalid JSON or another type."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(field, f"must be a JSON object ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0][:80] if str(exc) else 'nested too deeply'})") from None
    if not isinstance(value, dict):
        raise ConfigError(field, f"must be a JSON object, got {type(value).__name__}")
    return value


def read_array(ds, field, shape=None, dtype=None, kinds="f"):
    """Dataset ``ds`` read after checking its dtype kind (``kinds``) or exact ``dtype``, its
    ``shape`` (if given) and that it fits in memory; NaN/inf in a float array is refused.
    One-line ConfigError naming ``field`` otherwise."""
    if ds.dtype.kind not in kinds or (dtype is not None and ds.dtype != dtype):
        want = np.dtype(dtype).name if dtype is not None else {"f": "float", "iu": "integer"}.get(kinds, kinds)
        raise ConfigError(field, f"must be {want}, got dtype {ds.dtype}")
    if shape is not None and ds.shape != tuple(shape):
        raise ConfigError(field, f"must have shape {tuple(shape)}, got {ds.shape}")
    V.fits_memory(field, int(np.prod(ds.shape, dtype=np.float64)), f"a {ds.shape} array",
                  itemsize=ds.dtype.itemsize)
    arr = ds[()]
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ConfigError(field, "contains NaN or inf; the checkpoint is damaged")
    return arr


def num_attr(obj: Any, key: str, default: Any, *, kind: type = int,
             minimum: float | None = None) -> Any:
    """Scalar numeric attribute ``key`` of HDF5 object ``obj`` as ``kind`` (int or float).

    ``default`` if the attribute is absent. A value that is not one finite real number
    (a string, an array, NaN), not a whole number for ``kind=int``, or below ``minimum``
    is a one-line ConfigError naming the file, the object and the attribute.
    """
    if key not in obj.attrs:
        return default
    field = f"{obj.file.filename}:{obj.name}"
    try:
        arr = np.asarray(obj.attrs[key])
    except (OSError, TypeError, ValueError) as exc:
        raise ConfigError(field, f"attribute {key!r} cannot be read ({type(exc).__name__})") from None
    ok = arr.shape == () and arr.dtype.kind in "iuf" and bool(np.isfinite(arr))
    value = arr.item() if ok else None
    if ok and kind is int:
        ok = float(value) == int(value) and abs(value) < 2**63
        value = int(value) if ok else None
    if not ok or (minimum is not None and value < minimum):
        want = "an integer" if kind is int else "a finite number"
        bound = f" >= {minimum}" if minimum is not None else ""
        shown = repr(arr.item() if arr.shape == () else arr)[:40]
        raise ConfigError(field, f"attribute {key!r} must be {want}{bound}, got {shown}")
    return kind(value)


#: snnsim's top-level groups and what their members must be: (kind, allowed ndim)
LAYOUT = {"spikes": ("group", None), "report": ("group", None), "training": ("dataset", (1,))}
SPIKE_COLUMNS = ("timestamps", "node_ids", "batch_ids")


def _layout_error(where: str, name: str, obj: Any, want: str) -> ConfigError:
    got = ("a broken link" if obj is None else "a group" if isinstance(obj, h5py.Group)
           else f"a dataset of shape {obj.shape}, dtype {obj.dtype}")
    return ConfigError(f"{where}:{name}", f"must be {want}, got {got}")


def _numeric(obj: Any, ndims: tuple[int, ...] | None) -> bool:
    return (isinstance(obj, h5py.Dataset) and obj.dtype.kind in "biuf"
            and (ndims is None or obj.ndim in ndims))


def check_layout(f: h5py.File, where: str) -> None:
    """Refuse a file whose snnsim groups do not have the layout the readers rely on.

    ``/spikes`` and ``/report`` must be groups of per-population groups (spike columns
    ``timestamps``, ``node_ids``, ``batch_ids``: 1-D numeric; report variables numeric
    datasets, ``mapping`` a group) and ``/training`` a group of 1-D numeric columns.
    Other objects are not looked at (weights: :func:`snnsim.trained.load_weights`).
    One-line ConfigError naming the object.
    """
    for top, (kind, ndims) in LAYOUT.items():
        if top not in f and f.get(top, getlink=True) is None:
            continue
        g = f.get(top)
        if not isinstance(g, h5py.Group):
            raise _layout_error(where, f"/{top}", g, "a group")
        for key in g:
            obj = g.get(key)
            name = f"/{top}/{key}"
            if kind == "dataset":
                if not _numeric(obj, ndims):
                    raise _layout_error(where, name, obj, f"a {ndims[0]}-D numeric dataset")
                continue
            if not isinstance(obj, h5py.Group):
                raise _layout_error(where, name, obj, "a group (one per population)")
            for var in obj:
                member = obj.get(var)
                if top == "spikes" and var in SPIKE_COLUMNS and not _numeric(member, (1,)):
                    raise _layout_error(where, f"{name}/{var}", member, "a 1-D numeric dataset")
                if top == "report" and var != "mapping" and not _numeric(member, None):
                    raise _layout_error(where, f"{name}/{var}", member, "a numeric dataset")


def subpopulations(g: h5py.Group) -> tuple[list[str], np.ndarray]:
    """``(names, offsets)`` of the LIF/ALIF populations of a mixed layer's spike group
    (attributes ``subpopulation_names``/``subpopulation_offsets``: neurons ``offsets[k]`` to
    ``offsets[k+1] - 1`` are population ``names[k]``); ``([], [0])`` if absent. Malformed
    attributes (not 1-D, not strings / integers, lengths that do not match, decreasing
    offsets) are a one-line ConfigError."""
    if "subpopulation_names" not in g.attrs:
        return [], np.zeros(1, dtype=np.int64)
    field = f"{g.file.filename}:{g.name}"
    names = np.asarray(g.attrs["subpopulation_names"])
    offsets = np.asarray(g.attrs.get("subpopulation_offsets", []))
    if names.ndim != 1 or names.dtype.kind not in "SUO":
        raise ConfigError(field, "attribute 'subpopulation_names' must be a list of names")
    if offsets.shape != (names.size + 1,) or offsets.dtype.kind not in "iu" \
            or np.any(np.diff(offsets) < 0) or (offsets.size and offsets[0] != 0):
        raise ConfigError(field, "attribute 'subpopulation_offsets' must be len(names) + 1 "
                                 "increasing integers from 0")
    return ([x.decode() if isinstance(x, bytes) else str(x) for x in names.tolist()],
            offsets.astype(np.int64))


def read_1d(g: h5py.Group, key: str, where: str, n: int | None = None) -> np.ndarray:
    """A 1-D numeric dataset ``g[key]`` (first ``n`` rows); one-line ConfigError otherwise."""
    ds = g.get(key)
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or ds.dtype.kind not in "biuf":
        raise ConfigError(f"{where}:{g.name}/{key}", "must be a 1-D numeric dataset")
    return ds[:ds.shape[0] if n is None else n]


def neuron_index(group: h5py.Group, node_ids: np.ndarray, batch_ids: np.ndarray) -> np.ndarray:
    """Neuron indices of the SONATA ``node_ids`` of spike group ``group`` (uint32).

    Files since the SONATA node layout (group attribute ``node_id_layout``) number
    neuron i of trial b as ``b * n_nodes + i``; older files store i itself.
    """
    if "node_id_layout" not in group.attrs:
        return node_ids
    n = np.uint64(num_attr(group, "n_nodes", 0, minimum=0))
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
            except (json.JSONDecodeError, RecursionError):
                pass
        return out

    @property
    def dt(self) -> float:
        """Time step (ms; root attribute ``dt``, default 1)."""
        dt = num_attr(self._f, "dt", 1.0, kind=float)
        if dt <= 0:
            raise ConfigError(f"{self.path}:/", f"attribute 'dt' must be > 0 ms, got {dt}")
        return dt

    @property
    def status(self) -> str:
        """``complete``, ``failed (...)`` or ``running`` (killed or still running)."""
        return str(_plain(self._f.attrs.get("status", "unknown")))

    @property
    def populations(self) -> list[str]:
        """Populations with spikes or reports, sorted (SONATA views ``<pop>:<var>`` left out)."""
        names: set[str] = set()
        for top in ("spikes", "report"):
            if isinstance(self._f.get(top), h5py.Group):
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
        g = self._f.get(f"spikes/{pop}")
        if g is None:
            raise KeyError(f"no spikes for population {pop!r} in {self.path}; "
                           f"populations: {self.populations}")
        if not isinstance(g, h5py.Group):
            raise ConfigError(f"{self.path}:/spikes/{pop}", "must be a group (SONATA layout)")
        return g

    def spike_count(self, pop: str) -> int:
        """Rows of ``pop``'s spike datasets (the shortest of the three, after a kill)."""
        g = self._spike_group(pop)
        for k in ("timestamps", "node_ids", "batch_ids"):
            ds = g.get(k)
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or ds.dtype.kind not in "biuf":
                raise ConfigError(f"{self.path}:{g.name}/{k}", "must be a 1-D numeric dataset")
        return min(g[k].shape[0] for k in ("timestamps", "node_ids", "batch_ids"))

    def spikes(self, pop: str, batch: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(timestamps_ms, neurons, batch_ids)`` of ``pop`` (optionally one batch).

        ``neurons`` are neuron indices in the population (the SONATA ``node_ids``
        of trial b are offset by ``b * n_nodes``; see :mod:`snnsim.io.recorder`).
        """
        g = self._spike_group(pop)
        n = self.spike_count(pop)
        V.fits_memory(f"{self.path}:{g.name}", 3 * n, f"{n} spikes")
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
        T = num_attr(self._f, "stop_step", 0, minimum=0) if T is None else int(T)
        n = num_attr(g, "n_nodes", 0, minimum=0) if n is None else int(n)
        ts, nodes, batches = self.spikes(pop, batch)
        steps = np.rint(ts / self.dt).astype(np.int64)
        keep = (steps < T) & (nodes < n)
        if batch is not None:
            V.fits_memory(f"{self.path}:{g.name}", T * n, f"a dense ({T}, {n}) spike array",
                          itemsize=np.dtype(dtype).itemsize)
            out = np.zeros((T, n), dtype=dtype)
            out[steps[keep], nodes[keep]] = 1
            return out
        B = num_attr(g, "n_batch", int(batches.max()) + 1 if batches.size else 1, minimum=1)
        V.fits_memory(f"{self.path}:{g.name}", B * T * n, f"a dense ({B}, {T}, {n}) spike array",
                      itemsize=np.dtype(dtype).itemsize)
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
        start, every = num_attr(ds, "start_step", 0), num_attr(ds, "every", 1, minimum=1)
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
    """Open an snnsim output file for reading (see :func:`open_h5` for the checks)."""
    return Run(path)
