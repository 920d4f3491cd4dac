"""The data Hessian of the output layer alone, the other layers fixed (last-layer Laplace).

``a_L = W_L z_{L-1} + b_L`` is linear in the output layer's weights, so the exact Hessian of the data error
with respect to them has no second-derivative term: it equals the outer-product matrix
``sum_n J_n^T Lambda_n J_n`` (PRML 5.84) with ``J_n = d a_L / d(W_L, b_L)``: the output layer's block of the
exact Hessian, ``sum_n Lambda_n[i, p] zbar_n[j] zbar_n[q]`` (``zbar = [z_{L-1}; 1]``).
"""
import numpy as np

from .._chunks import data_sum, rows_for_budget
from .backprop import forward_pass

__all__ = ["layer_jacobians", "last_layer_slice", "last_layer_hessian"]

#: bytes of one chunk of scaled output-layer Jacobians (chunk * K * W_L * 8).
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
    """Data Hessian of the output layer's parameters, ``(W_L, W_L)``, on validated arrays (exact = outer)."""
    layers = net.unpack(w)
    lik = net.likelihood
    sl = last_layer_slice(net)
    width = sl.stop - sl.start
    rows = chunk_size or rows_for_budget(8 * net.n_outputs * width, _CHUNK_BYTES)

    def part(Xc, Tc):
        fw = forward_pass(net, layers, Xc)
        B = layer_jacobians([fw.z[-1]], [lik.output_hessian_sqrt(fw.y, beta)]).reshape(-1, width)  # S_n J_n
        return B.T @ B

    return data_sum(part, X, T, rows)
