"""``snnsim plot`` / ``snnsim export`` end to end: images of run and train files, killed and
empty files, refusals (one-line errors, exit 2), CSV round trip."""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_user_error(res, *words):
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert "Traceback" not in res.output
    for w in words:
        assert w in lines[0], lines[0]


def assert_image(path, min_bytes=10_000):
    from matplotlib.image import imread
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert float(img[..., :3].std()) > 0.01     # not blank
    return img


@pytest.fixture(scope="module")
def files(tmp_path_factory, invoke, write_config):
    d = tmp_path_factory.mktemp("plotfiles")
    run = d / "run.h5"
    res = invoke("run", EXAMPLES / "deep_3layer.toml", "--out", run, "--steps", 300, "-q")
    assert res.exit_code == 0, res.output
    cfg = write_config("plot_train", d, filename="tr.toml")
    train = d / "train.h5"
    res = invoke("train", cfg, "--out", train, "-q")
    assert res.exit_code == 0, res.output
    return {"run": run, "train": train, "dir": d}


# ------------------------------------------------------------------------------ plot
def test_plot_run_file(files, tmp_path, invoke):
    out = tmp_path / "run.png"
    res = invoke("plot", files["run"], "-o", out)
    assert res.exit_code == 0, res.output
    assert f"wrote {out}" in res.stdout
    for panel in ("raster l0", "raster l1", "raster l2", "traces l0", "traces l2", "readout"):
        assert panel in res.stdout
    assert "training" not in res.stdout
    img = assert_image(out)
    assert img.shape[0] > img.shape[1]           # one column of 7 panels: tall
    assert not list(tmp_path.glob(".*.tmp"))     # no temporary file left


def test_plot_train_file(files, tmp_path, invoke):
    out = tmp_path / "train.png"
    res = invoke("plot", files["train"], "-o", out, "--neurons", 3)
    assert res.exit_code == 0, res.output
    for panel in ("raster hidden", "traces hidden", "readout", "training"):
        assert panel in res.stdout
    assert_image(out)


def test_plot_options(files, tmp_path, invoke):
    out = tmp_path / "b1.png"
    res = invoke("plot", files["run"], "-o", out, "--batch", 1, "--neurons", 1,
                 "--t-max", 50, "-q")
    assert res.exit_code == 0, res.output
    assert res.output == ""
    assert_image(out)
    pdf = tmp_path / "fig.pdf"
    assert invoke("plot", files["train"], "-o", pdf, "-q").exit_code == 0
    assert pdf.read_bytes()[:4] == b"%PDF"


def test_plot_figure_content(files):
    """Panels, titles and axis labels of the figure built from a train file."""
    from snnsim.io import open_run
    from snnsim.plotting import build_figure
    with open_run(files["train"]) as run:
        fig, panels = build_figure(run, neurons=4)
    assert [p.kind for p in panels] == ["raster", "traces", "readout", "training"]
    axes = fig.axes
    titles = [ax.get_title(loc="left") for ax in axes]
    assert titles[0].startswith("hidden: spike raster, trial 0")
    assert "threshold A (dashed)" in titles[1] and "learning window" in titles[2]
    assert titles[3].startswith("training: loss")
    assert axes[0].get_ylabel() == "neuron id" and axes[1].get_ylabel() == "v, A (units of v_th)"
    assert axes[2].get_xlabel() == "time (ms)" and axes[3].get_xlabel() == "iteration"
    assert axes[3].get_yscale() == "log"
    assert any("accuracy" in ax.get_ylabel() for ax in axes[4:])   # twin axis
    # 4 neurons: v (solid) each; the recorded neurons are LIF with the same constant
    # threshold, drawn once (dashed) instead of 4 overlapping lines
    styles = [l.get_linestyle() for l in axes[1].get_lines()]
    assert styles.count("-") == 4 and styles.count("--") == 1


def test_plot_killed_run(files, tmp_path, invoke):
    """Short, unequal datasets and no stop_step (a killed run) still plot."""
    path = tmp_path / "killed.h5"
    shutil.copy(files["run"], path)
    with h5py.File(path, "a") as f:
        del f.attrs["stop_step"]
        f.attrs["status"] = "running"
        for i, pop in enumerate(("l0", "l1", "l2")):
            g = f[f"spikes/{pop}"]
            n = g["timestamps"].shape[0] // 2
            g["timestamps"].resize((n,))
            g["batch_ids"].resize((n + 1,))
            for var in ("z", "v", "A"):
                f[f"report/{pop}/{var}"].resize(100 + 20 * i + (5 if var == "A" else 0), axis=0)
        f["report/readout/y"].resize(90, axis=0)
        del f["report/l1/A"]
    out = tmp_path / "killed.png"
    res = invoke("plot", path, "-o", out)
    assert res.exit_code == 0, res.output
    assert "traces l1" in res.stdout and "readout" in res.stdout
    assert_image(out)
    # a train file killed before its final recording: only the training curve
    path = tmp_path / "trainkilled.h5"
    shutil.copy(files["train"], path)
    with h5py.File(path, "a") as f:
        for group in ("spikes", "report", "weights"):
            del f[group]
        for ds in f["training"].values():
            ds.resize(2, axis=0)
    res = invoke("plot", path, "-o", tmp_path / "tk.png")
    assert res.exit_code == 0, res.output
    assert "1 panels (training)" in res.stdout
    assert_image(tmp_path / "tk.png", min_bytes=5_000)


