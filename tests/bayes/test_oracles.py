"""Closed-form oracles: with no hidden layer the network IS Bayesian linear (PRML 3.5) or logistic (4.5)
regression, so the Laplace posterior, the evidence, gamma, the re-estimates and the predictive must equal the
book's formulas, computed here directly with numpy."""
import numpy as np
import pytest
from scipy.special import expit, log_expit

import laplacenet as ln
from laplacenet.check import relative_error
from laplacenet.bayes.evidence import log_evidence, reestimate
from laplacenet.bayes.hyper import fit_evidence
from laplacenet.bayes.laplace import laplace

RTOL = 1e-8


def _design(X):
    """Basis phi(x) = [x, 1]: the flat layout holds the weights, then the bias."""
    return np.hstack([X, np.ones((X.shape[0], 1))])


def _regression_data(N=30, D=2, K=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    W_true = rng.normal(size=(D + 1, K))
    return X, _design(X) @ W_true + 0.3 * rng.normal(size=(N, K))


def _blr(Phi, t, alpha, beta):
    """PRML (3.53), (3.54) with S_N^-1 = A = alpha I + beta Phi^T Phi; m_N solved directly."""
    A = alpha * np.eye(Phi.shape[1]) + beta * Phi.T @ Phi
    return A, beta * np.linalg.solve(A, Phi.T @ t)


def _blr_log_evidence(Phi, t, alpha, beta):
    """PRML (3.86) with E(m_N) of (3.82)."""
    N, M = Phi.shape
    A, m = _blr(Phi, t, alpha, beta)
    E = beta / 2 * np.sum((t - Phi @ m) ** 2) + alpha / 2 * m @ m
    return M / 2 * np.log(alpha) + N / 2 * np.log(beta) - E - 0.5 * np.linalg.slogdet(A)[1] \
        - N / 2 * np.log(2 * np.pi)


def _blr_reestimate(Phi, t, alpha, beta):
    """gamma (3.91), alpha (3.92) and beta (3.95) at m_N."""
    N = Phi.shape[0]
    A, m = _blr(Phi, t, alpha, beta)
    lam = np.linalg.eigvalsh(beta * Phi.T @ Phi)
    gamma = np.sum(lam / (alpha + lam))
    return gamma / (m @ m), (N - gamma) / np.sum((t - Phi @ m) ** 2), gamma


ALPHA, BETA = 0.7, 9.0


@pytest.mark.parametrize("hessian", ["exact", "outer"])
def test_linear_regression_posterior_and_evidence(hessian):
    X, T = _regression_data()
    Phi, t = _design(X), T[:, 0]
    A, m = _blr(Phi, t, ALPHA, BETA)
    net = ln.MLP([2, 1])
    post = laplace(net, m, X, T, ALPHA, BETA, hessian=hessian)
    assert relative_error(post.precision, A) <= RTOL
    assert relative_error(post.covariance(), np.linalg.inv(A)) <= RTOL
    assert post.log_det == pytest.approx(np.linalg.slogdet(A)[1], rel=RTOL)
    assert log_evidence(net, m, X, T, ALPHA, BETA, hessian=hessian) == \
        pytest.approx(_blr_log_evidence(Phi, t, ALPHA, BETA), rel=RTOL)


@pytest.mark.parametrize("hessian", ["exact", "outer"])
def test_linear_regression_reestimation(hessian):
    X, T = _regression_data()
    Phi, t = _design(X), T[:, 0]
    _, m = _blr(Phi, t, ALPHA, BETA)
    alpha, beta, gamma = _blr_reestimate(Phi, t, ALPHA, BETA)
    step = reestimate(ln.MLP([2, 1]), m, X, T, ALPHA, BETA, hessian=hessian)
    assert step.gamma == pytest.approx(gamma, rel=RTOL)
    assert step.alpha == pytest.approx(alpha, rel=RTOL)
    assert step.beta == pytest.approx(beta, rel=RTOL)
    assert step.gamma_groups is None and step.gamma_outputs is None


def test_linear_regression_predictive_variance():
    X, T = _regression_data()
    Phi, t = _design(X), T[:, 0]
    A, m = _blr(Phi, t, ALPHA, BETA)
    X_new = np.random.default_rng(5).normal(scale=3.0, size=(11, 2))
    Phi_new = _design(X_new)
    function_var = np.einsum("nw,nw->n", Phi_new, np.linalg.solve(A, Phi_new.T).T)
    post = laplace(ln.MLP([2, 1]), m, X, T, ALPHA, BETA, hessian="outer", chunk_size=4)
    mean, var = post.predict(X_new)
    assert mean.shape == var.shape == (11, 1)
    assert relative_error(mean[:, 0], Phi_new @ m) <= RTOL  # PRML (3.58)
    assert relative_error(var[:, 0], 1 / BETA + function_var) <= RTOL  # PRML (3.59)
    _, f_var = post.predict(X_new, return_noise=False, full_cov=True)
    assert f_var.shape == (11, 1, 1) and relative_error(f_var[:, 0, 0], function_var) <= RTOL


def test_linear_regression_grouped_alpha():
    X, T = _regression_data(D=3)
    Phi, t = _design(X), T[:, 0]
    alpha = np.array([0.3, 2.5])  # the three weights, then the bias
    alpha_diag = np.array([0.3, 0.3, 0.3, 2.5])
    A = np.diag(alpha_diag) + BETA * Phi.T @ Phi
    m = BETA * np.linalg.solve(A, Phi.T @ t)
    E = BETA / 2 * np.sum((t - Phi @ m) ** 2) + 0.5 * np.sum(alpha_diag * m * m)
    evidence = 0.5 * np.sum(np.log(alpha_diag)) + 30 / 2 * np.log(BETA) - E - 0.5 * np.linalg.slogdet(A)[1] \
        - 30 / 2 * np.log(2 * np.pi)
    net = ln.MLP([3, 1])
    assert log_evidence(net, m, X, T, alpha, BETA, hessian="exact") == pytest.approx(evidence, rel=RTOL)
    step = reestimate(net, m, X, T, alpha, BETA, hessian="exact")
    variances = np.diag(np.linalg.inv(A))
    gamma_g = np.array([3 - 0.3 * variances[:3].sum(), 1 - 2.5 * variances[3]])
    assert relative_error(step.gamma_groups, gamma_g) <= RTOL
    assert relative_error(step.alpha, gamma_g / np.array([m[:3] @ m[:3], m[3] ** 2])) <= RTOL
    assert step.beta == pytest.approx((30 - gamma_g.sum()) / np.sum((t - Phi @ m) ** 2), rel=RTOL)


def test_linear_regression_vector_beta_factorises_over_outputs():
    """Two outputs with their own beta_k and a shared alpha are two independent Bayesian linear regressions."""
    X, T = _regression_data(K=2, seed=3)
    Phi = _design(X)
    beta = np.array([4.0, 25.0])
    net = ln.MLP([2, 2])
    ms = [_blr(Phi, T[:, k], ALPHA, beta[k])[1] for k in range(2)]
    # Flat layout: W_1 (2, 2) row by row, then b_1: output k owns W_1[k, :] and b_1[k].
    w = np.concatenate([ms[0][:2], ms[1][:2], [ms[0][2], ms[1][2]]])
    expected = sum(_blr_log_evidence(Phi, T[:, k], ALPHA, beta[k]) for k in range(2))
    assert log_evidence(net, w, X, T, ALPHA, beta, hessian="exact") == pytest.approx(expected, rel=RTOL)
    step = reestimate(net, w, X, T, ALPHA, beta, hessian="exact")
    per_output = [_blr_reestimate(Phi, T[:, k], ALPHA, beta[k]) for k in range(2)]
    assert relative_error(step.gamma_outputs, [r[2] for r in per_output]) <= RTOL
    assert relative_error(step.beta, [r[1] for r in per_output]) <= RTOL
    assert step.gamma == pytest.approx(sum(r[2] for r in per_output), rel=RTOL)
    assert step.alpha == pytest.approx(step.gamma / (w @ w), rel=RTOL)


@pytest.mark.parametrize("method", ["gradient", "fixed_point", "online"])
def test_fit_evidence_reaches_the_fixed_point_of_3_92_and_3_95(method):
    X, T = _regression_data(N=40, seed=7)
    Phi, t = _design(X), T[:, 0]
    alpha, beta = 1.0, 1.0
    for _ in range(500):
        new_alpha, new_beta, _ = _blr_reestimate(Phi, t, alpha, beta)
        done = abs(new_alpha / alpha - 1) < 1e-14 and abs(new_beta / beta - 1) < 1e-14
        alpha, beta = new_alpha, new_beta
        if done:
            break
    assert done
    result = fit_evidence(ln.MLP([2, 1]), X, T, 1.0, 1.0, hessian="exact", cycles=100, tol=1e-11,
                          train_kwargs={"gtol": 1e-10}, method=method)
    assert result.converged
    assert result.alpha == pytest.approx(alpha, rel=1e-6)
    assert result.beta == pytest.approx(beta, rel=1e-6)
    assert result.log_evidence == pytest.approx(_blr_log_evidence(Phi, t, alpha, beta), rel=1e-9)
    assert relative_error(result.w, _blr(Phi, t, alpha, beta)[1]) <= 1e-6


@pytest.mark.parametrize("method", ["gradient", "fixed_point", "online"])
def test_fit_evidence_with_grouped_alpha_reaches_the_grouped_fixed_point(method):
    """One alpha for the weights, one for the bias: gamma_g = W_g - alpha_g tr_g(S_N), alpha_g = gamma_g / ||m_g||^2
    (MacKay 1992), iterated here in closed form with (3.53), (3.54)."""
    X, T = _regression_data(N=40, seed=7)
    Phi, t = _design(X), T[:, 0]
    groups = np.array([0, 0, 1])
    alpha, beta = np.array([1.0, 1.0]), 1.0
    for _ in range(2000):
        A = np.diag(alpha[groups]) + beta * Phi.T @ Phi
        m = beta * np.linalg.solve(A, Phi.T @ t)
        S = np.linalg.inv(A)
        gamma = np.bincount(groups, 1 - alpha[groups] * np.diag(S))
        new_alpha = gamma / np.bincount(groups, m * m)
        new_beta = (len(t) - gamma.sum()) / np.sum((t - Phi @ m) ** 2)
        done = np.allclose(new_alpha, alpha, rtol=1e-14, atol=0) and abs(new_beta / beta - 1) < 1e-14
        alpha, beta = new_alpha, new_beta
        if done:
            break
    assert done
    result = fit_evidence(ln.MLP([2, 1]), X, T, np.array([1.0, 1.0]), 1.0, hessian="exact", cycles=200, tol=1e-11,
                          train_kwargs={"gtol": 1e-10}, method=method)
    assert result.converged
    assert relative_error(result.alpha, alpha) <= 1e-6
    assert result.beta == pytest.approx(beta, rel=1e-6)
    assert relative_error(result.w, m) <= 1e-6


def _logistic_problem(seed=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 2))
    T = (X @ np.array([1.5, -1.0]) + 0.3 + rng.normal(size=40) > 0).astype(float)
    net = ln.MLP([2, 1], likelihood="bernoulli")
    w, report = ln.train(net, X, T, ALPHA, gtol=1e-11)
    assert report.converged
    return net, w, X, T


