"""Hidden-unit activation functions h with their first and second derivatives.

Each derivative takes the pre-activation ``a`` and the unit value ``z = h(a)`` so that tanh and the
logistic sigmoid reuse ``z`` instead of evaluating the function again. h'' is what the exact Hessian
(PRML 5.80, 5.95) and the R-operator (5.107) need beyond plain backpropagation.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import expit

from ._validation import check_choice

__all__ = ["Activation", "ACTIVATIONS"]


@dataclass(frozen=True)
class Activation:
    """A hidden-unit nonlinearity ``z = h(a)`` with ``h'(a, z)`` and ``h''(a, z)``."""

    name: str
    h: Callable[[np.ndarray], np.ndarray]
    dh: Callable[[np.ndarray, np.ndarray], np.ndarray]
    d2h: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _tanh_dh(a, z):
    out = z * z
    return np.subtract(1.0, out, out=out)


def _tanh_d2h(a, z):
    return -2.0 * z * (1.0 - z * z)


def _logistic_dh(a, z):
    return z * (1.0 - z)


def _logistic_d2h(a, z):
    return z * (1.0 - z) * (1.0 - 2.0 * z)


def _softplus(a):
    return np.logaddexp(0.0, a)


def _softplus_dh(a, z):
    return expit(a)


def _softplus_d2h(a, z):
    s = expit(a)
    return s * (1.0 - s)


def _identity(a):
    return a.copy()


def _relu(a):
    return np.maximum(a, 0.0)


def _relu_dh(a, z):
    return (a > 0.0).astype(a.dtype)


def _zeros(a, z):
    return np.zeros_like(a)


def _ones(a, z):
    return np.ones_like(a)


ACTIVATIONS = {
    "tanh": Activation("tanh", np.tanh, _tanh_dh, _tanh_d2h),
    "logistic": Activation("logistic", expit, _logistic_dh, _logistic_d2h),
    "softplus": Activation("softplus", _softplus, _softplus_dh, _softplus_d2h),
    # h'' of relu is 0 almost everywhere; at a = 0 exactly the kink is not differentiable.
    "relu": Activation("relu", _relu, _relu_dh, _zeros),
    "identity": Activation("identity", _identity, _ones, _zeros),
}


def get_activation(name):
    """Return the :class:`Activation` called ``name`` (or ``name`` itself if it already is one)."""
    return check_choice(name, Activation, ACTIVATIONS, "activation")
