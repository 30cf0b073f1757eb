"""``snnsim train CONFIG.toml --out train.h5``: train a network on a bundled task.

Per-iteration loss/accuracy/rates go to ``/training`` while training runs, checkpoints
(weights, optimiser and generator states) to ``/checkpoint`` every ``train.checkpoint_every``
iterations; ``--resume train.h5`` continues from the last checkpoint, in place, and ends
bit-identical to a run that was never interrupted. At the end the final weights go to
``/weights`` (and a last checkpoint, so that ``--resume`` with more iterations can extend
any finished run) and one recorded evaluation batch (spikes, v, A, readout, target) to
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

from .. import interrupt
from .._version import __version__
from ..config import build_network, load_config
from ..config_train import make_trainer
from ..errors import ConfigError, DivergenceError
from ..trained import file_config, stored_config
from ..io import H5Writer, Recorder, RecordSpec, open_h5
from ..parallel import MPIComm, RootFailed
from ..io.recorder import write_weights
from ..io.training import TrainLog, read_checkpoint, save_checkpoint, truncate_log
from ..io.size import check_output_size, train_output_bytes
from .options import (RunFailed, UserError, max_output_option, one_line, overwrite_option,
                      quiet_option, seed_option, user_errors)
from .signals import Interrupted, stop_on_signals


#: train.* fields that may differ between the file and a config given with --resume
RESUME_MAY_CHANGE = ("iterations", "checkpoint_every")
#: sections that define a training run (compared on --resume; [input]/[record] are not used)
RUN_SECTIONS = ("network", "layer", "readout", "task", "train")


def _require_train(cfg):
    for section in ("task", "train"):
        if section not in cfg.data:
            raise ConfigError(section, f"section is required to train ([{section}])")
    return cfg


def _first_difference(old, new, path=""):
    """``(dotted field, old value, new value)`` of the first difference, or None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                return sub, old.get(key, "(not set)"), new.get(key, "(not set)")
            diff = _first_difference(old[key], new[key], sub)
            if diff is not None:
                return diff
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            diff = _first_difference(a, b, f"{path}.{i}")
            if diff is not None:
                return diff
        return None
    return None if old == new else (path, old, new)


def _run_part(cfg):
    """The sections of a validated config that define the training run, as plain JSON data
    (without the fields that may change on resume)."""
    data = json.loads(cfg.to_json())
    out = {k: data[k] for k in RUN_SECTIONS if k in data}
    for key in RESUME_MAY_CHANGE:
        out.get("train", {}).pop(key, None)
    return out


def _load(config, resume, iterations, rule, seed, comm=None):
    """The validated config of a new run (CONFIG.toml) or of a resumed one (the config stored
    in the file; a CONFIG.toml given too must define the same run)."""
    overrides = {"train.iterations": iterations, "train.rule": rule, "network.seed": seed}
    if resume is None:
        return _require_train(load_config(config, overrides=overrides))
    if comm is not None:   # rank 0 first (opening may repair a killed run's file), then the others
        comm.root_only(lambda: stored_config(resume))
    stored = _require_train(file_config(resume, sections=RUN_SECTIONS))
    if config is None:
        where = "on the command line"
        cfg = _require_train(file_config(resume, sections=RUN_SECTIONS, overrides=overrides))
    else:
        where = f"in {config}"
        cfg = _require_train(load_config(config, overrides=overrides))
    diff = _first_difference(_run_part(stored), _run_part(cfg))
    if diff is not None:
        field, old, new = diff
        raise UserError(f"--resume {resume}: different config: {field} is {json.dumps(old)} in "
                        f"the file but {json.dumps(new)} {where} (only train.iterations and "
                        "train.checkpoint_every may change on resume)")
    return cfg


