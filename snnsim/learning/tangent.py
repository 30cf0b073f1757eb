"""One step of the network, linearised: the Jacobian-vector and vector-Jacobian products that
the stochastic RTRL estimators (UORO, KF-RTRL) need, in float64 numpy.

The differentiable state is s^t = (v^t, a^t of every layer, y^t of the readout), packed as
``[v_0, a_0, v_1, a_1, ..., y]`` (D = 2 N + n_out entries per trial). Spikes are functions of
the state, z^t = H(v^t - beta a^t) with derivative psi^t; the transition F of one step is the
network equations of ``kernels.forward``, with the reset -v_th z^{t-1} and every lateral path
kept (so that RTRL on this state is exact, == BPTT). A step includes the same-step path
through the layers above (inputs without delay) and into the readout.

Tangents and cotangents carry trailing columns: arrays (B, D, R).
"""
import numpy as np

from .rtrl import _params


class Linearised:
    """Float64 copies of the weights and parameters of ``net`` and the state layout.

    Attributes
    ----------
    offsets : list of (v offset, a offset, n) per layer; ``y0``: offset of y; ``D``: size.
    params : list of (layer, kind, shape) of the recurrent-core weights (``rtrl._params`` order).
    """

    def __init__(self, net, blocks):
        f8 = np.float64
        self.net, self.blocks = net, blocks
        self.p = [{k: np.asarray(v, f8) for k, v in p.items()} for p in net.params]
        self.w_in = [np.asarray(w, f8) for w in net.w_in]
        self.w_out = np.asarray(net.w_out, f8)
        self.kappa = f8(net.kappa[0])
        self.wt = []
        for l, p in enumerate(self.p):
            w = -np.diag(p["v_th"])
            if net.w_rec[l] is not None:
                w = w + np.asarray(net.w_rec[l], f8) * p["zeta"][None, :]
            self.wt.append(w)
        self.offsets, o = [], 0
        for n in net.sizes:
            self.offsets.append((o, o + n, n))
            o += 2 * n
        self.y0, self.D = o, o + net.readout.n
        self.params = _params(net)
        self.psi = [np.asarray(b.psi, f8) for b in blocks]

    def _psi(self, l, t):
        return self.psi[l][:, t] if t >= 0 else np.zeros_like(self.psi[l][:, 0])

    def jvp(self, t, tan, inject=None):
        """ds^t = D^t ds^{t-1} (+ the injection): tan (B, D, R) -> new array (B, D, R).

        ``inject``: (layer q, array (B, n_q, R)) added to dv_q^t before the spikes are formed
        (the immediate influence of layer q's input current)."""
        out = np.empty_like(tan)
        dz_below = dzp_below = None
        for l, (ov, oa, n) in enumerate(self.offsets):
            p = self.p[l]
            dv, da = tan[:, ov:ov + n], tan[:, oa:oa + n]
            dzp = self._psi(l, t - 1)[:, :, None] * (dv - p["beta"][:, None] * da)
            nv = p["alpha"][:, None] * dv + np.einsum("kj,bkr->bjr", self.wt[l], dzp)
            if l > 0:
                src = dzp_below if self.net.layers[l].delay else dz_below
                nv += p["zeta"][:, None] * np.einsum("ij,bir->bjr", self.w_in[l], src)
            if inject is not None and inject[0] == l:
                nv += inject[1]
            na = p["rho"][:, None] * da + dzp
            out[:, ov:ov + n], out[:, oa:oa + n] = nv, na
            dz_below = self._psi(l, t)[:, :, None] * (nv - p["beta"][:, None] * na)
            dzp_below = dzp
        out[:, self.y0:] = self.kappa * tan[:, self.y0:] + np.einsum("jo,bjr->bor", self.w_out,
                                                                      dz_below)
        return out

    def vjp_immediate(self, t, nu):
        """nu^T (ds^t / dtheta) with s^{t-1} held fixed: nu (B, D, R) -> list (``params`` order)
        of arrays (B, R, n_pre, n_post)."""
        res = [None] * len(self.params)
        index = {(q, kind): i for i, (q, kind, _) in enumerate(self.params)}
        gz = np.einsum("jo,bor->bjr", self.w_out, nu[:, self.y0:])
        for l in range(len(self.offsets) - 1, -1, -1):
            ov, _, n = self.offsets[l]
            blk, p = self.blocks[l], self.p[l]
            gv = nu[:, ov:ov + n] + self.psi[l][:, t][:, :, None] * gz
            h = p["zeta"][:, None] * gv
            res[index[l, "in"]] = np.einsum("bi,bjr->brij", np.asarray(blk.pre[:, t], np.float64), h)
            if (l, "rec") in index:
                res[index[l, "rec"]] = np.einsum("bi,bjr->brij",
                                                 np.asarray(blk.z_prev[:, t], np.float64), h)
            if l > 0:
                gz = (np.einsum("ij,bjr->bir", self.w_in[l], h) if not self.net.layers[l].delay
                      else np.zeros((h.shape[0], self.offsets[l - 1][2], h.shape[2])))
        return res
