"""Wrong calls of the public API: mypy must report each (tests/test_api_type_hints.py)."""
import numpy as np

import snnsim

net = snnsim.Network(10, snnsim.Layer([snnsim.LIF(5)]), snnsim.Readout(2))
x = np.zeros((1, 5, 10))
net.predict(x, block="16")                                  # E: block is an int
n: str = net.n_pre(0)                                       # E: n_pre returns int
snnsim.make_task(3, np.random.default_rng(0))               # E: name is a str
snnsim.Trainer(net, lambda r: None, options=5)              # E: options is TrainOptions
w: list = net.weights()                                     # E: weights is a dict
