"""``snnsim run`` / ``snnsim info`` end to end: HDF5 content, errors, refusals, killed runs."""
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from snnsim import __version__

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def small_config(config, *, w_in_scale=3.0, block=50, name="small.toml", extra=None):
    """tests/configs/cli_run_small.toml with this input scale and block (and ``extra``
    dotted-key overrides) as ``name``."""
    return config("cli_run_small", {"layer.0.w_in_scale": w_in_scale, "record.block": block,
                                    "record.buffer_steps": block, **(extra or {})},
                  filename=name)


# -------------------------------------------------------------------------- examples
@pytest.mark.parametrize("name, layers, reports", [
    ("sine_lif", {"hidden": 100}, {("hidden", "v"): 10}),
    ("evidence_alif", {"hidden": 100}, {("hidden", "v"): 100, ("hidden", "A"): 100}),
    ("deep_3layer", {"l0": 80, "l1": 80, "l2": 40}, {("l0", "z"): 80, ("l2", "A"): 3}),
])
def test_run_examples(tmp_path, name, layers, reports, invoke):
    out = tmp_path / f"{name}.h5"
    steps = 120
    res = invoke("run", EXAMPLES / f"{name}.toml", "--out", out, "--steps", steps)
    assert res.exit_code == 0, res.output
    for layer in layers:
        assert f"{layer}: {layers[layer]} neurons" in res.stdout
        assert "Hz" in res.stdout
    assert "wall time" in res.stdout and str(out) in res.stdout
    with h5py.File(out, "r") as f:
        assert f.attrs["dt"] == 1.0 and f.attrs["snnsim_version"] == __version__
        assert f.attrs["status"] == "complete" and f.attrs["stop_step"] == steps
        assert '"n_in"' in f.attrs["config"]
        batch = int(f.attrs["batch"])
        total = 0
        for layer, n in layers.items():
            ts, ids = f[f"spikes/{layer}/timestamps"][:], f[f"spikes/{layer}/node_ids"][:]
            assert ts.shape == ids.shape and np.all(np.diff(ts) >= 0)
            # SONATA node ids: neuron i of trial b is b * n + i (see snnsim.io.recorder)
            assert ts.size == 0 or (ts.max() < steps and ids.max() < n * batch)
            total += ts.size
        assert total > 0
        every = 2 if name == "evidence_alif" else 1
        for (layer, var), n_sel in reports.items():
            assert f[f"report/{layer}/{var}"].shape == (steps // every, batch, n_sel)
        assert f["report/readout/y"].shape[1:] == (batch, f["report/readout/node_ids"].shape[0])


def test_seed_option_and_config_attr(tmp_path, config, invoke):
    cfg = small_config(config)
    outs = []
    for seed, name in ((11, "a.h5"), (11, "b.h5"), (12, "c.h5")):
        res = invoke("run", cfg, "--out", tmp_path / name, "--seed", seed, "--quiet")
        assert res.exit_code == 0 and res.stdout == ""
        with h5py.File(tmp_path / name, "r") as f:
            assert f.attrs["seed"] == seed
            outs.append(f["spikes/hid/timestamps"][:])
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])


# ---------------------------------------------------------------------------- errors
def test_bad_config_exit_2_no_output(tmp_path, config, invoke):
    cfg = small_config(config, w_in_scale=1.0, block=10, name="bad.toml",
                       extra={"layer.0.population.0.tau_m": -3.0})
    out = tmp_path / "out.h5"
    res = invoke("run", cfg, "--out", out)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert lines == ["Error: layer[0].population[0].tau_m: must be > 0 and finite, got -3.0"]
    assert "Traceback" not in res.output and not out.exists()


def test_toml_syntax_error_and_unknown_section(tmp_path, config, invoke):
    cfg = tmp_path / "syntax.toml"
    cfg.write_text("[network\nn_in = 3\n")
    res = invoke("run", cfg, "--out", tmp_path / "o.h5")
    assert res.exit_code == 2 and res.stderr.startswith(f"Error: {cfg}: invalid TOML")
    small_config(config, w_in_scale=1.0, block=10, name=cfg.name, extra={"trian.lr": 0.1})
    res = invoke("run", cfg, "--out", tmp_path / "o.h5")
    assert res.exit_code == 2 and res.stderr.startswith("Error: trian: unknown key")
    assert not (tmp_path / "o.h5").exists()


def test_existing_output_refused_without_overwrite(tmp_path, config, invoke):
    cfg, out = small_config(config), tmp_path / "run.h5"
    out.write_bytes(b"precious")
    res = invoke("run", cfg, "--out", out)
    assert res.exit_code == 2 and "already exists" in res.stderr and "--overwrite" in res.stderr
    assert out.read_bytes() == b"precious"
    res = invoke("run", cfg, "--out", out, "--overwrite")
    assert res.exit_code == 0, res.output
    assert h5py.is_hdf5(out)


