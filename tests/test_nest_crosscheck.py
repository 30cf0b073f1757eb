"""snnsim's online e-prop training against NEST 3.10's ``*_bsshslm_2020`` e-prop models.

Both simulators start from the same weights, input spikes and targets. Each then runs 5 iterations
of plain gradient descent. The per-iteration losses and the final weight changes must agree to a
relative 1e-5. The weight changes are compared as max |dW_snnsim - dW_nest| / max |dW_snnsim|.
Measured: about 2e-16 for the losses and at most 5e-15 for the weight changes.

NEST runs in a separate interpreter, through ``tests/nest_reference/run_nest_eprop.py``. The interpreter comes from the environment variable
``SNNSIM_NEST_PYTHON`` (an empty value means "do not look"); if the variable is unset,
``/tmp/nestvenv/bin/python`` is tried. Without a Python that can ``import nest`` the tests are
skipped.

Mapping of snnsim onto NEST (derived and checked in tests/nest_reference/README.md):

* Time: snnsim step tau of a sequence is NEST's input generator time (1 + s T + tau) dt, with
  s the sequence index. The target is delivered at (4 + s T + tau) dt. With these offsets no
  extra delays are needed; every NEST connection has a delay of 1 step.
* Inputs: NEST's e-prop synapses drop input spikes at tau = 0. If an input neuron's first spike of
  a sequence is at tau = 1, NEST also drops that synapse's last L ebar term of the previous
  sequence. So x^0 = x^1 = 0 in both simulators.
* Neurons:
  * LIF/ALIF parameters keep their names: tau_m, V_th = v_th, adapt_beta = beta,
    adapt_tau = tau_a.
  * ``regular_spike_arrival`` has the same meaning in both.
  * surrogate_gradient_height = gamma / v_th and surrogate_gradient_width = v_th (piecewise
    linear).
  * t_ref_NEST = t_ref_snnsim + dt, because NEST blocks one step fewer.
  * In NEST, a neuron with beta = 0 is an ``eprop_iaf_bsshslm_2020`` and any other neuron is an
    ``eprop_iaf_adapt_bsshslm_2020``.
* Readout: NEST's ``regular_spike_arrival = True``, so that zeta_out = 1 and
  y = kappa y + W_out z. Its tau_m is tau_out.
* Learning rates: NEST filters ebar with a factor (1 - kappa) that snnsim does not have. So
  eta_in = eta_rec = eta / (1 - kappa) and eta_out = eta, where eta is snnsim's SGD rate.
* Feedback: snnsim uses ``feedback="random"`` with matrix ``learner.feedback_w``. NEST's
  ``eprop_learning_signal_connection_bsshslm_2020`` gets the same (n_rec, n_out) matrix, and
  NEST never changes it.
* Batch: snnsim's loss (and so its gradient) is divided by the batch size. NEST's optimizer
  averages over ``batch_size`` sequences, so the rates need no batch factor.
* Loss:
  * MSE: 0.5 sum_t sum_k (y - y*)^2.
  * CE: -sum_t sum_k y* log softmax(y).
  * Both sum over the learning window (the last ``learning_window`` steps, NEST's
    ``eprop_learning_window``) and are averaged over the batch. On the NEST side they are
    computed from the recorded readout_signal and target_signal.
* Firing-rate regularisation:
  * c_reg_NEST = (1 - kappa) c_reg_snnsim 1e6 / dt^2, with the same f_target (Hz); both
    regularise each trial's own rate (batch mean of (f_b - f_target) sum_t e_b), so the sine
    test (batch 1) and the evidence test (batch 4) both run with c_reg = 0.02.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import snnsim
from snnsim.learning import OnlineEprop
from snnsim.optim import SGD
from snnsim.tasks import make_task

pytestmark = pytest.mark.nest

RUNNER = Path(__file__).parent / "nest_reference" / "run_nest_eprop.py"
sys.path.insert(0, str(RUNNER.parent))
from nest_locate import find_nest_python  # noqa: E402
RTOL = 1e-5


@pytest.fixture(scope="module")
def nest_python():
    py, reason = find_nest_python()
    if py is None:
        pytest.skip(reason)
    return py


# ---------------------------------------------------------------------------------------------
def make_net(pops, n_in, n_out, tau_out, rng, w_scale=1.0):
    readout = snnsim.Readout(n_out, tau_out=tau_out, w_scale=w_scale)
    return snnsim.Network(n_in, [snnsim.Layer(pops, recurrent=True)], readout, dt=1.0, dtype="float64",
                          rng=rng)


def train_snnsim(net, x, target, mask, loss, *, eta, n_iter, batch, rng, c_reg=0.0, f_target=10.0):
    """Train with snnsim's online e-prop (feedback "random") + SGD; sequences [i*batch, (i+1)*batch)."""
    learner = OnlineEprop(net, batch, feedback="random", rng=rng, c_reg=c_reg, f_target=f_target)
    B = learner.feedback_w.copy()
    w0 = {k: v.copy() for k, v in net.weights().items()}
    opt = SGD(lr=eta)
    losses, spikes = [], []
    for it in range(n_iter):
        sl = slice(it * batch, (it + 1) * batch)
        learner.zero_grad()
        value, _ = learner.run(x[sl], target[sl], mask[sl], loss, block=250, keep_y=False)
        spikes.append(float(sum(c.sum() for c in learner.spike_count)))
        opt.step(net.weights(), learner.grads(), net.masks())
        losses.append(value)
    w1 = {k: v.copy() for k, v in net.weights().items()}
    return np.array(losses), B, w0, w1, spikes