def _nothing_to_do(resume, cfg, done, iterations):
    """True if the resumed run of ``resume`` is complete at ``done`` = train.iterations;
    a one-line error if train.iterations is below ``done``."""
    total = cfg["train"]["iterations"]
    if total < done:
        what = f"--iterations {iterations}" if iterations is not None else \
            f"train.iterations = {total}"
        raise UserError(f"{what} is below the {done} iterations already done in {resume}; "
                        f"give --iterations N with N > {done} to train further")
    if total > done:
        return False
    with open_h5(resume) as f:
        return f.attrs.get("status") == "complete"   # else: write the end-of-run outputs


@contextlib.contextmanager
def _errors_on_root(comm):
    """Under MPI only rank 0 prints a user error; the other ranks exit with its code."""
    try:
        yield
    except click.ClickException as exc:
        if comm is None or comm.is_root:
            raise
        raise click.exceptions.Exit(exc.exit_code) from None


def _read_checkpoint(comm, resume, trainer):
    """Check (every field, against ``trainer``: see :func:`read_checkpoint`) and load the
    checkpoint of ``resume``; under MPI rank 0 first (it may repair a killed run's file),
    then the other ranks, read-only."""
    def load():
        return read_checkpoint(resume, trainer).state()
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
@click.argument("config", metavar="[CONFIG.toml]", required=False, default=None,
                type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--out", "-o", metavar="TRAIN.h5", default=None,
              type=click.Path(dir_okay=False, writable=True),
              help="Output HDF5 file of a new run (needs CONFIG.toml).")
@click.option("--resume", metavar="TRAIN.h5", default=None,
              type=click.Path(exists=True, dir_okay=False),
              help="Continue the run in this file from its last checkpoint (in place), with "
                   "the config stored in it; a CONFIG.toml given too must define the same "
                   "run except train.iterations and train.checkpoint_every.")
@click.option("--iterations", type=click.IntRange(min=1), default=None,
              help="Override train.iterations (total, counting resumed ones); with --resume "
                   "it may not be below the iterations already done.")
@click.option("--rule", default=None, help="Override train.rule (e.g. bptt, eprop, deep-eprop-onehop).")
@click.option("--mpi", is_flag=True, default=False,
              help="Data-parallel over the MPI ranks (run under mpiexec -n K): each rank "
                   "simulates its shard of train.batch; rank 0 writes the file.")
