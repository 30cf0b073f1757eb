"""``Trainer``: iterations of (generate a batch, compute gradients with a rule, update weights).

Online rules (eprop, eprop-m1, deep-eprop-spatial/-onehop) keep one persistent
``OnlineEprop`` learner (its random/adaptive feedback matrix lives across iterations) and
can update weights every ``update_every`` steps inside a sequence; every other rule
(bptt, rtrl, m-order engine, deep-eprop) updates once per batch. Validation on a fixed set,
early stopping (patience on the validation loss), and checkpoints through a callback.
Everything random comes from the ``numpy.random.Generator`` objects held in ``self.rngs``,
so a checkpoint (weights, optimiser state, generator states) resumes bit-identically.
"""
import time

import numpy as np

from . import interrupt, validate as V
from .errors import DivergenceError
from .learning.eprop import OnlineEprop, choose_engine
from .learning.loss import loss_and_error, window_mask
from .learning.rules import online_options, run_rule
from .optim import make_optimizer
from .tasks import accuracy

def shard_task(data, sl):
    """The trials ``sl`` of a batch (a TaskData with the same loss and metadata)."""
    from dataclasses import replace
    return replace(data, inputs=data.inputs[sl], targets=data.targets[sl], mask=data.mask[sl],
                   labels=None if data.labels is None else data.labels[sl])


