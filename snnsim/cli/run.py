"""``snnsim run CONFIG.toml --out run.h5``: simulate a config and stream the output to HDF5.

The config is validated and the network built before the output file is created, so a
bad config never leaves a file behind. Spikes (SONATA ``/spikes/<layer>``), dense reports
(``/report/<layer>/<var>``) and the readout (``/report/readout/y``) are written block by
block and flushed, so a killed run leaves a readable file. The file also holds the config
and the weights (``/weights``); ``--weights TRAIN.h5`` simulates with the weights of
another file (e.g. a trained network); ``snnsim run TRAIN.h5`` simulates a training file
itself (its stored config, including ``[input]``, and its weights: the same output as
``snnsim run CONFIG.toml --weights TRAIN.h5`` with the config it was trained from).
``--record-input`` records the input spikes. On divergence the file is kept
(status ``diverged``) and the exit code is 1; SIGINT/SIGTERM close the file (status
``interrupted``) and exit with 130/143.
"""
import sys
import time
from pathlib import Path

import click
import h5py

from ..config import build, load_config
from ..errors import ConfigError, DivergenceError
from ..io.output import open_output
from ..io.size import check_output_size, run_output_bytes
from ..trained import file_config, set_weights_from
from .signals import Interrupted, stop_on_signals
from .options import (RunFailed, UserError, max_output_option, one_line, out_option,
                      overwrite_option, quiet_option, seed_option, steps_option, user_errors)


def print_summary(built, summary, wall, out):
    net = built.network
    for layer, spikes, rate in zip(net.layers, summary["spikes"], summary["rate_hz"]):
        click.echo(f"{layer.name}: {layer.n} neurons, {spikes} spikes, mean rate {rate:.2f} Hz")
    sim_ms = summary["steps"] * net.dt
    click.echo(f"simulated {summary['steps']} steps x {summary['batch']} batch "
               f"({sim_ms / 1000:.3f} s) in {wall:.2f} s wall time")
    click.echo(f"output: {out}")


def simulate(built, out, stop, *, overwrite, quiet, compression=None, record_input=False,
             weights_from=None):
    """Create ``out``, simulate with a progress bar, stream to it; returns (summary, wall s)."""
    cfg = built.config
    stop.check()
    with user_errors():
        writer, recorder = open_output(
            out, built.network, cfg.data, batch=built.batch, record=cfg["record"],
            record_input=record_input, overwrite=overwrite, compression=compression,
            input_is_spikes=cfg["input"]["type"] != "current",
            inputs=[p for p in (cfg.path, weights_from) if p is not None])
    if weights_from is not None:
        writer.set_attrs("/", weights_from=str(weights_from))
    with writer:
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


def load_run_config(source, overrides):
    """The validated config of ``snnsim run SOURCE``: a TOML config, or the config stored in
    an HDF5 output file (e.g. a training run; then its weights are used too)."""
    if not h5py.is_hdf5(source):
        return load_config(source, overrides=overrides), None
    cfg = file_config(source, overrides=overrides)
    if "input" not in cfg.data:
        raise ConfigError("input", f"{source} stores no [input] section to simulate; give a "
                                   f"config with one: snnsim run CONFIG.toml --weights {source}")
    return cfg, source


@click.command()
@click.argument("config", metavar="CONFIG.toml|TRAIN.h5",
                type=click.Path(exists=True, dir_okay=False, readable=True))
@out_option
@steps_option
@seed_option
@click.option("--weights", "weights", metavar="TRAIN.h5", default=None,
              type=click.Path(exists=True, dir_okay=False),
              help="Use the weights stored in this file (e.g. of 'snnsim train'); the "
                   "network of CONFIG.toml must have the same layers and sizes. Default "
                   "with TRAIN.h5: its own weights.")
@click.option("--record-input", is_flag=True, default=False,
              help="Also record the input spikes (population 'input').")
@click.option("--compression", type=click.Choice(["none", "gzip", "lzf"]), default="none",
              show_default=True,
              help="Compression of the spike and report datasets (stock SONATA readers "
                   "such as the libsonata wheel read only 'none').")
@overwrite_option
@max_output_option
@quiet_option
def command(config, out, steps, seed, weights, record_input, compression, overwrite, max_output,
            quiet):
    """Simulate CONFIG.toml (or the trained network of TRAIN.h5) and write spikes and
    reports to an HDF5 file.

    The file holds the config, the weights, spikes in SONATA layout and the reports of
    [record]; see 'snnsim info RUN.h5'. Given an output file TRAIN.h5 (e.g. of 'snnsim
    train') instead of a config, its stored config (which needs an [input] section) and
    its weights are used: the same output as 'snnsim run CONFIG.toml --weights TRAIN.h5'.
    Relative input paths of a stored config are relative to the folder of TRAIN.h5.
    """
    with stop_on_signals() as stop:
        try:
            with user_errors():
                cfg, stored_in = load_run_config(config, {"input.steps": steps,
                                                          "network.seed": seed})
                built = build(cfg)
                weights = weights if weights is not None else stored_in
                if weights is not None:
                    set_weights_from(built.network, weights)
            out_path = Path(out)
            if out_path.exists() and not overwrite:
                raise UserError(f"output file {out} already exists; pass --overwrite to replace it")
            if out_path.resolve() == Path(config).resolve():
                raise UserError(f"--out {out} would overwrite {config}")
            with user_errors():
                cfg = built.config
                check_output_size(out, run_output_bytes(
                    cfg.data, steps=built.steps, batch=built.batch,
                    record_input=record_input or cfg["record"].get("input", False)), max_output)
            summary, wall = simulate(built, out_path, stop, overwrite=overwrite, quiet=quiet,
                                     compression=None if compression == "none" else compression,
                                     record_input=record_input, weights_from=weights)
        except Interrupted as exc:
            kept = getattr(exc, "kept", None)
            click.echo(f"interrupted by {exc.signame}"
                       + (f"; output so far kept in {kept}" if kept else ""), err=True)
            raise click.exceptions.Exit(exc.exit_code) from None
    if not quiet:
        print_summary(built, summary, wall, out)
