"""Memory and output-size estimates before anything is allocated or written (issue: attack 8).

* ``[task]`` options giving enormous trials are refused while validating, before the probe
  trial is generated (it was OOM-killed at 23 GB);
* ``run``/``train``/``sweep`` refuse an output larger than the free space (exit 1, "no space
  left") or than ``--max-output SIZE`` (exit 2) at once, with the estimate in the message.
"""
import time

import h5py
import numpy as np
import pytest

from snnsim.config import validate
from snnsim.errors import ConfigError
from snnsim.io.size import (NOMINAL_RATE_HZ, OVERHEAD_BYTES, SPIKE_ROW_BYTES, parse_size,
                            run_output_bytes)
from snnsim.tasks import TASKS, make_task, trial_shape

NET = {"network": {"n_in": 100}, "layer": [{"population": [{"type": "lif", "n": 10}]}],
       "train": {"iterations": 1, "batch": 1}}


def one_line(res, code):
    assert res.exit_code == code, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    return lines[0]


@pytest.mark.parametrize("name,opts", [
    ("sine_wave", {}), ("sine_wave", {"steps": 17, "n_in": 3}),
    ("evidence_accumulation", {}), ("evidence_accumulation", {"n_cues": 2, "delay_ms": 30.0}),
    ("store_recall", {"delay_ms": 12.0}), ("sequential_digits", {"n_rep": 2, "row_ms": 3.0})])
@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_trial_shape_is_the_shape_of_a_generated_trial(name, opts, dt):
    data = make_task(name, np.random.default_rng(1), batch=2, dt=dt, **opts)
    assert trial_shape(name, dt=dt, **opts) == (data.steps, data.n_in, data.n_out)


def test_every_task_sizes_without_allocating():
    for name in TASKS:   # batch = 0 is the sizing call: nothing of the trial's size exists
        data = make_task(name, np.random.default_rng(0), batch=0)
        assert data.inputs.size == 0 and data.inputs.shape[1] >= 1


def test_huge_task_refused_before_generation():
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^task: one trial of 1000000000 steps .* GiB, more "
                                          r"than this machine's memory"):
        validate({**NET, "task": {"name": "sine_wave", "steps": 10**9}})
    with pytest.raises(ConfigError, match=r"^task: .* GiB"):
        validate({**NET, "network": {"n_in": 40},
                  "task": {"name": "evidence_accumulation", "delay_ms": 1e12}})
    assert time.perf_counter() - t0 < 5   # before: OOM-killed after 97 s at 23 GB


@pytest.mark.parametrize("text,value", [("0", 0), ("1000", 1000), ("20G", 20 << 30),
                                        ("512M", 512 << 20), ("1.5T", int(1.5 * 2**40)),
                                        ("2k", 2048), ("3GiB", 3 << 30), ("4gb", 4 << 30)])
def test_parse_size(text, value):
    assert parse_size("--max-output", text) == value


@pytest.mark.parametrize("text", ["", "-1", "1X", "G", "1e3", "inf", "nan"])
def test_parse_size_refuses(text):
    with pytest.raises(ConfigError, match="^--max-output: must be a size"):
        parse_size("--max-output", text)


def test_run_output_estimate_against_the_written_file(tmp_path, config, invoke):
    """Dense reports exactly; spikes at the nominal rate: with the measured rate instead, the
    estimate is the file size up to HDF5's own overhead."""
    cfg = config("cli_run_small", {"input.steps": 20000, "input.batch": 2, "record.buffer_steps": 2000,
                                   "record.block": 500})
    out = tmp_path / "o.h5"
    assert invoke("run", cfg, "-o", out, "-q").exit_code == 0
    from snnsim.config import load_config
    data = load_config(cfg).data
    est = run_output_bytes(data, steps=20000, batch=2)
    with h5py.File(out, "r") as f:
        n_spikes = f["spikes/hid/timestamps"].shape[0]
    nominal = 20000 * 2 * 30 * NOMINAL_RATE_HZ * 1e-3 * SPIKE_ROW_BYTES
    size = out.stat().st_size
    dense = 20000 * 2 * (30 + 1) * 4          # v of 30 neurons and the readout, float32
    assert est == pytest.approx(OVERHEAD_BYTES + dense + nominal, rel=0.02)
    with_measured_rate = est - nominal + n_spikes * SPIKE_ROW_BYTES
    assert size <= with_measured_rate <= size + OVERHEAD_BYTES + 0.1 * size


def test_run_steps_2_63_refused_at_once(tmp_path, config, invoke):
    cfg = config("cli_run_small")
    t0 = time.perf_counter()
    line = one_line(invoke("run", cfg, "-o", tmp_path / "o.h5", "--steps", 2**63 - 1), 1)
    assert time.perf_counter() - t0 < 10
    assert "no space left on the device" in line and "EiB" in line and "free there" in line
    assert "--max-output" in line
    assert not any(tmp_path.glob("*.h5")) and not any(tmp_path.glob(".*tmp"))


def test_max_output(tmp_path, config, invoke):
    cfg = config("cli_run_small")
    line = one_line(invoke("run", cfg, "-o", tmp_path / "o.h5", "--max-output", "100k"), 2)
    assert line.startswith("Error: --max-output: 100 KiB is exceeded by --out") and "MiB" in line
    assert not (tmp_path / "o.h5").exists()
    res = invoke("run", cfg, "-o", tmp_path / "o.h5", "--max-output", "0", "-q")
    assert res.exit_code == 0 and (tmp_path / "o.h5").exists()
    res = invoke("run", cfg, "-o", tmp_path / "p.h5", "--max-output", "5M", "-q")
    assert res.exit_code == 0
    res = invoke("run", cfg, "-o", tmp_path / "q.h5", "--max-output", "lots")
    assert res.exit_code == 2 and "Invalid value for '--max-output'" in res.output


def test_train_iterations_huge_refused_at_once(tmp_path, config, invoke):
    cfg = config("cli_train")
    t0 = time.perf_counter()
    line = one_line(invoke("train", cfg, "-o", tmp_path / "t.h5", "--iterations", 10**15), 1)
    assert time.perf_counter() - t0 < 10
    assert "no space left on the device" in line and "train.iterations" in line
    assert not (tmp_path / "t.h5").exists()


def test_sweep_estimate_refused_before_any_point(tmp_path, write_config, invoke):
    write_config("sweep_base_run", tmp_path, filename="base.toml")
    sweep = tmp_path / "sw.toml"
    sweep.write_text('base = "base.toml"\nout_dir = "out"\n[grid]\n'
                     '"input.steps" = [10, 9223372036854775807]\n')
    line = one_line(invoke("sweep", sweep), 1)
    assert "no space left on the device" in line and "fewer points" in line
    assert not (tmp_path / "out").exists()
    line = one_line(invoke("sweep", sweep, "--max-output", "1M"), 2)
    assert line.startswith("Error: --max-output: 1 MiB is exceeded")


def test_train_output_estimate_covers_the_written_file(tmp_path, config, invoke):
    """Checkpoint rewrites make the file grow (HDF5 does not reuse their space): the estimate
    counts them, so it stays above the real size."""
    from snnsim.config import load_config
    from snnsim.io.size import train_output_bytes
    cfg = config("cli_train", {"train.iterations": 40, "train.checkpoint_every": 1})
    out = tmp_path / "t.h5"
    assert invoke("train", cfg, "-o", out, "-q").exit_code == 0
    est = train_output_bytes(load_config(cfg).data)
    assert out.stat().st_size <= est <= 10 * out.stat().st_size + OVERHEAD_BYTES
