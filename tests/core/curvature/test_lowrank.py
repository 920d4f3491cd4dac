"""Low-rank Laplace: the top-k eigenpairs of the data Hessian by Lanczos, the rest of the spectrum left to the prior."""
import re
import tracemalloc

import numpy as np
import pytest

import laplacenet as ln
from laplacenet.check import relative_error
from laplacenet.core.curvature.diagonal import outer_diagonal
from laplacenet.core.routes import hessian as full_hessian
from laplacenet.core.curvature.jacobian import output_jacobians
from laplacenet.core.curvature.lowrank import top_eigenpairs
from laplacenet.bayes.evidence import log_evidence, posterior_evidence_terms, reestimate
from laplacenet.bayes.hyper import fit_evidence
from laplacenet.core.exceptions import NotPositiveDefiniteError
from laplacenet.bayes.laplace import laplace
from laplacenet.bayes.posteriors import LowRankPrecision
from laplacenet.core.priors import alpha_per_param

from tests.problems import make_problem

GROUPED = np.array([0.3, 1.1, 0.6, 2.0, 0.9, 1.4])  # a network with two hidden layers


def _problem(likelihood, seed=0):
    net, w, X, T = make_problem(likelihood, hidden=(4, 3), seed=seed)
    # a minimum, so that the exact Hessian is usable too (L-BFGS-B's, where gamma < N; Newton finds a lower one)
    w, _ = ln.train(net, X, T, GROUPED, 2.0, w0=w, method="L-BFGS-B")
    return net, w, X, T


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli", "categorical"])
@pytest.mark.parametrize("alpha", [0.7, GROUPED])
def test_rank_w_is_the_full_outer_answer(likelihood, alpha):
    net, w, X, T = _problem(likelihood, seed=1)
    W = net.n_params
    full = laplace(net, w, X, T, alpha, 2.0, hessian="outer")
    low = laplace(net, w, X, T, alpha, 2.0, hessian="lowrank", rank=W)
    assert low.log_det == pytest.approx(full.log_det, rel=1e-8)
    assert log_evidence(net, w, X, T, alpha, 2.0, hessian="lowrank", rank=W) == pytest.approx(
        log_evidence(net, w, X, T, alpha, 2.0, hessian="outer"), rel=1e-8)
    X_new = np.random.default_rng(2).normal(size=(6, 3))
    assert relative_error(low.predict(X_new, full_cov=True)[1], full.predict(X_new, full_cov=True)[1]) <= 1e-8
    assert relative_error(low.variances(), np.diag(full.covariance())) <= 1e-8
    a, b = (reestimate(net, w, X, T, alpha, 2.0, hessian=h, rank=r) for h, r in (("lowrank", W), ("outer", None)))
    assert a.gamma == pytest.approx(b.gamma, rel=1e-8)
    assert relative_error(np.atleast_1d(a.alpha), np.atleast_1d(b.alpha)) <= 1e-8
    assert (a.beta is None and b.beta is None) or a.beta == pytest.approx(b.beta, rel=1e-8)


@pytest.mark.parametrize("kind", ["outer", "exact"])
def test_lanczos_finds_the_top_eigenpairs(kind):
    net, w, X, T = _problem("categorical", seed=3)
    k = 5
    assert 2 * k + 1 < net.n_params  # the matrix-free Lanczos route, not the dense fallback
    lam, U = top_eigenpairs(net, w, X, np.eye(3)[T], None, k, kind)  # internal: canonical (one-hot) T
    H = full_hessian(net, w, X, T, 0.0, method=kind)
    ref_lam, ref_U = np.linalg.eigh(H)
    assert relative_error(lam, ref_lam[::-1][:k]) <= 1e-10
    assert relative_error(U @ U.T, ref_U[:, -k:] @ ref_U[:, -k:].T) <= 1e-8  # the same invariant subspace
    assert np.all(np.diff(lam) <= 0)


