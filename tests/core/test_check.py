import numpy as np
import pytest

import laplacenet as ln
from laplacenet.check import check_gradient, numerical_hessian, relative_error

from tests.problems import make_problem


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli", "categorical"])
def test_both_finite_difference_hessians_agree(likelihood):
    net, w, X, T = make_problem(likelihood, hidden=(3,), n=9)
    H_grad = numerical_hessian(net, w, X, T, 0.5, 2.0, method="gradient")
    H_err = numerical_hessian(net, w, X, T, 0.5, 2.0, method="error")
    np.testing.assert_array_equal(H_grad, H_grad.T)
    assert relative_error(H_err, H_grad) < 1e-6


def test_finite_difference_hessian_of_a_quadratic_is_exact():
    # no hidden layer, Gaussian: E is quadratic, H = beta [x 1]^T [x 1] + alpha I exactly
    net = ln.MLP([2, 1])
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(10, 2)), rng.normal(size=(10, 1))
    Phi = np.hstack([X, np.ones((10, 1))])
    expected = 3.0 * Phi.T @ Phi + 0.25 * np.eye(3)
    assert relative_error(numerical_hessian(net, net.init(0), X, T, 0.25, 3.0), expected) < 1e-9


def test_check_gradient_full_and_directional():
    net, w, X, T = make_problem("categorical", hidden=(4, 4))
    assert check_gradient(net, w, X, T, 0.1) < 1e-7
    assert check_gradient(net, w, X, T, 0.1, n_directions=5) < 1e-7


def test_check_gradient_catches_a_wrong_gradient(monkeypatch):
    net, w, X, T = make_problem("gaussian")
    real = ln.core.objective.gradient
    monkeypatch.setattr(ln.core.objective, "gradient", lambda *a, **k: real(*a, **k) * 1.001)
    assert check_gradient(net, w, X, T, 0.1, 1.0) > 1e-4


def test_unknown_fd_method():
    net, w, X, T = make_problem("gaussian")
    with pytest.raises(ValueError, match="method must be one of 'gradient', 'error'"):
        numerical_hessian(net, w, X, T, 0.1, 1.0, method="forward")


@pytest.mark.parametrize("method", ["exact", "outer", "diag", "fd"])
def test_hessian_checks_fd_method_whatever_the_method(method):
    net, w, X, T = make_problem("gaussian")
    with pytest.raises(ValueError, match="fd_method must be one of 'gradient', 'error'.*got 'nonsense'"):
        ln.hessian(net, w, X, T, 0.1, 1.0, method=method, fd_method="nonsense")


@pytest.mark.parametrize("a, b", [(np.ones((3, 3)), np.ones(3)), ([[1.0], [2.0]], [1.0, 2.0]),
                                  (np.ones(3), np.ones((1, 3)))])
def test_relative_error_refuses_arrays_of_different_shapes(a, b):
    with pytest.raises(ValueError, match=r"a and b must have the same shape; got \(\d"):
        relative_error(a, b)


def test_relative_error_against_a_zero_reference():
    assert relative_error(np.ones(3), np.zeros(3)) == np.inf
    assert relative_error([0.0, -1e-300], np.zeros(2)) == np.inf
    assert relative_error(np.zeros((2, 2)), np.zeros((2, 2))) == 0.0
    assert relative_error([1.0, 2.0], [1.0, 2.5]) == 0.2  # a nonzero reference as before
