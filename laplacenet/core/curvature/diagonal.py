"""Diagonals of the Hessian without forming a W x W matrix (PRML 5.4.1).

A weight (i, j) of layer l enters E_n only through ``a_l[i]``, multiplied by ``zbar_{l-1}[j]``
(``zbar`` is the layer input with the bias input 1 appended), so its diagonal Hessian entry is
``sum_n m_l[n, i] zbar_{l-1}[n, j]^2`` (PRML 5.79) with ``m_l[n, i]`` the diagonal of a d_l x d_l
pre-activation curvature of pattern n:

* :func:`exact_diagonal` - ``M_l = d^2 E_n / da_l^2`` backpropagated in full,
  ``M_L = Lambda_n``, ``M_l = D_l W_{l+1}^T M_{l+1} W_{l+1} D_l + diag(h''(a_l) * W_{l+1}^T delta_{l+1})``
  (PRML 5.80 without dropping the off-diagonal terms): the exact diagonal of the exact Hessian.
* :func:`outer_diagonal` - the Gauss-Newton ``sum_r (S_n J_n)[r, :]^2`` (PRML 5.84): the squares of the
  backpropagated rows of ``S_n`` (``S_n^T S_n = Lambda_n``) summed over the rows.
* :func:`becker_lecun_diagonal` - Becker & Le Cun (PRML 5.81): only the diagonals are backpropagated,
  O(W) per pattern; exact for one hidden layer and a single output, an approximation otherwise.
"""
import numpy as np

from .._chunks import DEFAULT_CHUNK_ROWS, data_sum, rows_for_budget
from .backprop import backprop, forward_pass, hidden_slopes, preact_hessian


#: bytes of one chunk of per-pattern pre-activation curvatures (chunk * d_l^2 or chunk * K * d_l floats);
#: about half the L2 cache measured fastest.
_CHUNK_BYTES = 2**20


def _weight_diagonal(fw, m):
    """``(W,)`` from the pre-activation diagonals ``m = [m_1, ..., m_L]`` (each (N, d_l)) (PRML 5.79)."""
    parts = []
    for z_prev, m_l in zip(fw.z, m):
        parts += [(m_l.T @ (z_prev * z_prev)).ravel(), m_l.sum(axis=0)]
    return np.concatenate(parts)


def _output_hessian_diagonal(lik, y, beta):
    """``(N, K)`` diagonal of Lambda_n."""
    return np.diagonal(lik.output_hessian(y, beta), axis1=1, axis2=2)


def becker_lecun_diagonal(net, w, X, T, beta, chunk_size=None):
    """Becker-Le Cun diagonal approximation of the data Hessian, ``(W,)``, on validated arrays.

    ``m_L = diag(Lambda_n)``, ``m_l = h'(a_l)^2 (W_{l+1}^2)^T m_{l+1} + h''(a_l) (W_{l+1}^T delta_{l+1})``
    (PRML 5.81), then PRML 5.79. ``chunk_size`` defaults to the gradient's.
    """
    layers = net.unpack(w)
    lik, d2h = net.likelihood, net.activation.d2h

    def part(Xc, Tc):
        fw = forward_pass(net, layers, Xc)
        slopes = hidden_slopes(net, fw)
        delta = lik.delta(fw.y, Tc, beta)
        m = [_output_hessian_diagonal(lik, fw.y, beta)]
        for l in range(len(layers) - 2, -1, -1):
            W = layers[l + 1][0]
            back = delta @ W
            delta = slopes[l] * back
            m.insert(0, slopes[l] ** 2 * (m[0] @ (W * W)) + d2h(fw.a[l], fw.z[l + 1]) * back)  # PRML 5.81
        return _weight_diagonal(fw, m)

    return data_sum(part, X, T, DEFAULT_CHUNK_ROWS if chunk_size is None else chunk_size)


def exact_diagonal(net, w, X, T, beta, chunk_size=None):
    """Exact diagonal of the exact data Hessian, ``(W,)``, on validated arrays.

    The full pre-activation Hessians ``M_l`` (N, d_l, d_l) are backpropagated chunk by chunk, two BLAS
    products per layer; the first layer needs only the diagonal of ``M_1``.
    """
    layers = net.unpack(w)
    lik, d2h = net.likelihood, net.activation.d2h
    # Largest per-pattern array: M_{l+1} (d_{l+1}^2) or M_{l+1} W_{l+1} (d_{l+1} d_l); Lambda (K^2).
    widest = max([net.n_outputs ** 2] + [max(a, b) * b for a, b in zip(net.sizes[1:], net.sizes[2:])])
    rows = rows_for_budget(8 * widest, _CHUNK_BYTES) if chunk_size is None else chunk_size

    def part(Xc, Tc):
        fw = forward_pass(net, layers, Xc)
        slopes = hidden_slopes(net, fw)
        delta = lik.delta(fw.y, Tc, beta)
        M = np.ascontiguousarray(lik.output_hessian(fw.y, beta))
        m = [np.diagonal(M, axis1=1, axis2=2)]
        for l in range(len(layers) - 2, -1, -1):
            W = layers[l + 1][0]
            back = delta @ W
            delta = slopes[l] * back
            curvature = d2h(fw.a[l], fw.z[l + 1]) * back
            m.insert(0, preact_hessian(M, W, slopes[l], curvature, diagonal_only=True))  # diag(M_l), PRML 5.80
            if l > 0:
                M = preact_hessian(M, W, slopes[l], curvature)
        return _weight_diagonal(fw, m)

    return data_sum(part, X, T, rows)


def outer_diagonal(net, w, X, T, beta, chunk_size=None):
    """Diagonal of the outer-product (Gauss-Newton) data Hessian, ``(W,)``, on validated arrays.

    ``sum_n sum_r delta_l[n, r, i]^2 zbar_{l-1}[n, j]^2`` with ``delta_l[n, r]`` row r of ``S_n``
    backpropagated to layer l (PRML 5.84): memory O(chunk * K * d_l), never (N, K, W).
    """
    layers = net.unpack(w)
    lik = net.likelihood
    rows = rows_for_budget(8 * net.n_outputs * sum(net.sizes[1:]), _CHUNK_BYTES) if chunk_size is None else chunk_size

    def part(Xc, Tc):
        fw = forward_pass(net, layers, Xc)
        deltas = backprop(layers, hidden_slopes(net, fw), lik.output_hessian_sqrt(fw.y, beta))
        return _weight_diagonal(fw, [(d * d).sum(axis=1) for d in deltas])

    return data_sum(part, X, T, rows)


#: the data Hessian's diagonal by kind: of the exact Hessian, or of the outer product (Gauss-Newton)
DIAGONALS = {"exact": exact_diagonal, "outer": outer_diagonal}
DIAGONAL_KINDS = tuple(DIAGONALS)
