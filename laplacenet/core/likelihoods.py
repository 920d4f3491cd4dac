"""Likelihoods: output activation, data error, output gradient and output Hessian.

Every function works on a batch: ``a`` is the output pre-activation ``(N, K)``, ``y`` the output-unit
values ``(N, K)`` and ``T`` the canonical targets ``(N, K)`` (one-hot for the categorical likelihood).

* ``nll(a, T, beta)`` -> ``(N,)``: the data part of E for each pattern, without constants.
* ``delta(y, T, beta)`` -> ``(N, K)``: dE_n/da, the output delta of backpropagation (PRML 5.54, 4.91).
* ``output_hessian(y, beta)`` -> ``(N, K, K)``: Lambda_n = d^2 E_n / da^2.
* ``output_hessian_sqrt(y, beta)`` -> ``(N, R, K)``: S_n with S_n^T S_n = Lambda_n, so that the
  outer-product Hessian is a plain Gram matrix of the rows of S_n J_n; R = K, except R = K - 1 for
  the categorical likelihood, whose Lambda_n has rank K - 1.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import expit

from ._validation import check_choice

__all__ = ["Likelihood", "LIKELIHOODS"]


@dataclass(frozen=True)
class Likelihood:
    """A conditional distribution of the targets with its canonical output activation."""

    name: str
    link: Callable
    nll: Callable
    delta: Callable
    output_hessian: Callable
    output_hessian_sqrt: Callable
    check_targets: Callable
    uses_beta: bool


def _as_row(beta, K):
    return np.broadcast_to(np.asarray(beta, dtype=float), (K,))


# --- Gaussian with identity output: E = beta/2 sum ||y - t||^2 (PRML 5.14) ---------------------------

def _identity(a):
    return a


def _gauss_nll(a, T, beta):
    return 0.5 * (((a - T) ** 2) * _as_row(beta, a.shape[1])).sum(axis=1)


def _gauss_delta(y, T, beta):
    return (y - T) * _as_row(beta, y.shape[1])


def _gauss_hessian(y, beta):
    N, K = y.shape
    return np.broadcast_to(np.diag(_as_row(beta, K)), (N, K, K))


def _gauss_hessian_sqrt(y, beta):
    N, K = y.shape
    return np.broadcast_to(np.diag(np.sqrt(_as_row(beta, K))), (N, K, K))


def _gauss_targets(T, K):
    T = number_array(T, "numbers")
    if T.ndim == 1 and K == 1:
        T = T[:, None]
    if T.ndim != 2 or T.shape[1] != K:
        raise ValueError(f"T must have shape (N, {K}) for a Gaussian likelihood with {K} outputs; "
                         f"got shape {T.shape}")
    if not np.all(np.isfinite(T)):
        raise ValueError("T must be finite; it contains NaN or inf")
    return T


# --- Bernoulli with logistic output: cross-entropy (PRML 5.21) ---------------------------------------

def _bern_nll(a, T, beta):
    # -[t ln s(a) + (1 - t) ln(1 - s(a))] = softplus(a) - t a, stable for any a.
    return (np.logaddexp(0.0, a) - T * a).sum(axis=1)


def _bern_delta(y, T, beta):
    return y - T


def _bern_hessian(y, beta):
    return (y * (1.0 - y))[:, :, None]


def _bern_hessian_sqrt(y, beta):
    return np.sqrt(y * (1.0 - y))[:, :, None]


def _bern_targets(T, K):
    T = number_array(T, "0 and 1 for a Bernoulli likelihood")
    if T.ndim == 1:
        T = T[:, None]
    if T.ndim != 2 or T.shape[1] != 1:
        raise ValueError(f"T must have shape (N,) or (N, 1) with values 0 or 1 for a Bernoulli likelihood; "
                         f"got shape {T.shape}")
    if not np.all((T == 0) | (T == 1)):
        bad = np.unique(T[(T != 0) & (T != 1)])[:5]
        raise ValueError(f"T must hold only 0 and 1 for a Bernoulli likelihood; got values such as {bad.tolist()}")
    return T.astype(float)


# --- Categorical with softmax output: cross-entropy (PRML 5.24) --------------------------------------

def _softmax(a):
    """Softmax over the rows, shifted by each row's largest activation (no overflow)."""
    e = np.exp(a - np.max(a, axis=1, keepdims=True))
    e /= np.sum(e, axis=1, keepdims=True)
    return e


def _log_softmax(a):
    """ln softmax over the rows, ``(a - m) - ln sum exp(a - m)`` with m the row's largest finite activation."""
    m = np.max(a, axis=1, keepdims=True)
    m[~np.isfinite(m)] = 0.0
    shifted = a - m
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


def _cat_nll(a, T, beta):
    return -(T * _log_softmax(a)).sum(axis=1)


def _cat_hessian(y, beta):
    # Lambda = diag(y) - y y^T (PRML 4.110 per pattern).
    return y[:, :, None] * np.eye(y.shape[1]) - y[:, :, None] * y[:, None, :]


