"""Forward propagation and error backpropagation, vectorised over the batch (PRML 5.3).

``deltas`` may carry an extra axis of "sources" between the batch and the unit axes, shape
``(N, R, d_l)``: backpropagating the R rows of a matrix at once gives per-pattern Jacobians (5.73).
"""
from collections import namedtuple

import numpy as np

#: ``a``: pre-activations [a_1, ..., a_L] each (N, d_l); ``z``: layer inputs [z_0 = X, ..., z_{L-1}];
#: ``y``: output-unit values (N, K).
Forward = namedtuple("Forward", "a z y")


def forward_pass(net, layers, X):
    """Forward propagation (PRML 5.62-5.64) keeping every pre-activation and unit value."""
    h = net.activation.h
    a, z = [], [X]
    for l, (W, b) in enumerate(layers):
        a_l = z[-1] @ W.T
        a_l += b
        a.append(a_l)
        if l < len(layers) - 1:
            z.append(h(a_l))
    return Forward(a, z, net.likelihood.link(a[-1]))


def hidden_slopes(net, fw):
    """``[h'(a_1), ..., h'(a_{L-1})]``, each (N, d_l)."""
    dh = net.activation.dh
    return [dh(fw.a[l], fw.z[l + 1]) for l in range(len(fw.a) - 1)]


def backprop(layers, slopes, delta_out):
    """Backpropagate output deltas: delta_l = h'(a_l) * (W_{l+1}^T delta_{l+1}) (PRML 5.56).

    ``delta_out`` is (N, K) or (N, R, K); returns [delta_1, ..., delta_L] with the same leading axes.
    """
    deltas = [delta_out]
    for l in range(len(layers) - 2, -1, -1):
        back = deltas[0] @ layers[l + 1][0]
        back *= slopes[l] if back.ndim == 2 else slopes[l][:, None, :]
        deltas.insert(0, back)
    return deltas


def preact_hessian(M, W, slope, curvature, diagonal_only=False):
    """One step back of the pre-activation Hessians d^2 E_n / da_l^2 (the full PRML 5.80, as in 5.94):
    ``M_l = D W^T M W D + diag(curvature)`` with ``M`` = M_{l+1} (N, d_{l+1}, d_{l+1}), ``W`` = W_{l+1}
    (d_{l+1}, d_l), D = diag(``slope``), slope = h'(a_l) (N, d_l), and ``curvature`` = h''(a_l) * (g_{l+1} W)
    (N, d_l). Returns M_l (N, d_l, d_l), or with ``diagonal_only`` its diagonal (N, d_l)."""
    if diagonal_only:  # h'(a_l)^2 diag(W^T M W): one product M W over the whole chunk
        N, (d_next, d_l) = M.shape[0], W.shape
        MW = (np.ascontiguousarray(M).reshape(N * d_next, d_next) @ W).reshape(N, d_next, d_l)
        return slope ** 2 * np.einsum("npi,pi->ni", MW, W) + curvature
    SW = W[None] * slope[:, None, :]  # W diag(h'(a_l)) per pattern, (N, d_{l+1}, d_l)
    if W.shape[0] == 1:  # one unit above (one output): an outer product, a third faster than matmul's
        M_l = SW[:, 0, :, None] * (M[:, 0, 0, None] * SW[:, 0, :])[:, None, :]
    else:
        M_l = np.matmul(SW.transpose(0, 2, 1), np.matmul(M, SW))
    diag = np.arange(W.shape[1])
    M_l[:, diag, diag] += curvature
    return M_l


def weight_gradient(fw, deltas):
    """Sum over the batch of dE_n/dw = delta_l z_{l-1}^T (PRML 5.53), flattened in the package layout."""
    parts = []
    for z_prev, d in zip(fw.z, deltas):
        parts += [(d.T @ z_prev).ravel(), d.sum(axis=0)]
    return np.concatenate(parts)
