"""Small problems shared by the tests: every activation x likelihood x depth."""
import warnings

import numpy as np
import pytest

import laplacenet as ln
from laplacenet.exceptions import ConvergenceWarning

ACTIVATION_NAMES = ["tanh", "logistic", "softplus", "relu", "identity"]
LIKELIHOOD_NAMES = ["gaussian", "bernoulli", "categorical"]


def make_problem(likelihood="gaussian", activation="tanh", hidden=(4,), n_inputs=3, n_outputs=None, n=17,
                 seed=0, weight_scale=1.0):
    """A small random network, weights, data and targets for ``likelihood``."""
    rng = np.random.default_rng(seed)
    K = n_outputs or {"gaussian": 2, "bernoulli": 1, "categorical": 3}[likelihood]
    net = ln.MLP([n_inputs, *hidden, K], activation=activation, likelihood=likelihood)
    X = rng.normal(size=(n, n_inputs))
    w = net.init(seed + 1) * weight_scale + 0.1 * rng.normal(size=net.n_params)
    if likelihood == "gaussian":
        T = rng.normal(size=(n, K))
    elif likelihood == "bernoulli":
        T = rng.integers(0, 2, size=n).astype(float)
    else:
        T = rng.integers(0, K, size=n)
    return net, w, X, T


#: training options for tests that check bookkeeping, not optimisation
FAST = {"gtol": 1e-4}


@pytest.fixture
def quiet_evidence_dips():
    """Silence the ConvergenceWarning of evidence loops stopped after a few cycles."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
