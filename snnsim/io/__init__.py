"""HDF5 output of snnsim: writer, buffered recorder (SONATA layout), reader, CSV export.

The output file of a simulation is made by :func:`snnsim.io.output.open_output`; the NWB
export is :mod:`snnsim.io.nwb`.

Re-exports :class:`H5Writer`, :class:`Recorder`, :class:`RecordSpec`,
:func:`open_run`, :class:`Run`, :func:`open_h5`, :func:`clear_write_flags`
and :func:`spikes_to_csv`.
"""

from .export import spikes_to_csv
from ._swmr import clear_write_flags
from .reader import Run, open_h5, open_run
from .recorder import Recorder, RecordSpec, units_of
from .writer import FORMAT, H5Writer

__all__ = ["FORMAT", "H5Writer", "Recorder", "RecordSpec", "Run", "clear_write_flags",
           "open_h5", "open_run", "spikes_to_csv", "units_of"]
