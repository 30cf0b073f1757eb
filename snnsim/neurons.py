"""Neuron populations and the leaky readout (parameters in NEST/Bellec naming, times in ms).

LIF and ALIF follow Bellec et al. 2020 (Nat. Commun. 11:3625) and NEST's
``eprop_iaf_bsshslm_2020`` / ``eprop_iaf_adapt_bsshslm_2020``:

    alpha = exp(-dt/tau_m); zeta = 1 (regular_spike_arrival) or 1 - alpha
    v^t = alpha v^{t-1} + zeta I^t - v_th z^{t-1}
    ALIF: a^t = rho a^{t-1} + z^{t-1}, rho = exp(-dt/tau_a), threshold A^t = v_th + beta a^t
    pseudo-derivative psi = gamma / v_th * max(0, 1 - |v - A| / v_th)
Readout: y^t = kappa y^{t-1} + W_out z^t with kappa = exp(-dt/tau_out) (tau_out = 0: kappa = 0).
A LIF is an ALIF with beta = 0; a layer may mix several populations.

Units: times in ms, rates in Hz. The membrane potential v, the threshold v_th and A have no
physical unit: v is measured in whatever units v_th is given in (Bellec et al. use 0.01-0.6;
v_th = 15 means mV only if you read it so). Output files say so with the units string
:data:`V_UNITS`; a, z and the readout y are dimensionless ("1"); the pseudo-derivative psi
is per unit of v.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import validate as V
from .errors import ConfigError

#: the ``units`` attribute of v and A in output files (and their plot label): v is measured
#: in the units of the threshold v_th, which has no fixed physical unit
V_UNITS = "units of v_th"


def check_smooth_t_ref(field, t_ref):
    """The smooth surrogate differentiates the spike itself: refractoriness must be off."""
    if np.any(np.atleast_1d(t_ref) > 0):
        raise ConfigError(field, "must be 0 with network.surrogate = 'smooth' "
                                 "(refractoriness is not differentiable)")


def _summary(arr, unit=""):
    """A per-neuron array as one number if uniform, else its range (for reprs)."""
    arr = np.asarray(arr, dtype=np.float64)
    u = f" {unit}" if unit else ""
    if arr.size and np.all(arr == arr.flat[0]):
        return f"{arr.flat[0]:g}{u}"
    return f"[{arr.min():g}..{arr.max():g}]{u}" if arr.size else "[]"


@dataclass
class LIF:
    """A population of leaky integrate-and-fire neurons (reset by subtraction of v_th).

    Per step dt: ``v^t = alpha v^{t-1} + zeta I^t - v_th z^{t-1}`` with
    ``alpha = exp(-dt/tau_m)``, ``z^t = H(v^t - v_th)`` (Bellec et al. 2020).

    Parameters
    ----------
    n : int
        Number of neurons.
    tau_m : float or array (n,)
        Membrane time constant (ms).
    v_th : float or array (n,)
        Threshold; v is in the same (arbitrary) units, there is no physical unit.
    t_ref : float or array (n,)
        Refractory period (ms; 0 = none).
    gamma : float or array (n,)
        Height of the pseudo-derivative (learning only).
    regular_spike_arrival : bool
        True: an input adds its weight to v at once (zeta = 1, NEST's default for
        e-prop); False: it is scaled by 1 - alpha (zeta = 1 - alpha).
    name : str
        Population name, kept as the sub-population label in output files.
    """
    n: int
    tau_m: float = 20.0
    v_th: float = 1.0
    t_ref: float = 0.0
    gamma: float = 0.3
    regular_spike_arrival: bool = True
    name: str = "lif"
    kind: str = field(default="lif", init=False)

    def __post_init__(self):
        self.n = V.count(f"{self.name}.n", self.n)
        V.fits_memory(f"{self.name}.n", 16 * self.n, f"{self.n} neurons")
        self.tau_m = V.per_neuron(f"{self.name}.tau_m", self.tau_m, self.n)
        self.v_th = V.per_neuron(f"{self.name}.v_th", self.v_th, self.n)
        self.t_ref = V.per_neuron(f"{self.name}.t_ref", self.t_ref, self.n, allow_zero=True)
        self.gamma = V.per_neuron(f"{self.name}.gamma", self.gamma, self.n, allow_zero=True)
        if not isinstance(self.regular_spike_arrival, (bool, np.bool_)):
            raise ConfigError(f"{self.name}.regular_spike_arrival", "must be true or false")

    def __repr__(self):
        extra = self._repr_extra()
        return (f"{type(self).__name__}(n={self.n}, tau_m={_summary(self.tau_m, 'ms')}, "
                f"v_th={_summary(self.v_th)}, t_ref={_summary(self.t_ref, 'ms')}, "
                f"gamma={_summary(self.gamma)}{extra}, name={self.name!r})")

    def _repr_extra(self):
        return "" if self.regular_spike_arrival else ", regular_spike_arrival=False"

    def _beta_tau_a(self):
        return np.zeros(self.n), np.full(self.n, np.inf)

    def params(self, dt: float) -> dict[str, np.ndarray]:
        """Per-neuron arrays (alpha, zeta, v_th, beta, rho, gamma, ref_steps) for step dt (ms)."""
        if np.any(self.tau_m < dt):
            raise ConfigError(f"{self.name}.tau_m", f"must be >= dt = {dt} ms (dt larger than tau)")
        beta, tau_a = self._beta_tau_a()
        alpha = np.exp(-dt / self.tau_m)
        zeta = np.ones(self.n) if self.regular_spike_arrival else 1.0 - alpha
        rho = np.exp(-dt / tau_a)
        ref_steps = np.rint(np.minimum(self.t_ref / dt, 2.0**62)).astype(np.int64)  # no int64 overflow
        return dict(alpha=alpha, zeta=zeta, v_th=np.array(self.v_th, dtype=np.float64), beta=beta,
                    rho=rho, gamma=np.array(self.gamma, dtype=np.float64), ref_steps=ref_steps)


@dataclass(repr=False)
class ALIF(LIF):
    """A population of adaptive LIF neurons: threshold ``A = v_th + beta a``.

    ``a^t = rho a^{t-1} + z^{t-1}``, ``rho = exp(-dt/tau_a)`` (Bellec et al. 2020).
    Parameters as :class:`LIF`, plus:

    Parameters
    ----------
    beta : float or array (n,)
        Adaptation strength (units of v_th per unit of a; 0 = a LIF).
    tau_a : float or array (n,)
        Adaptation time constant (ms).
    """
    beta: float = 1.0
    tau_a: float = 200.0
    name: str = "alif"
    kind: str = field(default="alif", init=False)

    def __post_init__(self):
        super().__post_init__()
        self.beta = V.per_neuron(f"{self.name}.beta", self.beta, self.n, check=V.finite)
        self.tau_a = V.per_neuron(f"{self.name}.tau_a", self.tau_a, self.n)

    def _repr_extra(self):
        return (f", beta={_summary(self.beta)}, tau_a={_summary(self.tau_a, 'ms')}"
                + super()._repr_extra())

    def _beta_tau_a(self):
        return self.beta.copy(), self.tau_a.copy()

    def params(self, dt: float) -> dict[str, np.ndarray]:
        if np.any(self.tau_a < dt):
            raise ConfigError(f"{self.name}.tau_a", f"must be >= dt = {dt} ms (dt larger than tau)")
        return super().params(dt)


@dataclass
class Readout:
    """Leaky linear readout of the top layer's spikes; tau_out = 0 gives a memoryless readout.

    y_k^t = kappa y_k^{t-1} + c_k sum_j W_out[j, k] z_j^t,  kappa = exp(-dt / tau_out),
    c = 1 with ``regular_spike_arrival`` (default), else c = 1 - kappa (NEST's
    ``eprop_readout_bsshslm_2020`` convention, as for the neurons' zeta).

    Parameters
    ----------
    n : int
        Number of outputs.
    tau_out : float
        Time constant (ms) of ``kappa = exp(-dt/tau_out)``; 0 gives a memoryless readout.
    w_scale : float
        Scale of the initial weights (N(0, w_scale^2 / n_top)).
    name : str
        Name of the readout in output files.
    regular_spike_arrival : bool
        False: the input is scaled by c = 1 - kappa (see above).
    """
    n: int
    tau_out: float = 20.0
    w_scale: float = 1.0
    name: str = "readout"
    regular_spike_arrival: bool = True

    def __post_init__(self):
        self.n = V.count(f"{self.name}.n", self.n)
        V.fits_memory(f"{self.name}.n", self.n, f"a readout of {self.n} units")
        self.tau_out = V.positive(f"{self.name}.tau_out", self.tau_out, allow_zero=True)
        self.w_scale = V.finite(f"{self.name}.w_scale", self.w_scale)
        if not isinstance(self.regular_spike_arrival, (bool, np.bool_)):
            raise ConfigError(f"{self.name}.regular_spike_arrival", "must be true or false")

    def kappa(self, dt: float) -> np.ndarray:
        if self.tau_out == 0.0:
            return np.zeros(self.n)
        if self.tau_out < dt:
            raise ConfigError(f"{self.name}.tau_out", f"must be 0 or >= dt = {dt} ms")
        return np.full(self.n, np.exp(-dt / self.tau_out))

    def input_scale(self, dt: float) -> np.ndarray:
        """c (n,): 1 with regular spike arrival, else 1 - kappa."""
        return np.ones(self.n) if self.regular_spike_arrival else 1.0 - self.kappa(dt)