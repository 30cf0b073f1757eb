"""Config loader: valid configs build; every bad field gives a one-line ConfigError naming it."""
import copy
import json
from pathlib import Path

import numpy as np
import pytest

import snnsim
from snnsim import ALIF, ConfigError, CurrentInput, LIF, Network, PoissonInput, SpikeInput
from snnsim.config import SECTIONS, build_from_dict, load, load_config, validate

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

BASE = {
    "network": {"n_in": 4, "dt": 1.0, "seed": 1},
    "layer": [{"name": "h", "population": [{"type": "lif", "n": 3},
                                           {"type": "alif", "n": 2, "beta": 1.7, "tau_a": 2000.0}]}],
    "readout": {"n": 2},
    "input": {"type": "poisson", "rate": 20.0, "steps": 50, "batch": 2},
}


def with_(path, value):
    """BASE with the dotted ``path`` (list indices as ints) set to value (or deleted for DELETE)."""
    cfg = copy.deepcopy(BASE)
    *head, last = path
    node = cfg
    for key in head:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return cfg


DELETE = object()
POP0 = ("layer", 0, "population", 0)
POP1 = ("layer", 0, "population", 1)


def test_valid_dict_builds_and_runs():
    built = build_from_dict(BASE)
    net = built.network
    assert isinstance(net, Network) and net.n_in == 4 and net.sizes == [5]
    assert [type(p) for p in net.layers[0].populations] == [LIF, ALIF]
    assert [p.name for p in net.layers[0].populations] == ["lif", "alif"]
    assert isinstance(built.source, PoissonInput)
    assert (built.steps, built.batch) == (50, 2)
    assert isinstance(built.rng, np.random.Generator)
    summary = net.simulate(built.source, steps=built.steps, batch=built.batch, rng=built.rng)
    assert summary["steps"] == 50


def test_defaults_filled_and_json():
    cfg = validate(BASE)
    assert cfg["network"]["dtype"] == "float32" and cfg["network"]["surrogate"] == "piecewise"
    assert cfg["record"]["populations"] == "all" and cfg["record"]["block"] == 500
    assert cfg["layer"][0]["recurrent"] is True
    assert json.loads(cfg.to_json())["layer"][0]["population"][1]["tau_a"] == 2000.0


def test_seed_reproducible_and_overridable():
    a, b = build_from_dict(BASE), build_from_dict(BASE)
    np.testing.assert_array_equal(a.network.w_in[0], b.network.w_in[0])
    c = build_from_dict(BASE, overrides={"network.seed": 2, "input.steps": 7})
    assert not np.array_equal(a.network.w_in[0], c.network.w_in[0])
    assert c.steps == 7 and c.config["network"]["seed"] == 2


def test_per_neuron_list_parameters():
    cfg = with_(POP0 + ("tau_m",), [10.0, 20.0, 30.0])
    net = build_from_dict(cfg).network
    np.testing.assert_allclose(net.layers[0].populations[0].tau_m, [10.0, 20.0, 30.0])


@pytest.mark.parametrize("name", ["sine_lif", "evidence_alif", "deep_3layer"])
def test_examples_load(name):
    built = load(EXAMPLES / f"{name}.toml")
    assert built.network.n_in == built.config["network"]["n_in"]


def test_example_shapes():
    assert load(EXAMPLES / "sine_lif.toml").network.sizes == [100]
    ev = load(EXAMPLES / "evidence_alif.toml").network
    assert ev.n_in == 40 and ev.readout.n == 2
    assert [p.kind for p in ev.layers[0].populations] == ["lif", "alif"]
    deep = load(EXAMPLES / "deep_3layer.toml").network
    assert len(deep.layers) == 3 and any(l.delay for l in deep.layers)


