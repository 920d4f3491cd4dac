"""Finite-difference oracles (PRML 5.4.4): the references every analytic derivative is tested against.

* :func:`numerical_gradient` - central differences of E (5.69), O(W) error evaluations.
* :func:`numerical_hessian` - ``method="gradient"``: central differences of the analytic gradient
  (5.91), O(W) gradient evaluations; ``method="error"``: the four-point formula on E (5.90), O(W^2)
  error evaluations.
* :func:`check_gradient` - compare the analytic gradient with :func:`numerical_gradient`, in full or
  along random directions for large W.
"""
import numpy as np

from .objective import data_error, data_gradient, validate_problem
from .priors import alpha_per_param, prior_error

__all__ = ["numerical_gradient", "numerical_hessian", "check_gradient", "relative_error"]


def relative_error(a, b):
    """``max|a - b| / max|b|``: the scale-aware error the tests use."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(float).tiny))


def numerical_gradient(net, w, X, T, alpha, beta=None, eps=1e-6):
    """Central-difference gradient of E, (E(w + eps e_i) - E(w - eps e_i)) / (2 eps) (PRML 5.69)."""
    w, X, T, alpha, beta = validate_problem(net, w, X, T, alpha, beta)
    E = lambda v: data_error(net, v, X, T, beta) + prior_error(net, v, alpha)
    g = np.empty_like(w)
    for i in range(w.size):
        step = np.zeros_like(w)
        step[i] = eps
        g[i] = (E(w + step) - E(w - step)) / (2 * eps)
    return g


def numerical_hessian(net, w, X, T, alpha, beta=None, eps=None, method="gradient"):
    """Finite-difference Hessian of E, ``(W, W)``.

    ``method="gradient"``: central differences of the analytic gradient (PRML 5.91), symmetrised;
    O(W) gradient evaluations. ``method="error"``: the four-point central formula on E (5.90); O(W^2)
    error evaluations.
    """
    w, X, T, alpha, beta = validate_problem(net, w, X, T, alpha, beta)
    return finite_difference_data_hessian(net, w, X, T, beta, method, eps) + np.diag(alpha_per_param(net, alpha))


def finite_difference_data_hessian(net, w, X, T, beta, method="gradient", eps=None):
    """Finite-difference Hessian of the data error on validated arrays (PRML 5.90 or 5.91)."""
    W = w.size
    H = np.empty((W, W))
    if method == "gradient":
        eps = 1e-6 if eps is None else eps
        for i in range(W):
            step = np.zeros(W)
            step[i] = eps
            H[:, i] = (data_gradient(net, w + step, X, T, beta) - data_gradient(net, w - step, X, T, beta)) / (2 * eps)
        return 0.5 * (H + H.T)
    if method == "error":
        eps = 1e-4 if eps is None else eps
        E = lambda v: data_error(net, v, X, T, beta)
        basis = np.eye(W) * eps
        for i in range(W):
            for j in range(i, W):
                ei, ej = basis[i], basis[j]
                H[i, j] = H[j, i] = (E(w + ei + ej) - E(w + ei - ej) - E(w - ei + ej) + E(w - ei - ej)) \
                    / (4 * eps * eps)
        return H
    raise ValueError(f"fd method must be one of 'gradient', 'error'; got {method!r}")


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
    E = lambda v: data_error(net, v, X, T, beta) + prior_error(net, v, alpha)
    U = np.random.default_rng(seed).standard_normal((n_directions, w.size))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    numeric = np.array([(E(w + eps * u) - E(w - eps * u)) / (2 * eps) for u in U])
    return relative_error(U @ g, numeric)
