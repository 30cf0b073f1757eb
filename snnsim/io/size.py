"""Output-size estimates, checked against the free space before ``run``/``train``/``sweep`` write.

A run whose output cannot fit is refused at once, with one line giving the estimate and the
limit, instead of filling the disk for hours (``[input] steps = 2**63 - 1``). The limit is
the free space of the output's file system, or ``--max-output SIZE`` (``0``: no check).

How the estimate is computed (bytes):

* dense reports and the readout, exactly: ``ceil(steps / every) x batch x n_recorded x
  itemsize`` per recorded variable (the SONATA ``data`` views are virtual: no copy);
* spikes, ``SPIKE_ROW_BYTES`` per spike (timestamp, node id, batch id), at the nominal rate
  ``NOMINAL_RATE_HZ`` per neuron (at most one spike per step); recorded Poisson input at its
  configured rate. Spikes depend on the dynamics, so this part is an estimate, not a bound:
  a run that spikes faster than that and outgrows the disk still stops cleanly with "no space
  left on the device", keeping the output written so far;
* weights, the training log (one row of ``8 + n_layers`` float64 per iteration, two more per
  weight matrix with ``train.fidelity_every``), checkpoints
  (weights and two optimiser moments per checkpoint: the space of a replaced checkpoint is
  not reused by HDF5), the final recorded trial of ``train``, and ``OVERHEAD_BYTES`` of
  metadata.
"""
import errno
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np

from ..errors import ConfigError

#: rate (Hz per neuron) at which spikes are counted in the estimate
NOMINAL_RATE_HZ = 100.0
#: bytes per spike row: float64 timestamp + uint32 node id + uint32 batch id
SPIKE_ROW_BYTES = 16
#: HDF5 metadata, config, attributes
OVERHEAD_BYTES = 1 << 20

_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}


def parse_size(field, text):
    """Bytes of a size such as ``"20G"``, ``"512M"``, ``"1.5T"``, ``"1000000"`` (binary units,
    an optional trailing ``B``/``iB``); ``"0"`` means no limit (returns 0)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([KMGTP]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ConfigError(field, f"must be a size such as 500M, 20G or 0 (no limit), got {text!r}")
    value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not math.isfinite(value):
        raise ConfigError(field, f"must be a finite size, got {text!r}")
    return int(value)


def format_size(nbytes):
    """``nbytes`` in the largest binary unit below it, e.g. ``'1.5 GiB'``."""
    for unit, factor in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30),
                         ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= factor:
            return f"{nbytes / factor:.3g} {unit}"
    return f"{int(nbytes)} B"


def _spikes(steps, batch, n, rate_hz, dt):
    """Estimated spike rows of n neurons at rate_hz (at most one per step) over steps x batch."""
    return steps * batch * n * min(float(rate_hz) * dt * 1e-3, 1.0) * SPIKE_ROW_BYTES


def _weights(data):
    """Bytes of the weight matrices of a config (input and recurrent weights, readout)."""
    itemsize = np.dtype(data["network"]["dtype"]).itemsize
    n_pre, total = data["network"]["n_in"], 0
    for layer in data["layer"]:
        total += n_pre * layer["n"] + (layer["n"] ** 2 if layer["recurrent"] else 0)
        n_pre = layer["n"]
    return (total + n_pre * data["readout"]["n"]) * itemsize


def run_output_bytes(data, *, steps, batch, record_input=False):
    """Estimated size (bytes) of the file of ``snnsim run`` for validated config sections
    ``data`` (network, layer, readout, record, input) over ``steps`` x ``batch``."""
    net, rec = data["network"], data["record"]
    dt, itemsize = net["dt"], np.dtype(net["dtype"]).itemsize
    sizes = {layer["name"]: layer["n"] for layer in data["layer"]}
    pops = list(sizes) if rec["populations"] == "all" else rec["populations"]
    kept = -(-steps // rec["every"])   # report steps kept
    total = OVERHEAD_BYTES + _weights(data)
    for pop in pops:
        if rec["spikes"]:
            total += _spikes(steps, batch, sizes[pop], NOMINAL_RATE_HZ, dt)
        n_sel = len(rec["neurons"].get(pop, ())) or sizes[pop]
        total += kept * batch * n_sel * itemsize * len(rec["variables"])
    if rec["readout"]:
        total += kept * batch * data["readout"]["n"] * itemsize
    if record_input:
        inp = data.get("input", {})
        rate = np.mean(inp["rate"]) if inp.get("type") == "poisson" else NOMINAL_RATE_HZ
        total += _spikes(steps, batch, net["n_in"], rate, dt)
    return int(total)


def train_output_bytes(data):
    """Estimated size (bytes) of the file of ``snnsim train`` for validated config sections
    (network, layer, readout, task, train)."""
    from ..tasks import trial_shape
    net, tr = data["network"], data["train"]
    steps, n_in, n_out = trial_shape(data["task"]["name"], dt=net["dt"],
                                     **{k: v for k, v in data["task"].items() if k != "name"})
    weights = _weights(data)
    n_matrices = 1 + sum(1 + bool(layer["recurrent"]) for layer in data["layer"])
    columns = 8 + len(data["layer"]) + (2 * n_matrices if tr["fidelity_every"] else 0)
    log = tr["iterations"] * columns * 8
    # every checkpoint rewrites weights and optimiser moments; HDF5 does not reuse the space
    # of the datasets it replaces, so the file grows by about one checkpoint each time
    checkpoints = (tr["iterations"] // tr["checkpoint_every"] if tr["checkpoint_every"] else 0) + 1
    final = steps * (sum(2 * min(layer["n"], 8) * 8 for layer in data["layer"]) + 3 * n_out * 8)
    final += sum(_spikes(steps, 1, layer["n"], NOMINAL_RATE_HZ, net["dt"]) for layer in data["layer"])
    return int(OVERHEAD_BYTES + weights + 3 * weights * checkpoints + log + final)


def check_output_size(out, nbytes, max_output=None, *, hint="fewer steps, [record] every/variables"):
    """Refuse an output of ``nbytes`` estimated bytes larger than ``max_output`` bytes
    (ConfigError naming ``--max-output``: exit code 2) or, if ``max_output`` is None, than the
    free space of the file system of ``out`` (OSError ENOSPC, "no space left on the device":
    exit code 1, a fault of the environment like a full disk); ``max_output = 0``: no check.
    ``hint``: how to make the output smaller."""
    if max_output == 0:
        return
    what = f"the output would be about {format_size(nbytes)} (spikes counted at {NOMINAL_RATE_HZ:g} Hz)"
    advice = f"write less ({hint}) or pass --max-output SIZE (0 = no check)"
    if max_output is not None:
        if nbytes > max_output:
            raise ConfigError("--max-output", f"{format_size(max_output)} is exceeded by --out "
                                              f"{out}: {what}; {advice}")
        return
    folder = Path(out).resolve().parent
    while not folder.exists() and folder != folder.parent:   # e.g. a sweep's out_dir-to-be
        folder = folder.parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError:   # the folder is checked (and reported) when the file is created
        return
    if usage.total == 0 or not os.access(folder, os.W_OK):
        return   # not a place to write files (e.g. /proc, read-only): the writer says so
    free = usage.free
    if nbytes > free:
        raise OSError(errno.ENOSPC, f"no space left on the device for --out {out}: {what}, more "
                                    f"than the {format_size(free)} free there; {advice}")
