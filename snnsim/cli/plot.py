"""``snnsim plot RUN.h5 -o fig.png``: one figure of an ``snnsim run`` / ``snnsim train`` file.

Panels (see :mod:`snnsim.plotting`): a spike raster per layer, v/threshold traces of a few
recorded neurons per layer, the readout (vs target, learning window shaded, for training
files) and the training curve (loss, accuracy). Panels the file cannot support are skipped,
so files of killed runs plot too. The output is refused if it exists (``--overwrite``).
"""
from pathlib import Path

import click

from ..io.writer import check_output as writer_check
from ..plotting import plot_run
from .options import UserError, overwrite_option, quiet_option, user_errors


def check_output(run_file, out, overwrite, option="-o"):
    """Refuse an existing output (without --overwrite) or one that is the input file, then
    everything :func:`snnsim.io.writer.check_output` refuses (a device, FIFO or other
    non-regular file, a hard link to the input, a file open in another process, an
    unwritable or read-only folder): the output is later replaced by a rename, which must
    never remove such a path."""
    out_path = Path(out)
    if Path(run_file).exists() and out_path.exists() and out_path.resolve() == Path(run_file).resolve():
        raise UserError(f"-o {out} would overwrite the input file")
    if out_path.exists() and not overwrite:
        raise UserError(f"output file {out} already exists; pass --overwrite to replace it")
    if out_path.is_dir():
        raise UserError(f"output {out} is a directory")
    parent = out_path.parent
    if not parent.is_dir():
        raise UserError(f"output directory {parent} does not exist")
    writer_check(out_path, overwrite=overwrite,
                 inputs=[run_file] if run_file is not None and Path(run_file).exists() else [],
                 option=option)


@click.command()
@click.argument("run_file", metavar="RUN.h5", type=click.Path(dir_okay=True))
@click.option("--out", "-o", required=True, metavar="FIG.png",
              type=click.Path(dir_okay=False),
              help="Output image (format from the suffix: png, pdf, svg, ...).")
@click.option("--batch", "-b", type=click.IntRange(min=0), default=0, show_default=True,
              help="Batch trial shown in the rasters, traces and readout.")
@click.option("--neurons", "-n", type=click.IntRange(min=1), default=5, show_default=True,
              help="Recorded neurons per layer whose v and threshold A are drawn.")
@click.option("--t-max", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="MS", help="End of the time axis in ms (default: the whole run).")
@overwrite_option
@quiet_option
def command(run_file, out, batch, neurons, t_max, overwrite, quiet):
    """Plot spikes, v/A traces, readout and training curve of RUN.h5 into one image."""
    with user_errors():
        if not Path(run_file).exists():
            raise FileNotFoundError(f"no such file: {run_file}")
        if Path(run_file).is_dir():
            raise IsADirectoryError(f"{run_file} is a directory, not an HDF5 file")
        check_output(run_file, out, overwrite)
        panels = plot_run(run_file, out, batch=batch, neurons=neurons, t_max=t_max)
    if not quiet:
        click.echo(f"wrote {out}: {len(panels)} panels ({', '.join(p.describe() for p in panels)})")