@pytest.mark.parametrize("hessian", ["exact", "outer"])
def test_logistic_regression_posterior_evidence_and_moderated_output(hessian):
    net, w, X, T = _logistic_problem()
    Phi = _design(X)
    A = _logistic_precision(Phi, w, ALPHA)  # with the prior of (4.140)
    post = laplace(net, w, X, T, ALPHA, hessian=hessian)
    assert relative_error(post.precision, A) <= RTOL
    assert log_evidence(net, w, X, T, ALPHA, hessian=hessian) == pytest.approx(_logistic_evidence(Phi, T, w, ALPHA),
                                                                                rel=RTOL)
    X_new = np.random.default_rng(9).normal(scale=2.0, size=(7, 2))
    Phi_new = _design(X_new)
    s2 = np.einsum("nw,nw->n", Phi_new, np.linalg.solve(A, Phi_new.T).T)  # (4.150), (4.151)
    p = expit(Phi_new @ w / np.sqrt(1 + np.pi * s2 / 8))  # (4.153)-(4.155)
    prob, act_var = post.predict(X_new)
    assert prob.shape == act_var.shape == (7, 1)
    assert relative_error(prob[:, 0], p) <= RTOL
    assert relative_error(act_var[:, 0], s2) <= RTOL
    step = reestimate(net, w, X, T, ALPHA, hessian=hessian)
    lam = np.linalg.eigvalsh(A - ALPHA * np.eye(3))
    gamma = np.sum(lam / (ALPHA + lam))
    assert step.beta is None
    assert step.gamma == pytest.approx(gamma, rel=RTOL)
    assert step.alpha == pytest.approx(gamma / (w @ w), rel=RTOL)


