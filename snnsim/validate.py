"""Small validators shared by the Python API and the config loader (one-line ConfigError each)."""
import difflib
import math
import os

import numpy as np

from .errors import ConfigError


def positive(field, value, *, allow_zero=False):
    """A finite real > 0 (or >= 0 with allow_zero)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(field, f"must be a number, got {type(value).__name__}")
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if not math.isfinite(value) or not ok:
        raise ConfigError(field, f"must be {'>= 0' if allow_zero else '> 0'} and finite, got {value}")
    return value


def finite(field, value):
    """A finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(field, f"must be a number, got {type(value).__name__}")
    if not math.isfinite(float(value)):
        raise ConfigError(field, f"must be finite, got {value}")
    return float(value)


def count(field, value, *, minimum=1):
    """An integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(field, f"must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ConfigError(field, f"must be >= {minimum}, got {value}")
    return int(value)


def probability(field, value):
    value = finite(field, value)
    if not 0.0 < value <= 1.0:
        raise ConfigError(field, f"must be in (0, 1], got {value}")
    return value


def choice(field, value, allowed):
    """One of ``allowed``; the error lists them and suggests the closest."""
    try:
        ok = value in allowed
    except (TypeError, ValueError):   # e.g. an array (ambiguous truth value)
        ok = False
    if not ok:
        names = [str(a) for a in allowed]
        same_case = [a for a in names if a.lower() == str(value).lower()]   # "MSE" -> "mse"
        hint = same_case or difflib.get_close_matches(str(value), names, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(field, f"{value!r} is not allowed; choose one of "
                                 f"{', '.join(map(str, allowed))}{extra}")
    return value


def per_neuron(field, value, n, *, check=positive, **kw):
    """A scalar or a length-n sequence, validated element-wise, returned as float64 (n,)."""
    arr = np.asarray(value, dtype=object)
    if arr.ndim == 0:
        return np.full(n, check(field, value, **kw), dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ConfigError(field, f"must be a scalar or a list of {n} values, got shape {arr.shape}")
    return np.array([check(f"{field}[{k}]", v, **kw) for k, v in enumerate(value)], dtype=np.float64)


def array(field, value, shape, *, dtype=None):
    """A finite numeric array of the given shape (None entries in shape are free)."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ConfigError(field, f"must be a numeric array ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise ConfigError(field, f"must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, arr.shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ConfigError(field, f"must have shape {want}, got {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ConfigError(field, "contains NaN or inf")
    return arr


def memory_bytes():
    """Physical memory of this machine in bytes (None if unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def fits_memory(field, n_values, what, *, itemsize=8):
    """Refuse sizes whose arrays (``n_values`` items in all) could never fit in this machine's memory."""
    need, have = int(n_values) * itemsize, memory_bytes()
    if have is not None and need > have:
        raise ConfigError(field, f"{what} would need {need / 2**30:.3g} GiB, more than this "
                                 f"machine's memory ({have / 2**30:.3g} GiB)")


def unknown_keys(section, given, allowed):
    """Raise for the first key of ``given`` not in ``allowed``, with a 'did you mean'."""
    for key in given:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), list(map(str, allowed)), n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(f"{section}.{key}" if section else key,
                              f"unknown key{extra} (allowed: {', '.join(sorted(allowed))})")
