"""The outer-product (Levenberg-Marquardt, Gauss-Newton) Hessian (PRML 5.84, 5.85).

H_outer = sum_n J_n^T Lambda_n J_n = sum_n (S_n J_n)^T (S_n J_n): one Gram product per chunk of data.
"""

from .._chunks import data_sum, rows_for_budget
from .jacobian import scaled_jacobians

__all__ = ["outer_data_hessian", "jacobian_chunk_rows"]


def jacobian_chunk_rows(net, chunk_size=None):
    """Rows per chunk so that a chunk of (N, K, W) Jacobians stays within the chunk budget."""
    if chunk_size is not None:
        return chunk_size
    return rows_for_budget(8 * net.n_outputs * net.n_params)


def outer_data_hessian(net, w, X, T, beta, chunk_size=None):
    """Data part of the outer-product Hessian, ``(W, W)``, on validated arrays."""
    layers = net.unpack(w)

    def part(Xc, Tc):
        B = scaled_jacobians(net, layers, Xc, beta).reshape(-1, net.n_params)
        return B.T @ B

    return data_sum(part, X, T, jacobian_chunk_rows(net, chunk_size))
