"""Regression tests (issue 13): every corrupted-checkpoint variant of
tests/checkpoint_variants.py is refused by ``snnsim train --resume`` with exit code 2, one line
naming the field, no traceback, and the file byte-identical afterwards; the Python loader
(:func:`snnsim.load`, which uses the weights and the config only) refuses damage to those
with a ConfigError instead of loading random weights."""
import hashlib
import json
import shutil

import h5py
import numpy as np
import pytest

import snnsim
from snnsim.errors import ConfigError
from snnsim.io.training import read_checkpoint

from checkpoint_variants import VARIANTS


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, write_config, invoke):
    """(config, file) of a finished 2-iteration run with a checkpoint at iteration 2."""
    d = tmp_path_factory.mktemp("ckpt")
    cfg = write_config("checkpoint_train", d)
    out = d / "base.h5"
    res = invoke("train", cfg, "-o", out, "-q")
    assert res.exit_code == 0, res.output
    return cfg, out


def error_lines(output):
    """Output lines other than the one-time kernel compilation notice."""
    return [line for line in output.strip().splitlines() if not line.startswith("compiling")]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_resume_refuses_corrupted_checkpoint(variant, trained, tmp_path, invoke):
    cfg, base = trained
    field, mutate = VARIANTS[variant]
    p = tmp_path / "damaged.h5"
    shutil.copyfile(base, p)
    mutate(p)
    before = digest(p)
    res = invoke("train", cfg, "--resume", p, "--iterations", 3, "-q")
    lines = error_lines(res.output)
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert field in lines[0], (field, lines[0])
    assert digest(p) == before, "the refused file was modified"


def test_silent_ones_were_silent_before(trained, tmp_path, invoke):
    """The two silent attacks of the issue, stated precisely: a checkpoint missing one weight
    matrix and a negative iteration; both now name the field (previously exit 0)."""
    cfg, base = trained
    for variant in ("weight matrix missing", "iteration negative"):
        p = tmp_path / f"{variant}.h5".replace(" ", "_")
        shutil.copyfile(base, p)
        VARIANTS[variant][1](p)
        res = invoke("train", cfg, "--resume", p, "--iterations", 3, "-q")
        assert res.exit_code == 2, res.output
        assert ("hidden.w_rec: is missing" in res.output
                or "meta.iteration: must be an integer in [0, " in res.output), res.output


def test_valid_checkpoint_reads_back_exactly(trained):
    """The validated Checkpoint holds the file's values (read independently with h5py)."""
    _, base = trained
    ck = read_checkpoint(base)
    with h5py.File(base, "r") as f:
        g = f["checkpoint"]
        meta = json.loads(g.attrs["meta"])
        for name, w in ck.weights.items():
            assert np.array_equal(w, g[f"weights/{name}"][()]) and w.dtype == np.float32
        assert set(ck.weights) == set(g["weights"])
        assert int(ck.optimizer["t"]) == int(g["optimizer/t"][()]) == 2   # one Adam step per iteration
        for key in g["optimizer/m"]:
            assert np.array_equal(ck.optimizer[f"m/{key}"], g[f"optimizer/m/{key}"][()])
            assert np.array_equal(ck.optimizer[f"v/{key}"], g[f"optimizer/v/{key}"][()])
        assert np.array_equal(ck.feedback["B"], g["feedback/B"][()])
        assert ck.iteration == meta["iteration"] == 2 and ck.rng == meta["rng"]
        assert ck.best_val == meta["best_val"] and ck.bad_evals == meta["bad_evals"]
        assert ck.log_rows == len(f["training/iteration"]) == 2
        assert ck.dt == f.attrs["dt"] == 1.0


def _unfinished(base, tmp_path, variant=None):
    """A copy of ``base`` without ``/weights`` (a run killed before its end), damaged by
    ``variant``."""
    p = tmp_path / "unfinished.h5"
    shutil.copyfile(base, p)
    with h5py.File(p, "r+") as f:
        del f["weights"]
    if variant is not None:
        VARIANTS[variant][1](p)
    return p


def test_python_loader_uses_the_checkpoint(trained, tmp_path):
    _, base = trained
    p = _unfinished(base, tmp_path)
    net, _ = snnsim.load(p)
    with h5py.File(p, "r") as f:
        for name, w in net.weights().items():
            assert np.array_equal(w, f[f"checkpoint/weights/{name}"][()])


@pytest.mark.parametrize("variant,field", [
    ("weight matrix missing", "checkpoint/weights/hidden.w_rec: is missing"),
    ("extra weight matrix", "checkpoint/weights/hidden.w_extra: is not a weight"),
    ("weight wrong shape", "checkpoint/weights/hidden.w_rec: must have shape (8, 8)"),
    ("weight NaN", "checkpoint/weights/hidden.w_rec: contains NaN or inf"),
    ("weight subgroup", "checkpoint/weights/sub: must be a weight matrix"),
    ("config attr garbage", "config: must be a JSON object"),
    ("config attr not a string", "config: must be a string"),
])
def test_python_loader_refuses_damaged_checkpoint(variant, field, trained, tmp_path):
    _, base = trained
    p = _unfinished(base, tmp_path, variant)
    before = digest(p)
    with pytest.raises(ConfigError) as err:
        snnsim.load(p)
    assert field in str(err.value)
    assert "\n" not in str(err.value)
    assert digest(p) == before


def test_python_loader_refuses_missing_final_weight(trained, tmp_path):
    """A finished file whose /weights lacks a matrix used to load with random weights."""
    _, base = trained
    p = tmp_path / "w.h5"
    shutil.copyfile(base, p)
    with h5py.File(p, "r+") as f:
        del f["weights/hidden.w_rec"]
    with pytest.raises(ConfigError, match=r"/weights/hidden\.w_rec: is missing"):
        snnsim.load(p)
