"""A small TOML writer for the tests, independent of snnsim's own (``snnsim.sweep.dump_toml``).

Every top-level key is written as ``key = inline value`` (tables as inline tables, arrays of
tables as arrays of inline tables); ``tomllib`` reads the text back to the same dict. Used by the
fuzz tests and by the ``config`` fixture of ``conftest.py`` for configs with overrides.
"""
import datetime
import json
import math


def _toml(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(map(_toml, v)) + "]"
    return "{" + ", ".join(f"{_toml(str(k))} = {_toml(x)}" for k, x in v.items()) + "}"


def dump_toml(cfg):
    """Every top-level key as ``key = inline value`` (tomllib reads it back to ``cfg``)."""
    return "".join(f"{_toml(str(k))} = {_toml(v)}\n" for k, v in cfg.items())
