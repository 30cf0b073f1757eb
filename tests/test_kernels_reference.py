"""Every numba kernel against the slow numpy reference in ``reference_kernels.py``.

Both are called on copies of the same random arrays; every array argument (outputs, in-place
state, traces, and placeholders that must stay untouched) is compared afterwards. float64 to
1e-12; one float32 run per forward / e-prop kernel to 1e-5 against a float64 reference.
The last section checks the references themselves against independent oracles (finite
differences of a smooth network, BPTT orders, e-prop == order-0 BPTT), so kernel and
reference cannot agree on a shared misreading of the equations.
"""
import inspect
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_kernels as R  # noqa: E402

from snnsim.kernels import bptt as KB  # noqa: E402
from snnsim.kernels import eprop as KE  # noqa: E402
from snnsim.kernels import eprop_m1 as KM1  # noqa: E402
from snnsim.kernels import eprop_window as KW  # noqa: E402
from snnsim.kernels import forward as KF  # noqa: E402

SEEDS = (0, 1, 2)
F64 = dict(rtol=1e-12, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- helpers
def call_both(kernel, reference, args, *, tol=F64, ref_dtype=None):
    """Call kernel and reference on copies of ``args`` (dict by parameter name), compare all arrays.

    With ``ref_dtype`` the reference gets float arrays/scalars cast to it (e.g. float64 for a
    float32 kernel run). Returns the two argument dicts after the calls.
    """
    names = list(inspect.signature(reference).parameters)
    assert set(names) == set(args), set(names) ^ set(args)

    def copy(v, cast):
        if isinstance(v, np.ndarray):
            if cast is not None and v.dtype.kind == "f":
                return v.astype(cast)
            return v.copy()
        if cast is not None and isinstance(v, np.floating):
            return cast(v)
        return v

    ka = {k: copy(args[k], None) for k in names}
    ra = {k: copy(args[k], ref_dtype) for k in names}
    kernel(*[ka[k] for k in names])
    reference(*[ra[k] for k in names])
    for k in names:
        kv, rv = ka[k], ra[k]
        if not isinstance(kv, np.ndarray):
            continue
        if kv.dtype.kind == "f":
            np.testing.assert_allclose(kv, rv, err_msg=f"argument {k!r}", **tol)
        else:
            np.testing.assert_array_equal(kv, rv, err_msg=f"argument {k!r}")
    return ka, ra


def rnd(rng, shape, dt=np.float64, scale=1.0, loc=0.0):
    return np.ascontiguousarray(loc + scale * rng.standard_normal(shape)).astype(dt)


def spikes(rng, shape, p, dt=np.float64):
    return (rng.random(shape) < p).astype(dt)


# ----------------------------------------------------------------------------- layer_run
def layer_args(seed, B, rec, kind, inp, surrogate, dt=np.float64, n_pre=5, n=6, K=25):
    rng = np.random.default_rng(seed)
    adaptive = "alif" in kind
    refractory = "ref" in kind
    x = spikes(rng, (B, K, n_pre), 0.4, dt) if inp == "spikes" else rnd(rng, (B, K, n_pre), dt, 0.6, 0.2)
    alpha = rng.uniform(0.8, 0.99, n)
    zeta = np.where(rng.random(n) < 0.5, 1.0, 1.0 - alpha) * 1.0
    zeta[zeta < 0.5] *= 8.0   # (1 - alpha) scaling: keep those neurons active too
    if surrogate == R.SURROGATE_SMOOTH:
        z0 = rng.random((B, n))
    else:
        z0 = spikes(rng, (B, n), 0.3)
    args = dict(
        x=x,
        w_in=rnd(rng, (n_pre, n), dt, 0.7, 0.35),
        w_rec=rnd(rng, (n, n), dt, 0.5) if rec else np.zeros((1, 1), dt),
        has_rec=rec,
        alpha=alpha.astype(dt), zeta=zeta.astype(dt),
        v_th=rng.uniform(0.5, 1.5, n).astype(dt),
        beta=(rng.uniform(0.3, 2.0, n) if adaptive else np.zeros(n)).astype(dt),
        rho=(rng.uniform(0.85, 0.99, n) if adaptive else np.ones(n)).astype(dt),
        gamma=rng.uniform(0.2, 0.5, n).astype(dt),
        ref_steps=(rng.integers(1, 4, n) if refractory else np.zeros(n)).astype(np.int64),
        surrogate=surrogate, sigma=dt(0.3),
        v=rnd(rng, (B, n), dt, 0.5),
        a=(rng.uniform(0, 1, (B, n)) if adaptive else np.zeros((B, n))).astype(dt),
        z=z0.astype(dt),
        ref=(rng.integers(0, 3, (B, n)) if refractory else np.zeros((B, n))).astype(np.int64),
    )
    for key in ("z_out", "v_out", "a_out", "psi_out"):
        args[key] = np.full((B, K, n), np.nan, dt)   # must be fully written
    return args


LAYER_CASES = [(s, B, rec, kind, inp, sur)
               for s in SEEDS for B in (1, 3) for rec in (False, True)
               for kind in ("lif", "alif", "lif_ref", "alif_ref")
               for inp in ("spikes", "analog")
               for sur in (R.SURROGATE_PIECEWISE, R.SURROGATE_SMOOTH)
               if not (sur == R.SURROGATE_SMOOTH and "ref" in kind)]


@pytest.mark.parametrize("seed,B,rec,kind,inp,surrogate", LAYER_CASES)
def test_layer_run(seed, B, rec, kind, inp, surrogate):
    args = layer_args(seed, B, rec, kind, inp, surrogate)
    ka, _ = call_both(KF.layer_run, R.layer_run, args)
    if surrogate == R.SURROGATE_PIECEWISE:
        n_spk = ka["z_out"].sum()
        assert 0 < n_spk < ka["z_out"].size, "case must have both spikes and silence"
        assert set(np.unique(ka["z_out"])) <= {0.0, 1.0}


def test_layer_run_refractoriness_is_exercised():
    """The refractory cases really silence neurons that would otherwise fire."""
    args = layer_args(0, 3, True, "lif_ref", "analog", R.SURROGATE_PIECEWISE)
    ka, _ = call_both(KF.layer_run, R.layer_run, args)
    z, psi = ka["z_out"], ka["psi_out"]
    d = ka["v_out"] - args["v_th"]
    blocked = (d >= 0) & (z == 0)
    assert blocked.any()
    assert np.all(psi[blocked] == 0)


@pytest.mark.parametrize("kind", ["alif_ref", "lif"])
def test_layer_run_float32(kind):
    args = layer_args(5, 3, True, kind, "spikes", R.SURROGATE_PIECEWISE, dt=np.float32)
    ka, _ = call_both(KF.layer_run, R.layer_run, args, tol=F32, ref_dtype=np.float64)
    assert ka["v_out"].dtype == np.float32 and ka["z_out"].sum() > 0


def test_layer_run_float32_smooth():
    args = layer_args(6, 2, True, "alif", "analog", R.SURROGATE_SMOOTH, dt=np.float32)
    call_both(KF.layer_run, R.layer_run, args, tol=F32, ref_dtype=np.float64)


@pytest.mark.parametrize("seed", SEEDS)
def test_layer_run_blocks_compose(seed):
    """Two consecutive blocks with carried state equal one long block (kernel only)."""
    args = layer_args(seed, 2, True, "alif_ref", "spikes", R.SURROGATE_PIECEWISE)
    whole = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()}
    names = list(inspect.signature(R.layer_run).parameters)
    KF.layer_run(*[whole[k] for k in names])
    state = {k: args[k].copy() for k in ("v", "a", "z", "ref")}
    outs = {k: [] for k in ("z_out", "v_out", "a_out", "psi_out")}
    for sl in (slice(0, 11), slice(11, None)):
        part = dict(args, **state)
        part["x"] = np.ascontiguousarray(args["x"][:, sl])
        kk = part["x"].shape[1]
        for k in outs:
            part[k] = np.empty((2, kk, 6))
        KF.layer_run(*[part[k] for k in names])
        for k in outs:
            outs[k].append(part[k])
    for k in outs:
        np.testing.assert_array_equal(np.concatenate(outs[k], axis=1), whole[k])
    for k in state:
        np.testing.assert_array_equal(state[k], whole[k])


