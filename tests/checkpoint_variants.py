"""Corrupted checkpoints: one function per attack on a training file written from
``tests/configs/checkpoint_train.toml`` (eprop with random feedback, Adam, validation).

``VARIANTS`` maps a name to ``(field, mutate)``: ``mutate(path)`` damages the file in place
and ``field`` is the text the one-line refusal of ``snnsim train --resume`` must name.
Used by tests/test_safety_checkpoint.py (regression) and tests/test_fuzz_checkpoint.py.
"""
import json

import h5py
import numpy as np

CK = "checkpoint"


def _meta(path, change):
    """Apply ``change(meta_dict)`` to the checkpoint's JSON attr ``meta``."""
    with h5py.File(path, "r+") as f:
        meta = json.loads(f[CK].attrs["meta"])
        change(meta)
        f[CK].attrs["meta"] = json.dumps(meta)


def _set_meta(key, value):
    return lambda p: _meta(p, lambda m: m.__setitem__(key, value))


def _del_meta(key):
    return lambda p: _meta(p, lambda m: m.pop(key))


def _rng(change):
    return lambda p: _meta(p, lambda m: change(m["rng"]))


def _h5(change):
    """A mutation done with the file open for writing."""
    def mutate(path):
        with h5py.File(path, "r+") as f:
            change(f)
    return mutate


def _replace(name, data, **kw):
    def change(f):
        del f[name]
        f.create_dataset(name, data=data, **kw)
    return _h5(change)


def _attr(obj, key, value):
    def change(f):
        attrs = f[obj].attrs
        if key in attrs:
            del attrs[key]
        if value is not None:
            attrs.create(key, value)
    return _h5(change)


def _bytes(data):
    def mutate(path):
        with open(path, "wb") as fh:
            fh.write(data)
    return mutate


def _swap_rng_state(rng):
    rng["data"]["state"]["state"] = "garbage"


def _log_2d(f):
    it = f["training/iteration"][()]
    del f["training/iteration"]
    f.create_dataset("training/iteration", data=np.stack([it, it], axis=1), maxshape=(None, 2),
                     chunks=True)


def _checkpoint_dataset(f):
    del f[CK]
    f[CK] = np.zeros(3)


