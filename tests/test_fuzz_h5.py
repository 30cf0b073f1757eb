"""Hypothesis fuzzing of crafted HDF5 files (issue 13): a real training file, edited by
tests/h5_strategies.py (dropped/retyped/reshaped datasets and attributes, huge declared
sizes, links, garbage JSON, truncation), is given to ``info``, ``plot``, ``export``,
``export-nir``, ``export-nwb`` and ``train --resume``. Every outcome is a clean completion
or a one-line error (exit 1 or 2), never a traceback; every command ends within seconds
and allocates less than 2 GiB (an address-space limit turns more into "out of memory",
a failure); a refused input file is byte-identical afterwards (read-only commands never
change it).

The default run is small (CI budget); ``SNNSIM_FUZZ_SCALE=10`` or the ``slow`` variant
explore more.
"""
import contextlib
import hashlib
import itertools
import resource
import shutil
import time

import numpy as np
import pytest
from hypothesis import given, settings

from fuzz_strategies import COUNTS, SCALE, SETTINGS, WORKDIR, report
from h5_strategies import apply, edits, inventory

COMMANDS = {
    "info": lambda p, d, cfg: ["info", p],
    "info --config": lambda p, d, cfg: ["info", p, "--config"],
    "plot": lambda p, d, cfg: ["plot", p, "-o", d / "p.png"],
    "export": lambda p, d, cfg: ["export", p, "-o", d / "e.csv"],
    "export-nir": lambda p, d, cfg: ["export-nir", p, "-o", d / "n.nir"],
    "export-nwb": lambda p, d, cfg: ["export-nwb", p, "-o", d / "w.nwb"],
    "train --resume": lambda p, d, cfg: ["train", cfg, "--resume", p, "--iterations", 3, "-q"],
}
WRITES_INPUT = {"train --resume"}   # continues the file in place when it succeeds
SECONDS = 20.0                      # per command and example (2 shared cores: generous)
HEADROOM = 2 << 30                  # address space a command may add (RLIMIT_AS) before
FILES = itertools.count()           # MemoryError ("out of memory" is a failure here)


def vm_size():
    """Virtual memory size of this process in bytes (Linux /proc)."""
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmSize:"))
    return kb * 1024


@contextlib.contextmanager
def memory_limit(extra):
    """Allocations beyond ``extra`` more bytes of address space fail with MemoryError."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm_size() + extra
    resource.setrlimit(resource.RLIMIT_AS, (cap if soft == resource.RLIM_INFINITY else min(soft, cap), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture(scope="module", autouse=True)
def module_memory_cap():
    """The whole module under one address-space cap (its size at the start + 8 GiB), on top of
    the per-command one: without it, memory a command leaves allocated is added to the next
    command's allowance, and a long run grew the test process to the machine's 24 GB (killed
    by the OOM killer, 2026-12-01). With the cap such growth ends in a MemoryError instead."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm_size() + (8 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap if soft == resource.RLIM_INFINITY else min(soft, cap), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture(scope="module")
def base(tmp_path_factory, write_config, invoke):
    """(config, training file, its objects, its attributes); the commands warmed up."""
    d = tmp_path_factory.mktemp("fuzzh5")
    cfg = write_config("checkpoint_train", d)
    out = d / "base.h5"
    assert invoke("train", cfg, "-o", out, "-q").exit_code == 0
    for name, make in COMMANDS.items():   # imports and kernels loaded before timing
        p = d / f"warm{next(FILES)}.h5"
        shutil.copyfile(out, p)
        res = invoke(*make(p, d, cfg))
        assert res.exit_code in (0, 2), (name, res.output)   # export-nir/nwb may be missing
    names, attrs = inventory(out)
    return cfg, out, names, attrs


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_command(name, base, todo, invoke):
    cfg, src, _, _ = base
    d = WORKDIR / f"h5-{next(FILES)}"
    d.mkdir()
    p = d / "crafted.h5"   # a new file per case: HDF5 caches open files by identity
    shutil.copyfile(src, p)
    apply(p, todo)
    before = digest(p)
    t0 = time.monotonic()
    with memory_limit(HEADROOM):
        res = invoke(*COMMANDS[name](p, d, cfg))
    took = time.monotonic() - t0
    COUNTS[f"h5 {name} exit {res.exit_code}"] += 1
    lines = [line for line in res.output.strip().splitlines() if not line.startswith("compiling")]
    assert res.exit_code in (0, 1, 2), (todo, res.output)
    assert "out of memory" not in res.output, (todo, res.output)
    if res.exit_code:
        assert len(lines) == 1 and lines[0].startswith(("Error: ", "Aborted")) \
            or lines[-1].startswith("interrupted"), (todo, res.output)
    if name not in WRITES_INPUT or res.exit_code == 2:
        assert digest(p) == before, (todo, "input file modified", res.output)
    assert took < SECONDS, (todo, took)
    shutil.rmtree(d, ignore_errors=True)


