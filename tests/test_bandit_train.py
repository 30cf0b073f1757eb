"""The bundled bandit learnt from rewards by eprop-reward through ``snnsim train`` (well above
chance, seeded, resumable), the [train]/[task] errors, and fixed random feedback."""
import numpy as np
import pytest

from snnsim import ConfigError
from snnsim.config import build_network, load_config
from snnsim.config_train import make_trainer
from snnsim.tasks import make_task


@pytest.mark.slow
def test_train_cli_learns_bandit_well_above_chance(tmp_path, config, invoke, read_h5):
    cfg = config("bandit_train")
    net = build_network(load_config(cfg))
    before = make_trainer(load_config(cfg), net).test(128)
    out = tmp_path / "b.h5"
    res = invoke("train", cfg, "--out", out)
    assert res.exit_code == 0, res.output
    h = read_h5(out)
    acc, loss = h["training/val_accuracy"], h["training/val_loss"]
    assert before["accuracy"] < 0.65 and before["loss"] > -3.3          # chance: 0.5, -2.5
    assert acc[np.isfinite(acc)][-1] > 0.9 and loss[np.isfinite(loss)][-1] < -4.5, res.output
    assert "test accuracy" in res.output
    # same seed, same everything
    res = invoke("train", cfg, "--out", tmp_path / "c.h5")
    h2 = read_h5(tmp_path / "c.h5")
    for k in h:
        if not k.startswith("training/wall") and "time" not in k:
            assert np.array_equal(h[k], h2[k], equal_nan=True), k


@pytest.mark.parametrize("feedback", ["symmetric", "random"])
def test_trainer_bit_identical_and_random_feedback_fixed(feedback, write_config, tmp_path):
    def run(iters):
        cfg = load_config(write_config("bandit_train", tmp_path,
                                       {"train.feedback": feedback, "train.c_v": 0.3}))
        net = build_network(cfg)
        tr = make_trainer(cfg, net)
        fb = None if tr.fixed_feedback is None else tr.fixed_feedback.copy()
        recs = [tr.step() for _ in range(iters)]
        return net.weights(), recs, fb, tr
    (a, ra, fa, tr), (b, rb, fb, _) = run(3), run(3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in ra] == [r["loss"] for r in rb]
    assert all(-5 <= r["loss"] <= 0 and 0 <= r["accuracy"] <= 1 for r in ra)
    if feedback == "random":
        assert np.array_equal(fa, fb) and np.array_equal(tr.fixed_feedback, fa)
    else:
        assert fa is None


@pytest.mark.slow
def test_supervised_rules_follow_the_expected_reward(write_config, tmp_path):
    """bptt with loss 'reward' sees the whole table (an exact-gradient baseline, not RL)."""
    cfg = load_config(write_config("bandit_train", tmp_path, {"train.rule": "bptt"}))
    net = build_network(cfg)
    tr = make_trainer(cfg, net)
    d = make_task("bandit", np.random.default_rng(9), batch=64)
    before = tr.evaluate(d)
    tr.train(15)
    after = tr.evaluate(d)
    assert after["loss"] < before["loss"] - 0.5 and after["accuracy"] > before["accuracy"]


def test_config_errors_name_the_field(write_config, tmp_path):
    def load(over):
        return load_config(write_config("bandit_train", tmp_path, over))
    with pytest.raises(ConfigError, match="train.gamma.*in \\[0, 1\\]"):
        load({"train.gamma": 1.5})
    with pytest.raises(ConfigError, match="train.c_v"):
        load({"train.c_v": -1.0})
    with pytest.raises(ConfigError, match="train.gamma.*eprop-reward"):
        load({"train.gamma": 0.5, "train.rule": "eprop"})
    with pytest.raises(ConfigError, match="readout.n"):
        load({"readout.n": 2})
    with pytest.raises(ConfigError, match="n_arms"):
        load({"task.n_arms": 1})
    with pytest.raises(ConfigError, match="p_reward"):
        make_task("bandit", np.random.default_rng(0), p_reward=1.5)


