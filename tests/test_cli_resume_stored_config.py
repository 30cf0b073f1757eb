"""``snnsim train --resume FILE`` with the config stored in FILE, and ``snnsim run TRAIN.h5``.

- --resume without a config continues bit-identically to an uninterrupted run;
- a config given too must define the same run: the first differing field is named (exit 2);
  only train.iterations / train.checkpoint_every may change; --rule/--seed may not;
- --iterations below the iterations done is a one-line error; equal to them: nothing to do,
  the file is left byte for byte as it was;
- ``snnsim run TRAIN.h5`` writes the same datasets as ``snnsim run CONFIG --weights TRAIN.h5``.
"""
import hashlib
import json

import h5py
import numpy as np

INPUT = {"input.type": "poisson", "input.rate": 30.0, "input.steps": 300, "input.batch": 2}


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def _same_datasets(a, b, skip=("training/wall",)):
    assert set(a) == set(b)
    for k in a:
        if not k.startswith(skip):
            assert np.array_equal(a[k], b[k], equal_nan=True), k


def test_resume_without_config_is_bit_identical_and_checks_iterations(tmp_path, config, invoke,
                                                                      read_h5):
    cfg = config("cli_train", {"train.checkpoint_every": 0})
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    assert invoke("train", cfg, "--out", full, "-q").exit_code == 0
    assert invoke("train", cfg, "--out", part, "--iterations", "2", "-q").exit_code == 0
    # the stored config says 2 iterations, all done: nothing to do, file untouched
    before = _md5(part)
    res = invoke("train", "--resume", part)
    assert res.exit_code == 0, res.output
    assert "nothing to do" in res.output and "nan" not in res.output
    assert _md5(part) == before
    res = invoke("train", "--resume", part, "--iterations", "1")
    assert res.exit_code == 2
    assert res.output.strip() == (f"Error: --iterations 1 is below the 2 iterations already "
                                  f"done in {part}; give --iterations N with N > 2 to train further")
    assert _md5(part) == before
    # continue to 4 without the config: identical to the run never interrupted
    res = invoke("train", "--resume", part, "--iterations", "4")
    assert res.exit_code == 0, res.output
    assert "4 iterations" in res.output
    _same_datasets(read_h5(full), read_h5(part))
    with h5py.File(part, "r") as f:
        assert json.loads(f.attrs["config"])["train"]["iterations"] == 4   # stored config updated
        assert f.attrs["status"] == "complete"
    # now the stored config says 4: nothing to do, never "final loss nan", never rewritten
    before = _md5(part)
    res = invoke("train", "--resume", part)
    assert res.exit_code == 0 and "all 4 iterations are done" in res.output
    assert _md5(part) == before
    # the original config says 4 iterations: fine too
    res = invoke("train", cfg, "--resume", part)
    assert res.exit_code == 0 and "nothing to do" in res.output
    assert _md5(part) == before


def test_resume_with_a_different_config_names_the_first_field(tmp_path, config, invoke):
    cfg = config("cli_train")
    out = tmp_path / "r.h5"
    assert invoke("train", cfg, "--out", out, "--iterations", "2", "-q").exit_code == 0
    before = _md5(out)
    other = config("cli_train", {"train.lr": 0.5, "readout.tau_out": 10.0}, filename="o.toml")
    res = invoke("train", other, "--resume", out)
    assert res.exit_code == 2
    assert res.output.strip() == (
        f"Error: --resume {out}: different config: readout.tau_out is 20.0 in the file but 10.0 "
        f"in {other} (only train.iterations and train.checkpoint_every may change on resume)")
    res = invoke("train", "--resume", out, "--rule", "bptt")
    assert res.exit_code == 2
    assert 'train.rule is "eprop" in the file but "bptt" on the command line' in res.output
    res = invoke("train", "--resume", out, "--seed", "7")
    assert res.exit_code == 2 and "network.seed is 1 in the file but 7" in res.output
    assert _md5(out) == before
    # what may change on resume: iterations and checkpoint_every
    more = config("cli_train", {"train.iterations": 3, "train.checkpoint_every": 1},
                  filename="m.toml")
    res = invoke("train", more, "--resume", out)
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as f:
        assert f["training/iteration"][-1] == 3
        assert json.loads(f.attrs["config"])["train"]["checkpoint_every"] == 1
    res = invoke("train", "--out", tmp_path / "n.h5")
    assert res.exit_code == 2 and "a new run needs CONFIG.toml" in res.output


def test_run_training_file_equals_run_config_with_weights(tmp_path, config, invoke, read_h5):
    cfg = config("cli_train", INPUT)
    train = tmp_path / "t.h5"
    assert invoke("train", cfg, "--out", train, "-q").exit_code == 0
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    res = invoke("run", train, "--out", a, "--record-input")
    assert res.exit_code == 0, res.output
    assert invoke("run", cfg, "--weights", train, "--out", b, "--record-input", "-q").exit_code == 0
    da, db = read_h5(a), read_h5(b)
    _same_datasets(da, db, skip=())
    assert len(da["spikes/hidden/timestamps"]) > 0
    with h5py.File(train, "r") as f:
        for name in f["weights"]:   # the trained weights, not the config's initial ones
            assert np.array_equal(da[f"weights/{name}"], f["weights"][name][()]), name
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert fa.attrs["config"] == fb.attrs["config"]
        assert fa.attrs["weights_from"] == str(train)
    # overrides apply to the stored config; the training file is never the output
    res = invoke("run", train, "--out", tmp_path / "s.h5", "--steps", "100", "-q")
    assert res.exit_code == 0 and read_h5(tmp_path / "s.h5")["report/readout/y"].shape[0] == 100
    res = invoke("run", train, "--out", train, "--overwrite")
    assert res.exit_code == 2 and "would overwrite" in res.output
    # a training file without [input] cannot be simulated on its own: one line, what to do
    plain = config("cli_train", filename="plain.toml")
    t2 = tmp_path / "t2.h5"
    assert invoke("train", plain, "--out", t2, "--iterations", "1", "-q").exit_code == 0
    res = invoke("run", t2, "--out", tmp_path / "c.h5")
    assert res.exit_code == 2
    assert res.output.strip() == (f"Error: input: {t2} stores no [input] section to simulate; "
                                  f"give a config with one: snnsim run CONFIG.toml --weights {t2}")
    assert not (tmp_path / "c.h5").exists()