def test_npy_inputs_relative_to_config(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", (rng.random((2, 30, 4)) < 0.2).astype(np.float32))
    np.save(tmp_path / "c.npy", rng.standard_normal((1, 30, 4)))
    cfg = copy.deepcopy(BASE)
    cfg["input"] = {"type": "spikes", "path": "x.npy", "steps": 20}
    built = build_from_dict(cfg, base_dir=tmp_path)
    assert isinstance(built.source, SpikeInput) and (built.steps, built.batch) == (20, 2)
    cfg["input"] = {"type": "current", "path": "c.npy"}
    built = build_from_dict(cfg, base_dir=tmp_path)
    assert isinstance(built.source, CurrentInput) and (built.steps, built.batch) == (30, 1)
    toml = tmp_path / "run.toml"
    toml.write_text('[network]\nn_in = 4\n[[layer]]\n[[layer.population]]\ntype = "lif"\nn = 3\n'
                    '[input]\ntype = "spikes"\npath = "x.npy"\n')
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert load(toml).batch == 2  # path resolved relative to the TOML, not the cwd


def test_sections_table_is_the_extension_point():
    assert list(SECTIONS) == ["network", "layer", "readout", "task", "input", "record", "train"]


BAD = [
    # (config, expected message prefix)
    (with_(("network", "n_in"), DELETE), "network.n_in: is required"),
    (with_(("network", "n_in"), 2.5), "network.n_in: must be an integer"),
    (with_(("network", "dt"), 0.0), "network.dt: must be > 0"),
    (with_(("network", "dtt"), 1.0), "network.dtt: unknown key; did you mean 'dt'?"),
    (with_(("network", "dtype"), "float16"), "network.dtype: 'float16' is not allowed"),
    (with_(("network", "surrogate"), 3), "network.surrogate: must be a string"),
    (with_(("network", "seed"), -1), "network.seed: must be >= 0"),
    (with_(("trian",), {"lr": 1e-3}), "trian: unknown key; did you mean 'train'?"),
    (with_(("train",), {"lr": 1e-3}), "train: needs a [task] section"),
    (with_(("layer",), {"population": []}), "layer: must be an array of tables"),
    (with_(("layer", 0, "p_in"), 1.5), "layer[0].p_in: must be in (0, 1]"),
    (with_(("layer", 0, "recurrent"), "yes"), "layer[0].recurrent: must be true or false"),
    (with_(("layer", 0, "population"), []), "layer[0].population: must be a non-empty array"),
    (with_(POP1 + ("tau_m",), -3.0), "layer[0].population[1].tau_m: must be > 0 and finite, got -3.0"),
    (with_(POP1 + ("tau_m",), 0.5), "layer[0].population[1].tau_m: must be >= network.dt"),
    (with_(POP1 + ("tau_a",), "long"), "layer[0].population[1].tau_a: must be a number, got str"),
    (with_(POP0 + ("type",), "izhikevich"),
     "layer[0].population[0].type: 'izhikevich' is not allowed; choose one of lif, alif"),
    (with_(POP0 + ("type",), DELETE), "layer[0].population[0].type: is required"),
    (with_(POP0 + ("n",), 0), "layer[0].population[0].n: must be >= 1"),
    (with_(POP0 + ("beta",), 1.0), 'layer[0].population[0].beta: is only allowed with type = "alif"'),
    (with_(POP0 + ("tau_mm",), 1.0), "layer[0].population[0].tau_mm: unknown key; did you mean 'tau_m'?"),
    (with_(POP0 + ("v_th",), [1.0, 2.0]), "layer[0].population[0].v_th: must be a scalar or a list of 3"),
    (with_(POP0 + ("t_ref",), 2.0) | {"network": {"n_in": 4, "surrogate": "smooth"}},
     "layer[0].population[0].t_ref: must be 0 with network.surrogate"),
    (with_(("readout", "tau_out"), 0.5), "readout.tau_out: must be >= network.dt"),
    (with_(("readout", "n"), "two"), "readout.n: must be an integer"),
    (with_(("input",), {"type": "poison", "rate": 1.0}), "input.type: 'poison' is not allowed"),
    (with_(("input", "rate"), -1.0), "input.rate: must be >= 0"),
    (with_(("input", "rate"), 5000.0), "input.rate: must be <= 1000/dt"),
    (with_(("input", "steps"), 0), "input.steps: must be >= 1"),
    (with_(("input",), DELETE), "input: section is required"),
    (with_(("record", "variables"), ["v", "u"]), "record.variables[1]: 'u' is not allowed"),
    (with_(("record", "populations"), ["hidden"]), "record.populations[0]: 'hidden' is not allowed"),
    (with_(("record", "neurons"), {"h": [0, 9]}), "record.neurons.h: must list neuron indices in [0, 5)"),
    (with_(("record", "every"), 0), "record.every: must be >= 1"),
    (with_(("record", "neurons"), {"hx": [0]}), "record.neurons.hx: unknown key; did you mean 'h'?"),
    (with_(("record", "populations"), "al"), "record.populations: must be a list of"),
    (with_(POP0 + ("n",), DELETE), "layer[0].population[0].n: is required"),
    (with_(POP1 + ("name",), "lif"), "layer[0].population[1].name: 'lif' is already used"),
    (with_(("layer", 0, "name"), "readout"), "layer[0].name: 'readout' is already used"),
    (with_(("layer", 0, "name"), "a/b"), "layer[0].name: must be a non-empty name"),
    (with_(("record", "evry"), 2), "record.evry: unknown key; did you mean 'every'?"),
]


@pytest.mark.parametrize("cfg, prefix", BAD, ids=[p.split(":")[0] for _, p in BAD])
def test_bad_configs(cfg, prefix):
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    msg = str(info.value)
    assert msg.startswith(prefix), msg
    assert "\n" not in msg


def test_bad_npy_inputs(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 30, 5), np.float32))
    np.save(tmp_path / "v.npy", np.full((1, 30, 4), 0.5))
    (tmp_path / "junk.npy").write_text("not numpy")
    cases = [({"type": "spikes", "path": "x.npy"}, "input.path: last axis must be network.n_in = 4, got 5"),
             ({"type": "spikes", "path": "missing.npy"}, "input.path: no such file"),
             ({"type": "spikes", "path": "junk.npy"}, "input.path: cannot read"),
             ({"type": "spikes", "path": "v.npy"}, "input.path: spike input must contain only 0 and 1"),
             ({"type": "current", "path": "v.npy", "steps": 31}, "input.steps: must be <= 30"),
             ({"type": "current", "path": "v.npy", "batch": 2}, "input.batch: must equal the batch")]
    for inp, prefix in cases:
        cfg = copy.deepcopy(BASE)
        cfg["input"] = inp
        with pytest.raises(ConfigError) as info:
            build_from_dict(cfg, base_dir=tmp_path)
        assert str(info.value).startswith(prefix), str(info.value)


def test_toml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[network]\nn_in = = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(info.value).startswith(f"{bad}: invalid TOML")
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    single = tmp_path / "single.toml"
    single.write_text('[network]\nn_in = 3\n[layer]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"^layer: must be an array of tables \(\[\[layer\]\]\)"):
        load_config(single)


@pytest.mark.parametrize("field", ["w_in_scale", "w_rec_scale"])
def test_weight_scale_that_overflows_the_dtype_is_a_config_error(field):
    layer = snnsim.Layer([snnsim.LIF(3)], name="hidden", **{field: 1e300})
    with pytest.raises(snnsim.ConfigError, match=f"hidden.{field}: gives weights that do not fit in float32"):
        snnsim.Network(3, [layer], snnsim.Readout(2), rng=0)
    snnsim.Network(3, [layer], snnsim.Readout(2), rng=0, dtype="float64")   # fits in float64
