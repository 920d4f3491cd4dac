"""The public curvature routes of PRML 5.4: each validates its arguments once, then calls the kernels of
:mod:`laplacenet.core.curvature`, which trust their arrays.

* :func:`hessian` - the dense Hessian by any method (exact, outer product, Becker-Le Cun, finite differences).
* :func:`hessian_diagonal` - its diagonal without forming it.
* :func:`hvp`, :func:`hessian_operator` - matrix-free products by the R-operator.
* :func:`kron_factors` - the Kronecker factors of the Gauss-Newton matrix (KFAC).
* :func:`inverse_outer_hessian` - the inverse outer-product Hessian built by Woodbury updates.
"""
import numpy as np
from scipy.sparse.linalg import LinearOperator

from ._config import check_matrix_budget, check_max_bytes
from ._validation import check_chunk_size, check_directions, check_finite_result, check_positive_int
from .check import FD_METHODS, finite_difference_data_hessian
from .curvature.diagonal import DIAGONAL_KINDS, DIAGONALS, becker_lecun_diagonal
from .curvature.exact import exact_data_hessian
from .curvature.kron import data_kron_factors
from .curvature.outer import outer_data_hessian
from .curvature.rop import HVP_KINDS, PRODUCTS
from .curvature.woodbury import inverse_outer_data
from .objective import validate_problem
from .priors import alpha_per_param

__all__ = ["hessian", "hessian_diagonal", "hvp", "hessian_operator", "kron_factors", "inverse_outer_hessian"]


# --- dense Hessians by method -----------------------------------------------------------------------

def _exact(net, w, X, T, beta, chunk_size, fd_method):
    return exact_data_hessian(net, w, X, T, beta, chunk_size)


def _outer(net, w, X, T, beta, chunk_size, fd_method):
    return outer_data_hessian(net, w, X, T, beta, chunk_size)


def _diag(net, w, X, T, beta, chunk_size, fd_method):
    return becker_lecun_diagonal(net, w, X, T, beta, chunk_size)


def _fd(net, w, X, T, beta, chunk_size, fd_method):
    return finite_difference_data_hessian(net, w, X, T, beta, fd_method)


_DENSE = {"exact": _exact, "outer": _outer, "fd": _fd}
_VECTOR = {"diag": _diag}
HESSIAN_METHODS = tuple(_DENSE) + tuple(_VECTOR)


def data_hessian(net, w, X, T, beta, method="exact", chunk_size=None, fd_method="gradient", max_bytes=None):
    """Data part of the Hessian on validated arrays: ``(W, W)``, or ``(W,)`` for ``method='diag'``.

    A :class:`~laplacenet.NonFiniteError` when it overflows (checked in O(W^2), next to the O(N W^2) of forming it).
    """
    if method in _VECTOR:
        H = _VECTOR[method](net, w, X, T, beta, chunk_size, fd_method)
    elif method in _DENSE:
        check_matrix_budget(net.n_params, f"the {method} Hessian", max_bytes)
        H = _DENSE[method](net, w, X, T, beta, chunk_size, fd_method)
    else:
        raise ValueError(f"method must be one of {', '.join(map(repr, HESSIAN_METHODS))}; got {method!r}")
    return check_finite_result(H, f"the {method} Hessian of the data error")


def hessian(net, w, X, T, alpha, beta=None, method="exact", *, fd_method="gradient", chunk_size=None,
            max_bytes=None):
    """The Hessian of E(w) = data error + prior, ``(W, W)`` (a vector ``(W,)`` for ``method='diag'``).

    Parameters
    ----------
    net, w, X, T, alpha, beta
        As for :func:`laplacenet.error`; ``alpha=0`` gives the data term alone.
    method : {'exact', 'outer', 'diag', 'fd'}
        ``'exact'``: extended backpropagation (PRML 5.92-5.95, any depth). ``'outer'``: the
        outer-product / Gauss-Newton approximation (5.84, 5.85; softmax with diag(y) - y y^T).
        ``'diag'``: the Becker-Le Cun diagonal approximation (5.79-5.81), returned as a vector.
        ``'fd'``: finite differences, of the gradient (5.91) or, with ``fd_method='error'``, of E (5.90).
    fd_method : {'gradient', 'error'}
        The finite differences of ``method='fd'``; checked whatever the method.
    chunk_size : int, optional
        Rows of data per chunk; by default each route sizes its chunks to keep the per-pattern factors within
        the chunk budget (64 MiB), so peak memory does not grow with N.
    max_bytes : int, optional
        Largest dense matrix allowed; default :func:`laplacenet.get_matrix_budget` (2 GiB).

    Raises
    ------
    NonFiniteError
        When the Hessian overflows float64 (inputs, targets, weights or beta too large).
    """
    w, X, T, alpha, beta = validate_problem(net, w, X, T, alpha, beta)
    chunk_size, max_bytes = check_chunk_size(chunk_size), check_max_bytes(max_bytes)
    if not isinstance(fd_method, str) or fd_method not in FD_METHODS:
        raise ValueError(f"fd_method must be one of {', '.join(map(repr, FD_METHODS))} (the finite differences of "
                         f"method='fd'); got {fd_method!r}")
    H = data_hessian(net, w, X, T, beta, method, chunk_size, fd_method, max_bytes)
    a = alpha_per_param(net, alpha)
    if H.ndim == 1:
        return check_finite_result(H + a, f"the {method} Hessian")
    diagonal = np.diag_indices_from(H)
    H[diagonal] += a
    check_finite_result(H[diagonal], f"the diagonal of the {method} Hessian")
    return H