#: (command, edits) the fuzzer found failing (tracebacks) before the readers were fixed
FOUND = [
    ("export-nwb", [("set_attr", "", "batch", "x")]),                 # int('x') in nwb
    ("plot", [("json_attr", "", "config", 0, False, 1e12)]),          # config.layer a float
    ("plot", [("drop", "checkpoint"), ("swap", "training/iteration")]),   # column a group
    ("plot", [("swap", "spikes")]),                                   # /spikes a dataset
    ("export-nwb", [("reshape", "weights", ())]),                     # /weights a scalar
    ("export-nwb", [("retype", "weights", 0)]),
    ("export-nwb", [("swap", "weights/hidden.w_in")]),                # a weight a group
    ("export-nwb", [("link", "weights", "dangling", "x")]),
    ("info", [("link", "report", "other", "report")]),                # soft-link cycle
    ("train --resume", [("link", "checkpoint", "other", "checkpoint")]),
    ("train --resume", [("link", "checkpoint", "dangling", "x")]),
    ("train --resume", [("set_attr", "training/loss", "x", 1), ("retype", "training/loss", 6)]),
    ("export-nwb", [("drop", "spikes/hidden")]),                      # pynwb: empty units
    ("info --config", [("json_attr", "", "config", 1, False, [1, 2])]),  # config.layer [1, 2]
    ("export", [("set_attr", "spikes/hidden", "subpopulation_offsets", 4.6e297)]),
    ("export-nwb", [("set_attr", "spikes/hidden", "subpopulation_offsets", 4.6e297)]),
    ("export", [("set_attr", "spikes/hidden", "n_nodes", 20),
                ("set_attr", "spikes/hidden", "subpopulation_offsets", np.array([0, 2, 3]))]),
    ("export-nwb", [("set_attr", "spikes/hidden", "n_nodes", 20),
                    ("set_attr", "spikes/hidden", "subpopulation_offsets", np.array([0, 2, 3]))]),
]


@pytest.mark.parametrize("name,todo", FOUND)
def test_found_by_the_fuzzer(name, todo, base, invoke):
    check_command(name, base, todo, invoke)


def _fuzz(examples):
    def wrap(fn):
        return settings(max_examples=examples, **SETTINGS)(fn)
    return wrap


def targets(name, base):
    """Objects and attributes to edit: for ``train --resume`` the checkpoint, the training
    log and the root attributes (what it reads), for the others the whole file."""
    names, attrs = base[2], base[3]
    if name in WRITES_INPUT:
        keep = ("checkpoint", "training")
        names = [n for n in names if n.startswith(keep)]
        attrs = [a for a in attrs if a[0] == "" or a[0].startswith(keep)]
    return names, attrs


@pytest.mark.parametrize("name", list(COMMANDS))
def test_fuzz_crafted_h5(name, base, invoke, capsys):
    @_fuzz(max(1, int(6 * SCALE)))
    @given(todo=edits(*targets(name, base)))
    def run(todo):
        check_command(name, base, todo, invoke)
    run()
    report(capsys)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COMMANDS))
def test_fuzz_crafted_h5_long(name, base, invoke, capsys):
    @_fuzz(max(1, int(60 * SCALE)))
    @given(todo=edits(*targets(name, base), max_size=5))
    def run(todo):
        check_command(name, base, todo, invoke)
    run()
    report(capsys)
