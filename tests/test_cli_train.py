"""snnsim train / gradcheck through click's CliRunner: outputs, resume bit-identity, errors."""
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from snnsim.cli.main import cli
from snnsim.config import build_network, load_config

CONFIG = """
[network]
n_in = 40
seed = 1
[[layer]]
name = "hidden"
w_in_scale = 4.0
  [[layer.population]]
  type = "lif"
  name = "lif"
  n = 12
  v_th = 0.6
  [[layer.population]]
  type = "alif"
  name = "alif"
  n = 12
  v_th = 0.6
  beta = 1.7
  tau_a = 2000.0
[readout]
n = 2
[task]
name = "evidence_accumulation"
n_cues = 3
delay_ms = 200.0
[train]
rule = "{rule}"
feedback = "{feedback}"
iterations = 4
batch = 4
lr = 0.005
checkpoint_every = 2
test_batch = 4
val_every = 2
val_batch = 4
"""


def write(tmp_path, rule="eprop", feedback="symmetric"):
    p = tmp_path / f"{rule}.toml"
    p.write_text(CONFIG.format(rule=rule, feedback=feedback))
    return p


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, o: out.__setitem__(k, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


@pytest.mark.parametrize("rule,feedback", [("eprop", "adaptive"), ("bptt", "symmetric"),
                                           ("deep-eprop-onehop", "random")])
def test_train_writes_log_checkpoint_and_resumes_bit_identically(tmp_path, rule, feedback):
    cfg = write(tmp_path, rule, feedback)
    runner = CliRunner()
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    res = runner.invoke(cli, ["train", str(cfg), "--out", str(full)])
    assert res.exit_code == 0, res.output
    assert "4 iterations" in res.output and "test accuracy" in res.output
    a = datasets(full)
    assert a["training/iteration"].tolist() == [1, 2, 3, 4]
    assert np.all(np.isfinite(a["training/loss"]))
    assert np.isfinite(a["training/val_loss"][1])
    assert "checkpoint/weights/hidden.w_in" in a and "spikes/hidden/timestamps" in a
    # interrupted after 2 iterations, then resumed to 4: identical to the uninterrupted run
    assert runner.invoke(cli, ["train", str(cfg), "--out", str(part), "--iterations", "2"]).exit_code == 0
    res = runner.invoke(cli, ["train", str(cfg), "--resume", str(part), "--iterations", "4"])
    assert res.exit_code == 0, res.output
    b = datasets(part)
    assert set(a) == set(b)
    for k in a:
        if not k.startswith("training/wall"):
            assert np.array_equal(a[k], b[k], equal_nan=True), k


def test_weights_change_and_same_seed_is_bit_identical(tmp_path):
    cfg = write(tmp_path)
    runner = CliRunner()
    for name in ("x.h5", "y.h5"):
        assert runner.invoke(cli, ["train", str(cfg), "-o", str(tmp_path / name), "-q"]).exit_code == 0
    a, b = datasets(tmp_path / "x.h5"), datasets(tmp_path / "y.h5")
    initial = build_network(load_config(cfg)).weights()
    for name, w0 in initial.items():
        assert not np.array_equal(a[f"weights/{name}"], w0), f"{name} did not learn"
    for k in a:
        if not k.startswith("training/wall"):
            assert np.array_equal(a[k], b[k], equal_nan=True), k


def test_train_errors(tmp_path):
    runner = CliRunner()
    cfg = write(tmp_path)
    res = runner.invoke(cli, ["train", str(cfg)])
    assert res.exit_code == 2 and "exactly one of --out" in res.output
    res = runner.invoke(cli, ["train", str(cfg), "-o", str(tmp_path / "o.h5"), "--rule", "eprpo"])
    assert res.exit_code == 2 and "train.rule" in res.output and "did you mean 'eprop'" in res.output
    assert not (tmp_path / "o.h5").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.format(rule="eprop", feedback="symmetric").replace("n = 2\n[task]", "n = 3\n[task]"))
    res = runner.invoke(cli, ["train", str(bad), "-o", str(tmp_path / "o.h5")])
    assert res.exit_code == 2 and res.output.strip().splitlines()[-1].startswith("Error: readout.n: must be 2")
    bad.write_text(CONFIG.format(rule="eprop", feedback="symmetric") + 'engine = "gemm"\n')
    res = runner.invoke(cli, ["train", str(bad), "-o", str(tmp_path / "o.h5")])
    assert res.exit_code == 2 and "train.engine" in res.output and "window, trace" in res.output
    # resuming with a different config is refused
    out = tmp_path / "r.h5"
    assert runner.invoke(cli, ["train", str(cfg), "-o", str(out), "--iterations", "2"]).exit_code == 0
    other = write(tmp_path, "bptt")
    res = runner.invoke(cli, ["train", str(other), "--resume", str(out)])
    assert res.exit_code == 2 and "different config" in res.output


def test_gradcheck_table_and_hdf5(tmp_path):
    cfg = tmp_path / "g.toml"
    cfg.write_text(CONFIG.format(rule="eprop", feedback="symmetric"))
    out = tmp_path / "g.h5"
    res = CliRunner().invoke(cli, ["gradcheck", str(cfg), "--rules", "rtrl,eprop,deep-eprop",
                                   "--batch", "2", "-o", str(out)])
    assert res.exit_code == 0, res.output
    lines = [l for l in res.output.splitlines() if l.startswith("rtrl")]
    assert len(lines) == 3 and all(float(l.split()[3]) < 1e-10 for l in lines)   # RTRL == BPTT
    with h5py.File(out, "r") as f:
        rules = [r.decode() for r in f["gradcheck/rule"][()]]
        assert rules.count("eprop") == 3
    res = CliRunner().invoke(cli, ["gradcheck", str(cfg), "--rules", "rtrl", "--max-gib", "1e-9"])
    assert res.exit_code == 0 and "skipped" in res.output
    res = CliRunner().invoke(cli, ["gradcheck", str(cfg), "--rules", "eprop,rtlr"])
    assert res.exit_code == 2 and "--rules" in res.output


def test_train_log_columns_stay_aligned(tmp_path):
    from snnsim.io import H5Writer
    from snnsim.io.training import TrainLog
    with H5Writer(tmp_path / "log.h5", dt=1.0, seed=0, version="t", config_json={}) as w:
        log = TrainLog(w, flush_every=2)
        for it in range(1, 7):
            rec = {"iteration": it, "loss": float(it)}
            if it % 3 == 0:
                rec["val_loss"] = 0.5
            log.add(rec)
        log.flush()
    with h5py.File(tmp_path / "log.h5", "r") as f:
        assert f["training/iteration"][()].tolist() == [1, 2, 3, 4, 5, 6]
        np.testing.assert_array_equal(f["training/val_loss"][()],
                                      [np.nan, np.nan, 0.5, np.nan, np.nan, 0.5])


def test_bench_prints_table():
    res = CliRunner().invoke(cli, ["bench", "--steps", "20", "--batch", "2", "--sizes", "10"])
    assert res.exit_code == 0, res.output
    assert "| 2 x 10 |" in res.output and "warm-up" in res.output
    assert "eprop (trace engine) s" in res.output
    row = [l for l in res.output.splitlines() if l.startswith("| 2 x 10 |")][0]
    assert len(row.strip("|").split("|")) == 7
    res = CliRunner().invoke(cli, ["bench", "--sizes", "ten"])
    assert res.exit_code == 2 and "--sizes" in res.output
