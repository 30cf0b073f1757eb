"""Read-only media: every writing command gives one line and exit code 1, nothing else.

The read-only location is a real read-only bind mount (``unshare -m``, a private mount
namespace: root only, nothing outside the test's process changes) or, for other users, a
folder without write permission (``chmod a-w``). As root without ``unshare`` the test is
skipped: chmod does not stop root.
"""
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.slow   # real processes (a private mount namespace for each command)


def _unshare_works(tmp_path):
    if shutil.which("unshare") is None:
        return False
    d = tmp_path / "probe"
    d.mkdir()
    res = subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$1" "$1" && '
                          'touch "$1/x"', "sh", str(d)], capture_output=True, text=True)
    return "Read-only file system" in res.stderr


@pytest.fixture
def readonly(tmp_path, snnsim_cmd):
    """``readonly(folder, *args) -> CompletedProcess``: ``snnsim *args`` (cwd tmp_path) with
    ``folder`` read-only for it; ``readonly.mounted``: a read-only file system (EROFS, exit
    code 1), else a folder without write permission (EACCES: exit code 1 or 2)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        if not _unshare_works(tmp_path):
            pytest.skip("root, and no private mount namespace (unshare -m): chmod cannot "
                        "make a folder read-only for root")

        def run(folder, *args):
            return subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$1" "$1" '
                                   '&& shift && exec "$@"', "sh", str(folder), *snnsim_cmd(*args)],
                                  cwd=tmp_path, capture_output=True, text=True, timeout=300)
        run.mounted = True
        return run

    def run(folder, *args):
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            return subprocess.run(snnsim_cmd(*args), cwd=tmp_path, capture_output=True, text=True,
                                  timeout=300)
        finally:
            folder.chmod(mode)
    run.mounted = False
    return run


@pytest.fixture
def ro_files(tmp_path, write_config, snnsim_cmd):
    """A folder ``ro`` with a run file, a train file with a checkpoint and a sweep."""
    ro = tmp_path / "ro"
    ro.mkdir()
    run_cfg = write_config("cli_run_small", ro)
    train_cfg = write_config("sweep_base_train", ro, {"train.checkpoint_every": 1},
                             filename="base.toml")
    shutil.copyfile(write_config("sweep_grid", tmp_path), ro / "sw.toml")
    for args in (("run", run_cfg, "-o", ro / "run.h5", "-q"),
                 ("train", train_cfg, "-o", ro / "train.h5", "-q")):
        res = subprocess.run(snnsim_cmd(*args), cwd=tmp_path, capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, res.stderr
    return ro


COMMANDS = {
    "plot": ("plot", "ro/run.h5", "--out", "ro/p.png"),
    "export": ("export", "ro/run.h5", "--out", "ro/x.csv"),
    "export-nir": ("export-nir", "ro/train.h5", "--out", "ro/x.nir"),
    "export-nwb": ("export-nwb", "ro/run.h5", "--out", "ro/x.nwb"),
    "sweep": ("sweep", "ro/sw.toml"),
    "train --resume": ("train", "ro/base.toml", "--resume", "ro/train.h5", "--iterations", "3"),
    "run": ("run", "ro/cli_run_small.toml", "--out", "ro/r2.h5", "--overwrite"),
    "gradcheck --out": ("gradcheck", "ro/base.toml", "--rules", "eprop", "--out", "ro/g.h5"),
}


def test_readonly_location_one_line_exit_1(ro_files, readonly):
    before = {p.name: p.read_bytes() for p in ro_files.iterdir()}
    for name, args in COMMANDS.items():
        if name == "export-nwb":
            try:
                import pynwb  # noqa: F401
            except ImportError:
                continue
        res = readonly(ro_files, *args)
        err = [ln for ln in res.stderr.splitlines() if ln.strip() and "compiling kernels" not in ln]
        assert res.returncode in ((1,) if readonly.mounted else (1, 2)), \
            (name, res.returncode, res.stdout, res.stderr)
        assert len(err) == 1 and err[0].startswith("Error: "), (name, res.stderr)
        assert "Traceback" not in res.stderr + res.stdout, name
        assert "another process" not in res.stderr and "in use" not in res.stderr, (name, err)
        assert ("read-only" in err[0].lower() or "not writable" in err[0].lower()
                or "permission denied" in err[0].lower()), (name, err)
    after = {p.name: p.read_bytes() for p in ro_files.iterdir()}
    assert after == before   # nothing created, changed or removed
