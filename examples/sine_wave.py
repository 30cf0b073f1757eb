"""Pattern generation with e-prop from Python (the same run as examples/sine_wave.toml)."""
import numpy as np

import snnsim
from snnsim.optim import make_optimizer
from snnsim.tasks import make_task
from snnsim.trainer import Trainer

rng = np.random.default_rng(1)
layer = snnsim.Layer([snnsim.LIF(100, tau_m=30.0, v_th=0.03, regular_spike_arrival=False)])
net = snnsim.Network(100, [layer], snnsim.Readout(1, tau_out=30.0), rng=rng)
task = make_task("sine_wave", rng, steps=1000)            # one frozen input pattern and target
trainer = Trainer(net, lambda r: task, rule="eprop", optimizer=make_optimizer("adam", lr=0.003))
start = 0.5 * float(np.sum(task.targets ** 2))
for it in range(200):
    rec = trainer.step()
    if it % 40 == 0 or it == 199:
        print(f"iteration {rec['iteration']:4d}  normalised MSE {rec['loss'] / start:.4f}")
