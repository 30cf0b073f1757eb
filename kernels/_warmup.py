"""Compile (or load from numba's on-disk cache) every kernel for the signatures the package uses.

The argument types mirror the call sites exactly, so that later calls hit the compiled
specialisations: C-contiguous float32/float64 arrays, int64 ``ref_steps``/``ref``, Python
``bool`` flags (``has_rec``, ``full``, ``need_g_pre``, ``adaptive``, ``use_h``, ``delay``,
``want_esum``), a Python ``int`` surrogate id, and numpy scalars of the network dtype for
``sigma``, ``kappa``, ``a_hat`` and ``a_shared`` (``snnsim/network.py``,
``snnsim/learning/bptt.py``, ``snnsim/learning/eprop.py``, ``snnsim/learning/eprop_window.py``).
"""
import numpy as np

from . import bptt, eprop, eprop_lazy, eprop_m1, eprop_window, forward
from ._jit import versions

DTYPES = (np.float32, np.float64)


def _forward(dt, B=1, K=2, n_pre=2, n=2, n_out=1):
    z = lambda *s: np.zeros(s, dt)
    x = np.ones((B, K, n_pre), dt)
    par = np.ones(n, dt)
    zo, vo, ao, po = z(B, K, n), z(B, K, n), z(B, K, n), z(B, K, n)
    forward.layer_run(x, z(n_pre, n), z(n, n), True, par * dt(0.9), par, par, z(n), par,
                      par * dt(0.3), np.zeros(n, np.int64), forward.SURROGATE_PIECEWISE, dt(0.1),
                      z(B, n), z(B, n), z(B, n), np.zeros((B, n), np.int64), zo, vo, ao, po)
    forward.readout_run(zo, z(n, n_out), np.ones(n_out, dt), z(B, n_out), z(B, K, n_out))


def _bptt(dt, B=1, T=2, n_pre=2, n=2):
    z = lambda *s: np.zeros(s, dt)
    par = np.ones(n, dt)
    bptt.layer_backward(z(B, T, n_pre), z(B, T, n), z(B, T, n), z(1, B, T, n), z(n_pre, n),
                        z(n, n), True, par, par, par, z(n), par, True, True,
                        z(B, n_pre, n), z(B, n, n), z(1, B, T, n_pre), False)


def _eprop(dt, B=1, K=2, n_pre=2, n=2, n_out=1):
    z = lambda *s: np.zeros(s, dt)
    par = np.ones(n, dt)
    s3 = (B, n, n_pre)
    for local in ((), (par,)):   # reset "detach", reset "local" (v_th)
        eprop.eprop_layer_block(z(B, K, n_pre), z(B, K, n), z(B, K, n), par, par, z(n), par,
                                dt(0.5), True, True, dt(0.5), False, True, z(B, n), z(*s3),
                                z(*s3), z(*s3), z(*s3), z(*s3), z(*s3), *local)
    eprop.readout_grad_block(z(B, K, n), z(B, K, n_out), dt(0.5), z(B, n), z(B, n, n_out))
    eprop_m1.eprop_m1_block(z(B, K, n_pre), z(B, K, n), z(B, K, n), z(B, K, n, n_out),
                            z(B, K, n_out), par, par, par[0], dt(0.5), z(B, n), z(*s3), z(*s3),
                            z(*s3), z(*(s3 + (n_out,))), z(*s3))
    for local in ((), (par, z(*s3))):   # reset "detach", reset "local" (v_th, deviation)
        eprop_lazy.eprop_lazy_block(z(B, K, n_pre), z(B, K, n), z(B, K, n), par[0], par, z(n),
                                    par, dt(0.5), True, True, z(B, n), z(B, n_pre), z(*s3),
                                    z(*s3), z(*s3), z(*s3), *local)


def _window(dt, B=1, K=2, n=2, m=2):
    z = lambda *s: np.zeros(s, dt)
    par = np.ones(n, dt)
    common = (z(B, K, n), z(B, K, n), z(B, n), dt(1.0), z(B, n), par, par, z(n), par, dt(0.5),
              dt(0.5), True, False, z(B, n, 4))
    for local in ((), (par,)):   # reset "detach", reset "local" (v_th)
        eprop_window.adjoint_window(*common, z(B, K, n), *local)
        eprop_window.adjoint_events(*common, z(B, K, m), z(B, K, n), z(B, n), z(B, m + n, n),
                                    *local)
    eprop_window.advance_trace(z(B, K, m), dt(0.5), z(B, m))
    eprop_window.lowrank_signal(z(B, K, 1), z(n, 1), z(B, K, n))


def run(dtypes=DTYPES):
    """Compile or load every kernel for each dtype (threaded kernels in both versions);
    returns {kernel name: number of signatures}."""
    with versions("both"):
        for dt in dtypes:
            dt = np.dtype(dt).type
            _forward(dt)
            _bptt(dt)
            _eprop(dt)
            _window(dt)
    kernels = {"forward.layer_run": forward.layer_run, "forward.readout_run": forward.readout_run,
               "bptt.layer_backward": bptt.layer_backward,
               "eprop.eprop_layer_block": eprop.eprop_layer_block,
               "eprop.readout_grad_block": eprop.readout_grad_block,
               "eprop_m1.eprop_m1_block": eprop_m1.eprop_m1_block,
               "eprop_lazy.eprop_lazy_block": eprop_lazy.eprop_lazy_block,
               "eprop_window.adjoint_window": eprop_window.adjoint_window,
               "eprop_window.adjoint_events": eprop_window.adjoint_events,
               "eprop_window.advance_trace": eprop_window.advance_trace,
               "eprop_window.lowrank_signal": eprop_window.lowrank_signal}
    return {name: len(k.signatures) for name, k in kernels.items()}
