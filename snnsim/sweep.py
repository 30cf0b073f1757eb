"""Parameter sweeps: a grid over config values, each point one run with its own HDF5 file.

SWEEP.toml::

    base = "examples/evidence_accumulation.toml"   # relative to the sweep file's folder
    out_dir = "sweep_out"                          # idem (default "sweep_out")
    [grid]                                         # dotted config fields -> lists of values
    "train.lr" = [0.001, 0.003]
    "train.rule" = ["eprop", "bptt"]
    # the same without quotes: [grid.train] lr = [...], rule = [...]

The points are the Cartesian product of the lists (the last key varies fastest), numbered
from 0. Everything is validated before any point runs: the sweep file's own keys, and every
point's config by the config loader itself (base config + the point's values as overrides),
so a misspelt or out-of-range grid value is a one-line error naming the point and field.

Each point ``k`` is the base config with its values written to ``out_dir/point_<k>.toml``
(a complete config: rerun a point with ``snnsim train out_dir/point_<k>.toml``; a relative
``input.path`` is made absolute) and run as ``snnsim train`` (``snnsim run`` if the point
has no [train] section) in its own process, writing ``out_dir/point_<k>.h5``. The summary
table (point, grid values, final loss, accuracy, test accuracy, wall time, status) is
printed and written to ``out_dir/summary.csv``.

Execution: by default local processes, ``--jobs N`` at a time (each with
``NUMBA_NUM_THREADS = cores // N`` unless set); under ``mpiexec -n K ... --mpi`` point k
runs on rank ``k % K`` (each rank ``--jobs`` at a time) and rank 0 gathers the summary.
"""
import csv
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import interrupt
from . import validate as V
from .config import _apply_overrides, parse_toml, validate
from .config_toml import toml_key, toml_value
from .errors import ConfigError

SWEEP_KEYS = ("base", "out_dir", "grid")
RESULT_COLUMNS = ("final_loss", "accuracy", "test_accuracy", "wall_s", "status", "file")


@dataclass
class Sweep:
    path: Path
    base: Path
    out_dir: Path
    keys: list            # grid keys, in file order
    points: list          # per point: dict key -> value
    configs: list         # per point: the raw config dict (TOML-able) with its overrides
    modes: list           # per point: "train" or "run"
    data: list            # per point: the validated config sections (for size estimates)

    def point_file(self, k, ext="h5"):
        return self.out_dir / f"point_{k}.{ext}"


# ---------------------------------------------------------------------------- loading
def _flatten(prefix, table, out):
    for key, value in table.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            _flatten(dotted, value, out)
        else:
            out[dotted] = value
    return out


def _describe(point):
    return ", ".join(f"{k}={v!r}" for k, v in point.items())


def load_sweep(path, *, out_dir=None):
    """Parse and validate SWEEP.toml and every grid point's config; returns a :class:`Sweep`.

    ``out_dir`` (e.g. from the command line) replaces the file's ``out_dir``."""
    path = Path(path)
    raw = parse_toml(path)
    V.unknown_keys("", raw, SWEEP_KEYS)
    here = path.resolve().parent
    if "base" not in raw:
        raise ConfigError("base", 'is required: the path of the base config, e.g. base = "run.toml"')
    if not isinstance(raw["base"], str) or not raw["base"]:
        raise ConfigError("base", f"must be a path to a config file, got {raw['base']!r}")
    base = here / raw["base"]
    if out_dir is None:
        out = raw.get("out_dir", "sweep_out")
        if not isinstance(out, str) or not out:
            raise ConfigError("out_dir", f"must be a folder path, got {out!r}")
        out_dir = here / out
    grid = raw.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise ConfigError("grid", 'must be a table of config fields -> lists of values, '
                                  'e.g. [grid] "train.lr" = [0.001, 0.003]')
    grid = _flatten("", grid, {})
    for key, values in grid.items():
        if "." not in key:
            raise ConfigError(f"grid.{key}", 'must be a dotted config field "section.key", '
                                             'e.g. "train.lr"')
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{key}", f"must be a non-empty list of values, got {values!r}")
    base_raw = parse_toml(base)
    try:
        validate(base_raw, base_dir=base.resolve().parent, path=base)
    except ConfigError as exc:
        raise ConfigError("base", f"{raw['base']}: {exc}") from None
    keys = list(grid)
    points, configs, modes, datas = [], [], [], []
    for k, values in enumerate(itertools.product(*(grid[key] for key in keys))):
        point = dict(zip(keys, values))
        try:
            point_raw = _apply_overrides(base_raw, point)
            cfg = validate(point_raw, base_dir=base.resolve().parent, path=base)
        except ConfigError as exc:
            raise ConfigError(f"grid point {k} ({_describe(point)})", str(exc)) from None
        if "train" in cfg.data:
            mode = "train"
        elif "input" in cfg.data:
            mode = "run"
        else:
            raise ConfigError(f"grid point {k} ({_describe(point)})",
                              "has neither [train] (to train) nor [input] (to run)")
        inp = point_raw.get("input")
        if isinstance(inp, dict) and isinstance(inp.get("path"), str):   # the point file lives elsewhere
            inp["path"] = str(base.resolve().parent / inp["path"])
        points.append(point)
        configs.append(point_raw)
        modes.append(mode)
        datas.append(cfg.data)
    return Sweep(path=path, base=base, out_dir=Path(out_dir), keys=keys, points=points,
                 configs=configs, modes=modes, data=datas)


