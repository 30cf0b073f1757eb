"""``snnsim bench``: a short performance table (forward throughput, time per gradient per rule).

The full benchmarks, with peers (NEST, PyTorch) measured in the same run, are the scripts
in ``benchmarks/`` of the source tree; this command is the quick look that works after any
install. Kernels are warmed up first; compile time is reported separately.
"""
import time

import click
import numpy as np

from .. import ALIF, LIF, Layer, Network, Readout
from ..learning import run_rule


def _best(fn, reps=3):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def _net(n, layers, rng):
    pops = lambda: [LIF(n // 2, v_th=0.6), ALIF(n - n // 2, v_th=0.6, beta=0.05, tau_a=500.0)]
    return Network(40, [Layer(pops(), w_in_scale=1.0, w_rec_scale=0.5) for _ in range(layers)], Readout(2), rng=rng)


@click.command()
@click.option("--steps", type=click.IntRange(min=10), default=1000, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--sizes", default="100,500", show_default=True, help="Neurons per layer to time.")
def command(steps, batch, sizes):
    """Print forward steps/s and time per gradient (bptt, eprop with both engines, deep e-prop)
    on random nets."""
    from snnsim.kernels import warmup
    t0 = time.perf_counter()
    warmup()
    click.echo(f"kernel warm-up (compile or cache load): {time.perf_counter() - t0:.2f} s")
    try:
        ns = [int(s) for s in sizes.split(",")]
    except ValueError:
        raise click.BadParameter("comma-separated integers, e.g. 100,500", param_hint="--sizes") from None
    rng = np.random.default_rng(0)
    x = (rng.random((batch, steps, 40)) < 0.03).astype(np.float32)
    tg = rng.standard_normal((batch, steps, 2))
    click.echo(f"batch {batch}, T = {steps} steps, float32, 40 Poisson inputs at 30 Hz")
    click.echo("| layers x N | rate Hz | forward steps/s | bptt s | eprop s | eprop (trace engine) s "
               "| deep-eprop-onehop s |")
    click.echo("|---|---|---|---|---|---|---|")
    for n in ns:
        net = _net(n, 2, rng)
        run_rule(net, x[:, :20], tg[:, :20], "eprop")
        t_fwd = _best(lambda: net.run_block(net.init_state(batch), x))
        blocks, _ = net.run_block(net.init_state(batch), x)
        rate = float(np.mean([b.z.mean() for b in blocks])) / net.dt * 1e3
        times = [_best(lambda r=r, kw=kw: run_rule(net, x, tg, r, **kw), reps=2)
                 for r, kw in (("bptt", {}), ("eprop", {}), ("eprop", {"engine": "trace"}),
                               ("deep-eprop-onehop", {}))]
        click.echo(f"| 2 x {n} | {rate:.1f} | {steps / t_fwd:,.0f} | "
                   + " | ".join(f"{t:.3f}" for t in times) + " |")
