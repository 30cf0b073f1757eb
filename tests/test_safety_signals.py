"""Regression tests: seeds beyond int64, layer names of dots, interrupt mechanism."""
import pytest

from snnsim import interrupt
from snnsim.config import validate
from snnsim.errors import ConfigError

BASE = {"network": {"n_in": 2}, "layer": [{"population": [{"type": "lif", "n": 3}]}],
        "input": {"type": "poisson", "rate": 10.0, "steps": 5}}


def test_seed_beyond_int64_one_line():
    with pytest.raises(ConfigError, match="network.seed: must be <= 2\\*\\*63 - 1"):
        validate(BASE, overrides={"network.seed": 2**63})


@pytest.mark.parametrize("name", [".", "..", "..."])
def test_layer_named_dots_refused(name):
    raw = {**BASE, "layer": [{"name": name, "population": [{"type": "lif", "n": 3}]}]}
    with pytest.raises(ConfigError, match="layer\\[0\\].name"):
        validate(raw)


def test_interrupt_check_raises_only_after_request():
    interrupt.reset()
    interrupt.check()
    interrupt.request(15)
    interrupt.request(2)   # the first signal wins
    with pytest.raises(interrupt.Interrupted) as exc:
        interrupt.check()
    assert exc.value.exit_code == 143 and exc.value.signame == "SIGTERM"
    interrupt.inner_checks(False)
    interrupt.check_inner()   # off under MPI
    interrupt.inner_checks(True)
    with pytest.raises(interrupt.Interrupted):
        interrupt.check_inner()
    interrupt.reset()
