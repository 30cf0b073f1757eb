"""``Network``: LIF/ALIF layers stacked in depth with a leaky readout, simulated block by block.

Layer l receives the spikes of layer l-1 (layer 0 the network input) through ``w_in[l]``
(optionally one step late, ``Layer.delay``) and its own spikes of the previous step
through ``w_rec[l]``; the readout integrates the top layer's spikes. Every block of K steps
is one jitted call per layer (layers are feed-forward in depth, so a layer's whole block
can be computed once the block of the layer below is known): no Python per time step.
"""
import numpy as np

from . import interrupt, validate as V
from .errors import ConfigError
from .inputs import PoissonInput, as_source
from .layer import Layer
from .neurons import Readout
from .state import LayerBlock, NetState
from snnsim.kernels import forward as K

SURROGATES = {"piecewise": K.SURROGATE_PIECEWISE, "smooth": K.SURROGATE_SMOOTH}
DTYPES = {"float32": np.float32, "float64": np.float64}


class Network:
    def __init__(self, n_in, layers, readout, *, dt=1.0, dtype="float32", surrogate="piecewise",
                 sigma=0.1, rng=None):
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
            V.fits_memory(f"{layer.name}.n", n_pre * layer.n + layer.recurrent * layer.n ** 2,
                          f"the weights of {layer.n} neurons with {n_pre} inputs")
            n_pre = layer.n
        V.fits_memory(f"{readout.name}.n", n_pre * readout.n, f"readout weights {n_pre} x {readout.n}")
        self.layers = list(layers)
        self.readout = readout
        self.params = [l.params(self.dt, self.dtype) for l in self.layers]
        if surrogate == "smooth" and any(np.any(p["ref_steps"] > 0) for p in self.params):
            raise ConfigError("t_ref", "must be 0 with surrogate = 'smooth' (refractoriness is not differentiable)")
        self.kappa = readout.kappa(self.dt).astype(self.dtype)
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

    # ------------------------------------------------------------------ weights
    @property
    def sizes(self):
        return [l.n for l in self.layers]

    def weight_names(self):
        names = []
        for l, layer in enumerate(self.layers):
            names.append(f"{layer.name}.w_in")
            if self.w_rec[l] is not None:
                names.append(f"{layer.name}.w_rec")
        return names + ["readout.w_out"]

    def weights(self):
        """Dict name -> weight array (the live arrays, (pre, post) layout)."""
        out = {}
        for l, layer in enumerate(self.layers):
            out[f"{layer.name}.w_in"] = self.w_in[l]
            if self.w_rec[l] is not None:
                out[f"{layer.name}.w_rec"] = self.w_rec[l]
        out["readout.w_out"] = self.w_out
        return out

    def masks(self):
        """Dict name -> bool mask (None = dense) of the learnable weights."""
        out = {}
        for l, layer in enumerate(self.layers):
            out[f"{layer.name}.w_in"] = self.mask_in[l]
            if self.w_rec[l] is not None:
                out[f"{layer.name}.w_rec"] = self.mask_rec[l]
        out["readout.w_out"] = None
        return out

    def set_weights(self, new):
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
    def init_state(self, batch):
        return NetState.zeros(self, V.count("batch", batch))

    def run_block(self, state, x, lean=False, alloc=None):
        """Advance ``state`` by one block. x: (B, K, n_in) -> (list of LayerBlock, y (B, K, n_out)).

        ``lean``: the blocks' v, a and z_prev histories are not written (0 steps; z0 holds
        the spikes before the block), for learners that need z and psi only.
        ``alloc(shape, dtype)`` allocates the histories (default ``np.empty``)."""
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
            out = LayerBlock.empty(B, Kt, n, self.dtype, pre, lean, alloc)
            out.z0 = state.z[l].copy()
            has_rec = self.w_rec[l] is not None
            K.layer_run(pre, self.w_in[l], self.w_rec[l] if has_rec else self._empty_rec, has_rec,
                        p["alpha"], p["zeta"], p["v_th"], p["beta"], p["rho"], p["gamma"],
                        p["ref_steps"], SURROGATES[self.surrogate], self.dtype(self.sigma),
                        state.v[l], state.a[l], state.z[l], state.ref[l],
                        out.z, out.v, out.a, out.psi)
            if not lean:
                out.z_prev[:, 0] = out.z0
                out.z_prev[:, 1:] = out.z[:, :-1]
            blocks.append(out)
            pre = out.z
        y = np.empty((B, Kt, self.readout.n), dtype=self.dtype)
        K.readout_run(pre, self.w_out, self.kappa, state.y, y)
        return blocks, y

    def threshold(self, l, a):
        """Adaptive threshold A = v_th + beta a of layer l."""
        p = self.params[l]
        return p["v_th"] + p["beta"] * a

    def forward(self, inputs, *, state=None):
        """Whole-sequence forward pass keeping every history (for BPTT and analysis)."""
        src = as_source(inputs, self.n_in)
        x = src.block(0, src.steps, src.batch, None, self.dtype)
        state = state or self.init_state(x.shape[0])
        blocks, y = self.run_block(state, x)
        return blocks, y

    def simulate(self, inputs, *, steps=None, batch=None, recorder=None, block=500, rng=None,
                 progress=None):
        """Simulate block by block, handing each block to ``recorder`` (see snnsim.io.Recorder).

        Returns a summary dict: steps, batch, spike counts and mean rates (Hz) per layer.
        """
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
        V.fits_memory("batch", batch * k * (self.n_in + self.readout.n + 7 * sum(self.sizes)),
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
                recorder.add_block(t0, data)
            t0 += k
            if progress is not None:
                progress(k)
        dur_s = steps * self.dt * 1e-3
        return {"steps": steps, "batch": batch,
                "spikes": [int(c.sum()) for c in counts],
                "rate_hz": [float(c.sum() / (l.n * batch * dur_s)) for c, l in zip(counts, self.layers)]}
