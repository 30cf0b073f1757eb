"""KF-RTRL: Kronecker-factored RTRL (Mujika, Meier & Steger 2018, NeurIPS, "Approximating
real-time recurrent learning with random Kronecker factors").

The input current of layer q is c_j^t = sum_i W[i,j] xhat_i^t with W = [W_in; W_rec] and
xhat^t = [pre^t; z^{t-1}], so the immediate influence factorises,
I^t[k, (i,j)] = xhat_i^t H^t[k, j] with H^t = ds^t/dc^t (state of ``tangent.py``: v, a of
every layer and the readout y; H includes the same-step path into the layers above).
KF-RTRL keeps J ~ u (x) A (u: n_pre + n values, A: D x n_q) and after each step replaces the
sum of two Kronecker products by one, with random signs c1, c2 = +-1:

    p1 = sqrt(|D^t A| / |u|),  p2 = sqrt(|H^t| / |xhat^t|)
    u <- c1 p1 u + c2 p2 xhat^t ,   A <- c1 (D^t A) / p1 + c2 H^t / p2
    grad W[i,j] += u_i sum_k dE/dy_k^t A[y_k, j] ,   grad W_out exact

E[u (x) A] = u (x) D A + xhat (x) H (the cross terms have zero mean): an unbiased estimate of
RTRL's influence, with a variance O(1/n) lower than UORO's (one factor per layer here; Mujika
et al. treat one recurrent layer). Randomness only from the numpy Generator passed in.

Cost per trial and step: D^t A is n_q Jacobian-vector products, time O(N^3); memory O(N^2)
(D n_q per layer) (numpy reference implementation).
"""
import numpy as np

from .. import interrupt

from .common import forward_errors, readout_grad
from .tangent import Linearised
from .uoro import EPS, check_bytes, check_rng, one_estimate, signs


def kf_rtrl_samples(net, inputs, targets, *, rng, samples=1, loss="mse", mask=None,
                    max_bytes=None):
    """Independent KF-RTRL estimates: (loss, list of per-sample gradients (samples, n_pre,
    n_post) in ``rtrl._params`` order, readout gradient, y); summed over the batch."""
    check_rng(rng, "kf-rtrl")
    value, blocks, y, err, gy = forward_errors(net, inputs, targets, loss, mask)
    lin = Linearised(net, blocks)
    B, T = gy.shape[:2]
    R = int(samples)
    L = len(net.layers)
    n_pre = [blocks[q].pre.shape[2] + (net.sizes[q] if net.w_rec[q] is not None else 0)
             for q in range(L)]
    check_bytes(8 * B * R * sum(3 * lin.D * n + n_pre[q] for q, n in enumerate(net.sizes)),
                max_bytes, "kf-rtrl")
    u = [np.zeros((B, R, n_pre[q])) for q in range(L)]
    A = [np.zeros((B, lin.D, R, n)) for n in net.sizes]
    g = [np.zeros((R, n_pre[q], n)) for q, n in enumerate(net.sizes)]
    for t in range(T):
        interrupt.check_inner()
        for q, n in enumerate(net.sizes):
            zeta = lin.p[q]["zeta"]
            inj = np.broadcast_to(np.diag(zeta), (B, n, n))
            H = lin.jvp(t, np.zeros((B, lin.D, n)), inject=(q, inj))            # (B, D, n)
            xh = [blocks[q].pre[:, t]] + ([blocks[q].z_prev[:, t]] if net.w_rec[q] is not None
                                          else [])
            xh = np.concatenate([np.asarray(a, np.float64) for a in xh], axis=1)   # (B, n_pre)
            DA = lin.jvp(t, A[q].reshape(B, lin.D, R * n)).reshape(B, lin.D, R, n)
            p1 = np.sqrt(np.sqrt(np.sum(DA * DA, axis=(1, 3))) /
                         (np.linalg.norm(u[q], axis=2) + EPS)) + EPS                # (B, R)
            p2 = np.sqrt(np.linalg.norm(H, axis=(1, 2)) / (np.linalg.norm(xh, axis=1) + EPS)) + EPS
            c1, c2 = signs(rng, (B, R)), signs(rng, (B, R))
            u[q] = (c1 * p1)[:, :, None] * u[q] + (c2[:, :, None] * p2[:, None, None]) * xh[:, None, :]
            A[q] = ((c1 / p1)[:, None, :, None] * DA
                    + (c2[:, None, :, None] / p2[:, None, None, None]) * H[:, :, None, :])
            c = np.einsum("bo,borj->brj", err[:, t], A[q][:, lin.y0:])
            g[q] += np.einsum("bri,brj->rij", u[q], c)
    grads = []
    for l, kind, _ in lin.params:
        n_in = blocks[l].pre.shape[2]
        grads.append(g[l][:, :n_in] if kind == "in" else g[l][:, n_in:])
    return value, grads, readout_grad(net, blocks[-1].z, gy), y


def kf_rtrl(net, inputs, targets, *, rng, loss="mse", mask=None, max_bytes=None):
    """Return (loss, grads, y) of one KF-RTRL estimate (grads summed over the batch);
    parameters as :func:`snnsim.learning.uoro.uoro` (``rng``: source of the random signs)."""
    return one_estimate(kf_rtrl_samples, net, inputs, targets, rng=rng, loss=loss, mask=mask,
                        max_bytes=max_bytes)
