"""``snnsim export RUN.h5 -o spikes.csv``: the spikes of an output file as CSV.

Columns ``population,batch_id,node_id,timestamp_ms`` (one row per spike, timestamps with
full float64 precision), all populations sorted by name or one with ``--population``.
The CSV is written under a temporary name and renamed, so it is never left partial; an
existing output is refused unless ``--overwrite``.
"""
import os
from pathlib import Path

import click
import h5py

from ..io import open_run
from ..io.export import spikes_to_csv
from .options import UserError, one_line, overwrite_option, quiet_option, user_errors
from .plot import check_output


def _spike_populations(run_file):
    """Populations with a ``/spikes`` group in ``run_file`` (None if it has no /spikes)."""
    try:
        run = open_run(run_file)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except OSError as exc:
        raise UserError(f"{run_file}: cannot open as an snnsim HDF5 file ({one_line(exc)})") from None
    with run:
        f = run.file
        if "spikes" in f and not isinstance(f["spikes"], h5py.Group):
            raise UserError(f"{run_file}: /spikes must be a group (SONATA layout)")
        return sorted(f["spikes"].keys()) if "spikes" in f else None


@click.command()
@click.argument("run_file", metavar="RUN.h5", type=click.Path(dir_okay=True))
@click.option("--out", "-o", required=True, metavar="SPIKES.csv",
              type=click.Path(dir_okay=False), help="Output CSV file.")
@click.option("--population", "-p", default=None, metavar="P",
              help="Export only this population (default: all).")
@overwrite_option
@quiet_option
def command(run_file, out, population, overwrite, quiet):
    """Write the spikes of RUN.h5 to a CSV file (population,batch_id,node_id,timestamp_ms)."""
    with user_errors():
        if not Path(run_file).exists():
            raise FileNotFoundError(f"no such file: {run_file}")
        if Path(run_file).is_dir():
            raise IsADirectoryError(f"{run_file} is a directory, not an HDF5 file")
        pops = _spike_populations(run_file)
        if pops is None:
            raise UserError(f"{run_file} holds no spikes (no /spikes group) to export")
        if population is not None and population not in pops:
            raise UserError(f"--population {population}: no spikes for it in {run_file}; "
                            f"populations: {', '.join(pops) or '(none)'}")
        check_output(run_file, out, overwrite)
        out_path = Path(out)
        tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
        try:
            rows = spikes_to_csv(run_file, tmp, population=population)
            os.replace(tmp, out_path)
        except KeyError as exc:   # a spike group without its datasets (killed at creation)
            tmp.unlink(missing_ok=True)
            raise UserError(f"{run_file}: incomplete spike group ({exc.args[0] if exc.args else exc})") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    if not quiet:
        which = population if population is not None else ", ".join(pops) or "(none)"
        click.echo(f"wrote {rows} spikes ({which}) to {out}")
