"""Gradient fidelity: cosine similarity and relative error of each rule's gradient against BPTT."""
import numpy as np

from ..errors import ConfigError
from .rules import parse_rule, run_rule


def compare(g, ref):
    """(cosine similarity, relative error ||g - ref|| / ||ref||) of two arrays."""
    a, b = np.ravel(g).astype(np.float64), np.ravel(ref).astype(np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan")
    rel = float(np.linalg.norm(a - b) / nb) if nb > 0 else float("nan")
    return cos, rel


def fidelity(net, inputs, targets, rules, **kw):
    """Rows (rule, weight, cosine, rel_error, norm) for every rule and weight matrix vs BPTT."""
    if isinstance(rules, str) or not isinstance(rules, (list, tuple)) \
            or not all(isinstance(r, str) for r in rules):
        raise ConfigError("rules", f"must be a list of rule names, e.g. ['eprop', 'rtrl'], "
                                   f"got {rules!r:.60}")
    for r in rules:
        parse_rule(r)
    _, ref, _ = run_rule(net, inputs, targets, "bptt", **{k: v for k, v in kw.items()
                                                           if k in ("loss", "mask")})
    rows = []
    for rule in rules:
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
