"""Evidence accumulation with e-prop, written out in Python (see evidence_accumulation.toml)."""
import numpy as np

from snnsim.config import build_network, load_config
from snnsim.config_train import make_trainer

cfg = load_config("examples/evidence_accumulation.toml", overrides={"train.iterations": 60})
net = build_network(cfg)
trainer = make_trainer(cfg, net)
trainer.train(cfg["train"]["iterations"],
              log=lambda r: print(f"{r['iteration']:4d} loss {r['loss']:8.3f} acc {r['accuracy']:.3f}"))
test = trainer.evaluate(trainer.test_task(np.random.default_rng(99)))
print(f"test accuracy {test['accuracy']:.3f}")
