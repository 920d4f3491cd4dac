"""The outer-product (Levenberg-Marquardt, Gauss-Newton) Hessian (PRML 5.84, 5.85).

H_outer = sum_n J_n^T Lambda_n J_n is the exact Hessian without its second-order terms, so it is formed by
the exact route's layer blocks with those terms dropped (:mod:`._blocks`): per-pattern factors S_l^T S_m
of the rows of S_n backpropagated to each layer (S_n^T S_n = Lambda_n), multiplied over the data axis.
That costs about N W^2 flops whatever the number R of rows of S_n. The Gram route, B^T B with B the rows of
S_n J_n, costs N R W^2 flops but writes only R W floats per pattern for BLAS to read, against the blocks'
larger per-pattern factors; it is kept for the networks where that makes it cheaper
(:func:`gram_is_cheaper`): small networks with few rows per pattern.
"""
import numpy as np

from .._chunks import data_sum, rows_for_budget
from ._blocks import block_costs, layer_block_hessian
from .jacobian import scaled_jacobians


def jacobian_chunk_rows(net, chunk_size=None):
    """Rows per chunk so that a chunk of (N, K, W) Jacobians stays within the chunk budget."""
    if chunk_size is not None:
        return chunk_size
    return rows_for_budget(8 * net.n_outputs * net.n_params)


def outer_data_hessian(net, w, X, T, beta, chunk_size=None):
    """Data part of the outer-product Hessian, ``(W, W)``, on validated arrays (PRML 5.84, 5.85).

    By :func:`block_outer_hessian`, or by :func:`gram_outer_hessian` where :func:`gram_is_cheaper`; both
    are exactly symmetric and agree to rounding.
    """
    route = gram_outer_hessian if gram_is_cheaper(net, beta) else block_outer_hessian
    return route(net, w, X, T, beta, chunk_size)


def block_outer_hessian(net, w, X, T, beta, chunk_size=None):
    """``sum_n J_n^T Lambda_n J_n``, ``(W, W)``, by layer blocks: the exact route without second-order terms."""
    return layer_block_hessian(net, w, X, T, beta, chunk_size, second_order=False)


def gram_outer_hessian(net, w, X, T, beta, chunk_size=None):
    """``sum_n (S_n J_n)^T (S_n J_n)``, ``(W, W)``: one Gram product of the scaled Jacobian rows per chunk."""
    layers = net.unpack(w)

    def part(Xc, Tc):
        B = scaled_jacobians(net, layers, Xc, beta).reshape(-1, net.n_params)
        return B.T @ B

    return data_sum(part, X, T, jacobian_chunk_rows(net, chunk_size))


#: Time of one float of per-pattern factors (written, then read by BLAS) in multiply-add flops. Fitted on the
#: problems of ``benchmarks/curvature.py`` (CPU times at N = 1 000 and 10 000): the Gram route for the
#: one-output networks of W = 533 and 2 041, where it was 1.25-1.55x and 1.0-1.2x faster than the blocks;
#: the blocks for the one-output W = 5 071 (0.88x the Gram's time) and every softmax network (0.77-0.94x at
#: K = 3, 0.13x at K = 10).
_FLOPS_PER_FACTOR_FLOAT = 300


def gram_is_cheaper(net, beta, margin=1.0):
    """Whether the Gram route's cost model beats the blocks' by ``margin``: flops plus 300 per float of
    per-pattern factors.

    Gram: R W^2 flops and R W floats per pattern. Blocks: :func:`._blocks.block_costs`.
    """
    R, W = _rows_per_pattern(net, beta), net.n_params
    flops, floats = block_costs(net.sizes)
    return R * W * (W + _FLOPS_PER_FACTOR_FLOAT) < margin * (flops + _FLOPS_PER_FACTOR_FLOAT * floats)


def _rows_per_pattern(net, beta):
    """R, the rows of S_n with S_n^T S_n = Lambda_n: K, or K - 1 for the softmax."""
    K = net.n_outputs
    return net.likelihood.output_hessian_sqrt(np.full((1, K), 1.0 / K), beta).shape[1]
