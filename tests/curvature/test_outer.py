"""The outer-product (Gauss-Newton) Hessian (PRML 5.84, 5.85) against a naive independent oracle."""
import numpy as np
import pytest
from scipy.special import expit, softmax

from laplacenet.check import relative_error
from laplacenet.curvature.hessian import hessian

from ..problems import ACTIVATION_NAMES, make_problem

LIKELIHOOD_CASES = [  # (likelihood, outputs, beta)
    ("gaussian", 2, 1.7),
    ("gaussian", 2, np.array([0.6, 2.5])),
    ("bernoulli", 1, None),
    ("categorical", 3, None),
    ("categorical", 2, None),
]
CASE_IDS = ["gauss", "gauss-vector-beta", "bernoulli", "softmax", "softmax-2"]


def preacts(net, w, x):
    """[a_1, ..., a_L] for one input, by a forward pass written here from the layout contract alone."""
    z, a = x, []
    for W, b in net.unpack(w):
        a.append(W @ z + b)
        z = net.activation.h(a[-1])
    return a


def output_preacts(net, w, x):
    return preacts(net, w, x)[-1]


def naive_outer(net, w, X, beta, eps=1e-6):
    """sum_n J_n^T Lambda_n J_n, J_n by central differences of a_L, Lambda_n from its closed form."""
    H = np.zeros((net.n_params, net.n_params))
    for x in X:
        J = np.empty((net.n_outputs, net.n_params))
        for i in range(net.n_params):
            step = np.zeros(net.n_params)
            step[i] = eps
            J[:, i] = (output_preacts(net, w + step, x) - output_preacts(net, w - step, x)) / (2 * eps)
        a = output_preacts(net, w, x)
        if net.likelihood.name == "gaussian":
            Lam = np.diag(np.broadcast_to(beta, a.shape))
        elif net.likelihood.name == "bernoulli":
            Lam = np.diag(expit(a) * (1 - expit(a)))
        else:
            y = softmax(a)
            Lam = np.diag(y) - np.outer(y, y)
        H += J.T @ Lam @ J
    return H


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_outer_matches_naive_sum(activation, case, depth):
    likelihood, K, beta = case
    net, w, X, T = make_problem(likelihood, activation, hidden=(4, 3, 3)[:depth], n_outputs=K, n=5, seed=depth)
    # no finite-difference step (eps |z| ~ 1e-6) crosses a relu kink
    assert min(np.min(np.abs(a)) for x in X for a in preacts(net, w, x)[:-1]) > 1e-4
    H = hessian(net, w, X, T, 0.0, beta, method="outer")
    assert relative_error(H, naive_outer(net, w, X, beta)) <= 1e-8


@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=CASE_IDS)
def test_outer_equals_exact_without_hidden_units(case):
    # a_L is linear in w, so the Hessian is exactly J^T Lambda J (PRML 5.83 with no second-derivative term).
    likelihood, K, beta = case
    net, w, X, T = make_problem(likelihood, hidden=(), n_outputs=K, n=13, seed=3)
    outer = hessian(net, w, X, T, 0.4, beta, method="outer")
    exact = hessian(net, w, X, T, 0.4, beta, method="exact")
    assert relative_error(outer, exact) <= 1e-10


@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=CASE_IDS)
def test_outer_is_positive_semidefinite(case):
    likelihood, K, beta = case
    net, w, X, T = make_problem(likelihood, "tanh", hidden=(6, 4), n_outputs=K, n=4, seed=5)
    H = hessian(net, w, X, T, 0.0, beta, method="outer")
    eig = np.linalg.eigvalsh(H)
    assert np.array_equal(H, H.T)
    assert eig.min() >= -1e-12 * eig.max()
    # a sum of N Gram matrices of K rows each: rank at most N K < W
    assert np.sum(eig > 1e-10 * eig.max()) <= X.shape[0] * K


@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=CASE_IDS)
def test_outer_chunking_does_not_change_the_result(case):
    likelihood, K, beta = case
    net, w, X, T = make_problem(likelihood, "logistic", hidden=(4, 3), n_outputs=K, n=11, seed=7)
    one = hessian(net, w, X, T, 0.2, beta, method="outer")
    chunked = hessian(net, w, X, T, 0.2, beta, method="outer", chunk_size=3)
    assert relative_error(chunked, one) <= 1e-12


@pytest.mark.parametrize("K", [2, 3, 5, 10])
@pytest.mark.parametrize("scale", [1.0, 30.0, 700.0])
def test_softmax_hessian_square_root_has_k_minus_1_rows(K, scale):
    """S^T S = diag(y) - y y^T with K - 1 rows, also when some probabilities underflow or y_c -> 1."""
    from laplacenet.likelihoods import get_likelihood
    rng = np.random.default_rng(K)
    y = softmax(scale * rng.standard_normal((200, K)), axis=1)
    y[0] = np.full(K, 1.0 / K)                    # a tie for the most probable class
    S = get_likelihood("categorical").output_hessian_sqrt(y, None)
    assert S.shape == (200, K - 1, K)
    Lam = y[:, :, None] * np.eye(K) - y[:, :, None] * y[:, None, :]
    np.testing.assert_allclose(np.einsum("nrk,nrj->nkj", S, S), Lam, rtol=0, atol=1e-15)
    assert np.all(np.isfinite(S))


@pytest.mark.parametrize("likelihood, K, beta", [("gaussian", 3, np.array([0.5, 1.0, 4.0])), ("bernoulli", 1, None)])
def test_output_hessian_square_root(likelihood, K, beta):
    from laplacenet.likelihoods import get_likelihood
    lik = get_likelihood(likelihood)
    y = np.random.default_rng(0).uniform(0.01, 0.99, size=(50, K))
    S = lik.output_hessian_sqrt(y, beta)
    np.testing.assert_allclose(np.einsum("nrk,nrj->nkj", S, S), lik.output_hessian(y, beta), rtol=1e-15, atol=0)