@pytest.mark.parametrize("method", ["gradient", "fixed_point", "online"])
def test_every_schedule_returns_the_logistic_regression_laplace_state_at_its_alpha(method):
    """Whatever moves alpha, the state returned is w_MAP at that alpha with the closed-form precision (4.143) and
    evidence (4.137) there; the fixed point returns alpha = gamma / w^T w (5.178), and the gradient method the
    maximum of the evidence with w retrained, which (4.143 depends on w) lies elsewhere and higher."""
    _, _, X, T = _logistic_problem()
    net, Phi = ln.MLP([2, 1], likelihood="bernoulli"), _design(X)
    settings = dict(hessian="exact", cycles=100, tol=1e-10, train_kwargs={"gtol": 1e-11}, options={"patience": 100})
    fit = fit_evidence(net, X, T, 1.0, method=method, **settings)
    assert fit.converged
    w, alpha = fit.w, fit.alpha
    assert np.linalg.norm(Phi.T @ (expit(Phi @ w) - T) + alpha * w) <= 1e-9  # the mode at alpha
    assert relative_error(fit.posterior.precision, _logistic_precision(Phi, w, alpha)) <= RTOL
    assert fit.log_evidence == pytest.approx(_logistic_evidence(Phi, T, w, alpha), rel=RTOL)
    gamma = 3 - alpha * np.trace(np.linalg.inv(fit.posterior.precision))
    if method == "fixed_point":
        assert alpha == pytest.approx(gamma / (w @ w), rel=1e-6)
    if method == "gradient":
        fixed = fit_evidence(net, X, T, 1.0, method="fixed_point", **settings)
        assert fit.log_evidence > fixed.log_evidence + 0.1  # the fixed point is no maximum of the retrained ln Z
        for factor in (0.99, 1.01):  # the evidence with w retrained (closed form) is lower on either side
            w_near, _ = ln.train(net, X, T, alpha * factor, w0=w, gtol=1e-11)
            assert _logistic_evidence(Phi, T, w_near, alpha * factor) < fit.log_evidence


