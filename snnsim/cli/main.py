"""Entry point of the ``snnsim`` command line: the click group ``cli``.

Each subcommand lives in its own module ``snnsim.cli.<name>`` exposing ``command``;
adding one is one entry in :data:`SUBCOMMANDS`. snnsim's user-facing exceptions raised
by any subcommand become one-line errors (ConfigError: exit 2, DivergenceError: exit 1).
"""
import importlib

import click
import numpy as np

from snnsim.kernels._jit import announce_compiles

from .._version import __version__
from .options import user_errors

#: subcommand name -> module under snnsim.cli that defines ``command``
SUBCOMMANDS = {
    "run": "run",
    "info": "info",
    "train": "train",
    "gradcheck": "gradcheck",
    "fidelity": "fidelity",
    "bench": "bench",
    "plot": "plot",
    "export": "export",
    "sweep": "sweep",
    "export-nir": "export_nir",
    "export-nwb": "export_nwb",
    "init": "init",
}


class SnnsimGroup(click.Group):
    """A group mapping snnsim's exceptions to one-line click errors."""

    def invoke(self, ctx):
        announce_compiles(lambda msg: click.echo(msg, err=True))
        # NaN/inf is reported once as a divergence (exit 1), not as numpy warnings on stderr
        with user_errors(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return super().invoke(ctx)


@click.group(cls=SnnsimGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="snnsim")
def cli():
    """snnsim: simulate deep recurrent spiking networks (LIF/ALIF) from TOML configs."""


for _name, _module in SUBCOMMANDS.items():
    cli.add_command(importlib.import_module(f"{__package__}.{_module}").command, _name)


if __name__ == "__main__":
    cli()