W = f"{CK}/weights/hidden.w_rec"
VARIANTS = {
    # weights
    "weight matrix missing": ("weights/hidden.w_rec", _h5(lambda f: f.__delitem__(W))),
    "extra weight matrix": ("weights/hidden.w_extra", _h5(lambda f: f.create_dataset(
        f"{CK}/weights/hidden.w_extra", data=np.zeros((8, 8), "f4")))),
    "weight wrong shape": ("weights/hidden.w_rec", _replace(W, np.zeros((8, 7), "f4"))),
    "weight wrong dtype (int)": ("weights/hidden.w_rec", _replace(W, np.zeros((8, 8), "i4"))),
    "weight wrong dtype (string)": ("weights/hidden.w_rec", _replace(W, np.full((8, 8), b"x"))),
    "weight NaN": ("weights/hidden.w_rec", _replace(W, np.full((8, 8), np.nan, "f4"))),
    "weight inf": ("weights/hidden.w_rec", _replace(W, np.full((8, 8), np.inf, "f4"))),
    "weight subgroup": ("weights", _h5(lambda f: f.create_group(f"{CK}/weights/sub"))),
    "weights group missing": ("weights", _h5(lambda f: f.__delitem__(f"{CK}/weights"))),
    "weight scalar": ("weights/hidden.w_rec", _replace(W, np.float32(1.0))),
    # meta: iteration and the other scalars
    "iteration negative": ("iteration", _set_meta("iteration", -5)),
    "iteration non-integer": ("iteration", _set_meta("iteration", 1.5)),
    "iteration string": ("iteration", _set_meta("iteration", "2")),
    "iteration bool": ("iteration", _set_meta("iteration", True)),
    "iteration huge": ("iteration", _set_meta("iteration", 2**70)),
    "iteration beyond the log": ("iteration", _set_meta("iteration", 7)),
    "iteration missing": ("iteration", _del_meta("iteration")),
    "best_val garbage": ("best_val", _set_meta("best_val", "low")),
    "bad_evals negative": ("bad_evals", _set_meta("bad_evals", -1)),
    "stopped not a bool": ("stopped", _set_meta("stopped", "no")),
    "meta missing": ("meta", _attr(CK, "meta", None)),
    "meta not JSON": ("meta", _attr(CK, "meta", "{iteration: 2")),
    "meta not an object": ("meta", _attr(CK, "meta", "[1, 2]")),
    "meta array-valued": ("meta", _attr(CK, "meta", np.arange(3))),
    "meta unknown key": ("meta", _set_meta("learning_rate", 0.1)),
    # generator states
    "rng missing": ("rng", _del_meta("rng")),
    "rng not an object": ("rng", _set_meta("rng", 5)),
    "rng stream missing": ("rng.data", _rng(lambda r: r.pop("data"))),
    "rng extra stream": ("rng.extra", _rng(lambda r: r.__setitem__("extra", r["data"]))),
    "rng wrong bit generator": ("rng.data", _rng(lambda r: r["data"].__setitem__(
        "bit_generator", "MT19937"))),
    "rng unknown bit generator": ("rng.data", _rng(lambda r: r["data"].__setitem__(
        "bit_generator", "os.system"))),
    "rng garbage state": ("rng.data", _rng(_swap_rng_state)),
    "rng state not an object": ("rng.data", _rng(lambda r: r.__setitem__("data", [1, 2]))),
    # optimiser
    "optimizer missing": ("optimizer", _h5(lambda f: f.__delitem__(f"{CK}/optimizer"))),
    "optimizer t missing": ("optimizer/t", _h5(lambda f: f.__delitem__(f"{CK}/optimizer/t"))),
    "optimizer t negative": ("optimizer/t", _replace(f"{CK}/optimizer/t", np.int64(-3))),
    "optimizer t non-integer": ("optimizer/t", _replace(f"{CK}/optimizer/t", np.float64(1.5))),
    "optimizer t array": ("optimizer/t", _replace(f"{CK}/optimizer/t", np.arange(3))),
    "optimizer t string": ("optimizer/t", _replace(f"{CK}/optimizer/t", b"2")),
    "optimizer of another kind (sgd)": ("optimizer", _h5(lambda f: (
        f.__delitem__(f"{CK}/optimizer/m"), f.__delitem__(f"{CK}/optimizer/v")))),
    "optimizer moment missing": ("optimizer/v/hidden.w_rec",
                                 _h5(lambda f: f.__delitem__(f"{CK}/optimizer/v/hidden.w_rec"))),
    "optimizer moment wrong shape": ("optimizer/m/hidden.w_in", _replace(
        f"{CK}/optimizer/m/hidden.w_in", np.zeros((3, 3)))),
    "optimizer moment NaN": ("optimizer/m/hidden.w_in", _replace(
        f"{CK}/optimizer/m/hidden.w_in", np.full((8, 8), np.nan))),
    "optimizer second moment negative": ("optimizer/v/hidden.w_in", _replace(
        f"{CK}/optimizer/v/hidden.w_in", np.full((8, 8), -1.0))),
    "optimizer unknown entry": ("optimizer/x", _h5(lambda f: f.create_dataset(
        f"{CK}/optimizer/x", data=1.0))),
    # feedback matrices
    "feedback missing": ("feedback", _h5(lambda f: f.__delitem__(f"{CK}/feedback"))),
    "feedback wrong shape": ("feedback/B", _replace(f"{CK}/feedback/B", np.zeros((2, 8), "f4"))),
    "feedback NaN": ("feedback/B", _replace(f"{CK}/feedback/B", np.full((8, 2), np.nan, "f4"))),
    # the file
    "format missing": ("format", _attr("/", "format", None)),
    "format old": ("format", _attr("/", "format", "snnsim-0")),
    "format newer": ("format", _attr("/", "format", "snnsim-2")),
    "config attr garbage": ("config", _attr("/", "config", "{not json")),
    "config attr missing": ("config", _attr("/", "config", None)),
    "config attr not a string": ("config", _attr("/", "config", np.arange(4))),
    "dt attr garbage": ("dt", _attr("/", "dt", "fast")),
    "dt attr NaN": ("dt", _attr("/", "dt", np.nan)),
    "dt attr missing": ("dt", _attr("/", "dt", None)),
    "dt attr other value": ("dt", _attr("/", "dt", 0.5)),
    "training log not chunked": ("training/loss", _replace("training/loss", np.zeros(2))),
    "training log 2-D": ("training/iteration", _h5(_log_2d)),
    "training log column string": ("training/loss", _replace(
        "training/loss", np.array([b"a", b"b"]), maxshape=(None,), chunks=True)),
    "training log iteration missing": ("training/iteration",
                                       _h5(lambda f: f.__delitem__("training/iteration"))),
    "training log short column": ("training/loss", _replace(
        "training/loss", np.zeros(1), maxshape=(None,), chunks=True)),
    "training is a dataset": ("training", _h5(lambda f: (
        f.__delitem__("training"), f.create_dataset("training", data=np.zeros(3))))),
    "checkpoint is a dataset": ("checkpoint", _h5(_checkpoint_dataset)),
    "no checkpoint": ("checkpoint", _h5(lambda f: f.__delitem__(CK))),
    "0-byte file": ("", _bytes(b"")),
    "not an HDF5 file": ("", _bytes(b"iteration = 2\n" * 100)),
}
