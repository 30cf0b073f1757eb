"""Input sources, delivered block by block so that long runs never hold the whole input.

- ``SpikeInput(array)``: (batch, T, n_in) array of 0/1 spikes.
- ``CurrentInput(array)``: (batch, T, n_in) analogue values, fed through the input weights
  like spikes (the event-driven kernel skips exact zeros only).
- ``PoissonInput(rates_hz, n_in)``: independent Poisson spike trains, P(spike in dt) = rate*dt/1000,
  drawn from the ``numpy.random.Generator`` passed to ``block``.
"""
import numpy as np

from . import validate as V
from .errors import ConfigError


class ArrayInput:
    kind = "array"

    def __init__(self, array, *, field="inputs", binary=False):
        arr = V.array(field, array, (None, None, None))
        if 0 in arr.shape:
            raise ConfigError(field, f"must have at least one trial, step and input, got shape {arr.shape}")
        if binary and not np.all((arr == 0) | (arr == 1)):
            raise ConfigError(field, "spike input must contain only 0 and 1")
        self.array, self.field = arr, field
        self.batch, self.steps, self.n_in = arr.shape

    def block(self, t0, k, batch, rng, dtype):
        if batch != self.batch:
            raise ConfigError("batch", f"input array has batch {self.batch}, run asked for {batch}")
        with np.errstate(over="ignore"):
            x = np.ascontiguousarray(self.array[:, t0:t0 + k], dtype=dtype)
        if x.dtype != self.array.dtype and not np.all(np.isfinite(x)):
            raise ConfigError(self.field, f"values overflow the network dtype {np.dtype(dtype).name}")
        return x


class SpikeInput(ArrayInput):
    """Input spikes given as an array.

    Parameters
    ----------
    array : array_like (batch, T, n_in)
        0/1 spikes per trial, step and input channel.
    field : str
        Name used in error messages.
    """

    kind = "spikes"

    def __init__(self, array, field="inputs"):
        super().__init__(array, field=field, binary=True)


class CurrentInput(ArrayInput):
    """Analogue input given as an array, fed through the input weights like spikes.

    Parameters
    ----------
    array : array_like (batch, T, n_in)
        Input values per trial, step and channel (units of v_th per unit weight).
    field : str
        Name used in error messages.
    """

    kind = "current"


class PoissonInput:
    """Independent Poisson spike trains: P(spike in a step) = rate * dt / 1000.

    Parameters
    ----------
    rates_hz : float or array (n_in,)
        Rate of every input channel (Hz).
    n_in : int
        Number of input channels.
    steps : int, optional
        Default number of steps.
    field : str
        Name used in error messages.
    """

    kind = "poisson"

    def __init__(self, rates_hz, n_in, steps=None, field="inputs.rate"):
        self.n_in = V.count("inputs.n", n_in)
        try:
            rates = np.asarray(rates_hz, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(field, f"must be a rate in Hz or {self.n_in} rates, got "
                                     f"{rates_hz!r:.60}") from None
        if rates.ndim == 0:
            rates = np.full(self.n_in, float(rates))
        if rates.shape != (self.n_in,):
            raise ConfigError(field, f"must be a scalar or {self.n_in} rates, got shape {rates.shape}")
        if not np.all(np.isfinite(rates)) or np.any(rates < 0):
            raise ConfigError(field, "rates must be finite and >= 0 Hz")
        self.rates = rates
        self.steps = steps
        self.batch = None

    def block(self, t0, k, batch, rng, dtype, dt=1.0):
        p = np.minimum(self.rates * dt * 1e-3, 1.0)
        return (rng.random((batch, k, self.n_in)) < p).astype(dtype)


def as_source(inputs, n_in):
    """Wrap an array (spikes if it holds only 0/1, otherwise analogue) or check a source."""
    if isinstance(inputs, (ArrayInput, PoissonInput)):
        src = inputs
    else:
        arr = V.array("inputs", inputs, (None, None, None))
        binary = np.all((arr == 0) | (arr == 1))
        src = SpikeInput(arr) if binary else CurrentInput(arr)
    if src.n_in != n_in:
        raise ConfigError("inputs", f"last axis must be n_in = {n_in}, got {src.n_in}")
    return src
