"""Gradient fidelity: cosine similarity and relative error of each rule's gradient against BPTT."""
import numpy as np

from .rules import parse_rule, run_rule


def compare(g, ref):
    """(cosine similarity, relative error ||g - ref|| / ||ref||) of two arrays."""
    a, b = np.ravel(g).astype(np.float64), np.ravel(ref).astype(np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan")
    rel = float(np.linalg.norm(a - b) / nb) if nb > 0 else float("nan")
    return cos, rel


def fidelity(net, inputs, targets, rules, *, episodes=200, **kw):
    """Rows (rule, weight, cosine, rel_error, norm) for every rule and weight matrix vs BPTT.

    ``eprop-reward`` (with ``loss="reward"``) samples actions: its rows compare the mean of
    ``episodes`` sampled updates, the policy term ("eprop-reward") with BPTT's gradient of
    minus the expected return and the critic term ("eprop-reward/critic") with BPTT of the
    critic's objective, and add "noise" (standard error of the mean / ||BPTT||); see
    :func:`snnsim.learning.eprop_reward.reward_fidelity`. Other keywords: as ``run_rule``.
    """
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
