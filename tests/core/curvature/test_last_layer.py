"""Last-layer Laplace: the posterior over the output layer alone, every other weight fixed at w_MAP."""
import tracemalloc

import numpy as np
import pytest
from scipy.linalg import solve_triangular

import laplacenet as ln
from laplacenet.check import relative_error
from laplacenet.core.curvature.backprop import forward_pass
from laplacenet.core.routes import hessian as full_hessian
from laplacenet.core.curvature.jacobian import output_jacobians
from laplacenet.bayes.evidence import log_evidence, reestimate
from laplacenet.bayes.hyper import fit_evidence
from laplacenet.bayes.laplace import laplace
from laplacenet.core.priors import alpha_per_param

from tests.problems import make_problem

CASES = [("gaussian", (4,)), ("bernoulli", (3, 2)), ("categorical", (4,)), ("categorical", ())]


def _last(net):
    ws, bs = net.layer_slices[-1]
    return slice(ws.start, bs.stop)


@pytest.mark.parametrize("likelihood, hidden", CASES)
def test_precision_is_the_output_block_of_both_hessians(likelihood, hidden):
    # a_L is linear in (W_L, b_L): the exact Hessian's output block has no second-derivative term.
    net, w, X, T = make_problem(likelihood, hidden=hidden, seed=1)
    alpha = np.linspace(0.4, 1.4, net.n_groups)
    sl = _last(net)
    for hessian in ("exact", "outer"):
        post = laplace(net, w, X, T, alpha, 2.0, hessian=hessian, subset="last_layer", jitter=0.25)
        H = full_hessian(net, w, X, T, alpha, 2.0, method=hessian)[sl, sl] + 0.25 * np.eye(sl.stop - sl.start)
        assert post.subset == "last_layer" and post.subset_slice == sl
        assert relative_error(post.precision, H) <= 1e-12
        assert post.log_det == pytest.approx(np.linalg.slogdet(H)[1], rel=1e-12)


@pytest.mark.parametrize("alpha", [0.7, np.array([0.3, 1.1, 0.6, 2.0])])
@pytest.mark.parametrize("likelihood", ["gaussian", "categorical"])
def test_log_evidence_is_the_dense_last_layer_formula(likelihood, alpha):
    net, w, X, T = make_problem(likelihood, hidden=(4,), seed=2)
    beta = 3.0
    sl = _last(net)
    a = alpha_per_param(net, alpha)[sl]
    A = full_hessian(net, w, X, T, 0.0, beta, method="outer")[sl, sl] + np.diag(a)
    log_likelihood = -ln.error(net, w, X, T, 0.0, beta)
    if likelihood == "gaussian":  # the full Gaussian log-likelihood, with its normalisation
        log_likelihood += 0.5 * X.shape[0] * 2 * (np.log(beta) - np.log(2 * np.pi))
    expected = (log_likelihood - 0.5 * np.sum(a * w[sl] ** 2) + 0.5 * np.sum(np.log(a))
                - 0.5 * np.linalg.slogdet(A)[1])
    for hessian in ("exact", "outer"):
        got = log_evidence(net, w, X, T, alpha, beta, hessian=hessian, subset="last_layer", terms=True)
        assert got.total - got.symmetry == pytest.approx(expected, rel=1e-10)  # laplace-torch's has no symmetry term


@pytest.mark.parametrize("likelihood, hidden", CASES)
def test_predictive_and_samples_use_the_output_layer_alone(likelihood, hidden):
    net, w, X, T = make_problem(likelihood, hidden=hidden, seed=3)
    post = laplace(net, w, X, T, 0.5, 2.0, hessian="outer", subset="last_layer")
    sl = _last(net)
    X_new = np.random.default_rng(1).normal(size=(7, 3))
    G = output_jacobians(net, net.unpack(w), X_new)
    cov = np.einsum("nkw,wv,njv->nkj", G[:, :, sl], np.linalg.inv(post.precision), G[:, :, sl])
    _, full = post.predict(X_new, full_cov=True, return_noise=False)
    assert relative_error(full, cov) <= 1e-10
    assert relative_error(post.activation_covariance(G), cov) <= 1e-10
    variances = post.variances()
    assert np.all(variances[:sl.start] == 0)
    assert relative_error(variances[sl], np.diag(np.linalg.inv(post.precision))) <= 1e-10
    # w = mean + L^-T z on the output layer (A = L L^T); every other weight is w_MAP exactly.
    draws = post.sample(5, seed=4)
    Z = np.random.default_rng(4).standard_normal((5, sl.stop - sl.start))
    L = np.linalg.cholesky(post.precision)
    assert np.array_equal(draws[:, :sl.start], np.tile(w[:sl.start], (5, 1)))
    assert relative_error(draws[:, sl] - w[sl], solve_triangular(L, Z.T, lower=True, trans="T").T) <= 1e-10


