"""``snnsim info RUN.h5``: run attributes, populations and every dataset with shape and dtype.

Works on files of killed or failed runs (datasets then simply hold fewer rows; the
``status`` attribute says ``running``, ``interrupted (...)`` or ``diverged (...)``).
"""

import click

from ..config_toml import config_to_toml
from ..io import open_run
from .options import UserError, one_line

#: root attributes shown first, with their labels and units
SHOWN = (("status", "status", ""), ("dt", "dt", " ms"), ("seed", "seed", ""),
         ("snnsim_version", "version", ""), ("format", "format", ""), ("created", "created", ""),
         ("batch", "batch", ""), ("start_step", "start_step", ""), ("stop_step", "stop_step", ""))


@click.command()
@click.argument("path", metavar="RUN.h5", type=click.Path(exists=True, dir_okay=False))
@click.option("--config", "show_config", is_flag=True,
              help="Print only the stored config, as TOML that 'snnsim run' and "
                   "'snnsim train' accept (e.g. > config.toml).")
def command(path, show_config):
    """Show what an snnsim output file holds (or, with --config, its config as TOML)."""
    try:
        run = open_run(path)
    except OSError as exc:
        raise UserError(f"{path}: cannot open as an snnsim HDF5 file ({one_line(exc)})") from None
    with run:
        attrs = run.attrs
        if show_config:
            cfg = attrs.get("config")
            if not isinstance(cfg, dict) or not cfg:
                raise UserError(f"{path} holds no config")
            text = config_to_toml(cfg)   # before any output: a damaged config is one line
            click.echo(f"# config of {path} (snnsim {attrs.get('snnsim_version', '?')}); "
                       "relative input paths are relative to the original config's folder")
            click.echo(text, nl=False)
            return
        click.echo(f"file: {path}")
        for key, label, unit in SHOWN:
            if key in attrs:
                click.echo(f"{label}: {attrs[key]}{unit}")
        click.echo(f"populations: {', '.join(run.populations) or '(none)'}")
        datasets = run.datasets()
        click.echo(f"datasets ({len(datasets)}):")
        width = max((len(n) for n in datasets), default=0) + 1
        for name in sorted(datasets):
            shape, dtype = datasets[name]
            shape_s = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
            click.echo(f"  /{name:<{width}} {shape_s:<22} {dtype}")
