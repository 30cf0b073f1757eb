"""Learning rules: BPTT, RTRL, e-prop, m-order e-prop and deep e-prop (see ``rules``)."""
from .bptt import bptt
from .eprop import OnlineEprop, eprop
from .fidelity import compare, fidelity, format_table
from .loss import loss_and_error
from .options import EpropOptions, RuleOptions
from .rtrl import forward_mode, rtrl
from .rules import gradients, parse_rule, run_rule

__all__ = ["bptt", "eprop", "OnlineEprop", "EpropOptions", "RuleOptions", "compare", "fidelity", "format_table",
           "loss_and_error", "forward_mode", "rtrl", "gradients", "parse_rule", "run_rule"]
