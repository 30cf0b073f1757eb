"""snnsim: numba-accelerated simulator of deep recurrent spiking networks with online learning."""
from ._version import __version__
from .errors import ConfigError, DivergenceError, MemoryLimitError, SnnsimError
from .inputs import CurrentInput, PoissonInput, SpikeInput
from .layer import Layer
from .network import Network
from .neurons import ALIF, LIF, Readout
from .learning import fidelity, gradients

__all__ = ["__version__", "ConfigError", "DivergenceError", "MemoryLimitError", "SnnsimError",
           "CurrentInput", "PoissonInput", "SpikeInput", "Layer", "Network", "ALIF", "LIF", "Readout",
           "fidelity", "gradients"]
