"""The error E(w) and its gradient by backpropagation: the functional core's first two routes.

E(w) = data error + sum_g alpha_g/2 ||w_g||^2, the data error being beta/2 sum ||y - t||^2 for the
Gaussian likelihood (PRML 5.14) and the cross-entropy for Bernoulli (5.21) and categorical (5.24) ones.
"""
import numpy as np

from ._chunks import DEFAULT_CHUNK_ROWS, data_sum
from ._validation import check_alpha, check_beta, check_chunk_size, check_data, check_finite_result, check_w
from .curvature.backprop import backprop, forward_pass, hidden_slopes, weight_gradient
from .priors import alpha_per_param, prior_error

__all__ = ["error", "gradient"]


def validate_problem(net, w, X, T, alpha, beta, allow_zero_alpha=True):
    """Validate the ``(net, w, X, T, alpha, beta)`` of a public call; return the checked values."""
    X, T = check_data(net, X, T)
    return (check_w(net, w), X, T, check_alpha(net, alpha, allow_zero=allow_zero_alpha),
            check_beta(net, beta))


def data_error(net, w, X, T, beta, chunk_size=DEFAULT_CHUNK_ROWS):
    """Data part of E on validated arrays; a :class:`~laplacenet.NonFiniteError` if it overflows."""
    layers = net.unpack(w)
    lik = net.likelihood

    def part(Xc, Tc):
        fw = forward_pass(net, layers, Xc)
        return np.array(lik.nll(fw.a[-1], Tc, beta).sum())

    return check_finite_result(float(data_sum(part, X, T, chunk_size)), "the data error E_D(w)")


def data_gradient(net, w, X, T, beta, chunk_size=DEFAULT_CHUNK_ROWS):
    """Gradient of the data part of E on validated arrays (PRML 5.53-5.56); a NonFiniteError if it overflows."""
    layers = net.unpack(w)
    lik = net.likelihood

    def part(Xc, Tc):
        fw = forward_pass(net, layers, Xc)
        deltas = backprop(layers, hidden_slopes(net, fw), lik.delta(fw.y, Tc, beta))
        return weight_gradient(fw, deltas)

    return check_finite_result(data_sum(part, X, T, chunk_size), "the gradient of the data error")


def error_and_gradient(net, w, X, T, alpha, beta, chunk_size=DEFAULT_CHUNK_ROWS):
    """E(w) and its gradient in one pass over the data, on validated arrays.

    Not checked for overflow: an optimiser's trial step may land where E is inf, and rejects it.
    """
    layers = net.unpack(w)
    lik = net.likelihood

    def part(Xc, Tc):
        fw = forward_pass(net, layers, Xc)
        deltas = backprop(layers, hidden_slopes(net, fw), lik.delta(fw.y, Tc, beta))
        return np.array([lik.nll(fw.a[-1], Tc, beta).sum()]), weight_gradient(fw, deltas)

    E_data, g_data = data_sum(part, X, T, chunk_size)
    return float(E_data[0]) + prior_error(net, w, alpha), g_data + alpha_per_param(net, alpha) * w


def error(net, w, X, T, alpha, beta=None, *, chunk_size=DEFAULT_CHUNK_ROWS):
    """The regularised error E(w), the negative log posterior up to constants.

    Parameters
    ----------
    net : MLP
    w : (W,) weights in the package's flat layout.
    X : (N, D) inputs.
    T : targets: (N, K) for Gaussian, (N,) or (N, 1) of 0/1 for Bernoulli, integer labels (N,) or one-hot
        (N, K) for categorical.
    alpha : prior precision, a scalar or one per prior group (``net.n_groups``); 0 drops the prior.
    beta : noise precision of the Gaussian likelihood (scalar or one per output); ignored otherwise.
    chunk_size : rows of data processed at a time (None: the default, 8192).

    Returns
    -------
    float

    Raises
    ------
    NonFiniteError
        When E overflows float64 (inputs, targets, weights or beta too large).
    """
    w, X, T, alpha, beta = validate_problem(net, w, X, T, alpha, beta)
    chunk_size = check_chunk_size(chunk_size) or DEFAULT_CHUNK_ROWS
    return check_finite_result(data_error(net, w, X, T, beta, chunk_size) + prior_error(net, w, alpha),
                               "the error E(w)")


def gradient(net, w, X, T, alpha, beta=None, *, chunk_size=DEFAULT_CHUNK_ROWS):
    """Gradient of :func:`error` by error backpropagation (PRML 5.48-5.56), ``(W,)``.

    Same parameters as :func:`error`; a :class:`~laplacenet.NonFiniteError` when the gradient overflows.
    """
    w, X, T, alpha, beta = validate_problem(net, w, X, T, alpha, beta)
    chunk_size = check_chunk_size(chunk_size) or DEFAULT_CHUNK_ROWS
    return check_finite_result(data_gradient(net, w, X, T, beta, chunk_size) + alpha_per_param(net, alpha) * w,
                               "the gradient of E(w)")