# --- the diagonal -----------------------------------------------------------------------------------

def hessian_diagonal(net, w, X, T, alpha, beta=None, kind="exact", *, chunk_size=None):
    """The diagonal of the Hessian of E(w), ``(W,)``, without forming the W x W matrix.

    Parameters
    ----------
    net, w, X, T, alpha, beta
        As for :func:`laplacenet.error`; ``alpha=0`` gives the data term alone.
    kind : {'exact', 'outer'}
        ``'exact'``: the diagonal of the exact Hessian (PRML 5.79, 5.80 with the full pre-activation
        Hessians). ``'outer'``: the diagonal of the outer-product / Gauss-Newton matrix (5.84, 5.85).
        (The Becker-Le Cun approximation (5.81) is ``laplacenet.hessian(..., method='diag')``.)
    chunk_size : int, optional
        Rows of data per chunk; by default chosen so the per-pattern arrays stay within a few MiB.

    Returns
    -------
    (W,)
        Data diagonal plus the prior precision of every parameter.
    """
    if not isinstance(kind, str) or kind not in DIAGONALS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, DIAGONAL_KINDS))}; got {kind!r}")
    w, X, T, alpha, beta = validate_problem(net, w, X, T, alpha, beta)
    chunk_size = check_chunk_size(chunk_size)
    return check_finite_result(DIAGONALS[kind](net, w, X, T, beta, chunk_size) + alpha_per_param(net, alpha),
                               f"the {kind} Hessian diagonal")


# --- matrix-free products ---------------------------------------------------------------------------

def _product_for(kind):
    if not isinstance(kind, str) or kind not in PRODUCTS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, HVP_KINDS))}; got {kind!r}")
    return PRODUCTS[kind]


def hvp(net, w, X, T, v, alpha, beta=None, *, kind="exact", chunk_size=None):
    """Hessian of E(w) times ``v`` without forming the Hessian: ``(H_data + diag(alpha)) v``.

    Parameters
    ----------
    net, w, X, T
        As for :func:`laplacenet.error`.
    v : (W,) or (W, k)
        One direction or a block of k directions, multiplied together.
    alpha, beta
        As for :func:`laplacenet.error`; ``alpha=0`` gives the data term alone.
    kind : {'exact', 'outer'}
        ``'exact'``: the exact Hessian by the R-operator (PRML 5.96-5.111). ``'outer'``: the
        outer-product / Gauss-Newton approximation (5.84, 5.85).
    chunk_size : int, optional
        Rows of data per chunk; by default chosen so that each intermediate R-array takes about 1 MiB.

    Returns
    -------
    (W,) or (W, k), the shape of ``v``.
    """
    product = _product_for(kind)
    w, X, T, alpha, beta = validate_problem(net, w, X, T, alpha, beta)
    V = check_directions(net, v)
    chunk_size = check_chunk_size(chunk_size)
    a = alpha_per_param(net, alpha)
    return check_finite_result(product(net, w, X, T, V, beta, chunk_size) + (a if V.ndim == 1 else a[:, None]) * V,
                               "the Hessian-vector product")


