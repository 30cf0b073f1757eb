"""snnsim train / gradcheck through click's CliRunner: outputs, resume bit-identity, errors."""
import h5py
import numpy as np
import pytest

from snnsim.config import build_network, load_config


def write(config, rule="eprop", feedback="symmetric"):
    """tests/configs/cli_train.toml with this rule and feedback, as ``<rule>.toml``."""
    return config("cli_train", {"train.rule": rule, "train.feedback": feedback},
                  filename=f"{rule}.toml")


@pytest.mark.parametrize("rule,feedback", [("eprop", "adaptive"), ("bptt", "symmetric"),
                                           ("deep-eprop-onehop", "random")])
def test_train_writes_log_checkpoint_and_resumes_bit_identically(tmp_path, rule, feedback, config,
                                                                 invoke, read_h5):
    cfg = write(config, rule, feedback)
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    res = invoke("train", cfg, "--out", full)
    assert res.exit_code == 0, res.output
    assert "4 iterations" in res.output and "test accuracy" in res.output
    a = read_h5(full)
    assert a["training/iteration"].tolist() == [1, 2, 3, 4]
    assert np.all(np.isfinite(a["training/loss"]))
    assert np.isfinite(a["training/val_loss"][1])
    assert "checkpoint/weights/hidden.w_in" in a and "spikes/hidden/timestamps" in a
    # interrupted after 2 iterations, then resumed to 4: identical to the uninterrupted run
    assert invoke("train", cfg, "--out", part, "--iterations", "2").exit_code == 0
    res = invoke("train", cfg, "--resume", part, "--iterations", "4")
    assert res.exit_code == 0, res.output
    b = read_h5(part)
    assert set(a) == set(b)
    for k in a:
        if not k.startswith("training/wall"):
            assert np.array_equal(a[k], b[k], equal_nan=True), k


def test_weights_change_and_same_seed_is_bit_identical(tmp_path, config, invoke, read_h5):
    cfg = write(config)
    for name in ("x.h5", "y.h5"):
        assert invoke("train", cfg, "-o", tmp_path / name, "-q").exit_code == 0
    a, b = read_h5(tmp_path / "x.h5"), read_h5(tmp_path / "y.h5")
    initial = build_network(load_config(cfg)).weights()
    for name, w0 in initial.items():
        assert not np.array_equal(a[f"weights/{name}"], w0), f"{name} did not learn"
    for k in a:
        if not k.startswith("training/wall"):
            assert np.array_equal(a[k], b[k], equal_nan=True), k


def test_train_errors(tmp_path, config, invoke):
    cfg = write(config)
    res = invoke("train", cfg)
    assert res.exit_code == 2 and "exactly one of --out" in res.output
    res = invoke("train", cfg, "-o", tmp_path / "o.h5", "--rule", "eprpo")
    assert res.exit_code == 2 and "train.rule" in res.output and "did you mean 'eprop'" in res.output
    assert not (tmp_path / "o.h5").exists()
    bad = config("cli_train", {"readout.n": 3}, filename="bad.toml")
    res = invoke("train", bad, "-o", tmp_path / "o.h5")
    assert res.exit_code == 2 and res.output.strip().splitlines()[-1].startswith("Error: readout.n: must be 2")
    config("cli_train", {"train.engine": "gemm"}, filename="bad.toml")
    res = invoke("train", bad, "-o", tmp_path / "o.h5")
    assert res.exit_code == 2 and "train.engine" in res.output and "window, trace" in res.output
    # resuming with a different config is refused
    out = tmp_path / "r.h5"
    assert invoke("train", cfg, "-o", out, "--iterations", "2").exit_code == 0
    other = write(config, "bptt")
    res = invoke("train", other, "--resume", out)
    assert res.exit_code == 2 and "different config" in res.output


@pytest.mark.slow
def test_gradcheck_table_and_hdf5(tmp_path, config, invoke):
    cfg = config("cli_train", filename="g.toml")
    out = tmp_path / "g.h5"
    res = invoke("gradcheck", cfg, "--rules", "rtrl,eprop,deep-eprop",
                                   "--batch", "2", "-o", out)
    assert res.exit_code == 0, res.output
    lines = [l for l in res.output.splitlines() if l.startswith("rtrl")]
    assert len(lines) == 3 and all(float(l.split()[3]) < 1e-10 for l in lines)   # RTRL == BPTT
    with h5py.File(out, "r") as f:
        rules = [r.decode() for r in f["gradcheck/rule"][()]]
        assert rules.count("eprop") == 3
    res = invoke("gradcheck", cfg, "--rules", "rtrl", "--max-gib", "1e-9")
    assert res.exit_code == 0 and "skipped" in res.output
    res = invoke("gradcheck", cfg, "--rules", "eprop,rtlr")
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


@pytest.mark.slow   # bench runs kernels.warmup(): a minute of numba compiling in a fresh checkout
def test_bench_prints_table(invoke):
    res = invoke("bench", "--steps", "20", "--batch", "2", "--sizes", "10")
    assert res.exit_code == 0, res.output
    assert "| 2 x 10 |" in res.output and "warm-up" in res.output
    assert "eprop (trace engine) s" in res.output
    row = [l for l in res.output.splitlines() if l.startswith("| 2 x 10 |")][0]
    assert len(row.strip("|").split("|")) == 7
    res = invoke("bench", "--sizes", "ten")
    assert res.exit_code == 2 and "--sizes" in res.output