class Trainer:
    def __init__(self, net, task, *, rule="eprop", optimizer=None, feedback="symmetric",
                 c_reg=0.0, f_target=10.0, update_every=None, block=256, engine="auto",
                 window_mb=256.0, seed=0,
                 val_every=0, patience=0, val_task=None, test_task=None, comm=None):
        """``task(rng) -> TaskData`` draws one training batch; val/test_task give fixed sets.

        ``engine`` (online e-prop rules): "auto" (window engine, or the trace engine when
        ``update_every`` < ``AUTO_MIN_WINDOW`` steps), "window" or "trace"; same gradients.

        ``comm`` (data parallelism, e.g. ``snnsim.parallel.MPIComm``): every rank draws the
        same global batch, simulates its ``comm.shard(batch)`` of the trials, and the
        batch-summed gradients and losses are summed over ranks (``comm.allreduce_sum``)
        before the identical optimiser step on every rank.
        """
        self.net, self.task = net, task
        self.comm = comm
        self.rule = rule
        self.optimizer = optimizer or make_optimizer("adam")
        self.block = V.count("train.block", block)
        self.update_every = None if not update_every else V.count("train.update_every", update_every)
        ss = np.random.SeedSequence([V.count("seed", seed, minimum=0), 0x7EA1])   # not the weights' stream
        self.rngs = dict(zip(("data", "feedback", "eval"), (np.random.default_rng(s) for s in ss.spawn(3))))
        online = online_options(net, rule)
        if online is not None:
            self.learner = OnlineEprop(net, 1, feedback=feedback, rng=self.rngs["feedback"],
                                       c_reg=c_reg, f_target=f_target,
                                       engine=choose_engine(engine, self.update_every),
                                       window_mb=window_mb, **online)
        else:
            if self.update_every:
                raise V.ConfigError("train.update_every", f"rule {rule!r} is offline; online updates "
                                    "need eprop, eprop-m1, deep-eprop-spatial or deep-eprop-onehop")
            self.learner = None
            self.rule_kw = dict(feedback=feedback, rng=self.rngs["feedback"], c_reg=c_reg,
                                f_target=f_target)
        self.val_every, self.patience = int(val_every), int(patience)
        self.val_set = val_task(self.rngs["eval"]) if val_task else None
        self.test_task = test_task
        self.iteration = 0
        self.best_val, self.bad_evals, self.stopped = np.inf, 0, False

    # ------------------------------------------------------------------ one iteration
    def _apply(self, grads):
        if self.comm is not None:   # shard gradients are shard means: weight by the shard size
            grads = {k: self.comm.allreduce_sum(g * self._shard_frac) for k, g in grads.items()}
        deltas = self.optimizer.step(self.net.weights(), grads, self.net.masks())
        if self.learner is not None:
            self.learner.adapt_feedback(deltas["readout.w_out"])
        for name, w in self.net.weights().items():
            if not np.all(np.isfinite(w)):
                raise DivergenceError(f"weights {name} became NaN/inf at iteration {self.iteration}")

    def _online_step(self, data):
        B = data.inputs.shape[0]
        if self.learner.batch != B:
            self.learner.batch = B
            self.learner.zero_grad()
        x = np.ascontiguousarray(data.inputs, dtype=self.net.dtype)
        mask = window_mask(data.mask, B, data.steps)

        def update(learner):
            self._apply(learner.pop_grads())

        self.learner.zero_grad()
        loss, y = self.learner.run(x, data.targets, mask, data.loss, block=self.block,
                                   update_every=self.update_every, update=update)
        if not self.update_every:
            update(self.learner)
        return loss, y

    def step(self):
        """One training iteration; returns its log record."""
        t0 = time.perf_counter()
        data = self.task(self.rngs["data"])
        if self.comm is not None:
            data = shard_task(data, self.comm.shard(data.inputs.shape[0]))
            self._shard_frac = data.inputs.shape[0] / self.comm.global_batch
        if self.learner is not None:
            loss, y = self._online_step(data)
        else:
            loss, grads, y = run_rule(self.net, data.inputs, data.targets, self.rule, loss=data.loss,
                                      mask=data.mask, **self.rule_kw)
            self._apply(grads)
        self.iteration += 1
        rec = {"iteration": self.iteration, "loss": loss, "wall_s": time.perf_counter() - t0}
        if data.labels is not None:
            rec["accuracy"] = accuracy(y, data.labels, window_mask(data.mask, *y.shape[:2]))
        if self.comm is not None:   # losses are batch means of the shard: weight by its size
            for key in ("loss", "accuracy"):
                if key in rec:
                    rec[key] = float(self.comm.allreduce_sum(np.array(rec[key] * self._shard_frac)))
        if self.val_set is not None and self.val_every and self.iteration % self.val_every == 0:
            rec.update({f"val_{k}": v for k, v in self.evaluate(self.val_set).items()})
            if rec["val_loss"] < self.best_val:
                self.best_val, self.bad_evals = rec["val_loss"], 0
            else:
                self.bad_evals += 1
                if self.patience and self.bad_evals >= self.patience:
                    self.stopped = True
        return rec

    def evaluate(self, data):
        """Loss (and accuracy) of the current weights on ``data``, without learning."""
        interrupt.check()
        _, y = self.net.forward(data.inputs)
        interrupt.check()
        loss, _ = loss_and_error(y, data.targets, data.mask, data.loss)
        out = {"loss": loss}
        if data.labels is not None:
            out["accuracy"] = accuracy(y, data.labels, window_mask(data.mask, *y.shape[:2]))
        return out

    def train(self, iterations, *, log=None, checkpoint=None, checkpoint_every=0, progress=None):
        """Run until ``iterations`` in total (continues a resumed trainer) or early stopping."""
        while self.iteration < iterations and not self.stopped:
            rec = self.step()
            if log is not None:
                log(rec)
            if checkpoint is not None and checkpoint_every and self.iteration % checkpoint_every == 0:
                checkpoint(self)
            if progress is not None:
                progress(rec)
        return self

    # ------------------------------------------------------------------ checkpoint state
    def state(self):
        """Everything needed to resume bit-identically (arrays + JSON-able scalars)."""
        arrays = {f"weights/{k}": v.copy() for k, v in self.net.weights().items()}
        arrays.update({f"optimizer/{k}": np.asarray(v) for k, v in self.optimizer.state().items()})
        if self.learner is not None and self.learner.B is not None:
            arrays["feedback/B"] = self.learner.B.copy()
        meta = {"iteration": self.iteration, "best_val": float(self.best_val),
                "bad_evals": self.bad_evals, "stopped": self.stopped,
                "rng": {k: r.bit_generator.state for k, r in self.rngs.items()}}
        return arrays, meta

    def load_state(self, arrays, meta):
        self.net.set_weights({k[8:]: v for k, v in arrays.items() if k.startswith("weights/")})
        self.optimizer.load_state({k[10:]: v for k, v in arrays.items() if k.startswith("optimizer/")})
        if "feedback/B" in arrays:
            self.learner.B[...] = arrays["feedback/B"]
        self.iteration = int(meta["iteration"])
        self.best_val, self.bad_evals = float(meta["best_val"]), int(meta["bad_evals"])
        self.stopped = bool(meta["stopped"])
        for k, st in meta["rng"].items():
            self.rngs[k].bit_generator.state = st