# ----------------------------------------------------------------------------- readout_run
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("zkind", ["spikes", "smooth"])
@pytest.mark.parametrize("leak", [True, False])
def test_readout_run(seed, B, zkind, leak):
    rng = np.random.default_rng(seed + 10)
    n, n_out, K = 6, 3, 20
    z = spikes(rng, (B, K, n), 0.3) if zkind == "spikes" else rng.random((B, K, n))
    args = dict(z=z, w_out=rnd(rng, (n, n_out)),
                kappa=(rng.uniform(0.5, 0.99, n_out) if leak else np.zeros(n_out)),
                y=rnd(rng, (B, n_out)), y_out=np.full((B, K, n_out), np.nan))
    call_both(KF.readout_run, R.readout_run, args)


def test_readout_run_float32():
    rng = np.random.default_rng(3)
    B, n, n_out, K = 2, 6, 2, 20
    f = np.float32
    args = dict(z=spikes(rng, (B, K, n), 0.3, f), w_out=rnd(rng, (n, n_out), f),
                kappa=rng.uniform(0.5, 0.99, n_out).astype(f), y=rnd(rng, (B, n_out), f),
                y_out=np.empty((B, K, n_out), f))
    call_both(KF.readout_run, R.readout_run, args, tol=F32, ref_dtype=np.float64)


