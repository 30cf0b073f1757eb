"""``snnsim train CONFIG.toml --out train.h5``: train a network on a bundled task.

Per-iteration loss/accuracy/rates go to ``/training`` while training runs, checkpoints
(weights, optimiser and generator states) to ``/checkpoint`` every ``train.checkpoint_every``
iterations; ``--resume train.h5`` continues from the last checkpoint, in place, and ends
bit-identical to a run that was never interrupted. At the end the final weights go to
``/weights`` and one recorded evaluation batch (spikes, v, A, readout, target) to
``/spikes`` and ``/report`` for ``snnsim plot``.

``--mpi`` (under ``mpiexec -n K``): data-parallel training (see :mod:`snnsim.parallel`);
every rank runs the same loop on its shard of each batch, rank 0 alone writes the file,
prints and shows the progress bar. With ``--resume`` every rank reads the checkpoint
(rank 0 first, then the others), then rank 0 reopens the file for writing.
"""
import contextlib
import json
import sys
import time
from pathlib import Path

import click
import numpy as np

from .._version import __version__
from ..config import build_network, load_config
from ..config_train import make_trainer
from ..errors import ConfigError, DivergenceError
from ..io import H5Writer, Recorder, RecordSpec, open_h5
from ..parallel import MPIComm, RootFailed
from ..io.training import TrainLog, read_checkpoint, save_checkpoint, truncate_log
from .options import (RunFailed, UserError, config_argument, one_line, overwrite_option,
                      quiet_option, seed_option, user_errors)
from .signals import Interrupted, stop_on_signals


def _load(config, iterations, rule, seed):
    cfg = load_config(config, overrides={"train.iterations": iterations, "train.rule": rule,
                                         "network.seed": seed})
    for section in ("task", "train"):
        if section not in cfg.data:
            raise ConfigError(section, f"section is required to train ([{section}])")
    return cfg


def _check_same_run(path, cfg):
    with open_h5(path) as f:
        old = json.loads(f.attrs["config"])
    new = json.loads(cfg.to_json())
    for d in (old, new):
        d.get("train", {}).pop("iterations", None)
    if old != new:
        raise UserError(f"--resume {path}: the file was written with a different config "
                        "(only train.iterations may change)")


@contextlib.contextmanager
def _errors_on_root(comm):
    """Under MPI only rank 0 prints a user error; the other ranks exit with its code."""
    try:
        yield
    except click.ClickException as exc:
        if comm is None or comm.is_root:
            raise
        raise click.exceptions.Exit(exc.exit_code) from None


def _read_checkpoint(comm, resume, cfg, trainer):
    """Check (every field, against ``trainer``: see :func:`read_checkpoint`) and load the
    checkpoint of ``resume``; under MPI rank 0 first (it may repair a killed run's file),
    then the other ranks, read-only."""
    def load():
        state = read_checkpoint(resume, trainer).state()
        _check_same_run(resume, cfg)
        return state
    if comm is None:
        return load()
    state = comm.root_only(load)
    err = None
    if not comm.is_root:
        try:
            state = load()
        except Exception as exc:   # noqa: BLE001 - reported by this rank, the others stop
            err = exc
    if comm.allreduce_sum(np.array(float(err is not None))) > 0:   # also: all files closed
        if err is not None:
            raise err
        raise RootFailed("another rank could not read the checkpoint")
    return state


def record_final(writer, trainer, n_show=8):
    """One evaluation batch recorded for plotting (first trial, first n_show neurons' v/A)."""
    net = trainer.net
    data = (trainer.test_task or trainer.task)(np.random.default_rng(0), 1)
    blocks, y = net.forward(data.inputs[:1])
    sizes = {layer.name: layer.n for layer in net.layers}
    spec = RecordSpec(populations=list(sizes), variables=("v", "A"),
                      neurons={k: list(range(min(n, n_show))) for k, n in sizes.items()})
    rec = Recorder(writer, spec, populations=sizes, batch=1, dt=net.dt)
    rec.add_block(0, {layer.name: blk.record_dict(net, l)
                      for l, (layer, blk) in enumerate(zip(net.layers, blocks))})
    rec.close()
    # uncompressed like every report (SONATA readers lack gzip; see snnsim.io.recorder)
    writer.append("report/readout/y", np.transpose(y, (1, 0, 2)), attrs={"units": "1"},
                  compression=None)
    writer.append("report/readout/target", np.transpose(data.targets[:1], (1, 0, 2)),
                  attrs={"units": "1"}, compression=None)
    writer.append("report/readout/mask", np.transpose(data.mask[:1], (1, 0)), attrs={"units": "1"},
                  compression=None)


@click.command()
@config_argument
@click.option("--out", "-o", metavar="TRAIN.h5", default=None,
              type=click.Path(dir_okay=False, writable=True), help="Output HDF5 file.")
@click.option("--resume", metavar="TRAIN.h5", default=None,
              type=click.Path(exists=True, dir_okay=False),
              help="Continue the run in this file from its last checkpoint (in place).")
@click.option("--iterations", type=click.IntRange(min=1), default=None,
              help="Override train.iterations (total, counting resumed ones).")
@click.option("--rule", default=None, help="Override train.rule (e.g. bptt, eprop, deep-eprop-onehop).")
@click.option("--mpi", is_flag=True, default=False,
              help="Data-parallel over the MPI ranks (run under mpiexec -n K): each rank "
                   "simulates its shard of train.batch; rank 0 writes the file.")
