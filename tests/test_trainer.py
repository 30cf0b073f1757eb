"""Trainer: online updates inside a sequence (update_every) and early stopping."""
import numpy as np

import snnsim
from snnsim.optim import make_optimizer
from snnsim.tasks import make_task
from snnsim.trainer import Trainer


def _net():
    layer = snnsim.Layer([snnsim.LIF(12, v_th=0.5), snnsim.ALIF(8, v_th=0.5, beta=0.1, tau_a=100.0)],
                         w_in_scale=2.0)
    return snnsim.Network(40, [layer], snnsim.Readout(2), rng=np.random.default_rng(0), dtype="float64")


def _task(rng):
    return make_task("evidence_accumulation", rng, batch=4, n_cues=3, delay_ms=100.0)


def test_online_updates_every_k_steps():
    T = _task(np.random.default_rng(0)).steps            # 3 * 150 + 100 + 150 = 700
    whole = Trainer(_net(), _task, rule="eprop", optimizer=make_optimizer("sgd", lr=0.01),
                    update_every=T, seed=1)
    deferred = Trainer(_net(), _task, rule="eprop", optimizer=make_optimizer("sgd", lr=0.01), seed=1)
    whole.train(2)
    deferred.train(2)
    for name, w in deferred.net.weights().items():      # one update per sequence == deferred
        np.testing.assert_allclose(whole.net.weights()[name], w, rtol=1e-12, atol=1e-14)
    online = Trainer(_net(), _task, rule="eprop", optimizer=make_optimizer("sgd", lr=0.01),
                     update_every=T // 4 + 1, seed=1)
    online.train(2)
    assert online.optimizer.t == 8                      # 4 updates per sequence, 2 sequences
    assert not np.array_equal(online.net.w_in[0], deferred.net.w_in[0])


def test_early_stopping_on_validation_loss():
    tr = Trainer(_net(), _task, rule="eprop", optimizer=make_optimizer("sgd", lr=0.01), seed=1,
                 val_every=2, patience=2, val_task=_task)
    losses = iter([5.0, 4.0, 4.5, 4.2, 1.0])             # improves, then 2 evaluations without
    tr.evaluate = lambda data: {"loss": next(losses)}
    tr.train(50)
    assert tr.stopped and tr.iteration == 8 and tr.best_val == 4.0
