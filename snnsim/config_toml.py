"""Writing a config back as TOML (``snnsim info --config``), the inverse of :func:`snnsim.config.load_config`.

A stored config (the JSON of a file's ``config`` attribute) holds the validated sections
with their defaults filled in; :func:`config_to_toml` writes them as TOML that
``snnsim run`` / ``snnsim train`` accept: tables for sections, arrays of tables for
``[[layer]]`` and ``[[layer.population]]``, derived values (a layer's ``n``) left out.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import ConfigError

#: fields computed by validation, not accepted in a config file
DERIVED = {("layer",): ("n",)}
#: sections in the order of a hand-written config
ORDER = ("network", "layer", "readout", "input", "record", "task", "train")


_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(k: str) -> str:
    """A TOML key: bare when it may be, else quoted."""
    return k if _BARE.match(k) else json.dumps(k)


def toml_value(v: Any, field: str = "config") -> str:
    """A TOML value (inline tables for dicts, whose None entries are left out); a type TOML
    cannot hold is a ConfigError naming ``field``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)   # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x, field) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(x, field)}"
                                for k, x in v.items() if x is not None) + " }"
    raise ConfigError(field, f"cannot write {type(v).__name__} value {v!r} to TOML")


def _table(lines: list[str], header: str, d: dict, indent: str = "") -> None:
    lines.append(f"{indent}{header}")
    nested = []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            nested.append((k, v))
        else:
            lines.append(f"{indent}{toml_key(k)} = {toml_value(v)}")
    for k, rows in nested:
        name = header.strip("[]") + "." + k
        for row in rows:
            _table(lines, f"[[{name}]]", row, indent + "  ")


def config_to_toml(data: dict) -> str:
    """TOML text of a config dict (as stored in an output file).

    Parameters
    ----------
    data : dict
        Sections (``network``, ``layer``, ``readout``, ``input``, ``record``, ``task``,
        ``train``); unknown top-level keys are written too (and will be refused by
        validation, as in a hand-written file).

    Returns
    -------
    str
        TOML that :func:`snnsim.config.load_config` reads back to the same config.
    """
    lines: list[str] = []
    keys = [k for k in ORDER if k in data] + sorted(k for k in data if k not in ORDER)
    for section, value in ((k, data[k]) for k in keys):
        if isinstance(value, list):
            for row in value:
                if not isinstance(row, dict):   # a crafted or damaged stored config
                    raise ConfigError(f"config.{section}", f"must be a list of tables "
                                                           f"([[{section}]]), got {row!r:.40}")
                row = {k: v for k, v in row.items() if k not in DERIVED.get((section,), ())}
                _table(lines, f"[[{section}]]", row)
                lines.append("")
        elif isinstance(value, dict):
            _table(lines, f"[{section}]", value)
            lines.append("")
    return "\n".join(lines)
