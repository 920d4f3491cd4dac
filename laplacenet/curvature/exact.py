"""The exact Hessian of the data error by extended backpropagation (PRML 5.4.5), for any depth.

PRML (5.92)-(5.95) give the two-layer case; :mod:`._blocks` has the general blocks and how their sums over
the data become matrix products, which this route shares with the outer-product Hessian.
"""
from ._blocks import layer_block_hessian

__all__ = ["exact_data_hessian"]


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
    H : (W, W) symmetric array.
    """
    return layer_block_hessian(net, w, X, T, beta, chunk_size, second_order=True)
