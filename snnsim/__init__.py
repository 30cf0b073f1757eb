"""snnsim: numba-accelerated simulator of deep recurrent spiking networks with online learning.

The public API, all at ``snnsim.*``:

- building a network: :class:`Network`, :class:`Layer`, :class:`LIF`, :class:`ALIF`,
  :class:`Readout`; inputs :class:`SpikeInput`, :class:`PoissonInput`, :class:`CurrentInput`;
- simulating: ``Network.simulate(x, out="run.h5", record={...})`` writes a complete file
  (config, weights, SONATA spikes, reports); :func:`open_run` reads it; :func:`plot` draws it;
- learning: :func:`gradients` (any rule), :func:`fidelity` (vs BPTT), :class:`Trainer`
  with :class:`TaskData` batches (:data:`TASKS`, :func:`make_task`) and the optimisers
  :class:`SGD`, :class:`Adam` (:func:`make_optimizer`);
- reuse: :func:`load` (network + config of a file), :func:`load_config` / :func:`build`
  (TOML configs);
- exchange: :func:`to_nir` / :func:`export_nir` (NIR), :func:`export_nwb` (NWB).
"""
from ._version import __version__
from .config import Config, build, load_config
from .errors import ConfigError, DivergenceError, MemoryLimitError, SnnsimError
from .inputs import CurrentInput, PoissonInput, SpikeInput
from .io import H5Writer, Recorder, RecordSpec, Run, open_run
from .io.nwb import export_nwb
from .layer import Layer
from .learning import fidelity, gradients
from .network import Network
from .neurons import ALIF, LIF, Readout
from .nir_export import export_nir, to_nir
from .optim import SGD, Adam, make_optimizer
from .plotting import plot
from .tasks import TASKS, TaskData, make_task
from .trained import load
from .trainer import Trainer

__all__ = ["__version__", "ConfigError", "DivergenceError", "MemoryLimitError", "SnnsimError",
           "CurrentInput", "PoissonInput", "SpikeInput", "Layer", "Network", "ALIF", "LIF", "Readout",
           "fidelity", "gradients", "Trainer", "TaskData", "TASKS", "make_task", "SGD", "Adam",
           "make_optimizer", "load", "plot", "open_run", "Run", "H5Writer", "Recorder",
           "RecordSpec", "Config", "load_config", "build", "to_nir", "export_nir", "export_nwb"]
