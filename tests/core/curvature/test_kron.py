"""The Kronecker-factored (KFAC) posterior: its factors, its linear algebra, its evidence and re-estimation."""
import tracemalloc

import numpy as np
import pytest
from scipy.linalg import block_diag

import laplacenet as ln
from laplacenet.check import relative_error
from laplacenet.core.curvature.backprop import forward_pass, hidden_slopes
from laplacenet.core.routes import hessian as full_hessian
from laplacenet.core.curvature.jacobian import output_jacobians
from laplacenet.core.curvature.kron import data_kron_factors
from laplacenet.core.routes import kron_factors
from laplacenet.bayes.evidence import log_evidence, reestimate
from laplacenet.bayes.laplace import laplace
from laplacenet.bayes.posteriors import KroneckerPrecision
from laplacenet.core.priors import alpha_per_param

from tests.problems import make_problem

CASES = [("gaussian", (4,)), ("bernoulli", (3, 2)), ("categorical", (4,))]


def _direct_factors(net, w, X, beta):
    """Q_l = sum_n B_n^T Lambda_n B_n and Z_l = sum_n z z^T, pattern by pattern with B_n by the chain rule."""
    layers = net.unpack(w)
    fw = forward_pass(net, layers, X)
    slopes = hidden_slopes(net, fw)
    Lam = net.likelihood.output_hessian(fw.y, beta)
    L = net.n_layers
    Q = [np.zeros((d, d)) for d in net.sizes[1:]]
    Z = [np.zeros((d, d)) for d in net.sizes[:-1]]
    for n in range(X.shape[0]):
        B = np.eye(net.n_outputs)  # d a_L / d a_L
        for l in range(L - 1, -1, -1):
            Q[l] += B.T @ Lam[n] @ B
            Z[l] += np.outer(fw.z[l][n], fw.z[l][n])
            if l > 0:
                B = B @ layers[l][0] * slopes[l - 1][n]  # d a_L / d a_{l-1} = B W_l diag(h'(a_{l-1}))
    return Q, Z


def _dense_kron(net, factors, alpha, jitter=0.0):
    """The KFAC precision as a dense matrix, block by block with np.kron."""
    Q, Z, N = factors
    a = np.broadcast_to(alpha, (net.n_groups,))
    blocks = []
    for l in range(net.n_layers):
        blocks += [np.kron(Q[l], Z[l]) / N + (a[2 * l] + jitter) * np.eye(Q[l].shape[0] * Z[l].shape[0]),
                   Q[l] + (a[2 * l + 1] + jitter) * np.eye(Q[l].shape[0])]
    return block_diag(*blocks)


@pytest.mark.parametrize("likelihood, hidden", CASES)
def test_factors_equal_a_direct_computation(likelihood, hidden):
    net, w, X, T = make_problem(likelihood, hidden=hidden, seed=1)
    beta = np.array([2.0, 0.5]) if likelihood == "gaussian" else None
    factors = kron_factors(net, w, X, T, beta, chunk_size=5)
    Q, Z = _direct_factors(net, w, X, beta)
    assert factors.n_data == X.shape[0]
    for mine, theirs in zip(factors.output_factors + factors.input_factors, Q + Z):
        assert relative_error(mine, theirs) <= 1e-12


@pytest.mark.parametrize("likelihood, hidden", CASES)
def test_output_factor_is_the_bias_block_of_the_outer_hessian(likelihood, hidden):
    # The bias input is the constant 1, so the Gauss-Newton bias block is sum_n B^T Lambda B exactly (PRML 5.84).
    net, w, X, T = make_problem(likelihood, hidden=hidden, seed=2)
    H = full_hessian(net, w, X, T, 0.0, 3.0, method="outer")
    factors = kron_factors(net, w, X, T, 3.0)
    for (_, bs), Q in zip(net.layer_slices, factors.output_factors):
        assert relative_error(Q, H[bs, bs]) <= 1e-12