@pytest.mark.parametrize("with_diagonal", [False, True])
def test_linear_algebra_matches_the_dense_low_rank_matrix(with_diagonal):
    net, w, X, T = _problem("gaussian", seed=4)
    post = laplace(net, w, X, T, GROUPED, 2.0, hessian="lowrank", rank=4, lowrank_diag=with_diagonal,
                   jitter=0.125)
    P = post.precision
    assert isinstance(P, LowRankPrecision) and P.rank == 4
    H = full_hessian(net, w, X, T, 0.0, 2.0, method="outer")
    lam, U = np.linalg.eigh(H)
    lam, U = lam[-4:], U[:, -4:]
    d = np.maximum(np.diag(H) - (U ** 2) @ lam, 0.0) if with_diagonal else 0.0
    A = (U * lam) @ U.T + np.diag(alpha_per_param(net, GROUPED) + d + 0.125)
    assert relative_error(P.to_dense(), A) <= 1e-9
    if with_diagonal:  # the diagonal of the approximation is H's wherever the residual is not negative
        assert relative_error(np.diag(A) - alpha_per_param(net, GROUPED) - 0.125,
                              np.maximum(np.diag(H), (U ** 2) @ lam)) <= 1e-9
    assert post.log_det == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-10)
    cov = np.linalg.inv(A)
    V = np.random.default_rng(0).normal(size=(net.n_params, 3))
    assert relative_error(P.solve(V), cov @ V) <= 1e-9
    assert relative_error(post.covariance() @ np.eye(net.n_params), cov) <= 1e-9
    assert relative_error(post.variances(), np.diag(cov)) <= 1e-9
    S = P.deviations(np.eye(net.n_params)).T  # rows of S z: S S^T = A^-1
    assert relative_error(S @ S.T, cov) <= 1e-9
    X_new = np.random.default_rng(1).normal(size=(5, 3))
    G = output_jacobians(net, net.unpack(w), X_new)
    expected = np.einsum("nkw,wv,njv->nkj", G, cov, G)
    assert relative_error(post.predict(X_new, full_cov=True, return_noise=False)[1], expected) <= 1e-9


def test_gamma_comes_from_the_k_eigenvalues():
    net, w, X, T = _problem("gaussian", seed=5)
    H = full_hessian(net, w, X, T, 0.0, 2.0, method="outer")
    lam = np.linalg.eigvalsh(H)[-6:]
    step = reestimate(net, w, X, T, 0.5, 2.0, hessian="lowrank", rank=6)
    gamma = np.sum(lam / (0.5 + lam))  # PRML (5.179) over the k eigenvalues; the rest is prior alone
    assert step.gamma == pytest.approx(gamma, rel=1e-10)
    assert step.alpha == pytest.approx(gamma / (w @ w), rel=1e-10)
    residual = np.sum((net.forward(w, X) - T) ** 2)
    assert step.beta == pytest.approx((X.shape[0] * 2 - gamma) / residual, rel=1e-10)
    grouped = reestimate(net, w, X, T, GROUPED, 2.0, hessian="lowrank", rank=6, lowrank_diag=True)
    A = laplace(net, w, X, T, GROUPED, 2.0, hessian="lowrank", rank=6, lowrank_diag=True).precision.to_dense()
    gamma_g = net.group_sizes - GROUPED * np.bincount(net.group_index, weights=np.diag(np.linalg.inv(A)))
    assert relative_error(grouped.gamma_groups, gamma_g) <= 1e-9


def test_an_exact_hessian_that_is_not_positive_definite_is_refused():
    net, w, X, T = make_problem("gaussian", hidden=(4,), seed=13, weight_scale=2.0)  # a saddle point
    smallest = np.linalg.eigvalsh(full_hessian(net, w, X, T, 0.01, 1.0, method="exact"))[0]
    assert smallest < 0
    with pytest.raises(NotPositiveDefiniteError) as info:
        laplace(net, w, X, T, 0.01, 1.0, hessian="lowrank", rank=net.n_params, lowrank_hessian="exact")
    assert info.value.min_eigenvalue == pytest.approx(smallest, rel=1e-8)


