"""Store-recall working memory: compare e-prop and BPTT on the same network and data."""
import numpy as np

from snnsim.config import build_network, load_config
from snnsim.config_train import make_trainer

for rule in ("eprop", "bptt"):
    cfg = load_config("examples/store_recall.toml",
                      overrides={"train.rule": rule, "train.iterations": 40})
    trainer = make_trainer(cfg, build_network(cfg))
    trainer.train(40)
    test = trainer.evaluate(trainer.test_task(np.random.default_rng(7)))
    print(f"{rule:6s} test accuracy {test['accuracy']:.3f}")