@pytest.mark.parametrize("hidden", [(), (4,), (3, 2)])
def test_kfac_is_the_outer_hessian_block_when_the_output_curvature_is_constant(hidden):
    # Gaussian output layer: B_n = I and Lambda_n = beta I for every n, so the sum of Kronecker products
    # sum_n Lambda (x) z z^T equals the KFAC product (1/N)(N Lambda) (x) sum_n z z^T.
    net, w, X, T = make_problem("gaussian", hidden=hidden, seed=3)
    beta = np.array([4.0, 0.25])
    H = full_hessian(net, w, X, T, 0.0, beta, method="outer")
    A = laplace(net, w, X, T, 0.5, beta, hessian="kron").precision.to_dense()
    ws, bs = net.layer_slices[-1]
    assert relative_error(A[ws, ws] - 0.5 * np.eye(ws.stop - ws.start), H[ws, ws]) <= 1e-12
    assert relative_error(A[bs, bs] - 0.5 * np.eye(bs.stop - bs.start), H[bs, bs]) <= 1e-12
    assert np.all(A[ws, bs] == 0)  # no weight-bias block


def test_kfac_is_the_whole_outer_hessian_only_for_centred_inputs():
    # the weight-bias block it leaves out is Lambda (x) sum_n z_n: zero for centred inputs alone
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    T = X @ rng.normal(size=(4, 2)) + 0.1 * rng.normal(size=(60, 2))
    net = ln.MLP([4, 2])
    for shift, exact in ((0.0, True), (1.5, False)):
        Xs = X - X.mean(axis=0) + shift
        A = laplace(net, np.zeros(net.n_params), Xs, T, 0.3, 50.0, hessian="kron").precision.to_dense()
        H = full_hessian(net, np.zeros(net.n_params), Xs, T, 0.3, 50.0, method="outer")
        assert (relative_error(A, H) <= 1e-12) is exact


@pytest.mark.parametrize("likelihood, hidden", CASES)
def test_linear_algebra_matches_dense_kronecker_products(likelihood, hidden):
    net, w, X, T = make_problem(likelihood, hidden=hidden, seed=4)
    alpha = np.linspace(0.3, 1.7, net.n_groups)
    post = laplace(net, w, X, T, alpha, 2.0, hessian="kron", jitter=0.125)
    A = _dense_kron(net, kron_factors(net, w, X, T, 2.0), alpha, 0.125)
    P = post.precision
    assert isinstance(P, KroneckerPrecision) and P.shape == (net.n_params, net.n_params)
    assert relative_error(P.to_dense(), A) <= 1e-10
    assert post.log_det == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    rng = np.random.default_rng(0)
    V = rng.normal(size=(net.n_params, 3))
    assert relative_error(P @ V, A @ V) <= 1e-10
    assert relative_error(P.solve(V), np.linalg.solve(A, V)) <= 1e-10
    cov = np.linalg.inv(A)
    assert relative_error(post.covariance() @ np.eye(net.n_params), cov) <= 1e-10
    assert relative_error(post.variances(), np.diag(cov)) <= 1e-10
    # The sampling square root S (rows of S z) has S S^T = A^-1 exactly.
    S = P.deviations(np.eye(net.n_params)).T
    assert relative_error(S @ S.T, cov) <= 1e-10
    draws = post.sample(4, seed=3)
    Zs = np.random.default_rng(3).standard_normal((4, net.n_params))
    assert relative_error(draws, w + Zs @ S.T) <= 1e-12


@pytest.mark.parametrize("likelihood, hidden", CASES)
def test_predictive_matches_the_dense_precision(likelihood, hidden):
    net, w, X, T = make_problem(likelihood, hidden=hidden, seed=5)
    post = laplace(net, w, X, T, 0.7, 3.0, hessian="kron")
    A = post.precision.to_dense()
    X_new = np.random.default_rng(1).normal(size=(9, 3))
    G = output_jacobians(net, net.unpack(w), X_new)
    cov = np.einsum("nkw,wv,njv->nkj", G, np.linalg.inv(A), G)  # PRML (5.173), (5.185)
    _, full = post.predict(X_new, full_cov=True, return_noise=False)
    assert relative_error(full, cov) <= 1e-10
    assert relative_error(post.activation_covariance(G), cov) <= 1e-10


