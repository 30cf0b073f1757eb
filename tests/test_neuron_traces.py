"""Hand-computed voltage traces of single LIF / ALIF neurons, through the public ``snnsim.Network`` API.

One neuron, one input line, dt = 1 ms, tau_m = 10 ms, v_th = 1, zeta = 1 (regular spike arrival),
gamma = 0.3, float64. Update per step (reset by subtraction, Bellec 2020 / NEST bsshslm):

    v^t = alpha v^{t-1} + w x^t - v_th z^{t-1},        alpha = exp(-0.1) = 0.9048374180
    a^t = rho a^{t-1} + z^{t-1},  A^t = v_th + beta a^t,  z^t = [v^t >= A^t]
    psi^t = gamma / v_th * max(0, 1 - |v^t - A^t| / v_th)   (0 while refractory)

All expected numbers below are literal values worked out by hand (multiplications by alpha
spelled out in the comments), not produced by the simulator.
"""
import numpy as np
import pytest

import snnsim

ALPHA = 0.9048374180     # exp(-0.1)  = 1 - 0.1 + 0.005 - 0.000166667 + 0.0000041667 - ...
RHO = 0.9512294245       # exp(-0.05) = 1 - 0.05 + 0.00125 - 0.0000208333 + 0.00000026 - ...
TOL = dict(rtol=0, atol=1e-8)


def one_neuron(pop, w, *, tau_out=10.0, w_out=1.0):
    net = snnsim.Network(1, [snnsim.Layer([pop], recurrent=False)],
                         snnsim.Readout(1, tau_out=tau_out), dt=1.0, dtype="float64", rng=0)
    net.w_in[0][...] = w
    net.w_out[...] = w_out
    return net


def run(net, spikes):
    x = np.asarray(spikes, dtype=np.float64).reshape(1, -1, 1)
    blocks, y = net.forward(x)
    b = blocks[0]
    return b.v[0, :, 0], b.z[0, :, 0], b.a[0, :, 0], b.psi[0, :, 0], y[0, :, 0]


def test_alpha_literal():
    assert abs(np.exp(-0.1) - ALPHA) < 1e-10 and abs(np.exp(-0.05) - RHO) < 1e-10


def test_lif_trace_with_spike_and_reset_by_subtraction():
    net = one_neuron(snnsim.LIF(1, tau_m=10.0, v_th=1.0, t_ref=0.0, gamma=0.3), 0.6, w_out=2.0)
    v, z, a, psi, y = run(net, [1, 1, 0, 1, 1, 0, 1])
    # t=0  x=1: v = 0 + 0.6                                   = 0.6           < 1 -> z = 0
    # t=1  x=1: v = 0.6*alpha + 0.6 = 0.5429024508 + 0.6       = 1.1429024508 >= 1 -> z = 1
    # t=2  x=0: v = 1.1429024508*alpha - 1 (reset by subtraction)
    #             = 1.0341409027 - 1                           = 0.0341409027       z = 0
    # t=3  x=1: v = 0.0341409027*alpha + 0.6 = 0.0308919662 + 0.6 = 0.6308919662    z = 0
    # t=4  x=1: v = 0.6308919662*alpha + 0.6 = 0.5708546578 + 0.6 = 1.1708546578 -> z = 1
    # t=5  x=0: v = 1.1708546578*alpha - 1 = 1.0594331054 - 1  = 0.0594331054       z = 0
    # t=6  x=1: v = 0.0594331054*alpha + 0.6 = 0.0537772977 + 0.6 = 0.6537772977    z = 0
    np.testing.assert_allclose(v, [0.6, 1.1429024508, 0.0341409027, 0.6308919662,
                                   1.1708546578, 0.0594331054, 0.6537772977], **TOL)
    np.testing.assert_array_equal(z, [0, 1, 0, 0, 1, 0, 0])
    # psi = 0.3 * (1 - |v - 1|):  t=0: 0.3*0.6 = 0.18;  t=1: 0.3*(1 - 0.1429024508) = 0.2571292648
    #       t=2: 0.3*0.0341409027 = 0.0102422708;  t=3: 0.3*0.6308919662 = 0.1892675899
    #       t=4: 0.3*(1 - 0.1708546578) = 0.2487436027; t=5: 0.3*0.0594331054 = 0.0178299316
    #       t=6: 0.3*0.6537772977 = 0.1961331893
    np.testing.assert_allclose(psi, [0.18, 0.2571292648, 0.0102422708, 0.1892675899,
                                     0.2487436027, 0.0178299316, 0.1961331893], **TOL)
    # readout, kappa = exp(-1/10) = alpha, w_out = 2: y^t = alpha y^{t-1} + 2 z^t
    #   0, 2, 2 alpha = 1.8096748361, 2 alpha^2 = 1.6374615062, 2 alpha^3 + 2 = 1.4816364414 + 2,
    #   3.4816364414 alpha = 3.1503149282, 3.1503149282 alpha = 2.8505228256
    np.testing.assert_allclose(y, [0.0, 2.0, 1.8096748361, 1.6374615062, 3.4816364414,
                                   3.1503149282, 2.8505228256], rtol=0, atol=1e-8)
    # a LIF has no adaptation: threshold stays v_th
    np.testing.assert_allclose(net.threshold(0, a), 1.0, atol=0)