def test_bad_lowrank_options_are_named():
    net, w, X, T = make_problem("gaussian", hidden=(3,), seed=6)
    with pytest.raises(ValueError, match="hessian='lowrank' needs rank=k"):
        laplace(net, w, X, T, 1.0, 1.0, hessian="lowrank")
    with pytest.raises(ValueError, match="rank must be an integer >= 1; got 0"):
        laplace(net, w, X, T, 1.0, 1.0, hessian="lowrank", rank=0)
    with pytest.raises(ValueError, match=f"rank must be at most the number of weights W = {net.n_params}"):
        log_evidence(net, w, X, T, 1.0, 1.0, hessian="lowrank", rank=net.n_params + 1)
    with pytest.raises(ValueError, match="rank, lowrank_hessian and lowrank_diag apply only to hessian='lowrank'"):
        laplace(net, w, X, T, 1.0, 1.0, hessian="kron", rank=3)
    with pytest.raises(ValueError, match="lowrank_hessian must be one of 'outer', 'exact'; got 'diag'"):
        laplace(net, w, X, T, 1.0, 1.0, hessian="lowrank", rank=3, lowrank_hessian="diag")
    for call in (reestimate, lambda *a, **k: fit_evidence(net, X, T, 1.0, a[5], **k)):
        with pytest.raises(ValueError, match="cannot re-estimate a beta per output with hessian='lowrank'"):
            call(net, w, X, T, 1.0, np.array([1.0, 2.0]), hessian="lowrank", rank=3)


def test_the_budget_bounds_the_lanczos_basis_and_names_rank():
    # the W x (2k + 1) basis went unchecked (2.95 GiB at W = 19 885, k = 9 941, under a 50 MiB budget), and the
    # dense route beyond it named hvp and method='diag', not rank
    net, w, X, T = make_problem("categorical", hidden=(8,), seed=2)
    W, previous = net.n_params, ln.get_matrix_budget()
    try:
        ln.set_matrix_budget(8 * W * 25)
        laplace(net, w, X, T, 1.0, hessian="lowrank", rank=5)  # a (W, 20) basis: within the budget
        with pytest.raises(ValueError, match=rf"the Lanczos basis of rank=13 as a dense {W} x 27 matrix .* use a "
                                             r"smaller rank"):
            laplace(net, w, X, T, 1.0, hessian="lowrank", rank=13)
        with pytest.raises(ValueError, match=rf"rank={W // 2} with 2 rank \+ 1 >= W = {W}.* use a smaller rank"):
            laplace(net, w, X, T, 1.0, hessian="lowrank", rank=W // 2)
    finally:
        ln.set_matrix_budget(previous)


def test_lanczos_that_does_not_converge_is_a_clear_error(monkeypatch):
    # ARPACK's own exception (after 10 W iterations) reached the user, naming neither rank nor a remedy: the exact
    # data Hessian of diabetes with 50 units had eigenvalue 12.035564 many times over across the cut at k = 20
    from scipy.sparse.linalg import ArpackNoConvergence
    import laplacenet.core.curvature.lowrank as lowrank

    def no_convergence(*args, **kwargs):
        raise ArpackNoConvergence("ARPACK error -1: No convergence", np.ones(3), np.ones((1, 3)))
    monkeypatch.setattr(lowrank, "eigsh", no_convergence)
    net, w, X, T = make_problem("gaussian", hidden=(8,), seed=1)
    for kind, remedy in (("exact", "use lowrank_hessian='outer' or another rank"), ("outer", "; use another rank")):
        with pytest.raises(ValueError, match=rf"top rank=4 eigenpairs of the {kind} data Hessian did not converge "
                                             rf"\(ARPACK found 3 of 4\).*{re.escape(remedy)}"):
            laplace(net, w, X, T, 1.0, 1.0, hessian="lowrank", rank=4, lowrank_hessian=kind)


def test_lowrank_at_fifty_thousand_weights_never_forms_a_w_by_w_matrix():
    net = ln.MLP([100, 300, 100, 10], "tanh", "categorical")  # W = 61 410: a W x W matrix is 30 GB
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(60, 100)), rng.integers(0, 10, 60)
    w = net.init(1)
    tracemalloc.start()
    post = laplace(net, w, X, T, 1.0, hessian="lowrank", rank=3, lowrank_diag=True)
    T1 = np.eye(10)[T]
    evidence = posterior_evidence_terms(net, w, X, T1, 1.0, None, post).total  # log_evidence without a 2nd Lanczos
    _, variance = post.predict(X[:4])
    draws = post.sample(2, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 * 2**20
    diagonal = outer_diagonal(net, w, X, T1, None)
    assert post.precision.eigenvalues[0] <= diagonal.sum() * (1 + 1e-12)  # lambda_max <= tr(H)
    assert np.isfinite(evidence) and np.all(variance > 0) and draws.shape == (2, net.n_params)
