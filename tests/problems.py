"""Small problems shared by the tests: every activation x likelihood x depth."""
import math

import numpy as np

import laplacenet as ln

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


def wald_counts(sizes, w, variances, level=0.95):
    """Distinguishable units per hidden layer, read off the flat layout of DEVELOPERS.md unit by unit: unit j of
    hidden layer l counts when ``sum w^2 / var`` over its incoming block (row j of W_l and b_l[j]) exceeds the
    chi-square quantile of its size, and so does that over its outgoing block (column j of W_{l+1})."""
    from scipy.stats import chi2
    d2 = np.asarray(w, dtype=float) ** 2 / np.asarray(variances, dtype=float)
    starts = np.cumsum([0] + [d_out * (d_in + 1) for d_in, d_out in zip(sizes[:-1], sizes[1:])])
    counts = []
    for l in range(1, len(sizes) - 1):
        d_in, d_l, d_out = sizes[l - 1], sizes[l], sizes[l + 1]
        here, after = starts[l - 1], starts[l]
        count = 0
        for j in range(d_l):
            incoming = sum(d2[here + j * d_in + i] for i in range(d_in)) + d2[here + d_l * d_in + j]
            outgoing = sum(d2[after + k * d_l + j] for k in range(d_out))
            count += bool(incoming > chi2.ppf(level, d_in + 1) and outgoing > chi2.ppf(level, d_out))
        counts.append(count)
    return tuple(counts)


def symmetry_of(counts):
    """``sum_l ln M_l! + M_l ln 2`` by math.lgamma."""
    return sum(math.lgamma(m + 1) + m * math.log(2) for m in counts)


def on_grid(Z):
    """Standardised values as the estimators round them: to multiples of 2**-26 (laplacenet.core._scaling)."""
    return np.round(Z * 2.0 ** 26) / 2.0 ** 26
