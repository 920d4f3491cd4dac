"""``hessian(..., method=)``: the dense Hessian of E(w) by any route of PRML 5.4."""
import numpy as np

from .._config import check_matrix_budget, check_max_bytes
from .._validation import check_chunk_size, check_finite_result
from ..check import FD_METHODS, finite_difference_data_hessian
from ..objective import validate_problem
from ..priors import alpha_per_param
from .diagonal import becker_lecun_diagonal
from .exact import exact_data_hessian
from .outer import outer_data_hessian

__all__ = ["hessian"]


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
