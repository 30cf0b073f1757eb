"""``snnsim gradcheck CONFIG.toml --rules bptt,rtrl,eprop,...``: gradient fidelity against BPTT.

Draws one batch of the config's ``[task]`` (seeded), computes the gradient of every listed
rule on the same network and data, and prints per weight matrix the cosine similarity and
relative error ||g - g_bptt|| / ||g_bptt||. A rule that would exceed the memory limit
(RTRL, m-order >= 2 and the full deep recursion are O(N^3)) is reported as skipped.
With ``--out`` the table is also written to HDF5 (``/gradcheck/<column>``). ``--reset``
(detach or local) overrides every rule's default reset convention.

``eprop-reward`` (a task with loss "reward", e.g. ``bandit``) samples actions: one update is
noisy, so its rows are the mean of ``--episodes`` sampled batches against BPTT's gradient of
minus the expected return (the policy term) and, as ``eprop-reward/critic``, the critic term
against BPTT of the critic's objective (``snnsim.learning.eprop_reward.reward_fidelity``);
their status gives the standard error of the mean relative to BPTT's norm ("noise").

The ``--out`` file is created only once every gradient is computed (the path is checked
first, so a refusal comes at once); SIGINT/SIGTERM stop the computation at the next block
or rule with one line and exit code 130/143, and nothing is written.
"""
import time

import click
import numpy as np

from .. import interrupt
from .._version import __version__
from ..config import build_network, load_config
from ..config_train import task_factory
from ..errors import ConfigError, MemoryLimitError
from ..io import H5Writer
from ..io.writer import check_output
from ..learning import compare, parse_rule, run_rule
from .options import config_argument, overwrite_option, seed_option, user_errors
from .signals import Interrupted, stop_on_signals

DEFAULT_RULES = "rtrl,eprop,eprop-m1,eprop-m2,deep-eprop,deep-eprop-spatial,deep-eprop-onehop"


def _reward_rows(net, data, episodes, rng):
    """eprop-reward's rows: the mean of ``episodes`` sampled updates vs BPTT."""
    from ..learning.eprop_reward import reward_fidelity
    t0 = time.perf_counter()
    rows = reward_fidelity(net, data.inputs, data.targets, mask=data.mask, episodes=episodes,
                           rng=rng)
    dt = time.perf_counter() - t0
    return [{"rule": r["rule"], "weight": r["weight"], "cosine": r["cosine"],
             "rel_error": r["rel_error"], "seconds": dt,
             "status": f"ok: mean of {episodes} episodes, noise {r['noise']:.2g}"} for r in rows]


def fidelity_rows(net, data, rules, *, max_bytes, echo=None, reset=None, rng=None,
                  episodes=200):
    """Rows (rule, weight, cosine, rel_error, seconds, status) of each rule against BPTT
    (``reset``: None for each rule's default convention, or "detach" / "local"). ``rng``
    (numpy Generator) feeds the stochastic rules (uoro, kf-rtrl); a rule that does not apply
    to the network (ConfigError on ``rule``) is skipped with its reason. ``eprop-reward``: the
    mean of ``episodes`` sampled updates (module docstring)."""
    common = dict(loss=data.loss, mask=data.mask)
    t0 = time.perf_counter()
    _, ref, _ = run_rule(net, data.inputs, data.targets, "bptt", **common)
    rows = [{"rule": "bptt", "weight": k, "cosine": 1.0, "rel_error": 0.0,
             "seconds": time.perf_counter() - t0, "status": "reference"} for k in ref]
    for rule in rules:
        interrupt.check()
        t0 = time.perf_counter()
        try:
            if rule == "eprop-reward":
                if data.loss != "reward":
                    raise ConfigError("rule", "rule 'eprop-reward' needs a task with loss "
                                              "'reward' (e.g. bandit)")
                rows += _reward_rows(net, data, episodes, rng)
                continue
            _, g, _ = run_rule(net, data.inputs, data.targets, rule, max_bytes=max_bytes,
                               reset=reset, rng=rng, **common)
        except (MemoryLimitError, ConfigError) as exc:
            if isinstance(exc, ConfigError) and exc.field != "rule":
                raise
            rows += [{"rule": rule, "weight": k, "cosine": np.nan, "rel_error": np.nan,
                      "seconds": 0.0, "status": f"skipped: {exc}"} for k in ref]
            continue
        dt = time.perf_counter() - t0
        for k in ref:
            cos, rel = compare(g[k], ref[k])
            rows.append({"rule": rule, "weight": k, "cosine": cos, "rel_error": rel,
                         "seconds": dt, "status": "ok"})
        if echo:
            echo(f"  {rule}: {dt:.2f} s")
    return rows


