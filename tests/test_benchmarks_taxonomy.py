"""benchmarks/taxonomy.py --quick runs and its map is sane (exact rules at cosine 1)."""
import csv
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def test_taxonomy_quick(tmp_path):
    script = os.path.join(HERE, "..", "benchmarks", "taxonomy.py")
    res = subprocess.run([sys.executable, script, "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "taxonomy.csv") as f:
        rows = list(csv.DictReader(f))
    assert (tmp_path / "taxonomy.png").stat().st_size > 10000
    nets = {r["network"] for r in rows}
    assert len(nets) == 2
    by = {(r["network"], r["rule"]): r for r in rows}
    for net in nets:
        for exact in ("bptt", "rtrl", "snap-n2"):
            assert abs(float(by[net, exact]["cosine"]) - 1) < 1e-9, (net, exact)
        for rule in ("tbptt-k2", "snap-n1", "uoro", "kf-rtrl", "ostl", "eprop"):
            r = by[net, rule]
            assert r["status"] == "ok" and -1 <= float(r["cosine"]) < 1 - 1e-6, r
            assert float(r["us_per_step"]) > 0 and float(r["peak_mib"]) > 0
    deep = [n for n in nets if n.startswith("3")][0]
    assert by[deep, "rflo"]["status"].startswith("skipped")
