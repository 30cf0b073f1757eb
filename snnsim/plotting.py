"""Figures of snnsim output files (``snnsim run`` / ``snnsim train``), drawn with matplotlib.

:func:`plot_run` opens one output file and saves one figure, a single column of panels:

- **spike raster** per layer (``/spikes/<layer>``): time (ms) vs neuron id for one batch
  trial, populations of a mixed layer separated by a line and named on the right;
- **v / A traces** per layer with a voltage report (``/report/<layer>/v``, ``.../A``): a few
  recorded neurons, membrane potential solid and (adaptive) threshold dashed (one grey
  line when the threshold is the same constant for all of them); v is in units of v_th;
- **readout** (``/report/readout/y``), with the target dashed and the learning window
  shaded when the file holds ``target``/``mask`` (files of ``snnsim train``; not shaded
  when the window is the whole trial);
- **training curve** (``/training``): loss per iteration on a log axis, ``val_loss`` when
  present, accuracy (and ``val_accuracy``) on a twin axis when present.

Time panels share their time axis. For a training file the title says which weights the
time panels show (the evaluation trial recorded after the last iteration). Panels the file cannot support are skipped, so files of
killed runs (datasets of unequal, short length; no ``stop_step``) and files without some
groups plot what they hold; a file with nothing plottable raises :class:`ConfigError`.

The figure is built on a ``matplotlib.figure.Figure`` with the Agg canvas; pyplot is never
imported (no global backend switch, no GUI), and matplotlib is imported only when a
function here is called.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError
from .neurons import V_UNITS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 120
WIDTH_IN = 11.0          # figure width (inches)
UNIT_IN = 1.75           # height (inches) of a panel of height ratio 1
READOUT = "readout"
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


@dataclass
class Panel:
    """One planned panel: ``kind`` in raster/traces/readout/training, ``pop`` for layers."""
    kind: str
    pop: str | None = None
    height: float = 1.0
    info: dict = field(default_factory=dict)

    @property
    def is_time(self) -> bool:
        return self.kind != "training"

    def describe(self) -> str:
        return f"{self.kind} {self.pop}" if self.pop else self.kind


# ------------------------------------------------------------------------------ file helpers
def _rows(f, name: str) -> int:
    """Row count of dataset ``name`` (0 if absent or not a dataset)."""
    obj = f.get(name)
    return int(obj.shape[0]) if obj is not None and hasattr(obj, "shape") and obj.shape else 0


def _times_ms(ds, dt: float, rows: int | None = None) -> np.ndarray:
    """Time (ms) of each row of a dense report (``start_step``/``every`` default 0/1)."""
    from .io.reader import num_attr
    start = num_attr(ds, "start_step", 0)
    every = num_attr(ds, "every", 1, minimum=1)
    dt = num_attr(ds, "dt", dt, kind=float)
    n = ds.shape[0] if rows is None else rows
    return (start + every * np.arange(n, dtype=np.int64)) * dt


def _units(ds, default: str) -> str:
    u = ds.attrs.get("units", default)
    return u.decode() if isinstance(u, bytes) else str(u)


def _unit_label(unit: str) -> str:
    return "arb. units" if unit in ("1", "") else unit


def _list(value) -> list:
    """``value`` if it is a list (of a stored config, which a crafted file may garble), else []."""
    return value if isinstance(value, list) else []


def _layer_order(run) -> list[str]:
    """Layer names in config order, then any other populations (not the readout), sorted."""
    cfg = run.attrs.get("config")
    names: list[str] = []
    if isinstance(cfg, dict):
        for layer in _list(cfg.get("layer")):
            if isinstance(layer, dict) and isinstance(layer.get("name"), str):
                names.append(layer["name"])
    rest = [p for p in run.populations if p not in names and p != READOUT]
    return names + rest


def _layer_populations(run, pop: str, n_nodes: int) -> list[tuple[str, int, int]]:
    """``(label, first, stop)`` neuron ranges of the populations of layer ``pop`` (from config)."""
    cfg = run.attrs.get("config")
    if not isinstance(cfg, dict):
        return []
    for layer in _list(cfg.get("layer")):
        if isinstance(layer, dict) and layer.get("name") == pop:
            out, start = [], 0
            for i, p in enumerate(_list(layer.get("population"))):
                if not isinstance(p, dict) or not isinstance(p.get("n"), int):
                    return []
                label = str(p.get("name") or p.get("type") or f"pop{i}")
                out.append((label, start, start + p["n"]))
                start += p["n"]
            return out if start == n_nodes else []
    return []


def _n_trials(f) -> int:
    """Batch trials in the file (largest of the root ``batch``, group ``n_batch``, report widths)."""
    from .io.reader import num_attr
    n = num_attr(f, "batch", 0, minimum=0)
    for top in ("spikes", "report"):
        if top not in f:
            continue
        for g in f[top].values():
            if not hasattr(g, "keys") or "sonata_view_of" in g.attrs:
                continue
            n = max(n, num_attr(g, "n_batch", 0, minimum=0))
            for ds in g.values():
                if hasattr(ds, "shape") and len(ds.shape) >= 2 \
                        and ds.name.split("/")[-1] not in ("mask", "data"):
                    n = max(n, int(ds.shape[1]))
    return n


def _trial(ds, batch: int) -> int | None:
    """Column of ``batch`` in a (T, batch, ...) dataset; a single-trial dataset serves trial 0."""
    width = int(ds.shape[1]) if len(ds.shape) >= 2 else 1
    return batch if batch < width else None


def _spike_count(g) -> int:
    return min((int(g[k].shape[0]) for k in ("timestamps", "node_ids", "batch_ids") if k in g),
               default=0) if all(k in g for k in ("timestamps", "node_ids", "batch_ids")) else 0


def _t_end(f, dt: float) -> float:
    """End (ms) of the simulated time: ``stop_step`` if set, else the extent of the data."""
    from .io.reader import num_attr
    stop = num_attr(f, "stop_step", 0, minimum=0)
    if stop > 0:
        return float(stop * dt)
    end = 0.0
    if "report" in f:
        for g in f["report"].values():
            for name, ds in g.items():
                if name not in ("node_ids", "data") and hasattr(ds, "shape") and ds.shape \
                        and ds.shape[0]:
                    end = max(end, float(_times_ms(ds, dt)[-1]) + dt)
    if "spikes" in f:
        for g in f["spikes"].values():
            n = _spike_count(g)
            if n:
                end = max(end, float(np.max(g["timestamps"][:n])) + dt)
    return end


def _finite_column(f, key: str, n: int) -> np.ndarray | None:
    """``/training/<key>`` aligned to ``n`` iteration rows (short columns: last rows), or None."""
    if key not in f["training"]:
        return None
    col = np.asarray(f["training"][key][:], dtype=np.float64)
    if col.size > n:
        col = col[:n]
    elif col.size < n:
        col = np.concatenate([np.full(n - col.size, np.nan), col])
    return col if np.isfinite(col).any() else None


# ------------------------------------------------------------------------------ planning
def plan_panels(run, *, batch: int = 0, neurons: int = 5, t_max: float | None = None
                ) -> tuple[list[Panel], float]:
    """Panels ``run`` supports (in figure order) and the end (ms) of the time axis.

    Raises :class:`ConfigError` if ``batch`` is out of range or nothing is plottable.
    """
    from .io.reader import num_attr
    f, dt = run.file, run.dt
    if batch < 0:
        raise ConfigError("--batch", f"must be >= 0, got {batch}")
    if neurons < 1:
        raise ConfigError("--neurons", f"must be >= 1, got {neurons}")
    if t_max is not None and not t_max > 0:
        raise ConfigError("--t-max", f"must be > 0 ms, got {t_max}")
    n_trials = _n_trials(f)
    if n_trials and batch >= n_trials:
        raise ConfigError("--batch", f"trial {batch} out of range: {run.path} holds "
                          f"{n_trials} trial(s) (0..{n_trials - 1})")
    t_end = _t_end(f, dt)
    if t_max is not None and t_end > 0:
        t_end = min(t_end, float(t_max))
    layers = _layer_order(run)
    panels: list[Panel] = []
    if t_end > 0:
        for pop in layers:
            g = f.get(f"spikes/{pop}")
            if g is None or not all(k in g for k in ("timestamps", "node_ids", "batch_ids")):
                continue
            n_nodes = num_attr(g, "n_nodes", 0, minimum=0)
            if not n_nodes:
                n = _spike_count(g)
                n_nodes = int(np.max(g["node_ids"][:n])) + 1 if n else 0
            if n_nodes:
                panels.append(Panel("raster", pop, float(np.clip(n_nodes / 60, 1.0, 2.0)),
                                    {"n_nodes": n_nodes}))
        for pop in layers:
            ds = f.get(f"report/{pop}/v")
            if (ds is not None and len(ds.shape) == 3 and ds.shape[0] and ds.shape[2]
                    and _trial(ds, batch) is not None):
                panels.append(Panel("traces", pop, 1.2))
        y = f.get(f"report/{READOUT}/y")
        if y is not None and len(y.shape) == 3 and y.shape[0] and y.shape[2] and _trial(y, batch) is not None:
            panels.append(Panel("readout", READOUT, 1.1))
    if "training" in f and hasattr(f["training"], "keys"):
        n = _rows(f, "training/iteration") or _rows(f, "training/loss")
        if n and any(_finite_column(f, k, n) is not None for k in ("loss", "accuracy")):
            panels.append(Panel("training", None, 1.3, {"rows": n}))
    if not panels:
        raise ConfigError(os.fspath(run.path), "holds nothing to plot (no spikes, voltage "
                          "reports, readout or training log with data)")
    return panels, t_end


# ------------------------------------------------------------------------------ panels
def draw_raster(ax, run, pop: str, *, batch: int = 0, t_end: float, n_nodes: int,
                marker_pt: float = 3.0) -> None:
    """Spike raster of ``pop`` for trial ``batch`` on ``ax`` (time in ms vs neuron id)."""
    ts, ids, _ = run.spikes(pop, batch)
    keep = ts < t_end
    ts, ids = ts[keep], ids[keep]
    ax.plot(ts, ids, linestyle="none", marker="|", markersize=marker_pt,
            markeredgewidth=0.8, color="black", rasterized=True)
    ax.set_ylim(-0.5, n_nodes - 0.5)
    ax.set_ylabel("neuron id")
    rate = ts.size / (n_nodes * t_end / 1000.0) if t_end > 0 else 0.0
    ax.set_title(f"{pop}: spike raster, trial {batch} ({n_nodes} neurons, {ts.size} spikes, "
                 f"mean rate {rate:.1f} Hz)", loc="left", fontsize=10)
    if ts.size == 0:
        ax.text(0.5, 0.5, "no spikes", transform=ax.transAxes, ha="center", va="center",
                color="0.4")
    pops = _layer_populations(run, pop, n_nodes)
    if len(pops) > 1:
        for _, start, _stop in pops[1:]:
            ax.axhline(start - 0.5, color="tab:red", linewidth=0.8, alpha=0.7)
        sec = ax.secondary_yaxis("right")
        sec.set_yticks([(a + b - 1) / 2 for _, a, b in pops], labels=[l for l, _, _ in pops])
        sec.tick_params(length=0, labelsize=8, labelcolor="tab:red")


def draw_traces(ax, run, pop: str, *, batch: int = 0, neurons: int = 5,
                t_end: float) -> None:
    """v (solid) and threshold A (dashed) of up to ``neurons`` recorded neurons of ``pop``.

    The neurons are spread evenly over the recorded columns (so mixed layers show every
    population).
    """
    f, dt = run.file, run.dt
    v = f[f"report/{pop}/v"]
    n_sel = int(v.shape[2])
    pick = np.unique(np.linspace(0, n_sel - 1, min(neurons, n_sel)).round().astype(int))
    ids = f.get(f"report/{pop}/node_ids")
    node_ids = ids[:] if ids is not None and ids.shape == (n_sel,) else np.arange(n_sel)
    a = f.get(f"report/{pop}/A")
    if a is not None and (len(a.shape) != 3 or a.shape[2] != n_sel or _trial(a, batch) is None):
        a = None
    from matplotlib.lines import Line2D
    handles = []
    shared = False     # one threshold line for all shown neurons (LIF: constant, equal v_th)
    for ds, style in ((v, "-"), (a, "--")):
        if ds is None or not ds.shape[0]:
            continue
        t = _times_ms(ds, dt)
        rows = int(np.searchsorted(t, t_end, side="left"))
        data = ds[:rows, _trial(ds, batch)][:, pick]
        if style == "--" and data.size and np.all(data == data[:1, :1]):
            shared = True
            ax.axhline(float(data[0, 0]), color="0.35", linestyle="--", linewidth=1.1)
            continue
        for j, col in enumerate(pick):
            ax.plot(t[:rows], data[:, j], style, color=COLORS[j % len(COLORS)],
                    linewidth=1.0 if style == "-" else 1.1, alpha=1.0 if style == "-" else 0.85)
    for j, col in enumerate(pick):
        handles.append(Line2D([], [], color=COLORS[j % len(COLORS)], label=f"neuron {node_ids[col]}"))
    handles.append(Line2D([], [], color="0.3", linestyle="-", label="v"))
    if a is not None:
        handles.append(Line2D([], [], color="0.35" if shared else "0.3", linestyle="--",
                              label="threshold v_th (all)" if shared else "threshold A"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              frameon=False, borderaxespad=0.0)
    # v has no physical unit in snnsim: it is measured in the units of the threshold v_th
    ax.set_ylabel(f"v, A ({V_UNITS})")
    what = "membrane potential v (solid), threshold A (dashed)" if a is not None \
        else "membrane potential v"
    ax.set_title(f"{pop}: {what}, trial {batch}", loc="left", fontsize=10)


def _segments(on: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` index ranges where ``on`` is true."""
    d = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def draw_readout(ax, run, *, batch: int = 0, t_end: float) -> None:
    """Readout ``y`` per output (solid), target (dashed) and learning window (shaded)."""
    f, dt = run.file, run.dt
    g = f[f"report/{READOUT}"]
    y = g["y"]
    target = g.get("target")
    mask = g.get("mask")
    if target is not None and (len(target.shape) != 3 or target.shape[2] != y.shape[2]
                               or _trial(target, batch) is None):
        target = None
    if mask is not None and (len(mask.shape) != 2 or _trial(mask, batch) is None):
        mask = None
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    handles = []
    whole = False
    if mask is not None and mask.shape[0]:
        t = _times_ms(mask, dt)
        rows = int(np.searchsorted(t, t_end, side="left"))
        on = mask[:rows, _trial(mask, batch)] > 0
        whole = bool(on.all())
        if not whole:   # shading the whole trial would say nothing
            for a, b in _segments(on):
                ax.axvspan(t[a], t[b - 1] + dt, color="0.85", zorder=0, linewidth=0)
            handles.append(Patch(color="0.85", label="learning window"))
    n_out = int(y.shape[2])
    for ds, style in ((y, "-"), (target, "--")):
        if ds is None or not ds.shape[0]:
            continue
        t = _times_ms(ds, dt)
        rows = int(np.searchsorted(t, t_end, side="left"))
        data = ds[:rows, _trial(ds, batch)]
        for k in range(n_out):
            ax.plot(t[:rows], data[:, k], style, color=COLORS[k % len(COLORS)],
                    linewidth=1.0 if style == "-" else 1.6, alpha=1.0 if style == "-" else 0.8)
    for k in range(n_out):
        handles.append(Line2D([], [], color=COLORS[k % len(COLORS)], label=f"output {k}"))
    if target is not None:
        handles.append(Line2D([], [], color="0.3", label="y"))
        handles.append(Line2D([], [], color="0.3", linestyle="--", linewidth=1.6, label="target"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              frameon=False, borderaxespad=0.0)
    ax.set_ylabel(f"readout ({_unit_label(_units(y, '1'))})")
    title = "readout y (solid) vs target (dashed)" if target is not None else "readout y"
    if mask is not None:
        title += ", learning window: whole trial" if whole else ", learning window shaded"
    ax.set_title(f"{title}, trial {batch}", loc="left", fontsize=10)


def draw_training(ax, run) -> None:
    """Loss (log y when positive) and val_loss per iteration; accuracy on a twin axis."""
    f = run.file
    n = _rows(f, "training/iteration") or _rows(f, "training/loss")
    it = (np.asarray(f["training/iteration"][:n], dtype=np.float64)
          if "iteration" in f["training"] else np.arange(n, dtype=np.float64))
    if it.size < n:
        it = np.concatenate([it, it[-1:] + 1 + np.arange(n - it.size)]) if it.size else np.arange(n)
    marker = "o" if n <= 40 else None
    lines = []
    logy = True
    for key, style, color in (("loss", "-", "tab:blue"), ("val_loss", "--", "tab:purple")):
        col = _finite_column(f, key, n)
        if col is None:
            continue
        ok = np.isfinite(col)
        logy &= bool(np.all(col[ok] > 0))
        lines += ax.plot(it[ok], col[ok], style, color=color, marker=marker, markersize=3,
                         linewidth=1.2, label=key.replace("_", " "))
    if lines:
        if logy:
            ax.set_yscale("log")
            lo, hi = ax.dataLim.intervaly
            if hi < 100 * lo:   # under two decades: label the 2..9 ticks with plain numbers
                from matplotlib.ticker import FuncFormatter
                plain = FuncFormatter(lambda v, _: f"{v:.3g}")
                ax.yaxis.set_major_formatter(plain)
                ax.yaxis.set_minor_formatter(plain)
                ax.tick_params(axis="y", which="minor", labelsize=8)
        ax.set_ylabel("loss" + (" (log scale)" if logy else ""))
    else:
        ax.set_yticks([])
    acc_keys = [k for k in ("accuracy", "val_accuracy") if _finite_column(f, k, n) is not None]
    if acc_keys:
        ax2 = ax.twinx()
        for key, style in zip(acc_keys, ("-", "--")):
            col = _finite_column(f, key, n)
            ok = np.isfinite(col)
            lines += ax2.plot(it[ok], col[ok], style, color="tab:green", marker=marker,
                              markersize=3, linewidth=1.2, label=key.replace("_", " "))
        ax2.set_ylim(-0.03, 1.03)
        ax2.set_ylabel("accuracy (fraction correct)", color="tab:green")
        ax2.tick_params(axis="y", colors="tab:green")
    ax.set_xlabel("iteration")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if n == 1:
        ax.set_xlim(it[0] - 1, it[0] + 1)
    ax.legend(handles=lines, loc="upper left", bbox_to_anchor=(1.08 if acc_keys else 1.01, 1.0),
              fontsize=8, frameon=False, borderaxespad=0.0)
    has_loss = any(l.get_label().endswith("loss") for l in lines)
    parts = (["loss" + (" (log y)" if logy else "")] if has_loss else []) + \
        (["accuracy (right axis)"] if acc_keys else [])
    title = "training: " + " and ".join(parts)
    title += f" per iteration ({n} iterations)"
    test = {k[5:]: v for k, v in run.attrs.items() if k.startswith("test_")
            and isinstance(v, (int, float))}
    if test:
        title += "; test " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(test.items()))
    ax.set_title(title, loc="left", fontsize=10)


