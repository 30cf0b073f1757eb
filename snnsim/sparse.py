"""Sparse connectivity: weight matrices stored as CSR by presynaptic neuron.

A layer with ``sparse=True`` (or ``"auto"`` and few expected synapses) keeps its input and
recurrent weights as :class:`CSR` matrices instead of dense (n_pre, n) arrays: row i lists the
postsynaptic targets of presynaptic entry i, ``indices[indptr[i]:indptr[i+1]]`` (sorted), and
``data`` holds their weights in the same order. This is the layout an event-driven simulator
wants: a spike of i touches exactly the synapses of row i.

Connectivity is drawn directly in sparse form, never as an n_pre x n mask (the same
distribution as the dense path's Bernoulli mask, a different realisation):

    k_i ~ Binomial(m, p)                 out-degree of presynaptic entry i
    targets_i = k_i of the m candidates chosen uniformly without replacement (sorted)

with m = n (m = n - 1 and target i skipped for recurrent weights without autapses). Every
(i, j) pair is then present independently with probability p, as with the dense mask.
Weights are w_s = scale / sqrt(n_pre p) * N(0, 1), the dense path's scaling.

Cost: drawing is O(n_pre + synapses) time and memory; the forward pass and e-prop on a
sparse layer cost O(synapses) per step and store O(synapses) per trial (``kernels.sparse``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

AUTO_FRACTION = 0.1   # sparse="auto": sparse when the expected synapses < 10 % of the dense count


@dataclass(eq=False)
class CSR:
    """A weight matrix (n_pre, n) in compressed sparse rows by presynaptic entry.

    Attributes
    ----------
    indptr : ndarray of int64, (n_pre + 1,)
        Row i's synapses are ``indptr[i]:indptr[i + 1]``.
    indices : ndarray of int64, (nnz,)
        Postsynaptic neuron of every synapse (sorted within a row, no repeats).
    data : ndarray of float, (nnz,)
        Weights of the synapses (the live array learning rules update in place).
    n : int
        Number of postsynaptic neurons.
    """
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n: int

    @property
    def shape(self):
        return (len(self.indptr) - 1, self.n)

    @property
    def nnz(self):
        return len(self.data)

    def rows(self):
        """Presynaptic entry of every synapse (nnz,) int64."""
        return np.repeat(np.arange(self.shape[0], dtype=np.int64), np.diff(self.indptr))

    def mask(self):
        """Dense bool (n_pre, n) mask of the present synapses (for small matrices and tests)."""
        out = np.zeros(self.shape, dtype=bool)
        out[self.rows(), self.indices] = True
        return out

    def to_dense(self):
        """Dense (n_pre, n) array of the weights, zeros where there is no synapse."""
        out = np.zeros(self.shape, dtype=self.data.dtype)
        out[self.rows(), self.indices] = self.data
        return out

    @classmethod
    def checked(cls, field, indptr, indices, data, shape, dtype):
        """A CSR from stored arrays, every declared size checked (one-line ConfigError naming
        ``field``): indptr (n_pre + 1) non-decreasing from 0 to nnz, indices in [0, n), sorted
        without repeats within each row, data (nnz,) finite."""
        n_pre, n = shape
        indptr = np.asarray(indptr)
        indices = np.asarray(indices)
        data = np.asarray(data)
        if indptr.ndim != 1 or len(indptr) != n_pre + 1 or indptr.dtype.kind not in "iu":
            raise ConfigError(f"{field}.indptr", f"must be {n_pre + 1} integers, got "
                                                 f"{indptr.dtype} {indptr.shape}")
        indptr = indptr.astype(np.int64)
        nnz = int(indptr[-1])
        if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or np.any(np.diff(indptr) > n):
            raise ConfigError(f"{field}.indptr", f"must rise from 0 by at most {n} per row")
        if indices.ndim != 1 or len(indices) != nnz or indices.dtype.kind not in "iu":
            raise ConfigError(f"{field}.indices", f"must be {nnz} integers (indptr[-1]), got "
                                                  f"{indices.dtype} {indices.shape}")
        indices = indices.astype(np.int64)
        if nnz and (indices.min() < 0 or indices.max() >= n):
            raise ConfigError(f"{field}.indices", f"must be in [0, {n})")
        step = np.diff(indices)
        row_start = np.zeros(nnz, dtype=bool)
        row_start[indptr[:-1][np.diff(indptr) > 0]] = True
        if nnz and np.any((step <= 0) & ~row_start[1:]):
            raise ConfigError(f"{field}.indices", "must be sorted without repeats in every row")
        if data.shape != (nnz,) or data.dtype.kind != "f" or not np.all(np.isfinite(data)):
            raise ConfigError(f"{field}.data", f"must be {nnz} finite floats, got "
                                               f"{data.dtype} {data.shape}")
        return cls(indptr, indices, data.astype(dtype), n)


def concat_rows(a, b):
    """(indptr, indices) of the rows of ``a`` followed by the rows of ``b`` (None: a alone):
    the layer's synapses over its presynaptic entries [input, own spikes]."""
    if b is None:
        return a.indptr, a.indices
    return (np.concatenate([a.indptr, a.indptr[-1] + b.indptr[1:]]),
            np.concatenate([a.indices, b.indices]))


def csr_args(w_in, w_rec):
    """Kernel arguments (indptr, indices, data) of w_in then of w_rec (empty arrays when the
    layer has no recurrent weights)."""
    if w_rec is None:
        w_rec = CSR(np.zeros(1, np.int64), np.zeros(0, np.int64), w_in.data[:0], w_in.n)
    return (w_in.indptr, w_in.indices, w_in.data, w_rec.indptr, w_rec.indices, w_rec.data)


def full_rows(n_pre, n):
    """(indptr, indices) of a dense (n_pre, n) matrix seen as CSR (every synapse present)."""
    return (np.arange(n_pre + 1, dtype=np.int64) * n,
            np.tile(np.arange(n, dtype=np.int64), n_pre))


def draw(rng, n_pre, n, p, *, no_diagonal=False):
    """Random connectivity with every (i, j) present independently with probability p.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_pre, n : int
        Presynaptic entries (rows) and postsynaptic neurons.
    p : float
        Connection probability, 0 <= p <= 1.
    no_diagonal : bool
        Never connect i to j = i (recurrent weights without autapses; n_pre == n).

    Returns
    -------
    indptr (n_pre + 1,), indices (nnz,) : int64
        Rows sorted; O(n_pre + nnz) time and memory (per row one binomial draw of the
        out-degree and one choice without replacement, Floyd's algorithm in numpy).
    """
    m = n - 1 if no_diagonal else n
    counts = rng.binomial(m, p, size=n_pre).astype(np.int64) if m > 0 else np.zeros(n_pre, np.int64)
    indptr = np.zeros(n_pre + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=np.int64)
    for i in range(n_pre):
        k = int(counts[i])
        if k == 0:
            continue
        sel = rng.choice(m, k, replace=False, shuffle=False) if k < m else np.arange(m)
        if no_diagonal:
            sel[sel >= i] += 1
        sel.sort()
        indices[indptr[i]:indptr[i + 1]] = sel
    return indptr, indices


def expected_synapses(n_pre, n, p, no_diagonal=False):
    """Expected number of synapses of a drawn matrix (for memory checks before drawing)."""
    return p * n_pre * (n - 1 if no_diagonal else n)
