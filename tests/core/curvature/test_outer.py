"""The outer-product (Gauss-Newton) Hessian (PRML 5.84, 5.85) against a naive independent oracle."""
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import expit, softmax

import laplacenet as ln
from laplacenet.check import relative_error
from laplacenet.core.routes import hessian
from laplacenet.core.curvature.jacobian import output_jacobians
from laplacenet.core.curvature.outer import (gram_is_cheaper, block_outer_hessian, gram_outer_hessian,
                                        outer_data_hessian)
from laplacenet.core.objective import validate_problem

from tests.problems import ACTIVATION_NAMES, make_problem

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
        H += J.T @ closed_form_output_hessian(net, output_preacts(net, w, x), beta) @ J
    return H


def closed_form_output_hessian(net, a, beta):
    """Lambda_n = d^2 E_n / da^2 at the output pre-activations ``a`` (K,), written out per likelihood."""
    if net.likelihood.name == "gaussian":
        return np.diag(np.broadcast_to(beta, a.shape))
    if net.likelihood.name == "bernoulli":
        return np.diag(expit(a) * (1 - expit(a)))
    y = softmax(a)
    return np.diag(y) - np.outer(y, y)


def dense_outer(net, w, X, beta):
    """The dense oracle ``J^T Lambda J``: J (N K, W) stacked from ``output_jacobians``, Lambda block diagonal."""
    J = output_jacobians(net, net.unpack(w), X)
    Lam = np.stack([closed_form_output_hessian(net, output_preacts(net, w, x), beta) for x in X])
    return J.reshape(-1, net.n_params).T @ np.matmul(Lam, J).reshape(-1, net.n_params)


def frobenius_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def validated(net, w, X, T, beta):
    w, X, T, _, beta = validate_problem(net, w, X, T, 0.0, beta)
    return net, w, X, T, beta


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
    from laplacenet.core.likelihoods import get_likelihood
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
    from laplacenet.core.likelihoods import get_likelihood
    lik = get_likelihood(likelihood)
    y = np.random.default_rng(0).uniform(0.01, 0.99, size=(50, K))
    S = lik.output_hessian_sqrt(y, beta)
    np.testing.assert_allclose(np.einsum("nrk,nrj->nkj", S, S), lik.output_hessian(y, beta), rtol=1e-15, atol=0)


# The layer-block and Gram routes against the dense J^T Lambda J, over every likelihood, activation and depth.
ROUTE_CASES = LIKELIHOOD_CASES + [("gaussian", 1, 0.8), ("categorical", 5, None)]
ROUTE_CASE_IDS = CASE_IDS + ["gauss-1-output", "softmax-5"]
ROUTES = {"blocks": block_outer_hessian, "gram": gram_outer_hessian}


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("case", ROUTE_CASES, ids=ROUTE_CASE_IDS)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_routes_match_dense_jacobian_product(activation, case, depth, route):
    likelihood, K, beta = case
    net, w, X, T = make_problem(likelihood, activation, hidden=(5, 4, 3)[:depth], n_outputs=K, n=13, seed=depth)
    net, w, X, T, beta = validated(net, w, X, T, beta)
    H = ROUTES[route](net, w, X, T, beta)
    assert H.shape == (net.n_params, net.n_params)
    assert np.array_equal(H, H.T)
    assert frobenius_error(H, dense_outer(net, w, X, beta)) <= 1e-10


@pytest.mark.parametrize("case", ROUTE_CASES, ids=ROUTE_CASE_IDS)
def test_block_route_chunking_does_not_change_the_result(case):
    likelihood, K, beta = case
    problem = validated(*make_problem(likelihood, "softplus", hidden=(4, 3, 2), n_outputs=K, n=11), beta)
    one = block_outer_hessian(*problem)
    for chunk_size in (1, 3, 10):
        chunked = block_outer_hessian(*problem, chunk_size=chunk_size)
        assert np.array_equal(chunked, chunked.T)
        assert frobenius_error(chunked, one) <= 1e-12


@pytest.mark.parametrize("sizes, likelihood, gram", [
    ([8, 20, 16, 1], "gaussian", True),      # one row per pattern, small network: the Gram has no redundancy
    ([8, 20, 16, 1], "bernoulli", True),
    ([20, 70, 50, 1], "gaussian", False),    # W = 5 071: the blocks' half-size same-layer products win
    ([10, 35, 3], "categorical", False),     # R = 2 rows per pattern: the Gram does twice the work
    ([30, 120, 10], "categorical", False),
])
def test_outer_takes_the_gram_route_only_where_its_cost_model_wins(sizes, likelihood, gram):
    net = ln.MLP(sizes, "tanh", likelihood)
    beta = 2.0 if likelihood == "gaussian" else None
    assert gram_is_cheaper(net, beta) is gram


@pytest.mark.parametrize("likelihood, hidden, K, beta",
                         [("gaussian", (4,), 1, 1.5), ("categorical", (5, 4), 3, None)])
def test_outer_is_the_route_its_cost_model_picks(likelihood, hidden, K, beta):
    net, w, X, T, beta = validated(*make_problem(likelihood, "tanh", hidden=hidden, n_outputs=K, n=9), beta)
    route = gram_outer_hessian if gram_is_cheaper(net, beta) else block_outer_hessian
    assert np.array_equal(outer_data_hessian(net, w, X, T, beta), route(net, w, X, T, beta))


def test_block_route_peak_memory_is_flat_in_n():
    net = ln.MLP([6, 30, 20, 4], "tanh", "categorical")
    rng = np.random.default_rng(0)
    peaks = []
    for n in (600, 6000):
        problem = validated(net, net.init(1), rng.normal(size=(n, 6)), rng.integers(0, 4, n), None)
        tracemalloc.start()
        block_outer_hessian(*problem)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] <= 1.1 * peaks[0]


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=5), n=st.integers(1, 7),
       activation=st.sampled_from(ACTIVATION_NAMES),
       likelihood=st.sampled_from(["gaussian", "bernoulli", "categorical"]), seed=st.integers(0, 2**16))
def test_block_route_property(sizes, n, activation, likelihood, seed):
    K = {"gaussian": sizes[-1], "bernoulli": 1, "categorical": max(2, sizes[-1])}[likelihood]
    net, w, X, T = make_problem(likelihood, activation, hidden=sizes[1:-1], n_inputs=sizes[0], n_outputs=K,
                                n=n, seed=seed)
    net, w, X, T, beta = validated(net, w, X, T, np.linspace(0.5, 2.0, K))
    H = block_outer_hessian(net, w, X, T, beta)
    assert np.array_equal(H, H.T)
    assert frobenius_error(H, dense_outer(net, w, X, beta)) <= 1e-10
