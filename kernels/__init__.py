"""snnsim.kernels: plain numba kernels over arrays (installed from the top-level ``kernels/``)."""
from . import forward  # noqa: F401  (re-exported submodule)


def warmup():
    """Compile (or load from cache) every kernel on tiny float32 and float64 arrays."""
    from ._warmup import run
    run()
