"""``snnsim sweep SWEEP.toml``: a grid over config values, one run and HDF5 file per point.

See :mod:`snnsim.sweep` for the file format. Everything is validated before the first
point runs; the points run as local processes (``--jobs N`` at a time) or, with ``--mpi``
under ``mpiexec -n K``, round-robin over the ranks. The summary table is printed and
written to ``OUT_DIR/summary.csv``; the exit code is 1 if a point failed. Before anything
runs, the estimated size of all the points' files is checked against the free space of
OUT_DIR (or ``--max-output``, which is also passed to every point).

SIGINT/SIGTERM: no further point starts, the running points get the same signal (they keep
their files with status ``interrupted``; a point still running after 30 s is killed), the
summary of what finished (``not run`` / ``interrupted`` for the rest) is written, and the
exit code is 130/143.
"""
import sys

import click

from .. import interrupt
from ..io.size import check_output_size
from ..parallel import MPIComm, RootFailed
from ..sweep import format_table, load_sweep, output_bytes, prepare, run_sweep, write_summary
from .options import (RunFailed, UserError, max_output_option, overwrite_option, quiet_option,
                      user_errors)
from .signals import stop_on_signals


@click.command()
@click.argument("sweep_file", metavar="SWEEP.toml",
                type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Points run at the same time (local processes; per rank under --mpi).")
@click.option("--mpi", is_flag=True, default=False,
              help="Share the points between the MPI ranks (run under mpiexec -n K).")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Override the sweep file's out_dir.")
@overwrite_option
@max_output_option
@quiet_option
def command(sweep_file, jobs, mpi, out_dir, overwrite, max_output, quiet):
    """Run every point of the grid of SWEEP.toml and summarise the runs."""
    with user_errors():
        comm = MPIComm() if mpi else None
    root = comm is None or comm.is_root
    try:
        with user_errors():
            sweep = load_sweep(sweep_file, out_dir=out_dir)
            check_output_size(sweep.out_dir / "point_0.h5", output_bytes(sweep), max_output,
                              hint="fewer points, steps or iterations")
            if comm is None:
                prepare(sweep, overwrite=overwrite)
            else:
                comm.root_only(lambda: prepare(sweep, overwrite=overwrite))
    except RootFailed:
        raise click.exceptions.Exit(UserError.exit_code) from None
    except click.ClickException as exc:
        if not root:   # rank 0 reports it
            raise click.exceptions.Exit(exc.exit_code) from None
        raise
    n = len(sweep.points)
    if root and not quiet:
        where = f"{comm.size} MPI ranks x " if comm is not None else ""
        click.echo(f"sweep: {n} points ({' x '.join(sweep.keys)}) on {where}{jobs} job(s) "
                   f"-> {sweep.out_dir}", err=True)

    rank = f"[rank {comm.rank}] " if comm is not None else ""

    def on_done(row):
        if not quiet:
            click.echo(f"{rank}point {row['point']} done in {row['wall_s']:.1f} s: {row['status']}",
                       err=True)

    with stop_on_signals():
        rows = run_sweep(sweep, jobs=jobs, comm=comm, on_done=on_done, max_output=max_output)
        signum = interrupt.pending()
        if not root:
            if signum is not None:
                raise click.exceptions.Exit(interrupt.Interrupted(signum).exit_code)
            return
        with user_errors():
            path = write_summary(sweep, rows)
    if not quiet:
        click.echo(format_table(sweep, rows))
        click.echo(f"summary: {path}")
    if signum is not None:
        stopped = interrupt.Interrupted(signum)
        done = sum(r["status"] == "ok" for r in rows)
        click.echo(f"interrupted by {stopped.signame}: {done} of {n} points finished; see {path}",
                   err=True)
        raise click.exceptions.Exit(stopped.exit_code)
    failed = [r["point"] for r in rows if r["status"] != "ok"]
    if failed:
        sys.stdout.flush()
        raise RunFailed(f"{len(failed)} of {n} points failed (points {', '.join(map(str, failed))}); "
                        f"see {path}")
