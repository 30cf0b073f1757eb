"""``Trainer``: iterations of (generate a batch, compute gradients with a rule, update weights).

Online rules (eprop, eprop-m1, deep-eprop-spatial/-onehop) keep one persistent
``OnlineEprop`` learner (its random/adaptive feedback matrix lives across iterations) and
can update weights every ``update_every`` steps inside a sequence; every other rule
(bptt, rtrl, m-order engine, deep-eprop) updates once per batch. Validation on a fixed set,
early stopping (patience on the validation loss), and checkpoints through a callback.
With ``fidelity_every = k`` every k-th iteration also logs, per weight matrix, the cosine and
relative error of the rule's gradient against BPTT on that iteration's batch, at the weights
before its update (``fidelity_cos.<weight>``, ``fidelity_rel.<weight>``; with MPI, on the
rank's shard).
Everything random comes from the ``numpy.random.Generator`` objects held in ``self.rngs``,
so a checkpoint (weights, optimiser state, generator states) resumes bit-identically.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike

from . import interrupt, validate as V
from .errors import ConfigError, DivergenceError
from .learning.eprop import OnlineEprop
from .learning.common import random_feedback
from .learning.eprop_fused import FusedOnline, fused_unsupported
from .learning.loss import loss_and_error, window_mask
from .learning.fidelity import compare
from .learning.options import RuleOptions
from .learning.reward import optimal_rate
from .learning.rules import parse_rule, run_rule
from .learning.taxonomy import FEEDBACK_RULES
from .optim import make_optimizer
from .tasks import accuracy

if TYPE_CHECKING:
    from .network import Network
    from .optim import SGD
    from .tasks import TaskData
    TaskFn = Callable[..., TaskData]


def task_accuracy(y, data, mask, sl=slice(None)):
    """Accuracy on the trials ``sl`` of a batch, or None: labels picked by the summed readout
    (classification), or the probability of an optimal action (loss "reward",
    ``snnsim.learning.reward``)."""
    if data.loss == "reward":
        return optimal_rate(y, data.targets[sl], mask)
    return None if data.labels is None else accuracy(y, data.labels[sl], mask)


@dataclass(frozen=True)
class TrainOptions:
    """Settings of a :class:`Trainer` (validated once by :meth:`build`).

    Parameters
    ----------
    rule : str
        Learning rule (``snnsim.learning.rules``).
    learning : RuleOptions
        Settings of the rule (feedback, c_reg, f_target, engine, window_mb, block, ...).
    update_every : int or None
        Online rules: steps between weight updates inside a sequence (None: once per batch).
    seed : int
        Seed of the data, feedback and evaluation generators (>= 0).
    val_every : int
        Iterations between validations (0: never).
    patience : int
        Validations without improvement before early stopping (0: never stop).
    fidelity_every : int
        Iterations between gradient-fidelity records against BPTT (0: never).
    fused : bool
        Online updates (``update_every``) run in compiled code when the rule, network and
        optimiser allow it (:mod:`snnsim.learning.eprop_fused`; same weights); False keeps
        the block-by-block path.
    """
    rule: str = "eprop"
    learning: RuleOptions = field(default_factory=RuleOptions)
    update_every: int | None = None
    seed: int = 0
    val_every: int = 0
    patience: int = 0
    fidelity_every: int = 0
    fused: bool = True

    @classmethod
    def build(cls, *, rule="eprop", update_every=None, seed=0, val_every=0, patience=0,
              fidelity_every=0, fused=True, **learning):
        """Validated options; ``learning``: :class:`RuleOptions` fields."""
        parse_rule(rule)
        return cls(rule=rule, learning=RuleOptions.build(**learning),
                   update_every=None if not update_every
                   else V.count("train.update_every", update_every),
                   seed=V.count("seed", seed, minimum=0),
                   val_every=V.count("train.val_every", val_every, minimum=0),
                   patience=V.count("train.patience", patience, minimum=0),
                   fidelity_every=V.count("train.fidelity_every", fidelity_every, minimum=0),
                   fused=V.choice("train.fused", fused, [True, False]))

def shard_task(data, sl):
    """The trials ``sl`` of a batch (a TaskData with the same loss and metadata)."""
    from dataclasses import replace
    return replace(data, inputs=data.inputs[sl], targets=data.targets[sl], mask=data.mask[sl],
                   labels=None if data.labels is None else data.labels[sl])


EVAL_TRIALS = 32   # trials per chunk of an evaluation (bounds its memory)


class Trainer:
    """Training loop of one network on one task with one learning rule.

    Parameters
    ----------
    net : snnsim.Network
        Trained in place.
    task : callable
        ``task(rng) -> TaskData`` draws one training batch.
    optimizer : SGD or Adam, optional
        Default: Adam with its default learning rate.
    options : TrainOptions, optional
        Validated settings; or give :class:`TrainOptions` fields (rule, update_every, seed,
        val_every, patience) and :class:`~snnsim.learning.options.RuleOptions` fields
        (feedback, c_reg, f_target, engine, window_mb, block, ...) as keyword ``settings``.
        ``engine="auto"``: the window engine, or the trace engine when ``update_every`` is
        below ``AUTO_MIN_WINDOW`` steps; same gradients.
    val_task : callable, optional
        ``rng -> TaskData`` giving the fixed validation set.
    test_task : callable, optional
        ``(rng, batch) -> TaskData`` drawing test trials (see :meth:`test`).
    feedback_w : array (n_top, n_out) or dict, optional
        Feedback matrices of an online rule with random/adaptive feedback instead of random
        draws (see :class:`~snnsim.learning.eprop.OnlineEprop`; copied, then read them with
        ``trainer.learner.feedback_matrices()``); for rflo / eprop-reward with
        ``feedback="random"``, the one fixed matrix (n_top, n_out) of the run (default: drawn
        once from the feedback generator; ``trainer.fixed_feedback``).
    comm : snnsim.parallel.MPIComm, optional
        Data parallelism: every rank draws the same global batch, simulates its
        ``comm.shard(batch)`` of the trials, and the batch-summed gradients and losses are
        summed over ranks (``comm.allreduce_sum``) before the identical optimiser step.

    Attributes
    ----------
    online_path : str or None
        How online updates (``update_every``) run, chosen once here: "fused" (compiled
        loop, :mod:`snnsim.learning.eprop_fused`) or "blocks (<why not fused>)"; None
        without online updates.
    """

    def __init__(self, net: Network, task: TaskFn, *, optimizer: SGD | None = None,
                 options: TrainOptions | None = None, val_task: TaskFn | None = None,
                 test_task: TaskFn | None = None, comm: Any = None,
                 feedback_w: ArrayLike | Mapping[str, ArrayLike] | None = None,
                 **settings: Any) -> None:
        if options is None:
            options = TrainOptions.build(**settings)
        elif settings:
            raise ConfigError(next(iter(settings)), "give either options or keyword settings")
        self.net, self.task, self.opts = net, task, options
        self.comm = comm
        self.rule = options.rule
        self.optimizer = optimizer or make_optimizer("adam")
        self.update_every = options.update_every
        ss = np.random.SeedSequence([options.seed, 0x7EA1])   # not the weights' stream
        self.rngs = dict(zip(("data", "feedback", "eval"), (np.random.default_rng(s) for s in ss.spawn(3))))
        online = options.learning.eprop(net, options.rule, self.update_every)
        self.learner: OnlineEprop | None
        if online is not None:
            self.fixed_feedback = None
            self.learner = OnlineEprop(net, 1, online, rng=self.rngs["feedback"],
                                       feedback_w=feedback_w)
        else:
            if self.update_every:
                raise ConfigError("train.update_every", f"rule {options.rule!r} is offline here; "
                                  "online updates need eprop, deep-eprop-spatial, deep-eprop-onehop "
                                  "or eprop-m1 with reset = 'detach' on one LIF layer with a "
                                  "shared tau_m")
            random_fb = (options.learning.feedback == "random"
                         and parse_rule(options.rule)[0] in FEEDBACK_RULES)
            if feedback_w is not None and not random_fb:
                raise ConfigError("feedback_w", f"rule {options.rule!r} uses no feedback matrix")
            # rflo / eprop-reward with random feedback: one fixed matrix for the whole run
            # (drawn at construction, so a resumed trainer redraws the same one)
            self.fixed_feedback = None if not random_fb else (
                np.array(feedback_w, dtype=net.dtype) if feedback_w is not None
                else random_feedback(net, self.rngs["feedback"]))
            self.learner = None
        self.fused, self.online_path = None, None
        if self.learner is not None and self.update_every:
            why = (fused_unsupported(self.learner, self.optimizer, comm) if options.fused
                   else "fused = False")
            self.online_path = "fused" if why is None else f"blocks ({why})"
            if why is None:
                self.fused = FusedOnline(self.learner, self.optimizer)
        self.val_every, self.patience = options.val_every, options.patience
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
            self.learner.adapt_feedback(deltas)
        for name, w in self.net.weights().items():
            if not np.all(np.isfinite(w)):
                raise DivergenceError(f"weights {name} became NaN/inf at iteration {self.iteration}")

    def _online_step(self, data):
        B = data.inputs.shape[0]
        self.learner.set_batch(B)
        x = np.ascontiguousarray(data.inputs, dtype=self.net.dtype)
        mask = window_mask(data.mask, B, data.steps)

        def update(learner):
            self._apply(learner.pop_grads())

        if self.fused is not None:
            self.fused.opt = self.optimizer
            try:
                return self.fused.run(x, data.targets, mask, data.loss, self.update_every)
            except DivergenceError as err:
                raise DivergenceError(f"{err} (iteration {self.iteration})") from None
        self.learner.zero_grad()
        loss, y = self.learner.run(x, data.targets, mask, data.loss, block=self.opts.learning.block,
                                   update_every=self.update_every, update=update)
        if not self.update_every:
            update(self.learner)
        return loss, y

    def step(self) -> dict[str, Any]:
        """One training iteration; returns its log record."""
        t0 = time.perf_counter()
        data = self.task(self.rngs["data"])
        if self.comm is not None:
            data = shard_task(data, self.comm.shard(data.inputs.shape[0]))
            self._shard_frac = data.inputs.shape[0] / self.comm.global_batch
        k = self.opts.fidelity_every
        fid = self.fidelity(data) if k and (self.iteration + 1) % k == 0 else {}
        if self.learner is not None:
            loss, y = self._online_step(data)
        else:
            rng = self.rngs["feedback"]
            if self.comm is not None and self.comm.size > 1:
                # one draw from the shared stream, then one stream per rank: the random rules'
                # samples (eprop-reward's actions, uoro/kf-rtrl's signs) differ between shards
                rng = np.random.default_rng([int(rng.integers(2**63)), self.comm.rank])
            loss, grads, y = run_rule(self.net, data.inputs, data.targets, self.rule, loss=data.loss,
                                      mask=data.mask, rng=rng, options=self.opts.learning,
                                      feedback_w=self.fixed_feedback)
            self._apply(grads)
        self.iteration += 1
        rec = {"iteration": self.iteration, "loss": loss, "wall_s": time.perf_counter() - t0, **fid}
        acc = task_accuracy(y, data, window_mask(data.mask, *y.shape[:2]))
        if acc is not None:
            rec["accuracy"] = acc
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

    def fidelity(self, data: TaskData) -> dict[str, float]:
        """{"fidelity_cos.<w>": cosine, "fidelity_rel.<w>": relative error} of the rule's
        gradient on ``data`` against BPTT at the current weights (nothing is updated; an
        online rule runs a fresh learner with the same options and feedback matrices)."""
        x, kw = data.inputs, dict(loss=data.loss, mask=data.mask)
        _, ref, _ = run_rule(self.net, x, data.targets, "bptt", **kw)
        learner = self.learner
        if learner is not None:
            fb = None if learner.feedback_w is None else {
                k: v.copy() for k, v in learner.feedback_matrices().items()}
            probe = OnlineEprop(self.net, x.shape[0], learner.opts, feedback_w=fb)
            B, T = x.shape[:2]
            probe.run(np.ascontiguousarray(x, dtype=self.net.dtype), data.targets,
                      window_mask(data.mask, B, T), data.loss, block=self.opts.learning.block,
                      keep_y=False)
            g = probe.pop_grads()
        else:
            g = run_rule(self.net, x, data.targets, self.rule, rng=np.random.default_rng(0),
                         options=self.opts.learning, feedback_w=self.fixed_feedback, **kw)[1]
        out = {}
        for name in ref:
            out[f"fidelity_cos.{name}"], out[f"fidelity_rel.{name}"] = compare(g[name], ref[name])
        return out

    def evaluate(self, data: TaskData) -> dict[str, float]:
        """Loss (and accuracy) of the current weights on ``data``, without learning; streamed
        in chunks of ``EVAL_TRIALS`` trials and time blocks (memory independent of its size)."""
        B = data.inputs.shape[0]
        total = {"loss": 0.0, "accuracy": 0.0}
        for b0 in range(0, B, EVAL_TRIALS):
            interrupt.check_inner()   # (off under MPI: the ranks stop together between iterations)
            sl = slice(b0, min(B, b0 + EVAL_TRIALS))
            y = self.net.predict(data.inputs[sl])
            mask = window_mask(data.mask[sl], *y.shape[:2])
            loss, _ = loss_and_error(y, data.targets[sl], mask, data.loss)
            total["loss"] += loss * y.shape[0] / B
            acc = task_accuracy(y, data, mask, sl)
            if acc is not None:
                total["accuracy"] += acc * y.shape[0] / B
        has_acc = data.labels is not None or data.loss == "reward"
        return total if has_acc else {"loss": total["loss"]}

    def test(self, batch: int, chunk: int = EVAL_TRIALS) -> dict[str, float]:
        """Evaluate on ``batch`` fresh trials of the test task, drawn (from the evaluation
        generator) and evaluated ``chunk`` trials at a time: memory independent of ``batch``."""
        if self.test_task is None:
            raise ConfigError("test_task", "this Trainer has no test task (Trainer(..., test_task=))")
        total: dict[str, float] = {}
        done = 0
        while done < batch:
            n = min(chunk, batch - done)
            part = self.evaluate(self.test_task(self.rngs["eval"], n))
            for k, v in part.items():
                total[k] = total.get(k, 0.0) + v * n / batch
            done += n
        return total

    def train(self, iterations: int, *, log: Callable[[dict], None] | None = None,
              checkpoint: Callable[[Trainer], None] | None = None, checkpoint_every: int = 0,
              progress: Callable[[dict], None] | None = None) -> Trainer:
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
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Everything needed to resume bit-identically (arrays + JSON-able scalars)."""
        arrays = {f"weights/{k}": v.copy() for k, v in self.net.weights().items()}
        for k, (indptr, indices) in self.net.connectivity().items():   # sparse layers
            arrays.update({f"connectivity/{k}/indptr": indptr.copy(),
                           f"connectivity/{k}/indices": indices.copy()})
        arrays.update({f"optimizer/{k}": np.asarray(v) for k, v in self.optimizer.state().items()})
        if self.learner is not None and self.learner.feedback_w is not None:
            for name, b in self.learner.feedback_matrices().items():   # top: "feedback/B"
                arrays["feedback/B" if name == "readout.w_out" else f"feedback/{name}"] = b.copy()
        meta = {"iteration": self.iteration, "best_val": float(self.best_val),
                "bad_evals": self.bad_evals, "stopped": self.stopped,
                "rng": {k: r.bit_generator.state for k, r in self.rngs.items()}}
        return arrays, meta

    def load_state(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        conn = {k: (arrays[f"connectivity/{k}/indptr"], arrays[f"connectivity/{k}/indices"])
                for k in self.net.connectivity() if f"connectivity/{k}/indptr" in arrays}
        self.net.set_connectivity(conn)
        self.net.set_weights({k[8:]: v for k, v in arrays.items() if k.startswith("weights/")})
        self.optimizer.load_state({k[10:]: v for k, v in arrays.items() if k.startswith("optimizer/")})
        if "feedback/B" in arrays:
            if self.learner is None:
                raise ConfigError("checkpoint", f"holds feedback matrices, which rule "
                                                f"{self.rule!r} does not use")
            for name, b in self.learner.feedback_matrices().items():
                key = "feedback/B" if name == "readout.w_out" else f"feedback/{name}"
                if key in arrays:    # checkpoints of older versions hold the top matrix only
                    b[...] = arrays[key]
        self.iteration = int(meta["iteration"])
        self.best_val, self.bad_evals = float(meta["best_val"]), int(meta["bad_evals"])
        self.stopped = bool(meta["stopped"])
        for k, st in meta["rng"].items():
            self.rngs[k].bit_generator.state = st