def test_lif_refractoriness_two_steps():
    """t_ref = 2 ms = 2 steps: after a spike the neuron stays silent for 2 steps although v >= 1."""
    net = one_neuron(snnsim.LIF(1, tau_m=10.0, v_th=1.0, t_ref=2.0, gamma=0.3), 1.1)
    v, z, _, psi, _ = run(net, [1] * 7)
    # t=0: v = 1.1                                           -> spike, refractory for 2 steps
    # t=1: v = 1.1*alpha + 1.1 - 1 = 0.9953211598 + 0.1      = 1.0953211598  >= 1 but refractory
    # t=2: v = 1.0953211598*alpha + 1.1 = 0.9910875702 + 1.1 = 2.0910875702  refractory (no reset:
    #      the last step's z was 0)
    # t=3: v = 2.0910875702*alpha + 1.1 = 1.8920942779 + 1.1 = 2.9920942779  -> spike
    # t=4: v = 2.9920942779*alpha + 1.1 - 1 = 2.7073588609 + 0.1 = 2.8073588609  refractory
    # t=5: v = 2.8073588609*alpha + 1.1 = 2.5402033432 + 1.1 = 3.6402033432  refractory
    # t=6: v = 3.6402033432*alpha + 1.1 = 3.2937921942 + 1.1 = 4.3937921942  -> spike
    np.testing.assert_allclose(v, [1.1, 1.0953211598, 2.0910875702, 2.9920942779,
                                   2.8073588609, 3.6402033432, 4.3937921942], **TOL)
    np.testing.assert_array_equal(z, [1, 0, 0, 1, 0, 0, 1])
    # psi: t=0: 0.3*(1 - 0.1) = 0.27; 0 while refractory; t=3, t=6: |v - 1| > 1 -> 0
    np.testing.assert_allclose(psi, [0.27, 0, 0, 0, 0, 0, 0], **TOL)

    # the same neuron without refractoriness fires at every step
    free = one_neuron(snnsim.LIF(1, tau_m=10.0, v_th=1.0, t_ref=0.0, gamma=0.3), 1.1)
    v0, z0, *_ = run(free, [1] * 3)
    # t=1: 1.1 alpha + 0.1 = 1.0953211598; t=2: 1.0953211598 alpha + 0.1 = 1.0910875702
    np.testing.assert_allclose(v0, [1.1, 1.0953211598, 1.0910875702], **TOL)
    np.testing.assert_array_equal(z0, [1, 1, 1])


