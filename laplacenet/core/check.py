"""Finite-difference oracles (PRML 5.4.4): the references every analytic derivative is tested against.

* :func:`numerical_gradient` - central differences of E (5.69), O(W) error evaluations.
* :func:`numerical_hessian` - ``method="gradient"``: central differences of the analytic gradient
  (5.91), O(W) gradient evaluations; ``method="error"``: the four-point formula on E (5.90), O(W^2)
  error evaluations.
* :func:`check_gradient` - compare the analytic gradient with :func:`numerical_gradient`, in full or
  along random directions for large W.
"""
import numbers

import numpy as np

from ._config import check_matrix_budget, check_max_bytes
from ._dense import symmetrise
from ._validation import check_positive_int, check_seed, float_array
from .objective import data_error, data_gradient, validate_problem
from .priors import alpha_per_param, prior_error

__all__ = ["numerical_gradient", "numerical_hessian", "check_gradient", "relative_error"]

#: finite differences of the analytic gradient (PRML 5.91) or of E itself (5.90)
FD_METHODS = ("gradient", "error")


def relative_error(a, b):
    """``max|a - b| / max|b|``: the scale-aware error the tests use, ``b`` the reference.

    ``a`` and ``b`` must have the same shape: an oracle does not broadcast. A zero reference gives 0 when ``a`` is
    zero too and inf otherwise; two empty arrays give 0.
    """
    a = float_array(a, "a", "an array of real numbers")
    b = float_array(b, "b", "an array of real numbers")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    difference, scale = np.max(np.abs(a - b)), np.max(np.abs(b))
    if scale == 0:
        return 0.0 if difference == 0 else float("inf")
    return float(difference / max(scale, np.finfo(float).tiny))


def _check_eps(eps):
    """A finite-difference step: a positive finite number."""
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, numbers.Real) or not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a positive finite number (the finite-difference step); got {eps!r}")
    return float(eps)


def numerical_gradient(net, w, X, T, alpha, beta=None, eps=1e-6):
    """Central-difference gradient of E, (E(w + eps e_i) - E(w - eps e_i)) / (2 eps) (PRML 5.69)."""
    w, X, T, alpha, beta = validate_problem(net, w, X, T, alpha, beta)
    eps = _check_eps(eps)
    E = lambda v: data_error(net, v, X, T, beta) + prior_error(net, v, alpha)
    g = np.empty_like(w)
    for i in range(w.size):
        step = np.zeros_like(w)
        step[i] = eps
        g[i] = (E(w + step) - E(w - step)) / (2 * eps)
    return g


def numerical_hessian(net, w, X, T, alpha, beta=None, eps=None, method="gradient", *, max_bytes=None):
    """Finite-difference Hessian of E, ``(W, W)``.

    ``method="gradient"``: central differences of the analytic gradient (PRML 5.91), symmetrised;
    O(W) gradient evaluations. ``method="error"``: the four-point central formula on E (5.90); O(W^2)
    error evaluations. The W x W result is the only dense matrix formed, and it is subject to the matrix
    budget (``max_bytes``, default :func:`laplacenet.get_matrix_budget`).
    """
    w, X, T, alpha, beta = validate_problem(net, w, X, T, alpha, beta)
    if eps is not None:
        eps = _check_eps(eps)
    check_matrix_budget(net.n_params, "the finite-difference Hessian", check_max_bytes(max_bytes))
    H = finite_difference_data_hessian(net, w, X, T, beta, method, eps)
    H[np.diag_indices_from(H)] += alpha_per_param(net, alpha)
    return H


def finite_difference_data_hessian(net, w, X, T, beta, method="gradient", eps=None):
    """Finite-difference Hessian of the data error on validated arrays (PRML 5.90 or 5.91).

    Allocates the (W, W) result and O(W) besides (the caller checks the matrix budget).
    """
    if method not in FD_METHODS:
        raise ValueError(f"fd method must be one of {', '.join(map(repr, FD_METHODS))}; got {method!r}")
    W = w.size
    H = np.empty((W, W))
    step_i, step_j = np.zeros(W), np.zeros(W)
    if method == "gradient":
        eps = 1e-6 if eps is None else eps
        for i in range(W):
            step_i[i] = eps
            H[:, i] = (data_gradient(net, w + step_i, X, T, beta) - data_gradient(net, w - step_i, X, T, beta)) \
                / (2 * eps)
            step_i[i] = 0.0
        return symmetrise(H)
    eps = 1e-4 if eps is None else eps
    E = lambda v: data_error(net, v, X, T, beta)
    for i in range(W):
        step_i[i] = eps
        for j in range(i, W):
            step_j[j] = eps
            H[i, j] = H[j, i] = (E(w + step_i + step_j) - E(w + step_i - step_j) - E(w - step_i + step_j)
                                 + E(w - step_i - step_j)) / (4 * eps * eps)
            step_j[j] = 0.0
        step_i[i] = 0.0
    return H


def check_gradient(net, w, X, T, alpha, beta=None, n_directions=None, eps=1e-6, seed=0):
    """Relative error between the analytic gradient and central differences.

    With ``n_directions`` the check is made along that many random unit directions u, comparing
    g.u with (E(w + eps u) - E(w - eps u)) / (2 eps) - O(n_directions) error evaluations for any W.
    """
    from .objective import gradient
    g = gradient(net, w, X, T, alpha, beta)
    if n_directions is None:
        return relative_error(g, numerical_gradient(net, w, X, T, alpha, beta, eps))
    w, X, T, alpha, beta = validate_problem(net, w, X, T, alpha, beta)
    eps, n_directions, seed = _check_eps(eps), check_positive_int(n_directions, "n_directions"), check_seed(seed)
    E = lambda v: data_error(net, v, X, T, beta) + prior_error(net, v, alpha)
    U = np.random.default_rng(seed).standard_normal((n_directions, w.size))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    numeric = np.array([(E(w + eps * u) - E(w - eps * u)) / (2 * eps) for u in U])
    return relative_error(U @ g, numeric)
