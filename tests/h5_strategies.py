"""Hypothesis strategies for crafted HDF5 files: hostile edits of a real snnsim output file.

:func:`edits` draws a short list of edits of a file whose objects and attributes are given
(names from :func:`inventory`); :func:`apply` makes them with h5py. The edits are what an
adversarial (or unlucky) user does to a file: drop or replace datasets, groups and
attributes, change dtypes and shapes, declare huge sizes, swap groups and datasets, add
soft/external links, write NaN/inf, put garbage into the JSON attributes (``config``,
``meta``) and truncate the file.
"""
import json
import math

import h5py
import numpy as np
from hypothesis import strategies as st

from fuzz_strategies import COUNTS, DELETE, GARBAGE, _paths, _set

JSON_ATTRS = ("config", "meta")          # attributes holding JSON text
HUGE_ROWS = [2**31, 10**9, 10**12, 2**40]
ATTR_VALUES = st.one_of(
    st.sampled_from([
        "", "x", "{}", "[]", "null", '"x"', "1e999", "NaN", '{"network": 5}', "[" * 3000,
        "snnsim-0", "snnsim-2", "running", b"\xff\xfe", -1, 0, 2**63 - 1, -2**63, 1e300, math.nan,
        math.inf, -math.inf, True, 0.5]),
    st.builds(np.arange, st.integers(0, 4)),
    st.builds(lambda n: np.zeros((n, 2)), st.integers(0, 3)),
    st.text(max_size=8), st.integers(), st.floats())
DTYPES = ["i4", "u1", "f2", "f4", "f8", "S4", "bool", "c16", "i8",
          np.dtype([("a", "f8"), ("b", "i4")]), h5py.string_dtype()]
FILL = [math.nan, math.inf, -math.inf, 1e30, -1e30, 0.0, -1.0, 2**62]


def inventory(path):
    """(object names, (object, attribute) pairs) of the HDF5 file ``path``; "" is the root."""
    with h5py.File(path, "r") as f:
        names, attrs = [], [("", k) for k in f.attrs]

        def visit(name, obj):
            names.append(name)
            attrs.extend((name, k) for k in obj.attrs)
        f.visititems(visit)
    return sorted(names), sorted(attrs)


@st.composite
def edit(draw, names, attrs):
    """One edit: a tuple (kind, target, argument...)."""
    kind = draw(st.sampled_from(["drop", "drop_attr", "set_attr", "json_attr", "json_attr",
                                 "retype", "reshape", "huge", "swap", "fill", "link",
                                 "truncate"]))
    name = draw(st.sampled_from(names))
    if kind in ("drop_attr", "set_attr"):
        obj, key = draw(st.sampled_from(attrs))
        return (kind, obj, key, draw(ATTR_VALUES)) if kind == "set_attr" else (kind, obj, key)
    if kind == "json_attr":
        obj, key = draw(st.sampled_from([a for a in attrs if a[1] in JSON_ATTRS] or attrs))
        return kind, obj, key, draw(st.integers(0, 10**6)), draw(st.booleans()), draw(GARBAGE)
    if kind == "retype":
        return kind, name, draw(st.sampled_from(range(len(DTYPES))))
    if kind == "reshape":
        return kind, name, draw(st.sampled_from([(), (0,), (3,), (1, 1), (2, 3, 4), "T", "+5"]))
    if kind == "huge":
        return kind, name, draw(st.sampled_from(HUGE_ROWS)), draw(st.booleans())
    if kind == "fill":
        return kind, name, draw(st.sampled_from(FILL))
    if kind == "link":
        return kind, name, draw(st.sampled_from(["dangling", "root", "external", "other"])), \
            draw(st.sampled_from(names))
    if kind == "truncate":
        return kind, "", draw(st.floats(0.0, 0.999))
    return kind, name


