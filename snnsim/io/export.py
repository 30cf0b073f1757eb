"""CSV export of snnsim output files.

Holds :func:`spikes_to_csv`, which streams the SONATA spike datasets of one
or all populations into a CSV file with columns
``population,batch_id,node_id,timestamp_ms,subpopulation``: ``node_id`` is the
neuron's index in its layer (not the SONATA node id, which is offset per batch
trial), ``subpopulation`` the name of its LIF/ALIF population in a layer that
mixes several (from the group attributes ``subpopulation_names/_offsets``;
empty if the layer has one population or the file does not say).
"""

from __future__ import annotations

import os

import numpy as np

from .reader import check_layout, neuron_index, open_h5, subpopulations

COLUMNS = ("population", "batch_id", "node_id", "timestamp_ms", "subpopulation")
CHUNK_ROWS = 1 << 20


def spikes_to_csv(path_h5: str | os.PathLike, out_csv: str | os.PathLike,
                  population: str | None = None) -> int:
    """Write spikes of ``population`` (default: all, sorted by name) to ``out_csv``.

    Reads in chunks of ``CHUNK_ROWS`` spikes; returns the number of rows written.
    Timestamps are written with full float64 round-trip precision.
    """
    rows = 0
    with open_h5(path_h5) as f, open(out_csv, "w", newline="") as out:
        check_layout(f, os.fspath(path_h5))
        spikes = f["spikes"] if "spikes" in f else {}
        if population is None:
            pops = sorted(spikes)
        elif population in spikes:
            pops = [population]
        else:
            raise KeyError(f"no spikes for population {population!r} in "
                           f"{os.fspath(path_h5)}; populations: {sorted(spikes)}")
        out.write(",".join(COLUMNS) + "\n")
        for pop in pops:
            g = spikes[pop]
            n = min(g[k].shape[0] for k in ("timestamps", "node_ids", "batch_ids"))
            names, offsets = subpopulations(g)
            # neurons past the last offset (a crafted file) belong to no population: ""
            label = np.array([""] + names + [""] if len(names) > 1 else [""] * (len(names) + 2),
                             dtype=object)
            for a in range(0, n, CHUNK_ROWS):
                b = min(n, a + CHUNK_ROWS)
                ts = g["timestamps"][a:b].tolist()
                batch_ids = g["batch_ids"][a:b]
                nodes = neuron_index(g, g["node_ids"][a:b], batch_ids)
                subs = label[np.searchsorted(offsets, nodes, side="right")].tolist() \
                    if len(names) else [""] * (b - a)
                out.writelines(f"{pop},{bi},{ni},{t!r},{s}\n" for bi, ni, t, s
                               in zip(batch_ids.tolist(), nodes.tolist(), ts, subs))
                rows += b - a
    return rows
