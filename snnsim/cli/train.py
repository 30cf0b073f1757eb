"""``snnsim train CONFIG.toml --out train.h5``: train a network on a bundled task.

Per-iteration loss/accuracy/rates go to ``/training`` while training runs, checkpoints
(weights, optimiser and generator states) to ``/checkpoint`` every ``train.checkpoint_every``
iterations; ``--resume train.h5`` continues from the last checkpoint, in place, and ends
bit-identical to a run that was never interrupted. At the end the final weights go to
``/weights`` and one recorded evaluation batch (spikes, v, A, readout, target) to
``/spikes`` and ``/report`` for ``snnsim plot``.
"""
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
from ..training_io import TrainLog, load_checkpoint, save_checkpoint, truncate_log
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


def record_final(writer, trainer, n_show=8):
    """One evaluation batch recorded for plotting (first trial, first n_show neurons' v/A)."""
    net = trainer.net
    data = (trainer.test_task or trainer.task)(np.random.default_rng(0))
    blocks, y = net.forward(data.inputs[:1])
    sizes = {layer.name: layer.n for layer in net.layers}
    spec = RecordSpec(populations=list(sizes), variables=("v", "A"),
                      neurons={k: list(range(min(n, n_show))) for k, n in sizes.items()})
    rec = Recorder(writer, spec, populations=sizes, batch=1, dt=net.dt)
    rec.add_block(0, {layer.name: blk.record_dict(net, l)
                      for l, (layer, blk) in enumerate(zip(net.layers, blocks))})
    rec.close()
    writer.append("report/readout/y", np.transpose(y, (1, 0, 2)), attrs={"units": "1"})
    writer.append("report/readout/target", np.transpose(data.targets[:1], (1, 0, 2)),
                  attrs={"units": "1"})
    writer.append("report/readout/mask", np.transpose(data.mask[:1], (1, 0)), attrs={"units": "1"})


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
@seed_option
@overwrite_option
@quiet_option
def command(config, out, resume, iterations, rule, seed, overwrite, quiet):
    """Train the network of CONFIG.toml on its [task] with its [train] settings."""
    if (out is None) == (resume is None):
        raise UserError("give exactly one of --out (new run) or --resume (continue a run)")
    with user_errors():
        cfg = _load(config, iterations, rule, seed)
        net = build_network(cfg)
        trainer = make_trainer(cfg, net)
        if resume:
            _check_same_run(resume, cfg)
            trainer.load_state(*load_checkpoint(resume))
            writer = H5Writer.reopen(resume)
            truncate_log(writer.file, trainer.iteration)
            for group in ("spikes", "report", "weights"):   # end-of-run outputs, rewritten
                if group in writer.file:
                    del writer.file[group]
        else:
            if Path(out).resolve() == Path(config).resolve():
                raise UserError(f"--out {out} would overwrite the config file")
            writer = H5Writer(out, dt=net.dt, seed=cfg["network"]["seed"], version=__version__,
                              config_json=cfg.to_json(), overwrite=overwrite)
    target = resume or out
    tr = cfg["train"]
    t_start = time.perf_counter()
    last = {}
    with stop_on_signals() as stop, writer:
        log = TrainLog(writer)

        def on_iteration(rec):
            rates = {f"rate_{k}": v for k, v in zip(
                [layer.name for layer in net.layers], _rates(trainer))}
            rec = {**rec, **rates}
            log.add(rec)
            last.update(rec)

        try:
            with click.progressbar(length=tr["iterations"], label="training", file=sys.stderr,
                                   hidden=quiet or not sys.stderr.isatty(),
                                   item_show_func=lambda _: f"loss {last.get('loss', float('nan')):.4g}") as bar:
                bar.update(trainer.iteration)

                def progress(rec):
                    bar.update(1)
                    stop.check()

                trainer.train(tr["iterations"], log=on_iteration, progress=progress,
                              checkpoint=lambda t: save_checkpoint(writer, t, log),
                              checkpoint_every=tr["checkpoint_every"])
        except DivergenceError as exc:
            log.flush()
            writer.close(status=f"diverged ({one_line(exc)})")
            raise RunFailed(f"{one_line(exc)}; log up to it kept in {target}") from None
        except Interrupted as exc:
            log.flush()
            writer.close(status=f"interrupted ({exc.signame})")
            click.echo(f"interrupted by {exc.signame}; resume with --resume {target}", err=True)
            raise click.exceptions.Exit(exc.exit_code) from None
        log.flush()
        if tr["checkpoint_every"]:
            save_checkpoint(writer, trainer, log)
        for name, w in net.weights().items():
            writer.write_dataset(f"weights/{name}", w, units="1")
        test = trainer.evaluate(trainer.test_task(trainer.rngs["eval"])) if trainer.test_task else {}
        for k, v in test.items():
            writer.set_attrs("/", **{f"test_{k}": v})
        record_final(writer, trainer)
    if not quiet:
        wall = time.perf_counter() - t_start
        acc = f", accuracy {last['accuracy']:.3f}" if "accuracy" in last else ""
        click.echo(f"{trainer.iteration} iterations ({tr['rule']}): final loss "
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
