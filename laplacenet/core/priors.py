"""Gaussian priors over the weights: one precision alpha, or one per prior group (PRML 5.5.1)."""
import numpy as np


def alpha_per_param(net, alpha):
    """``(W,)`` precision of every parameter from a scalar or per-group ``alpha``."""
    alpha = np.asarray(alpha, dtype=float)
    if alpha.ndim == 0:
        return np.full(net.n_params, float(alpha))
    return alpha[net.group_index]


def prior_error(net, w, alpha):
    """``sum_g alpha_g/2 ||w_g||^2`` (PRML 5.113 with grouped priors, 5.122)."""
    return 0.5 * float(np.dot(alpha_per_param(net, alpha), w * w))


def group_sums(net, values):
    """Sum a per-parameter vector ``(W,)`` within each prior group -> ``(n_groups,)``."""
    return np.bincount(net.group_index, weights=values, minlength=net.n_groups)
