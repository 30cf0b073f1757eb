"""``snnsim run CONFIG.toml --out run.h5``: simulate a config and stream the output to HDF5.

The config is validated and the network built before the output file is created, so a
bad config never leaves a file behind. Spikes (SONATA ``/spikes/<layer>``), dense reports
(``/report/<layer>/<var>``) and the readout (``/report/readout/y``) are written block by
block and flushed, so a killed run leaves a readable file. On divergence the file is kept
(status ``diverged``) and the exit code is 1; SIGINT/SIGTERM close the file (status
``interrupted``) and exit with 130/143.
"""
import sys
import time
from pathlib import Path

import click

from .._version import __version__
from ..config import build, load_config
from ..errors import DivergenceError
from ..io import H5Writer, Recorder, RecordSpec
from .signals import Interrupted, stop_on_signals
from .options import (RunFailed, UserError, config_argument, one_line, out_option,
                      overwrite_option, quiet_option, seed_option, steps_option, user_errors)

class Recorders:
    """Hands every block to several recorders (layers and readout record different variables)."""

    def __init__(self, recorders):
        self.recorders = list(recorders)

    def add_block(self, t0, data):
        for rec in self.recorders:
            rec.add_block(t0, data)

    def close(self):
        for rec in self.recorders:
            rec.close()


def make_recorder(writer, built):
    """Recorders for the ``[record]`` section of ``built.config``."""
    rec, net = built.config["record"], built.network
    sizes = {layer.name: layer.n for layer in net.layers}
    pops = list(sizes) if rec["populations"] == "all" else rec["populations"]
    kw = dict(batch=built.batch, dt=net.dt, buffer_steps=rec["buffer_steps"])
    recorders = []
    if pops and (rec["variables"] or rec["spikes"]):
        spec = RecordSpec(populations=pops, variables=tuple(rec["variables"]),
                          neurons=rec["neurons"] or None, every=rec["every"], spikes=rec["spikes"])
        recorders.append(Recorder(writer, spec, populations=sizes, **kw))
    if rec["readout"]:
        spec = RecordSpec(populations=["readout"], variables=("y",), every=rec["every"],
                          spikes=False)
        recorders.append(Recorder(writer, spec, populations={"readout": net.readout.n}, **kw))
    return Recorders(recorders)


def print_summary(built, summary, wall, out):
    net = built.network
    for layer, spikes, rate in zip(net.layers, summary["spikes"], summary["rate_hz"]):
        click.echo(f"{layer.name}: {layer.n} neurons, {spikes} spikes, mean rate {rate:.2f} Hz")
    sim_ms = summary["steps"] * net.dt
    click.echo(f"simulated {summary['steps']} steps x {summary['batch']} batch "
               f"({sim_ms / 1000:.3f} s) in {wall:.2f} s wall time")
    click.echo(f"output: {out}")


def simulate(built, out, stop, *, overwrite, quiet):
    """Create ``out``, simulate with a progress bar, stream to it; returns (summary, wall s)."""
    cfg = built.config
    stop.check()
    with user_errors():
        writer = H5Writer(out, dt=built.network.dt, seed=cfg["network"]["seed"],
                          version=__version__, config_json=cfg.to_json(), overwrite=overwrite,
                          inputs=[cfg.path])
    with writer:
        recorder = make_recorder(writer, built)
        t0 = time.perf_counter()
        with click.progressbar(length=built.steps, label="simulating", file=sys.stderr,
                               hidden=quiet or not sys.stderr.isatty()) as bar:
            def progress(k):
                bar.update(k)
                stop.check()

            try:
                summary = built.network.simulate(
                    built.source, steps=built.steps, batch=built.batch, recorder=recorder,
                    block=cfg["record"]["block"], rng=built.rng, progress=progress)
            except DivergenceError as exc:
                writer.close(status=f"diverged ({one_line(exc)})")
                raise RunFailed(f"{one_line(exc)}; output up to that block kept in {out}") from None
            except Interrupted as exc:
                writer.close(status=f"interrupted ({exc.signame})")
                exc.kept = out
                raise
        recorder.close()
    return summary, time.perf_counter() - t0


@click.command()
@config_argument
@out_option
@steps_option
@seed_option
@overwrite_option
@quiet_option
def command(config, out, steps, seed, overwrite, quiet):
    """Simulate CONFIG.toml and write spikes and reports to an HDF5 file."""
    with stop_on_signals() as stop:
        try:
            with user_errors():
                built = build(load_config(config, overrides={"input.steps": steps,
                                                             "network.seed": seed}))
            out_path = Path(out)
            if out_path.exists() and not overwrite:
                raise UserError(f"output file {out} already exists; pass --overwrite to replace it")
            if out_path.resolve() == Path(config).resolve():
                raise UserError(f"--out {out} would overwrite the config file")
            summary, wall = simulate(built, out_path, stop, overwrite=overwrite, quiet=quiet)
        except Interrupted as exc:
            kept = getattr(exc, "kept", None)
            click.echo(f"interrupted by {exc.signame}"
                       + (f"; output so far kept in {kept}" if kept else ""), err=True)
            raise click.exceptions.Exit(exc.exit_code) from None
    if not quiet:
        print_summary(built, summary, wall, out)
