"""Registry of learning rules and ``gradients``: one call for every rule of the family.

Rule names:
  bptt                 exact reverse mode (reference)
  bptt-m<k>            hop-truncated BPTT, paths with at most k explicit hops (analysis)
  rtrl                 exact forward mode (small networks)
  eprop                e-prop (m = 0); lower layers get the spatial learning signal
  eprop-m<k>           m-order e-prop; k = 1 uses the factorised kernel when the network is one
                       LIF layer with a shared leak, otherwise (and k >= 2) the forward-mode engine
  deep-eprop           full depth recursion S^{m<-l} (forward-mode engine at order 0)
  deep-eprop-spatial   = eprop: spatial-only (OSTL-style) learning signal in depth
  deep-eprop-onehop    one-hop trace filtered with the next layer's leak
"""
import re

from .. import validate as V
from ..errors import ConfigError
from .bptt import bptt
from .eprop import FEEDBACK, eprop, m1_supported
from .rtrl import forward_mode

FIXED = ("bptt", "rtrl", "eprop", "deep-eprop", "deep-eprop-spatial", "deep-eprop-onehop")
PATTERNS = ("bptt-m<k>", "eprop-m<k>")


def parse_rule(rule):
    """Return (family, order) for a rule name, or raise ConfigError listing the allowed names."""
    if isinstance(rule, str) and rule in FIXED:
        return rule, None
    m = re.fullmatch(r"(bptt|eprop)-m(\d+)", str(rule))
    if m:
        return m.group(1) + "-m", int(m.group(2))
    V.choice("rule", rule, list(FIXED) + list(PATTERNS))


def online_options(net, rule):
    """OnlineEprop keyword arguments (depth, order) when ``rule`` runs on the fused online
    kernels for ``net``, else None (offline rules and the forward-mode engine)."""
    family, order = parse_rule(rule)
    if family in ("eprop", "deep-eprop-spatial") or (family == "eprop-m" and order == 0):
        return {"depth": "spatial"}
    if family == "deep-eprop-onehop":
        return {"depth": "onehop"}
    if family == "eprop-m" and order == 1 and m1_supported(net):
        return {"order": 1}
    return None


def run_rule(net, inputs, targets, rule="bptt", *, loss="mse", mask=None, feedback="symmetric",
             rng=None, block=256, max_bytes=None, c_reg=0.0, f_target=10.0, engine="auto",
             window_mb=256.0):
    """Compute (loss, grads, y) with the named rule; grads are summed over the batch."""
    family, order = parse_rule(rule)
    V.choice("feedback", feedback, FEEDBACK)
    common = dict(loss=loss, mask=mask)
    eprop_kw = dict(feedback=feedback, rng=rng, block=block, c_reg=c_reg, f_target=f_target,
                    engine=engine, window_mb=window_mb)
    fm_kw = {} if max_bytes is None else {"max_bytes": V.positive("max_bytes", max_bytes)}
    if feedback != "symmetric" and family not in ("eprop", "deep-eprop-spatial",
                                                  "deep-eprop-onehop", "eprop-m"):
        raise ConfigError("feedback", f"rule {rule!r} uses the exact (symmetric) readout feedback")
    if family == "bptt":
        return bptt(net, inputs, targets, **common)
    if family == "bptt-m":
        return bptt(net, inputs, targets, order=order, **common)
    if family == "rtrl":
        return forward_mode(net, inputs, targets, order=None, **common, **fm_kw)
    online = online_options(net, rule)
    if online is not None:
        return eprop(net, inputs, targets, **online, **common, **eprop_kw)
    if family == "deep-eprop":
        return forward_mode(net, inputs, targets, order=0, **common, **fm_kw)
    # eprop-m<k> on the forward-mode engine (k >= 2, or k = 1 where the m1 kernel does not apply)
    if feedback != "symmetric":
        raise ConfigError("feedback", f"{rule} on this network runs on the forward-mode engine, "
                                      "which uses the symmetric feedback only")
    return forward_mode(net, inputs, targets, order=order, **common, **fm_kw)


def gradients(net, inputs, targets, rule="bptt", **kw):
    """Per-weight-matrix gradients (dict name -> array in (pre, post) layout) of the named rule."""
    return run_rule(net, inputs, targets, rule, **kw)[1]
