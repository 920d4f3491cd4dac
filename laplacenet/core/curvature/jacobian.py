"""Per-pattern output Jacobians b_n = da_n/dw by backpropagation (PRML 5.73, 5.84).

Backpropagating the R rows of a per-pattern matrix ``S_n`` (R x K) as output deltas gives the rows of
``S_n J_n`` in one vectorised pass, where ``J_n = d a_L / d w`` (K x W). With ``S_n`` a square root of
the output Hessian (``Lambda_n = S_n^T S_n``; R = K, or K - 1 for the softmax), ``sum_n (S_n J_n)^T (S_n J_n)``
is the outer-product (Gauss-Newton) Hessian (5.84, 5.85) as one Gram matrix.
"""
import numpy as np

from .backprop import backprop, forward_pass, hidden_slopes


def row_jacobians(net, layers, fw, rows):
    """``rows`` (N, R, K) -> ``(N, R, W)``: row r of pattern n is ``rows[n, r] @ J_n``."""
    deltas = backprop(layers, hidden_slopes(net, fw), rows)
    N, R = rows.shape[:2]
    out = np.empty((N, R, net.n_params))
    for (ws, bs), z_prev, d in zip(net.layer_slices, fw.z, deltas):
        # d a / d W_l[i, j] = delta_l[i] z_{l-1}[j] (PRML 5.53), written in place as W_l.ravel() order
        weights = out[:, :, ws].reshape(N, R, d.shape[2], z_prev.shape[1])
        np.multiply(d[:, :, :, None], z_prev[:, None, None, :], out=weights)
        out[:, :, bs] = d
    return out


def output_jacobians(net, layers, X):
    """``J`` of shape (N, K, W): the derivatives of the output pre-activations a_L w.r.t. w."""
    fw = forward_pass(net, layers, X)
    N, K = fw.y.shape
    return row_jacobians(net, layers, fw, np.broadcast_to(np.eye(K), (N, K, K)))


def scaled_jacobians(net, layers, X, beta):
    """``S_n J_n`` of shape (N, R, W) with ``S_n^T S_n = Lambda_n``, the output Hessian at w."""
    fw = forward_pass(net, layers, X)
    return row_jacobians(net, layers, fw, net.likelihood.output_hessian_sqrt(fw.y, beta))
