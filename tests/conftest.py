"""Fixtures shared by the test files.

- ``config`` / ``write_config``: a base config from ``tests/configs/<name>.toml`` written into a
  test's directory, optionally with dotted-key overrides (``{"train.rule": "bptt"}``; list
  indices as integers: ``{"layer.0.population.1.beta": 0.5}``).
- ``invoke``: ``snnsim`` through click's CliRunner, in-process (arguments stringified).
- ``read_h5``: every dataset of an HDF5 file as ``name -> array``.
- ``snnsim_cmd``, ``mpiexec``: command lines / runs for tests that start real processes. They
  run ``sys.executable`` with the *installed* snnsim (no ``PYTHONPATH`` pointing into the
  source tree); run them with ``cwd`` outside the source tree (e.g. ``tmp_path``).
- ``run_benchmark``, ``md_table``: a script of ``benchmarks/`` in a subprocess (its stdout),
  and the rows of the Markdown table it printed.

Tests that start processes, run benchmarks, need NEST or MPI, or take more than a few seconds
are marked ``slow``: ``python -m pytest -q -m "not slow"`` is the quick loop, and
``python -m pytest -q`` (what CI runs) is still the whole suite.
"""
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

from toml_writer import dump_toml

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CONFIGS = TESTS / "configs"


# ----------------------------------------------------------------------------- configs
def _override(raw, dotted, value):
    """Set ``raw[a][b]...`` for the dotted key ``"a.b..."`` (digits index lists)."""
    *head, last = [int(k) if k.isdigit() else k for k in dotted.split(".")]
    node = raw
    for key in head:
        node = node[key] if isinstance(key, int) else node.setdefault(key, {})
    node[last] = value


@pytest.fixture(scope="session")
def write_config():
    """``write_config(name, directory, overrides=None, filename=None) -> Path``.

    Without overrides the base file is copied as it is; with them, it is parsed, changed and
    written back (the text is checked to read back to the changed config).
    """
    def write(name, directory, overrides=None, filename=None):
        src = CONFIGS / f"{name}.toml"
        path = Path(directory) / (filename or src.name)
        if not overrides:
            shutil.copyfile(src, path)
            return path
        raw = tomllib.loads(src.read_text())
        for key, value in overrides.items():
            _override(raw, key, value)
        text = dump_toml(raw)
        assert tomllib.loads(text) == raw, text
        path.write_text(text)
        return path
    return write


@pytest.fixture
def config(write_config, tmp_path):
    """``config(name, overrides=None, filename=None) -> Path``: ``write_config`` into tmp_path."""
    def make(name, overrides=None, filename=None):
        return write_config(name, tmp_path, overrides, filename)
    return make


# --------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="session")
def invoke():
    """``invoke(*args)``: the ``snnsim`` CLI in-process; an exception that is not a clean exit
    propagates (fails the test) and a traceback in the output is an error too."""
    from snnsim.cli.main import cli

    def run(*args):
        res = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
        assert "Traceback" not in res.output, res.output
        return res
    return run


# ------------------------------------------------------------------------------ HDF5
@pytest.fixture(scope="session")
def read_h5():
    """``read_h5(path, skip=()) -> {name: array}``: every dataset of the file, except those
    whose name starts with one of ``skip``."""
    def read(path, skip=()):
        out = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.startswith(tuple(skip)):
                out[name] = obj[()]
        with h5py.File(path, "r") as f:
            f.visititems(visit)
        return out
    return read


# ------------------------------------------------------------------------ processes
@pytest.fixture(scope="session")
def snnsim_cmd():
    """``snnsim_cmd(*args)``: the command line of ``python -m snnsim.cli.main *args`` with this
    interpreter (run it with ``cwd`` outside the source tree: the installed package is used)."""
    def cmd(*args):
        return [sys.executable, "-m", "snnsim.cli.main", *map(str, args)]
    return cmd


def _mpi_missing():
    if shutil.which("mpiexec") is None:
        return "mpiexec is not on PATH (apt-get install openmpi-bin libopenmpi-dev)"
    try:
        import mpi4py  # noqa: F401  (the package only: MPI itself is initialised by the ranks)
    except ImportError:
        return "mpi4py is not installed (pip install 'snnsim[mpi]')"
    return None


@pytest.fixture
def mpiexec(snnsim_cmd):
    """``mpiexec(n, *args, cwd=...) -> CompletedProcess``: ``mpiexec -n n python -m
    snnsim.cli.main *args`` (root allowed, oversubscribed: 2-core machines), text output
    captured. Skips the test (with the reason) without mpiexec or mpi4py."""
    reason = _mpi_missing()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1",
               PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe")

    def run(n, *args, cwd):
        return subprocess.run(["mpiexec", "-n", str(n), *snnsim_cmd(*args)], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=600)
    return run


@pytest.fixture(scope="session")
def run_benchmark(tmp_path_factory):
    """``run_benchmark(name, *args, timeout=900, env=None) -> stdout`` of
    ``benchmarks/<name>`` run from a fresh temporary directory (so that the script and the
    processes it starts use the installed snnsim); a non-zero exit fails the test."""
    def run(name, *args, timeout=900, env=None):
        script = ROOT / "benchmarks" / name
        res = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                             text=True, timeout=timeout, cwd=tmp_path_factory.mktemp("bench"),
                             env=None if env is None else dict(os.environ, **env))
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout
    return run


@pytest.fixture(scope="session")
def md_table():
    """``md_table(text, header_start) -> (lines, h, rows)``: the one Markdown table whose header
    line starts with ``header_start`` (at ``lines[h]``, followed by a ``|---`` line) and its
    rows (the ``|`` lines right after it) as lists of stripped cells."""
    def parse(text, header_start):
        lines = text.splitlines()
        header = [i for i, line in enumerate(lines) if line.startswith(header_start)]
        assert len(header) == 1, text
        h = header[0]
        assert lines[h + 1].startswith("|---"), text
        rows = []
        for line in lines[h + 2:]:
            if not line.startswith("|"):
                break
            rows.append([c.strip() for c in line.strip("|").split("|")])
        return lines, h, rows
    return parse
