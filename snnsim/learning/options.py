"""Typed settings of the learning rules, validated once where they enter.

- :class:`RuleOptions`: settings any rule may take (``gradients``, ``run_rule``, the Trainer and
  the ``[train]`` section build one; inner code trusts it).
- :class:`EpropOptions`: the resolved settings of one online e-prop learner (engine chosen,
  depth variant and order fixed by the rule name), built by :meth:`RuleOptions.eprop` or
  :meth:`EpropOptions.build`.

Both are frozen dataclasses: pass them down whole; build a new one with
``dataclasses.replace`` (then call ``validated()``) to change a field.

Reset convention (``RESETS``) of the approximate rules; the reset -v_th z_j^{t-1} is a path
from neuron j to itself:
- ``"detach"``: the reset is an explicit self hop, W~ = zeta W_rec - v_th I, cut with the
  lateral weights at order 0 (Bellec et al. 2020's code and NEST's e-prop);
- ``"local"``: the reset stays in the within-neuron Jacobian,
  dv^t/dv^{t-1} = alpha - v_th psi^{t-1},  dv^t/da^{t-1} = v_th beta psi^{t-1},
  da^t/dv^{t-1} = psi^{t-1},              da^t/da^{t-1} = rho - beta psi^{t-1},
  and a hop is one pass through zeta W_rec only.
Exact rules (BPTT, RTRL) give the same gradient with either.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from .. import validate as V
from ..errors import ConfigError

FEEDBACK = ("symmetric", "random", "adaptive")
DEPTH = ("spatial", "onehop")
ENGINES = ("window", "trace")
RESETS = ("detach", "local")
# default reset convention of each rule family: the one under which the rule's name keeps its
# paper's promise (e-prop: Bellec 2020 / NEST, the reset is cut; the depth recursion: exact on a
# stack without lateral recurrence; m-order e-prop: fidelity improves with the order)
DEFAULT_RESET = {"bptt": "detach", "rtrl": "detach", "eprop": "detach",
                 "deep-eprop-spatial": "detach", "deep-eprop-onehop": "detach",
                 "deep-eprop": "local", "eprop-m": "local", "bptt-m": "local",
                 # the taxonomy rules (taxonomy.py): only ostl takes a convention
                 "ostl": "local", "tbptt-k": "detach", "snap-n": "detach", "uoro": "detach",
                 "kf-rtrl": "detach", "rflo": "detach", "eprop-reward": "detach"}
AUTO_MIN_WINDOW = 200   # online updates more often than this: the trace engine is faster


def choose_engine(engine, update_every=None):
    """Resolve ``engine`` ("auto", "window" or "trace"). "auto": the window engine, unless
    weights are updated every fewer than AUTO_MIN_WINDOW steps; then every update closes a
    short window and the per-step trace kernels are faster (measured: benchmarks/README.md).
    With the trace engine the Trainer then runs the online loop compiled when it can
    (``snnsim.learning.eprop_fused.fused_unsupported`` says when not; ``Trainer.online_path``)."""
    V.choice("engine", engine, ("auto",) + ENGINES)
    if engine != "auto":
        return engine
    return "trace" if update_every and update_every < AUTO_MIN_WINDOW else "window"


def m1_supported(net):
    """The factorised m = 1 kernel needs one recurrent LIF layer whose neurons share one leak."""
    p = net.params[0]
    return (len(net.layers) == 1 and net.w_rec[0] is not None and not np.any(p["beta"] != 0)
            and np.all(p["alpha"] == p["alpha"][0]))


def _check_keys(what, given, cls):
    allowed = [f.name for f in fields(cls)]
    V.unknown_keys(what, given, allowed)


@dataclass(frozen=True)
class EpropOptions:
    """Settings of one :class:`~snnsim.learning.eprop.OnlineEprop` learner.

    Parameters
    ----------
    order : {0, 1}
        0: e-prop; 1: the factorised first-order term of m-order e-prop (one recurrent LIF
        layer with a shared leak, trace engine).
    depth : {"spatial", "onehop"}
        Learning signal of lower layers (deep e-prop variants).
    feedback : {"symmetric", "random", "adaptive"}
        Feedback matrix of the top layer's learning signal.
    c_reg : float
        Firing-rate regularisation strength (>= 0).
    f_target : float
        Target firing rate of the regulariser, Hz (>= 0).
    engine : {"window", "trace"}
        Resolved engine (see :func:`choose_engine` for "auto").
    window_mb : float
        Memory cap of one window of the window engine, MiB (> 0).
    lazy : bool
        Use the activity-proportional trace kernel where the layer allows it (trace engine).
    reset : {"detach", "local"}
        Reset convention: "detach" (Bellec 2020 / NEST) or "local" (the reset stays in the
        within-neuron Jacobian; not with order 1, whose factorised kernel needs a shared,
        psi-independent leak).
    """
    order: int = 0
    depth: str = "spatial"
    feedback: str = "symmetric"
    c_reg: float = 0.0
    f_target: float = 10.0
    engine: str = "window"
    window_mb: float = 256.0
    lazy: bool = True
    reset: str = "detach"

    @classmethod
    def build(cls, *, engine="auto", update_every=None, **settings):
        """Validated options from keyword settings; ``engine="auto"`` is resolved with
        ``update_every`` (steps between weight updates, None for once per sequence)."""
        _check_keys("eprop", settings, cls)
        return replace(cls(), engine=choose_engine(engine, update_every), **settings).validated()

    def validated(self):
        """Check every field (one-line ConfigError naming it); returns self."""
        V.choice("order", self.order, [0, 1])
        V.choice("depth", self.depth, DEPTH)
        V.choice("feedback", self.feedback, FEEDBACK)
        V.positive("c_reg", self.c_reg, allow_zero=True)
        V.positive("f_target", self.f_target, allow_zero=True)
        V.choice("engine", self.engine, ENGINES)
        V.positive("window_mb", self.window_mb)
        V.choice("lazy", self.lazy, [True, False])
        V.choice("reset", self.reset, RESETS)
        if self.order == 1 and self.reset != "detach":
            raise ConfigError("reset", "the factorised eprop-m1 kernel needs reset = 'detach' "
                                       "(with 'local' eprop-m1 runs on the forward-mode engine)")
        return self

    @property
    def windowed(self):
        """True when the window engine computes the traces (order 0)."""
        return self.engine == "window" and self.order == 0

    def depth_filter(self, net, l):
        """(a_hat, delay) of layer l's H trace: lower layers of the deep variants filter e with
        the next layer's mean leak (``depth="onehop"``) or not at all (``"spatial"``); ``delay``
        is the next layer's inter-layer delay. The top layer has no H trace: (0, False)."""
        if l == len(net.sizes) - 1:
            return 0.0, False
        a_hat = float(np.mean(net.params[l + 1]["alpha"])) if self.depth == "onehop" else 0.0
        return a_hat, net.layers[l + 1].delay


