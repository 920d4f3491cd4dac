"""Hessian diagonals without the W x W matrix (PRML 5.79-5.81, 5.84) against finite differences and the
dense Hessians."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from laplacenet.check import numerical_hessian, relative_error
from laplacenet.core.curvature.diagonal import becker_lecun_diagonal, exact_diagonal, outer_diagonal
from laplacenet.core.routes import hessian, hessian_diagonal
from laplacenet.core.objective import validate_problem

from tests.problems import ACTIVATION_NAMES, LIKELIHOOD_NAMES, make_problem
from .test_rop import CASE_IDS, LIKELIHOOD_CASES, kink_distance, problem


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_exact_diagonal_matches_finite_differences(activation, case, depth):
    net, w, X, T, alpha, beta = problem(activation, case, depth)
    assert kink_distance(net, w, X) > 1e-4
    d = hessian_diagonal(net, w, X, T, alpha, beta, "exact")
    assert d.shape == (net.n_params,)
    assert relative_error(d, np.diag(numerical_hessian(net, w, X, T, alpha, beta))) <= 1e-6
    assert relative_error(d, np.diag(hessian(net, w, X, T, alpha, beta, method="exact"))) <= 1e-10


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_outer_diagonal_matches_outer_hessian(activation, case, depth):
    net, w, X, T, alpha, beta = problem(activation, case, depth)
    d = hessian_diagonal(net, w, X, T, alpha, beta, "outer")
    assert relative_error(d, np.diag(hessian(net, w, X, T, alpha, beta, method="outer"))) <= 1e-10


@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_all_diagonals_agree_without_hidden_layer(activation, case):
    # No hidden units: M_L = Lambda, so exact, outer and Becker-Le Cun coincide.
    net, w, X, T, alpha, beta = problem(activation, case, 0)
    exact = hessian_diagonal(net, w, X, T, alpha, beta, "exact")
    assert relative_error(hessian_diagonal(net, w, X, T, alpha, beta, "outer"), exact) <= 1e-12
    assert relative_error(hessian(net, w, X, T, alpha, beta, method="diag"), exact) <= 1e-12


@pytest.mark.parametrize("case", [("gaussian", 1, 1.7), ("gaussian", 2, np.array([0.6, 2.5])),
                                  ("bernoulli", 1, None)], ids=["gauss", "gauss-2-outputs", "bernoulli"])
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_becker_lecun_is_exact_for_one_hidden_layer_and_diagonal_output_hessian(activation, case):
    # One hidden layer and a diagonal Lambda (one output, or independent Gaussian outputs): the
    # off-diagonal terms dropped by PRML 5.81 are all zero.
    likelihood, K, beta = case
    net, w, X, T = make_problem(likelihood, activation, hidden=(5,), n_outputs=K, n=9)
    exact = hessian_diagonal(net, w, X, T, 0.0, beta, "exact")
    assert relative_error(hessian(net, w, X, T, 0.0, beta, method="diag"), exact) <= 1e-10


@pytest.mark.parametrize("likelihood, hidden", [("gaussian", (4, 3)), ("bernoulli", (4, 3)),
                                                ("categorical", (4,)), ("categorical", (4, 3))])
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_becker_lecun_differs_with_two_hidden_layers_or_softmax(activation, likelihood, hidden):
    net, w, X, T = make_problem(likelihood, activation, hidden=hidden, n=9, weight_scale=2.0)
    beta = 1.7 if likelihood == "gaussian" else None
    exact = hessian_diagonal(net, w, X, T, 0.0, beta, "exact")
    assert relative_error(hessian(net, w, X, T, 0.0, beta, method="diag"), exact) > 1e-3


def test_hessian_method_diag_is_becker_lecun_plus_alpha():
    net, w, X, T = make_problem("categorical", "tanh", hidden=(4, 3), n=8)
    alpha = np.linspace(0.1, 0.8, net.n_groups)
    d = hessian(net, w, X, T, alpha, method="diag")
    assert d.shape == (net.n_params,)
    w_, X_, T_, _, beta = validate_problem(net, w, X, T, alpha, None)
    assert np.array_equal(d, becker_lecun_diagonal(net, w_, X_, T_, beta) + alpha[net.group_index])


@pytest.mark.parametrize("diagonal", [exact_diagonal, outer_diagonal, becker_lecun_diagonal])
@pytest.mark.parametrize("likelihood", LIKELIHOOD_NAMES)
def test_chunking_does_not_change_the_diagonal(likelihood, diagonal):
    net, w, X, T = make_problem(likelihood, "softplus", hidden=(4, 3), n=13)
    w_, X_, T_, _, beta = validate_problem(net, w, X, T, 0.0, 1.1 if likelihood == "gaussian" else None)
    whole = diagonal(net, w_, X_, T_, beta)
    for chunk_size in (1, 5):
        assert relative_error(diagonal(net, w_, X_, T_, beta, chunk_size), whole) <= 1e-12


def test_prior_is_added_per_group():
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(3,), n=6)
    alpha = np.arange(1.0, net.n_groups + 1)
    for kind in ("exact", "outer"):
        data = hessian_diagonal(net, w, X, T, 0.0, 2.0, kind)
        assert np.array_equal(hessian_diagonal(net, w, X, T, alpha, 2.0, kind), data + alpha[net.group_index])


@settings(max_examples=20, deadline=None)
@given(depth=st.integers(0, 3), width=st.integers(1, 4), n_inputs=st.integers(1, 3), n=st.integers(1, 6),
       likelihood=st.sampled_from(LIKELIHOOD_NAMES), activation=st.sampled_from(ACTIVATION_NAMES),
       seed=st.integers(0, 2**16))
def test_diagonals_match_dense_hessians_for_random_shapes(depth, width, n_inputs, n, likelihood, activation, seed):
    net, w, X, T = make_problem(likelihood, activation, hidden=(width,) * depth, n_inputs=n_inputs, n=n, seed=seed)
    beta = 0.8 if likelihood == "gaussian" else None
    for kind in ("exact", "outer"):
        d = hessian_diagonal(net, w, X, T, 0.3, beta, kind, chunk_size=2)
        assert relative_error(d, np.diag(hessian(net, w, X, T, 0.3, beta, method=kind))) <= 1e-10


def test_unknown_kind_raises():
    net, w, X, T = make_problem("bernoulli", "tanh", hidden=(3,), n=5)
    with pytest.raises(ValueError, match="kind must be one of 'exact', 'outer'; got 'diag'"):
        hessian_diagonal(net, w, X, T, 0.1, kind="diag")
    with pytest.raises(ValueError, match="chunk_size"):
        hessian_diagonal(net, w, X, T, 0.1, chunk_size=-3)