def test_missing_output_dir_and_bad_options(tmp_path, config, invoke):
    cfg = small_config(config)
    res = invoke("run", cfg, "--out", tmp_path / "nope" / "run.h5")
    assert res.exit_code == 2 and "does not exist" in res.stderr
    assert invoke("run", cfg, "--out", tmp_path / "r.h5", "--steps", 0).exit_code == 2
    assert invoke("run", tmp_path / "missing.toml", "--out", tmp_path / "r.h5").exit_code == 2


def test_divergence_keeps_file_exit_1(tmp_path, config, invoke):
    cfg, out = small_config(config, w_in_scale=1e38, block=20), tmp_path / "div.h5"
    res = invoke("run", cfg, "--out", out)
    assert res.exit_code == 1, res.output
    assert len(res.stderr.strip().splitlines()) == 1 and "NaN/inf" in res.stderr
    with h5py.File(out, "r") as f:
        assert str(f.attrs["status"]).startswith("diverged")
        assert f["report/hid/v"].shape[0] > 0


def test_version_and_help(invoke):
    res = invoke("--version")
    assert res.exit_code == 0 and __version__ in res.output
    res = invoke("--help")
    assert "run" in res.output and "info" in res.output


# ------------------------------------------------------------------------------ info
def test_info(tmp_path, config, invoke):
    out = tmp_path / "run.h5"
    assert invoke("run", small_config(config), "--out", out, "--seed", 3, "-q").exit_code == 0
    res = invoke("info", out)
    assert res.exit_code == 0, res.output
    text = res.stdout
    for needle in ("dt: 1.0 ms", "seed: 3", f"version: {__version__}", "status: complete",
                   "populations: hid, readout", "/spikes/hid/timestamps", "/report/hid/v",
                   "(200, 1, 30)", "float32", "/report/readout/y"):
        assert needle in text, (needle, text)
    assert 'n_in = 20' in invoke("info", out, "--config").stdout   # TOML (run/train accept it)
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    res = invoke("info", junk)
    assert res.exit_code == 2 and res.stderr.startswith(f"Error: {junk}: cannot open")


# ------------------------------------------------------------------- real subprocess
def _spike_count(path, pop):
    """Number of flushed spikes of ``pop`` in a file still being written (None if unreadable)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return f[f"spikes/{pop}/timestamps"].shape[0]
    except (OSError, KeyError, RuntimeError):
        return None


def _start_long_run(tmp_path, config, snnsim_cmd, out):
    cfg = small_config(config, block=100)
    # a run far longer than the test (it is killed after a few blocks): no output-size check,
    # whose estimate for 2e8 steps depends on the free disk space of the machine
    proc = subprocess.Popen(snnsim_cmd("run", cfg, "--out", out, "--steps", 200000000,
                                       "--max-output", "0"),
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if out.exists() and (_spike_count(out, "hid") or 0) > 0:
            time.sleep(0.5)  # let a few more blocks be flushed
            return proc
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"no spikes flushed within 30 s: {proc.communicate()}")


@pytest.mark.slow
def test_sigkill_leaves_readable_file(tmp_path, config, invoke, snnsim_cmd):
    out = tmp_path / "killed.h5"
    proc = _start_long_run(tmp_path, config, snnsim_cmd, out)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    # A kill landing between an SWMR flush and the writer clearing the superblock's
    # "open for write" mark (about 1 in 60) needs snnsim's repair before plain h5py opens it.
    from snnsim.io import open_h5
    open_h5(out).close()
    with h5py.File(out, "r") as f:
        assert f["spikes/hid/timestamps"].shape[0] > 0
        assert f["spikes/hid/node_ids"].shape[0] == f["spikes/hid/timestamps"].shape[0]
        assert f.attrs["status"] == "running"
    res = invoke("info", out)
    assert res.exit_code == 0 and "status: running" in res.stdout


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_closes_file(tmp_path, sig, code, config, snnsim_cmd):
    out = tmp_path / "stopped.h5"
    proc = _start_long_run(tmp_path, config, snnsim_cmd, out)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, err
    name = signal.Signals(sig).name
    assert err.decode().strip().splitlines()[-1].startswith(f"interrupted by {name}")
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == f"interrupted ({name})"
        n = f["spikes/hid/timestamps"].shape[0]
        assert n > 0 and f["report/hid/v"].shape[0] == f.attrs["stop_step"]