@dataclass(frozen=True)
class RuleOptions:
    """Settings shared by every learning rule (see :func:`snnsim.learning.rules.run_rule`).

    Parameters
    ----------
    feedback : {"symmetric", "random", "adaptive"}
        Top-layer feedback of the online e-prop rules; the exact rules need "symmetric".
    c_reg, f_target : float
        Firing-rate regularisation of the online rules (f_target in Hz).
    engine : {"auto", "window", "trace"}
        Engine of the online e-prop rules.
    window_mb : float
        Memory cap of a window of the window engine, MiB.
    block : int
        Steps per forward block of the online rules (> 0).
    max_bytes : int or None
        Memory limit of the forward-mode engine (RTRL, m >= 2, deep-eprop), bytes.
    reset : {"detach", "local"} or None
        Reset convention (None: the rule's default, ``DEFAULT_RESET``).
    gamma : float
        ``eprop-reward`` only: discount factor of the rewards per step, in [0, 1] (not the
        surrogate gradient's gamma).
    c_v : float
        ``eprop-reward`` only: weight of the critic's learning signal (>= 0).
    """
    feedback: str = "symmetric"
    c_reg: float = 0.0
    f_target: float = 10.0
    engine: str = "auto"
    window_mb: float = 256.0
    block: int = 256
    max_bytes: int | None = None
    reset: str | None = None
    gamma: float = 0.9
    c_v: float = 0.5

    @classmethod
    def build(cls, **settings):
        """Validated options from keyword settings (unknown names are a ConfigError)."""
        _check_keys("", settings, cls)
        return cls(**settings).validated()

    def validated(self):
        V.choice("feedback", self.feedback, FEEDBACK)
        V.positive("c_reg", self.c_reg, allow_zero=True)
        V.positive("f_target", self.f_target, allow_zero=True)
        V.choice("engine", self.engine, ("auto",) + ENGINES)
        V.positive("window_mb", self.window_mb)
        V.count("block", self.block)
        if self.max_bytes is not None:
            V.positive("max_bytes", self.max_bytes)
        if self.reset is not None:
            V.choice("reset", self.reset, RESETS)
        if not 0.0 <= V.finite("gamma", self.gamma) <= 1.0:
            raise ConfigError("gamma", f"must be in [0, 1], got {self.gamma}")
        V.positive("c_v", self.c_v, allow_zero=True)
        return self

    def check_reward_settings(self, rule):
        """ConfigError if ``gamma``/``c_v`` are set for a rule other than eprop-reward."""
        default = RuleOptions()
        for name in ("gamma", "c_v"):
            if getattr(self, name) != getattr(default, name) and rule != "eprop-reward":
                raise ConfigError(name, f"applies to rule 'eprop-reward' only, not {rule!r}")

    def reset_for(self, rule):
        """The reset convention ``rule`` runs with: ``reset``, or the rule's default."""
        from .rules import parse_rule
        return self.reset or DEFAULT_RESET[parse_rule(rule)[0]]

    def eprop(self, net, rule, update_every=None):
        """The :class:`EpropOptions` of ``rule`` when it runs on the online e-prop engines for
        ``net``, else None (offline rules and the forward-mode engine)."""
        from .rules import parse_rule
        family, order = parse_rule(rule)
        reset = self.reset_for(rule)
        one_layer = len(net.layers) == 1   # m-order e-prop keeps every path between layers:
        if family in ("eprop", "deep-eprop-spatial") or (family == "eprop-m" and order == 0
                                                          and one_layer):
            kind = {"depth": "spatial"}
        elif family == "deep-eprop-onehop":
            kind = {"depth": "onehop"}
        elif family == "eprop-m" and order == 1 and m1_supported(net) and reset == "detach":
            kind = {"order": 1}
        else:
            return None
        return EpropOptions(feedback=self.feedback, c_reg=self.c_reg, f_target=self.f_target,
                            engine=choose_engine(self.engine, update_every),
                            window_mb=self.window_mb, reset=reset, **kind).validated()
