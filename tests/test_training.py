import warnings

import numpy as np
import pytest

import laplacenet as ln


def _sinusoid(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 1))
    return x, np.sin(2 * np.pi * x) + 0.1 * rng.normal(size=(n, 1))


def test_training_reaches_a_stationary_point_regression():
    X, T = _sinusoid()
    net = ln.MLP([1, 5, 1])
    w, report = ln.train(net, X, T, alpha=0.01, beta=100.0, seed=0)
    assert report.converged
    assert np.linalg.norm(ln.gradient(net, w, X, T, 0.01, 100.0)) < 1e-6
    assert report.grad_norm < 1e-6 and report.error == pytest.approx(ln.error(net, w, X, T, 0.01, 100.0))
    assert report.error < ln.error(net, net.init(0), X, T, 0.01, 100.0)


@pytest.mark.parametrize("likelihood", ["bernoulli", "categorical"])
def test_training_reaches_a_stationary_point_classification(likelihood):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    T = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int)
    if likelihood == "categorical":
        T = T + (X[:, 0] > 1)
    net = ln.MLP([2, 4, 1 if likelihood == "bernoulli" else 3], likelihood=likelihood)
    w, report = ln.train(net, X, T, alpha=0.1, seed=1)
    assert report.converged
    assert np.linalg.norm(ln.gradient(net, w, X, T, 0.1)) < 1e-6


def test_restarts_keep_the_lowest_error_and_report_all():
    X, T = _sinusoid()
    net = ln.MLP([1, 3, 1])
    w, report = ln.train(net, X, T, 0.01, 100.0, restarts=3, seed=5)
    assert len(report.restart_errors) == 3
    assert report.error == min(report.restart_errors) == report.restart_errors[report.best_restart]


def test_warm_start_from_w0():
    X, T = _sinusoid()
    net = ln.MLP([1, 3, 1])
    w, _ = ln.train(net, X, T, 0.01, 100.0, seed=0)
    w2, report = ln.train(net, X, T, 0.01, 100.0, w0=w)
    assert report.n_iter <= 2
    np.testing.assert_allclose(w2, w, atol=1e-6)


def test_non_convergence_is_reported_not_silent():
    X, T = _sinusoid()
    net = ln.MLP([1, 5, 1])
    with pytest.warns(ln.ConvergenceWarning, match=r"gradient norm .* after 1 iterations"):
        w, report = ln.train(net, X, T, 0.01, 100.0, maxiter=1, seed=0)
    assert not report.converged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ln.train(net, X, T, 0.01, 100.0, maxiter=1, seed=0, warn=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "Nelder-Mead"}, "method must be one of 'L-BFGS-B'"), ({"restarts": 0}, "restarts"),
    ({"gtol": -1.0}, "gtol"), ({"w0": np.zeros(3)}, "w0 must be a vector of length 16"),
])
def test_bad_training_arguments(kwargs, match):
    X, T = _sinusoid()
    with pytest.raises(ValueError, match=match):
        ln.train(ln.MLP([1, 5, 1]), X, T, 0.01, 100.0, **kwargs)
