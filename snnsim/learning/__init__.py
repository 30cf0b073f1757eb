"""Learning rules: BPTT, RTRL, e-prop, m-order e-prop, deep e-prop and the wider family (TBPTT,
SnAp-n, UORO, KF-RTRL, RFLO, OSTL, reward-based e-prop); see ``rules``."""
from .bptt import bptt
from .eprop import OnlineEprop, eprop
from .fidelity import compare, fidelity, format_table
from .loss import loss_and_error
from .options import EpropOptions, RuleOptions
from .rtrl import forward_mode, rtrl
from .kf_rtrl import kf_rtrl
from .ostl import ostl
from .rflo import rflo
from .rules import gradients, parse_rule, run_rule
from .snap import snap
from .tbptt import tbptt
from .uoro import uoro

__all__ = ["bptt", "eprop", "OnlineEprop", "EpropOptions", "RuleOptions", "compare", "fidelity", "format_table",
           "loss_and_error", "forward_mode", "rtrl", "gradients", "parse_rule", "run_rule",
           "tbptt", "snap", "uoro", "kf_rtrl", "rflo", "ostl"]
