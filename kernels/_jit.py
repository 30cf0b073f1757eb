"""Compilation options shared by every kernel in ``snnsim.kernels``, and when to use threads.

FASTMATH allows reassociation, contraction and reciprocal approximations but keeps
IEEE NaN/Inf semantics (no ``nnan``/``ninf``), so divergence detection stays reliable.

A kernel declared ``parallel`` (a ``prange`` over the trials, the first axis of its first
argument) is compiled twice from the same code: with threads, and serially (its "twin").
Each call takes the threaded version only when it pays: at least 2 trials, more than one
numba thread, and per-step work (trials x the last axes of the first two arguments: trials x
inputs x neurons for the forward and trace kernels) of at least ``PAR_MIN_WORK``.
Otherwise a parallel region costs more than it saves (thread wake-up per call, and on a
busy machine a barrier waiting for a descheduled thread: measured 15 ms per call instead of
0.15 ms), and the serial twin is the only version a run compiles (about half the compile time
of the threaded one). The choice depends on shapes that are fixed within a run, so a run
compiles one of the two.

Idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``, unless the user
set it) so that they never take a core from the other thread or another process.
"""
import contextlib
import os
import types

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # read when numba's OpenMP pool starts

import numba  # noqa: E402
from numba import njit  # noqa: E402

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
PAR_MIN_WORK = 1 << 15   # multiply-adds per step below which threads do not pay
_MODE = [None]           # None: choose per call; "both" (warm-up), "serial" or "parallel"


def _options(parallel, fastmath):
    return dict(cache=True, parallel=parallel, fastmath=FASTMATH if fastmath else False, nogil=True)


class ParallelKernel:
    """A ``prange`` kernel compiled with threads (``.parallel``) and serially (``.serial``);
    calling it picks one (see the module docstring). Both have their own on-disk cache."""

    def __init__(self, func, fastmath):
        self.parallel = njit(**_options(True, fastmath))(func)
        twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + "_serial",
                                  func.__defaults__, func.__closure__)
        twin.__qualname__ = func.__qualname__ + "_serial"   # a cache file of its own
        twin.__module__, twin.__doc__ = func.__module__, func.__doc__
        self.serial = njit(**_options(False, fastmath))(twin)
        self.py_func = func
        self.__doc__, self.__name__, self.__module__ = func.__doc__, func.__name__, func.__module__

    @property
    def stats(self):
        """numba's cache statistics of both versions (hits and misses per signature)."""
        from types import SimpleNamespace
        par, ser = self.parallel.stats, self.serial.stats
        return SimpleNamespace(cache_hits={**ser.cache_hits, **{("par",) + tuple(k): v for k, v in par.cache_hits.items()}},
                               cache_misses={**ser.cache_misses, **{("par",) + tuple(k): v for k, v in par.cache_misses.items()}})

    @property
    def signatures(self):
        return list(self.parallel.signatures) + list(self.serial.signatures)

    def choose(self, a0, a1):
        """The version a call with first arguments a0 (B, ...) and a1 (..., n) runs."""
        B = a0.shape[0]
        if B < 2 or numba.get_num_threads() < 2:
            return self.serial
        per_step = B * a0.shape[-1] * a1.shape[-1]
        return self.parallel if per_step >= PAR_MIN_WORK else self.serial

    def __call__(self, *args):
        mode = _MODE[0]
        if mode is None:
            return self.choose(args[0], args[1])(*args)
        if mode == "both":
            self.serial(*args)
        return (self.serial if mode == "serial" else self.parallel)(*args)


@njit(inline="always")
def store(dst, src):
    """dst[:] = src for 1-D arrays, as a loop: numba compiles a slice assignment from an array
    with a formatted shape-mismatch error (~2 s of the first run's compile time); a loop needs
    none. Modifies dst in place."""
    for j in range(dst.shape[0]):
        dst[j] = src[j]


def kernel(parallel=False, fastmath=True, twin=True):
    """Decorator: ``njit`` with the project's cache and fastmath settings; ``parallel``
    kernels become a :class:`ParallelKernel` (threaded version and serial twin), or with
    ``twin=False`` a plain threaded kernel (for a kernel whose serial compilation rounds
    differently: tests/test_parallel_twins.py checks that every twin is bit-identical)."""
    if not parallel or not twin:
        return njit(**_options(parallel, fastmath))
    return lambda func: ParallelKernel(func, fastmath)


@contextlib.contextmanager
def versions(mode):
    """Within this block every ParallelKernel call runs the "serial" or the "parallel"
    version, or ("both", the warm-up) compiles or loads both and returns the parallel one's
    result (the kernels modify their arguments in place: for warm-up data only)."""
    _MODE[0] = mode
    try:
        yield
    finally:
        _MODE[0] = None


class _CompileNotice(numba.core.event.Listener):
    """Calls ``write(message)`` once, when the first snnsim kernel misses numba's cache."""

    def __init__(self, write):
        self.write, self.done = write, False

    def on_start(self, event):
        func = getattr(event.data.get("dispatcher"), "py_func", None)
        if not self.done and getattr(func, "__module__", "").startswith("snnsim.kernels"):
            self.done = True
            self.write("compiling kernels (first run only; later runs load them from numba's cache)")

    def on_end(self, event):
        pass


def announce_compiles(write):
    """From now on, say once (``write(str)``) when kernels are being compiled."""
    numba.core.event.register("numba:compile", _CompileNotice(write))
