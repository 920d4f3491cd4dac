"""The exact Hessian of the data error by extended backpropagation (PRML 5.4.5), for any depth.

PRML (5.92)-(5.95) give the two-layer case; :mod:`._blocks` has the general blocks and how their sums over
the data become matrix products, which this route shares with the outer-product Hessian. A network with one
hidden layer whose Gram product is the cheaper (the cost model of :mod:`.outer`: small networks, few outputs)
takes the Gram route instead (:func:`gram_exact_hessian`), and its two second-order terms are added to it.
"""
import functools

import numpy as np

from .._chunks import data_sum
from ._blocks import layer_block_hessian
from .backprop import forward_pass, hidden_slopes
from .jacobian import row_jacobians
from .outer import gram_is_cheaper, jacobian_chunk_rows


def exact_data_hessian(net, w, X, T, beta, chunk_size=None):
    """Exact Hessian of the data error on validated arrays, ``(W, W)`` (PRML 5.92-5.95, any depth).

    Parameters
    ----------
    net : MLP
    w : (W,) weights in the package's flat layout.
    X : (N, D) inputs.
    T : (N, K) canonical targets.
    beta : float, (K,) array or None
        Noise precision of a Gaussian likelihood; None for classification.
    chunk_size : int, optional
        Rows of data per chunk; by default chosen from the network's sizes.

    Returns
    -------
    H : (W, W) exactly symmetric array, by :func:`gram_exact_hessian` for one hidden layer where the cost model
    of :func:`.outer.gram_is_cheaper` favours it by ``GRAM_EXACT_MARGIN``, else by :func:`block_exact_hessian`;
    the two agree to rounding.
    """
    cheaper = net.n_layers == 2 and gram_is_cheaper(net, beta, GRAM_EXACT_MARGIN)
    return (gram_exact_hessian if cheaper else block_exact_hessian)(net, w, X, T, beta, chunk_size)


#: the Gram route of the exact Hessian is taken where the outer-product cost model gives it under this fraction of
#: the blocks' cost: its second-order terms and their placement cost it more than the outer product. Measured at
#: N = 106-455 (CPU time per Hessian, Gram / blocks, against the model's ratio): one output, W = 61-601, 0.25-0.58
#: (model 0.08-0.49); three classes, W = 403, 0.65-0.77 (0.55); W = 163, 0.87-1.06 (0.72); breast_cancer, W = 641,
#: 1.02 (0.84); wine, 1.5-1.8 (1.25).
GRAM_EXACT_MARGIN = 0.6


def block_exact_hessian(net, w, X, T, beta, chunk_size=None):
    """The exact data Hessian by layer blocks (:mod:`._blocks`), any depth."""
    return layer_block_hessian(net, w, X, T, beta, chunk_size, second_order=True)


def gram_exact_hessian(net, w, X, T, beta, chunk_size=None):
    """The exact data Hessian of a network with one hidden layer: ``sum_n (S_n J_n)^T (S_n J_n)`` (PRML 5.84)
    plus the second-order terms ``sum_n g_n^T d^2 a_n / dw^2``, g_n = dE_n/da_2 (5.93-5.95).

    Only two kinds of weight pairs have a second derivative of a_2: two weights into the same hidden unit i,
    ``d^2 a_k / dW1[i,j] dW1[i,q] = W2[k,i] h''(a_i) z̄_j z̄_q`` (z̄ = [x; 1]), and a weight into unit i with the
    weight out of it, ``d^2 a_k / dW1[i,j] dW2[k,i] = h'(a_i) z̄_j``.
    """
    if net.n_layers != 2:
        raise ValueError(f"gram_exact_hessian is for one hidden layer; this network has {net.n_layers - 1}")
    layers = net.unpack(w)
    W2 = layers[1][0]
    lik, act = net.likelihood, net.activation

    def part(Xc, Tc):
        fw = forward_pass(net, layers, Xc)
        slope = hidden_slopes(net, fw)[0]
        B = row_jacobians(net, layers, fw, lik.output_hessian_sqrt(fw.y, beta)).reshape(-1, net.n_params)
        g = lik.delta(fw.y, Tc, beta)
        zbar = np.concatenate([Xc, np.ones((Xc.shape[0], 1))], axis=1)
        curvature = act.d2h(fw.a[0], fw.z[1]) * (g @ W2)  # h''(a_i) sum_k g_k W2[k, i], (N, H)
        N, H = slope.shape
        same = ((curvature[:, :, None] * zbar[:, None, :]).reshape(N, -1).T @ zbar).reshape(H, -1, zbar.shape[1])
        cross = ((g[:, :, None] * slope[:, None, :]).reshape(N, -1).T @ zbar).reshape(g.shape[1], H, -1)
        return B.T @ B, same, cross  # B^T B: numpy's symmetric product (syrk), exactly symmetric

    H, same, cross = data_sum(part, X, T, jacobian_chunk_rows(net, chunk_size))
    unit, out = _second_order_index(net)
    H[unit[:, :, None], unit[:, None, :]] += 0.5 * (same + same.transpose(0, 2, 1))  # exactly symmetric
    H[unit[None], out[:, :, None]] += cross
    H[out[:, :, None], unit[None]] += cross
    return H


@functools.lru_cache(maxsize=32)
def _second_order_index(net):
    """Flat indices of the second-order terms: ``unit[i]`` the weights into hidden unit i, ``[W1[i, :], b1[i]]``
    (H, D + 1), and ``out[k, i]`` = W2[k, i] (K, H). Read-only, once per network."""
    (ws1, bs1), (ws2, _) = net.layer_slices
    D, H, K = net.sizes
    unit = np.concatenate([ws1.start + np.arange(H * D).reshape(H, D), bs1.start + np.arange(H)[:, None]], axis=1)
    out = ws2.start + np.arange(K * H).reshape(K, H)
    for index in (unit, out):
        index.setflags(write=False)
    return unit, out
