"""Fast Hessian-vector products by the R-operator (PRML 5.96-5.111) against finite differences and
the dense Hessians."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.sparse.linalg import LinearOperator, cg

from laplacenet.check import numerical_hessian, relative_error
from laplacenet.core.curvature import rop
from laplacenet.core.curvature.backprop import forward_pass
from laplacenet.core.curvature.rop import data_gnvp, data_hvp
from laplacenet.core.routes import hessian, hessian_operator, hvp
from laplacenet.core.network import MLP
from laplacenet.core.objective import validate_problem

from tests.problems import ACTIVATION_NAMES, LIKELIHOOD_NAMES, make_problem

# (likelihood, outputs, beta): multi-output Gaussian with a scalar and with a per-output beta.
LIKELIHOOD_CASES = [
    ("gaussian", 2, 1.7),
    ("gaussian", 2, np.array([0.6, 2.5])),
    ("bernoulli", 1, None),
    ("categorical", 3, None),
]
CASE_IDS = ["gauss", "gauss-vector-beta", "bernoulli", "softmax"]
HIDDEN = (4, 3, 3)
KINDS = ["exact", "outer"]


def problem(activation, case, depth, n=9):
    likelihood, K, beta = case
    net, w, X, T = make_problem(likelihood, activation, hidden=HIDDEN[:depth], n_outputs=K, n=n, seed=depth)
    alpha = np.random.default_rng(depth).uniform(0.1, 1.0, net.n_groups)
    return net, w, X, T, alpha, beta


def kink_distance(net, w, X):
    """Smallest |a| over the hidden pre-activations: far from 0, FD steps of 1e-6 cross no relu kink."""
    a = forward_pass(net, net.unpack(w), np.asarray(X, dtype=float)).a[:-1]
    return min((np.min(np.abs(a_l)) for a_l in a), default=np.inf)


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_hvp_columns_match_finite_differences(activation, case, depth):
    net, w, X, T, alpha, beta = problem(activation, case, depth)
    assert kink_distance(net, w, X) > 1e-4
    HV = hvp(net, w, X, T, np.eye(net.n_params), alpha, beta)
    assert HV.shape == (net.n_params, net.n_params)
    assert relative_error(HV, numerical_hessian(net, w, X, T, alpha, beta)) <= 1e-6


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_hvp_columns_match_exact_hessian(activation, case, depth):
    net, w, X, T, alpha, beta = problem(activation, case, depth)
    H = hessian(net, w, X, T, alpha, beta, method="exact")
    assert relative_error(hvp(net, w, X, T, np.eye(net.n_params), alpha, beta), H) <= 1e-10


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_gauss_newton_product_matches_outer_hessian(activation, case, depth):
    net, w, X, T, alpha, beta = problem(activation, case, depth)
    V = np.random.default_rng(5).normal(size=(net.n_params, 3))
    H_outer = hessian(net, w, X, T, alpha, beta, method="outer")
    assert relative_error(hvp(net, w, X, T, V, alpha, beta, kind="outer"), H_outer @ V) <= 1e-10


@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=CASE_IDS)
def test_exact_and_outer_agree_without_hidden_layer(case):
    # No hidden units: the second-derivative term of PRML 5.83 vanishes, so H = H_outer.
    net, w, X, T, alpha, beta = problem("tanh", case, 0)
    V = np.random.default_rng(1).normal(size=(net.n_params, 2))
    exact, outer = (hvp(net, w, X, T, V, alpha, beta, kind=kind) for kind in KINDS)
    assert relative_error(outer, exact) <= 1e-12


def test_exact_and_outer_differ_with_hidden_layer():
    net, w, X, T, alpha, beta = problem("tanh", LIKELIHOOD_CASES[3], 2)
    v = np.random.default_rng(1).normal(size=net.n_params)
    exact, outer = (hvp(net, w, X, T, v, 0.0, beta, kind=kind) for kind in KINDS)
    assert relative_error(outer, exact) > 1e-2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("likelihood", LIKELIHOOD_NAMES)
def test_block_equals_single_products(likelihood, kind):
    net, w, X, T = make_problem(likelihood, "softplus", hidden=(5, 4), n=11)
    beta = 0.9 if likelihood == "gaussian" else None
    V = np.random.default_rng(2).normal(size=(net.n_params, 4))
    block = hvp(net, w, X, T, V, 0.3, beta, kind=kind)
    assert block.shape == V.shape
    singles = np.column_stack([hvp(net, w, X, T, V[:, j], 0.3, beta, kind=kind) for j in range(4)])
    assert relative_error(block, singles) <= 1e-12


@pytest.mark.parametrize("kind", KINDS)
def test_chunking_does_not_change_the_product(kind):
    net, w, X, T = make_problem("categorical", "tanh", hidden=(5, 4), n=23)
    V = np.random.default_rng(3).normal(size=(net.n_params, 3))
    whole = hvp(net, w, X, T, V, 0.2, kind=kind)
    for chunk_size in (1, 4, 7):
        assert relative_error(hvp(net, w, X, T, V, 0.2, kind=kind, chunk_size=chunk_size), whole) <= 1e-12


@pytest.mark.parametrize("kind", KINDS)
def test_directions_are_blocked_within_the_budget(kind, monkeypatch):
    net, w, X, T = make_problem("gaussian", "logistic", hidden=(4, 3), n=40)
    V = np.random.default_rng(9).normal(size=(net.n_params, 7))
    whole = hvp(net, w, X, T, V, 0.2, 1.5, kind=kind)
    # 40 rows x 2 directions x 9 units x 8 bytes: the 7 directions go in blocks of 2, the data in one chunk.
    monkeypatch.setattr(rop, "R_CHUNK_BYTES", 40 * 2 * 9 * 8)
    assert rop._chunk_shape(net, 7, 40) == (40, 2)
    assert relative_error(hvp(net, w, X, T, V, 0.2, 1.5, kind=kind, chunk_size=40), whole) <= 1e-12
    assert rop._chunk_shape(net, 7, None) == (rop.MIN_CHUNK_ROWS, 2)
    assert relative_error(hvp(net, w, X, T, V, 0.2, 1.5, kind=kind), whole) <= 1e-12


def test_prior_is_added_per_group():
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(3,), n=6)
    alpha = np.arange(1.0, net.n_groups + 1)
    v = np.random.default_rng(4).normal(size=net.n_params)
    w_, X_, T_, _, beta = validate_problem(net, w, X, T, alpha, 2.0)
    data = data_hvp(net, w_, X_, T_, v, beta)
    assert np.array_equal(hvp(net, w, X, T, v, alpha, 2.0), data + alpha[net.group_index] * v)
    assert np.array_equal(hvp(net, w, X, T, v, 0.0, 2.0), data)


@pytest.mark.parametrize("likelihood", LIKELIHOOD_NAMES)
def test_generic_output_hessian_path_matches_closed_forms(likelihood):
    # A likelihood the closed forms do not know goes through output_hessian (N, K, K).
    net, w, X, T = make_problem(likelihood, "tanh", hidden=(4,), n=8)
    custom = MLP(net.sizes, "tanh", dataclasses.replace(net.likelihood, name="custom"))
    beta = np.array([0.5, 1.5]) if likelihood == "gaussian" else None
    w_, X_, T_, _, beta = validate_problem(net, w, X, T, 0.0, beta)
    V = np.random.default_rng(6).normal(size=(net.n_params, 2))
    for product in (data_hvp, data_gnvp):
        assert relative_error(product(custom, w_, X_, T_, V, beta), product(net, w_, X_, T_, V, beta)) <= 1e-12


@pytest.mark.parametrize("kind", KINDS)
def test_hessian_operator_products(kind):
    net, w, X, T = make_problem("categorical", "tanh", hidden=(4, 3), n=10)
    alpha = np.linspace(0.2, 1.0, net.n_groups)
    op = hessian_operator(net, w, X, T, alpha, kind=kind)
    assert isinstance(op, LinearOperator)
    assert op.shape == (net.n_params, net.n_params) and op.dtype == np.float64
    rng = np.random.default_rng(7)
    v, V = rng.normal(size=net.n_params), rng.normal(size=(net.n_params, 3))
    Hv = hvp(net, w, X, T, v, alpha, kind=kind)
    assert relative_error(op.matvec(v), Hv) <= 1e-12
    assert relative_error(op @ v, Hv) <= 1e-12
    assert relative_error(op.rmatvec(v), Hv) <= 1e-12
    assert relative_error(op.T @ v, Hv) <= 1e-12
    assert relative_error(op.matmat(V), hvp(net, w, X, T, V, alpha, kind=kind)) <= 1e-12
    method = "exact" if kind == "exact" else "outer"
    assert relative_error(op @ np.eye(net.n_params), hessian(net, w, X, T, alpha, method=method)) <= 1e-10


def test_hessian_operator_solves_with_conjugate_gradients():
    # The outer-product Hessian plus a prior is positive definite: CG on the operator solves H x = b.
    net, w, X, T = make_problem("bernoulli", "tanh", hidden=(4,), n=12)
    op = hessian_operator(net, w, X, T, 0.5, kind="outer")
    b = np.random.default_rng(8).normal(size=net.n_params)
    x, info = cg(op, b, rtol=1e-12, atol=0.0, maxiter=10 * net.n_params)
    assert info == 0
    assert relative_error(hessian(net, w, X, T, 0.5, method="outer") @ x, b) <= 1e-9


def test_hessian_operator_copies_w():
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(3,), n=6)
    v = np.ones(net.n_params)
    op = hessian_operator(net, w, X, T, 0.1, 1.0)
    before = op @ v
    w += 1.0
    assert np.array_equal(op @ v, before)


@settings(max_examples=20, deadline=None)
@given(depth=st.integers(0, 2), width=st.integers(1, 4), n_inputs=st.integers(1, 3), n=st.integers(1, 6),
       k=st.integers(1, 3), likelihood=st.sampled_from(LIKELIHOOD_NAMES),
       activation=st.sampled_from(ACTIVATION_NAMES), seed=st.integers(0, 2**16))
def test_products_match_dense_hessians_for_random_shapes(depth, width, n_inputs, n, k, likelihood, activation,
                                                         seed):
    net, w, X, T = make_problem(likelihood, activation, hidden=(width,) * depth, n_inputs=n_inputs, n=n, seed=seed)
    beta = 1.3 if likelihood == "gaussian" else None
    V = np.random.default_rng(seed).normal(size=(net.n_params, k))
    for kind in KINDS:
        H = hessian(net, w, X, T, 0.7, beta, method=kind)
        HV = hvp(net, w, X, T, V, 0.7, beta, kind=kind, chunk_size=2)
        assert HV.shape == (net.n_params, k)
        assert relative_error(HV, H @ V) <= 1e-10


@pytest.mark.parametrize("v, expected", [
    (np.ones(5), r"v must have shape \(26,\) or \(26, k\)"),
    (np.ones((26, 0)), r"v must have shape"),
    (np.ones((26, 2, 1)), r"v must have shape"),
    (np.full(26, np.nan), "v must be finite"),
    (np.where(np.arange(26) == 4, np.inf, 1.0), "v must be finite"),
    ("abc", "v must be an array of numbers"),
    (np.full(26, 1.0 + 2.0j), "v must be real"),
])
def test_bad_v_raises(v, expected):
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(4,), n=5)
    assert net.n_params == 26
    with pytest.raises(ValueError, match=expected):
        hvp(net, w, X, T, v, 0.1, 1.0)


def test_unknown_kind_raises():
    net, w, X, T = make_problem("bernoulli", "tanh", hidden=(3,), n=5)
    message = "kind must be one of 'exact', 'outer'; got 'x'"
    with pytest.raises(ValueError, match=message):
        hvp(net, w, X, T, np.ones(net.n_params), 0.1, kind="x")
    with pytest.raises(ValueError, match=message):
        hessian_operator(net, w, X, T, 0.1, kind="x")


def test_operator_validates_at_construction():
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(3,), n=5)
    with pytest.raises(ValueError, match="alpha"):
        hessian_operator(net, w, X, T, -1.0, 1.0)
    with pytest.raises(ValueError, match="beta"):
        hessian_operator(net, w, X, T, 0.1, None)
    with pytest.raises(ValueError, match="chunk_size"):
        hessian_operator(net, w, X, T, 0.1, 1.0, chunk_size=0)
    with pytest.raises(ValueError, match="chunk_size"):
        hvp(net, w, X, T, np.ones(net.n_params), 0.1, 1.0, chunk_size=2.5)
