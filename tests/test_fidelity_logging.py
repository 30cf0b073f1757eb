"""``fidelity_every``: the Trainer logs per-weight cosine / relative error against BPTT every
k iterations, without changing the training itself."""
import numpy as np
import pytest

from snnsim.learning import gradients
from snnsim.learning.fidelity import compare
from snnsim.optim import make_optimizer
from snnsim.tasks import TaskData
from snnsim.trainer import Trainer
from nets import make_data, make_net


def _run(rule, fidelity_every, **kw):
    net = make_net(21, layers=2, kinds=("mix", "lif"))
    x, tg = make_data(21, T=15)
    task = lambda rng: TaskData(inputs=x, targets=tg, mask=np.ones(x.shape[:2]), loss="mse")
    tr = Trainer(net, task, optimizer=make_optimizer("adam", lr=1e-2), rule=rule,
                 fidelity_every=fidelity_every, seed=3, **kw)
    recs = [tr.step() for _ in range(4)]
    return net, recs, (x, tg)


@pytest.mark.parametrize("rule,kw", [("eprop", {"feedback": "random"}), ("deep-eprop", {}),
                                     ("eprop", {"update_every": 5})])
def test_fidelity_logged_every_k_and_training_unchanged(rule, kw):
    net_a, recs, (x, tg) = _run(rule, 2, **kw)
    net_b, plain, _ = _run(rule, 0, **kw)
    for name, w in net_a.weights().items():
        np.testing.assert_array_equal(w, net_b.weights()[name])
    assert [("fidelity_cos.layer0.w_in" in r) for r in recs] == [False, True, False, True]
    assert not any(k.startswith("fidelity") for r in plain for k in r)
    for r in recs[1::2]:
        assert -1 <= r["fidelity_cos.layer1.w_in"] <= 1 and r["fidelity_rel.layer1.w_in"] >= 0


def test_fidelity_values_are_the_rules():
    net, recs, (x, tg) = _run("deep-eprop", 1)
    # iteration 1's record: the weights at the start (re-create them)
    net0 = make_net(21, layers=2, kinds=("mix", "lif"))
    ref = gradients(net0, x, tg, "bptt")
    g = gradients(net0, x, tg, "deep-eprop")
    for name in ref:
        cos, rel = compare(g[name], ref[name])
        assert recs[0][f"fidelity_cos.{name}"] == pytest.approx(cos, rel=1e-12)
        assert recs[0][f"fidelity_rel.{name}"] == pytest.approx(rel, rel=1e-9)


def test_cli_train_writes_fidelity_columns(tmp_path):
    import h5py
    from click.testing import CliRunner
    from snnsim.cli.main import cli
    cfg = tmp_path / "c.toml"
    cfg.write_text('[network]\nn_in = 3\n[[layer]]\n[[layer.population]]\ntype = "lif"\nn = 6\n'
                   'v_th = 0.3\n[[layer]]\n[[layer.population]]\ntype = "lif"\nn = 4\nv_th = 0.3\n'
                   '[readout]\nn = 1\n[task]\nname = "sine_wave"\nn_in = 3\nsteps = 30\n'
                   '[train]\nrule = "deep-eprop-onehop"\niterations = 4\nbatch = 2\n'
                   'fidelity_every = 2\nreset = "local"\n')
    out = tmp_path / "t.h5"
    res = CliRunner().invoke(cli, ["train", str(cfg), "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as f:
        cos = f["training"]["fidelity_cos.layer0.w_in"][()]
        rel = f["training"]["fidelity_rel.layer1.w_rec"][()]
    assert np.isnan(cos[[0, 2]]).all() and np.isfinite(cos[[1, 3]]).all()
    assert np.isfinite(rel[[1, 3]]).all() and (rel[[1, 3]] >= 0).all()
