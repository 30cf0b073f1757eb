"""Hypothesis fuzzing of configs, through the API (validate/build/simulate) and the CLI.

Valid configs come from a strategy mirroring the schema; hostile ones mutate them (wrong
types, NaN/inf, negative/zero taus, dt > tau, huge sizes, unknown keys, nested garbage, empty
lists, strings/bools where numbers go, ...; see ``fuzz_strategies``). Every case must end in a
valid run or a clean error: ``snnsim.ConfigError`` (API; one line starting with its field) or
exit code 2 with the one line ``Error: <same message>`` (``snnsim run``/``train`` on the TOML
file); a run may also diverge (DivergenceError / exit 1, one line). The Python API objects and
arrays are fuzzed in ``test_fuzz_api.py``. The last test prints how many cases ran (also
without ``-s``); ``SNNSIM_FUZZ_SCALE=10`` multiplies every ``max_examples`` (default: < 60 s).
"""
import tempfile
import tomllib
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import assume, example, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import snnsim
from snnsim.config import build, validate
from snnsim.cli.main import cli
from fuzz_strategies import (COUNTS, GARBAGE, SCALE, SETTINGS, STEPS, WORKDIR, hostile_configs,
                             hostile_train_configs, report, train_configs, valid_configs)
from toml_writer import dump_toml


