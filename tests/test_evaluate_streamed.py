"""Evaluation is streamed (chunks of trials, time blocks) and equals the whole-batch result."""
import numpy as np
import pytest

import snnsim
from snnsim.learning.loss import loss_and_error, window_mask
from snnsim.tasks import accuracy, make_task
from snnsim.trainer import EVAL_TRIALS, Trainer


def _net():
    return snnsim.Network(40, [snnsim.Layer([snnsim.LIF(12, v_th=0.6), snnsim.ALIF(8, v_th=0.6)])],
                          snnsim.Readout(2), dtype="float64", rng=3)


@pytest.mark.parametrize("batch", [1, EVAL_TRIALS + 5])
def test_evaluate_equals_whole_batch_forward(batch):
    net = _net()
    data = make_task("evidence_accumulation", np.random.default_rng(1), batch=batch, n_cues=3,
                     cue_ms=20.0, gap_ms=10.0, delay_ms=300.0, recall_ms=50.0)
    _, y = net.forward(data.inputs)                  # the unstreamed reference
    np.testing.assert_array_equal(net.predict(data.inputs, block=37), y)
    ref_loss, _ = loss_and_error(y, data.targets, data.mask, data.loss)
    ref_acc = accuracy(y, data.labels, window_mask(data.mask, *y.shape[:2]))
    got = Trainer(net, lambda rng: data, rule="bptt").evaluate(data)
    assert got["loss"] == pytest.approx(ref_loss, rel=1e-12)
    assert got["accuracy"] == pytest.approx(ref_acc, abs=1e-12)


def test_test_set_is_drawn_in_chunks():
    net = _net()
    sizes = []

    def test_task(rng, batch):
        sizes.append(batch)
        return make_task("evidence_accumulation", rng, batch=batch, n_cues=3, cue_ms=20.0,
                         gap_ms=10.0, delay_ms=100.0, recall_ms=50.0)
    tr = Trainer(net, lambda rng: None, rule="bptt", test_task=test_task)
    out = tr.test(70, chunk=32)
    assert sizes == [32, 32, 6]
    assert set(out) == {"loss", "accuracy"} and 0.0 <= out["accuracy"] <= 1.0