def _logistic_precision(Phi, w, alpha):
    y = expit(Phi @ w)
    return Phi.T @ ((y * (1 - y))[:, None] * Phi) + alpha * np.eye(Phi.shape[1])  # PRML (4.143)


def _logistic_evidence(Phi, T, w, alpha):
    """PRML (4.137) for the prior N(0, alpha^-1 I), the log-likelihood in log-sigmoids (no log of a rounded 1)."""
    a = Phi @ w
    log_like = np.sum(T * log_expit(a) + (1 - T) * log_expit(-a))
    return log_like - alpha / 2 * w @ w + Phi.shape[1] / 2 * np.log(alpha) \
        - 0.5 * np.linalg.slogdet(_logistic_precision(Phi, w, alpha))[1]


def test_softmax_regression_exact_equals_outer():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 2))
    T = rng.integers(0, 3, size=30)
    net = ln.MLP([2, 3], likelihood="categorical")
    w = rng.normal(size=net.n_params)
    exact, outer = (laplace(net, w, X, T, ALPHA, hessian=h) for h in ("exact", "outer"))
    assert relative_error(exact.precision, outer.precision) <= 1e-12
    assert log_evidence(net, w, X, T, ALPHA, hessian="exact") == \
        pytest.approx(log_evidence(net, w, X, T, ALPHA, hessian="outer"), rel=1e-12)
    X_new = rng.normal(size=(5, 2))
    for a, b in zip(exact.predict(X_new), outer.predict(X_new)):
        assert relative_error(a, b) <= 1e-12