@seed_option
@overwrite_option
@max_output_option
@quiet_option
def command(config, out, resume, iterations, rule, seed, overwrite, max_output, quiet, mpi):
    """Train the network of CONFIG.toml on its [task] with its [train] settings.

    \b
    New run:      snnsim train CONFIG.toml --out TRAIN.h5
    Continue one: snnsim train --resume TRAIN.h5 [--iterations N]

    --resume continues in place from the file's last checkpoint (an interrupted or finished
    run always has one) and ends bit-identical to an uninterrupted run. It uses the config stored in
    the file; if CONFIG.toml is given too, it must validate to the same run (the first
    differing field is named, exit code 2): only train.iterations and
    train.checkpoint_every may change (the stored config is updated), --rule and --seed
    may not. The total iterations (train.iterations or --iterations) may not be below those
    already done (exit code 2); equal to them, there is nothing to do and the file is left
    as it is.
    """
    if (out is None) == (resume is None):
        raise UserError("give exactly one of --out (new run) or --resume (continue a run)")
    if out is not None and config is None:
        raise UserError("a new run needs CONFIG.toml (snnsim train CONFIG.toml --out TRAIN.h5)")
    with user_errors():
        comm = MPIComm() if mpi else None
    with _errors_on_root(comm), user_errors():
        root = comm is None or comm.is_root
        quiet = quiet or not root
        cfg = _load(config, resume, iterations, rule, seed, comm)
        if comm is not None:
            comm.global_batch = cfg["train"]["batch"]
            shard = comm.shard(comm.global_batch)          # refuses batch < ranks
            shard_frac = (shard.stop - shard.start) / comm.global_batch
            comm.limit_threads()
        grow = train_output_bytes(cfg.data) - (Path(resume).stat().st_size if resume else 0)
        check_output_size(resume or out, max(0, grow), max_output, hint="fewer train.iterations")
        net = build_network(cfg)
        trainer = make_trainer(cfg, net, comm=comm)

        def open_writer():
            if resume:
                w = H5Writer.reopen(resume)
                truncate_log(w.file, trainer.iteration)
                for group in ("spikes", "report", "weights"):   # end-of-run outputs, rewritten
                    if group in w.file:
                        del w.file[group]
                stored = json.loads(w.file.attrs["config"])
                stored["train"].update({k: cfg["train"][k] for k in RESUME_MAY_CHANGE})
                w.set_attrs("/", config=json.dumps(stored, sort_keys=True))
                return w
            if Path(out).resolve() == Path(config).resolve():
                raise UserError(f"--out {out} would overwrite the config file")
            return H5Writer(out, dt=net.dt, seed=cfg["network"]["seed"], version=__version__,
                            config_json=cfg.to_json(), overwrite=overwrite,
                            inputs=[config])

        try:
            if resume:
                trainer.load_state(*_read_checkpoint(comm, resume, trainer))
                if _nothing_to_do(resume, cfg, trainer.iteration, iterations):
                    if not quiet:
                        click.echo(f"{resume}: all {trainer.iteration} iterations are done; "
                                   "nothing to do (give --iterations N above "
                                   f"{trainer.iteration} to train further)")
                    return
            writer = open_writer() if comm is None else comm.root_only(open_writer)
        except RootFailed as exc:   # rank 0 reports the error
            raise UserError(str(exc)) from None
    target = resume or out
    tr = cfg["train"]
    t_start = time.perf_counter()
    last = {}
    with stop_on_signals() as stop, (contextlib.nullcontext() if writer is None else writer):
        interrupt.inner_checks(comm is None)   # under MPI: only between iterations (no hang)
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
                    if comm is not None:   # a signal on any rank: all stop at this iteration
                        agreed = comm.first_signal(stop.signum)
                        if agreed is None:   # one arriving during the exchange stays recorded
                            return           # here and is shared at the next iteration
                        stop.signum = agreed
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
        save_checkpoint(writer, trainer, log)   # whatever checkpoint_every: --resume can extend it
        write_weights(writer, net)   # weights (and sparse layers' connectivity)
        interrupt.inner_checks(True)   # the test runs on rank 0 alone
        try:
            test = trainer.test(tr["test_batch"]) if trainer.test_task else {}
        except Interrupted as exc:   # training is complete (checkpoint saved): no test scores
            writer.close(status=f"interrupted ({exc.signame})")
            click.echo(f"interrupted by {exc.signame} during the final test evaluation; trained "
                       f"weights kept in {target} (no test scores)", err=True)
            raise click.exceptions.Exit(exc.exit_code) from None
        for k, v in test.items():
            writer.set_attrs("/", **{f"test_{k}": v})
        record_final(writer, trainer)
    if not quiet:
        wall = time.perf_counter() - t_start
        acc = f", accuracy {last['accuracy']:.3f}" if "accuracy" in last else ""
        ranks = "" if comm is None else f", {comm.size} MPI rank{'s' * (comm.size != 1)}"
        if "loss" in last:
            click.echo(f"{trainer.iteration} iterations ({tr['rule']}{ranks}): final loss "
                       f"{last['loss']:.5g}{acc}" + ("; stopped early" if trainer.stopped else ""))
        else:   # resumed after the last iteration, before the end-of-run outputs
            click.echo(f"{trainer.iteration} iterations ({tr['rule']}{ranks}) were already "
                       "done; end-of-run outputs written")
        for k, v in test.items():
            click.echo(f"test {k}: {v:.4g}")
        click.echo(f"wall time {wall:.1f} s; output: {target}")


def _rates(trainer):
    """Mean rate (Hz) per layer over the last iteration."""
    if trainer.learner is not None:
        return [float(r.mean()) for r in trainer.learner.rates_hz(sequence=True)]
    return [float("nan")] * len(trainer.net.layers)