# ------------------------------------------------------------------------------ figure
def build_figure(run, *, batch: int = 0, neurons: int = 5, t_max: float | None = None):
    """A ``matplotlib.figure.Figure`` (Agg canvas) of every panel ``run`` supports.

    Returns ``(figure, panels)``; see :func:`plan_panels` for the errors raised (and
    :func:`snnsim.io.reader.check_layout` for files whose groups are malformed).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .io.reader import check_layout
    check_layout(run.file, run.path)   # a crafted file: one line, not a traceback mid-plot
    panels, t_end = plan_panels(run, batch=batch, neurons=neurons, t_max=t_max)
    heights = [p.height for p in panels]
    fig = Figure(figsize=(WIDTH_IN, UNIT_IN * sum(heights) + 0.6), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, squeeze=False,
                        gridspec_kw={"height_ratios": heights})[:, 0]
    time_axes = [ax for ax, p in zip(axes, panels) if p.is_time]
    for ax in time_axes[1:]:
        ax.sharex(time_axes[0])
    for ax, p in zip(axes, panels):
        if p.kind == "raster":
            row_pt = p.height * UNIT_IN * 72 * 0.75 / p.info["n_nodes"]
            draw_raster(ax, run, p.pop, batch=batch, t_end=t_end, n_nodes=p.info["n_nodes"],
                        marker_pt=float(np.clip(0.9 * row_pt, 1.5, 6.0)))
        elif p.kind == "traces":
            draw_traces(ax, run, p.pop, batch=batch, neurons=neurons, t_end=t_end)
        elif p.kind == "readout":
            draw_readout(ax, run, batch=batch, t_end=t_end)
        elif p.kind == "training":
            draw_training(ax, run)
        ax.grid(True, alpha=0.25, linewidth=0.6)
    if time_axes:
        time_axes[0].set_xlim(0.0, t_end)
        for ax in time_axes[:-1]:
            ax.tick_params(labelbottom=False)
        time_axes[-1].set_xlabel("time (ms)")
    status = run.status
    if status == "running":
        status = "running (killed or still being written: partial data)"
    kind = "snnsim train" if any(p.kind == "training" for p in panels) else "snnsim run"
    shown = ""
    if kind == "snnsim train" and any(p.is_time for p in panels):
        n = _rows(run.file, "training/iteration")
        last = int(run.file["training/iteration"][n - 1]) if n else 0
        shown = f"\nspikes, traces and readout: one evaluation trial with the weights after " \
                f"iteration {last} (final)" if last else ""
    fig.suptitle(f"{os.path.basename(run.path)}  ({kind} output, dt = {run.dt:g} ms, "
                 f"status: {status}){shown}", fontsize=11)
    return fig, panels


def plot_run(path: str | os.PathLike, out_png: str | os.PathLike, *, batch: int = 0,
             neurons: int = 5, t_max: float | None = None) -> list[Panel]:
    """Plot every panel the output file ``path`` supports into ``out_png`` (dpi 120).

    ``batch`` is the trial shown in rasters/traces/readout, ``neurons`` the number of
    recorded neurons whose v/A are drawn per layer, ``t_max`` (ms) the end of the time axis
    (default: the whole run). The image format follows the suffix of ``out_png`` (png if
    none); the file is written to a temporary name and renamed, so it is never partial.
    Returns the panels drawn.
    """
    from .io.reader import open_run

    out = Path(out_png)
    fmt = out.suffix[1:].lower() or "png"
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    supported = FigureCanvasAgg.get_supported_filetypes()
    if fmt not in supported:
        raise ConfigError(os.fspath(out_png), f"unknown image format {fmt!r}; use one of "
                          + ", ".join(sorted(supported)))
    try:
        run = open_run(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except OSError as exc:
        text = str(exc).strip().splitlines()
        raise ConfigError(os.fspath(path), "cannot open as an snnsim HDF5 file ("
                          + (text[0] if text else type(exc).__name__) + ")") from None
    with run:
        fig, panels = build_figure(run, batch=batch, neurons=neurons, t_max=t_max)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            fig.savefig(tmp, format=fmt, dpi=DPI)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return panels


def plot(path: str | os.PathLike, out: str | os.PathLike | None = None, *, batch: int = 0,
         neurons: int = 5, t_max: float | None = None) -> Figure:
    """Plot an snnsim output file (``snnsim.plot``): the figure of ``snnsim plot``.

    Parameters
    ----------
    path : path
        File of ``snnsim run``, ``snnsim train`` or ``Network.simulate(out=...)``.
    out : path, optional
        Image to write (format from the suffix); if None the figure is only returned.
    batch : int
        Trial shown in the rasters, traces and readout.
    neurons : int
        Recorded neurons per layer whose v and threshold are drawn.
    t_max : float, optional
        End of the time axis (ms).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (Agg canvas; show it in a notebook by returning it from a cell).
    """
    if out is not None:
        plot_run(path, out, batch=batch, neurons=neurons, t_max=t_max)
    from .io.reader import open_run
    with open_run(path) as run:
        fig, _ = build_figure(run, batch=batch, neurons=neurons, t_max=t_max)
    return fig
