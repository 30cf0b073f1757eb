"""``snnsim init [CONFIG.toml]``: write a commented starter config that ``run`` and ``train`` accept.

The starter is a 100-input network with one recurrent layer mixing LIF and ALIF neurons
and a leaky readout, Poisson input for ``snnsim run`` and the bundled sine-wave task with
e-prop for ``snnsim train``. Every field is commented with its meaning, unit and default.
"""
from pathlib import Path

import click

from ..io.writer import check_output
from .options import UserError, overwrite_option, quiet_option, user_errors

STARTER = '''\
# snnsim starter config (written by `snnsim init`). Times are in ms, rates in Hz.
#   snnsim run   {name} --out run.h5      # simulate [input], record as [record] says
#   snnsim train {name} --out train.h5    # learn [task] with the [train] settings
#   snnsim run   {name} --weights train.h5 --out rerun.h5   # reuse the trained weights
# Every field below shows its default unless marked "required"; delete what you do not need.

[network]
n_in = 100                 # required: input channels
dt = 1.0                   # time step (ms)
seed = 1                   # one seed for the weights and the input spikes
dtype = "float32"          # "float32" or "float64"
surrogate = "piecewise"    # pseudo-derivative for learning: "piecewise" or "smooth"

[[layer]]                  # one table per layer, bottom to top
name = "hidden"            # used in the output file (/spikes/hidden, /report/hidden)
recurrent = true           # recurrent weights inside the layer
p_in = 1.0                 # connection probability of the input weights
p_rec = 1.0                # connection probability of the recurrent weights
sparse = false             # true / "auto": store the weights sparse (memory O(synapses))
delay = false              # true: see the layer below one step late
w_in_scale = 1.0           # initial weights ~ N(0, scale^2 / n_pre)
w_rec_scale = 1.0
  [[layer.population]]     # a layer may mix populations (their labels are kept in the output)
  type = "lif"             # "lif" or "alif"
  name = "lif"
  n = 80                   # required: number of neurons
  tau_m = 30.0             # membrane time constant (ms); a number or a list of n numbers
  v_th = 0.03              # threshold (v has the units of v_th)
  t_ref = 0.0              # refractory period (ms)
  gamma = 0.3              # height of the pseudo-derivative
  regular_spike_arrival = false   # false: inputs scaled by 1 - exp(-dt/tau_m)
  [[layer.population]]
  type = "alif"            # adaptive threshold v_th + beta a, a decays with tau_a
  name = "alif"
  n = 20
  tau_m = 30.0
  v_th = 0.03
  regular_spike_arrival = false
  beta = 0.01              # adaptation strength (units of v_th)
  tau_a = 500.0            # adaptation time constant (ms)

[readout]
n = 1                      # outputs
tau_out = 30.0             # readout time constant (ms); 0 = memoryless

[input]                    # for `snnsim run`
type = "poisson"           # "poisson", "spikes" (path = "x.npy", (batch, T, n_in)) or "current"
rate = 20.0                # Hz, one number or a list of n_in numbers
steps = 1000
batch = 2                  # trials simulated side by side

[record]                   # what `snnsim run` writes
populations = "all"        # or a list of layer names
variables = ["v", "A"]     # dense reports: z, v, A (threshold), a, psi
neurons = {{ hidden = [0, 1, 2, 3, 4] }}   # report only these neurons (spikes: all)
every = 1                  # keep every k-th step of the reports
spikes = true
readout = true

[task]                     # for `snnsim train`: a bundled task (no download)
name = "sine_wave"         # sine_wave, evidence_accumulation, store_recall, sequential_digits
steps = 1000

[train]
rule = "eprop"             # bptt, rtrl, eprop, eprop-m1, deep-eprop, ...
iterations = 200
batch = 1
optimizer = "adam"         # "adam" or "sgd"
lr = 0.003
checkpoint_every = 50      # iterations between checkpoints (resume with --resume)
'''


@click.command()
@click.argument("path", metavar="[CONFIG.toml]", default="snnsim.toml",
                type=click.Path(dir_okay=False))
@overwrite_option
@quiet_option
def command(path, overwrite, quiet):
    """Write a commented starter config (default snnsim.toml) for 'run' and 'train'."""
    out = Path(path)
    if out.exists() and not overwrite:
        raise UserError(f"{path} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise UserError(f"directory {out.parent} does not exist")
    with user_errors():   # never replace a device, FIFO or a file open elsewhere by the rename
        check_output(out, overwrite=overwrite, option="PATH")
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(STARTER.format(name=path))
    tmp.replace(out)
    if not quiet:
        click.echo(f"wrote {path}: edit it, then 'snnsim run {path} --out run.h5' or "
                   f"'snnsim train {path} --out train.h5'")
