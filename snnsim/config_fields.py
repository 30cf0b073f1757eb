"""Field checks shared by the config sections: each takes (dotted field path, value).

Every failure is a one-line ConfigError starting with the field path.
"""
import re
from functools import partial

from . import validate as V
from .errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
REQUIRED = object()  # default of a key that must be given


# ----------------------------------------------------------------------- field checks
def ANY(f, v):
    return v


def _bool(f, v):
    if not isinstance(v, bool):
        raise ConfigError(f, f"must be true or false, got {v!r}")
    return v


def _name(f, v):
    if not isinstance(v, str) or not NAME_RE.match(v) or not v.strip("."):
        raise ConfigError(f, f"must be a non-empty name of letters, digits, '_', '.', '-';"
                             f" got {v!r}")
    return v


def _choice(allowed):
    def check(f, v):
        if not isinstance(v, str):
            raise ConfigError(f, f"must be a string, got {type(v).__name__}")
        return V.choice(f, v, list(allowed))
    return check


def _list(f, v, item, what):
    if not isinstance(v, list):
        raise ConfigError(f, f"must be a list of {what}, got {v!r}")
    out = [item(f"{f}[{k}]", x) for k, x in enumerate(v)]
    if len(set(out)) != len(out):
        raise ConfigError(f, f"lists an entry twice: {v}")
    return out


_count, _count0 = V.count, partial(V.count, minimum=0)   # integers >= 1 / >= 0
def _seed(f, v):
    """A seed: an integer in [0, 2**63 - 1] (stored in HDF5 as int64)."""
    v = _count0(f, v)
    if v > 2**63 - 1:
        raise ConfigError(f, f"must be <= 2**63 - 1 = {2**63 - 1}, got {v}")
    return v
_nonneg = partial(V.positive, allow_zero=True)


def _per_neuron(n, check=V.positive, **kw):
    """Scalar or list of n values; stored as given (float or list of floats)."""
    def run(f, v):
        arr = V.per_neuron(f, v, n, check=check, **kw)
        return arr.tolist() if isinstance(v, list) else float(arr[0])
    return run


def _table(f, value):
    if not isinstance(value, dict):
        raise ConfigError(f, f"must be a table, got {type(value).__name__}")
    return value


def _array_of_tables(f, value, example):
    if isinstance(value, dict):
        raise ConfigError(f, f"must be an array of tables ({example}), got a single table")
    if not isinstance(value, list) or not value or not all(isinstance(x, dict) for x in value):
        raise ConfigError(f, f"must be a non-empty array of tables ({example})")
    return value


def _kind(path, t, allowed):
    """The ``type`` key of table ``t`` (checked before the keys that depend on it)."""
    _table(path, t)
    if "type" not in t:
        raise ConfigError(f"{path}.type", f"is required; choose one of {', '.join(allowed)}")
    return _choice(allowed)(f"{path}.type", t["type"])


def _fields(path, table, spec):
    """Validate ``table`` against ``spec`` {key: (check(field, value), default)}."""
    _table(path, table)
    V.unknown_keys(path, table, spec)
    out = {}
    for key, (check, default) in spec.items():
        if key in table:
            out[key] = check(f"{path}.{key}", table[key])
        elif default is REQUIRED:
            raise ConfigError(f"{path}.{key}", "is required")
        elif default is not None:
            out[key] = default
    return out


def _min_tau(f, value, dt, *, allow_zero=False):
    low = min(value) if isinstance(value, list) else value
    if low < dt and not (allow_zero and low == 0.0):
        raise ConfigError(f, f"must be >= network.dt = {dt} ms (dt larger than tau), got {low}")
