"""Sequential digits with a 2-layer network: gradient fidelity, then a short training run."""
import numpy as np

from snnsim.config import build_network, load_config
from snnsim.config_train import make_trainer, task_factory
from snnsim.learning import fidelity, format_table

cfg = load_config("examples/digits_deep.toml", overrides={"network.dtype": "float64",
                                                          "train.iterations": 30})
net = build_network(cfg)
data = task_factory(cfg, net.dt)(np.random.default_rng(0))
print(format_table(fidelity(net, data.inputs[:4], data.targets[:4],
                            ["eprop", "deep-eprop-onehop"], loss="ce", mask=data.mask[:4])))
trainer = make_trainer(cfg, net)
trainer.train(30, log=lambda r: print(f"{r['iteration']:3d} loss {r['loss']:.3f}"))
