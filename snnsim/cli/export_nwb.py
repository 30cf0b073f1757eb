"""``snnsim export-nwb RUN.h5 -o run.nwb``: the spikes of an output file as an NWB file.

See :mod:`snnsim.io.nwb` for the mapping (units table with spike times, one NWB trial per
batch entry, the config in ``notes``, the weights in the processing module
``snnsim_weights``). The file is written under a temporary name and renamed; an existing
output is refused unless ``--overwrite``. Needs pynwb (``pip install 'snnsim[nwb]'``).
"""
import os
from pathlib import Path

import click

from ..io.nwb import export_nwb
from .options import UserError, one_line, overwrite_option, quiet_option, user_errors
from .plot import check_output


@click.command()
@click.argument("run_file", metavar="RUN.h5", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", required=True, metavar="RUN.nwb", type=click.Path(dir_okay=False),
              help="Output NWB file.")
@overwrite_option
@quiet_option
def command(run_file, out, overwrite, quiet):
    """Export the spikes, trials, config and weights of RUN.h5 to NWB (pynwb)."""
    with user_errors():
        check_output(run_file, out, overwrite)
        out_path = Path(out)
        tmp = out_path.with_name(f".{out_path.stem}.{os.getpid()}.tmp.nwb")
        try:
            counts = export_nwb(run_file, tmp)
            os.replace(tmp, out_path)
        except OSError as exc:
            if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
                raise
            raise UserError(f"{run_file}: cannot export ({one_line(exc)})") from None
        finally:
            tmp.unlink(missing_ok=True)
    if not quiet:
        click.echo(f"wrote {out}: {counts['units']} units, {counts['spikes']} spikes, "
                   f"{counts['trials']} trial(s)")