def test_bandit_task_table():
    d = make_task("bandit", np.random.default_rng(0), batch=50, n_arms=3, p_reward=1.0)
    cue = d.meta["cue"]
    t_go = d.meta["t_go"]
    assert d.loss == "reward" and d.targets.shape == (50, 35, 4) and d.inputs.shape[2] == 25
    assert np.all(d.mask[:, :t_go] == 0) and np.all(d.mask[:, t_go:] == 1)
    assert np.all(d.targets[np.arange(50), t_go:, cue] == 1) and d.targets.sum() == 50 * 5
    on = d.inputs[:, :20, :15].reshape(50, 20, 3, 5).sum(axis=(1, 3))
    assert np.all(on.argmax(axis=1) == cue)


def test_gradcheck_prints_mean_update_fidelity(config, invoke):
    res = invoke("gradcheck", config("bandit_train"), "--rules", "eprop,eprop-reward",
                 "--episodes", "20", "--batch", "2")
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("eprop-reward")]
    assert len(lines) == 6 and all("mean of 20 episodes, noise" in ln for ln in lines)
    assert sum(ln.startswith("eprop-reward/critic") for ln in lines) == 3
    res = invoke("gradcheck", config("cli_train"), "--rules", "eprop-reward", "--batch", "1")
    assert res.exit_code == 0 and "skipped: rule: rule 'eprop-reward' needs a task with loss " \
                                  "'reward'" in res.output, res.output


def test_fidelity_function_takes_eprop_reward():
    from snnsim import fidelity
    cfg_net = build_network(load_config(
        __import__("pathlib").Path(__file__).parent / "configs" / "bandit_train.toml",
        overrides={"network.dtype": "float64"}))
    d = make_task("bandit", np.random.default_rng(0), batch=2)
    rows = fidelity(cfg_net, d.inputs, d.targets, ["eprop", "eprop-reward"], loss="reward",
                    mask=d.mask, rng=np.random.default_rng(1), episodes=10)
    rules = [r["rule"] for r in rows]
    assert rules.count("eprop") == 3 and rules.count("eprop-reward") == 3
    assert rules.count("eprop-reward/critic") == 3
    assert all(-1 - 1e-12 <= r["cosine"] <= 1 + 1e-12 and r["norm"] > 0 for r in rows)


def test_resume_bit_identical_with_random_feedback(tmp_path, config, invoke, read_h5):
    cfg = config("bandit_train", {"train.feedback": "random", "train.iterations": 4,
                                  "train.checkpoint_every": 2, "train.val_every": 2})
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    assert invoke("train", cfg, "--out", full).exit_code == 0
    assert invoke("train", cfg, "--out", part, "--iterations", "2").exit_code == 0
    res = invoke("train", cfg, "--resume", part, "--iterations", "4")
    assert res.exit_code == 0, res.output
    a, b = read_h5(full), read_h5(part)
    assert set(a) == set(b)
    for k in a:
        if not k.startswith("training/wall"):
            assert np.array_equal(a[k], b[k], equal_nan=True), k


class FakeComm:
    """Two ranks in one process, for the per-rank action streams (no reduction)."""

    def __init__(self, rank):
        self.rank, self.size, self.global_batch = rank, 2, 32

    def shard(self, B):
        return slice(self.rank * B // 2, (self.rank + 1) * B // 2)

    def allreduce_sum(self, a):
        return a


def test_ranks_draw_their_own_actions(write_config, tmp_path, monkeypatch):
    """With several ranks the actions of different shards come from different streams (the
    shared stream advances identically on every rank, so resuming stays bit-identical)."""
    import snnsim.learning.eprop_reward as ER
    seen = []
    orig = ER._sample
    monkeypatch.setattr(ER, "_sample", lambda pi, m, reward, rng: seen.append(
        rng.bit_generator.state["state"]["state"]) or orig(pi, m, reward, rng))
    cfg = load_config(write_config("bandit_train", tmp_path))
    states = []
    for rank in (0, 1):
        tr = make_trainer(cfg, build_network(cfg), comm=FakeComm(rank))
        tr.step()
        states.append(tr.rngs["feedback"].bit_generator.state)
    assert seen[0] != seen[1] and states[0] == states[1]