def _cat_hessian_sqrt(y, beta):
    """K - 1 rows S (N, K-1, K) with S^T S = diag(y) - y y^T, which has rank K - 1 (it maps 1 to 0).

    With c = argmax_k y_k, the other classes j_1 < ... < j_{K-1}, u_i = sqrt(y_{j_i}) and
    g = 1 / (1 + sqrt(y_c)): (I - g u u^T)^2 = I - u u^T (as |u|^2 = 1 - y_c), so
    S = (I - g u u^T) diag(u) E with E a = (a_{j_i} - a_c)_i. One row fewer than a square root of the
    K x K matrix means a third less work in every Gram product for K = 3. Choosing c as the most
    probable class keeps g and the rows well scaled however small the other probabilities are.
    """
    N, K = y.shape
    c = np.argmax(y, axis=1)
    idx = np.arange(K - 1)
    others = idx[None, :] + (idx[None, :] >= c[:, None])     # (N, K-1): the classes other than c
    u = np.sqrt(np.take_along_axis(y, others, axis=1))
    g = 1.0 / (1.0 + np.sqrt(y[np.arange(N), c]))
    M = np.eye(K - 1) - (g[:, None] * u)[:, :, None] * u[:, None, :]
    M *= u[:, None, :]                                       # (I - g u u^T) diag(u), (N, K-1, K-1)
    S = np.empty((N, K - 1, K))
    np.put_along_axis(S, np.broadcast_to(others[:, None, :], M.shape), M, axis=2)
    S[np.arange(N), :, c] = -M.sum(axis=2)                   # column c of M E
    return S


def _cat_targets(T, K):
    T = number_array(T, f"integer class labels in 0..{K - 1} (or be one-hot of shape (N, {K}))")
    if T.ndim == 2 and T.shape[1] == 1:
        T = T[:, 0]
    if T.ndim == 1:
        return np.eye(K)[class_indices(T, K)]
    if T.ndim != 2 or T.shape[1] != K:
        raise ValueError(f"T must be integer labels of shape (N,) or one-hot of shape (N, {K}); got shape {T.shape}")
    if not (np.all((T == 0) | (T == 1)) and np.all(T.sum(axis=1) == 1)):
        raise ValueError(f"T of shape (N, {K}) must be one-hot: 0/1 entries with exactly one 1 per row")
    return T


def class_indices(labels, n_classes=None):
    """Class labels ``(N,)`` (floats, see :func:`number_array`) as int64 indices, once every label is an integer in
    ``0..n_classes-1`` (``n_classes`` None: any non-negative integer). The message names the labels that are not,
    and begins with ``T`` (the name :func:`laplacenet.core._validation.canonical_targets` replaces)."""
    classes = "0..K-1" if n_classes is None else f"0..{n_classes - 1}"
    expected = f"integer class labels in {classes} (or be one-hot of shape (N, {n_classes or 'K'}))"
    finite = np.isfinite(labels)
    if not np.all(finite):
        raise ValueError(f"T must hold {expected}; got NaN or inf: {np.unique(labels[~finite])[:5].tolist()}")
    fractional = labels != np.round(labels)
    if np.any(fractional):
        raise ValueError(f"T must hold {expected}; got non-integer labels such as "
                         f"{np.unique(labels[fractional])[:5].tolist()}")
    outside = (labels < 0) | (labels > (np.inf if n_classes is None else n_classes - 1))
    if np.any(outside):
        raise ValueError(f"T must hold {expected}; got labels outside {classes} such as "
                         f"{np.unique(labels[outside])[:5].tolist()}")
    return labels.astype(np.int64)


def number_array(T, expected="integer class labels in 0..K-1 (or be one-hot of shape (N, K))"):
    """``T`` as a float array; strings and objects that are no numbers (None, NA) are a ValueError saying that
    T must hold ``expected``."""
    try:
        T = np.asarray(T)
    except (TypeError, ValueError):  # ragged sequences
        raise ValueError(f"T must hold {expected}; it could not be converted to an array") from None
    if T.dtype.kind in "USV":
        raise ValueError(f"T must hold {expected}; got strings (dtype {T.dtype})")
    try:
        return T.astype(float)
    except (TypeError, ValueError):
        raise ValueError(f"T must hold {expected}; got values that are not numbers (dtype {T.dtype})") from None


LIKELIHOODS = {
    "gaussian": Likelihood("gaussian", _identity, _gauss_nll, _gauss_delta, _gauss_hessian,
                           _gauss_hessian_sqrt, _gauss_targets, True),
    "bernoulli": Likelihood("bernoulli", expit, _bern_nll, _bern_delta, _bern_hessian,
                            _bern_hessian_sqrt, _bern_targets, False),
    "categorical": Likelihood("categorical", _softmax, _cat_nll, _bern_delta,
                              _cat_hessian, _cat_hessian_sqrt, _cat_targets, False),
}


def get_likelihood(name):
    """Return the :class:`Likelihood` called ``name`` (or ``name`` itself if it already is one)."""
    return check_choice(name, Likelihood, LIKELIHOODS, "likelihood")