def format_rows(rows):
    head = f"{'rule':<20} {'weight':<24} {'cosine':>9} {'rel.error':>10} {'time s':>8}"
    out = [head, "-" * len(head)]
    for r in rows:
        if r["status"].startswith("skipped"):
            out.append(f"{r['rule']:<20} {r['weight']:<24} {r['status']}")
        else:
            note = r["status"][4:] if r["status"].startswith("ok: ") else ""
            out.append(f"{r['rule']:<20} {r['weight']:<24} {r['cosine']:>9.5f} "
                       f"{r['rel_error']:>10.3e} {r['seconds']:>8.2f}" + (f"  ({note})" if note else ""))
    return "\n".join(out)


@click.command()
@config_argument
@click.option("--rules", default=DEFAULT_RULES, show_default=True,
              help="Comma-separated rules to compare with BPTT.")
@click.option("--batch", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--float64/--float32", "f64", default=True, show_default=True,
              help="Compute in float64 (recommended for fidelity) or the config's dtype.")
@click.option("--max-gib", type=click.FloatRange(min=0, min_open=True), default=4.0,
              show_default=True, help="Memory limit for the O(N^3) forward-mode rules.")
@click.option("--out", "-o", metavar="GRAD.h5", default=None,
              type=click.Path(dir_okay=False, writable=True), help="Also write the table here.")
@click.option("--reset", type=click.Choice(["default", "detach", "local"]), default="default",
              show_default=True, help="Reset convention of the approximate rules (default: "
                                      "each rule's own).")
@click.option("--episodes", type=click.IntRange(min=2), default=200, show_default=True,
              help="eprop-reward: sampled batches averaged before the comparison.")
@seed_option
@overwrite_option
def command(config, rules, batch, f64, max_gib, out, reset, episodes, seed, overwrite):
    """Compare the gradients of several learning rules with BPTT on CONFIG.toml's task."""
    with stop_on_signals():
        try:
            _gradcheck(config, rules, batch, f64, max_gib, out, reset, episodes, seed, overwrite)
        except Interrupted as exc:
            click.echo(f"interrupted by {exc.signame}"
                       + (f"; nothing written to {out}" if out is not None else ""), err=True)
            raise click.exceptions.Exit(exc.exit_code) from None


def _gradcheck(config, rules, batch, f64, max_gib, out, reset, episodes, seed, overwrite):
    with user_errors():
        rule_list = [r.strip() for r in rules.split(",") if r.strip()]
        if not rule_list:
            raise ConfigError("--rules", "name at least one rule")
        for r in rule_list:
            try:
                parse_rule(r)
            except ConfigError as exc:
                raise ConfigError("--rules", str(exc).split(": ", 1)[1]) from None
        cfg = load_config(config, overrides={"network.seed": seed,
                                             **({"network.dtype": "float64"} if f64 else {})})
        if "task" not in cfg.data:
            raise ConfigError("task", "section is required for gradcheck ([task])")
        if out is not None:   # refuse a bad --out now, create it only after computing
            check_output(out, overwrite=overwrite, inputs=[config])
        cfg.data.setdefault("train", {"batch": batch, "val_batch": batch, "test_batch": batch})
        cfg.data["train"] = {**cfg.data["train"], "batch": batch}
        net = build_network(cfg)
        data = task_factory(cfg, net.dt, "train")(np.random.default_rng(cfg["network"]["seed"]))
        rows = fidelity_rows(net, data, rule_list, max_bytes=max_gib * 2**30,
                             reset=None if reset == "default" else reset,
                             rng=np.random.default_rng([cfg["network"]["seed"], 1]),
                             episodes=episodes)
    click.echo(f"gradient fidelity vs BPTT: {len(net.layers)} layers {net.sizes}, batch {batch}, "
               f"T = {data.steps}, {np.dtype(net.dtype).name}")
    click.echo(format_rows(rows))
    if out is not None:
        with user_errors():
            writer = H5Writer(out, dt=net.dt, seed=cfg["network"]["seed"], version=__version__,
                              config_json=cfg.to_json(), overwrite=overwrite, inputs=[config])
            with writer:
                for key in ("rule", "weight", "status"):
                    writer.write_dataset(f"gradcheck/{key}",
                                         np.array([r[key] for r in rows], dtype="S"))
                for key in ("cosine", "rel_error", "seconds"):
                    writer.write_dataset(f"gradcheck/{key}", np.array([r[key] for r in rows]),
                                         units="s" if key == "seconds" else "1")
        click.echo(f"output: {out}")
