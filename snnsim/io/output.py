"""The output file of a simulation (``snnsim run`` and ``Network.simulate(out=...)``).

:func:`open_output` creates the HDF5 file with everything needed to reuse it: the config
(root attribute ``config``, JSON: ``[network]``, ``[[layer]]``, ``[readout]``, the
validated ``[record]`` and, from the CLI, ``[input]``), the weights (``/weights/<name>``,
(pre, post)), and the recorders that stream spikes and reports into it (layout in
:mod:`snnsim.io.recorder`).
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping

from .._version import __version__
from ..errors import ConfigError
from .recorder import DEFAULT_COMPRESSION, Recorders, make_recorders, write_weights
from .writer import H5Writer


def validate_record(record: Mapping[str, Any] | None, config: Mapping[str, Any]) -> dict:
    """The ``[record]`` table ``record`` validated like a TOML config's (defaults filled).

    ``config`` holds the ``network``, ``layer`` and ``readout`` sections.
    """
    from ..config import SECTIONS
    ctx = {"network": config["network"], "layer": config["layer"], "readout": config["readout"]}
    return SECTIONS["record"][0]("record", dict(record or {}), ctx)


def open_output(out: str | os.PathLike, net: Any, config: Mapping[str, Any], *, batch: int,
                record: Mapping[str, Any] | None = None, record_input: bool = False,
                overwrite: bool = False, compression: str | None = DEFAULT_COMPRESSION,
                seed: int | None = None, input_is_spikes: bool = True,
                inputs: Any = ()) -> tuple[H5Writer, Recorders]:
    """Create ``out`` holding config and weights; return ``(writer, recorders)``.

    Parameters
    ----------
    out : path
        The HDF5 file (refused if it exists, unless ``overwrite``).
    net : snnsim.Network
        The network about to be simulated (its current weights are stored).
    config : mapping
        Config sections (at least ``network``, ``layer``, ``readout``); stored as JSON.
    batch : int
        Trials simulated side by side.
    record : mapping, optional
        ``[record]`` options (validated here; ``input = true`` records the input spikes).
    record_input : bool
        Record the input spikes (population ``input``) even if ``record`` does not say so.
    overwrite : bool
        Replace an existing ``out``.
    compression : {None, "gzip", "lzf"}
        Compression of the spike and report datasets.
    seed : int, optional
        Stored as the root attribute ``seed`` (default: ``config["network"]["seed"]``).
    input_is_spikes : bool
        False for current input, which cannot be recorded as spikes.
    inputs : iterable of paths
        Files the run reads (the output must not be one of them).
    """
    record = dict(record or {})
    record_input = bool(record.pop("input", False)) or record_input
    if record_input and not input_is_spikes:
        raise ConfigError("record.input", "only spike (or Poisson) input can be recorded; "
                                          "this input is a current")
    rec = validate_record(record, config)
    data = {**json.loads(json.dumps(dict(config))), "record": rec}
    writer = H5Writer(out, dt=net.dt, seed=config["network"].get("seed") if seed is None else seed,
                      version=__version__, config_json=data, overwrite=overwrite, inputs=inputs)
    try:
        write_weights(writer, net)
        recorders = make_recorders(writer, net, batch, rec, record_input=record_input,
                                   compression=compression)
    except BaseException:
        writer.abort()
        raise
    return writer, recorders
