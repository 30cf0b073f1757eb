"""Buffered recording of simulation output into an :class:`~snnsim.io.writer.H5Writer`.

Holds :class:`RecordSpec` (what to record) and :class:`Recorder`, which
receives blocks of K consecutive simulation steps, keeps them in a bounded
in-memory buffer and writes them to HDF5 every ``buffer_steps`` steps:

* spikes in SONATA layout: ``/spikes/<pop>/{timestamps,node_ids,batch_ids}``,
  one row per spike, ordered by time, then batch, then node;
* dense reports: ``/report/<pop>/<var>`` with shape (T_recorded, batch,
  n_selected), plus ``/report/<pop>/node_ids``;
* scalar logs (e.g. per-iteration training loss) under ``/<group>/<name>``.

After every write the writer is flushed, so a killed run keeps all written
blocks. Root attributes ``start_step``/``stop_step`` give the step range of the
spike data written so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .writer import H5Writer

UNITS = {"v": "mV", "A": "mV", "z": "1"}


def units_of(variable: str) -> str:
    """Physical units of a recorded variable (``"1"`` if unknown)."""
    return UNITS.get(variable, "1")


@dataclass(frozen=True)
class RecordSpec:
    """What to record.

    populations : population names (``None`` = all).
    variables : dense variables to report for every selected population.
    neurons : per-population neuron index subsets for dense reports
        (populations not listed report all neurons). Spikes always cover
        all neurons.
    every : keep dense report steps whose global step is a multiple of this.
    spikes : record spikes (needs ``z`` in every block).
    """

    populations: Sequence[str] | None = None
    variables: Sequence[str] = ("z", "v", "A")
    neurons: Mapping[str, Sequence[int]] | None = None
    every: int = 1
    spikes: bool = True


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
        self._init_file()
        writer.on_close(self.close)

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

    def _init_file(self) -> None:
        w = self.writer
        w.set_attrs("/", batch=self.batch)
        for pop in self.pops:
            n = self.sizes[pop]
            if self.spec.spikes:
                g = f"spikes/{pop}"
                w.append(f"{g}/timestamps", np.empty(0, np.float64), attrs={"units": "ms"})
                w.append(f"{g}/node_ids", np.empty(0, np.uint32))
                w.append(f"{g}/batch_ids", np.empty(0, np.uint32))
                w.set_attrs(g, sorting="by_time", n_nodes=n, n_batch=self.batch)
            if self.variables:
                sel = self.selection[pop]
                ids = np.arange(n, dtype=np.int64) if sel is None else sel
                w.write_dataset(f"report/{pop}/node_ids", ids)
                w.set_attrs(f"report/{pop}", n_nodes=n, n_batch=self.batch)

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
                self._push(f"spikes/{pop}/node_ids", i.astype(np.uint32))
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
                self.writer.append(name, data, attrs=self._report_attrs(name.rsplit("/", 1)[1]),
                                   chunk_rows=data.shape[0])
            else:
                self.writer.append(name, data)
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
