"""Export a trained LIF network to NIR, the Neuromorphic Intermediate Representation (pip ``nir``).

    snnsim export-nir train.h5 -o net.nir        # or: to_nir(net), export_nir("train.h5", "net.nir")

The graph (``nir.NIRGraph``; nodes named after our layers and weights)::

    input -> [<l>.delay] -> <l>.w_in -> <l> (LIF) -> ... -> readout.w_out -> readout (LI) -> output
                                        <l> -> <l>.w_rec -> <l>       (recurrence: a cycle)

- ``nir.Input`` / ``nir.Output`` of shape (n_in,) / (n_out,).
- Weights as ``nir.Linear`` (no bias). NIR weight matrices are (out, in) (``y = W x``), ours
  are stored (pre, post) (``I = x @ w``), so every exported matrix is our matrix transposed:
  ``Linear("<l>.w_in").weight == w_in.T``. Absent synapses (p_in/p_rec < 1, no autapses)
  are exported as zeros. Layer l >= 1 receives layer l-1's spikes; several edges into
  one node add up (the input and recurrent currents of a LIF node).
- Each layer (all its populations, concatenated) as one ``nir.LIF`` with per-neuron
  parameters. **NIR times are in seconds** (ours in ms): ``tau``, the ``nir.Delay`` and
  the graph's metadata ``dt`` are our values times 1e-3. Our dynamics, per step dt,

      v^t = alpha v^{t-1} + zeta I^t - v_th z^{t-1},  alpha = exp(-dt/tau_m),
      zeta = 1 (regular_spike_arrival) or 1 - alpha,  z^t = H(v^t - v_th),

  are the exact (zero-order-hold) integration over one step of NIR's continuous LIF
  ``tau dv/dt = (v_leak - v) + R I`` with the input current I held constant over the
  step, ``v^t = e^{-dt/tau} v^{t-1} + (1 - e^{-dt/tau}) R I^t``, for

      tau = tau_m,  v_leak = 0,  R = zeta / (1 - alpha)  (= 1 without regular spike arrival),
      v_threshold = v_th,  v_reset = 0.

  R is folded into the incoming weights: the rows (post neurons) of ``<l>.w_in`` and
  ``<l>.w_rec`` are multiplied by R and the node has ``r = 1`` (the same equation, and
  importers that ignore r, such as Norse 1.1, read it right). So NIR's weight matrix is
  ``R[:, None] * w.T``; a consumer recovers our alpha as exp(-dt/tau).
  A backend that integrates with forward Euler (``v += dt/tau (v_leak - v + I)``, e.g.
  the Norse and snnTorch importers) uses 1 - dt/tau instead of exp(-dt/tau) and an input
  gain dt/tau instead of 1 - exp(-dt/tau): relative errors of about (dt/tau)^2 / 2 and
  dt / (2 tau) per step (0.1 % and 2.5 % for tau = 20 dt), not an exact match.
- The readout ``y^t = kappa y^{t-1} + c W_out z^t`` (kappa = exp(-dt/tau_out), c = 1, or
  1 - kappa without regular spike arrival) as ``readout.w_out`` (Linear, rows scaled by
  c / (1 - kappa)) -> ``nir.LI(tau = tau_out, r = 1, v_leak = 0)``; a memoryless readout
  (tau_out = 0, c = 1) is the Linear node alone.
- ``delay = true`` (the layer sees the layer below one step late) as ``nir.Delay`` of dt
  before the layer's input weights. Few NIR backends implement Delay (Norse 1.1 does not).

Importers (measured by ``tests/test_nir_norse.py``, numbers in the docs' file-format page):
Norse 1.1 ``norse.torch.from_nir(graph, dt=graph.metadata["dt"])`` imports the LIF layers,
their recurrence and the weights, and runs them exactly as its documented forward-Euler,
reset-to-zero semantics say; it drops the LI readout (its output is the current into
it). snnTorch 1.0's ``import_from_nir`` refuses the graph (no LI node; a recurrent LIF
must have r = tau / 1e-4 s, i.e. its fixed dt of 0.1 ms).

What cannot be exported (a one-line ConfigError naming the field):

- adaptive thresholds: ALIF populations with beta != 0 (``layer[i].population[j].beta``).
  NIR has no neuron whose threshold adapts; an ALIF with beta = 0 is a LIF and is exported.
- refractoriness: t_ref > 0 (``layer[i].population[j].t_ref``). NIR's LIF has no refractory
  period (and no node that would gate one).

What is exported only approximately (documented, not refused):

- the reset. We reset by subtraction (v -= v_th at the step after a spike, so a
  supra-threshold surplus is kept); NIR's LIF resets to ``v_reset`` (here 0) when it spikes.
  The two agree when v just crosses v_th and differ by the surplus otherwise; NIR has no
  subtractive reset. (It cannot be folded into the recurrent diagonal either, since every
  NIR LIF resets.) Measured on a trained 2-layer LIF net at about 37 Hz (4 trials x 300
  steps, exact integration both): 95.8 % of the (trial, step, neuron) spike entries agree,
  the reset-to-zero net fires 0.73 times as many spikes, and the readouts differ by a
  relative L2 error of 0.71.
- spike timing: NIR's LIF spikes and resets within the step (v > v_threshold); ours emits
  z^t = H(v^t - v_th) and subtracts at step t+1, and the recurrent spikes reach the layer
  one step later (the cycle's natural discrete-time semantics).

Not part of NIR (training-only, dropped): the pseudo-derivative (gamma, surrogate, sigma),
the connectivity masks as such, the dtype (arrays keep ours: float32 or float64).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError
from .trained import load_trained   # the network of a train file (also snnsim.load)

if TYPE_CHECKING:
    from .network import Network

NIR_EXTRA = "pip install 'snnsim[nir]'"


def _nir():
    try:
        import nir
    except ImportError as exc:
        raise ConfigError("export-nir", f"needs the nir package: {NIR_EXTRA} ({exc})") from None
    return nir


def check_exportable(net):
    """Raise a ConfigError naming the first field that NIR cannot express."""
    net.require_dense("NIR export")
    for i, layer in enumerate(net.layers):
        for j, pop in enumerate(layer.populations):
            f = f"layer[{i}].population[{j}]"
            if pop.kind == "alif" and np.any(pop.beta != 0):
                raise ConfigError(f"{f}.beta", "an adaptive threshold (ALIF with beta != 0) cannot "
                                               "be exported to NIR, which has no adaptive-threshold neuron")
            if np.any(pop.t_ref > 0):
                raise ConfigError(f"{f}.t_ref", "refractoriness (t_ref > 0) cannot be exported to NIR, "
                                                "whose LIF has no refractory period")


def lif_parameters(layer, dt):
    """NIR LIF parameters (tau, r, v_leak, v_threshold, v_reset) of one of our layers."""
    p = layer.params(dt, np.float64)
    tau = np.concatenate([np.broadcast_to(pop.tau_m, (pop.n,)) for pop in layer.populations])
    return dict(tau=tau.astype(np.float64), r=p["zeta"] / (1.0 - p["alpha"]),
                v_leak=np.zeros(layer.n), v_threshold=p["v_th"].astype(np.float64),
                v_reset=np.zeros(layer.n))


MS = 1e-3   # NIR times are in seconds, ours in ms


def to_nir(net: Network, *, metadata: dict[str, Any] | None = None) -> Any:
    """The ``nir.NIRGraph`` of a Network of LIF layers (see the module docstring).

    Parameters
    ----------
    net : snnsim.Network
        Network of LIF layers (ALIF only with beta = 0; no refractoriness).
    metadata : dict, optional
        Extra entries for the graph's metadata.

    Returns
    -------
    nir.NIRGraph
        Time constants and delays in seconds, r = 1 (the input resistance folded into
        the incoming weights), weights (out, in).
    """
    nir = _nir()
    from ._version import __version__
    check_exportable(net)
    dt = float(net.dt)
    taken = {layer.name for layer in net.layers} | {"readout"}
    io = {}
    for key in ("input", "output"):
        name = key
        while name in taken:
            name = f"_{name}"
        io[key] = name
    nodes = {io["input"]: nir.Input(input_type={"input": np.array([net.n_in])})}
    edges = []
    pre = io["input"]
    n_pre = net.n_in
    for l, layer in enumerate(net.layers):
        name = layer.name
        if layer.delay:
            nodes[f"{name}.delay"] = nir.Delay(delay=np.full(n_pre, dt * MS))
            edges.append((pre, f"{name}.delay"))
            pre = f"{name}.delay"
        par = lif_parameters(layer, dt)
        r = par.pop("r")[:, None]     # folded into the rows (post neurons) of the weights
        par["tau"] = par["tau"] * MS
        nodes[f"{name}.w_in"] = nir.Linear(weight=r * net.w_in[l].T.astype(np.float64))
        nodes[name] = nir.LIF(**par, r=np.ones(layer.n))
        edges += [(pre, f"{name}.w_in"), (f"{name}.w_in", name)]
        if net.w_rec[l] is not None:
            nodes[f"{name}.w_rec"] = nir.Linear(weight=r * net.w_rec[l].T.astype(np.float64))
            edges += [(name, f"{name}.w_rec"), (f"{name}.w_rec", name)]
        pre, n_pre = name, layer.n
    n_out = net.readout.n
    leaky = net.readout.tau_out > 0
    kappa = np.asarray(net.readout.kappa(dt), dtype=np.float64)
    r_out = (net.readout.input_scale(dt) / (1.0 - kappa))[:, None] if leaky else np.ones((n_out, 1))
    nodes["readout.w_out"] = nir.Linear(weight=r_out * net.w_out.T.astype(np.float64))
    edges.append((pre, "readout.w_out"))
    last = "readout.w_out"
    if leaky:
        nodes["readout"] = nir.LI(tau=np.full(n_out, float(net.readout.tau_out) * MS),
                                  r=np.ones(n_out), v_leak=np.zeros(n_out))
        edges.append((last, "readout"))
        last = "readout"
    nodes[io["output"]] = nir.Output(output_type={"output": np.array([n_out])})
    edges.append((last, io["output"]))
    meta = {"source": f"snnsim {__version__}", "dt": dt * MS, "time_unit": "s",
            "discretisation": "exact: alpha = exp(-dt/tau); input resistance folded into "
                              "the incoming weights (r = 1)",
            "reset": "snnsim subtracts v_threshold; exported as reset to v_reset = 0",
            "weights": "NIR (out, in) = snnsim (pre, post) transposed, rows scaled by "
                       "zeta / (1 - alpha) (readout: 1 / (1 - kappa))"}
    meta.update(metadata or {})
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def export_nir(train_file: str | os.PathLike, out: str | os.PathLike) -> Any:
    """Write the trained network of ``train_file`` to the NIR file ``out``.

    Parameters
    ----------
    train_file : path
        An snnsim output file with a config and weights (e.g. of ``snnsim train``).
    out : path
        The NIR (HDF5) file to write; times in seconds (NIR's unit).

    Returns
    -------
    nir.NIRGraph
        The graph written (see :func:`to_nir`).
    """
    nir = _nir()
    net, _, group = load_trained(train_file)
    graph = to_nir(net, metadata={"weights_from": f"{Path(train_file).name}:/{group}"})
    nir.write(out, graph)
    return graph