def edits(names, attrs, max_size=3):
    """A list of 1..max_size edits of a file with these objects and attributes."""
    return st.lists(edit(names, attrs), min_size=1, max_size=max_size)


def _replace(f, name, make):
    """Replace object ``name`` with ``make(old)`` (attributes of a dataset are dropped)."""
    old = f[name]
    data = old[()] if isinstance(old, h5py.Dataset) and old.size < 10**6 else None
    shape = old.shape if isinstance(old, h5py.Dataset) else None
    del f[name]
    make(data, shape)


def _edit(f, e):
    kind, name = e[0], e[1]
    if kind == "drop":
        del f[name]
    elif kind == "drop_attr":
        del f[name or "/"].attrs[e[2]]
    elif kind == "set_attr":
        attrs = f[name or "/"].attrs
        if e[2] in attrs:
            del attrs[e[2]]
        attrs.create(e[2], e[3])
    elif kind == "json_attr":
        attrs = f[name or "/"].attrs
        value = attrs[e[2]]
        doc = json.loads(value) if isinstance(value, str) else {}
        paths = list(_paths(doc)) or [("x",)]
        _set(doc, paths[e[3] % len(paths)], DELETE if e[4] else e[5])
        del attrs[e[2]]
        attrs.create(e[2], json.dumps(doc, default=str))
    elif kind == "retype":
        dtype = DTYPES[e[2]]
        _replace(f, name, lambda data, shape: f.create_dataset(
            name, shape=shape if shape is not None else (3,), dtype=dtype))
    elif kind == "reshape":
        def make(data, shape):
            shape = shape or (3,)
            new = {"T": shape[::-1], "+5": (shape[0] + 5, *shape[1:]) if shape else (5,)}.get(
                e[2], e[2])
            f.create_dataset(name, data=np.zeros(new, dtype=data.dtype if data is not None
                                                 and data.dtype.kind in "biuf" else "f8"))
        _replace(f, name, make)
    elif kind == "huge":
        def make(data, shape):
            shape = shape if shape else (1,)
            rows, axis0 = e[2], e[3]
            big = (rows, *shape[1:]) if axis0 or len(shape) < 2 else (shape[0], rows, *shape[2:])
            chunks = tuple(min(s, 64) or 1 for s in big)
            ds = f.create_dataset(name, shape=big, maxshape=tuple(None for _ in big),
                                  chunks=chunks, dtype="f8")
            ds[tuple(slice(0, 2) for _ in big)] = 1.0
        _replace(f, name, make)
    elif kind == "swap":
        if isinstance(f[name], h5py.Group):
            _replace(f, name, lambda data, shape: f.create_dataset(name, data=np.zeros(3)))
        else:
            _replace(f, name, lambda data, shape: f.create_group(name))
    elif kind == "fill":
        ds = f[name]
        if isinstance(ds, h5py.Dataset) and ds.dtype.kind == "f" and ds.size:
            ds[...] = e[2]
    elif kind == "link":
        target = {"dangling": h5py.SoftLink("/no/such/object"), "root": h5py.SoftLink("/"),
                  "external": h5py.ExternalLink("/dev/zero", "/x"),
                  "other": h5py.SoftLink("/" + e[3])}[e[2]]
        del f[name]
        f[name] = target


def apply(path, todo):
    """Make the edits ``todo`` in the file ``path`` (edits whose target is gone are skipped;
    a truncation is done last, on the bytes)."""
    cut = None
    with h5py.File(path, "r+") as f:
        for e in todo:
            if e[0] == "truncate":
                cut = e[2]
                continue
            try:
                _edit(f, e)
                COUNTS[" edit " + e[0]] += 1
            except (KeyError, ValueError, TypeError, OSError, RuntimeError):
                COUNTS[" edit skipped"] += 1   # target dropped by an earlier edit, etc.
    if cut is not None:
        with open(path, "r+b") as fh:
            fh.truncate(int(cut * fh.seek(0, 2)))
