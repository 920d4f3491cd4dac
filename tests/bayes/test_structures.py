"""Every posterior structure end to end: the evidence loop, the estimators, and the diagonal posterior."""
import numpy as np
import pytest

import laplacenet as ln
from laplacenet.check import relative_error
from laplacenet.core.routes import hessian as full_hessian
from laplacenet.core.curvature.jacobian import output_jacobians
from laplacenet.bayes.evidence import log_evidence, reestimate
from laplacenet.bayes.hyper import fit_evidence
from laplacenet.bayes.laplace import laplace
from laplacenet.core.priors import alpha_per_param

STRUCTURES = {
    "diag": dict(hessian="diag"),
    "kron": dict(hessian="kron"),
    "lowrank": dict(hessian="lowrank", rank=6),
    "lowrank+diag": dict(hessian="lowrank", rank=6, lowrank_diag=True),
    "last_layer": dict(hessian="exact", subset="last_layer"),
}


def _sinusoid(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 1))
    return X, np.sin(3 * X) + 0.1 * rng.normal(size=X.shape)


@pytest.mark.parametrize("name", STRUCTURES)
def test_fit_evidence_runs_and_ends_at_its_own_fixed_point(name):
    options = STRUCTURES[name]
    X, T = _sinusoid()
    net = ln.MLP([1, 5, 1])
    result = fit_evidence(net, X, T, 0.1, 10.0, cycles=40, seed=0, **options)
    assert result.converged and len(result.history) >= 2
    assert result.posterior.hessian == options["hessian"]
    # the recorded evidence is log_evidence at the returned weights and hyperparameters, without the symmetry
    # term (the loop's objective)
    assert result.log_evidence == pytest.approx(
        log_evidence(net, result.w, X, T, result.alpha, result.beta, symmetry=False, **options), rel=1e-10)
    step = reestimate(net, result.w, X, T, result.alpha, result.beta, **options)
    assert step.gamma == pytest.approx(result.gamma, rel=1e-10)
    assert 0 < result.gamma < net.n_params and result.beta > 10.0


@pytest.mark.parametrize("name", ["kron", "lowrank"])
def test_classifier_with_each_structure(name):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, "same", "other")
    # no linear trend: from the default strong prior the evidence keeps the trivial maximum (see the docs)
    model = ln.BayesianMLPClassifier(hidden=4, alpha=0.01, seed=0, cycles=60, tol=1e-4, **STRUCTURES[name]).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    assert model.score(X, y) > 0.8 and model.posterior_.hessian == STRUCTURES[name]["hessian"]
    assert model.get_params()["subset"] == STRUCTURES[name].get("subset")


@pytest.mark.parametrize("name", STRUCTURES)
def test_regressor_with_fixed_hyperparameters_reports_gamma(name):
    X, T = _sinusoid(seed=2)
    model = ln.BayesianMLPRegressor(hidden=5, alpha=0.5, beta=20.0, reestimate=False, seed=0, standardize=False,
                                    **STRUCTURES[name]).fit(X, T[:, 0])
    post = model.posterior_
    covered = post.subset_slice
    a = alpha_per_param(model.net_, 0.5)[covered]
    assert model.gamma_ == pytest.approx(a.size - np.sum(a * post.variances()[covered]), rel=1e-12)
    assert model.log_evidence_ == pytest.approx(
        log_evidence(model.net_, model.w_, X, T, 0.5, 20.0, **STRUCTURES[name]), rel=1e-12)


def test_diagonal_posterior_end_to_end():
    X, T = _sinusoid(seed=3)
    net = ln.MLP([1, 4, 1])
    alpha, beta = np.array([0.5, 1.0, 2.0, 0.25]), 20.0
    w, _ = ln.train(net, X, T, alpha, beta, seed=0)
    post = laplace(net, w, X, T, alpha, beta, hessian="diag")
    a = full_hessian(net, w, X, T, alpha, beta, method="diag")
    assert relative_error(post.precision, a) <= 1e-12
    assert post.log_det == pytest.approx(np.sum(np.log(a)), rel=1e-12)
    assert relative_error(post.variances(), 1 / a) <= 1e-12
    X_new = np.linspace(-1, 1, 5)[:, None]
    G = output_jacobians(net, net.unpack(w), X_new)[:, 0]
    _, var = post.predict(X_new)
    assert relative_error(var[:, 0], (G ** 2) @ (1 / a) + 1 / beta) <= 1e-12  # PRML (5.173), diagonal A
    draws = post.sample(3, seed=1)
    assert relative_error(draws, w + np.random.default_rng(1).standard_normal((3, net.n_params)) / np.sqrt(a)) \
        <= 1e-12
    step = reestimate(net, w, X, T, alpha, beta, hessian="diag")
    gamma_g = net.group_sizes - alpha * np.bincount(net.group_index, weights=1 / a)
    assert relative_error(step.gamma_groups, gamma_g) <= 1e-12
    assert relative_error(step.alpha, gamma_g / np.bincount(net.group_index, weights=w * w)) <= 1e-12
    beta_k = reestimate(net, w, X, T, 0.5, np.array([beta]), hessian="diag")
    assert beta_k.beta == pytest.approx(reestimate(net, w, X, T, 0.5, beta, hessian="diag").beta, rel=1e-10)
