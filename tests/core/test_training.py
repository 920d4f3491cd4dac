import warnings

import numpy as np
import pytest

import laplacenet as ln
from laplacenet.core.training import TRAIN_METHODS, auto_method

from tests.problems import make_problem

NEWTON_METHODS = ["newton", "newton-cg"]


def _sinusoid(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 1))
    return x, np.sin(2 * np.pi * x) + 0.1 * rng.normal(size=(n, 1))


def _decrement(net, w, X, T, alpha, beta):
    """sqrt(g^T A^-1 g) with A the dense Gauss-Newton matrix plus diag(alpha), by a direct solve."""
    g = ln.gradient(net, w, X, T, alpha, beta)
    A = ln.hessian(net, w, X, T, alpha, beta, method="outer")
    return float(np.sqrt(g @ np.linalg.solve(A, g)))


def test_training_reaches_a_minimum_regression():
    X, T = _sinusoid()
    net = ln.MLP([1, 5, 1])
    w, report = ln.train(net, X, T, alpha=0.01, beta=100.0, seed=0)
    assert report.converged and report.method == "newton"
    assert report.decrement <= 1e-6
    assert _decrement(net, w, X, T, 0.01, 100.0) <= 1e-6
    assert report.grad_norm == pytest.approx(np.linalg.norm(ln.gradient(net, w, X, T, 0.01, 100.0)))
    assert report.error == pytest.approx(ln.error(net, w, X, T, 0.01, 100.0))
    assert report.error < ln.error(net, net.init(0), X, T, 0.01, 100.0)
    assert np.all(np.linalg.eigvalsh(ln.hessian(net, w, X, T, 0.01, 100.0)) > 0)


@pytest.mark.parametrize("method", TRAIN_METHODS)
@pytest.mark.parametrize("likelihood", ["bernoulli", "categorical"])
def test_every_method_reaches_a_minimum_classification(likelihood, method):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    T = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int)
    if likelihood == "categorical":
        T = T + (X[:, 0] > 1)
    net = ln.MLP([2, 4, 1 if likelihood == "bernoulli" else 3], likelihood=likelihood)
    w, report = ln.train(net, X, T, alpha=0.1, seed=1, method=method)
    assert report.converged and report.decrement <= 1e-6
    assert _decrement(net, w, X, T, 0.1, None) == pytest.approx(report.decrement, rel=1e-3, abs=1e-9)


# --- the same minimum as L-BFGS-B to a tight gtol ---------------------------------------------------------------

CASES = [  # likelihood, hidden, grouped alpha, vector beta
    ("gaussian", (), False, True), ("gaussian", (4,), True, True), ("gaussian", (3, 3), False, False),
    ("bernoulli", (), True, False), ("bernoulli", (4,), False, False), ("bernoulli", (3, 2), True, False),
    ("categorical", (), False, False), ("categorical", (4,), True, False), ("categorical", (3, 3), False, False),
]


def _case(likelihood, hidden, grouped, vector_beta):
    net, w, X, T = make_problem(likelihood, hidden=hidden, n=40, seed=3)
    alpha = np.linspace(0.3, 1.2, net.n_groups) if grouped else 0.5
    beta = (np.array([2.0, 5.0]) if vector_beta else 3.0) if likelihood == "gaussian" else None
    return net, w, X, T, alpha, beta