def nest_params(net, *, eta, n_iter, batch, loss, learning_window, c_reg=0.0, f_target=10.0):
    """NEST runner settings for a one-layer snnsim network (see the module docstring)."""
    dt = net.dt
    kappa = float(net.kappa[0])
    pops = net.layers[0].populations

    def shared(attr):
        vals = np.concatenate([np.atleast_1d(getattr(p, attr)) for p in pops])
        assert np.all(vals == vals[0]), f"{attr} must be the same for every neuron"
        return float(vals[0])

    beta = np.concatenate([p.beta if p.kind == "alif" else np.zeros(p.n) for p in pops])
    tau_a = np.concatenate([p.tau_a if p.kind == "alif" else np.full(p.n, 2000.0) for p in pops])
    rsa = {bool(p.regular_spike_arrival) for p in pops}
    assert len(rsa) == 1
    return dict(
        n_iter=n_iter, batch_size=batch, loss=loss, learning_window=learning_window, dt=dt,
        eta_in=eta / (1 - kappa), eta_rec=eta / (1 - kappa), eta_out=eta,
        tau_m=shared("tau_m"), v_th=shared("v_th"), gamma=shared("gamma"),
        t_ref=shared("t_ref") + dt, tau_out=float(net.readout.tau_out),
        zeta_rec=int(rsa.pop()), zeta_out=1, beta=beta, tau_a=tau_a,
        c_reg=(1 - kappa) * c_reg * 1e6 / dt ** 2, f_target=f_target)