# ----------------------------------------------------------------------------- layer_backward
def backward_args(seed, B, rec, adaptive, M, full, need, dt=np.float64, n_pre=4, n=5, T=12):
    rng = np.random.default_rng(seed + 20)
    psi = np.abs(rnd(rng, (B, T, n), dt, 0.4))
    psi[rng.random((B, T, n)) < 0.3] = 0.0
    return dict(
        pre=spikes(rng, (B, T, n_pre), 0.4, dt) if seed % 2 == 0 else rnd(rng, (B, T, n_pre), dt),
        z_prev=spikes(rng, (B, T, n), 0.3, dt), psi=psi,
        g_ext=rnd(rng, (M, B, T, n), dt),
        w_in=rnd(rng, (n_pre, n), dt), w_rec=rnd(rng, (n, n), dt) if rec else np.zeros((1, 1), dt),
        has_rec=rec,
        alpha=rng.uniform(0.8, 0.99, n).astype(dt), zeta=rng.uniform(0.5, 1.0, n).astype(dt),
        v_th=rng.uniform(0.5, 1.5, n).astype(dt),
        beta=(rng.uniform(0.3, 2.0, n) if adaptive else np.zeros(n)).astype(dt),
        rho=(rng.uniform(0.85, 0.99, n) if adaptive else np.ones(n)).astype(dt),
        full=full, need_g_pre=need,
        gw_in=rnd(rng, (B, n_pre, n), dt),                       # accumulated into
        gw_rec=rnd(rng, (B, n, n), dt) if rec else np.zeros((1, 1, 1), dt),
        g_pre=rnd(rng, (M, B, T, n_pre), dt) if need else np.zeros((1, 1, 1, 1), dt),
    )


