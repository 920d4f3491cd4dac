"""The data Hessian of the output layer alone, the other layers fixed (last-layer Laplace).

``a_L = W_L z_{L-1} + b_L`` is linear in the output layer's weights, so the exact Hessian of the data error
with respect to them has no second-derivative term: it equals the outer-product matrix
``sum_n J_n^T Lambda_n J_n`` (PRML 5.84) with ``J_n = d a_L / d(W_L, b_L)``: the output layer's block of the
exact Hessian, ``sum_n Lambda_n[i, p] zbar_n[j] zbar_n[q]`` (``zbar = [z_{L-1}; 1]``).
"""
import numpy as np

from .._chunks import data_sum, rows_for_budget
from .backprop import forward_pass

#: bytes of one chunk of per-pattern products zbar zbar^T (chunk * (d_{L-1} + 1)^2 * 8).
_CHUNK_BYTES = 16 * 2**20


def layer_jacobians(inputs, deltas):
    """Output Jacobians ``(n, R, W_sub)`` of the layers given, in the flat layout, from their factors.

    ``inputs[i]`` (n, d_{l-1}) is the input of a layer and ``deltas[i]`` (n, R, d_l) the R rows of
    ``d a_L / d a_l`` backpropagated to it; d a / d W_l[i, j] = delta[i] z[j] (PRML 5.53), d a / d b_l = delta.
    """
    parts = []
    for z, d in zip(inputs, deltas):
        n, R, d_out = d.shape
        parts += [(d[:, :, :, None] * z[:, None, None, :]).reshape(n, R, d_out * z.shape[1]), d]
    return np.concatenate(parts, axis=2)


def last_layer_slice(net):
    """The slice of the flat weight vector holding ``W_L.ravel()`` and ``b_L``."""
    ws, bs = net.layer_slices[-1]
    return slice(ws.start, bs.stop)


def last_layer_hessian(net, w, X, T, beta, chunk_size=None):
    """Data Hessian of the output layer's parameters, ``(W_L, W_L)``, on validated arrays (exact = outer).

    ``H[(i, j), (p, q)] = sum_n Lambda_n[i, p] zbar_n[j] zbar_n[q]`` as one matrix product over the patterns,
    ``reshape(Lambda, (N, K^2))^T @ reshape(zbar zbar^T, (N, (d + 1)^2))``, then put in the flat layout.
    """
    layers = net.unpack(w)
    lik = net.likelihood
    K, d = net.n_outputs, net.sizes[-2]
    rows = chunk_size or rows_for_budget(8 * (d + 1) ** 2, _CHUNK_BYTES)

    def part(Xc, Tc):
        fw = forward_pass(net, layers, Xc)
        n = Xc.shape[0]
        zbar = np.hstack([fw.z[-1], np.ones((n, 1))])
        outer = (zbar[:, :, None] * zbar[:, None, :]).reshape(n, -1)
        return np.reshape(lik.output_hessian(fw.y, beta), (n, K * K)).T @ outer

    P = data_sum(part, X, T, rows).reshape(K, K, d + 1, d + 1).transpose(0, 2, 1, 3).reshape(K * (d + 1), -1)
    # (i, j) on the (K, d + 1) grid -> the flat layout: the weights W_L.ravel() first, then the biases b_L
    grid = np.arange(K * (d + 1)).reshape(K, d + 1)
    order = np.concatenate([grid[:, :d].ravel(), grid[:, d]])
    return P[np.ix_(order, order)]
