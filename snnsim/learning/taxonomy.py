"""Dispatch of the rules added with the taxonomy of recurrent learning rules (Martin-Sanchez,
Bohte & Otte 2022 place them in one family): TBPTT, SnAp-n, UORO, KF-RTRL, RFLO, OSTL and
reward-based e-prop. Each rule lives in its own module; this one checks which
:class:`~.options.RuleOptions` fields a rule takes and calls it."""
from ..errors import ConfigError

RESET_RULES = ("ostl",)                 # take reset = "local" (default) or "detach"
FEEDBACK_RULES = ("rflo", "eprop-reward")   # take feedback = "symmetric" or "random"


def run_taxonomy_rule(net, inputs, targets, family, order, options, rng, *, loss, mask,
                      feedback_w=None):
    """(loss, grads, y) of one of the rules of this module (family/order from ``parse_rule``);
    ``feedback_w``: the fixed random feedback matrix of a rule of ``FEEDBACK_RULES`` (default:
    drawn from ``rng``)."""
    name = family if order is None else f"{family}{order}"
    if options.reset is not None and family not in RESET_RULES:
        raise ConfigError("reset", f"rule {name!r} keeps the exact reset path; reset applies to "
                                   f"{', '.join(RESET_RULES)} and the e-prop rules")
    if options.feedback != "symmetric" and family not in FEEDBACK_RULES:
        raise ConfigError("feedback", f"rule {name!r} uses the exact (symmetric) readout feedback")
    common = dict(loss=loss, mask=mask)
    if family == "tbptt-k":
        from .tbptt import tbptt
        return tbptt(net, inputs, targets, k=order, **common)
    if family == "snap-n":
        from .snap import snap
        return snap(net, inputs, targets, n=order, max_bytes=options.max_bytes, **common)
    if family == "uoro":
        from .uoro import uoro
        return uoro(net, inputs, targets, rng=rng, max_bytes=options.max_bytes, **common)
    if family == "kf-rtrl":
        from .kf_rtrl import kf_rtrl
        return kf_rtrl(net, inputs, targets, rng=rng, max_bytes=options.max_bytes, **common)
    if family == "rflo":
        from .rflo import rflo
        return rflo(net, inputs, targets, feedback=options.feedback, rng=rng,
                    feedback_w=feedback_w, **common)
    if family == "ostl":
        from .ostl import ostl
        return ostl(net, inputs, targets, reset=options.reset or "local", **common)
    if family == "eprop-reward":
        from .eprop_reward import eprop_reward
        return eprop_reward(net, inputs, targets, rng=rng, gamma=options.gamma, c_v=options.c_v,
                            feedback=options.feedback, feedback_w=feedback_w, **common)
    raise ConfigError("rule", f"unknown taxonomy rule {name!r}")
