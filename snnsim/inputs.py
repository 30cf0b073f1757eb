"""Input sources, delivered block by block so that long runs never hold the whole input.

- ``SpikeInput(array)``: (batch, T, n_in) array of 0/1 spikes.
- ``CurrentInput(array)``: (batch, T, n_in) analogue values, fed through the input weights
  like spikes (the event-driven kernel skips exact zeros only).
- ``PoissonInput(rate, n_in)``: independent Poisson spike trains, P(spike in dt) = rate*dt/1000,
  drawn from the ``numpy.random.Generator`` passed to ``block``.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import validate as V
from .errors import ConfigError


class ArrayInput:
    kind = "array"

    def __init__(self, array: ArrayLike, *, field: str = "inputs", binary: bool = False) -> None:
        arr = V.array(field, array, (None, None, None))
        if 0 in arr.shape:
            raise ConfigError(field, f"must have at least one trial, step and input, got shape {arr.shape}")
        if binary and not np.all((arr == 0) | (arr == 1)):
            raise ConfigError(field, "spike input must contain only 0 and 1")
        self.array, self.field = arr, field
        self.batch, self.steps, self.n_in = arr.shape

    def block(self, t0: int, k: int, batch: int, rng: np.random.Generator | None,
              dtype: DTypeLike) -> np.ndarray:
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

    def __init__(self, array: ArrayLike, field: str = "inputs") -> None:
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
    rate : float or array (n_in,)
        Rate of every input channel (Hz, >= 0; NEST's ``poisson_generator.rate``).
    n_in : int, optional
        Number of input channels (default: the length of ``rate``, or for a scalar rate
        the ``n_in`` of the network it is simulated with).
    steps : int, optional
        Default number of steps.
    field : str
        Name used in error messages (``rate``; ``input.rate`` for a config).

    A rate that is not a number >= 0 (e.g. ``rate="x"``) is a one-line
    :class:`~snnsim.ConfigError` naming ``field``.
    """

    kind = "poisson"

    def __init__(self, rate: float | ArrayLike, n_in: int | None = None, steps: int | None = None,
                 field: str = "rate") -> None:
        self.field, self.steps, self.batch = field, steps, None
        try:
            ndim = np.ndim(np.asarray(rate, dtype=object))
        except ValueError:   # a ragged nest
            raise ConfigError(field, "must be a number or a list of numbers (Hz)") from None
        if n_in is None and ndim == 0:   # bound to the network's n_in by as_source
            self.rate = V.positive(field, rate, allow_zero=True)
            self.n_in: int | None = None
            self.rates: np.ndarray | None = None
            return
        if n_in is None and ndim == 1:
            n_in = int(np.shape(np.asarray(rate, dtype=object))[0])
        self.n_in = V.count("n_in", n_in)
        self.rates = V.per_neuron(field, rate, self.n_in, check=V.positive, allow_zero=True)
        self.rate = rate

    def __repr__(self):
        rate = self.rate if self.rates is None or np.ndim(self.rate) == 0 else "[...]"
        return f"PoissonInput(rate={rate}, n_in={self.n_in})"

    def block(self, t0: int, k: int, batch: int, rng: np.random.Generator, dtype: DTypeLike,
              dt: float = 1.0) -> np.ndarray:
        if self.rates is None or self.n_in is None:
            raise ConfigError("n_in", "a PoissonInput with one rate and no n_in is bound to a "
                                      "network's n_in by Network.simulate; give n_in to use it alone")
        p = np.minimum(self.rates * dt * 1e-3, 1.0)
        return (rng.random((batch, k, self.n_in)) < p).astype(dtype)


def as_source(inputs, n_in):
    """Wrap an array (spikes if it holds only 0/1, otherwise analogue) or check a source."""
    if isinstance(inputs, PoissonInput) and inputs.n_in is None:   # a scalar rate: every input
        src = PoissonInput(inputs.rate, n_in, inputs.steps, inputs.field)
    elif isinstance(inputs, (ArrayInput, PoissonInput)):
        src = inputs
    else:
        arr = V.array("inputs", inputs, (None, None, None))
        binary = np.all((arr == 0) | (arr == 1))
        src = SpikeInput(arr) if binary else CurrentInput(arr)
    if src.n_in != n_in:
        raise ConfigError("inputs", f"last axis must be n_in = {n_in}, got {src.n_in}")
    return src