@pytest.mark.parametrize("alpha", [0.6, np.array([0.3, 1.1, 0.6, 2.0])])
def test_log_evidence_and_reestimation_use_the_kronecker_eigenvalues(alpha):
    net, w, X, T = make_problem("gaussian", hidden=(4,), seed=6)
    beta = 5.0
    factors = kron_factors(net, w, X, T, beta)
    A = _dense_kron(net, factors, alpha)
    terms = log_evidence(net, w, X, T, alpha, beta, hessian="kron", terms=True)
    outer = log_evidence(net, w, X, T, alpha, beta, hessian="outer", terms=True)
    assert terms.log_det == pytest.approx(-0.5 * np.linalg.slogdet(A)[1], rel=1e-12)
    for name in ("data_fit", "prior", "log_alpha", "log_beta", "log_2pi"):  # only ln|A| differs
        assert getattr(terms, name) == getattr(outer, name)
    step = reestimate(net, w, X, T, alpha, beta, hessian="kron")
    a = alpha_per_param(net, alpha)
    gamma_i = 1.0 - a * np.diag(np.linalg.inv(A))  # gamma = W - sum_i alpha_i (A^-1)_ii
    assert step.gamma == pytest.approx(gamma_i.sum(), rel=1e-10)
    residual = np.sum((net.forward(w, X) - T) ** 2)
    assert step.beta == pytest.approx((X.shape[0] * 2 - step.gamma) / residual, rel=1e-12)  # PRML (5.180)
    if np.ndim(alpha):
        gamma_g = np.bincount(net.group_index, weights=gamma_i)
        assert relative_error(step.gamma_groups, gamma_g) <= 1e-10
        assert relative_error(step.alpha, gamma_g / np.bincount(net.group_index, weights=w * w)) <= 1e-10
    else:
        assert step.alpha == pytest.approx(step.gamma / (w @ w), rel=1e-12)  # PRML (5.178)


def test_a_beta_per_output_reestimates_from_the_per_output_kronecker_blocks():
    net, w, X, T = make_problem("gaussian", hidden=(3,), seed=7)
    beta = np.array([4.0, 0.5])
    step = reestimate(net, w, X, T, 0.8, beta, hessian="kron")
    A = _dense_kron(net, kron_factors(net, w, X, T, beta), 0.8)
    cov = np.linalg.inv(A)
    # beta_k tr(A^-1 H_k), H_k the Kronecker blocks at beta = e_k (the internal function: e_k is not a valid beta)
    gamma_k = [b * np.sum(cov * _dense_kron(net, data_kron_factors(net, w, X, T, e_k), 0.0)) for b, e_k in
               zip(beta, np.eye(2))]
    assert relative_error(step.gamma_outputs, gamma_k) <= 1e-10
    assert step.gamma_outputs.sum() == pytest.approx(step.gamma, rel=1e-10)  # sum_k beta_k H_k = H
    residuals = np.sum((net.forward(w, X) - T) ** 2, axis=0)
    assert relative_error(step.beta, (X.shape[0] - step.gamma_outputs) / residuals) <= 1e-12


def test_kron_at_fifty_thousand_weights_never_forms_a_w_by_w_matrix():
    net = ln.MLP([100, 300, 100, 10], "tanh", "categorical")  # W = 61 410: a W x W matrix is 30 GB
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(60, 100)), rng.integers(0, 10, 60)
    w = net.init(1)
    tracemalloc.start()
    post = laplace(net, w, X, T, 1.0, hessian="kron")
    evidence = log_evidence(net, w, X, T, 1.0, hessian="kron")
    _, variance = post.predict(X[:4])
    draws = post.sample(2, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 * 2**20
    assert np.isfinite(evidence) and np.all(variance > 0) and draws.shape == (2, net.n_params)
