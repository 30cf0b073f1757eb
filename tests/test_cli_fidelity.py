"""``snnsim fidelity``: CSV and PNG written, numbers that hold (deep-eprop == BPTT on the
feed-forward stack, eprop-m<k> with k >= T-1 == BPTT), existing outputs kept, bad options."""
import csv

from click.testing import CliRunner

from snnsim.cli.main import cli


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_fidelity_quick(tmp_path):
    out = tmp_path / "fid"
    res = CliRunner().invoke(cli, ["fidelity", "--quick", "-o", str(out)])
    assert res.exit_code == 0, res.output
    fid = read(out / "fidelity.csv")
    cost = read(out / "cost.csv")
    assert (out / "fidelity.png").stat().st_size > 1000
    rows = {(r["net"], r["rule"], r["reset"], r["weight"]): r for r in fid}
    for w in ("layer0.w_in", "layer1.w_in", "layer2.w_in", "readout.w_out"):
        r = rows["ff3-lif", "deep-eprop", "local", w]
        assert float(r["rel_error"]) < 1e-10 and float(r["cosine"]) > 1 - 1e-12
    assert float(rows["ff3-lif", "deep-eprop", "detach", "layer0.w_in"]["rel_error"]) > 1e-3
    assert {r["rule"] for r in fid} >= {"eprop-m0", "eprop-m1", "eprop-m2", "eprop",
                                        "deep-eprop-spatial", "deep-eprop-onehop", "deep-eprop"}
    assert {r["rule"] for r in cost} >= {"bptt", "eprop", "deep-eprop"}
    assert all(float(r["ms_per_step"]) > 0 for r in cost if r["status"] == "ok")
    # existing outputs are kept without --overwrite
    before = (out / "cost.csv").read_text()
    res = CliRunner().invoke(cli, ["fidelity", "--quick", "-o", str(out)])
    assert res.exit_code == 2 and "exists" in res.output
    assert (out / "cost.csv").read_text() == before


def test_fidelity_bad_sizes(tmp_path):
    res = CliRunner().invoke(cli, ["fidelity", "-o", str(tmp_path), "--sizes", "32,x"])
    assert res.exit_code == 2 and "--sizes" in res.output


def test_gradcheck_reset_option(tmp_path):
    cfg = tmp_path / "g.toml"
    cfg.write_text('[network]\nn_in = 3\nseed = 1\n'
                   '[[layer]]\nrecurrent = false\n[[layer.population]]\ntype = "lif"\nn = 5\n'
                   'v_th = 0.3\n[[layer]]\nrecurrent = false\n[[layer.population]]\n'
                   'type = "lif"\nn = 4\nv_th = 0.3\n[readout]\nn = 1\n'
                   '[task]\nname = "sine_wave"\nn_in = 3\nsteps = 30\n')
    outs = {}
    for reset in ("default", "detach", "local"):
        res = CliRunner().invoke(cli, ["gradcheck", str(cfg), "--rules", "deep-eprop",
                                       "--batch", "1", "--reset", reset])
        assert res.exit_code == 0, res.output
        # rule, weight, cosine, rel. error (not the time column)
        outs[reset] = [l.split()[:4] for l in res.output.splitlines() if l.startswith("deep-eprop")]
    assert outs["default"] == outs["local"] != outs["detach"]
    res = CliRunner().invoke(cli, ["gradcheck", str(cfg), "--reset", "soft"])
    assert res.exit_code == 2
