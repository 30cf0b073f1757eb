"""The units attribute of every recorded variable says what the values are in: v and A in the
units of v_th (no physical unit), a/z/readout dimensionless, psi per unit of v, times in ms.
Checked on a file written from Python, its SONATA view and the plot's axis label."""
import h5py
import numpy as np

import snnsim
from snnsim.neurons import V_UNITS


def test_units_attributes_and_v_scale(tmp_path):
    rng = np.random.default_rng(0)
    net = snnsim.Network(10, snnsim.Layer([snnsim.LIF(4, v_th=0.03), snnsim.ALIF(3, v_th=0.03, beta=0.5)],
                                          name="h", w_in_scale=0.2), snnsim.Readout(1), rng=rng)
    x = (rng.random((2, 200, 10)) < 0.1).astype(float)
    out = tmp_path / "r.h5"
    net.simulate(x, out=out, record={"variables": ["v", "A", "a", "psi", "z"]})
    assert V_UNITS == "units of v_th"
    want = {"v": V_UNITS, "A": V_UNITS, "a": "1", "z": "1", "psi": f"1/({V_UNITS})"}
    with h5py.File(out, "r") as f:
        for var, unit in want.items():
            assert f[f"report/h/{var}"].attrs["units"] == unit, var
        assert f["report/h/data"].attrs["units"] == V_UNITS          # SONATA view of v
        assert f["report/h:A/data"].attrs["units"] == V_UNITS
        assert f["spikes/h/timestamps"].attrs["units"] == "ms"
        assert f["report/readout/y"].attrs["units"] == "1"
        # the values are on the scale of v_th = 0.03 as given (not converted): A = v_th + beta a
        A = f["report/h/A"][()]
        assert np.allclose(A[0], 0.03) and np.all(A >= 0.03 - 1e-7)
