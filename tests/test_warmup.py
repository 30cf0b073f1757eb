"""``snnsim.kernels.warmup()`` compiles every kernel, with the signatures the package really uses."""
import subprocess
import sys
import textwrap

import pytest

import snnsim.kernels


def test_warmup_runs():
    snnsim.kernels.warmup()                      # the public entry point
    from snnsim.kernels import _warmup
    counts = _warmup.run()
    assert set(counts) == {"forward.layer_run", "forward.readout_run", "bptt.layer_backward",
                           "eprop.eprop_layer_block", "eprop.readout_grad_block",
                           "eprop_m1.eprop_m1_block", "eprop_lazy.eprop_lazy_block",
                           "eprop_window.adjoint_window", "eprop_window.adjoint_events",
                           "eprop_window.advance_trace", "eprop_window.lowrank_signal"}
    assert all(c >= 2 for c in counts.values()), counts      # float32 and float64


SCRIPT = textwrap.dedent(r"""
    import numpy as np
    import snnsim
    from snnsim.kernels import _warmup, forward, bptt, eprop, eprop_lazy, eprop_m1, eprop_window
    from snnsim.learning import bptt as run_bptt, eprop as run_eprop

    _warmup.run()
    kernels = [forward.layer_run, forward.readout_run, bptt.layer_backward,
               eprop.eprop_layer_block, eprop.readout_grad_block, eprop_m1.eprop_m1_block,
               eprop_lazy.eprop_lazy_block, eprop_window.adjoint_window,
               eprop_window.adjoint_events, eprop_window.advance_trace,
               eprop_window.lowrank_signal]
    before = [set(k.signatures) for k in kernels]

    for dtype in ("float32", "float64"):
        rng = np.random.default_rng(0)
        deep = snnsim.Network(3, [snnsim.Layer([snnsim.LIF(3, t_ref=2.0), snnsim.ALIF(2)]),
                                  snnsim.Layer([snnsim.LIF(4)], recurrent=False, delay=True)],
                              snnsim.Readout(2), dtype=dtype, rng=1)
        single = snnsim.Network(3, [snnsim.Layer([snnsim.LIF(4)])], snnsim.Readout(2),
                                dtype=dtype, rng=2)
        smooth = snnsim.Network(3, [snnsim.Layer([snnsim.ALIF(4)])], snnsim.Readout(2),
                                dtype=dtype, surrogate="smooth", rng=3)
        x = (rng.random((2, 12, 3)) < 0.4).astype(float)
        tg = rng.standard_normal((2, 12, 2))
        for net in (deep, single, smooth):
            net.forward(x)
            run_bptt(net, x, tg)
            run_bptt(net, x, tg, order=1)
            for engine in ("window", "trace"):
                run_eprop(net, x, tg, block=5, engine=engine)
                run_eprop(net, x, tg, block=5, depth="onehop", c_reg=0.1, engine=engine)
            # windows of 3 steps: carried traces, per-trial sums, the dense (BLAS) product
            run_eprop(net, x, tg, block=3, c_reg=0.1, window_mb=1e-4)
            run_eprop(net, (x > 0) * 0.7 + 0.1, tg, block=5)
        run_eprop(single, x, tg, block=5, order=1)
        deep.simulate(snnsim.PoissonInput(50.0, 3), steps=20, batch=2, block=7,
                      rng=np.random.default_rng(4))

    new = [sorted(map(str, set(k.signatures) - b)) for k, b in zip(kernels, before)]
    extra = {k.py_func.__name__: s for k, s in zip(kernels, new) if s}
    assert not extra, f"signatures not covered by warmup: {extra}"
    print("OK")
""")


@pytest.mark.slow
def test_warmup_covers_the_signatures_used_by_the_package(tmp_path):
    """In a fresh process: after warmup, forward/BPTT/e-prop runs compile nothing new."""
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "OK" in res.stdout