BACKWARD_MODES = [("full", 1, True), ("order0", 1, False), ("order1", 2, False), ("order2", 3, False)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("rec", [False, True])
@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("mode,M,full", BACKWARD_MODES)
@pytest.mark.parametrize("need", [True, False])
def test_layer_backward(seed, B, rec, adaptive, mode, M, full, need):
    args = backward_args(seed, B, rec, adaptive, M, full, need)
    call_both(KB.layer_backward, R.layer_backward, args)


def test_layer_backward_float32():
    args = backward_args(4, 2, True, True, 2, False, True, dt=np.float32)
    call_both(KB.layer_backward, R.layer_backward, args, tol=F32, ref_dtype=np.float64)


# ----------------------------------------------------------------------------- e-prop
def eprop_args(seed, B, adaptive, hmode, want_esum, dt=np.float64, n_pre=7, n=5, K=20):
    rng = np.random.default_rng(seed + 30)
    use_h = hmode != "none"
    shape = (B, n, n_pre)
    ph = np.zeros((1, 1, 1), dt)
    psi = np.abs(rnd(rng, (B, K, n), dt, 0.4))
    psi[rng.random((B, K, n)) < 0.3] = 0.0
    return dict(
        pre=spikes(rng, (B, K, n_pre), 0.35, dt), psi=psi, sig=rnd(rng, (B, K, n), dt),
        alpha=rng.uniform(0.8, 0.99, n).astype(dt), zeta=rng.uniform(0.5, 1.0, n).astype(dt),
        beta=(rng.uniform(0.3, 2.0, n) if adaptive else np.zeros(n)).astype(dt),
        rho=(rng.uniform(0.85, 0.99, n) if adaptive else np.ones(n)).astype(dt),
        kappa=dt(0.9 if seed % 3 else 0.0),
        adaptive=adaptive, use_h=use_h, a_hat=dt(0.93 if seed % 2 == 0 else 0.0),
        delay=hmode == "h_delay", want_esum=want_esum,
        psi_prev=np.abs(rnd(rng, (B, n), dt, 0.3)),
        ev=rnd(rng, shape, dt), ea=rnd(rng, shape, dt) if adaptive else ph.copy(),
        hh=rnd(rng, shape, dt) if use_h else ph.copy(), eb=rnd(rng, shape, dt),
        grad=rnd(rng, shape, dt), esum=rnd(rng, shape, dt) if want_esum else ph.copy(),
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("hmode", ["none", "h", "h_delay"])
@pytest.mark.parametrize("want_esum", [False, True])
def test_eprop_layer_block(seed, B, adaptive, hmode, want_esum):
    args = eprop_args(seed, B, adaptive, hmode, want_esum)
    call_both(KE.eprop_layer_block, R.eprop_layer_block, args)


@pytest.mark.parametrize("hmode", ["none", "h_delay"])
def test_eprop_layer_block_float32(hmode):
    args = eprop_args(2, 3, True, hmode, True, dt=np.float32)
    call_both(KE.eprop_layer_block, R.eprop_layer_block, args, tol=F32, ref_dtype=np.float64)


def window_args(seed, B, adaptive, hmode, dt=np.float64, n=5, K=15):
    rng = np.random.default_rng(seed + 60)
    psi = np.abs(rnd(rng, (B, K, n), dt, 0.4))
    psi[rng.random((B, K, n)) < 0.3] = 0.0
    return dict(
        psi=psi, sig=rnd(rng, (B, K, n), dt), psi0=np.abs(rnd(rng, (B, n), dt, 0.3)),
        ws=dt(1.0 if seed % 2 == 0 else 0.0), we=rnd(rng, (B, n), dt),
        alpha=rng.uniform(0.8, 0.99, n).astype(dt), zeta=rng.uniform(0.5, 1.0, n).astype(dt),
        beta=(rng.uniform(0.3, 2.0, n) if adaptive else np.zeros(n)).astype(dt),
        rho=(rng.uniform(0.85, 0.99, n) if adaptive else np.ones(n)).astype(dt),
        kappa=dt(0.9 if seed % 3 else 0.0), a_hat=dt(0.93 if seed % 2 == 0 else 0.0),
        use_h=hmode != "none", delay=hmode == "h_delay",
        adj=rnd(rng, (B, n, 4), dt) * np.array([1, adaptive, hmode != "none", 1], dt),
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("hmode", ["none", "h", "h_delay"])
def test_adjoint_window(seed, B, adaptive, hmode):
    args = window_args(seed, B, adaptive, hmode)
    args["coef"] = np.zeros(args["psi"].shape)
    call_both(KW.adjoint_window, R.adjoint_window, args)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rec", [False, True])
@pytest.mark.parametrize("analog", [False, True])
def test_adjoint_events(seed, rec, analog):
    B, n, m = 3, 5, 4
    args = window_args(seed, B, True, "h_delay" if seed == 1 else "none", n=n)
    rng = np.random.default_rng(seed + 70)
    K = args["psi"].shape[1]
    x = spikes(rng, (B, K, m), 0.3)
    args["x"] = x * rng.uniform(0.5, 2.0, x.shape) if analog else x
    args["z"] = spikes(rng, (B, K, n), 0.3) if rec else np.zeros((1, 1, 0))
    args["z0"] = spikes(rng, (B, n), 0.5) if rec else np.zeros((1, 0))
    args["gT"] = rnd(rng, (B, m + (n if rec else 0), n))
    call_both(KW.adjoint_events, R.adjoint_events, args)


@pytest.mark.parametrize("kernel", ["adjoint_window", "adjoint_events"])
def test_adjoint_float32(kernel):
    f = np.float32
    args = window_args(1, 2, True, "h", dt=f)
    rng = np.random.default_rng(3)
    if kernel == "adjoint_window":
        args["coef"] = np.zeros(args["psi"].shape, f)
    else:
        args.update(x=spikes(rng, (2, 15, 3), 0.3, f), z=spikes(rng, (2, 15, 5), 0.3, f),
                    z0=np.zeros((2, 5), f), gT=np.zeros((2, 8, 5), f))
    call_both(getattr(KW, kernel), getattr(R, kernel), args, tol=F32, ref_dtype=np.float64)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("n_out", [1, 3])
def test_lowrank_signal(dt, n_out):
    rng = np.random.default_rng(n_out)
    err = rnd(rng, (3, 12, n_out), dt)
    err[:, ::4] = 0.0                                   # steps outside a loss window
    args = dict(err=err, fb=rnd(rng, (7, n_out), dt), out=rnd(rng, (3, 12, 7), dt))
    call_both(KW.lowrank_signal, R.lowrank_signal, args, tol=F64 if dt == np.float64 else F32)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_advance_trace(dt):
    rng = np.random.default_rng(8)
    args = dict(pre=spikes(rng, (2, 30, 6), 0.3, dt), alpha=dt(0.9), zbar=np.abs(rnd(rng, (2, 6), dt)))
    call_both(KW.advance_trace, R.advance_trace, args, tol=F64 if dt == np.float64 else F32)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("kappa", [0.0, 0.8])
def test_readout_grad_block(seed, B, kappa):
    rng = np.random.default_rng(seed + 40)
    n, n_out, K = 6, 3, 20
    args = dict(z=spikes(rng, (B, K, n), 0.3), err=rnd(rng, (B, K, n_out)), kappa=kappa,
                zbar=np.abs(rnd(rng, (B, n))), grad=rnd(rng, (B, n, n_out)))
    call_both(KE.readout_grad_block, R.readout_grad_block, args)


def test_readout_grad_block_float32():
    rng = np.random.default_rng(9)
    f = np.float32
    B, n, n_out, K = 2, 6, 2, 20
    args = dict(z=spikes(rng, (B, K, n), 0.3, f), err=rnd(rng, (B, K, n_out), f), kappa=f(0.8),
                zbar=np.zeros((B, n), f), grad=np.zeros((B, n, n_out), f))
    call_both(KE.readout_grad_block, R.readout_grad_block, args, tol=F32, ref_dtype=np.float64)


def m1_args(seed, B, rec, n_out, dt=np.float64, n_in=3, n=5, K=20):
    rng = np.random.default_rng(seed + 50)
    n_pre = n_in + (n if rec else 0)
    shape = (B, n, n_pre)
    psi = np.abs(rnd(rng, (B, K, n), dt, 0.4))
    psi[rng.random((B, K, n)) < 0.3] = 0.0
    alpha = np.full(n, 0.93)
    return dict(
        pre=spikes(rng, (B, K, n_pre), 0.35, dt), psi=psi, sig=rnd(rng, (B, K, n), dt),
        c=rnd(rng, (B, K, n, n_out), dt), err=rnd(rng, (B, K, n_out), dt),
        alpha=alpha.astype(dt), zeta=rng.uniform(0.5, 1.0, n).astype(dt),
        a_shared=dt(alpha[0]), kappa=dt(0.85 if seed % 2 else 0.0),
        psi_prev=np.abs(rnd(rng, (B, n), dt, 0.3)),
        ev=rnd(rng, shape, dt), eb=rnd(rng, shape, dt), f=rnd(rng, shape, dt),
        y1=rnd(rng, shape + (n_out,), dt), grad=rnd(rng, shape, dt),
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("rec", [False, True])
@pytest.mark.parametrize("n_out", [1, 2])
def test_eprop_m1_block(seed, B, rec, n_out):
    args = m1_args(seed, B, rec, n_out)
    call_both(KM1.eprop_m1_block, R.eprop_m1_block, args)


def test_eprop_m1_block_float32():
    args = m1_args(1, 2, True, 2, dt=np.float32)
    call_both(KM1.eprop_m1_block, R.eprop_m1_block, args, tol=F32, ref_dtype=np.float64)


# ----------------------------------------------------------------------------- the references themselves
def smooth_forward(x, w_in, w_rec, p, sigma, z0):
    """Reference forward of a smooth (differentiable) ALIF layer from a fixed initial state."""
    B, K, _ = x.shape
    n = w_in.shape[1]
    st = dict(v=np.zeros((B, n)), a=np.zeros((B, n)), z=z0.copy(), ref=np.zeros((B, n), np.int64))
    out = {k: np.empty((B, K, n)) for k in ("z_out", "v_out", "a_out", "psi_out")}
    R.layer_run(x, w_in, w_rec, True, p["alpha"], p["zeta"], p["v_th"], p["beta"], p["rho"],
                p["gamma"], np.zeros(n, np.int64), R.SURROGATE_SMOOTH, sigma, st["v"], st["a"],
                st["z"], st["ref"], out["z_out"], out["v_out"], out["a_out"], out["psi_out"])
    z_prev = np.concatenate([z0[:, None], out["z_out"][:, :-1]], axis=1)
    return out, z_prev


def smooth_problem(seed, B=2, K=10, n_pre=3, n=4):
    rng = np.random.default_rng(seed + 60)
    p = dict(alpha=rng.uniform(0.8, 0.95, n), zeta=rng.uniform(0.5, 1.0, n),
             v_th=rng.uniform(0.5, 1.0, n), beta=rng.uniform(0.3, 1.5, n),
             rho=rng.uniform(0.85, 0.97, n), gamma=np.full(n, 0.3))
    x = rng.random((B, K, n_pre))
    w_in = rng.standard_normal((n_pre, n))
    w_rec = rng.standard_normal((n, n)) * 0.7
    g = rng.standard_normal((B, K, n))       # loss = sum g * z
    z0 = rng.random((B, n))
    return p, x, w_in, w_rec, g, z0


def ref_backward(p, x, z_prev, psi, g_ext, w_in, w_rec, full):
    M, B, K, n = g_ext.shape
    gw_in = np.zeros((B, x.shape[2], n))
    gw_rec = np.zeros((B, n, n))
    g_pre = np.zeros((M, B, K, x.shape[2]))
    R.layer_backward(x, z_prev, psi, g_ext, w_in, w_rec, True, p["alpha"], p["zeta"], p["v_th"],
                     p["beta"], p["rho"], full, True, gw_in, gw_rec, g_pre)
    return gw_in, gw_rec, g_pre


@pytest.mark.parametrize("seed", [0, 1])
def test_reference_bptt_is_exact_gradient_of_smooth_network(seed):
    """Full BPTT (reference) == central finite differences when psi is the exact dz/dv."""
    p, x, w_in, w_rec, g, z0 = smooth_problem(seed)
    sigma = 0.4
    loss = lambda xx, wi, wr: float(np.sum(g * smooth_forward(xx, wi, wr, p, sigma, z0)[0]["z_out"]))
    out, z_prev = smooth_forward(x, w_in, w_rec, p, sigma, z0)
    gw_in, gw_rec, g_pre = ref_backward(p, x, z_prev, out["psi_out"], g[None], w_in, w_rec, True)
    h = 1e-6

    def fd(arr, which):
        res = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += h
            minus[idx] -= h
            args_p = {"x": x, "wi": w_in, "wr": w_rec}
            args_m = dict(args_p)
            args_p[which], args_m[which] = plus, minus
            res[idx] = (loss(args_p["x"], args_p["wi"], args_p["wr"])
                        - loss(args_m["x"], args_m["wi"], args_m["wr"])) / (2 * h)
        return res

    np.testing.assert_allclose(gw_in.sum(0), fd(w_in, "wi"), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gw_rec.sum(0), fd(w_rec, "wr"), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g_pre[0], fd(x, "x"), rtol=1e-6, atol=1e-7)


def test_reference_bptt_orders_sum_to_full():
    """Hop-truncated BPTT with M >= T orders keeps every path: equals full BPTT."""
    p, x, w_in, w_rec, g, z0 = smooth_problem(3)
    out, z_prev = smooth_forward(x, w_in, w_rec, p, 0.4, z0)
    K = x.shape[1]
    full = ref_backward(p, x, z_prev, out["psi_out"], g[None], w_in, w_rec, True)
    g_ext = np.zeros((K + 1,) + g.shape)
    g_ext[0] = g
    trunc = ref_backward(p, x, z_prev, out["psi_out"], g_ext, w_in, w_rec, False)
    np.testing.assert_allclose(trunc[0], full[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(trunc[1], full[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(trunc[2].sum(0), full[2][0], rtol=1e-12, atol=1e-12)
    assert np.abs(trunc[2][K]).max() == 0.0     # at most K-1 hops in K steps


def reverse_filter(sig, kappa):
    out = np.empty_like(sig)
    acc = np.zeros_like(sig[:, 0])
    for t in range(sig.shape[1] - 1, -1, -1):
        acc = sig[:, t] + kappa * acc
        out[:, t] = acc
    return out


@pytest.mark.parametrize("adaptive", [False, True])
def test_reference_eprop_equals_order0_bptt(adaptive):
    """Symmetric e-prop (deferred) == BPTT with every explicit hop cut (spec's oracle)."""
    p, x, w_in, w_rec, g, z0 = smooth_problem(4)
    if not adaptive:
        p["beta"][:] = 0.0
    out, z_prev = smooth_forward(x, w_in, w_rec, p, 0.4, z0)
    psi = out["psi_out"]
    B, K, n_in = x.shape
    n = w_in.shape[1]
    kappa = 0.8
    pre = np.concatenate([x, z_prev], axis=2)
    shape = (B, n, pre.shape[2])
    ph = np.zeros((1, 1, 1))
    grad, esum = np.zeros(shape), np.zeros(shape)
    R.eprop_layer_block(pre, psi, g, p["alpha"], p["zeta"], p["beta"], p["rho"], kappa, adaptive,
                        False, 0.0, False, True, np.zeros((B, n)), np.zeros(shape),
                        np.zeros(shape) if adaptive else ph, ph, np.zeros(shape), grad, esum)
    gw_in, gw_rec, _ = ref_backward(p, x, z_prev, psi, reverse_filter(g, kappa)[None], w_in, w_rec,
                                    False)
    np.testing.assert_allclose(grad[:, :, :n_in], gw_in.transpose(0, 2, 1), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(grad[:, :, n_in:], gw_rec.transpose(0, 2, 1), rtol=1e-11, atol=1e-12)
    # esum = sum_t e^t: the order-0 gradient of sum_t sum_j z_j^t
    gw_in1, _, _ = ref_backward(p, x, z_prev, psi, np.ones((1, B, K, n)), w_in, w_rec, False)
    np.testing.assert_allclose(esum[:, :, :n_in], gw_in1.transpose(0, 2, 1), rtol=1e-11, atol=1e-12)


def test_reference_m1_equals_order1_bptt():
    """m = 1 e-prop (shared leak, LIF, leaky readout) == BPTT truncated to <= 1 hop."""
    p, x, w_in, w_rec, _, z0 = smooth_problem(5)
    p["beta"][:] = 0.0
    p["alpha"][:] = 0.9
    rng = np.random.default_rng(7)
    out, z_prev = smooth_forward(x, w_in, w_rec, p, 0.4, z0)
    psi = out["psi_out"]
    B, K, n_in = x.shape
    n = w_in.shape[1]
    n_out, kappa = 2, 0.7
    fb = rng.standard_normal((n, n_out))
    err = rng.standard_normal((B, K, n_out))
    wt = w_rec * p["zeta"][None, :] - np.diag(p["v_th"])
    c = np.einsum("jk,btk,ko->btjo", wt, psi, fb)
    pre = np.concatenate([x, z_prev], axis=2)
    shape = (B, n, pre.shape[2])
    grad = np.zeros(shape)
    R.eprop_m1_block(pre, psi, err @ fb.T, c, err, p["alpha"], p["zeta"], 0.9, kappa,
                     np.zeros((B, n)), np.zeros(shape), np.zeros(shape), np.zeros(shape),
                     np.zeros(shape + (n_out,)), grad)
    g_ext = np.zeros((2, B, K, n))
    g_ext[0] = reverse_filter(err, kappa) @ fb.T
    gw_in, gw_rec, _ = ref_backward(p, x, z_prev, psi, g_ext, w_in, w_rec, False)
    np.testing.assert_allclose(grad[:, :, :n_in], gw_in.transpose(0, 2, 1), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(grad[:, :, n_in:], gw_rec.transpose(0, 2, 1), rtol=1e-11, atol=1e-12)


def test_reference_readout_grad_equals_reverse_filter():
    rng = np.random.default_rng(8)
    B, K, n, n_out, kappa = 2, 15, 4, 3, 0.75
    z = spikes(rng, (B, K, n), 0.3)
    err = rng.standard_normal((B, K, n_out))
    grad = np.zeros((B, n, n_out))
    R.readout_grad_block(z, err, kappa, np.zeros((B, n)), grad)
    np.testing.assert_allclose(grad, np.einsum("btj,bto->bjo", z, reverse_filter(err, kappa)),
                               rtol=1e-12, atol=1e-12)