def test_alif_threshold_rises_after_spike():
    """ALIF beta = 0.5, tau_a = 20 ms (rho = exp(-0.05)): A = 1 + 0.5 a jumps to 1.5 after a spike."""
    pop = snnsim.ALIF(1, tau_m=10.0, v_th=1.0, t_ref=0.0, gamma=0.3, beta=0.5, tau_a=20.0)
    net = one_neuron(pop, 0.6)
    v, z, a, psi, _ = run(net, [1] * 6)
    A = net.threshold(0, a)
    # t=0: v = 0.6,                                    a = 0, A = 1            -> z = 0
    # t=1: v = 0.6 alpha + 0.6 = 1.1429024508,         a = 0, A = 1            -> z = 1
    # t=2: v = 1.1429024508 alpha + 0.6 - 1 = 1.0341409027 - 0.4 = 0.6341409027
    #      a = 0*rho + 1 = 1,  A = 1 + 0.5*1 = 1.5                              -> z = 0
    # t=3: v = 0.6341409027 alpha + 0.6 = 0.5737944170 + 0.6 = 1.1737944170
    #      a = rho = 0.9512294245, A = 1.4756147123   (a LIF would fire here: v >= 1) -> z = 0
    # t=4: v = 1.1737944170 alpha + 0.6 = 1.0620931096 + 0.6 = 1.6620931096
    #      a = rho^2 = exp(-0.1) = 0.9048374180, A = 1.4524187090             -> z = 1
    # t=5: v = 1.6620931096 alpha + 0.6 - 1 = 1.5039240378 - 0.4 = 1.1039240378
    #      a = rho^3 + 1 = 0.8607079764 + 1 = 1.8607079764, A = 1.9303539882  -> z = 0
    np.testing.assert_allclose(v, [0.6, 1.1429024508, 0.6341409027, 1.1737944170,
                                   1.6620931096, 1.1039240378], **TOL)
    np.testing.assert_allclose(a, [0.0, 0.0, 1.0, 0.9512294245, 0.9048374180, 1.8607079764], **TOL)
    np.testing.assert_allclose(A, [1.0, 1.0, 1.5, 1.4756147123, 1.4524187090, 1.9303539882], **TOL)
    np.testing.assert_array_equal(z, [0, 1, 0, 0, 1, 0])
    # psi = 0.3 (1 - |v - A|): t=2: 0.3*(1 - 0.8658590973) = 0.0402422708
    #   t=3: 0.3*(1 - 0.3018202953) = 0.2094539114; t=4: 0.3*(1 - 0.2096744006) = 0.2370976798
    #   t=5: 0.3*(1 - 0.8264299504) = 0.0520710149
    np.testing.assert_allclose(psi, [0.18, 0.2571292648, 0.0402422708, 0.2094539114,
                                     0.2370976798, 0.0520710149], **TOL)


def test_zeta_one_minus_alpha():
    """regular_spike_arrival=False scales the input by zeta = 1 - alpha = 0.0951625820."""
    pop = snnsim.LIF(1, tau_m=10.0, v_th=1.0, regular_spike_arrival=False)
    net = one_neuron(pop, 6.0)
    v, z, *_ = run(net, [1, 1])
    # t=0: v = 6 * 0.0951625820 = 0.5709754918; t=1: 0.5709754918 alpha + 0.5709754918
    #      = 0.5166399898 + 0.5709754918 = 1.0876154816 -> spike
    np.testing.assert_allclose(v, [0.5709754918, 1.0876154816], **TOL)
    np.testing.assert_array_equal(z, [0, 1])


@pytest.mark.parametrize("block", [1, 2, 4])
def test_traces_identical_when_simulated_in_blocks(block):
    """run_block with carried state gives the same trace as one forward pass."""
    pop = snnsim.ALIF(1, tau_m=10.0, v_th=1.0, t_ref=2.0, gamma=0.3, beta=0.5, tau_a=20.0)
    net = one_neuron(pop, 0.8)
    x = np.array([1, 1, 0, 1, 1, 1, 0, 1], dtype=np.float64).reshape(1, -1, 1)
    v_all, z_all, *_ = run(net, x.ravel())
    state = net.init_state(1)
    vs, zs = [], []
    for t0 in range(0, x.shape[1], block):
        blocks, _ = net.run_block(state, x[:, t0:t0 + block])
        vs.append(blocks[0].v[0, :, 0])
        zs.append(blocks[0].z[0, :, 0])
    np.testing.assert_array_equal(np.concatenate(vs), v_all)
    np.testing.assert_array_equal(np.concatenate(zs), z_all)
    assert z_all.sum() >= 2
