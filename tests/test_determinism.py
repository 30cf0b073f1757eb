"""Same config + seed -> bit-identical HDF5 output, also across numba thread counts.

``snnsim run`` and ``snnsim train`` are run twice in-process (same seed) and then in fresh
subprocesses with ``NUMBA_NUM_THREADS=1`` and ``=2``; every dataset (except wall-clock
timings) must be equal bit for bit. batch > 1, so the kernels' ``prange`` over trials really
splits the work between threads in the 2-thread run.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from snnsim.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
WALL = ("training/wall_s",)   # wall-clock timings differ between any two runs

RUN = """
[network]
n_in = 12
dt = 1.0
seed = 7
[[layer]]
name = "hid"
w_in_scale = 3.0
  [[layer.population]]
  type = "lif"
  n = 20
  [[layer.population]]
  type = "alif"
  n = 10
  beta = 1.5
  tau_a = 300.0
[[layer]]
name = "top"
delay = true
w_in_scale = 2.0
  [[layer.population]]
  type = "lif"
  n = 8
[readout]
n = 3
[input]
type = "poisson"
rate = 80.0
steps = 300
batch = 4
[record]
variables = ["z", "v", "A", "a", "psi"]
block = 70
buffer_steps = 140
"""

TRAIN = """
[network]
n_in = 40
seed = 3
[[layer]]
name = "hidden"
w_in_scale = 4.0
  [[layer.population]]
  type = "lif"
  n = 10
  v_th = 0.6
  [[layer.population]]
  type = "alif"
  n = 10
  v_th = 0.6
  beta = 1.7
  tau_a = 2000.0
[[layer]]
name = "top"
  [[layer.population]]
  type = "lif"
  n = 8
  v_th = 0.6
[readout]
n = 2
[task]
name = "evidence_accumulation"
n_cues = 3
delay_ms = 100.0
[train]
rule = "{rule}"
iterations = 3
batch = 4
lr = 0.005
checkpoint_every = 2
test_batch = 4
"""
RULES = ("eprop", "bptt")


def datasets(path):
    """Every dataset of an HDF5 file (name -> array), wall-clock timings left out."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and not name.startswith(WALL):
            out[name] = obj[()]
    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def assert_bit_identical(a, b, label=""):
    assert set(a) == set(b), (label, sorted(set(a) ^ set(b)))
    assert a, "no datasets"
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.dtype == y.dtype and x.shape == y.shape, (label, k)
        if x.dtype.kind in "fc":   # bit patterns, so NaNs compare too
            assert x.tobytes() == y.tobytes(), (label, k)
        else:
            assert np.array_equal(x, y), (label, k)


def write_configs(tmp):
    (tmp / "run.toml").write_text(RUN)
    for rule in RULES:
        (tmp / f"train_{rule}.toml").write_text(TRAIN.format(rule=rule))


def commands(tmp, tag):
    """(args, output) of every command of one determinism round."""
    out = [(["run", str(tmp / "run.toml"), "--out", str(tmp / f"run_{tag}.h5"), "-q"],
            tmp / f"run_{tag}.h5")]
    for rule in RULES:
        h5 = tmp / f"train_{rule}_{tag}.h5"
        out.append((["train", str(tmp / f"train_{rule}.toml"), "--out", str(h5), "-q"], h5))
    return out


def test_same_seed_same_bits_in_process(tmp_path):
    write_configs(tmp_path)
    for tag in ("a", "b"):
        for args, _ in commands(tmp_path, tag):
            res = CliRunner().invoke(cli, args, catch_exceptions=False)
            assert res.exit_code == 0, res.output
    for (_, a), (_, b) in zip(commands(tmp_path, "a"), commands(tmp_path, "b")):
        da = datasets(a)
        assert_bit_identical(da, datasets(b), a.name)
        if a.name.startswith("run"):
            assert da["spikes/hid/timestamps"].size > 0 and da["report/hid/v"].shape[1] == 4
        else:
            assert "weights/hidden.w_in" in da and "checkpoint/weights/top.w_rec" in da
    # negative control: the comparison does see a different seed
    other = tmp_path / "run_seed8.h5"
    res = CliRunner().invoke(cli, ["run", str(tmp_path / "run.toml"), "--out", str(other), "-q",
                                   "--seed", "8"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    with pytest.raises(AssertionError):
        assert_bit_identical(datasets(tmp_path / "run_a.h5"), datasets(other))


CHILD = """
import json, sys, numba
from snnsim.cli.main import cli
for args in json.loads(sys.argv[1]):
    cli.main(args, standalone_mode=False)
print(json.dumps({"threads": numba.get_num_threads(), "layer": numba.threading_layer()}))
"""


@pytest.mark.parametrize("threads", [(1, 2)])
def test_independent_of_numba_thread_count(tmp_path, threads):
    write_configs(tmp_path)
    seen = {}
    for n in threads:
        env = dict(os.environ, NUMBA_NUM_THREADS=str(n),
                   PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        args = [a for a, _ in commands(tmp_path, f"t{n}")]
        res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], env=env,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        info = json.loads(res.stdout.strip().splitlines()[-1])
        assert info["threads"] == n, info
        seen[n] = info
    base = commands(tmp_path, f"t{threads[0]}")
    for n in threads[1:]:
        for (_, a), (_, b) in zip(base, commands(tmp_path, f"t{n}")):
            assert_bit_identical(datasets(a), datasets(b), f"{a.name} vs {b.name}")
