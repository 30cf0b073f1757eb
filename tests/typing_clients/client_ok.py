"""A typed user script of the public API: mypy must accept it (tests/test_api_type_hints.py)."""
import numpy as np

import snnsim


def session(path: str) -> float:
    rng = np.random.default_rng(0)
    net: snnsim.Network = snnsim.Network(
        10, snnsim.Layer([snnsim.LIF(5), snnsim.ALIF(5, beta=0.5)], name="h"), snnsim.Readout(2),
        rng=rng)
    x = (rng.random((2, 50, 10)) < 0.1).astype(float)
    summary: dict = net.simulate(x, out=path, record={"variables": ["v"]})
    y: np.ndarray = net.predict(x, block=16)
    weights: dict[str, np.ndarray] = net.weights()
    net.set_weights(weights)
    data = snnsim.TaskData(x, np.zeros((2, 50, 2)), np.ones(50), "mse")
    opt: snnsim.SGD = snnsim.make_optimizer("adam", lr=1e-3)
    trainer = snnsim.Trainer(net, lambda r, batch=None: data, rule="eprop", optimizer=opt)
    rec: dict = trainer.train(2).step()
    grads: dict[str, np.ndarray] = snnsim.gradients(net, x, data.targets, "bptt")
    rows: list[dict] = snnsim.fidelity(net, x, data.targets, ["eprop"])
    loaded, cfg = snnsim.load(path)
    text: str = cfg.to_json()
    source = snnsim.PoissonInput(20.0, n_in=10)
    n: int = net.n_pre(0) + data.n_in + len(rows) + len(text) + len(grads) + len(summary)
    return float(rec["loss"]) + float(y.sum()) + n + loaded.n_in + (source.n_in or 0)
