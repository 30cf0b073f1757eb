"""Gradient fidelity: cosine similarity and relative error of each rule's gradient against BPTT."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigError
from .rules import parse_rule, run_rule

if TYPE_CHECKING:
    from ..network import Network


def compare(g, ref):
    """(cosine similarity, relative error ||g - ref|| / ||ref||) of two arrays."""
    a, b = np.ravel(g).astype(np.float64), np.ravel(ref).astype(np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan")
    rel = float(np.linalg.norm(a - b) / nb) if nb > 0 else float("nan")
    return cos, rel


def fidelity(net: Network, inputs: ArrayLike, targets: ArrayLike, rules: str | Sequence[str],
             *, episodes: int = 200, **kw: Any) -> list[dict[str, Any]]:
    """Rows (rule, weight, cosine, rel_error, norm) for every rule and weight matrix vs BPTT.

    Parameters
    ----------
    net : snnsim.Network
    inputs, targets : ndarray (B, T, n_in) and (B, T, n_out)
        Input spikes or currents, target readout.
    rules : str or sequence of str
        Rule names (see :mod:`snnsim.learning.rules`); one name is one rule. Anything else
        (e.g. ``rules=5``) is a :class:`~snnsim.ConfigError` naming ``rules``.
    episodes : int
        ``eprop-reward`` (with ``loss="reward"``) samples actions: its rows compare the mean of
        ``episodes`` sampled updates, the policy term ("eprop-reward") with BPTT's gradient of
        minus the expected return and the critic term ("eprop-reward/critic") with BPTT of the
        critic's objective, and add "noise" (standard error of the mean / ||BPTT||); see
        :func:`snnsim.learning.eprop_reward.reward_fidelity`.
    **kw
        Keywords of :func:`~snnsim.learning.rules.run_rule` (``loss``, ``mask``, ``rng``, ...).

    Returns
    -------
    list of dict
        One row per rule and weight matrix: ``cosine`` similarity and ``rel_error``
        ||g - g_bptt|| / ||g_bptt|| (dimensionless), ``norm`` ||g||.
    """
    rules = [rules] if isinstance(rules, str) else rules
    if not isinstance(rules, (list, tuple)) or not rules:
        raise ConfigError("rules", f"must be a rule name or a non-empty list of rule names, "
                                   f"got {type(rules).__name__} {rules!r}"[:200])
    for r in rules:
        parse_rule(r)
    _, ref, _ = run_rule(net, inputs, targets, "bptt", **{k: v for k, v in kw.items()
                                                           if k in ("loss", "mask")})
    rows = []
    for rule in rules:
        if rule == "eprop-reward" and kw.get("loss") == "reward":
            from .eprop_reward import reward_fidelity
            rng = kw.get("rng") or np.random.default_rng(0)
            rows += reward_fidelity(net, inputs, targets, mask=kw.get("mask"),
                                    episodes=episodes, rng=rng,
                                    **{k: kw[k] for k in ("gamma", "c_v") if k in kw})
            continue
        _, g, _ = run_rule(net, inputs, targets, rule, **kw)
        for name in ref:
            cos, rel = compare(g[name], ref[name])
            rows.append({"rule": rule, "weight": name, "cosine": cos, "rel_error": rel,
                         "norm": float(np.linalg.norm(g[name]))})
    return rows


def format_table(rows):
    """Plain-text table of fidelity rows."""
    head = f"{'rule':<20} {'weight':<22} {'cosine':>9} {'rel.err':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['rule']:<20} {r['weight']:<22} {r['cosine']:>9.5f} {r['rel_error']:>10.3e}")
    return "\n".join(lines)
