"""Export of an snnsim output file to NWB (Neurodata Without Borders), with pynwb.

    snnsim export-nwb run.h5 -o run.nwb        # or: snnsim.io.nwb.export_nwb("run.h5", "run.nwb")

What goes where in the NWB file (NWB times are in seconds, snnsim's in ms):

- **trials** (``nwbfile.trials``): one trial per batch entry b, from
  ``b * D`` to ``(b + 1) * D`` seconds, D = the recorded duration
  (``stop_step * dt``); column ``batch_id``. The batch trials were simulated side
  by side; NWB has one clock, so they are laid end to end on it.
- **units** (``nwbfile.units``): one unit per recorded neuron of every spiking
  population (layer), with its spike times of every trial (a spike at t ms in
  trial b is at ``b * D + t / 1000`` s); columns ``layer`` (population name),
  ``neuron`` (index in the layer) and ``subpopulation`` (the LIF/ALIF
  population of a mixed layer, else the layer name).
- **config**: the snnsim config (JSON, as stored in the run file) in the file's
  ``notes``; ``source_script`` names the snnsim version.
- **weights**: processing module ``snnsim_weights`` with one table per weight
  matrix of ``/weights`` (or, for an interrupted run, ``/checkpoint/weights``),
  columns ``pre``, ``post``, ``weight`` for every non-zero synapse (snnsim
  stores matrices (pre, post); the table lists them row by row).

Dense reports (v, A, readout) are not exported (they stay in the snnsim file).
pynwb is an optional dependency: ``pip install 'snnsim[nwb]'``.
"""
from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .reader import check_layout, num_attr, open_run, subpopulations

NWB_EXTRA = "pip install 'snnsim[nwb]'"


def _pynwb():
    try:
        import pynwb
    except ImportError as exc:
        raise ConfigError("export-nwb", f"needs the pynwb package: {NWB_EXTRA} ({exc})") from None
    return pynwb


def _start_time(created: object) -> datetime:
    try:
        t = datetime.fromisoformat(str(created))
    except ValueError:
        t = datetime.now(timezone.utc)
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _labels(group, n: int, layer: str) -> list[str]:
    names, offsets = subpopulations(group)
    if not names:
        return [layer] * n
    names = names + [layer]   # neurons past the last offset (a crafted file): the layer's name
    return [names[int(np.searchsorted(offsets, i, side="right")) - 1] for i in range(n)]