def hessian_operator(net, w, X, T, alpha, beta=None, kind="exact", *, chunk_size=None):
    """The Hessian of E(w) as a symmetric :class:`scipy.sparse.linalg.LinearOperator` of shape (W, W).

    Every product (``matvec``, ``matmat``, ``rmatvec``, ``@``) is one call of the block product behind
    :func:`hvp`: the vectors of a block share each pass over the data (a very wide block is split into
    column blocks that keep to the memory budget). The arguments are validated once, here; ``w`` is copied.

    Parameters
    ----------
    net, w, X, T, alpha, beta, kind, chunk_size
        As for :func:`hvp`.

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        float64, shape (W, W), equal to its own transpose.
    """
    product = _product_for(kind)
    w, X, T, alpha, beta = validate_problem(net, w, X, T, alpha, beta)
    chunk_size = check_chunk_size(chunk_size)
    w = w.copy()
    a = alpha_per_param(net, alpha)[:, None]

    def matmat(V):
        V = np.asarray(V, dtype=float)
        return product(net, w, X, T, V, beta, chunk_size) + a * V

    def matvec(v):
        return matmat(np.reshape(v, (-1, 1)))[:, 0]

    W = net.n_params
    return LinearOperator((W, W), matvec=matvec, rmatvec=matvec, matmat=matmat, rmatmat=matmat,
                          dtype=np.float64)


# --- Kronecker factors and the incremental inverse ---------------------------------------------------

def kron_factors(net, w, X, T, beta=None, *, chunk_size=None):
    """The Kronecker factors of the Gauss-Newton matrix of the data error, layer by layer (KFAC).

    The weight block of layer l is approximated by ``(1/N) Q_l (x) Z_l`` and its bias block is ``Q_l``
    exactly, with ``Q_l = sum_n B_n^T Lambda_n B_n`` (``B_n = d a_L / d a_l``, ``Lambda_n`` the output Hessian)
    and ``Z_l = sum_n z_{l-1,n} z_{l-1,n}^T`` (laplace-torch 0.3's ``'kron'`` convention). No W x W
    matrix is formed: one pass over the data, chunk by chunk.

    Parameters
    ----------
    net, w, X, T, beta
        As for :func:`laplacenet.error` (the factors do not depend on T).
    chunk_size : int, optional
        Rows of data per chunk; by default a few MiB of backpropagated rows.

    Returns
    -------
    KronFactors
        ``output_factors`` ``[Q_l (d_l, d_l)]``, ``input_factors`` ``[Z_l (d_{l-1}, d_{l-1})]`` and ``n_data``.
    """
    w, X, T, _, beta = validate_problem(net, w, X, T, 0.0, beta)
    return data_kron_factors(net, w, X, T, beta, check_chunk_size(chunk_size))


def inverse_outer_hessian(net, w, X, T, alpha, beta=None, block_size=1, chunk_size=None, *,
                          return_state=False, max_bytes=None):
    """The inverse of the outer-product Hessian plus prior, ``(H_outer + diag(alpha))^-1``, built sequentially.

    Starts from ``H_0 = diag(alpha)`` and folds in the data ``block_size`` patterns at a time by the
    Woodbury identity (PRML 5.86-5.89, C.7), never inverting a W x W matrix: O(N R W^2) in all.

    Parameters
    ----------
    net, w, X, T
        As for :func:`laplacenet.error`.
    alpha : float or (n_groups,) array
        Prior precision, which must be positive: it is the starting matrix.
    beta : float or (K,) array, optional
        Noise precision (Gaussian likelihood), as for :func:`laplacenet.error`.
    block_size : int
        Patterns per Woodbury update. Every pattern's R rows of ``S_n J_n`` (R = number of outputs, or
        K - 1 for the softmax) go in together, so a block is ``block_size * R`` rows; ``block_size=1`` with
        one output is PRML (5.89). Larger blocks do the same work in fewer, level-3 BLAS steps. Either way
        a row costs about 3 W^2 flops, against W^2 per row (plus W^3 once) for forming the outer Hessian
        and factoring it: for the inverse of many rows at once, the direct route is up to 3x faster.
    chunk_size : int, optional
        Patterns per chunk of Jacobians (rounded up to whole blocks); by default about 64 MiB of them.
    return_state : bool
        Return the :class:`~laplacenet.IncrementalInverse` (with ``log_det`` = ln|H_outer + diag(alpha)|, and
        ready for more data via ``update``) instead of the matrix.
    max_bytes : int, optional
        Largest dense matrix allowed; default :func:`laplacenet.get_matrix_budget`.

    Returns
    -------
    (W, W) array, or IncrementalInverse when ``return_state``.
    """
    w, X, T, alpha, beta = validate_problem(net, w, X, T, alpha, beta, allow_zero_alpha=False)
    block_size = check_positive_int(block_size, "block_size")
    chunk_size, max_bytes = check_chunk_size(chunk_size), check_max_bytes(max_bytes)
    return inverse_outer_data(net, w, X, T, alpha, beta, block_size, chunk_size, max_bytes=max_bytes,
                              return_state=return_state)