@pytest.mark.parametrize("method", NEWTON_METHODS + ["auto"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{len(c[1])}-{'grouped' if c[2] else 'scalar'}")
def test_newton_methods_reach_the_lbfgs_minimum(case, method):
    net, w, X, T, alpha, beta = _case(*case)
    w_ref, ref = ln.train(net, X, T, alpha, beta, w0=w, method="L-BFGS-B", gtol=1e-10)
    assert ref.converged
    start = w_ref + 0.1 * np.random.default_rng(0).normal(size=w.size)  # in the same basin
    w_new, report = ln.train(net, X, T, alpha, beta, w0=start, method=method)
    assert report.converged and report.decrement <= 1e-6
    assert np.linalg.norm(w_new - w_ref) <= 1e-6 * np.linalg.norm(w_ref)
    assert report.error == pytest.approx(ref.error, rel=1e-10)


def test_quadratic_error_takes_one_or_two_newton_steps():
    # no hidden layer and a Gaussian likelihood: E is quadratic (PRML 3.12 plus the prior), the Newton step exact
    net, w, X, T, alpha, beta = _case("gaussian", (), True, True)
    for method in ("newton", "auto"):
        _, report = ln.train(net, X, T, alpha, beta, w0=w, method=method)
        assert report.converged and report.n_iter <= 2 and report.n_hessians <= 2, method
    # Newton-CG stops its conjugate gradients at a residual that shrinks with the gradient (inexact Newton)
    _, report = ln.train(net, X, T, alpha, beta, w0=w, method="newton-cg")
    assert report.converged and report.n_iter <= 8


# --- the convergence test and the counts ---------------------------------------------------------------------

@pytest.mark.parametrize("method", TRAIN_METHODS)
def test_the_decrement_is_sqrt_g_A_inverse_g_at_a_non_optimal_w(method):
    net, w, X, T, alpha, beta = _case("categorical", (4,), True, False)
    w_new, report = ln.train(net, X, T, alpha, beta, w0=w, method=method, maxiter=1, warn=False)
    expected = _decrement(net, w_new, X, T, alpha, beta)
    assert expected > 1e-3 and not report.converged
    assert report.decrement == pytest.approx(expected, rel=1e-3)


def test_lbfgs_started_symmetric_leaves_the_saddle_point_it_reaches():
    """Two identical hidden units stay identical under L-BFGS-B, which stops at the symmetric stationary point, a
    saddle; the Lanczos check after it finds the negative curvature and the fit ends at a minimum."""
    X, T = _sinusoid()
    net = ln.MLP([1, 2, 1])
    w0 = net.pack([(np.array([[1.0], [1.0]]), np.array([0.3, 0.3])), (np.array([[0.5, 0.5]]), np.array([0.0]))])
    w, report = ln.train(net, X, T, 0.01, 100.0, w0=w0, method="L-BFGS-B")
    H = ln.hessian(net, w, X, T, 0.01, 100.0, method="exact")
    assert report.converged and np.linalg.eigvalsh(H)[0] > 0.0
    (W1, _), _ = net.unpack(w)
    assert abs(W1[0, 0] - W1[1, 0]) > 0.1  # the units have split
    assert "Newton-CG polishing" in report.message


def test_the_decrement_of_a_gradient_whose_squares_underflow_is_zero_not_nan():
    """A pruned network (alpha large, weights ~1e-60) has gradients whose products underflow; the decrement's CG
    must stop there, not divide 0 by 0 (which reached the evidence loop as a NonFiniteError)."""
    from laplacenet.core._newton import Objective, diagonal_preconditioner as _diagonal_preconditioner, newton_decrement
    net, w, X, T, alpha, beta = _case("bernoulli", (4,), False, False)
    obj = Objective(net, np.asarray(X, float), np.asarray(T, float)[:, None], alpha, beta)
    g = np.full(net.n_params, 1e-170)
    value = newton_decrement(obj, 1e-60 * w, g, _diagonal_preconditioner(np.ones(net.n_params)))
    assert value == 0.0


@pytest.mark.parametrize("method, maxiter", [(m, k) for m in TRAIN_METHODS for k in (1, 3, None)])
def test_converged_exactly_when_the_test_holds(method, maxiter):
    net, w, X, T, alpha, beta = _case("bernoulli", (4,), False, False)
    _, report = ln.train(net, X, T, alpha, beta, w0=w, method=method, maxiter=maxiter, warn=False)
    assert report.converged == (report.decrement <= 1e-6)
    _, report = ln.train(net, X, T, alpha, beta, w0=w, method=method, maxiter=maxiter, gtol=1e-8, warn=False)
    assert report.converged == (report.grad_norm <= 1e-8)


def test_gtol_when_given_decides_on_the_gradient_norm():
    X, T = _sinusoid()
    net = ln.MLP([1, 5, 1])
    for gtol in (1e-4, 1e-9):
        w, report = ln.train(net, X, T, 0.01, 100.0, seed=0, gtol=gtol)
        assert report.converged and report.grad_norm <= gtol
        assert np.linalg.norm(ln.gradient(net, w, X, T, 0.01, 100.0)) <= gtol
        assert report.decrement == pytest.approx(_decrement(net, w, X, T, 0.01, 100.0), rel=1e-3, abs=1e-12)


def test_zero_alpha_falls_back_to_the_gradient_norm():
    net, w, X, T, _, beta = _case("gaussian", (), False, True)
    for method in NEWTON_METHODS:
        w_new, report = ln.train(net, X, T, 0.0, beta, w0=w, method=method)
        assert report.converged and report.grad_norm <= 1e-6 and np.isnan(report.decrement)
    w_lsq = np.linalg.lstsq(np.c_[X, np.ones(len(X))], T, rcond=None)[0]  # least squares: W = w_lsq[:-1].T
    np.testing.assert_allclose(w_new, net.pack([(w_lsq[:-1].T, w_lsq[-1])]), rtol=0, atol=1e-7)


def test_counts_of_evaluations():
    net, w, X, T, alpha, beta = _case("categorical", (4,), True, False)
    _, dense = ln.train(net, X, T, alpha, beta, w0=w, method="newton")
    assert dense.n_hessians >= 1 and dense.n_gradients >= dense.n_iter + 1 and dense.n_hvps >= 1
    assert dense.n_hessians <= dense.n_iter + 1
    _, krylov = ln.train(net, X, T, alpha, beta, w0=w, method="newton-cg")
    assert krylov.n_hessians == 0 and krylov.n_hvps >= krylov.n_iter and krylov.n_diagonals >= 1
    assert krylov.n_gradients == krylov.n_iter + 1
    _, lbfgs = ln.train(net, X, T, alpha, beta, w0=w, method="L-BFGS-B")
    assert lbfgs.n_hessians == 0 and lbfgs.n_gradients >= lbfgs.n_iter and lbfgs.n_hvps >= 1  # the decrement
    _, restarted = ln.train(net, X, T, alpha, beta, method="newton", restarts=2, seed=0)
    assert restarted.n_hessians >= 2  # summed over the restarts


def test_auto_takes_the_dense_method_for_small_networks_only():
    assert auto_method(16, 40) == "newton" and auto_method(601, 353) == "newton"
    assert auto_method(853, 142) == "L-BFGS-B" and auto_method(3760, 1437) == "L-BFGS-B"
    X, T = _sinusoid()
    _, report = ln.train(ln.MLP([1, 5, 1]), X, T, 0.01, 100.0, seed=0)
    assert report.method == "newton"


# --- restarts and warm starts ---------------------------------------------------------------------------------

def test_restarts_keep_the_lowest_error_and_report_all():
    X, T = _sinusoid()
    net = ln.MLP([1, 3, 1])
    w, report = ln.train(net, X, T, 0.01, 100.0, restarts=3, seed=5)
    assert len(report.restart_errors) == 3
    assert report.error == min(report.restart_errors) == report.restart_errors[report.best_restart]


@pytest.mark.parametrize("method", TRAIN_METHODS)
def test_warm_start_from_a_minimum_stays(method):
    X, T = _sinusoid()
    net = ln.MLP([1, 3, 1])
    w, _ = ln.train(net, X, T, 0.01, 100.0, seed=0)
    w2, report = ln.train(net, X, T, 0.01, 100.0, w0=w, method=method)
    assert report.converged and report.n_iter <= (1 if method in NEWTON_METHODS + ["auto"] else 5)
    np.testing.assert_allclose(w2, w, atol=1e-6)


@pytest.mark.parametrize("method", NEWTON_METHODS)
def test_warm_start_after_a_change_of_alpha_takes_a_few_newton_steps(method):
    net, w, X, T, alpha, beta = _case("categorical", (4,), True, False)
    w, _ = ln.train(net, X, T, alpha, beta, w0=w, method=method)
    _, report = ln.train(net, X, T, 1.2 * alpha, beta, w0=w, method=method)
    assert report.converged and report.n_iter <= 6


# --- saddle points ---------------------------------------------------------------------------------------------

def _saddle(alpha=0.01, beta=100.0):
    """A stationary point of E that is no minimum: no weight into or out of the two hidden units, the output
    bias c at its optimum beta sum(t) / (beta N + alpha). In (input weight, bias, output weight) each unit's
    Hessian block is [[alpha, 0, c_1], [0, alpha, c_2], [c_1, c_2, alpha]], (c_1, c_2) = beta sum_n (c - t_n)
    (x_n, 1), so lambda_min = alpha - |(c_1, c_2)|, twice."""
    X, T = _sinusoid()
    net = ln.MLP([1, 2, 1])
    c = beta * T.sum() / (beta * len(T) + alpha)
    w = net.pack([(np.zeros((2, 1)), np.zeros(2)), (np.zeros((1, 2)), np.array([c]))])
    coupling = beta * np.array([(c - T[:, 0]) @ X[:, 0], (c - T[:, 0]).sum()])
    return net, w, X, T, alpha, beta, alpha - np.linalg.norm(coupling)


def test_the_saddle_is_stationary_with_the_negative_curvature_of_its_closed_form():
    net, w, X, T, alpha, beta, lowest = _saddle()
    assert np.linalg.norm(ln.gradient(net, w, X, T, alpha, beta)) <= 1e-10
    assert lowest < -100
    np.testing.assert_allclose(np.linalg.eigvalsh(ln.hessian(net, w, X, T, alpha, beta))[:3],
                               [lowest, lowest, alpha], rtol=1e-10)


@pytest.mark.parametrize("gtol", [None, 1e-6])
@pytest.mark.parametrize("method", NEWTON_METHODS)
def test_newton_methods_leave_a_saddle_point_for_a_minimum(method, gtol):
    net, w, X, T, alpha, beta, _ = _saddle()
    E_saddle = ln.error(net, w, X, T, alpha, beta)
    w_new, report = ln.train(net, X, T, alpha, beta, w0=w, method=method, gtol=gtol)
    assert report.converged and report.error < 0.1 * E_saddle
    assert np.linalg.eigvalsh(ln.hessian(net, w_new, X, T, alpha, beta))[0] > 0
    if method == "newton":  # at once: its first Hessian already takes it down along the negative curvature
        _, first = ln.train(net, X, T, alpha, beta, w0=w, method=method, gtol=gtol, maxiter=2, warn=False)
        assert first.error < E_saddle - 1.0


@pytest.mark.parametrize("gtol", [None, 1e3])
@pytest.mark.parametrize("method", NEWTON_METHODS)
def test_a_saddle_point_is_never_reported_converged(method, gtol):
    # with gtol = 1e3 the gradient test holds everywhere near the saddle: only the curvature can refuse it
    net, w, X, T, alpha, beta, _ = _saddle()
    with pytest.warns(ln.ConvergenceWarning, match="the Hessian has negative curvature at the returned weights"):
        w_new, report = ln.train(net, X, T, alpha, beta, w0=w, method=method, gtol=gtol, maxiter=1)
    assert not report.converged and report.n_iter == 1 and "negative curvature" in report.message
    assert np.linalg.eigvalsh(ln.hessian(net, w_new, X, T, alpha, beta))[0] < 0


# --- reporting and arguments --------------------------------------------------------------------------------

def test_non_convergence_is_reported_not_silent():
    X, T = _sinusoid()
    net = ln.MLP([1, 5, 1])
    with pytest.warns(ln.ConvergenceWarning, match=r"decrement .* > tol 1e-06 \(gradient norm .*\) after 1 "
                                                   r"iterations of 'newton'.*Increase maxiter"):
        w, report = ln.train(net, X, T, 0.01, 100.0, maxiter=1, seed=0)
    assert not report.converged
    with pytest.warns(ln.ConvergenceWarning, match=r"gradient norm .* > gtol 1e-12 after 2 iterations"):
        ln.train(net, X, T, 0.01, 100.0, maxiter=2, seed=0, gtol=1e-12, method="newton-cg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ln.train(net, X, T, 0.01, 100.0, maxiter=1, seed=0, warn=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "Nelder-Mead"}, "method must be one of 'auto', 'newton', 'newton-cg', 'L-BFGS-B', 'BFGS', 'CG'; "
                                "got 'Nelder-Mead'"),
    ({"restarts": 0}, "restarts"), ({"gtol": -1.0}, "gtol"), ({"gtol": np.nan}, "gtol"), ({"tol": 0.0}, "tol"),
    ({"tol": "1e-6"}, "tol must be a positive number"), ({"tol": True}, "tol"), ({"maxiter": 0}, "maxiter"),
    ({"chunk_size": 0}, "chunk_size"), ({"w0": np.zeros(3)}, "w0 must be a vector of length 16"),
])
def test_bad_training_arguments(kwargs, match):
    X, T = _sinusoid()
    with pytest.raises(ValueError, match=match):
        ln.train(ln.MLP([1, 5, 1]), X, T, 0.01, 100.0, **kwargs)