def test_reestimation_with_a_scalar_alpha_counts_the_output_layer():
    net, w, X, T = make_problem("gaussian", hidden=(4,), seed=5)
    alpha, beta = 0.6, 4.0
    sl = _last(net)
    H = full_hessian(net, w, X, T, 0.0, beta, method="exact")[sl, sl]
    lam = np.linalg.eigvalsh(H)
    gamma = np.sum(lam / (alpha + lam))  # PRML (5.179) over the output layer's eigenvalues
    step = reestimate(net, w, X, T, alpha, beta, hessian="exact", subset="last_layer")
    assert step.gamma == pytest.approx(gamma, rel=1e-10)
    assert step.alpha == pytest.approx(gamma / (w[sl] @ w[sl]), rel=1e-10)  # PRML (5.178)
    residual = np.sum((net.forward(w, X) - T) ** 2)
    assert step.beta == pytest.approx((X.shape[0] * 2 - gamma) / residual, rel=1e-10)  # PRML (5.180)


def test_reestimation_of_grouped_alpha_and_a_beta_per_output():
    net, w, X, T = make_problem("gaussian", hidden=(4,), seed=6)
    alpha, beta = np.array([0.3, 1.1, 0.6, 2.0]), np.array([4.0, 0.5])
    sl = _last(net)
    step = reestimate(net, w, X, T, alpha, beta, hessian="outer", subset="last_layer")
    A = full_hessian(net, w, X, T, alpha, beta, method="outer")[sl, sl]
    cov = np.linalg.inv(A)
    groups = net.group_index[sl]
    gamma_g = np.bincount(groups, minlength=4) - alpha * np.bincount(groups, weights=np.diag(cov), minlength=4)
    assert np.array_equal(step.gamma_groups[:2], [0.0, 0.0]) and np.array_equal(step.alpha[:2], alpha[:2])
    assert relative_error(step.gamma_groups[2:], gamma_g[2:]) <= 1e-10
    assert relative_error(step.alpha[2:], gamma_g[2:] / np.bincount(groups, weights=w[sl] ** 2, minlength=4)[2:]) \
        <= 1e-10
    J = output_jacobians(net, net.unpack(w), X)[:, :, sl]
    H_k = [J[:, k].T @ J[:, k] for k in range(2)]  # Hessian of 1/2 sum_n (y_nk - t_nk)^2 on the output layer
    gamma_k = np.array([b * np.sum(cov * H) for b, H in zip(beta, H_k)])
    assert relative_error(step.gamma_outputs, gamma_k) <= 1e-10
    residuals = np.sum((net.forward(w, X) - T) ** 2, axis=0)
    assert relative_error(step.beta, (X.shape[0] - gamma_k) / residuals) <= 1e-10


def test_fit_evidence_and_the_estimator_with_a_last_layer_posterior():
    rng = np.random.default_rng(7)
    X = rng.uniform(-1, 1, size=(40, 1))
    T = np.sin(3 * X) + 0.1 * rng.normal(size=X.shape)
    net = ln.MLP([1, 6, 1])
    result = fit_evidence(net, X, T, 0.1, 10.0, "outer", subset="last_layer", cycles=30, seed=0)
    assert result.converged and result.posterior.subset == "last_layer"
    assert result.log_evidence == pytest.approx(
        log_evidence(net, result.w, X, T, result.alpha, result.beta, hessian="outer", subset="last_layer",
                     symmetry=False), rel=1e-12)  # the loop's objective: no symmetry term
    model = ln.BayesianMLPRegressor(hidden=6, subset="last_layer", seed=0, cycles=30).fit(X, T[:, 0])
    assert model.posterior_.subset == "last_layer" and model.posterior_.precision.shape == (7, 7)
    assert model.converged_ and model.score(X, T[:, 0]) > 0.8


