"""``snnsim export-nir TRAIN.h5 -o net.nir``: the trained network as a NIR graph.

See :mod:`snnsim.nir_export` for the mapping and for what cannot be exported (adaptive
thresholds, refractoriness: refused with a one-line error naming the field). The file is
written under a temporary name and renamed; an existing output is refused unless
``--overwrite``.
"""
import os
from pathlib import Path

import click

from ..nir_export import export_nir
from .options import UserError, one_line, overwrite_option, quiet_option, user_errors
from .plot import check_output


@click.command()
@click.argument("train_file", metavar="TRAIN.h5", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", required=True, metavar="NET.nir",
              type=click.Path(dir_okay=False), help="Output NIR (HDF5) file.")
@overwrite_option
@quiet_option
def command(train_file, out, overwrite, quiet):
    """Export the trained LIF network of TRAIN.h5 to the NIR exchange format."""
    out_path = Path(out)
    if out_path.resolve() == Path(train_file).resolve():
        raise UserError(f"--out {out} would overwrite the input file")
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    with user_errors():
        check_output(train_file, out, overwrite, option="--out")
        try:
            graph = export_nir(train_file, tmp)
            os.replace(tmp, out_path)
        except OSError as exc:
            if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
                raise
            raise UserError(f"{train_file}: cannot export ({one_line(exc)})") from None
        finally:
            tmp.unlink(missing_ok=True)
    if not quiet:
        kinds = {}
        for node in graph.nodes.values():
            kinds[type(node).__name__] = kinds.get(type(node).__name__, 0) + 1
        click.echo(f"{out}: NIR graph of {len(graph.nodes)} nodes "
                   f"({', '.join(f'{v} {k}' for k, v in kinds.items())}), {len(graph.edges)} edges")
