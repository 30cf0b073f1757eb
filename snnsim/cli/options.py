"""Options shared by the ``snnsim`` subcommands (each defined once) and CLI error types.

Use the decorators on any subcommand::

    @click.command()
    @config_argument
    @out_option
    @seed_option
    @overwrite_option
    @max_output_option
    @quiet_option
    def command(config, out, seed, overwrite, max_output, quiet): ...

User errors raise :class:`UserError` (exit code 2, one line, no traceback);
:func:`user_errors` is the one error layer of the command line: snnsim's exceptions, the
OS's (disk full, read-only file system, name too long, permission denied, file size
limit) and HDF5's (truncated or corrupt files) become one line each, with exit code 2
for bad input (config, options, input files) and 1 for faults of the environment (disk
full, read-only media, out of memory, a file in use) or of the run (divergence).
"""
import contextlib
import errno
import os
import re

import click

from ..errors import ConfigError, DivergenceError, MemoryLimitError


class UserError(click.ClickException):
    """A one-line user error (bad config, option or file): exit code 2."""
    exit_code = 2


class RunFailed(click.ClickException):
    """The run itself failed (e.g. diverged): exit code 1."""
    exit_code = 1


def one_line(exc):
    """The first line of an exception's message (an OSError's own text without "[Errno n]")."""
    if isinstance(exc, OSError) and exc.strerror and exc.errno is not None:
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    else:
        text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: errno -> explanation of faults of the environment (exit code 1)
ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file size limit reached",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error",
    errno.EBUSY: "file in use",
}


def os_errno(exc):
    """The errno of an OSError, also when HDF5 only names it in its message ("errno = 28")."""
    for e in (exc, exc.__cause__, exc.__context__):
        if isinstance(e, OSError) and e.errno:
            return e.errno
    m = re.search(r"errno = (\d+)", str(exc))
    return int(m.group(1)) if m else None


def _hdf5_reason(text):
    """The innermost reason of an h5py message ("Unable to open file (truncated file: ...)")."""
    m = re.search(r"\(([^()]*)\)\s*$", text)
    return m.group(1) if m else text


@contextlib.contextmanager
def user_errors():
    """The CLI's error layer: snnsim/OS/HDF5 exceptions -> one-line UserError (2) or RunFailed (1)."""
    try:
        yield
    except (ConfigError, MemoryLimitError, FileExistsError, FileNotFoundError,
            PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        code = os_errno(exc)
        if code in ENVIRONMENT_ERRNOS:
            raise RunFailed(f"{one_line(exc)} ({ENVIRONMENT_ERRNOS[code]})") from None
        raise UserError(one_line(exc)) from None
    except DivergenceError as exc:
        raise RunFailed(one_line(exc)) from None
    except MemoryError as exc:
        raise RunFailed(f"out of memory ({one_line(exc)})") from None
    except OSError as exc:
        code = os_errno(exc)
        text = one_line(exc)
        if code in ENVIRONMENT_ERRNOS:
            if code == errno.EBUSY or ENVIRONMENT_ERRNOS[code] in text.lower():
                raise RunFailed(text) from None
            raise RunFailed(f"{ENVIRONMENT_ERRNOS[code]}: {_hdf5_reason(text)}") from None
        if code == errno.ENAMETOOLONG:
            raise UserError(f"file name too long ({text})") from None
        raise UserError(text) from None
    except RuntimeError as exc:   # h5py reports failed writes as RuntimeError("... errno = 28 ...")
        code = os_errno(exc)
        if code in ENVIRONMENT_ERRNOS:
            raise RunFailed(f"{ENVIRONMENT_ERRNOS[code]}: writing failed ({os.strerror(code)})") from None
        raise


config_argument = click.argument(
    "config", metavar="CONFIG.toml",
    type=click.Path(exists=True, dir_okay=False, readable=True))

out_option = click.option(
    "--out", "-o", required=True, metavar="RUN.h5",
    type=click.Path(dir_okay=False, writable=True),
    help="Output HDF5 file.")

seed_option = click.option(
    "--seed", type=click.IntRange(min=0, max=2**63 - 1), default=None,
    help="Override network.seed (weights and input randomness).")

steps_option = click.option(
    "--steps", type=click.IntRange(min=1), default=None,
    help="Override input.steps (number of time steps to simulate).")

overwrite_option = click.option(
    "--overwrite", is_flag=True, default=False,
    help="Replace the output file if it exists.")

def _max_output(ctx, param, value):
    if value is None:
        return None
    from ..io.size import parse_size
    try:
        return parse_size("--max-output", value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1]) from None


max_output_option = click.option(
    "--max-output", metavar="SIZE", default=None, callback=_max_output,
    help="Refuse to start when the estimated output size exceeds SIZE (e.g. 500M, 20G; "
         "0 = no check). Default: the free space of the output's file system.")

quiet_option = click.option(
    "--quiet", "-q", is_flag=True, default=False,
    help="No progress bar and no summary (errors only).")
