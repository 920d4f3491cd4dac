"""The incremental inverse (PRML 5.86-5.89, C.7) against direct inverses and log-determinants."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from laplacenet.check import relative_error
from laplacenet.core.routes import hessian, inverse_outer_hessian
from laplacenet.core.curvature.jacobian import scaled_jacobians
from laplacenet.core.curvature.woodbury import IncrementalInverse

from tests.problems import make_problem

BETA = 1.7

CASES = [  # (likelihood, hidden, outputs)
    ("gaussian", (5,), 1),
    ("gaussian", (4, 3), 2),
    ("bernoulli", (5,), 1),
    ("bernoulli", (4, 3), 1),
    ("categorical", (5,), 3),
    ("categorical", (4, 3), 3),
    ("categorical", (5,), 2),  # one row per pattern (Lambda_n has rank K - 1): the rank-one path
]


def outer_plus_prior(net, w, X, T, alpha):
    return hessian(net, w, X, T, alpha, BETA, method="outer")


def log_det(A):
    sign, value = np.linalg.slogdet(A)
    assert sign == 1.0
    return value


def rows_of(net, w, X):
    """The rows S_n J_n of every pattern, (N R, W)."""
    return scaled_jacobians(net, net.unpack(w), X, BETA).reshape(-1, net.n_params)


def random_spd(rng, W, cond=1e3):
    Q, _ = np.linalg.qr(rng.standard_normal((W, W)))
    return (Q * np.geomspace(1.0, cond, W)) @ Q.T


# --- the outer-product inverse --------------------------------------------------------------------------

@pytest.mark.parametrize("block_size", [1, 7, 64])
@pytest.mark.parametrize("likelihood, hidden, outputs", CASES)
def test_inverse_outer_hessian_equals_direct_inverse(likelihood, hidden, outputs, block_size):
    net, w, X, T = make_problem(likelihood, "tanh", hidden=hidden, n_outputs=outputs, n=80, seed=len(hidden))
    alpha = 0.05
    A = outer_plus_prior(net, w, X, T, alpha)
    state = inverse_outer_hessian(net, w, X, T, alpha, BETA, block_size=block_size, chunk_size=13,
                                  return_state=True)
    assert np.linalg.cond(A) > 100  # a test the rounding could fail
    assert relative_error(state.inverse, np.linalg.inv(A)) <= 1e-9
    assert abs(state.log_det - log_det(A)) <= 1e-10 * abs(log_det(A))
    rows_per_pattern = outputs - 1 if likelihood == "categorical" else outputs  # Lambda_n has rank K - 1
    assert state.n_updates == X.shape[0] * rows_per_pattern


@pytest.mark.parametrize("block_size", [1, 7, 64])
def test_grouped_alpha(block_size):
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(4, 3), n_outputs=2, n=60, seed=3)
    alpha = np.array([0.02, 0.5, 0.1, 3.0, 0.07, 1.0])
    A = outer_plus_prior(net, w, X, T, alpha)
    P = inverse_outer_hessian(net, w, X, T, alpha, BETA, block_size=block_size)
    assert relative_error(P, np.linalg.inv(A)) <= 1e-9


def test_matrix_does_not_depend_on_chunking():
    net, w, X, T = make_problem("categorical", "tanh", hidden=(5,), n=50, seed=4)
    P = inverse_outer_hessian(net, w, X, T, 0.1, block_size=4)
    for chunk_size in (1, 3, 50):
        assert relative_error(inverse_outer_hessian(net, w, X, T, 0.1, block_size=4, chunk_size=chunk_size),
                              P) <= 1e-12


def test_dask_data_are_folded_in_chunk_by_chunk():
    import dask.array as da
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(4,), n_outputs=2, n=40, seed=12)
    P = inverse_outer_hessian(net, w, da.from_array(X, chunks=15), da.from_array(T, chunks=15), 0.1, BETA,
                              block_size=4, chunk_size=6)
    assert relative_error(P, inverse_outer_hessian(net, w, X, T, 0.1, BETA)) <= 1e-12


def test_update_with_new_data_equals_recomputing_on_all_data():
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(5,), n_outputs=2, n=90, seed=5)
    old, new = slice(0, 60), slice(60, 90)
    state = inverse_outer_hessian(net, w, X[old], T[old], 0.05, BETA, return_state=True)
    state.update(rows_of(net, w, X[new])[:25]).update(rows_of(net, w, X[new])[25:])
    A = outer_plus_prior(net, w, X, T, 0.05)
    scratch = inverse_outer_hessian(net, w, X, T, 0.05, BETA, block_size=8)
    assert relative_error(state.inverse, scratch) <= 1e-9
    assert relative_error(state.inverse, np.linalg.inv(A)) <= 1e-9
    assert abs(state.log_det - log_det(A)) <= 1e-10 * abs(log_det(A))
    assert state.n_updates == 90 * 2


# --- IncrementalInverse on plain matrices --------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(W=st.integers(1, 12), k=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_update_equals_direct_inverse(W, k, seed):
    rng = np.random.default_rng(seed)
    A = random_spd(rng, W, cond=1e2)
    B = rng.standard_normal((k, W))
    state = IncrementalInverse.from_matrix(A).update(B)
    assert relative_error(state.inverse, np.linalg.inv(A + B.T @ B)) <= 1e-10
    assert abs(state.log_det - log_det(A + B.T @ B)) <= 1e-10 * max(1.0, abs(log_det(A + B.T @ B)))


def test_one_row_as_vector_is_rank_one_update():
    rng = np.random.default_rng(6)
    A, b = random_spd(rng, 9), rng.standard_normal(9)
    one = IncrementalInverse.from_matrix(A).update(b)
    assert relative_error(one.inverse, np.linalg.inv(A + np.outer(b, b))) <= 1e-10
    assert one.n_updates == 1


def test_rows_one_at_a_time_equal_one_block():
    rng = np.random.default_rng(7)
    A, B = random_spd(rng, 15), rng.standard_normal((6, 15))
    by_row = IncrementalInverse.from_matrix(A)
    for b in B:
        by_row.update(b)
    block = IncrementalInverse.from_matrix(A).update(B)
    assert relative_error(by_row.inverse, block.inverse) <= 1e-12
    assert abs(by_row.log_det - block.log_det) <= 1e-12 * abs(block.log_det)


def test_stored_inverse_is_exactly_symmetric_after_many_updates():
    rng = np.random.default_rng(8)
    W = 30
    state = IncrementalInverse.from_prior(rng.uniform(0.1, 2.0, W), W)
    for _ in range(300):
        state.update(rng.standard_normal(W))
    for k in (2, 5, 17, 40):
        state.update(rng.standard_normal((k, W)))
        assert np.array_equal(state.inverse, state.inverse.T)
    state.downdate(rng.standard_normal((3, W)) * 1e-3)
    assert np.array_equal(state.inverse, state.inverse.T)
    net, w, X, T = make_problem("categorical", "tanh", hidden=(4, 3), n=40, seed=8)
    P = inverse_outer_hessian(net, w, X, T, 0.1, block_size=3)
    assert np.array_equal(P, P.T)


def test_inverse_is_read_only_and_a_fresh_array_after_update():
    state = IncrementalInverse.from_prior(2.0, 4)
    before = state.inverse
    with pytest.raises(ValueError):
        before[0, 0] = 1.0
    state.update(np.ones(4))
    assert np.array_equal(before, np.eye(4) / 2.0)
    assert not np.array_equal(state.inverse, before)


@pytest.mark.parametrize("k", [1, 4])
def test_downdate_inverts_update(k):
    rng = np.random.default_rng(9 + k)
    A, B = random_spd(rng, 20, cond=1e3), rng.standard_normal((k, 20))
    start = IncrementalInverse.from_matrix(A)
    state = start.copy().update(B).downdate(B)
    assert relative_error(state.inverse, start.inverse) <= 1e-9
    assert abs(state.log_det - start.log_det) <= 1e-10 * abs(start.log_det)
    assert (state.n_updates, state.n_downdates) == (k, k)
    assert start.n_updates == 0  # copy() is independent


def test_downdate_equals_direct_inverse_of_removed_data():
    net, w, X, T = make_problem("bernoulli", "tanh", hidden=(5,), n=70, seed=10)
    state = inverse_outer_hessian(net, w, X, T, 0.1, return_state=True, block_size=16)
    state.downdate(rows_of(net, w, X[50:]))
    A = outer_plus_prior(net, w, X[:50], T[:50], 0.1)
    assert relative_error(state.inverse, np.linalg.inv(A)) <= 1e-9
    assert abs(state.log_det - log_det(A)) <= 1e-10 * abs(log_det(A))


@pytest.mark.parametrize("B", [np.array([1.0, 0.0, 0.0]), np.array([[2.0, 0.0, 0.0], [0.0, 0.1, 0.0]])])
def test_downdate_that_breaks_positive_definiteness_raises_and_keeps_state(B):
    state = IncrementalInverse.from_prior(1.0, 3)
    with pytest.raises(ValueError, match="positive definite"):
        state.downdate(B)
    assert np.array_equal(state.inverse, np.eye(3)) and state.log_det == 0.0 and state.n_downdates == 0


# --- constructors ---------------------------------------------------------------------------------------

def test_constructors_agree():
    rng = np.random.default_rng(11)
    A = random_spd(rng, 12, cond=1e4)
    from_matrix = IncrementalInverse.from_matrix(A)
    assert relative_error(from_matrix.inverse, np.linalg.inv(A)) <= 1e-10
    assert abs(from_matrix.log_det - log_det(A)) <= 1e-12 * abs(log_det(A))
    given_inverse = IncrementalInverse(np.linalg.inv(A))
    assert abs(given_inverse.log_det - log_det(A)) <= 1e-10 * abs(log_det(A))
    assert IncrementalInverse(np.linalg.inv(A), log_det=1.25).log_det == 1.25
    alpha = rng.uniform(0.1, 3.0, 12)
    prior = IncrementalInverse.from_prior(alpha, 12)
    assert np.array_equal(prior.inverse, np.diag(1.0 / alpha))
    assert abs(prior.log_det - np.sum(np.log(alpha))) <= 1e-14 * abs(np.sum(np.log(alpha)))
    assert prior.n_params == 12 and prior.n_updates == 0


# --- bad inputs -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.0, -1.0, [0.1, 0.1, 0.0, 0.1], np.nan])
def test_alpha_must_be_positive(alpha):
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(3,), n=10)
    with pytest.raises(ValueError, match="alpha"):
        inverse_outer_hessian(net, w, X, T, alpha, BETA)


@pytest.mark.parametrize("alpha", [0.0, -2.0, np.inf, [1.0, 2.0], "a"])
def test_from_prior_rejects_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        IncrementalInverse.from_prior(alpha, 3)


@pytest.mark.parametrize("n_params", [0, 2.5, True])
def test_from_prior_rejects_bad_n_params(n_params):
    with pytest.raises(ValueError, match="n_params"):
        IncrementalInverse.from_prior(1.0, n_params)


@pytest.mark.parametrize("B", [np.ones(4), np.ones((2, 4)), np.ones((2, 3, 5)), [[np.nan] * 5], "x"])
def test_rows_of_wrong_shape_or_not_finite_are_rejected(B):
    state = IncrementalInverse.from_prior(1.0, 5)
    for change in (state.update, state.downdate):
        with pytest.raises(ValueError, match="B"):
            change(B)


@pytest.mark.parametrize("name, value", [("block_size", 0), ("block_size", 1.5), ("chunk_size", 0)])
def test_block_and_chunk_sizes_must_be_positive_integers(name, value):
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(3,), n=10)
    with pytest.raises(ValueError, match=name):
        inverse_outer_hessian(net, w, X, T, 1.0, BETA, **{name: value})


def test_matrix_budget_is_checked():
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(3,), n=10)
    with pytest.raises(ValueError, match="budget"):
        inverse_outer_hessian(net, w, X, T, 1.0, BETA, max_bytes=8 * net.n_params ** 2 - 1)


@pytest.mark.parametrize("matrix, message", [
    (np.array([[1.0, 0.5], [0.0, 1.0]]), "symmetric"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
    (np.ones((2, 3)), "square"),
    (np.array([[1.0, np.inf], [np.inf, 1.0]]), "finite"),
])
def test_matrix_constructors_validate(matrix, message):
    with pytest.raises(ValueError, match=f"inverse must .*{message}"):
        IncrementalInverse(matrix)
    with pytest.raises(ValueError, match=f"A must .*{message}"):
        IncrementalInverse.from_matrix(matrix)


@pytest.mark.parametrize("value", [np.nan, "x", True])
def test_log_det_must_be_a_finite_number(value):
    with pytest.raises(ValueError, match="log_det"):
        IncrementalInverse(np.eye(2), log_det=value)


def test_from_cholesky_and_the_products_of_the_stored_triangle_match_direct_inverses():
    rng = np.random.default_rng(3)
    G = rng.normal(size=(40, 30))
    A = G.T @ G + 0.5 * np.eye(30)
    L = np.linalg.cholesky(A)
    state = IncrementalInverse.from_cholesky(L)
    inverse = np.linalg.inv(A)
    assert relative_error(state.inverse, inverse) < 1e-12
    assert state.log_det == pytest.approx(log_det(A), rel=1e-13)
    B = rng.normal(size=(30, 4))
    assert relative_error(state.inverse_times(B), inverse @ B) < 1e-12
    assert relative_error(state.inverse_times(B[:, 0]), inverse @ B[:, 0]) < 1e-12
    assert relative_error(state.inverse_diagonal(), np.diag(inverse)) < 1e-12
    with pytest.raises(ValueError, match=r"B must have shape \(30,\) or \(30, m\)"):
        state.inverse_times(B.T)
