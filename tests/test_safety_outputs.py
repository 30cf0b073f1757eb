"""Regression tests of the output lifecycle (issue: never destroy data).

Each test is one reproduction of an attack: --overwrite onto a device node, onto a file
open in another process, onto a hard link of the config, a failed overwrite on a full
disk (simulated with RLIMIT_FSIZE, which gives EFBIG), and a new run on a full disk.
"""
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

REPO = Path(__file__).resolve().parents[1]

SMALL = """
[network]
n_in = 10
seed = 1
[[layer]]
name = "hidden"
w_in_scale = 2.0
  [[layer.population]]
  type = "lif"
  n = 20
[readout]
n = 1
[input]
type = "poisson"
rate = 20.0
steps = 400
batch = 2
[record]
variables = ["v"]
block = 100
"""


def snnsim(*args, cwd, fsize=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))

    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return subprocess.run([sys.executable, "-m", "snnsim.cli.main", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=limit)


def one_line(res, code):
    assert res.returncode == code, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    return lines[0]


@pytest.fixture
def cfg(tmp_path):
    p = tmp_path / "small.toml"
    p.write_text(SMALL)
    return p


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_overwrite_device_node_refused(tmp_path, cfg):
    node = tmp_path / "n"
    os.mknod(node, 0o644 | 0o020000, os.makedev(1, 3))
    line = one_line(snnsim("run", cfg, "--out", node, "--overwrite", "-q", cwd=tmp_path), 2)
    assert "device" in line
    assert node.is_char_device()


def test_overwrite_fifo_and_directory_refused(tmp_path, cfg):
    fifo = tmp_path / "f.h5"
    os.mkfifo(fifo)
    one_line(snnsim("run", cfg, "--out", fifo, "--overwrite", "-q", cwd=tmp_path), 2)
    assert fifo.is_fifo()


def test_overwrite_file_open_elsewhere_untouched(tmp_path, cfg):
    out = tmp_path / "o.h5"
    assert snnsim("run", cfg, "--out", out, "-q", cwd=tmp_path).returncode == 0
    before = out.read_bytes()
    with h5py.File(out, "r") as f:
        line = one_line(snnsim("run", cfg, "--out", out, "--overwrite", "-q", cwd=tmp_path), 1)
        assert "open in another process" in line
        assert f.attrs["status"] == "complete"
    assert out.read_bytes() == before


def test_hard_link_to_config_refused(tmp_path, cfg):
    link = tmp_path / "o.h5"
    os.link(cfg, link)
    line = one_line(snnsim("run", cfg, "--out", link, "--overwrite", "-q", cwd=tmp_path), 2)
    assert "same file as the input" in line
    assert cfg.read_text() == SMALL


def test_overwrite_is_atomic_and_replaces_regular_files(tmp_path, cfg):
    out = tmp_path / "notes.txt"
    out.write_text("notes")
    assert snnsim("run", cfg, "--out", out, "--overwrite", "-q", cwd=tmp_path).returncode == 0
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "complete"
    assert not list(tmp_path.glob(".snnsim-*"))


def test_failed_overwrite_on_full_disk_keeps_previous(tmp_path, cfg):
    out = tmp_path / "o.h5"
    assert snnsim("run", cfg, "--out", out, "-q", cwd=tmp_path).returncode == 0
    before = out.read_bytes()
    res = snnsim("run", cfg, "--out", out, "--overwrite", "-q", "--steps", 200000,
                 cwd=tmp_path, fsize=200_000)
    line = one_line(res, 1)
    assert "file size limit" in line
    assert out.read_bytes() == before
    assert not list(tmp_path.glob(".snnsim-*"))


def test_new_run_on_full_disk_one_line_no_crash(tmp_path, cfg):
    res = snnsim("run", cfg, "--out", tmp_path / "o.h5", "-q", "--steps", 200000,
                 cwd=tmp_path, fsize=150_000)
    one_line(res, 1)   # before: segfault (exit -11) and "Exception ignored" tracebacks


def _tmpfs(path, size):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True)
    return r.returncode == 0


def test_real_enospc_on_tmpfs(tmp_path, cfg):
    mnt = tmp_path / "mnt"
    if os.geteuid() != 0 or shutil.which("mount") is None or not _tmpfs(mnt, "256k"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        res = snnsim("run", cfg, "--out", mnt / "o.h5", "-q", "--steps", 200000, cwd=tmp_path)
        line = one_line(res, 1)
        assert "no space left" in line
    finally:
        subprocess.run(["umount", str(mnt)])


def test_name_too_long_one_line(tmp_path, cfg):
    line = one_line(snnsim("run", cfg, "--out", tmp_path / ("x" * 300 + ".h5"), "-q",
                           cwd=tmp_path), 2)
    assert "too long" in line
