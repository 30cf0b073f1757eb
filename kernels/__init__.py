"""snnsim.kernels: plain numba kernels over arrays (installed from the top-level ``kernels/``)."""
from . import forward

__all__ = ["forward", "warmup"]


def warmup():
    """Compile (or load from cache) every kernel on tiny float32 and float64 arrays."""
    from ._warmup import run
    run()