@seed_option
@overwrite_option
@quiet_option
def command(config, out, resume, iterations, rule, seed, overwrite, quiet, mpi):
    """Train the network of CONFIG.toml on its [task] with its [train] settings."""
    if (out is None) == (resume is None):
        raise UserError("give exactly one of --out (new run) or --resume (continue a run)")
    with user_errors():
        comm = MPIComm() if mpi else None
    with _errors_on_root(comm), user_errors():
        root = comm is None or comm.is_root
        quiet = quiet or not root
        cfg = _load(config, iterations, rule, seed)
        if comm is not None:
            comm.global_batch = cfg["train"]["batch"]
            shard = comm.shard(comm.global_batch)          # refuses batch < ranks
            shard_frac = (shard.stop - shard.start) / comm.global_batch
            comm.limit_threads()
        net = build_network(cfg)
        trainer = make_trainer(cfg, net, comm=comm)

        def open_writer():
            if resume:
                w = H5Writer.reopen(resume)
                truncate_log(w.file, trainer.iteration)
                for group in ("spikes", "report", "weights"):   # end-of-run outputs, rewritten
                    if group in w.file:
                        del w.file[group]
                return w
            if Path(out).resolve() == Path(config).resolve():
                raise UserError(f"--out {out} would overwrite the config file")
            return H5Writer(out, dt=net.dt, seed=cfg["network"]["seed"], version=__version__,
                            config_json=cfg.to_json(), overwrite=overwrite,
                            inputs=[config])

        try:
            if resume:
                trainer.load_state(*_read_checkpoint(comm, resume, cfg, trainer))
            writer = open_writer() if comm is None else comm.root_only(open_writer)
        except RootFailed as exc:   # rank 0 reports the error
            raise UserError(str(exc)) from None
    target = resume or out
    tr = cfg["train"]
    t_start = time.perf_counter()
    last = {}
    with stop_on_signals() as stop, (contextlib.nullcontext() if writer is None else writer):
        log = TrainLog(writer) if writer is not None else None

        def on_iteration(rec):
            rates = _rates(trainer)
            if comm is not None:   # shard means -> batch means
                rates = comm.allreduce_sum(np.array(rates) * shard_frac).tolist()
            rates = {f"rate_{k}": v for k, v in zip([layer.name for layer in net.layers], rates)}
            rec = {**rec, **rates}
            if log is not None:
                log.add(rec)
            last.update(rec)

        try:
            with click.progressbar(length=tr["iterations"], label="training", file=sys.stderr,
                                   hidden=quiet or not sys.stderr.isatty(),
                                   item_show_func=lambda _: f"loss {last.get('loss', float('nan')):.4g}") as bar:
                bar.update(trainer.iteration)

                def snapshot():   # the state after the last complete iteration
                    arrays, meta = trainer.state()
                    snap[:] = [({k: np.array(v, copy=True) for k, v in arrays.items()}, meta),
                               trainer.iteration]

                snap = [None, None]
                if writer is not None:
                    snapshot()

                def progress(rec):
                    bar.update(1)
                    if writer is not None:
                        snapshot()
                    if comm is not None:   # rank 0 decides: every rank stops at the same iteration
                        stop.signum = comm.bcast(stop.signum)
                    stop.check()

                trainer.train(tr["iterations"], log=on_iteration, progress=progress,
                              checkpoint=None if writer is None else
                              (lambda t: save_checkpoint(writer, t, log)),
                              checkpoint_every=tr["checkpoint_every"])
        except DivergenceError as exc:
            if writer is None:   # the weights are the same on every rank: rank 0 reports
                raise click.exceptions.Exit(RunFailed.exit_code) from None
            log.flush()
            writer.close(status=f"diverged ({one_line(exc)})")
            raise RunFailed(f"{one_line(exc)}; log up to it kept in {target}") from None
        except Interrupted as exc:
            if writer is None:
                raise click.exceptions.Exit(exc.exit_code) from None
            log.rows = [r for r in log.rows if r["iteration"] <= snap[1]]
            save_checkpoint(writer, trainer, log, state=snap[0])   # whatever checkpoint_every
            writer.close(status=f"interrupted ({exc.signame})")
            click.echo(f"interrupted by {exc.signame}; resume with --resume {target}", err=True)
            raise click.exceptions.Exit(exc.exit_code) from None
        if writer is None:   # not rank 0: the file and the summary are rank 0's
            return
        log.flush()
        if tr["checkpoint_every"]:
            save_checkpoint(writer, trainer, log)
        for name, w in net.weights().items():
            writer.write_dataset(f"weights/{name}", w, units="1")
        test = trainer.test(tr["test_batch"]) if trainer.test_task else {}
        for k, v in test.items():
            writer.set_attrs("/", **{f"test_{k}": v})
        record_final(writer, trainer)
    if not quiet:
        wall = time.perf_counter() - t_start
        acc = f", accuracy {last['accuracy']:.3f}" if "accuracy" in last else ""
        ranks = "" if comm is None else f", {comm.size} MPI rank{'s' * (comm.size != 1)}"
        click.echo(f"{trainer.iteration} iterations ({tr['rule']}{ranks}): final loss "
                   f"{last.get('loss', float('nan')):.5g}{acc}"
                   + ("; stopped early" if trainer.stopped else ""))
        for k, v in test.items():
            click.echo(f"test {k}: {v:.4g}")
        click.echo(f"wall time {wall:.1f} s; output: {target}")


def _rates(trainer):
    """Mean rate (Hz) per layer over the last iteration."""
    if trainer.learner is not None:
        return [float(r.mean()) for r in trainer.learner.rates_hz(sequence=True)]
    return [float("nan")] * len(trainer.net.layers)