def test_plot_errors(files, tmp_path, invoke):
    out = tmp_path / "fig.png"
    assert_user_error(invoke("plot", tmp_path / "missing.h5", "-o", out), "no such file")
    assert not out.exists()
    out.write_bytes(b"old")
    assert_user_error(invoke("plot", files["run"], "-o", out), "already exists", "--overwrite")
    assert out.read_bytes() == b"old"
    res = invoke("plot", files["run"], "-o", out, "--overwrite", "-q")
    assert res.exit_code == 0 and out.read_bytes()[:8] == PNG_MAGIC
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.attrs["dt"] = 1.0
        f.create_dataset("weights/w", data=np.ones(3))
        f.create_group("training")
    assert_user_error(invoke("plot", empty, "-o", tmp_path / "e.png"),
                      "empty.h5", "holds nothing to plot")
    assert not (tmp_path / "e.png").exists()
    assert_user_error(invoke("plot", files["run"], "-o", tmp_path / "b.png", "--batch", 2),
                      "--batch", "out of range")
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    assert_user_error(invoke("plot", text, "-o", tmp_path / "t.png"), "cannot open")
    assert_user_error(invoke("plot", files["run"], "-o", tmp_path / "x.bogus"),
                      "unknown image format")
    assert_user_error(invoke("plot", files["run"], "-o", files["run"], "--overwrite"),
                      "input file")
    assert_user_error(invoke("plot", files["run"], "-o", tmp_path / "no" / "x.png"),
                      "does not exist")
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_plotting_import_is_light(tmp_path):
    """Importing the CLI (and snnsim.plotting) imports no matplotlib."""
    code = ("import sys, snnsim.cli.main, snnsim.plotting; "
            "print(any(m.startswith('matplotlib') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------ export
def test_export_round_trip(files, tmp_path, invoke):
    out = tmp_path / "spikes.csv"
    res = invoke("export", files["run"], "-o", out)
    assert res.exit_code == 0, res.output
    with h5py.File(files["run"], "r") as f:
        counts = {pop: f[f"spikes/{pop}/timestamps"].shape[0] for pop in f["spikes"]}
        ref = {pop: (f[f"spikes/{pop}/timestamps"][:], f[f"spikes/{pop}/node_ids"][:],
                     f[f"spikes/{pop}/batch_ids"][:]) for pop in f["spikes"]}
    total = sum(counts.values())
    assert total > 0 and f"wrote {total} spikes" in res.stdout
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == total
    assert list(rows[0]) == ["population", "batch_id", "node_id", "timestamp_ms", "subpopulation"]
    for pop, (ts, ids, bs) in ref.items():
        mine = [r for r in rows if r["population"] == pop]
        assert len(mine) == counts[pop]
        np.testing.assert_array_equal([float(r["timestamp_ms"]) for r in mine], ts)
        # the CSV gives the neuron index; the SONATA node id of trial b is offset by b * n_nodes
        with h5py.File(files["run"], "r") as f:
            n_nodes = int(f[f"spikes/{pop}"].attrs["n_nodes"])
        np.testing.assert_array_equal([int(r["node_id"]) for r in mine], ids - bs * n_nodes)
        np.testing.assert_array_equal([int(r["batch_id"]) for r in mine], bs)

    one = tmp_path / "l2.csv"
    res = invoke("export", files["run"], "-o", one, "--population", "l2", "-q")
    assert res.exit_code == 0 and res.output == ""
    assert len(one.read_text().splitlines()) == counts["l2"] + 1


def test_export_errors(files, tmp_path, invoke):
    out = tmp_path / "s.csv"
    assert_user_error(invoke("export", tmp_path / "missing.h5", "-o", out), "no such file")
    assert_user_error(invoke("export", files["run"], "-o", out, "-p", "nope"),
                      "--population nope", "l0, l1, l2")
    assert not out.exists()
    out.write_text("old")
    assert_user_error(invoke("export", files["run"], "-o", out), "already exists")
    assert out.read_text() == "old"
    assert invoke("export", files["run"], "-o", out, "--overwrite", "-q").exit_code == 0
    assert out.read_text().startswith("population,")
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.attrs["dt"] = 1.0
    assert_user_error(invoke("export", empty, "-o", tmp_path / "e.csv"), "holds no spikes")
    assert not (tmp_path / "e.csv").exists()
    assert not list(tmp_path.glob(".*.tmp"))
