"""Entry point of the ``snnsim`` command line: the click group ``cli``.

Each subcommand lives in its own module ``snnsim.cli.<name>`` exposing ``command``;
adding one is one entry in :data:`SUBCOMMANDS`. snnsim's user-facing exceptions raised
by any subcommand become one-line errors (ConfigError: exit 2, DivergenceError: exit 1).
"""
import importlib
import os
import sys

import click
import numpy as np

from snnsim.kernels._jit import announce_compiles

from .._version import __version__
from ..io import writer as _writer
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


def _hdf5_write_failure(exc):
    return isinstance(exc, RuntimeError) and "errno = " in str(exc)


def _quiet_unraisable(info):
    """h5py reports failed closes of objects in files HDF5 could not write (disk full) from
    ``__dealloc__`` (through both hooks); the command reports the failure in one line."""
    if not _hdf5_write_failure(info.exc_value):
        sys.__unraisablehook__(info)


def _quiet_excepthook(exc_type, exc, tb):
    if not _hdf5_write_failure(exc):
        sys.__excepthook__(exc_type, exc, tb)


class SnnsimGroup(click.Group):
    """A group mapping snnsim's exceptions to one-line click errors."""

    def invoke(self, ctx):
        announce_compiles(lambda msg: click.echo(msg, err=True))
        # NaN/inf is reported once as a divergence (exit 1), not as numpy warnings on stderr
        sys.unraisablehook, sys.excepthook = _quiet_unraisable, _quiet_excepthook
        with user_errors(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return super().invoke(ctx)

    def main(self, *args, **kwargs):
        try:
            return super().main(*args, **kwargs)
        except SystemExit as exc:
            if _writer.broken():   # HDF5 would write the unclosable file again at exit
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(exc.code if isinstance(exc.code, int) else 1)
            raise


@click.group(cls=SnnsimGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="snnsim")
def cli():
    """snnsim: simulate deep recurrent spiking networks (LIF/ALIF) from TOML configs."""


for _name, _module in SUBCOMMANDS.items():
    cli.add_command(importlib.import_module(f"{__package__}.{_module}").command, _name)


if __name__ == "__main__":
    cli()
