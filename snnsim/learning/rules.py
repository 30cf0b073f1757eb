"""Registry of learning rules and ``gradients``: one call for every rule of the family.

Rule names (default reset convention in brackets, see ``options``; ``reset=`` overrides it):
  bptt                 exact reverse mode (reference)
  bptt-m<k>            [local] hop-truncated BPTT, paths with at most k explicit hops (analysis)
  rtrl                 exact forward mode (small networks)
  eprop                [detach] e-prop (m = 0; Bellec 2020, NEST). One layer, symmetric
                       feedback: equals BPTT with the explicit recurrent paths cut (bptt-m0 with
                       reset detach); lower layers get the spatial learning signal (approximate)
  eprop-m<k>           [local] m-order e-prop: paths with at most k hops, every inter-layer path
                       kept (so eprop-m0 on a deep net is the depth recursion); equals bptt-m<k>
                       of the same convention. k = 1 uses the factorised kernel when the network
                       is one LIF layer with a shared leak and reset = "detach"; otherwise (and
                       k >= 2) the forward-mode engine. With "local" the error to BPTT decreases
                       with k in median; with "detach" odd k add an alternating reset series
  deep-eprop           [local] full depth recursion S^{m<-l} (forward-mode engine at order 0);
                       equals BPTT on a stack without lateral recurrence (readout filter kappa
                       included); with reset detach it equals bptt-m0 with reset detach
  deep-eprop-spatial   [detach] = eprop: spatial-only (OSTL-style) learning signal in depth
  deep-eprop-onehop    [detach] one-hop trace filtered with the next layer's leak; equals
                       bptt-m0 (reset detach) for the layer just below a LIF layer with one
                       shared leak only when tau_out = 0 (kappa = 0); otherwise approximate
  tbptt-k<K>           truncated BPTT over windows of K steps, state carried (tbptt.py)
  snap-n<n>            SnAp-n: RTRL kept on the n-step sparsity pattern (snap.py)
  uoro                 UORO: unbiased rank-1 RTRL estimate, random (uoro.py)
  kf-rtrl              Kronecker-factored RTRL, unbiased, random (kf_rtrl.py)
  rflo                 random-feedback local online learning, one layer (rflo.py)
  ostl                 online spatio-temporal learning (ostl.py)
  eprop-reward         reward-based e-prop, actor-critic, one layer (eprop_reward.py): needs
                       loss "reward" (targets = a reward table, mask = decision steps) and
                       rng (draws the actions); settings gamma, c_v, feedback
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .. import validate as V
from ..errors import ConfigError
from .bptt import bptt
from .eprop import eprop
from .options import RuleOptions
from .rtrl import forward_mode

if TYPE_CHECKING:
    from ..network import Network

FIXED = ("bptt", "rtrl", "eprop", "deep-eprop", "deep-eprop-spatial", "deep-eprop-onehop")
TAXONOMY = ("uoro", "kf-rtrl", "rflo", "ostl", "eprop-reward")   # more rules: taxonomy.py
PATTERNS = ("bptt-m<k>", "eprop-m<k>", "tbptt-k<K>", "snap-n<n>")
ONLINE = ("eprop", "eprop-m", "deep-eprop-spatial", "deep-eprop-onehop")   # take any feedback


def parse_rule(rule):
    """Return (family, order) for a rule name, or raise ConfigError listing the allowed names."""
    if isinstance(rule, str) and rule in FIXED + TAXONOMY:
        return rule, None
    m = re.fullmatch(r"(bptt|eprop)-m(\d+)", str(rule))
    if m:
        return m.group(1) + "-m", int(m.group(2))
    m = re.fullmatch(r"(tbptt)-k([1-9]\d*)|(snap)-n([1-9]\d*)", str(rule))
    if m:
        return (m.group(1) + "-k", int(m.group(2))) if m.group(1) else (m.group(3) + "-n",
                                                                           int(m.group(4)))
    V.choice("rule", rule, list(FIXED) + list(TAXONOMY) + list(PATTERNS))


def run_rule(net, inputs, targets, rule="bptt", *, loss="mse", mask=None, rng=None,
             options=None, feedback_w=None, **settings):
    """Compute (loss, grads, y) with the named rule; grads are summed over the batch.

    Parameters
    ----------
    net : snnsim.Network
    inputs, targets : arrays (B, T, n_in) and (B, T, n_out)
    rule : str
        A rule name (see the module docstring).
    loss : {"mse", "ce", "reward"}
        Mean squared error, cross-entropy, or ``"reward"``: targets are a reward table
        (``snnsim.learning.reward``); any other name is a ConfigError.
    mask : array (B, T) or None
        Steps that enter the loss (with ``"reward"``: the decision steps).
    rng : numpy.random.Generator, optional
        Draws the random feedback matrix of ``feedback="random"``/``"adaptive"``, the random
        rules' samples and eprop-reward's actions.
    options : RuleOptions, optional
        Validated settings; or give :class:`RuleOptions` fields as keyword ``settings``.
    feedback_w : array (n_top, n_out), optional
        Fixed random feedback matrix of rflo / eprop-reward with ``feedback="random"``
        (default: drawn from ``rng`` on every call).
    """
    family, order = parse_rule(rule)
    if options is None:
        options = RuleOptions.build(**settings)
    elif settings:
        raise ConfigError(next(iter(settings)), "give either options or keyword settings")
    options.check_reward_settings(family)
    common = dict(loss=loss, mask=mask)
    if net.is_sparse() and (family not in ONLINE or options.eprop(net, rule) is None):
        net.require_dense(f"rule {rule!r}")
    if family in TAXONOMY + ("tbptt-k", "snap-n"):
        from .taxonomy import run_taxonomy_rule
        return run_taxonomy_rule(net, inputs, targets, family, order, options, rng,
                                 feedback_w=feedback_w, **common)
    if feedback_w is not None:
        raise ConfigError("feedback_w", f"rule {rule!r} takes no fixed feedback matrix here")
    fm_kw = {} if options.max_bytes is None else {"max_bytes": options.max_bytes}
    reset = options.reset_for(rule)
    if options.feedback != "symmetric" and family not in ONLINE:
        raise ConfigError("feedback", f"rule {rule!r} uses the exact (symmetric) readout feedback")
    if family == "bptt":
        return bptt(net, inputs, targets, **common)
    if family == "bptt-m":
        return bptt(net, inputs, targets, order=order, reset=reset, **common)
    if family == "rtrl":
        return forward_mode(net, inputs, targets, order=None, **common, **fm_kw)
    online = options.eprop(net, rule)
    if online is not None:
        return eprop(net, inputs, targets, block=options.block, rng=rng, options=online, **common)
    if family == "deep-eprop":
        return forward_mode(net, inputs, targets, order=0, reset=reset, **common, **fm_kw)
    # eprop-m<k> on the forward-mode engine (k >= 2, or k = 1 where the m1 kernel does not apply)
    if options.feedback != "symmetric":
        raise ConfigError("feedback", f"{rule} on this network runs on the forward-mode engine, "
                                      "which uses the symmetric feedback only")
    return forward_mode(net, inputs, targets, order=order, reset=reset, **common, **fm_kw)


def gradients(net: Network, inputs: ArrayLike, targets: ArrayLike, rule: str = "bptt",
              **kw: Any) -> dict[str, np.ndarray]:
    """Per-weight-matrix gradients of the named rule, summed over the batch.

    Parameters
    ----------
    net : snnsim.Network
    inputs : array (B, T, n_in)
        Input spikes (0/1) or currents per trial and step (dt ms each).
    targets : array (B, T, n_out)
        Target readout (``loss="mse"``) or one-hot classes (``loss="ce"``).
    rule : str
        A rule name (see the module docstring), e.g. ``"bptt"``, ``"eprop"``, ``"eprop-m1"``.
    **kw
        Keywords of :func:`run_rule`: ``loss`` ({"mse", "ce"}), ``mask``, ``rng``,
        ``options`` or :class:`~snnsim.learning.options.RuleOptions` fields.

    Returns
    -------
    dict
        Weight name (e.g. ``"hidden.w_in"``) -> gradient dE/dW, (pre, post) layout, in units
        of the loss per unit weight.
    """
    return run_rule(net, inputs, targets, rule, **kw)[1]
