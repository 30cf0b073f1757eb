"""Type hints of the public API (everything in ``snnsim.__all__`` and its public methods).

1. Every parameter and return of every public function/method is annotated (inspection, no
   extra package needed).
2. With mypy installed (test extra): a typed user script of the API type-checks, and a script
   of five wrong calls gets exactly those five errors, on the marked lines, so the hints are
   really checked (not ``Any`` everywhere).
"""
import inspect
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import snnsim

HERE = Path(__file__).resolve().parent / "typing_clients"


def _public_callables():
    for name in snnsim.__all__:
        obj = getattr(snnsim, name)
        if inspect.isclass(obj):
            if issubclass(obj, BaseException):
                continue
            for mname, m in vars(obj).items():
                if mname.startswith("_") and mname != "__init__":
                    continue
                if isinstance(m, (staticmethod, classmethod)):
                    m = m.__func__
                if isinstance(m, property):
                    m = m.fget
                if inspect.isfunction(m):
                    yield f"{name}.{mname}", m
        elif inspect.isfunction(obj):
            yield name, obj


def test_every_public_signature_is_annotated():
    missing, seen = [], 0
    for qual, fn in _public_callables():
        seen += 1
        sig = inspect.signature(fn)
        missing += [f"{qual}({p})" for p, par in sig.parameters.items()
                    if p not in ("self", "cls") and par.annotation is inspect.Parameter.empty]
        if sig.return_annotation is inspect.Signature.empty and not qual.endswith("__init__"):
            missing.append(f"{qual} -> ?")
    assert seen > 60   # the API really was walked
    assert not missing, missing


def _mypy(path):
    pytest.importorskip("mypy")
    res = subprocess.run([sys.executable, "-m", "mypy", "--follow-imports=silent",
                          "--ignore-missing-imports", "--no-error-summary", "--cache-dir",
                          str(Path(tempfile.gettempdir()) / "snnsim-mypy-cache"),
                          str(path)], capture_output=True, text=True, timeout=300)
    return res.returncode, [ln for ln in res.stdout.splitlines() if ": error:" in ln]


@pytest.mark.slow
def test_mypy_accepts_a_typed_user_script_and_catches_wrong_calls():
    code, errors = _mypy(HERE / "client_ok.py")
    assert code == 0 and not errors, errors
    code, errors = _mypy(HERE / "client_bad.py")
    marked = [i for i, ln in enumerate((HERE / "client_bad.py").read_text().splitlines(), 1)
              if "# E:" in ln]
    lines = sorted({int(e.split(":")[1]) for e in errors})
    assert code == 1 and lines == marked, errors