@pytest.mark.parametrize("method", ["gradient", "fixed_point"])
def test_the_loop_keeps_the_features_of_its_first_training_and_is_bayesian_linear_regression_on_them(method):
    """With a last-layer posterior the hidden layers are trained once, at the starting alpha and beta, and then
    fixed: the loop is the evidence framework of a linear model on their features (PRML 3.5). Retraining them as
    well, which the last-layer evidence gives no prior term, let alpha fall while they overfit."""
    rng = np.random.default_rng(7)
    X = rng.uniform(-1, 1, size=(40, 1))
    T = np.sin(3 * X) + 0.1 * rng.normal(size=X.shape)
    net, train_kwargs = ln.MLP([1, 6, 1]), {"gtol": 1e-10}
    result = fit_evidence(net, X, T, 0.1, 10.0, "outer", subset="last_layer", method=method, tol=1e-12,
                          cycles=200, seed=0, train_kwargs=train_kwargs)
    assert result.converged and len(result.history) > 3
    first, _ = ln.train(net, X, T, 0.1, 10.0, w0=net.init(0), **train_kwargs)
    hidden = slice(0, _last(net).start)
    assert np.array_equal(result.w[hidden], first[hidden])
    Z = forward_pass(net, net.unpack(result.w), X).z[-1]
    Phi = np.column_stack([Z, np.ones(len(X))])  # W_L then b_L, as the flat layout has them
    alpha, beta, t = result.alpha, result.beta, T[:, 0]
    A = alpha * np.eye(Phi.shape[1]) + beta * Phi.T @ Phi  # PRML (3.81)
    m = beta * np.linalg.solve(A, Phi.T @ t)  # (3.84)
    assert relative_error(result.w[_last(net)], m) <= 1e-9
    N, M = Phi.shape
    E = beta / 2 * np.sum((t - Phi @ m) ** 2) + alpha / 2 * m @ m
    ln_evidence = M / 2 * np.log(alpha) + N / 2 * np.log(beta) - E - 0.5 * np.linalg.slogdet(A)[1] \
        - N / 2 * np.log(2 * np.pi)  # (3.86)
    assert result.log_evidence == pytest.approx(ln_evidence, rel=1e-12)
    lam = np.linalg.eigvalsh(beta * Phi.T @ Phi)
    gamma = np.sum(lam / (alpha + lam))  # (3.91)
    assert result.gamma == pytest.approx(gamma, rel=1e-10)
    # at the maximum over alpha and beta: MacKay's fixed point (3.92, 3.95)
    assert alpha == pytest.approx(gamma / (m @ m), rel=1e-6)
    assert beta == pytest.approx((N - gamma) / np.sum((t - Phi @ m) ** 2), rel=1e-6)


def test_a_last_layer_classifier_keeps_its_features_too():
    net, w, X, T = make_problem("categorical", hidden=(4,), seed=3)
    result = fit_evidence(net, X, T, 0.5, None, "outer", subset="last_layer", cycles=20, seed=0)
    first, _ = ln.train(net, X, T, 0.5, w0=net.init(0))
    hidden = slice(0, _last(net).start)
    assert len(result.history) > 2 and np.array_equal(result.w[hidden], first[hidden])
    assert result.alpha != 0.5  # the output layer's alpha was re-estimated
    # the output layer is the MAP of the softmax regression on the fixed features, at the returned alpha
    g = ln.gradient(net, result.w, X, T, result.alpha)
    assert np.linalg.norm(g[_last(net)]) <= 1e-6 * np.linalg.norm(ln.gradient(net, result.w, X, T, 0.0)[_last(net)])


def test_bad_subset_options_are_named():
    net, w, X, T = make_problem("gaussian", hidden=(3,), seed=8)
    with pytest.raises(ValueError, match="subset must be None or one of 'all', 'last_layer'; got 'first'"):
        laplace(net, w, X, T, 1.0, 1.0, hessian="outer", subset="first")
    with pytest.raises(ValueError, match="subset='last_layer' needs hessian='exact' or 'outer'.*got hessian='kron'"):
        log_evidence(net, w, X, T, 1.0, 1.0, hessian="kron", subset="last_layer")
    post = laplace(net, w, X, T, 1.0, 1.0, hessian="outer", subset="last_layer")
    with pytest.raises(ValueError, match="update needs a posterior over all the weights"):
        post.update(X[:2], T[:2])
    every = laplace(net, w, X, T, 1.0, 1.0, hessian="outer", subset="all")
    assert every.subset is None and every.precision.shape == (net.n_params, net.n_params)


def test_last_layer_at_fifty_thousand_weights_never_forms_a_w_by_w_matrix():
    net = ln.MLP([100, 300, 100, 10], "tanh", "categorical")  # W = 61 410, W_L = 1 010
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(60, 100)), rng.integers(0, 10, 60)
    w = net.init(1)
    tracemalloc.start()
    post = laplace(net, w, X, T, 1.0, hessian="outer", subset="last_layer")
    evidence = log_evidence(net, w, X, T, 1.0, hessian="outer", subset="last_layer")
    _, variance = post.predict(X[:4])
    draws = post.sample(2, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 * 2**20
    assert post.precision.shape == (1010, 1010)
    assert np.isfinite(evidence) and np.all(variance > 0) and draws.shape == (2, net.n_params)