# ------------------------------------------------------------------------- checks
def invoke(args):
    """CliRunner run; numpy/Python warnings reach its stderr as they would a terminal's."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        res = CliRunner().invoke(cli, args)
    assert isinstance(res.exception, (SystemExit, type(None))), repr(res.exception)
    assert "Traceback" not in res.output
    return res


def _check_config_error(exc):
    msg = str(exc)
    assert isinstance(exc.field, str) and exc.field and msg.startswith(f"{exc.field}: "), msg
    assert len(msg.splitlines()) == 1, msg


def _affordable(cfg):
    """Small enough to simulate in a fuzz case (huge-but-valid values are only validated)."""
    d = cfg.data
    n = sum(L["n"] for L in d["layer"])
    return n <= 500 and d["network"]["n_in"] <= 500 and d["readout"]["n"] <= 100 \
        and d["input"]["batch"] <= 16


def api_outcome(cfg, base_dir=WORKDIR):
    """'error' (ConfigError checked), 'skipped' (valid, too large), 'diverged' or 'ok'."""
    try:
        config = validate(cfg, base_dir=base_dir)
        if not _affordable(config):
            return "skipped", config
        built = build(config)
        summary = built.network.simulate(built.source, steps=min(built.steps, STEPS),
                                         batch=built.batch, rng=built.rng)
    except snnsim.ConfigError as exc:
        _check_config_error(exc)
        return "error", exc
    except snnsim.DivergenceError:
        return "diverged", None
    assert summary["steps"] == min(built.steps, STEPS)
    return "ok", config


def cli_run(cfg, tmp):
    """Write cfg as TOML, ``snnsim run`` it; compare with the API on the same parsed file."""
    toml = tmp / "c.toml"
    toml.write_text(dump_toml(cfg))
    with open(toml, "rb") as fh:
        parsed = tomllib.load(fh)
    kind, info = api_outcome(parsed, base_dir=tmp)
    if kind == "skipped":
        return kind
    out = tmp / "o.h5"
    args = ["run", str(toml), "--out", str(out), "-q"]
    if kind == "ok" and info["input"]["steps"] > STEPS:
        args += ["--steps", str(STEPS)]
    res = invoke(args)
    if kind == "error":
        assert res.exit_code == 2, res.output
        assert res.stderr.splitlines() == [f"Error: {info}"]
        assert not out.exists()
    elif kind == "diverged":
        assert res.exit_code == 1 and len(res.stderr.splitlines()) == 1, res.output
        assert res.stderr.startswith("Error: ")
    else:
        assert res.exit_code == 0, res.output
        with h5py.File(out, "r") as f:
            assert f.attrs["status"] == "complete"
            steps = min(info["input"]["steps"], STEPS)   # no stop_step if nothing was recorded
            assert f.attrs.get("stop_step", steps) == steps
    return kind


# ----------------------------------------------------------------------- API: configs
@pytest.mark.slow
@settings(max_examples=int(500 * SCALE), **SETTINGS)
@given(cfg=valid_configs())
def test_valid_configs_build_and_simulate(cfg):
    kind, info = api_outcome(cfg)
    COUNTS["api valid config"] += 1
    assert kind == "ok", info


@pytest.mark.slow
@settings(max_examples=int(2000 * SCALE), **SETTINGS)
@given(cfg=hostile_configs())
@example(cfg={"network": {"n_in": 10**12}, "layer": [{"population": [{"type": "lif", "n": 1}]}],
              "input": {"type": "poisson", "rate": 0.0}})                  # was MemoryError
@example(cfg={"network": {"n_in": 1}, "layer": [{"population": [{"type": "lif", "n": 1}]}],
              "input": {"type": "poisson", "rate": 0.0}, "\x85": 0.0})    # message was 2 lines
@example(cfg={"network": {"n_in": 1, 7: 1}, "layer": [{"population": [{"type": "lif", "n": 1}]}],
              "input": {"type": "poisson", "rate": 0.0}})                  # was TypeError (int key)
@example(cfg={"network": {"n_in": 1}, "layer": [{"population": [{"type": "lif", "n": 1}]}],
              "input": {"type": "spikes", "path": "a" * 5000}})           # was OSError (name too long)
@example(cfg={"network": {"n_in": 1}, "layer": [{"population": [{"type": "lif", "n": 1}]}],
              "input": {"type": "poisson", "rate": 0.0, "batch": 2**40}})  # was MemoryError
def test_hostile_configs_raise_config_error(cfg):
    COUNTS["api hostile config"] += 1
    COUNTS[f"  -> api: {api_outcome(cfg)[0]}"] += 1


# ---------------------------------------------------------------------- CLI: snnsim run
def _tmpdir():
    return Path(tempfile.mkdtemp(dir=WORKDIR))


@pytest.mark.slow
@settings(max_examples=int(300 * SCALE), **SETTINGS)
@given(cfg=st.one_of(valid_configs(), hostile_configs(), hostile_configs()))
def test_cli_run_valid_or_one_line_error(cfg):
    COUNTS["cli run config"] += 1
    COUNTS[f"  -> run: {cli_run(cfg, _tmpdir())}"] += 1


NPY = st.one_of(
    hnp.arrays(st.sampled_from(["f4", "f8", "i4", "u1", "?", "c8", "U2", "O"]),
               hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)),
    st.tuples(st.integers(1, 2), st.integers(1, 30)).map(   # the right shape, 0/1 or analogue
        lambda s: np.random.default_rng(s[1]).integers(0, 2, (s[0], s[1], 3)).astype("f4")),
    st.tuples(st.integers(1, 2), st.integers(1, 30), st.floats(allow_nan=True)).map(
        lambda s: np.full((s[0], s[1], 3), s[2])))


@pytest.mark.slow
@settings(max_examples=int(150 * SCALE), **SETTINGS)
@given(arr=NPY, kind=st.sampled_from(["spikes", "current"]),
       extra=st.dictionaries(st.sampled_from(["steps", "batch"]), st.one_of(st.integers(-1, 40), GARBAGE)))
@example(arr=np.zeros((1, 0, 3)), kind="current", extra={})  # T = 0 used to crash in run_block
def test_cli_npy_inputs(arr, kind, extra):
    COUNTS["cli run .npy input"] += 1
    tmp = _tmpdir()
    try:
        np.save(tmp / "x.npy", arr, allow_pickle=arr.dtype == object)
    except Exception:   # an object array hypothesis filled with something unpicklable
        assume(False)
    cfg = {"network": {"n_in": 3}, "layer": [{"population": [{"type": "lif", "n": 4}]}],
           "input": {"type": kind, "path": "x.npy", **extra}}
    COUNTS[f"  -> npy: {cli_run(cfg, tmp)}"] += 1


# -------------------------------------------------------------------- CLI: snnsim train
@pytest.mark.slow
@settings(max_examples=int(60 * SCALE), **SETTINGS)
@given(cfg=st.one_of(train_configs(), hostile_train_configs()))
@example(cfg={"network": {"n_in": 5},   # 2 layers + checkpoints: segfaulted in del f["checkpoint"]
              "layer": [{"population": [{"type": "lif", "n": 5}]},
                        {"population": [{"type": "alif", "n": 4}]}],
              "task": {"name": "sine_wave", "n_in": 5, "steps": 20},
              "train": {"iterations": 2, "checkpoint_every": 1}})
@example(cfg={"network": {"n_in": 40}, "layer": [{"population": [{"type": "lif", "n": 2}]}],
              "readout": {"n": 2}, "task": {"name": "evidence_accumulation", "n_cues": 10**9},
              "train": {"iterations": 1}})   # was MemoryError from generating the task
@example(cfg={"network": {"n_in": 1}, "layer": [{"population": [{"type": "lif", "n": 2}],
                                              "recurrent": False}],
              "task": {"name": "sine_wave", "steps": 3, "n_in": 1},
              "train": {"rule": "eprop-m1", "iterations": 1, "batch": 1}})   # was TypeError
@example(cfg={"network": {"n_in": 4}, "layer": [{"population": [{"type": "lif", "n": 1}]}],
              "readout": {"n": 2}, "task": {"name": "evidence_accumulation", "n_group": 1,
                                            "n_cues": 1, "cue_ms": 0.0, "gap_ms": 0.0,
                                            "delay_ms": 0.0, "recall_ms": 0.0},
              "train": {"iterations": 1, "batch": 1}})   # 0-step trials: was ValueError
def test_cli_train_valid_or_one_line_error(cfg):
    COUNTS["cli train config"] += 1
    tmp = _tmpdir()
    toml, out = tmp / "t.toml", tmp / "t.h5"
    toml.write_text(dump_toml(cfg))
    with open(toml, "rb") as fh:
        parsed = tomllib.load(fh)
    try:
        config, error = validate(parsed, base_dir=tmp), None
    except snnsim.ConfigError as exc:
        _check_config_error(exc)
        config, error = None, exc
    args = ["train", str(toml), "--out", str(out), "-q"]
    if config is not None:
        tr = config.data.get("train", {})
        used = [tr.get("batch", 0), tr.get("test_batch", 0), tr.get("val_batch", 0) * bool(tr.get("val_every"))]
        if max(used) > 16:
            COUNTS["  -> train: skipped"] += 1
            return
        if tr.get("iterations", 0) > 2:
            args += ["--iterations", "2"]
    res = invoke(args)
    if error is not None:
        assert res.exit_code == 2 and res.stderr.splitlines() == [f"Error: {error}"], res.output
    elif res.exit_code == 0:
        with h5py.File(out, "r") as f:
            assert f.attrs["status"] == "complete" and "weights" in f
    else:   # a runtime ConfigError (exit 2) or a divergence (exit 1)
        assert res.exit_code in (1, 2) and len(res.stderr.splitlines()) == 1, res.output
        assert res.stderr.startswith("Error: ") and ": " in res.stderr[7:], res.output
    COUNTS[f"  -> train: {'error' if error else res.exit_code or 'ok'}"] += 1


def test_zz_report_case_counts(capsys):
    report(capsys)
