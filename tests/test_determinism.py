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

import numpy as np
import pytest

WALL = ("training/wall_s",)   # wall-clock timings differ between any two runs


RULES = ("eprop", "bptt")


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


def write_configs(config):
    config("determinism_run", filename="run.toml")
    for rule in RULES:
        config("determinism_train", {"train.rule": rule}, filename=f"train_{rule}.toml")


def commands(tmp, tag):
    """(args, output) of every command of one determinism round."""
    out = [(["run", str(tmp / "run.toml"), "--out", str(tmp / f"run_{tag}.h5"), "-q"],
            tmp / f"run_{tag}.h5")]
    for rule in RULES:
        h5 = tmp / f"train_{rule}_{tag}.h5"
        out.append((["train", str(tmp / f"train_{rule}.toml"), "--out", str(h5), "-q"], h5))
    return out


def test_same_seed_same_bits_in_process(tmp_path, config, invoke, read_h5):
    write_configs(config)
    for tag in ("a", "b"):
        for args, _ in commands(tmp_path, tag):
            res = invoke(*args)
            assert res.exit_code == 0, res.output
    for (_, a), (_, b) in zip(commands(tmp_path, "a"), commands(tmp_path, "b")):
        da = read_h5(a, skip=WALL)
        assert_bit_identical(da, read_h5(b, skip=WALL), a.name)
        if a.name.startswith("run"):
            assert da["spikes/hid/timestamps"].size > 0 and da["report/hid/v"].shape[1] == 4
        else:
            assert "weights/hidden.w_in" in da and "checkpoint/weights/top.w_rec" in da
    # negative control: the comparison does see a different seed
    other = tmp_path / "run_seed8.h5"
    res = invoke("run", tmp_path / "run.toml", "--out", other, "-q", "--seed", 8)
    assert res.exit_code == 0, res.output
    with pytest.raises(AssertionError):
        assert_bit_identical(read_h5(tmp_path / "run_a.h5", skip=WALL), read_h5(other, skip=WALL))


CHILD = """
import json, sys, numba
from snnsim.cli.main import cli
for args in json.loads(sys.argv[1]):
    cli.main(args, standalone_mode=False)
print(json.dumps({"threads": numba.get_num_threads(), "layer": numba.threading_layer()}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("threads", [(1, 2)])
def test_independent_of_numba_thread_count(tmp_path, threads, config, read_h5):
    write_configs(config)
    seen = {}
    for n in threads:
        env = dict(os.environ, NUMBA_NUM_THREADS=str(n))
        args = [a for a, _ in commands(tmp_path, f"t{n}")]
        res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        info = json.loads(res.stdout.strip().splitlines()[-1])
        assert info["threads"] == n, info
        seen[n] = info
    base = commands(tmp_path, f"t{threads[0]}")
    for n in threads[1:]:
        for (_, a), (_, b) in zip(base, commands(tmp_path, f"t{n}")):
            assert_bit_identical(read_h5(a, skip=WALL), read_h5(b, skip=WALL), f"{a.name} vs {b.name}")