def build_nwbfile(run_path: str | os.PathLike):
    """The ``pynwb.NWBFile`` of an snnsim output file (see the module docstring).

    Parameters
    ----------
    run_path : path
        File written by ``snnsim run``, ``snnsim train`` or ``Network.simulate(out=...)``.

    Returns
    -------
    pynwb.NWBFile
    """
    pynwb = _pynwb()
    from pynwb.core import DynamicTable

    from ..trained import WEIGHT_GROUPS, read_weights
    with open_run(run_path) as run:
        f, attrs, dt = run.file, run.attrs, run.dt
        check_layout(f, os.fspath(run_path))
        if "spikes" not in f:
            raise ConfigError(os.fspath(run_path), "holds no spikes (/spikes) to export")
        config = attrs.get("config", {})
        stop = num_attr(f, "stop_step", 0, minimum=0)
        n_trials = num_attr(f, "batch", 1, minimum=0) or 1
        pops = sorted(f["spikes"])
        if not pops:
            raise ConfigError(f"{os.fspath(run_path)}:/spikes", "holds no population to export")
        if not stop:   # a killed run: the last spike bounds the trial
            stop = 1 + max((int(np.rint(f[f"spikes/{p}/timestamps"][-1] / dt))
                            for p in pops if f[f"spikes/{p}/timestamps"].shape[0]), default=0)
        duration = stop * dt * 1e-3
        nwb = pynwb.NWBFile(
            session_description=f"snnsim simulation {Path(run_path).name} "
                                f"({n_trials} trial(s) of {duration:g} s, dt = {dt:g} ms)",
            identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"snnsim:{os.path.abspath(run_path)}:"
                                      f"{attrs.get('created', '')}")),
            session_start_time=_start_time(attrs.get("created")),
            notes=json.dumps(config, sort_keys=True) if not isinstance(config, str) else config,
            source_script=f"snnsim {attrs.get('snnsim_version', '?')} (config JSON in notes)",
            source_script_file_name=Path(run_path).name)
        nwb.add_trial_column("batch_id", "index of the trial in the simulated batch")
        for b in range(n_trials):
            nwb.add_trial(start_time=b * duration, stop_time=(b + 1) * duration, batch_id=b)
        nwb.add_unit_column("layer", "snnsim population (layer) of the neuron")
        nwb.add_unit_column("neuron", "index of the neuron in its layer")
        nwb.add_unit_column("subpopulation", "LIF/ALIF population of the neuron in its layer")
        for pop in pops:
            g = f[f"spikes/{pop}"]
            ts, neurons, batches = run.spikes(pop)
            n = num_attr(g, "n_nodes", int(neurons.max()) + 1 if neurons.size else 0, minimum=0)
            times = batches * duration + ts * 1e-3
            order = np.lexsort((times, neurons))
            neurons, times = neurons[order], times[order]
            bounds = np.searchsorted(neurons, np.arange(n + 1))
            labels = _labels(g, n, pop)
            for i in range(n):
                nwb.add_unit(spike_times=times[bounds[i]:bounds[i + 1]], layer=pop, neuron=i,
                             subpopulation=labels[i])
        if any(g in f for g in WEIGHT_GROUPS):
            weights, group = read_weights(f, os.fspath(run_path))
            module = nwb.create_processing_module(
                "snnsim_weights", f"synaptic weights from /{group} (pre, post, weight per "
                                  "non-zero synapse)")
            conn = group.replace("weights", "connectivity")
            for name in sorted(weights):
                w = np.asarray(weights[name], dtype=np.float64)
                if w.ndim == 1:   # a sparse layer: CSR data, synapses in /connectivity
                    csr = _stored_csr(f, f"{conn}/{name}", w)
                    pre, post, values, shape = csr.rows(), csr.indices, csr.data, csr.shape
                else:
                    pre, post = np.nonzero(w)
                    values, shape = w[pre, post], w.shape
                table = DynamicTable(name=name, description=f"weights {name}, matrix "
                                                            f"{shape[0]} pre x {shape[1]} post",
                                     id=np.arange(pre.size))
                table.add_column("pre", "presynaptic index", data=pre.astype(np.int64))
                table.add_column("post", "postsynaptic index", data=post.astype(np.int64))
                table.add_column("weight", "synaptic weight", data=values)
                module.add(table)
    return nwb


def _stored_csr(f, where, data):
    """The CSR of sparse weights ``data`` stored at ``where`` (indptr, indices; checked).
    The number of postsynaptic neurons is the attribute ``n_post`` of ``indices`` (else,
    e.g. in a checkpoint, the largest index + 1)."""
    from ..errors import ConfigError
    from ..sparse import CSR
    if where not in f or "indptr" not in f[where] or "indices" not in f[where]:
        raise ConfigError(where, "is missing: 1-D (sparse) weights need their indptr and indices")
    ip, ix = f[where]["indptr"], f[where]["indices"]
    if len(ip.shape) != 1 or ip.shape[0] < 1 or ix.shape != data.shape:
        raise ConfigError(where, f"indices must have {data.shape[0]} entries, got {ix.shape}")
    indices = ix[()]
    n = int(ix.attrs.get("n_post", indices.max() + 1 if indices.size else 0))
    return CSR.checked(where, ip[()], indices, data, (ip.shape[0] - 1, n), np.float64)


def export_nwb(run_path: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Write the NWB file ``out`` for the snnsim output file ``run_path``.

    Parameters
    ----------
    run_path : path
        snnsim output file (HDF5).
    out : path
        NWB file to write (replaced if it exists; the caller checks overwriting).

    Returns
    -------
    dict
        ``units``, ``trials`` and ``spikes`` written.
    """
    pynwb = _pynwb()
    nwb = build_nwbfile(run_path)
    with pynwb.NWBHDF5IO(os.fspath(out), "w") as io:
        io.write(nwb)
    units = len(nwb.units) if nwb.units is not None else 0
    spikes = int(sum(len(s) for s in nwb.units["spike_times"][:])) if units else 0
    return {"units": units, "trials": len(nwb.trials), "spikes": spikes}
