"""Options shared by the ``snnsim`` subcommands (each defined once) and CLI error types.

Use the decorators on any subcommand::

    @click.command()
    @config_argument
    @out_option
    @seed_option
    @overwrite_option
    @quiet_option
    def command(config, out, seed, overwrite, quiet): ...

User errors raise :class:`UserError` (exit code 2, one line, no traceback);
:func:`user_errors` maps snnsim's and the OS's one-line exceptions onto it.
"""
import contextlib

import click

from ..errors import ConfigError, DivergenceError, MemoryLimitError


class UserError(click.ClickException):
    """A one-line user error (bad config, option or file): exit code 2."""
    exit_code = 2


class RunFailed(click.ClickException):
    """The run itself failed (e.g. diverged): exit code 1."""
    exit_code = 1


def one_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def user_errors():
    """Turn ConfigError/MemoryLimitError/file errors into UserError, DivergenceError into RunFailed."""
    try:
        yield
    except (ConfigError, MemoryLimitError, FileExistsError, FileNotFoundError,
            PermissionError, IsADirectoryError) as exc:
        raise UserError(one_line(exc)) from None
    except DivergenceError as exc:
        raise RunFailed(one_line(exc)) from None


config_argument = click.argument(
    "config", metavar="CONFIG.toml",
    type=click.Path(exists=True, dir_okay=False, readable=True))

out_option = click.option(
    "--out", "-o", required=True, metavar="RUN.h5",
    type=click.Path(dir_okay=False, writable=True),
    help="Output HDF5 file.")

seed_option = click.option(
    "--seed", type=click.IntRange(min=0), default=None,
    help="Override network.seed (weights and input randomness).")

steps_option = click.option(
    "--steps", type=click.IntRange(min=1), default=None,
    help="Override input.steps (number of time steps to simulate).")

overwrite_option = click.option(
    "--overwrite", is_flag=True, default=False,
    help="Replace the output file if it exists.")

quiet_option = click.option(
    "--quiet", "-q", is_flag=True, default=False,
    help="No progress bar and no summary (errors only).")
