"""Buffered recording of simulation output into an :class:`~snnsim.io.writer.H5Writer`.

Holds :class:`RecordSpec` (what to record) and :class:`Recorder`, which
receives blocks of K consecutive simulation steps, keeps them in a bounded
in-memory buffer and writes them to HDF5 every ``buffer_steps`` steps:

* spikes in SONATA layout (read by ``libsonata.SpikeReader``):
  ``/spikes/<pop>/{timestamps,node_ids,batch_ids}``, one row per spike,
  ordered by time, then batch, then neuron; the group attribute ``sorting`` is
  the SONATA enum (``by_time``), ``timestamps`` carry ``units = "ms"``;
* dense reports: ``/report/<pop>/<var>`` with shape (T_recorded, batch,
  n_selected), plus ``/report/<pop>/node_ids`` (the recorded neurons);
* scalar logs (e.g. per-iteration training loss) under ``/<group>/<name>``.

**Batch trials in SONATA.** The ``batch`` trials of a run are independent
copies of the network simulated side by side, so each trial's neurons are
distinct SONATA nodes: neuron ``i`` of trial ``b`` has the SONATA node id
``b * n_nodes + i`` (``n_nodes`` = neurons of the population, a group
attribute). With one trial the node id is the neuron index. ``batch_ids``
repeats the trial explicitly; :meth:`snnsim.io.Run.spikes` and the CSV export
give the neuron index back.

**Reports in SONATA.** When the writer closes, every report population gets
the SONATA soma-report view ``libsonata.SomaReportReader`` reads (see
:func:`write_sonata_views`): ``/report/<pop>/mapping/{node_ids,
index_pointers, element_ids, time}`` and ``/report/<pop>/data``, a virtual
dataset (no copy) of shape (T_recorded, batch * n_selected) over ``v`` (the
readout: ``y``; else the first recorded variable): column
``b * n_selected + j`` is trial b, recorded neuron j (node ids as for spikes),
in float32 as SONATA prescribes (the ``<var>`` datasets keep the run's precision). SONATA holds one variable per report
population, so every further variable ``var`` is the population
``<pop>:<var>`` (its own ``data``, the same ``mapping``).

Spike and report datasets are written without compression by default (stock
SONATA readers such as the libsonata wheel have no gzip filter);
``compression="gzip"`` or ``"lzf"`` trades that for size. After every write
the writer is flushed, so a killed run keeps all written blocks (its SONATA
report views are written at close only). Root attributes
``start_step``/``stop_step`` give the step range of the spike data written so far.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from ..neurons import V_UNITS
from .writer import H5Writer

#: units attribute per recorded variable (v and A: see :data:`snnsim.neurons.V_UNITS`)
UNITS = {"v": V_UNITS, "A": V_UNITS, "a": "1", "z": "1", "psi": f"1/({V_UNITS})"}
#: the SONATA ``sorting`` attribute of a spike population is this HDF5 enum (uint8)
SORTING = h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype="u1")
#: attribute marking a ``/report/<pop>:<var>`` group as a SONATA view of ``/report/<pop>/<var>``
VIEW_ATTR = "sonata_view_of"
#: compression of spike and report datasets unless the Recorder is told otherwise
DEFAULT_COMPRESSION = None


def _strings(values: Sequence[str]) -> np.ndarray:
    """An HDF5 array-of-strings attribute value (lists of str would be stored as JSON)."""
    return np.array([str(v) for v in values], dtype=h5py.string_dtype())


def subpopulations(config_json: Any, layer: str) -> list[tuple[str, int]]:
    """``[(name, n), ...]`` of the populations of ``layer`` in a stored config (JSON text or dict).

    Empty if the config has no such layer (e.g. the network input or the readout).
    """
    cfg = config_json
    if isinstance(cfg, (bytes, str)):
        try:
            cfg = json.loads(cfg)
        except ValueError:
            return []
    if not isinstance(cfg, dict):
        return []
    for L in cfg.get("layer", []) or []:
        if isinstance(L, dict) and L.get("name") == layer:
            pops = L.get("population", []) or []
            out = [(str(p.get("name", p.get("type", f"pop{i}"))), int(p["n"]))
                   for i, p in enumerate(pops) if isinstance(p, dict) and isinstance(p.get("n"), int)]
            return out if len(out) == len(pops) else []
    return []


def units_of(variable: str) -> str:
    """Physical units of a recorded variable (``"1"`` if unknown)."""
    return UNITS.get(variable, "1")


@dataclass(frozen=True)
class RecordSpec:
    """What to record.

    Parameters
    ----------
    populations : sequence of str, optional
        Population names (``None`` = all).
    variables : sequence of str
        Dense variables to report for every selected population.
    neurons : mapping, optional
        Per-population neuron index subsets for dense reports (populations not
        listed report all neurons). Spikes always cover all neurons.
    every : int
        Keep dense report steps whose global step is a multiple of this.
    spikes : bool
        Record spikes (needs ``z`` in every block).
    compression : {None, "gzip", "lzf"}
        Compression of the spike and report datasets (``None``, the default, is
        readable by every SONATA reader).
    """

    populations: Sequence[str] | None = None
    variables: Sequence[str] = ("z", "v", "A")
    neurons: Mapping[str, Sequence[int]] | None = None
    every: int = 1
    spikes: bool = True
    compression: str | None = DEFAULT_COMPRESSION


class Recorder:
    """Buffers blocks of simulation output and writes them through ``writer``.

    Parameters
    ----------
    writer : open :class:`H5Writer`.
    spec : :class:`RecordSpec`.
    populations : mapping population name -> number of neurons.
    batch : batch size of the blocks.
    dt : time step in ms.
    buffer_steps : write to HDF5 once this many steps are buffered.
    scalar_rows : write scalar logs once a group buffers this many rows.
    """

    def __init__(self, writer: H5Writer, spec: RecordSpec, populations: Mapping[str, int],
                 batch: int, dt: float, *, buffer_steps: int = 1000, scalar_rows: int = 100):
        self.writer, self.spec = writer, spec
        self.batch, self.dt = int(batch), float(dt)
        self.buffer_steps, self.scalar_rows = max(1, int(buffer_steps)), max(1, int(scalar_rows))
        self.every = int(spec.every)
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {spec.every}")
        self.sizes = {p: int(n) for p, n in populations.items()}
        pops = list(self.sizes) if spec.populations is None else list(spec.populations)
        unknown = [p for p in pops if p not in self.sizes]
        if unknown:
            raise ValueError(f"unknown population(s) {unknown}; known: {sorted(self.sizes)}")
        self.pops = pops
        self.variables = tuple(spec.variables)
        if "node_ids" in self.variables:
            raise ValueError("'node_ids' is reserved and cannot be a report variable")
        self.selection = {p: self._selection(p) for p in pops}
        self.next_step: int | None = None  # next expected global step
        self.start_step: int | None = None
        self.stop_step: int | None = None  # first step not yet written
        self._buf: dict[str, list[np.ndarray]] = {}
        self._buf_steps = 0
        self._scalars: dict[str, dict[str, list]] = {}
        self._closed = False
        if spec.compression not in (None, "gzip", "lzf"):
            raise ValueError(f"compression must be None, 'gzip' or 'lzf', got {spec.compression!r}")
        self._init_file()
        writer.on_close(self.close)
        writer.on_close(lambda: write_sonata_views(writer))

    # ------------------------------------------------------------------ setup
    def _selection(self, pop: str) -> np.ndarray | None:
        sel = (self.spec.neurons or {}).get(pop)
        if sel is None:
            return None
        idx = np.asarray(sel, dtype=np.int64).ravel()
        n = self.sizes[pop]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"neuron indices for {pop!r} out of range [0, {n})")
        return idx

    def _append(self, name: str, data: np.ndarray, **kw: Any) -> None:
        self.writer.append(name, data, compression=self.spec.compression, **kw)

    def _init_file(self) -> None:
        w = self.writer
        w.set_attrs("/", batch=self.batch)
        config = w.file.attrs.get("config", "{}")
        self.node_dtype = np.uint32 if self.batch * max(self.sizes.values(), default=1) < 2**32 \
            else np.uint64
        for pop in self.pops:
            n = self.sizes[pop]
            subs = subpopulations(config, pop)
            labels = {}
            if subs and sum(k for _, k in subs) == n:
                labels = {"subpopulation_names": _strings([name for name, _ in subs]),
                          "subpopulation_offsets": np.cumsum([0] + [k for _, k in subs])}
            if self.spec.spikes:
                g = f"spikes/{pop}"
                self._append(f"{g}/timestamps", np.empty(0, np.float64), attrs={"units": "ms"})
                self._append(f"{g}/node_ids", np.empty(0, self.node_dtype))
                self._append(f"{g}/batch_ids", np.empty(0, np.uint32))
                w.set_attrs(g, n_nodes=n, n_batch=self.batch, node_id_layout="batch_id * n_nodes "
                            "+ neuron", **labels)
                w.file[g].attrs.create("sorting", 2, dtype=SORTING)
            if self.variables:
                sel = self.selection[pop]
                ids = np.arange(n, dtype=np.int64) if sel is None else sel
                w.write_dataset(f"report/{pop}/node_ids", ids, compression=self.spec.compression)
                w.set_attrs(f"report/{pop}", n_nodes=n, n_batch=self.batch,
                            variables=_strings(self.variables), **labels)

    # -------------------------------------------------------------- recording
    def _check_block(self, t0: int, block: Mapping[str, Mapping[str, np.ndarray]]) -> int:
        """Validate a block; return its number of steps K."""
        if self._closed:
            raise ValueError("Recorder is closed")
        if self.next_step is not None and t0 != self.next_step:
            raise ValueError(f"block starts at step {t0}, expected {self.next_step} "
                             "(blocks must be consecutive)")
        needed = set(self.variables) | ({"z"} if self.spec.spikes else set())
        K = None
        for pop in self.pops:
            if pop not in block:
                raise ValueError(f"population {pop!r} missing from block")
            for var in sorted(needed):
                if var not in block[pop]:
                    what = "spikes need" if var == "z" and var not in self.variables else "requested"
                    raise ValueError(f"variable {var!r} ({what}) not in block for population "
                                     f"{pop!r}; available: {sorted(block[pop])}")
                shape = np.shape(block[pop][var])
                if len(shape) != 3 or shape[0] != self.batch or shape[2] != self.sizes[pop] \
                        or (K is not None and shape[1] != K):
                    raise ValueError(f"{pop}/{var}: block shape {shape}, expected "
                                     f"({self.batch}, {K or 'K'}, {self.sizes[pop]})")
                K = shape[1]
        return 0 if K is None else int(K)

    def add_block(self, t0: int, block: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Add K consecutive steps starting at global step ``t0``.

        ``block[pop][var]`` are arrays of shape (batch, K, n_pop). Arrays are
        copied, so the caller may reuse them.
        """
        t0 = int(t0)
        K = self._check_block(t0, block)
        if self.start_step is None:
            self.start_step = t0
        first = (-t0) % self.every  # first kept offset within the block
        for pop in self.pops:
            data = block[pop]
            if self.spec.spikes:
                z = np.asarray(data["z"])
                k, b, i = np.nonzero(z.transpose(1, 0, 2))  # time, batch, node order
                self._push(f"spikes/{pop}/timestamps", (t0 + k) * self.dt)
                self._push(f"spikes/{pop}/node_ids", (b.astype(self.node_dtype) * self.sizes[pop]
                                                       + i.astype(self.node_dtype)))
                self._push(f"spikes/{pop}/batch_ids", b.astype(np.uint32))
            sel = self.selection[pop]
            for var in self.variables:
                arr = np.asarray(data[var])[:, first::self.every]
                if sel is not None:
                    arr = arr[:, :, sel]
                self._push(f"report/{pop}/{var}", np.array(arr.transpose(1, 0, 2), copy=True))
        self.next_step = t0 + K
        self._buf_steps += K
        if self._buf_steps >= self.buffer_steps:
            self._write_blocks()

    def _push(self, name: str, arr: np.ndarray) -> None:
        self._buf.setdefault(name, []).append(arr)

    def _report_attrs(self, var: str) -> dict[str, Any]:
        start = self.start_step + (-self.start_step) % self.every
        return {"units": units_of(var), "dt": self.dt, "every": self.every, "start_step": start}

    def _write_blocks(self) -> None:
        """Write buffered blocks, update step attrs and flush the file."""
        if not self._buf and not any(rows["step"] for rows in self._scalars.values()):
            return
        buf, self._buf, self._buf_steps = self._buf, {}, 0
        for name, parts in buf.items():
            data = np.concatenate(parts, axis=0)
            if name.startswith("report/") and not data.shape[0]:
                continue  # no kept steps in this buffer (every > buffered steps)
            if name.startswith("report/"):  # chunks sized like one write: no partial chunks
                self._append(name, data, attrs=self._report_attrs(name.rsplit("/", 1)[1]),
                             chunk_rows=data.shape[0])
            else:
                self._append(name, data)
        if self.next_step is not None:
            self.stop_step = self.next_step
            self.writer.set_attrs("/", start_step=self.start_step, stop_step=self.stop_step)
        self._write_scalars()
        self.writer.flush()

    # ---------------------------------------------------------------- scalars
    def add_scalars(self, group: str, step: int, **values: Any) -> None:
        """Buffer one row of a log: ``/<group>/step`` and ``/<group>/<key>`` per value.

        Every call for a group must pass the same keys. Values may be scalars
        or fixed-shape arrays.
        """
        if self._closed:
            raise ValueError("Recorder is closed")
        if not values:
            raise ValueError("add_scalars needs at least one value")
        if "step" in values:
            raise ValueError("'step' is reserved in add_scalars")
        group = group.strip("/")
        rows = self._scalars.get(group)
        if rows is None:
            rows = self._scalars[group] = {"step": [], **{k: [] for k in values}}
        elif set(rows) != {"step", *values}:
            raise ValueError(f"add_scalars({group!r}): keys {sorted(values)} differ from "
                             f"earlier keys {sorted(k for k in rows if k != 'step')}")
        rows["step"].append(int(step))
        for key, value in values.items():
            rows[key].append(np.asarray(value))
        if len(rows["step"]) >= self.scalar_rows:
            self._write_scalars()
            self.writer.flush()

    def _write_scalars(self) -> None:
        for group, rows in self._scalars.items():
            if not rows["step"]:
                continue
            for key, values in rows.items():
                dtype = np.int64 if key == "step" else None
                self.writer.append(f"{group}/{key}", np.asarray(np.stack(values), dtype=dtype))
                values.clear()

    # ---------------------------------------------------------------- closing
    def close(self) -> None:
        """Write whatever is buffered and flush (idempotent)."""
        if self._closed or self.writer.closed:
            self._closed = True
            return
        self._write_blocks()
        self._closed = True

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return False


