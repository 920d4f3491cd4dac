"""Kronecker factors of the Gauss-Newton matrix (KFAC; Martens & Grosse 2015, Ritter et al. 2018).

A weight ``W_l[i, j]`` enters the outputs only through ``a_l[i]``, multiplied by the layer input
``z_{l-1}[j]``, so the Gauss-Newton block of layer l is ``sum_n (B_n^T Lambda_n B_n) (x) (z_n z_n^T)`` with
``B_n = d a_L / d a_l`` (K, d_l) and ``Lambda_n`` the output Hessian (PRML 5.84 per layer). KFAC replaces
this sum of Kronecker products by the product of the sums,

    weight block of layer l  ~  (1/N) Q_l (x) Z_l,    Q_l = sum_n B_n^T Lambda_n B_n,    Z_l = sum_n z_n z_n^T,

and keeps the bias block ``Q_l`` exactly (its input is the constant 1); there are no weight-bias or
cross-layer blocks. The first factor indexes output units, the second input units: the order of
``W_l.ravel()``. This is laplace-torch 0.3's convention (its ``hessian_structure='kron'``), so the two
can be compared number for number. ``B_n^T Lambda_n B_n = (S_n B_n)^T (S_n B_n)`` with ``S_n^T S_n =
Lambda_n``: the rows of ``S_n`` backpropagated to layer l are the rows of ``S_n B_n`` (PRML 5.73).
"""
from collections import namedtuple

import numpy as np

from .._chunks import data_sum, rows_for_budget
from .._validation import check_finite_result
from .backprop import backprop, forward_pass, hidden_slopes

__all__ = ["KronFactors"]

#: bytes of one chunk of backpropagated rows (chunk * K * sum(d_l) * 8); the Gram products contract
#: over the chunk's rows, so chunks of a few hundred rows keep BLAS busy.
_CHUNK_BYTES = 4 * 2**20

#: ``output_factors``: ``[Q_1, ..., Q_L]``, each (d_l, d_l), or (K, d_l, d_l) per output;
#: ``input_factors``: ``[Z_1, ..., Z_L]``, each (d_{l-1}, d_{l-1}); ``n_data``: N.
KronFactors = namedtuple("KronFactors", "output_factors input_factors n_data")


def _chunk_rows(net, chunk_size):
    if chunk_size is not None:
        return chunk_size
    return rows_for_budget(8 * net.n_outputs * sum(net.sizes), _CHUNK_BYTES)


def data_kron_factors(net, w, X, T, beta, chunk_size=None, per_output=False):
    """:class:`KronFactors` of the data at ``w``, on validated arrays, in one pass over the data.

    With ``per_output`` (Gaussian likelihood only) each output factor is returned per output k,
    ``Q_l^(k) = sum_n b_nk b_nk^T`` with ``b_nk`` row k of ``B_n``, shape (K, d_l, d_l): the factor at unit
    noise precision of output k alone, so that ``Q_l = sum_k beta_k Q_l^(k)`` (see
    :func:`combine_output_factors`); ``beta`` is then not used.
    """
    layers = net.unpack(w)
    lik, K, L = net.likelihood, net.n_outputs, net.n_layers

    def part(Xc, Tc):
        fw = forward_pass(net, layers, Xc)
        n = Xc.shape[0]
        rows = np.broadcast_to(np.eye(K), (n, K, K)) if per_output else lik.output_hessian_sqrt(fw.y, beta)
        deltas = backprop(layers, hidden_slopes(net, fw), rows)  # rows of S_n B_n per layer, (n, R, d_l)
        if per_output:
            Q = [np.matmul(d.transpose(1, 2, 0), d.transpose(1, 0, 2)) for d in deltas]  # (K, d_l, d_l)
        else:
            Q = [d.reshape(-1, d.shape[2]).T @ d.reshape(-1, d.shape[2]) for d in deltas]
        return tuple(Q) + tuple(z.T @ z for z in fw.z)

    sums = data_sum(part, X, T, _chunk_rows(net, chunk_size))
    for factor in sums:
        check_finite_result(factor, "a Kronecker factor of the Gauss-Newton matrix")
    return KronFactors(list(sums[:L]), list(sums[L:]), int(X.shape[0]))


def combine_output_factors(factors, beta):
    """Per-output :class:`KronFactors` -> the factors at noise precisions ``beta`` (K,): ``sum_k beta_k Q^(k)``."""
    beta = np.broadcast_to(np.asarray(beta, dtype=float), (factors.output_factors[0].shape[0],))
    Q = [np.tensordot(beta, Q_k, axes=1) for Q_k in factors.output_factors]
    return KronFactors(Q, factors.input_factors, factors.n_data)
