"""Mutable simulation state of a network and the per-block histories a layer produces."""
import weakref
from collections import OrderedDict
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


def block_values(batch, steps, n_in, n_out, sizes):
    """Values one forward block of ``steps`` steps holds: input, readout and the 7 per-neuron
    histories of each layer (the estimate every memory check of a block uses)."""
    return batch * steps * (n_in + n_out + 7 * sum(sizes))


@dataclass
class LayerBlock:
    """Histories of one layer over a block: arrays (B, K, n); ``pre`` is the input actually seen,
    z0 (B, n) the layer's spikes of the step before the block (z_prev[:, 0])."""
    pre: np.ndarray
    z_prev: np.ndarray
    z: np.ndarray
    v: np.ndarray
    a: np.ndarray
    psi: np.ndarray
    z0: np.ndarray = None

    @classmethod
    def empty(cls, B, K, n, dtype, pre=None, lean=False, alloc=None):
        """Uninitialised histories. ``lean``: v, a and z_prev have 0 steps (the forward pass
        then does not write them; for learners that need z and psi only).
        ``alloc(shape, dtype)`` replaces ``np.empty``."""
        alloc = alloc or np.empty
        e = lambda k=K: alloc((B, k, n), dtype)
        kv = 0 if lean else K
        return cls(pre=pre, z_prev=e(kv), z=e(), v=e(kv), a=e(kv), psi=e())

    def record_dict(self, net, l):
        """Variables offered to the recorder: z, v, A (threshold), a, psi."""
        return {"z": self.z, "v": self.v, "A": net.threshold(l, self.a), "a": self.a, "psi": self.psi}


class ArrayPool:
    """Recycles block-history arrays between blocks of one learner (large fresh arrays cost
    a page fault per 4 KiB page on first touch). Only arrays it handed out are taken back;
    it holds no reference to an array that is out (one never given back is freed as usual).
    Free arrays are kept for the ``max_shapes`` most recently used shapes only, so sequences
    of varying length (a new last-block shape each time) do not make it grow."""

    def __init__(self, max_shapes=64):
        self.free = OrderedDict()
        self.lent = weakref.WeakValueDictionary()
        self.max_shapes = max_shapes

    def take(self, shape, dtype):
        key = (tuple(shape), np.dtype(dtype))
        stack = self.free.get(key)
        if stack:
            self.free.move_to_end(key)
            arr = stack.pop()
        else:
            arr = np.empty(shape, dtype)
        self.lent[id(arr)] = arr
        return arr

    def give(self, arr):
        """Return an array (ignored if it was not handed out by this pool)."""
        if arr is None or self.lent.get(id(arr)) is not arr:
            return
        del self.lent[id(arr)]
        key = (arr.shape, arr.dtype)
        self.free.setdefault(key, []).append(arr)
        self.free.move_to_end(key)
        while len(self.free) > self.max_shapes:
            self.free.popitem(last=False)

    def nbytes(self):
        """Bytes held in free arrays."""
        return sum(a.nbytes for stack in self.free.values() for a in stack)
