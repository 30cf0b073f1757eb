"""CSV export of snnsim output files.

Holds :func:`spikes_to_csv`, which streams the SONATA spike datasets of one
or all populations into a CSV file with columns
``population,batch_id,node_id,timestamp_ms``.
"""

from __future__ import annotations

import os

from .reader import open_h5

COLUMNS = ("population", "batch_id", "node_id", "timestamp_ms")
CHUNK_ROWS = 1 << 20


def spikes_to_csv(path_h5: str | os.PathLike, out_csv: str | os.PathLike,
                  population: str | None = None) -> int:
    """Write spikes of ``population`` (default: all, sorted by name) to ``out_csv``.

    Reads in chunks of ``CHUNK_ROWS`` spikes; returns the number of rows written.
    Timestamps are written with full float64 round-trip precision.
    """
    rows = 0
    with open_h5(path_h5) as f, open(out_csv, "w", newline="") as out:
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
            for a in range(0, n, CHUNK_ROWS):
                b = min(n, a + CHUNK_ROWS)
                ts = g["timestamps"][a:b].tolist()
                nodes = g["node_ids"][a:b].tolist()
                batches = g["batch_ids"][a:b].tolist()
                out.writelines(f"{pop},{bi},{ni},{t!r}\n"
                               for bi, ni, t in zip(batches, nodes, ts))
                rows += b - a
    return rows