def run_nest(py, tmp_path, w0, B, x, target, params):
    inp, out = tmp_path / "nest_in.npz", tmp_path / "nest_out.npz"
    np.savez(inp, w_in=w0["layer0.w_in"], w_rec=w0["layer0.w_rec"], w_out=w0["readout.w_out"], B=B,
             x=x.astype(np.uint8), target=target, **params)
    r = subprocess.run([py, str(RUNNER), str(inp), str(out)], capture_output=True, text=True,
                       timeout=600, cwd=tmp_path)
    if r.returncode != 0:
        pytest.fail(f"NEST runner failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return dict(np.load(out))


def nest_losses(res, loss, batch, learning_window):
    """snnsim's loss formula applied to NEST's recorded readout_signal / target_signal."""
    y, ys = res["y"], res["y_target"]
    T = y.shape[1]
    win = slice(T - learning_window, T)
    if loss == "mse":
        per_seq = 0.5 * np.sum((y[:, win] - ys[:, win]) ** 2, axis=(1, 2))
    else:   # readout_signal is the softmax pi
        per_seq = -np.sum(ys[:, win] * np.log(y[:, win]), axis=(1, 2))
    return per_seq.reshape(-1, batch).mean(axis=1)


def weight_errors(res, w0, w1):
    """Max |dW_snnsim - dW_nest| / max |dW_snnsim| per projection (dW = final - initial)."""
    out = {}
    for name, key in (("layer0.w_in", "w_in"), ("layer0.w_rec", "w_rec"), ("readout.w_out", "w_out")):
        d_snn = w1[name] - w0[name]
        if key == "w_rec":
            np.fill_diagonal(d_snn, 0.0)   # no autapses in either simulator
            assert not np.any(np.diag(w0[name]))
        np.testing.assert_array_equal(res[key + "_init"], w0[name])   # NEST started from snnsim's weights
        d_nest = res[key] - res[key + "_init"]
        scale = np.abs(d_snn).max()
        assert scale > 0, f"{name} did not change"
        out[name] = float(np.abs(d_nest - d_snn).max() / scale)
    return out


def report(name, l_snn, l_nest, werr, wall):
    rel = np.abs(l_snn - l_nest) / np.abs(l_nest)
    print(f"\n[{name}] NEST {wall:.2f} s | snnsim loss {np.array2string(l_snn, precision=8)}"
          f"\n  NEST loss {np.array2string(l_nest, precision=8)}\n  max rel loss diff {rel.max():.2e}"
          f" | weight-change rel err " + ", ".join(f"{k} {v:.1e}" for k, v in werr.items()))
    return rel


def check_learning_happened(l_snn):
    # the losses must move well beyond the tolerance, or a wrong learning rate would go unnoticed
    assert np.abs(np.diff(l_snn)).max() > 1e3 * RTOL * np.abs(l_snn).max()


# ---------------------------------------------------------------------------------------------
def test_sine_wave_regression_matches_nest(nest_python, tmp_path):
    """100 Poisson inputs -> 100 recurrent LIF -> 1 readout, T = 1000, MSE, batch 1, c_reg on."""
    n_iter, T, eta, c_reg = 5, 1000, 2e-5, 0.02
    rng = np.random.default_rng(20240611)
    task = make_task("sine_wave", rng, batch=1, steps=T, n_in=100, rate=50.0)
    x = task.inputs.copy()
    x[:, :2] = 0.0   # see module docstring: NEST drops/shortens terms for spikes at tau = 0, 1
    # the same input and target in every iteration, as in the NEST sine-wave example
    xs = np.repeat(x, n_iter, axis=0)
    ts = np.repeat(task.targets, n_iter, axis=0)
    ms = np.repeat(task.mask, n_iter, axis=0)
    pops = [snnsim.LIF(100, tau_m=30.0, v_th=0.03, gamma=0.3, t_ref=0.0, regular_spike_arrival=False)]
    net = make_net(pops, 100, 1, 30.0, rng, w_scale=0.1)   # start from y ~ 0
    l_snn, B, w0, w1, spikes = train_snnsim(net, xs, ts, ms, "mse", eta=eta, n_iter=n_iter, batch=1,
                                            rng=rng, c_reg=c_reg, f_target=10.0)
    assert min(spikes) > 100 * T * 5e-3   # > 5 Hz mean rate: gradients come from real activity

    params = nest_params(net, eta=eta, n_iter=n_iter, batch=1, loss="mse", learning_window=T,
                         c_reg=c_reg, f_target=10.0)
    res = run_nest(nest_python, tmp_path, w0, B, x[0], task.targets[0], params)
    l_nest = nest_losses(res, "mse", 1, T)
    werr = weight_errors(res, w0, w1)
    rel = report("sine", l_snn, l_nest, werr, float(res["wall_time_s"]))

    check_learning_happened(l_snn)
    np.testing.assert_allclose(l_snn, l_nest, rtol=RTOL, atol=0)
    assert max(werr.values()) < RTOL, werr
    assert rel.max() < RTOL


def test_evidence_accumulation_lif_alif_matches_nest(nest_python, tmp_path):
    """40 inputs -> 50 LIF + 50 ALIF (Bellec / NEST evidence example) -> 2 readouts, CE in the
    recall window, batch 4, different trials in each iteration, c_reg = 0.02."""
    n_iter, batch, eta = 5, 4, 3e-4
    rng = np.random.default_rng(77)
    # shortened timing: 3 cues, 300 ms delay -> T = 3 * 150 + 300 + 150 = 900 steps
    task = make_task("evidence_accumulation", rng, batch=n_iter * batch, n_cues=3, delay_ms=300.0,
                     recall_ms=150.0)
    x = task.inputs.copy()
    x[:, :2] = 0.0
    T = x.shape[1]
    lw = int(task.mask[0].sum())
    assert np.all(task.mask[:, T - lw:] == 1) and np.all(task.mask[:, :T - lw] == 0)
    dt, tau_m, tau_a = 1.0, 20.0, 2000.0
    alpha, rho = np.exp(-dt / tau_m), np.exp(-dt / tau_a)
    beta = 1.7 * (1 - rho) / (1 - alpha)   # the evidence example's adaptation strength
    common = dict(tau_m=tau_m, v_th=0.6, gamma=0.3, t_ref=4.0, regular_spike_arrival=True)
    pops = [snnsim.LIF(50, **common), snnsim.ALIF(50, beta=beta, tau_a=tau_a, **common)]
    net = make_net(pops, 40, 2, 20.0, rng)
    c_reg = 0.02
    l_snn, B, w0, w1, spikes = train_snnsim(net, x, task.targets, task.mask, "ce", eta=eta,
                                            n_iter=n_iter, batch=batch, rng=rng, c_reg=c_reg,
                                            f_target=10.0)
    assert min(spikes) > 100 * batch * T * 5e-3

    params = nest_params(net, eta=eta, n_iter=n_iter, batch=batch, loss="ce", learning_window=lw,
                         c_reg=c_reg, f_target=10.0)
    res = run_nest(nest_python, tmp_path, w0, B, x, task.targets, params)
    assert json.loads(str(res["params"]))["populations"] == [
        ["eprop_iaf_bsshslm_2020", 50], ["eprop_iaf_adapt_bsshslm_2020", 50]]
    assert res["z"][:, :, :50].sum() > 0 and res["z"][:, :, 50:].sum() > 0   # both populations fire
    l_nest = nest_losses(res, "ce", batch, lw)
    werr = weight_errors(res, w0, w1)
    rel = report("evidence", l_snn, l_nest, werr, float(res["wall_time_s"]))

    check_learning_happened(l_snn)
    np.testing.assert_allclose(l_snn, l_nest, rtol=RTOL, atol=0)
    assert max(werr.values()) < RTOL, werr
    assert rel.max() < RTOL


if __name__ == "__main__":   # python tests/test_nest_crosscheck.py -> run with output
    sys.exit(pytest.main([__file__, "-q", "-s"]))
