"""One validation of loss names (TaskData, loss_and_error, every rule, the Trainer) and one-line
ConfigErrors for PoissonInput(rate="x"), fidelity(rules=5) and an .npz archive named .npy.

The loss value of "mse" is checked against an independent numpy expression of the formula, so
a silent fallback to cross-entropy cannot pass.
"""
import numpy as np
import pytest

import snnsim
from snnsim.learning.loss import LOSSES, loss_and_error
from snnsim.learning.rules import FIXED, TAXONOMY, run_rule

RULES = [r for r in FIXED + TAXONOMY if r != "eprop-reward"] + ["bptt-m1", "eprop-m1",
                                                                "tbptt-k5", "snap-n1"]
ALLOWED = "choose one of mse, ce, reward (did you mean 'mse'?)"


def _net(seed=0, n_in=5):
    rng = np.random.default_rng(seed)
    return snnsim.Network(n_in, snnsim.Layer([snnsim.LIF(6, v_th=0.3)], name="h", w_in_scale=3.0),
                          snnsim.Readout(2), rng=rng)


def _data(seed=1, B=2, T=20, n_in=5):
    rng = np.random.default_rng(seed)
    x = (rng.random((B, T, n_in)) < 0.3).astype(float)
    return x, rng.normal(size=(B, T, 2))


def test_loss_names_are_exact_everywhere():
    assert LOSSES == ("mse", "ce", "reward")
    x, y = _data()
    with pytest.raises(snnsim.ConfigError) as e:
        snnsim.TaskData(x, y, np.ones(20), "MSE")
    assert str(e.value) == f"loss: 'MSE' is not allowed; {ALLOWED}"
    with pytest.raises(snnsim.ConfigError) as e:
        loss_and_error(y, y, None, "MSE")
    assert str(e.value) == f"loss: 'MSE' is not allowed; {ALLOWED}"
    for rule in RULES:
        with pytest.raises(snnsim.ConfigError) as e:
            run_rule(_net(), x, y, rule, loss="MSE", rng=np.random.default_rng(0))
        assert str(e.value) == f"loss: 'MSE' is not allowed; {ALLOWED}", rule
        with pytest.raises(snnsim.ConfigError, match="^loss: 'cross_entropy' is not allowed"):
            run_rule(_net(), x, y, rule, loss="cross_entropy", rng=np.random.default_rng(0))


@pytest.mark.parametrize("rule", ["eprop", "bptt", "ostl"])
def test_trainer_refuses_a_loss_name_changed_after_validation(rule):
    x, y = _data()
    data = snnsim.TaskData(x, y, np.ones(20), "mse")
    tr = snnsim.Trainer(_net(), lambda rng, batch=None: data, rule=rule)
    rec = tr.step()
    # the mse value, from the formula: 1/B sum_b sum_t sum_k 0.5 (y - y*)^2
    y_net = _net().forward(x)[1].astype(np.float64)
    assert rec["loss"] == pytest.approx(0.5 * np.sum((y_net - y) ** 2) / 2, rel=1e-5)
    data.loss = "MSE"   # a dataclass field can be changed after validation: still refused
    with pytest.raises(snnsim.ConfigError, match="^loss: 'MSE' is not allowed"):
        snnsim.Trainer(_net(), lambda rng, batch=None: data, rule=rule).step()


def test_poisson_rate_is_validated_and_named():
    for bad, field in (("x", "rate"), ([1.0, "x"], "rate[1]"), (-1.0, "rate"),
                       (float("nan"), "rate")):
        with pytest.raises(snnsim.ConfigError) as e:
            snnsim.PoissonInput(rate=bad)
        assert str(e.value).startswith(f"{field}: ") and "\n" not in str(e.value)
    with pytest.raises(snnsim.ConfigError, match="^rate: must be a scalar or a list of 3"):
        snnsim.PoissonInput(rate=[1.0, 2.0], n_in=3)
    assert snnsim.PoissonInput(rate=[1.0, 2.0, 0.0]).n_in == 3
    # a scalar rate without n_in takes the network's n_in: same spikes as with n_in given
    net = _net(n_in=5)
    runs = [net.simulate(src, steps=200, batch=2, rng=np.random.default_rng(3))["spikes"]
            for src in (snnsim.PoissonInput(200.0), snnsim.PoissonInput(200.0, 5))]
    assert runs[0] == runs[1] and sum(runs[0]) > 0


def test_fidelity_rules_must_be_rule_names():
    x, y = _data()
    with pytest.raises(snnsim.ConfigError) as e:
        snnsim.fidelity(_net(), x, y, rules=5)
    assert str(e.value) == ("rules: must be a rule name or a non-empty list of rule names, "
                            "got int 5")
    with pytest.raises(snnsim.ConfigError, match="^rules: "):
        snnsim.fidelity(_net(), x, y, rules=[])
    one = snnsim.fidelity(_net(), x, y, rules="bptt-m0")
    assert [r["rule"] for r in one] == ["bptt-m0"] * 3


def test_npz_named_npy_is_one_line_naming_the_field(tmp_path, invoke):
    with open(tmp_path / "x.npy", "wb") as f:   # np.savez writes to an open file as it is
        np.savez(f, a=np.zeros((1, 10, 40)))
    (tmp_path / "c.toml").write_text('[network]\nn_in = 40\n[[layer]]\nname = "h"\n'
                                     '  [[layer.population]]\n  type = "lif"\n  n = 4\n'
                                     '[input]\ntype = "spikes"\npath = "x.npy"\n')
    res = invoke("run", tmp_path / "c.toml", "-o", tmp_path / "r.h5")
    assert res.exit_code == 2
    assert res.output.strip() == (f"Error: input.path: {tmp_path / 'x.npy'} is an .npz archive, "
                                  "not a .npy array (write one array with numpy.save)")
    assert not (tmp_path / "r.h5").exists()