@pytest.mark.parametrize("likelihood, n_out", [("gaussian", 2), ("bernoulli", 1), ("categorical", 3)])
def test_diag_is_the_exact_diagonal_with_no_hidden_layer(likelihood, n_out):
    """Becker-Le Cun neglects nothing with a single layer of weights: its diagonal is exact."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(25, 3))
    T = {"gaussian": rng.normal(size=(25, 2)), "bernoulli": rng.integers(0, 2, 25),
         "categorical": rng.integers(0, 3, 25)}[likelihood]
    net = ln.MLP([3, n_out], likelihood=likelihood)
    w = rng.normal(size=net.n_params)
    exact = laplace(net, w, X, T, ALPHA, BETA, hessian="exact")
    diag = laplace(net, w, X, T, ALPHA, BETA, hessian="diag")
    assert diag.precision.shape == (net.n_params,)
    assert relative_error(diag.precision, np.diag(exact.precision)) <= 1e-12


def test_diag_equals_exact_when_the_hessian_is_diagonal():
    """Balanced +-1 inputs with orthogonal columns make Phi^T Phi diagonal: every answer must coincide."""
    X = np.array([[s1, s2] for s1 in (-1.0, 1.0) for s2 in (-1.0, 1.0)] * 3)
    T = np.random.default_rng(8).normal(size=(12, 1))
    Phi = _design(X)
    assert np.count_nonzero(Phi.T @ Phi - np.diag(np.diag(Phi.T @ Phi))) == 0
    _, m = _blr(Phi, T[:, 0], ALPHA, BETA)
    net = ln.MLP([2, 1])
    exact, diag = (laplace(net, m, X, T, ALPHA, BETA, hessian=h) for h in ("exact", "diag"))
    assert relative_error(diag.covariance(), np.diag(exact.covariance())) <= 1e-12
    assert diag.log_det == pytest.approx(exact.log_det, rel=1e-12)
    assert log_evidence(net, m, X, T, ALPHA, BETA, hessian="diag") == \
        pytest.approx(_blr_log_evidence(Phi, T[:, 0], ALPHA, BETA), rel=RTOL)
    X_new = np.array([[0.3, -2.0], [4.0, 1.0]])
    for a, b in zip(exact.predict(X_new), diag.predict(X_new)):
        assert relative_error(a, b) <= 1e-12
    r_exact, r_diag = (reestimate(net, m, X, T, ALPHA, BETA, hessian=h) for h in ("exact", "diag"))
    assert (r_diag.alpha, r_diag.beta, r_diag.gamma) == pytest.approx((r_exact.alpha, r_exact.beta, r_exact.gamma),
                                                                      rel=1e-12)
