"""Optimisers over a dict of weight arrays (updated in place), with serialisable state.

- SGD:  w <- w - lr g
- Adam (Kingma & Ba 2015; Bellec et al. 2020 use it with beta1 = 0.9, beta2 = 0.999,
  eps = 1e-8): m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2, then
    ``eps_on="v_hat"`` (Kingma & Ba):  w <- w - lr m_hat / (sqrt(v_hat) + eps)
    ``eps_on="v"`` (TensorFlow, NEST's e-prop): w <- w - lr_t m / (sqrt(v) + eps),
                   lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
  (the same update except where eps matters: eps is added before / after the bias correction).
Learning rates per parameter group: ``lr`` is a number or a dict whose keys are weight names
("layer0.w_in"), kinds ("w_in", "w_rec", "w_out") or "default"; a weight takes the rate of its
name, else of its kind, else the default (a key that matches no weight is an error).
Updates are computed in float64 and cast to the weights' dtype; connectivity masks are
re-applied so absent synapses stay absent. ``step`` returns the applied deltas.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from numpy.typing import ArrayLike

from . import validate as V

OPTIMIZERS = ("sgd", "adam")
EPS_ON = ("v_hat", "v")
KINDS = ("w_in", "w_rec", "w_out")


def _check_lr(lr):
    """A positive number, or a dict of positive numbers keyed by weight name, kind or "default"."""
    if not isinstance(lr, dict):
        return V.positive("optimizer.lr", lr)
    if not lr:
        raise V.ConfigError("optimizer.lr", "an empty dict gives no learning rate")
    return {str(k): V.positive(f"optimizer.lr.{k}", v) for k, v in lr.items()}


class SGD:
    """Stochastic gradient descent: ``w <- w - lr g`` (in place, masks re-applied).

    Parameters
    ----------
    lr : float or dict
        Learning rate, or per-group rates (see the module docstring).
    """

    name = "sgd"

    def __init__(self, lr: float = 1e-3) -> None:
        self.lr = _check_lr(lr)
        self.t = 0

    def rate(self, name: str) -> float:
        """Learning rate of weight ``name`` (its own entry, else its kind's, else "default")."""
        if not isinstance(self.lr, dict):
            return self.lr
        kind = name.rsplit(".", 1)[-1]
        for key in (name, kind, "default"):
            if key in self.lr:
                return self.lr[key]
        raise V.ConfigError("optimizer.lr", f"no learning rate for {name!r} (give it, its kind "
                                            f"{kind!r} or 'default')")

    def _check_groups(self, names):
        if isinstance(self.lr, dict):
            for key in self.lr:
                if key != "default" and key not in KINDS and key not in names:
                    V.choice("optimizer.lr", key, ["default", *KINDS, *names])

    def _delta(self, name, g):
        return -self.rate(name) * g

    def step(self, weights: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray],
             masks: Mapping[str, np.ndarray | None] | None = None
             ) -> dict[str, np.ndarray]:
        if self.t == 0:
            self._check_groups(list(weights))
        self.t += 1
        deltas = {}
        for name, g in grads.items():
            d = self._delta(name, g.astype(np.float64))
            if masks is not None and masks.get(name) is not None:
                d = d * masks[name]
            w = weights[name]
            w += d.astype(w.dtype)
            deltas[name] = d
        return deltas

    def state(self) -> dict[str, np.ndarray]:
        """Arrays and scalars that reproduce the optimiser exactly (for checkpoints)."""
        return {"t": np.array(self.t)}

    def load_state(self, state: Mapping[str, ArrayLike]) -> None:
        self.t = int(np.asarray(state["t"]))


class Adam(SGD):
    """Adam (Kingma & Ba 2015) with bias correction, updating weights in place.

    Parameters
    ----------
    lr : float
        Learning rate.
    beta1, beta2 : float
        Decay rates of the first and second moment estimates, in [0, 1).
    eps : float
        Added to the square root of the second moment.
    """

    name = "adam"

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, eps_on: str = "v_hat") -> None:
        super().__init__(lr)
        self.eps_on = V.choice("optimizer.eps_on", eps_on, EPS_ON)
        self.beta1 = V.finite("optimizer.beta1", beta1)
        self.beta2 = V.finite("optimizer.beta2", beta2)
        for field, b in (("optimizer.beta1", self.beta1), ("optimizer.beta2", self.beta2)):
            if not 0.0 <= b < 1.0:
                raise V.ConfigError(field, f"must be in [0, 1), got {b}")
        self.eps = V.positive("optimizer.eps", eps)
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def _delta(self, name, g):
        m = self.m.setdefault(name, np.zeros_like(g))
        v = self.v.setdefault(name, np.zeros_like(g))
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        lr = self.rate(name)
        if self.eps_on == "v":
            lr_t = lr * np.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)
            return -lr_t * m / (np.sqrt(v) + self.eps)
        m_hat = m / (1 - self.beta1 ** self.t)
        v_hat = v / (1 - self.beta2 ** self.t)
        return -lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def state(self) -> dict[str, np.ndarray]:
        out = super().state()
        for name in self.m:
            out[f"m/{name}"] = self.m[name]
            out[f"v/{name}"] = self.v[name]
        return out

    def load_state(self, state: Mapping[str, ArrayLike]) -> None:
        super().load_state(state)
        self.m = {k[2:]: np.array(v, dtype=np.float64) for k, v in state.items() if k.startswith("m/")}
        self.v = {k[2:]: np.array(v, dtype=np.float64) for k, v in state.items() if k.startswith("v/")}


def make_optimizer(name: str = "adam", **kw: Any) -> SGD:
    """An optimiser by name.

    Parameters
    ----------
    name : {"sgd", "adam"}
        :class:`SGD` or :class:`Adam`.
    **kw
        Its constructor's arguments (e.g. ``lr``, a number or a dict per weight group).

    Returns
    -------
    SGD or Adam
    """
    V.choice("optimizer.name", name, list(OPTIMIZERS))
    return {"sgd": SGD, "adam": Adam}[name](**kw)
