"""A layer of the deep network: one or more LIF/ALIF populations sharing the layer's connectivity.

Weights are stored (pre, post): ``w_in[i, j]`` connects input i (the layer below, or the
network input for layer 0) to neuron j; ``w_rec[i, j]`` connects neuron i to neuron j of the
same layer (no autapses unless ``autapses=True``). ``p_in``/``p_rec`` < 1 draw a fixed
Bernoulli connectivity mask; with ``sparse`` the weights are stored as CSR matrices instead
(:mod:`snnsim.sparse`: memory and cost O(synapses)). ``delay=True`` inserts the one-step inter-layer delay
(Bellec/NEST semantics: the layer sees the layer below one step late).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import DTypeLike

from . import validate as V
from .errors import ConfigError
from .neurons import LIF
from . import sparse as S

PARAM_NAMES = ("alpha", "zeta", "v_th", "beta", "rho", "gamma", "ref_steps")


def layer_values(n_pre, n, recurrent, sparse_p=None):
    """Values a layer of n neurons with n_pre inputs holds: weights (dense), recurrent weights
    and 16 per-neuron arrays (the estimate every memory check of a layer uses). With
    ``sparse_p = (p_in, p_rec)`` the weights are CSR: 2 values (weight, index) per expected
    synapse and one row pointer per presynaptic entry."""
    if sparse_p is None:
        return n_pre * n + (n * n if recurrent else 0) + 16 * n
    syn = S.expected_synapses(n_pre, n, sparse_p[0]) + (
        S.expected_synapses(n, n, sparse_p[1]) if recurrent else 0)
    return int(2 * syn) + n_pre + 18 * n


def is_sparse(sparse, p_in, p_rec, recurrent):
    """Whether a layer's weights are stored sparse: ``sparse`` True/False, or "auto": when
    its expected synapses are below ``sparse.AUTO_FRACTION`` of the dense count."""
    if sparse != "auto":
        return bool(sparse)
    dense = 1.0 + (1.0 if recurrent else 0.0)
    return (p_in + (p_rec if recurrent else 0.0)) < S.AUTO_FRACTION * dense


@dataclass
class Layer:
    """One layer of the deep network: LIF/ALIF populations sharing its connectivity.

    Parameters
    ----------
    populations : LIF, ALIF or list of them
        The neurons of the layer, concatenated in order.
    recurrent : bool
        Has recurrent weights ``w_rec`` (n, n).
    p_in, p_rec : float
        Connection probabilities of the input and recurrent weights (fixed masks).
    autapses : bool
        Allow a neuron's connection to itself.
    delay : bool
        The layer sees the layer below one step late (Bellec/NEST semantics).
    w_in_scale, w_rec_scale : float
        Scales of the initial weights (N(0, scale^2 / n_pre)).
    sparse : bool or "auto"
        Store the weights as CSR matrices by presynaptic entry (:class:`snnsim.sparse.CSR`),
        connectivity drawn directly in sparse form: memory and per-step cost O(synapses)
        instead of O(n_pre n). "auto": sparse when the expected synapses are below 10 % of
        the dense count. Sparse layers are simulated and trained with e-prop (trace and
        window engines); the other rules and the exports need dense weights.
    name : str
        Layer name (default ``layer<k>``), the population name in output files.
    """

    populations: list
    recurrent: bool = True
    p_in: float = 1.0
    p_rec: float = 1.0
    autapses: bool = False
    delay: bool = False
    w_in_scale: float = 1.0
    w_rec_scale: float = 1.0
    name: str = ""
    sparse: bool | str = False
    n: int = field(default=0, init=False)

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise ConfigError("layer.name", f"must be a string, got {type(self.name).__name__}")
        if isinstance(self.populations, LIF):
            self.populations = [self.populations]
        if not isinstance(self.populations, (list, tuple)) or not self.populations \
                or not all(isinstance(p, LIF) for p in self.populations):
            raise ConfigError(f"{self.name or 'layer'}.populations",
                              "must be a non-empty list of snnsim.LIF / snnsim.ALIF")
        self.p_in = V.probability(f"{self.name}.p_in", self.p_in)
        self.p_rec = V.probability(f"{self.name}.p_rec", self.p_rec)
        self.w_in_scale = V.finite(f"{self.name}.w_in_scale", self.w_in_scale)
        self.w_rec_scale = V.finite(f"{self.name}.w_rec_scale", self.w_rec_scale)
        for key in ("recurrent", "autapses", "delay"):
            if not isinstance(getattr(self, key), (bool, np.bool_)):
                raise ConfigError(f"{self.name}.{key}", "must be true or false")
        if self.sparse != "auto" and not isinstance(self.sparse, (bool, np.bool_)):
            raise ConfigError(f"{self.name}.sparse", 'must be true, false or "auto"')
        self.n = sum(p.n for p in self.populations)

    def __repr__(self):
        pops = ", ".join(f"{p.kind.upper()} {p.name!r} {p.n}" for p in self.populations)
        opts = [o for o, on in (("recurrent", self.recurrent), ("delay", self.delay),
                                (f"p_in={self.p_in:g}", self.p_in < 1),
                                (f"p_rec={self.p_rec:g}", self.recurrent and self.p_rec < 1),
                                ("sparse", self.is_sparse)) if on]
        return f"Layer({self.name or '(unnamed)'!r}, n={self.n}: {pops}{''.join(', ' + o for o in opts)})"

    @property
    def is_sparse(self) -> bool:
        """True when the weights are stored as CSR matrices (see ``sparse``)."""
        return is_sparse(self.sparse, self.p_in, self.p_rec, self.recurrent)

    def sparse_p(self) -> tuple[float, float] | None:
        """(p_in, p_rec) of a sparse layer for :func:`layer_values`, else None."""
        return (self.p_in, self.p_rec) if self.is_sparse else None

    @property
    def is_adaptive(self) -> bool:
        return any(p.kind == "alif" for p in self.populations)

    def params(self, dt: float, dtype: DTypeLike) -> dict[str, np.ndarray]:
        """Concatenated per-neuron parameter arrays (float ``dtype``; ref_steps int64)."""
        parts = [p.params(dt) for p in self.populations]
        out = {}
        for key in PARAM_NAMES:
            arr = np.concatenate([p[key] for p in parts])
            with np.errstate(over="ignore"):
                out[key] = arr.astype(np.int64 if key == "ref_steps" else dtype)
            if key != "ref_steps" and not np.all(np.isfinite(out[key])):
                raise ConfigError(f"{self.name}.{key}", f"does not fit in {np.dtype(dtype).name} "
                                                        f"(|value| > {np.finfo(dtype).max:.3g})")
        return out

    def population_slices(self) -> list[tuple[str, slice]]:
        """(name, slice) of each population inside the layer."""
        out, start = [], 0
        for p in self.populations:
            out.append((p.name, slice(start, start + p.n)))
            start += p.n
        return out

    def init_weights(self, n_pre: int, rng: np.random.Generator, dtype: DTypeLike
                     ) -> tuple[np.ndarray | S.CSR, np.ndarray | None, np.ndarray | S.CSR | None,
                                np.ndarray | None]:
        """Draw (w_in, mask_in, w_rec, mask_rec) with N(0, 1/n_pre) scaled weights (a sparse
        layer: CSR matrices and no masks, :func:`snnsim.sparse.draw`)."""
        if self.is_sparse:
            return self._init_sparse(n_pre, rng, dtype)
        w_in = rng.standard_normal((n_pre, self.n)) * (self.w_in_scale / np.sqrt(n_pre))
        mask_in = None
        if self.p_in < 1.0:
            mask_in = rng.random((n_pre, self.n)) < self.p_in
            w_in *= mask_in / np.sqrt(self.p_in)
        w_rec = mask_rec = None
        if self.recurrent:
            w_rec = rng.standard_normal((self.n, self.n)) * (self.w_rec_scale / np.sqrt(self.n))
            mask_rec = np.ones((self.n, self.n), dtype=bool)
            if self.p_rec < 1.0:
                mask_rec = rng.random((self.n, self.n)) < self.p_rec
                w_rec /= np.sqrt(self.p_rec)
            if not self.autapses:
                np.fill_diagonal(mask_rec, False)
            w_rec *= mask_rec
            w_rec = self._cast("w_rec_scale", w_rec, dtype)
            if mask_rec.all():
                mask_rec = None
        return self._cast("w_in_scale", w_in, dtype), mask_in, w_rec, mask_rec

    def _init_sparse(self, n_pre, rng, dtype):
        """CSR input and recurrent weights: connectivity, then N(0, scale^2 / (n_pre p))."""
        def one(field, rows, p, scale, no_diagonal):
            indptr, indices = S.draw(rng, rows, self.n, p, no_diagonal=no_diagonal)
            w = rng.standard_normal(len(indices)) * (scale / np.sqrt(rows * max(p, 1e-300)))
            return S.CSR(indptr, indices, self._cast(field, w, dtype), self.n)

        w_in = one("w_in_scale", n_pre, self.p_in, self.w_in_scale, False)
        w_rec = None
        if self.recurrent:
            w_rec = one("w_rec_scale", self.n, self.p_rec, self.w_rec_scale, not self.autapses)
        return w_in, None, w_rec, None

    def _cast(self, field, w, dtype):
        """w in the network dtype, or a ConfigError naming the scale that overflows it."""
        with np.errstate(over="ignore"):
            out = w.astype(dtype)
        if not np.all(np.isfinite(out)):
            raise ConfigError(f"{self.name}.{field}", f"gives weights that do not fit in "
                                                      f"{np.dtype(dtype).name} (|w| > {np.finfo(dtype).max:.3g})")
        return out
