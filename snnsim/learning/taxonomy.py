"""Dispatch of the rules added with the taxonomy of recurrent learning rules (Martin-Sanchez,
Bohte & Otte 2022 place them in one family): TBPTT, SnAp-n, UORO, KF-RTRL, RFLO, OSTL and
reward-based e-prop. Each rule lives in its own module; this one checks which
:class:`~.options.RuleOptions` fields a rule takes and calls it."""
from ..errors import ConfigError

RESET_RULES = ("ostl",)                 # take reset = "local" (default) or "detach"
FEEDBACK_RULES = ("rflo",)              # take feedback = "symmetric" or "random"


def run_taxonomy_rule(net, inputs, targets, family, order, options, rng, *, loss, mask):
    """(loss, grads, y) of one of the rules of this module (family/order from ``parse_rule``)."""
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
        return rflo(net, inputs, targets, feedback=options.feedback, rng=rng, **common)
    if family == "ostl":
        from .ostl import ostl
        return ostl(net, inputs, targets, reset=options.reset or "local", **common)
    raise ConfigError("rule", "rule 'eprop-reward' learns from rewards, not targets: use "
                              "snnsim.learning.eprop_reward.episode_grads")
