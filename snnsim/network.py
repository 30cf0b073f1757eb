"""``Network``: LIF/ALIF layers stacked in depth with a leaky readout, simulated block by block.

Layer l receives the spikes of layer l-1 (layer 0 the network input) through ``w_in[l]``
(optionally one step late, ``Layer.delay``) and its own spikes of the previous step
through ``w_rec[l]``; the readout integrates the top layer's spikes. Every block of K steps
is one jitted call per layer (layers are feed-forward in depth, so a layer's whole block
can be computed once the block of the layer below is known): no Python per time step.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from . import interrupt, validate as V
from .errors import ConfigError
from .inputs import CurrentInput, PoissonInput, as_source
from .layer import Layer, layer_values
from .neurons import Readout, check_smooth_t_ref
from .state import LayerBlock, NetState, block_values
from .sparse import CSR, csr_args
from snnsim.kernels import forward as K

SURROGATES = {"piecewise": K.SURROGATE_PIECEWISE, "smooth": K.SURROGATE_SMOOTH}
DTYPES = {"float32": np.float32, "float64": np.float64}


class Network:
    """A deep recurrent spiking network: LIF/ALIF layers stacked in depth and a leaky readout.

    Parameters
    ----------
    n_in : int
        Number of input channels.
    layers : Layer or list of Layer
        The layers, bottom (fed by the input) to top (read out).
    readout : Readout
        The leaky linear readout of the top layer's spikes.
    dt : float
        Time step (ms).
    dtype : {"float32", "float64"}
        Floating-point type of the state and weights.
    surrogate : {"piecewise", "smooth"}
        Pseudo-derivative used by the learning rules.
    sigma : float
        Width of the smooth surrogate (units of v_th).
    rng : numpy.random.Generator or int, optional
        Draws the initial weights (an int is a seed).

    Attributes
    ----------
    w_in, w_rec : list of ndarray
        Per layer, input (n_pre, n) and recurrent (n, n) weights, stored (pre, post);
        ``w_rec[l]`` is None for a non-recurrent layer.
    w_out : ndarray
        Readout weights (n_top, n_out).

    Examples
    --------
    >>> import numpy as np, snnsim
    >>> net = snnsim.Network(10, snnsim.Layer(snnsim.LIF(20)), snnsim.Readout(1), rng=0)
    >>> x = (np.random.default_rng(0).random((2, 100, 10)) < 0.05).astype(float)
    >>> summary = net.simulate(x)            # or net.simulate(x, out="run.h5")
    """

    def __init__(self, n_in: int, layers: Layer | Sequence[Layer], readout: Readout, *,
                 dt: float = 1.0, dtype: str = "float32", surrogate: str = "piecewise",
                 sigma: float = 0.1, rng: np.random.Generator | None = None) -> None:
        self.n_in = V.count("network.n_in", n_in)
        self.dt = V.positive("network.dt", dt)
        is_np = isinstance(dtype, (type, np.dtype)) and dtype in (np.float32, np.float64)
        V.choice("network.dtype", str(np.dtype(dtype)) if is_np else dtype, list(DTYPES))
        self.dtype = DTYPES[str(np.dtype(dtype))]
        V.choice("network.surrogate", surrogate, list(SURROGATES))
        self.surrogate = surrogate
        self.sigma = V.positive("network.sigma", sigma)
        if isinstance(layers, Layer):
            layers = [layers]
        if not isinstance(layers, (list, tuple)) or not layers \
                or not all(isinstance(l, Layer) for l in layers):
            raise ConfigError("network.layers", "must be a non-empty list of snnsim.Layer")
        if not isinstance(readout, Readout):
            raise ConfigError("network.readout", "must be a snnsim.Readout")
        for k, layer in enumerate(layers):
            layer.name = layer.name or f"layer{k}"
        names = [l.name for l in layers]
        if len(set(names)) != len(names):
            raise ConfigError("network.layers", f"layer names must be unique, got {names}")
        n_pre = self.n_in
        for layer in layers:   # one-line errors, not MemoryError, for sizes that cannot fit
            V.fits_memory(f"{layer.name}.n", layer_values(n_pre, layer.n, layer.recurrent,
                                                          layer.sparse_p()),
                          f"the weights of {layer.n} neurons with {n_pre} inputs")
            n_pre = layer.n
        V.fits_memory(f"{readout.name}.n", n_pre * readout.n, f"readout weights {n_pre} x {readout.n}")
        self.layers = list(layers)
        self.readout = readout
        self.params = [l.params(self.dt, self.dtype) for l in self.layers]
        if surrogate == "smooth":
            for layer in self.layers:
                for pop in layer.populations:
                    check_smooth_t_ref(f"{pop.name}.t_ref", pop.t_ref)
        self.kappa = readout.kappa(self.dt).astype(self.dtype)
        self.readout_scale = readout.input_scale(self.dt).astype(self.dtype)   # c of Readout
        if rng is None or isinstance(rng, (int, np.integer)):
            rng = np.random.default_rng(None if rng is None else V.count("rng", rng, minimum=0))
        if not isinstance(rng, np.random.Generator):
            raise ConfigError("rng", "must be a numpy.random.Generator or an integer seed")
        self.w_in, self.mask_in, self.w_rec, self.mask_rec = [], [], [], []
        n_pre = self.n_in
        for layer in self.layers:
            w_in, m_in, w_rec, m_rec = layer.init_weights(n_pre, rng, self.dtype)
            self.w_in.append(w_in)
            self.mask_in.append(m_in)
            self.w_rec.append(w_rec)
            self.mask_rec.append(m_rec)
            n_pre = layer.n
        self.w_out = (rng.standard_normal((n_pre, readout.n))
                      * (readout.w_scale / np.sqrt(n_pre))).astype(self.dtype)
        self._empty_rec = np.zeros((1, 1), dtype=self.dtype)

    def __repr__(self) -> str:
        layers = ", ".join(
            f"{l.name}[{'+'.join(f'{p.kind.upper()} {p.n}' for p in l.populations)}"
            f"{', recurrent' if l.recurrent else ''}{', delay' if l.delay else ''}]"
            for l in self.layers)
        return (f"Network(n_in={self.n_in}, layers=[{layers}], readout={self.readout.n} "
                f"(tau_out {self.readout.tau_out:g} ms), dt={self.dt:g} ms, "
                f"dtype={np.dtype(self.dtype).name}, surrogate={self.surrogate!r})")

    def config(self) -> dict:
        """The ``[network]``, ``[[layer]]`` and ``[readout]`` sections describing this network.

        Returns
        -------
        dict
            JSON-able, as a validated TOML config holds them (per-neuron values as
            lists, uniform ones as numbers). ``network.seed`` is 0: the weights are
            not drawn from it but stored with the config (``simulate(out=...)``).
        """
        def value(arr):
            arr = np.asarray(arr, dtype=np.float64)
            return float(arr[0]) if arr.size and np.all(arr == arr[0]) else arr.tolist()

        layers = []
        for layer in self.layers:
            pops = []
            for p in layer.populations:
                d = {"type": p.kind, "n": p.n, "name": p.name, "tau_m": value(p.tau_m),
                     "v_th": value(p.v_th), "t_ref": value(p.t_ref), "gamma": value(p.gamma),
                     "regular_spike_arrival": bool(p.regular_spike_arrival)}
                if p.kind == "alif":
                    d.update(beta=value(p.beta), tau_a=value(p.tau_a))
                pops.append(d)
            layers.append({"name": layer.name, "recurrent": bool(layer.recurrent),
                           "p_in": float(layer.p_in), "p_rec": float(layer.p_rec),
                           "autapses": bool(layer.autapses), "delay": bool(layer.delay),
                           "w_in_scale": float(layer.w_in_scale),
                           "w_rec_scale": float(layer.w_rec_scale),
                           "sparse": layer.sparse if layer.sparse == "auto" else bool(layer.sparse),
                           "population": pops,
                           "n": layer.n})
        r = self.readout
        return {"network": {"n_in": self.n_in, "dt": self.dt, "dtype": np.dtype(self.dtype).name,
                            "surrogate": self.surrogate, "sigma": self.sigma, "seed": 0},
                "layer": layers,
                "readout": {"n": r.n, "tau_out": float(r.tau_out), "w_scale": float(r.w_scale)}}

    # ------------------------------------------------------------------ weights
    @property
    def sizes(self) -> list[int]:
        return [l.n for l in self.layers]

    def n_pre(self, l: int) -> int:
        """Presynaptic entries of layer l: its input (network input or layer l - 1) and, if
        recurrent, its own spikes of the previous step."""
        n_in = self.n_in if l == 0 else self.layers[l - 1].n
        return n_in + (self.layers[l].n if self.w_rec[l] is not None else 0)

    def weight_table(self) -> list[tuple[str, int | None, str, np.ndarray, np.ndarray | None]]:
        """One row per learnable weight matrix, in a fixed order (the one home of their names):
        (name, layer index or None, kind "in" | "rec" | "out", live array (pre, post), bool mask
        or None for dense). For a sparse layer the live array is the CSR's ``data`` (nnz,)
        (its synapses in CSR order, :meth:`connectivity`) and the mask None."""
        rows: list[tuple[str, int | None, str, np.ndarray, np.ndarray | None]] = []
        live = lambda w: w.data if isinstance(w, CSR) else w
        for l, layer in enumerate(self.layers):
            rows.append((f"{layer.name}.w_in", l, "in", live(self.w_in[l]), self.mask_in[l]))
            if self.w_rec[l] is not None:
                rows.append((f"{layer.name}.w_rec", l, "rec", live(self.w_rec[l]),
                             self.mask_rec[l]))
        rows.append(("readout.w_out", None, "out", self.w_out, None))
        return rows

    def weight_names(self) -> list[str]:
        return [row[0] for row in self.weight_table()]

    def weights(self) -> dict[str, np.ndarray]:
        """Dict name -> weight array (the live arrays, (pre, post) layout)."""
        return {name: w for name, _, _, w, _ in self.weight_table()}

    def masks(self) -> dict[str, np.ndarray | None]:
        """Dict name -> bool mask (None = dense) of the learnable weights."""
        return {name: m for name, _, _, _, m in self.weight_table()}

    def is_sparse(self, l: int | None = None) -> bool:
        """True if layer l (any layer when l is None) stores its weights as CSR."""
        ls = range(len(self.layers)) if l is None else [l]
        return any(isinstance(self.w_in[k], CSR) for k in ls)

    def require_dense(self, what: str) -> None:
        """ConfigError naming the first sparse layer: ``what`` needs dense weights."""
        for l, layer in enumerate(self.layers):
            if self.is_sparse(l):
                raise ConfigError(f"{layer.name}.sparse", f"{what} needs dense weights; sparse "
                                  "layers support the forward pass and e-prop (rule eprop, "
                                  "deep-eprop-spatial, deep-eprop-onehop)")

    def connectivity(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Dict name -> (indptr, indices) of every sparse weight matrix (CSR by presynaptic
        entry; the live arrays)."""
        return {name: (w.indptr, w.indices) for name, w in self._csr_items()}

    def _csr_items(self):
        for layer, w_in, w_rec in zip(self.layers, self.w_in, self.w_rec):
            for kind, w in (("w_in", w_in), ("w_rec", w_rec)):
                if isinstance(w, CSR):
                    yield f"{layer.name}.{kind}", w

    def weights_shape(self, name: str) -> tuple[int, int]:
        """(pre, post) shape of weight matrix ``name`` (dense or sparse)."""
        shapes = {f"{layer.name}.{kind}": w.shape for l, layer in enumerate(self.layers)
                  for kind, w in (("w_in", self.w_in[l]), ("w_rec", self.w_rec[l]))
                  if w is not None}
        if name not in shapes:
            V.choice("weights", name, list(shapes))
        return shapes[name]

    def set_connectivity(self, new: Mapping[str, tuple[ArrayLike, ArrayLike]]) -> None:
        """Replace the synapses of sparse weight matrices: dict name -> (indptr, indices)
        (sizes checked, one-line ConfigError naming the field); their weights become 0 until
        :meth:`set_weights` gives the new ``data``."""
        mine = dict(self._csr_items())
        for name, (indptr, indices) in new.items():
            if name not in mine:
                V.choice("connectivity", name, list(mine))
            w = mine[name]
            indices = np.asarray(indices)
            c = CSR.checked(f"connectivity.{name}", indptr, indices,
                            np.zeros(len(indices), np.float64), w.shape, self.dtype)
            w.indptr, w.indices, w.data = c.indptr, c.indices, c.data

    def set_weights(self, new: Mapping[str, ArrayLike]) -> None:
        """Copy arrays from dict ``new`` (same names and shapes) into the network."""
        current = self.weights()
        for name, arr in new.items():
            if name not in current:
                V.choice("weights", name, list(current))
            tgt = current[name]
            tgt[...] = V.array(f"weights.{name}", arr, tgt.shape).astype(self.dtype)
            mask = self.masks()[name]
            if mask is not None:
                tgt *= mask

    # ------------------------------------------------------------------ simulation
    def init_state(self, batch: int) -> NetState:
        return NetState.zeros(self, V.count("batch", batch))

    def run_block(self, state: NetState, x: np.ndarray, out: list[LayerBlock] | None = None
                  ) -> tuple[list[LayerBlock], np.ndarray]:
        """Advance ``state`` by one block. x: (B, K, n_in) -> (list of LayerBlock, y (B, K, n_out)).

        ``out``: optional list of one :class:`~snnsim.state.LayerBlock` per layer whose
        history arrays are written (and whose ``pre`` and ``z0`` are set); a history with 0
        steps (v, a, z_prev) is not written. Default: new blocks with every history."""
        x = np.ascontiguousarray(x, dtype=self.dtype)
        B, Kt, _ = x.shape
        blocks = []
        pre = x
        for l, layer in enumerate(self.layers):
            if layer.delay:
                shifted = np.empty_like(pre)
                shifted[:, 0] = state.x_last[l]
                shifted[:, 1:] = pre[:, :-1]
                state.x_last[l][...] = pre[:, -1]
                pre = shifted
            p = self.params[l]
            n = layer.n
            blk = LayerBlock.empty(B, Kt, n, self.dtype) if out is None else out[l]
            blk.pre = pre
            blk.z0 = state.z[l].copy()
            has_rec = self.w_rec[l] is not None
            if self.is_sparse(l):   # CSR weights: kernels loaded only when used
                from snnsim.kernels import sparse as KS
                KS.sparse_layer_run(pre, blk.psi, *csr_args(self.w_in[l], self.w_rec[l]), has_rec,
                                    p["alpha"], p["zeta"], p["v_th"], p["beta"], p["rho"],
                                    p["gamma"], p["ref_steps"], SURROGATES[self.surrogate],
                                    self.dtype(self.sigma), state.v[l], state.a[l], state.z[l],
                                    state.ref[l], blk.z, blk.v, blk.a)
            else:
                K.layer_run(pre, self.w_in[l], self.w_rec[l] if has_rec else self._empty_rec,
                            has_rec, p["alpha"], p["zeta"], p["v_th"], p["beta"], p["rho"],
                            p["gamma"], p["ref_steps"], SURROGATES[self.surrogate],
                            self.dtype(self.sigma), state.v[l], state.a[l], state.z[l],
                            state.ref[l], blk.z, blk.v, blk.a, blk.psi)
            if blk.z_prev.shape[1] == Kt:
                blk.z_prev[:, 0] = blk.z0
                blk.z_prev[:, 1:] = blk.z[:, :-1]
            blocks.append(blk)
            pre = blk.z
        y = np.empty((B, Kt, self.readout.n), dtype=self.dtype)
        w_out = self.w_out if self.readout.regular_spike_arrival else self.w_out * self.readout_scale
        K.readout_run(pre, w_out, self.kappa, state.y, y)
        return blocks, y

    def threshold(self, l: int, a: np.ndarray) -> np.ndarray:
        """Adaptive threshold A = v_th + beta a of layer l."""
        p = self.params[l]
        return p["v_th"] + p["beta"] * a

    def forward(self, inputs: Any, *, state: NetState | None = None
                ) -> tuple[list[LayerBlock], np.ndarray]:
        """Whole-sequence forward pass keeping every history (for BPTT and analysis)."""
        src = as_source(inputs, self.n_in)
        x = src.block(0, src.steps, src.batch, None, self.dtype)
        state = state or self.init_state(x.shape[0])
        blocks, y = self.run_block(state, x)
        return blocks, y

    def predict(self, inputs: Any, *, block: int = 256) -> np.ndarray:
        """Readout of a whole sequence, y (B, T, n_out), computed block by block keeping only
        the spikes and pseudo-derivatives of one block (memory independent of T)."""
        src = as_source(inputs, self.n_in)
        x = src.block(0, src.steps, src.batch, None, self.dtype)
        B, T, _ = x.shape
        state = self.init_state(B)
        y = np.empty((B, T, self.readout.n), self.dtype)
        for t0 in range(0, T, block):
            k = min(block, T - t0)
            out = [LayerBlock.empty(B, k, n, self.dtype, lean=True) for n in self.sizes]
            _, y[:, t0:t0 + k] = self.run_block(state, x[:, t0:t0 + k], out=out)
        return y

    def simulate(self, inputs: Any, *, steps: int | None = None, batch: int | None = None,
                 recorder: Any = None, block: int = 500, rng: np.random.Generator | None = None,
                 progress: Callable[[int], None] | None = None,
                 out: str | os.PathLike | None = None, record: dict | None = None,
                 overwrite: bool = False, compression: str | None = None) -> dict:
        """Simulate block by block, optionally writing everything to an HDF5 file.

        Parameters
        ----------
        inputs : ndarray (batch, T, n_in), SpikeInput, CurrentInput or PoissonInput
            0/1 spikes (an array is taken as spikes), currents, or Poisson rates (Hz).
        steps, batch : int, optional
            Steps and trials to simulate (needed for Poisson input; ``steps`` may
            shorten array input).
        out : path, optional
            Write a complete output file: the network's config (root attribute
            ``config``), its weights (``/weights``), spikes in SONATA layout and the
            reports chosen by ``record`` (see :mod:`snnsim.io.recorder`).
        record : dict, optional
            With ``out``: the ``[record]`` options of a TOML config (``variables``,
            e.g. ``["v", "A"]``; ``populations``, ``neurons``, ``every``, ``spikes``,
            ``readout``, ``buffer_steps``) plus ``input = True`` to record the input
            spikes (population ``input``). Default: spikes of every layer and the readout.
        overwrite : bool
            With ``out``: replace an existing file.
        compression : {None, "gzip", "lzf"}
            With ``out``: compression of the spike and report datasets (default none,
            which every SONATA reader reads).
        recorder : object with ``add_block(t0, data)``, optional
            Receives every block instead (e.g. a :class:`snnsim.io.Recorder`); not
            with ``out``.
        block : int
            Steps simulated per jitted call.
        rng : numpy.random.Generator, optional
            Draws Poisson input.
        progress : callable, optional
            Called with the number of steps of every finished block.

        Returns
        -------
        dict
            ``steps``, ``batch``, per-layer ``spikes`` (counts) and ``rate_hz`` (mean
            rate in Hz), and ``out`` (the file written, or None).
        """
        if isinstance(recorder, (str, bytes)) or hasattr(recorder, "__fspath__"):
            raise ConfigError("recorder", "must be an object with add_block (e.g. "
                              "snnsim.io.Recorder); to write a file pass out=PATH")
        if out is None:
            if record is not None:
                raise ConfigError("record", "needs out=PATH (the file to record into)")
            return self._simulate(inputs, steps, batch, recorder, block, rng, progress)
        if recorder is not None:
            raise ConfigError("recorder", "give out=PATH or recorder=, not both")
        from .io.output import open_output
        src = as_source(inputs, self.n_in)
        n_batch = batch if isinstance(src, PoissonInput) else src.batch
        writer, recorders = open_output(out, self, self.config(), batch=n_batch, record=record,
                                        overwrite=overwrite, compression=compression,
                                        input_is_spikes=not isinstance(src, CurrentInput))
        with writer:
            summary = self._simulate(src, steps, batch, recorders, block, rng, progress)
            recorders.close()
        return {**summary, "out": str(out)}

    def _simulate(self, inputs, steps, batch, recorder, block, rng, progress):
        src = as_source(inputs, self.n_in)
        if isinstance(src, PoissonInput):
            if steps is None or batch is None:
                raise ConfigError("steps", "Poisson input needs steps and batch")
            if not isinstance(rng, np.random.Generator):
                raise ConfigError("rng", "Poisson input needs a numpy.random.Generator")
            steps, batch = V.count("steps", steps), V.count("batch", batch)
        else:
            batch = src.batch
            steps = src.steps if steps is None else min(V.count("steps", steps), src.steps)
        block = V.count("block", block)
        k = min(block, steps)
        V.fits_memory("batch", block_values(batch, k, self.n_in, self.readout.n, self.sizes),
                      f"blocks of {batch} trials x {k} steps")
        state = self.init_state(batch)
        counts = [np.zeros(l.n, dtype=np.int64) for l in self.layers]
        t0 = 0
        while t0 < steps:
            k = min(block, steps - t0)
            if isinstance(src, PoissonInput):
                x = src.block(t0, k, batch, rng, self.dtype, dt=self.dt)
            else:
                x = src.block(t0, k, batch, rng, self.dtype)
            interrupt.check()
            blocks, y = self.run_block(state, x)
            state.check_finite(t0 + k)   # a diverged block is never recorded
            for l, blk in enumerate(blocks):
                counts[l] += (blk.z != 0).sum(axis=(0, 1))
            if recorder is not None:
                data = {layer.name: blk.record_dict(self, l)
                        for l, (layer, blk) in enumerate(zip(self.layers, blocks))}
                data["readout"] = {"y": y}
                data["input"] = {"z": x}
                recorder.add_block(t0, data)
            t0 += k
            if progress is not None:
                progress(k)
        dur_s = steps * self.dt * 1e-3
        return {"steps": steps, "batch": batch,
                "spikes": [int(c.sum()) for c in counts],
                "rate_hz": [float(c.sum() / (l.n * batch * dur_s)) for c, l in zip(counts, self.layers)],
                "out": None}
