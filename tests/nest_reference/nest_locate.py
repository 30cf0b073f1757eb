"""Find the interpreter that runs the NEST side (``run_nest_eprop.py``); numpy-free, no nest.

``SNNSIM_NEST_PYTHON`` names it (empty: NEST disabled); otherwise ``FALLBACK`` is tried.
Used by ``tests/test_nest_crosscheck.py`` and ``benchmarks/vs_nest.py``.
"""
import os
import subprocess
from pathlib import Path

FALLBACK = "/tmp/nestvenv/bin/python"


def find_nest_python(fallback=FALLBACK):
    """(python, None) for an interpreter that imports nest and numpy, else (None, reason)."""
    env = os.environ.get("SNNSIM_NEST_PYTHON")
    if env is not None and env.strip() == "":
        return None, "SNNSIM_NEST_PYTHON is empty (NEST disabled)"
    cand = env if env is not None else fallback
    where = "SNNSIM_NEST_PYTHON" if env is not None else "fallback"
    if not Path(cand).exists():
        return None, f"no NEST interpreter: {where} {cand!r} does not exist"
    try:
        r = subprocess.run([cand, "-c", "import nest, numpy"], capture_output=True, text=True,
                           timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{where} {cand!r} cannot be run: {exc}"
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"{where} {cand!r} cannot import nest: {tail}"
    return cand, None
