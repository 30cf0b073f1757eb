"""Compilation options shared by every kernel in ``snnsim.kernels``.

FASTMATH allows reassociation, contraction and reciprocal approximations but keeps
IEEE NaN/Inf semantics (no ``nnan``/``ninf``), so divergence detection stays reliable.
"""
from numba import njit

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


def kernel(parallel=False, fastmath=True):
    """Decorator: ``njit`` with the project's cache and fastmath settings."""
    return njit(cache=True, parallel=parallel, fastmath=FASTMATH if fastmath else False,
                nogil=True)
