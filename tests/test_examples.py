"""Every example config validates and trains/simulates for one short iteration."""
from pathlib import Path

import numpy as np
import pytest

from snnsim.config import build, build_network, load_config
from snnsim.config_train import make_trainer

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_config_runs(path):
    cfg = load_config(path)
    if "train" in cfg.data:
        small = {"train.iterations": 1, "train.batch": 2, "train.val_batch": 2,
                 "train.test_batch": 2 if cfg["train"]["test_batch"] else 0}
        cfg = load_config(path, overrides=small)
        trainer = make_trainer(cfg, build_network(cfg))
        trainer.train(1)
        assert trainer.iteration == 1
        assert all(np.all(np.isfinite(w)) for w in trainer.net.weights().values())
    elif "input" in cfg.data:
        built = build(load_config(path, overrides={"input.steps": 20}))
        summary = built.network.simulate(built.source, steps=20, batch=built.batch, rng=built.rng)
        assert summary["steps"] == 20
    else:   # gradcheck configs: [task] without [train]
        assert "task" in cfg.data and build_network(cfg).n_in == cfg["network"]["n_in"]
