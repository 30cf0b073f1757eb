"""Mutable simulation state of a network and the per-block histories a layer produces."""
from dataclasses import dataclass

import numpy as np

from .errors import DivergenceError


@dataclass
class NetState:
    v: list
    a: list
    z: list
    ref: list
    x_last: list
    y: np.ndarray

    @classmethod
    def zeros(cls, net, batch):
        dt = net.dtype
        n_pre = [net.n_in] + net.sizes[:-1]
        return cls(v=[np.zeros((batch, n), dt) for n in net.sizes],
                   a=[np.zeros((batch, n), dt) for n in net.sizes],
                   z=[np.zeros((batch, n), dt) for n in net.sizes],
                   ref=[np.zeros((batch, n), np.int64) for n in net.sizes],
                   x_last=[np.zeros((batch, n), dt) for n in n_pre],
                   y=np.zeros((batch, net.readout.n), dt))

    def check_finite(self, step):
        for l, v in enumerate(self.v):
            if not np.all(np.isfinite(v)) or not np.all(np.isfinite(self.a[l])):
                raise DivergenceError(f"state of layer {l} became NaN/inf by step {step}")
        if not np.all(np.isfinite(self.y)):
            raise DivergenceError(f"readout became NaN/inf by step {step}")


@dataclass
class LayerBlock:
    """Histories of one layer over a block: arrays (B, K, n); ``pre`` is the input actually seen."""
    pre: np.ndarray
    z_prev: np.ndarray
    z: np.ndarray
    v: np.ndarray
    a: np.ndarray
    psi: np.ndarray

    @classmethod
    def empty(cls, B, K, n, dtype, pre):
        e = lambda: np.empty((B, K, n), dtype)
        return cls(pre=pre, z_prev=e(), z=e(), v=e(), a=e(), psi=e())

    def record_dict(self, net, l):
        """Variables offered to the recorder: z, v, A (threshold), a, psi."""
        return {"z": self.z, "v": self.v, "A": net.threshold(l, self.a), "a": self.a, "psi": self.psi}