# ------------------------------------------------------------------ output of a simulation
class Recorders:
    """Hands every block to several recorders (layers, input and readout record different
    variables)."""

    def __init__(self, recorders: Sequence[Recorder]):
        self.recorders = list(recorders)

    def add_block(self, t0: int, data: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        for rec in self.recorders:
            rec.add_block(t0, data)

    def close(self) -> None:
        for rec in self.recorders:
            rec.close()


def make_recorders(writer: H5Writer, net: Any, batch: int, record: Mapping[str, Any], *,
                   record_input: bool = False, compression: str | None = DEFAULT_COMPRESSION
                   ) -> Recorders:
    """Recorders of a simulation of ``net`` for a validated ``[record]`` table.

    Parameters
    ----------
    writer : H5Writer
        The open output file.
    net : snnsim.Network
        The simulated network (layer names and sizes, readout size, ``dt`` in ms).
    batch : int
        Trials simulated side by side.
    record : mapping
        The validated ``[record]`` section (populations, variables, neurons, every,
        buffer_steps, spikes, readout).
    record_input : bool
        Also record the input spikes as the population ``input`` (``n_in`` neurons).
    compression : {None, "gzip", "lzf"}
        Compression of the spike and report datasets.
    """
    sizes = {layer.name: layer.n for layer in net.layers}
    pops = list(sizes) if record["populations"] == "all" else list(record["populations"])
    kw = dict(batch=batch, dt=net.dt, buffer_steps=record["buffer_steps"])
    out = []
    if pops and (record["variables"] or record["spikes"]):
        spec = RecordSpec(populations=pops, variables=tuple(record["variables"]),
                          neurons=record["neurons"] or None, every=record["every"],
                          spikes=record["spikes"], compression=compression)
        out.append(Recorder(writer, spec, populations=sizes, **kw))
    if record_input:
        spec = RecordSpec(populations=["input"], variables=(), compression=compression)
        out.append(Recorder(writer, spec, populations={"input": net.n_in}, **kw))
    if record["readout"]:
        spec = RecordSpec(populations=["readout"], variables=("y",), every=record["every"],
                          spikes=False, compression=compression)
        out.append(Recorder(writer, spec, populations={"readout": net.readout.n}, **kw))
    return Recorders(out)


def write_weights(writer: H5Writer, net: Any) -> None:
    """``/weights/<name>`` for every weight matrix of ``net`` ((pre, post) layout; for a
    sparse layer the CSR ``data`` (nnz,), its synapses in ``/connectivity/<name>/indptr`` and
    ``indices``, :mod:`snnsim.sparse`)."""
    for name, w in net.weights().items():
        writer.write_dataset(f"weights/{name}", w, units="1")
    for name, (indptr, indices) in net.connectivity().items():
        writer.write_dataset(f"connectivity/{name}/indptr", indptr, units="1")
        writer.write_dataset(f"connectivity/{name}/indices", indices, units="1",
                             n_post=net.weights_shape(name)[1])


# ------------------------------------------------------------------------ SONATA views
def _view_of(g: h5py.Group) -> str | None:
    value = g.attrs.get(VIEW_ATTR)
    return value.decode() if isinstance(value, bytes) else value


def report_variables(g: h5py.Group) -> list[str]:
    """Recorded (T, batch, n) variables of report group ``g``, recording order first."""
    found = [k for k, ds in g.items() if isinstance(ds, h5py.Dataset) and len(ds.shape) == 3
             and k not in ("data", "node_ids") and not ds.is_virtual]
    order = [v.decode() if isinstance(v, bytes) else str(v) for v in g.attrs.get("variables", [])]
    out = [v for v in order if v in found] + sorted(v for v in found if v not in order)
    return sorted(out, key=lambda v: v not in ("v", "y"))   # v (as in SONATA) or readout y first


def write_sonata_views(writer: H5Writer) -> None:
    """(Re)write the SONATA soma-report view of every report population (see module doc).

    For ``/report/<pop>`` with recorded variables ``var0, var1, ...`` of shape
    (T, B, n_sel): ``mapping/node_ids`` (uint64, ``b * n_nodes + node_ids[j]``),
    ``mapping/index_pointers`` (0..B n_sel), ``mapping/element_ids`` (zeros),
    ``mapping/time`` (start, stop, step in ms) and ``data``, a virtual dataset
    (T, B n_sel) over ``var0``; ``/report/<pop>:<var_k>`` holds the same for the
    other variables. Runs when the writer closes (idempotent: views of a grown
    report are rewritten).
    """
    if writer.closed or "report" not in writer.file:
        return
    f = writer.file
    top = f["report"]
    for name in [k for k in top if _view_of(top[k]) is not None]:
        for key in list(top[name]):   # bottom-up: deleting a group holding groups in SWMR
            del top[name][key]        # mode crashed HDF5 (see snnsim.io.training)
        del top[name]
    for pop in list(top):
        g = top[pop]
        variables = report_variables(g)
        for key in ("data", "mapping"):
            if key in g:
                if isinstance(g[key], h5py.Group):
                    for sub in list(g[key]):
                        del g[key][sub]
                del g[key]
        if not variables:
            continue
        first = g[variables[0]]
        T, B, n_sel = first.shape
        sel = g["node_ids"][()] if "node_ids" in g and g["node_ids"].shape == (n_sel,) \
            else np.arange(n_sel)
        n_nodes = int(g.attrs.get("n_nodes", int(sel.max()) + 1 if sel.size else n_sel))
        ids = (np.arange(B, dtype=np.uint64)[:, None] * n_nodes
               + sel.astype(np.uint64)[None, :]).ravel()
        start = int(first.attrs.get("start_step", 0))
        every = int(first.attrs.get("every", 1))
        dt = float(first.attrs.get("dt", writer.dt))
        m = g.create_group("mapping")
        m.create_dataset("node_ids", data=ids)
        m.create_dataset("index_pointers", data=np.arange(ids.size + 1, dtype=np.uint64))
        m.create_dataset("element_ids", data=np.zeros(ids.size, dtype=np.uint32))
        t = m.create_dataset("time", data=np.array([start * dt, (start + every * T) * dt,
                                                    every * dt]))
        t.attrs["units"] = "ms"
        for k, var in enumerate(variables):
            ds = g[var]
            if ds.shape[1:] != (B, n_sel):
                continue
            target = g if k == 0 else top.create_group(f"{pop}:{var}")
            if k:
                target.attrs[VIEW_ATTR] = f"{pop}/{var}"
                target["mapping"] = m
            # SONATA report data are float32 (HDF5 converts float64 sources on read)
            layout = h5py.VirtualLayout(shape=(ds.shape[0], B * n_sel), dtype=np.float32)
            src = h5py.VirtualSource(ds)
            for b in range(B):
                layout[:, b * n_sel:(b + 1) * n_sel] = src[:, b, :]
            data = target.create_virtual_dataset("data", layout)
            data.attrs["units"] = units_of(var) if "units" not in ds.attrs else ds.attrs["units"]
            data.attrs["variable_name"] = var
