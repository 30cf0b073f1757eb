"""kernels.diag_trace and kernels.rflo against plain numpy loops on random arrays (traces start
from garbage: the kernels must zero them)."""
import numpy as np

from snnsim.kernels import diag_trace as KD
from snnsim.kernels import rflo as KR


def _arrays(seed, B=3, T=9, n_pre=4, n=5):
    r = np.random.default_rng(seed)
    pre = (r.random((B, T, n_pre)) < 0.5) * r.uniform(0.5, 1.5, (B, T, n_pre))
    psi, lam = r.random((B, T, n)), r.standard_normal((B, T, n))
    par = {k: r.uniform(0.3, 0.95, n) for k in ("alpha", "zeta", "rho")}
    par["beta"] = r.uniform(0, 0.5, n)
    par["d"] = r.uniform(-0.5, 0.2, n)
    return r, pre, psi, lam, par


def test_diag_trace_kernel_matches_numpy():
    r, pre, psi, lam, p = _arrays(0)
    B, T, n_pre = pre.shape
    n = psi.shape[2]
    want = np.zeros((B, n_pre, n))
    for b in range(B):
        ev, ea, dz = (np.zeros((n_pre, n)) for _ in range(3))
        for t in range(T):
            ea = p["rho"] * ea + dz
            ev = p["alpha"] * ev + p["d"] * dz + p["zeta"] * pre[b, t][:, None]
            dz = psi[b, t] * (ev - p["beta"] * ea)
            want[b] += lam[b, t] * dz
    g = np.ones((B, n_pre, n))
    scratch = [r.standard_normal((B, n_pre, n)) for _ in range(3)]
    KD.diag_trace_grad(pre, psi, lam, p["alpha"], p["zeta"], p["beta"], p["rho"], p["d"],
                       *scratch, g)
    np.testing.assert_allclose(g - 1.0, want, rtol=1e-12, atol=1e-13)


def test_rflo_kernel_matches_numpy():
    r, pre, psi, lam, p = _arrays(1)
    B, T, n_pre = pre.shape
    n = psi.shape[2]
    want = np.zeros((B, n_pre, n))
    for b in range(B):
        tr = np.zeros((n_pre, n))
        for t in range(T):
            tr = p["alpha"] * tr + np.outer(pre[b, t], p["zeta"] * psi[b, t])
            want[b] += lam[b, t] * tr
    g = np.zeros((B, n_pre, n))
    KR.rflo_grad(pre, psi, lam, p["alpha"], p["zeta"], r.standard_normal((B, n_pre, n)), g)
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-13)
