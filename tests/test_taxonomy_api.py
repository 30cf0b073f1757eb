"""The taxonomy rules through every entry point: gradients, [train] rule, Trainer, gradcheck."""
import os

import numpy as np
import pytest
from click.testing import CliRunner

from snnsim import ConfigError
from snnsim.cli.main import cli
from snnsim.config import build_network, load_config
from snnsim.config_train import make_trainer
from snnsim.learning import gradients
from nets import make_data, make_net

EX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
RULES = ["tbptt-k5", "snap-n1", "snap-n2", "uoro", "kf-rtrl", "rflo", "ostl"]


@pytest.mark.parametrize("rule", RULES)
def test_gradients_shapes_and_float32(rule):
    net = make_net(0, layers=1)
    x, tg = make_data(0, T=12)
    g = gradients(net, x, tg, rule=rule, rng=np.random.default_rng(0))
    assert set(g) == set(net.weight_names())
    for k, w in net.weights().items():
        assert g[k].shape == w.shape and g[k].dtype == w.dtype and np.isfinite(g[k]).all()


@pytest.mark.parametrize("rule", ["uoro", "ostl", "snap-n1"])
def test_train_section_and_trainer_repeat_bit_identical(rule):
    def run():
        cfg = load_config(os.path.join(EX, "sine_wave.toml"),
                          overrides={"train.rule": rule, "train.iterations": 2, "task.steps": 60})
        net = build_network(cfg)
        make_trainer(cfg, net).train(2)
        return net.weights()
    a, b = run(), run()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_train_section_rejects_bad_rule():
    with pytest.raises(ConfigError, match="rule"):
        load_config(os.path.join(EX, "sine_wave.toml"), overrides={"train.rule": "snap-n0"})


def test_gradcheck_cli_runs_taxonomy_rules():
    res = CliRunner().invoke(cli, ["gradcheck", os.path.join(EX, "gradcheck_3layer.toml"),
                                   "--rules", "tbptt-k4,ostl,uoro,rflo", "--batch", "1"])
    assert res.exit_code == 0, res.output
    assert "ostl" in res.output and "uoro" in res.output
    assert "skipped: rule: rule 'rflo' needs a network with one layer" in res.output