# ---------------------------------------------------------------------------- TOML out
def dump_toml(raw):
    """A TOML text of a parsed config dict (tables as inline tables; round-trips exactly)."""
    lines = [f"{toml_key(k)} = {toml_value(v, 'grid')}" for k, v in raw.items() if not isinstance(v, dict)]
    for key, value in raw.items():
        if isinstance(value, dict):
            lines += ["", f"[{toml_key(key)}]"]
            lines += [f"{toml_key(k)} = {toml_value(v, 'grid')}" for k, v in value.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def prepare(sweep, *, overwrite=False):
    """Create ``out_dir`` and write the points' config files (refuses to replace outputs)."""
    if not overwrite:
        for k in range(len(sweep.points)):
            for f in (sweep.point_file(k), sweep.out_dir / "summary.csv"):
                if f.exists():
                    raise FileExistsError(f"{f} already exists; pass --overwrite to replace it")
    sweep.out_dir.mkdir(parents=True, exist_ok=True)
    import tomllib
    for k, raw in enumerate(sweep.configs):
        text = dump_toml(raw)
        if json.dumps(tomllib.loads(text), sort_keys=True) != json.dumps(raw, sort_keys=True):
            raise ConfigError(f"grid point {k}", "its config does not survive writing it as TOML")
        sweep.point_file(k, "toml").write_text(
            f"# {sweep.path.name} point {k}: {_describe(sweep.points[k])} (base {sweep.base})\n" + text)


# ---------------------------------------------------------------------------- running
def _last(f, key):
    if key in f and len(f[key]):
        return float(f[key][-1])
    return float("nan")


def result_of(path, mode):
    """(final loss, accuracy, test accuracy) of a finished point's file (NaN where absent)."""
    import h5py
    if mode != "train":
        return float("nan"), float("nan"), float("nan")
    with h5py.File(path, "r") as f:
        return (_last(f, "training/loss"), _last(f, "training/accuracy"),
                float(f.attrs.get("test_accuracy", np.nan)))


#: seconds a point process gets to stop after the sweep forwarded a signal to it (then SIGKILL)
STOP_GRACE_S = 30.0


def _not_run(sweep, k, status):
    return {"point": k, **sweep.points[k], "mode": sweep.modes[k], "final_loss": float("nan"),
            "accuracy": float("nan"), "test_accuracy": float("nan"), "wall_s": 0.0,
            "status": status, "file": sweep.point_file(k).name}


def _wait(proc, grace=STOP_GRACE_S):
    """Wait for ``proc``; once a signal was recorded (:mod:`snnsim.interrupt`) forward it to
    the point process and wait at most ``grace`` s more, then kill it. Returns
    ``(stdout, stderr, signal name or None)``."""
    forwarded = None
    while True:
        try:
            out, err = proc.communicate(timeout=0.2 if forwarded is None else grace)
            return out, err, forwarded
        except subprocess.TimeoutExpired:
            if forwarded is not None:   # did not stop within the grace period
                proc.kill()
                out, err = proc.communicate()
                return out, err, forwarded
        signum = interrupt.pending()
        if signum is not None and forwarded is None:
            forwarded = signal.Signals(signum).name
            proc.send_signal(signum)


def run_point(sweep, k, *, threads=None, max_output=None):
    """Run point ``k`` in its own process; returns its summary row. A point not yet started
    when SIGINT/SIGTERM arrived is not started ("not run"); a running one gets the signal
    (its file is kept with status ``interrupted``)."""
    if interrupt.pending() is not None:
        return _not_run(sweep, k, f"not run ({signal.Signals(interrupt.pending()).name})")
    cfg, out = sweep.point_file(k, "toml"), sweep.point_file(k)
    cmd = [sys.executable, "-m", "snnsim.cli.main", sweep.modes[k], str(cfg), "--out", str(out),
           "--overwrite", "--quiet"]
    if max_output is not None:
        cmd += ["--max-output", str(max_output)]
    env = dict(os.environ)
    if threads and not env.get("NUMBA_NUM_THREADS"):
        env["NUMBA_NUM_THREADS"] = str(threads)
    for var in [v for v in env if v.startswith(("OMPI_", "PMIX_", "PMI_"))]:
        env.pop(var)   # a point is a plain process, not a rank of the sweep's MPI job
    t0 = time.perf_counter()
    # own session: a terminal's Ctrl-C reaches the sweep only, which forwards it once
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    _, stderr, forwarded = _wait(proc)
    wall = time.perf_counter() - t0
    row = {"point": k, **sweep.points[k], "mode": sweep.modes[k]}
    loss = acc = test = float("nan")
    if proc.returncode == 0:
        status = "ok"
        loss, acc, test = result_of(out, sweep.modes[k])
    elif forwarded is not None:
        status = f"interrupted ({forwarded}, exit {proc.returncode})"
    else:
        err = [ln for ln in stderr.splitlines() if ln.strip()]
        msg = next((ln for ln in reversed(err) if ln.startswith("Error:")), err[-1] if err else "")
        status = f"failed (exit {proc.returncode}): {msg.removeprefix('Error: ')}"
    row.update(final_loss=loss, accuracy=acc, test_accuracy=test, wall_s=wall, status=status,
               file=out.name)
    return row


def run_local(sweep, indices, *, jobs=1, threads=None, on_done=None, max_output=None):
    """Run the points ``indices`` ``jobs`` at a time; rows in point order."""
    rows = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:   # each point is a subprocess
        futures = {pool.submit(run_point, sweep, k, threads=threads, max_output=max_output): k
                   for k in indices}
        for fut in as_completed(futures):
            row = fut.result()
            rows[row["point"]] = row
            if on_done is not None and not row["status"].startswith("not run"):
                on_done(row)
    return [rows[k] for k in sorted(rows)]


def run_sweep(sweep, *, jobs=1, comm=None, on_done=None, max_output=None):
    """Run every point (under ``comm``: point k on rank k % size); the rows on rank 0, else None.

    ``max_output``: passed to every point as ``--max-output`` (bytes). After SIGINT/SIGTERM
    (recorded by :mod:`snnsim.interrupt`) no further point starts and the running ones get the
    signal; their rows say "interrupted" / "not run"."""
    n_points = len(sweep.points)
    cores = os.cpu_count() or 1
    if comm is None:
        return run_local(sweep, range(n_points), jobs=jobs, max_output=max_output,
                         threads=max(1, cores // max(1, min(jobs, n_points))), on_done=on_done)
    mine = [k for k in range(n_points) if k % comm.size == comm.rank]
    threads = max(1, cores // (comm.local_size() * max(1, jobs)))
    rows = run_local(sweep, mine, jobs=jobs, threads=threads, on_done=on_done,
                     max_output=max_output)
    gathered = comm.gather(rows)
    if not comm.is_root:
        return None
    return sorted((r for part in gathered for r in part), key=lambda r: r["point"])


def output_bytes(sweep):
    """Estimated size (bytes) of all the points' files (see :mod:`snnsim.io.size`)."""
    from .io.size import run_output_bytes, train_output_bytes
    total = 0
    for data, mode in zip(sweep.data, sweep.modes):
        total += train_output_bytes(data) if mode == "train" else \
            run_output_bytes(data, steps=data["input"]["steps"], batch=data["input"]["batch"])
    return total


# ---------------------------------------------------------------------------- summary
def columns(sweep):
    return ["point", *sweep.keys, "mode", *RESULT_COLUMNS]


def _fmt(v):
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def write_summary(sweep, rows, path=None):
    """Write ``out_dir/summary.csv`` (full precision); returns its path."""
    path = Path(path or sweep.out_dir / "summary.csv")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns(sweep))
        for r in rows:
            w.writerow(["" if isinstance(r[c], float) and math.isnan(r[c]) else
                        (repr(r[c]) if isinstance(r[c], float) else
                         json.dumps(r[c]) if isinstance(r[c], (list, dict)) else r[c])
                        for c in columns(sweep)])
    os.replace(tmp, path)
    return path


def format_table(sweep, rows):
    """The summary as an aligned text table."""
    cols = columns(sweep)
    cols.remove("file")
    cells = [cols] + [[_fmt(r[c]) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def read_summary(path):
    """The rows of a summary.csv as dicts of strings (for tests and scripts)."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))
