import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import expit, softmax
from scipy.stats import norm

import laplacenet as ln
from laplacenet.check import relative_error
from laplacenet.core.curvature.backprop import forward_pass
from laplacenet.core.routes import hessian as full_hessian
from laplacenet.core.curvature.jacobian import output_jacobians
from laplacenet.bayes.evidence import log_evidence, reestimate
from laplacenet.core.exceptions import NotPositiveDefiniteError
from laplacenet.bayes.laplace import LaplacePosterior, laplace
from laplacenet.bayes.predictive import laplace_bridge, moderated_bernoulli, moderated_softmax
from laplacenet.core.priors import alpha_per_param

from tests.problems import make_problem

GROUPED = np.array([0.3, 1.1, 0.6, 2.0])  # W1, b1, W2, b2 of a one-hidden-layer network


def _explicit_activation_cov(net, w, X, A):
    G = output_jacobians(net, net.unpack(w), X)
    return np.einsum("nkw,wv,njv->nkj", G, np.linalg.inv(A), G)


@pytest.mark.parametrize("hessian", ["exact", "outer", "fd"])
def test_precision_is_the_hessian_of_E_with_each_groups_alpha_on_the_diagonal(hessian):
    net, w, X, T = make_problem("gaussian", hidden=(3,), seed=1)
    beta = np.array([2.0, 5.0])
    w, _ = ln.train(net, X, T, GROUPED, beta, w0=w)  # a minimum, so that the exact A is positive definite
    post = laplace(net, w, X, T, GROUPED, beta, hessian=hessian, jitter=0.25)
    assert isinstance(post, LaplacePosterior)
    H = full_hessian(net, w, X, T, GROUPED, beta, method=hessian)
    H[np.diag_indices_from(H)] += 0.25
    assert relative_error(post.precision, H) <= 1e-12
    data = full_hessian(net, w, X, T, 0.0, beta, method=hessian)
    assert relative_error(np.diag(post.precision - data), alpha_per_param(net, GROUPED) + 0.25) <= 1e-12
    assert np.array_equal(post.mean, w) and not post.precision.flags.writeable


def test_covariance_and_log_det_match_dense_linear_algebra():
    net, w, X, T = make_problem("categorical", hidden=(4,), seed=2)
    post = laplace(net, w, X, T, 0.5, hessian="outer")
    assert relative_error(post.covariance(), np.linalg.inv(post.precision)) <= 1e-10
    sign, logdet = np.linalg.slogdet(post.precision)
    assert sign == 1 and post.log_det == pytest.approx(logdet, rel=1e-12)


def test_gaussian_linearised_predictive_with_a_beta_per_output():
    net, w, X, T = make_problem("gaussian", hidden=(5,), seed=3)
    beta = np.array([3.0, 0.5])
    post = laplace(net, w, X, T, 0.4, beta, hessian="outer", chunk_size=3)
    X_new = np.random.default_rng(0).normal(size=(10, 3))
    cov = _explicit_activation_cov(net, w, X_new, post.precision)  # PRML (5.173)
    mean, var = post.predict(X_new)
    assert relative_error(mean, net.forward(w, X_new)) <= 1e-12  # PRML (5.172)
    assert relative_error(var, np.diagonal(cov, axis1=1, axis2=2) + 1 / beta) <= 1e-10
    _, full = post.predict(X_new, full_cov=True)
    assert relative_error(full, cov + np.diag(1 / beta)) <= 1e-10
    _, f_var = post.predict(X_new, return_noise=False)
    assert relative_error(f_var, np.diagonal(cov, axis1=1, axis2=2)) <= 1e-10
    assert np.all(var > f_var)


def test_bernoulli_moderated_output():
    net, w, X, T = make_problem("bernoulli", hidden=(4,), seed=4)
    post = laplace(net, w, X, T, 0.8, hessian="outer")
    X_new = np.random.default_rng(1).normal(scale=2.0, size=(9, 3))
    s2 = _explicit_activation_cov(net, w, X_new, post.precision)[:, 0, 0]
    a = net.forward(w, X_new)  # probabilities at w_MAP ...
    a = np.log(a / (1 - a))    # ... back to activations
    prob, var = post.predict(X_new)
    assert prob.shape == var.shape == (9, 1)
    assert relative_error(var[:, 0], s2) <= 1e-10
    assert relative_error(prob[:, 0], expit(a[:, 0] / np.sqrt(1 + np.pi * s2 / 8))) <= 1e-10  # PRML (5.187)
    # Moderation pulls every probability towards 1/2 (PRML 4.5.2).
    assert np.all(np.abs(prob - 0.5) <= np.abs(net.forward(w, X_new) - 0.5))


def test_categorical_generalised_probit():
    net, w, X, T = make_problem("categorical", hidden=(4,), seed=5)
    post = laplace(net, w, X, T, 0.8, hessian="outer")
    X_new = np.random.default_rng(2).normal(scale=2.0, size=(8, 3))
    cov = _explicit_activation_cov(net, w, X_new, post.precision)
    a = forward_pass(net, net.unpack(w), X_new).a[-1]
    prob, var = post.predict(X_new, full_cov=True)
    assert relative_error(var, cov) <= 1e-10
    K = cov.shape[1]
    P = np.eye(K) - np.ones((K, K)) / K
    kappa = 1 / np.sqrt(1 + np.pi / 8 * np.diagonal(P @ cov @ P, axis1=1, axis2=2))  # the centred covariance
    assert relative_error(prob, softmax((a - a.mean(axis=1, keepdims=True)) * kappa, axis=1)) <= 1e-10
    assert np.allclose(prob.sum(axis=1), 1.0, rtol=0, atol=1e-14)


def test_generalised_probit_and_bridge_ignore_a_common_shift_of_the_activations():
    """softmax(a + c 1) = softmax(a): a covariance along 1 1^T, or a shift of the mean, changes nothing."""
    rng = np.random.default_rng(4)
    a = rng.normal(scale=3.0, size=(7, 4))
    B = rng.normal(size=(7, 4, 4))
    cov = B @ B.transpose(0, 2, 1)
    shifted_cov = cov + 25.0 * np.ones((4, 4)) + rng.normal(size=(7, 1, 4)) + rng.normal(size=(7, 4, 1))
    shifted_cov = (shifted_cov + shifted_cov.transpose(0, 2, 1)) / 2  # u 1^T + 1 u^T: P kills it too
    for approximation in (moderated_softmax, laplace_bridge):
        base = approximation(a, cov)
        assert relative_error(approximation(a + 3.0, shifted_cov), base) <= 1e-12
        assert np.allclose(base.sum(axis=1), 1.0, rtol=0, atol=1e-14)


def test_moderated_output_is_the_exact_integral_of_the_probit_it_stands_for():
    """PRML (4.152)-(4.153): int Phi(lambda a) N(a | mu, s2) da = Phi(lambda mu / sqrt(1 + lambda^2 s2)) with
    lambda^2 = pi/8, i.e. sigma(kappa(s2) mu) once sigma is replaced by Phi(lambda .) - checked by Gauss-Hermite."""
    mu = np.array([-6.0, -1.5, 0.0, 0.7, 4.0])
    s2 = np.array([0.01, 2.0, 9.0, 0.5, 30.0])
    lam = np.sqrt(np.pi / 8)
    x, wq = np.polynomial.hermite_e.hermegauss(200)
    integral = norm.cdf(lam * (mu[:, None] + np.sqrt(s2)[:, None] * x)) @ wq / wq.sum()
    kappa = 1 / np.sqrt(1 + np.pi * s2 / 8)
    assert relative_error(norm.cdf(lam * kappa * mu), integral) <= 1e-12
    assert relative_error(moderated_bernoulli(mu[:, None], s2[:, None])[:, 0], expit(kappa * mu)) <= 1e-14


def test_the_laplace_bridge_mean_ignores_the_scale_of_the_covariance_and_is_no_softmax_for_equal_variances():
    """Concentrations (1 - 2/K + e^{a_k} sum_l e^{-a_l} / K^2) / S_kk: scaling S leaves the mean unchanged, and
    equal variances for K > 2 give the bracket normalised, not softmax(a)."""
    rng = np.random.default_rng(4)
    a = rng.normal(size=(6, 4))
    root = rng.normal(size=(6, 4, 4))
    cov = root @ root.transpose(0, 2, 1) + 0.1 * np.eye(4)
    for c in (1e-3, 1.0, 1e3):
        assert relative_error(laplace_bridge(a, c * cov), laplace_bridge(a, cov)) <= 1e-12
    bracket = 1 - 2 / 4 + np.exp(a) * np.exp(-a).sum(axis=1, keepdims=True) / 16
    equal = laplace_bridge(a, 2.5 * np.broadcast_to(np.eye(4), (6, 4, 4)))
    assert relative_error(equal, bracket / bracket.sum(axis=1, keepdims=True)) <= 1e-12
    assert np.max(np.abs(equal - softmax(a, axis=1))) > 0.01


def test_laplace_bridge_inverts_the_laplace_approximation_of_a_dirichlet():
    """The Laplace approximation of Dir(gamma) in the softmax basis (MacKay 1998) has mean
    ln gamma_k - mean_l ln gamma_l and covariance P diag(1/gamma) P; the bridge maps it back to gamma, so the
    predictive is the Dirichlet mean gamma / sum(gamma) (Hobbhahn, Kristiadi & Hennig 2022)."""
    rng = np.random.default_rng(9)
    for K in (2, 3, 10):
        gamma = rng.uniform(0.5, 40.0, size=(6, K))
        mean = np.log(gamma) - np.log(gamma).mean(axis=1, keepdims=True)
        P = np.eye(K) - np.ones((K, K)) / K
        cov = P @ (np.eye(K)[None] / gamma[:, None, :]) @ P
        if K == 2:  # the bridge's mean for two classes is the softmax of the mean whatever the variances
            assert relative_error(laplace_bridge(mean, cov), softmax(mean, axis=1)) <= 1e-12
            continue
        assert relative_error(laplace_bridge(mean, cov), gamma / gamma.sum(axis=1, keepdims=True)) <= 1e-12
    # One logistic output: p(class 1) is the logistic of the activation.
    a = rng.normal(size=(5, 1))
    assert relative_error(laplace_bridge(a, np.full((5, 1, 1), 3.0)), expit(a)) <= 1e-14


def _gauss_hermite_sigmoid(mu, s2, n=80):
    """E[sigma(a)] and Var[sigma(a)] for a ~ N(mu, s2), by Gauss-Hermite quadrature."""
    x, wq = np.polynomial.hermite_e.hermegauss(n)
    vals = expit(mu[:, None] + np.sqrt(s2)[:, None] * x)
    mean = vals @ wq / wq.sum()
    return mean, (vals ** 2) @ wq / wq.sum() - mean ** 2


@pytest.mark.parametrize("likelihood", ["bernoulli", "categorical"])
def test_linear_mc_matches_quadrature_of_the_linearised_predictive(likelihood):
    """With two classes, p(class 0) = sigma(a_0 - a_1), a one-dimensional Gaussian integral."""
    net, w, X, T = make_problem(likelihood, hidden=(4,), n_outputs=1 if likelihood == "bernoulli" else 2, seed=6)
    post = laplace(net, w, X, T, 0.3, hessian="outer")
    X_new = np.random.default_rng(3).normal(scale=2.0, size=(6, 3))
    cov = _explicit_activation_cov(net, w, X_new, post.precision)
    y = net.forward(w, X_new)
    if likelihood == "bernoulli":
        mu, s2 = np.log(y[:, 0] / (1 - y[:, 0])), cov[:, 0, 0]
    else:
        mu, s2 = np.log(y[:, 0] / y[:, 1]), cov[:, 0, 0] + cov[:, 1, 1] - 2 * cov[:, 0, 1]
    exact, exact_var = _gauss_hermite_sigmoid(mu, s2)
    S = 40000
    prob, act_var = post.predict(X_new, method="linear_mc", n_samples=S, seed=11, full_cov=True)
    assert np.all(np.abs(prob[:, 0] - exact) <= 5 * np.sqrt(exact_var / S))
    # The sample covariance of the activations estimates G A^-1 G^T (relative sd sqrt(2 / S)).
    assert np.all(np.abs(act_var[:, 0, 0] / cov[:, 0, 0] - 1) <= 5 * np.sqrt(2 / S))


def test_mc_over_a_linear_network_recovers_the_closed_form():
    """With no hidden layer the network is linear in w, so sampling weights is exact up to Monte Carlo error."""
    net, w, X, T = make_problem("gaussian", hidden=(), seed=7)
    beta = 4.0
    post = laplace(net, w, X, T, 0.5, beta, hessian="exact")
    X_new = np.random.default_rng(4).normal(size=(5, 3))
    mean, var = post.predict(X_new)
    S = 40000
    mc_mean, mc_var = post.predict(X_new, method="mc", n_samples=S, seed=3, return_noise=False)
    f_var = var - 1 / beta
    assert np.all(np.abs(mc_mean - mean) <= 5 * np.sqrt(f_var / S))
    assert np.all(np.abs(mc_var / f_var - 1) <= 5 * np.sqrt(2 / S))


def test_sample_has_the_posterior_covariance():
    net, w, X, T = make_problem("gaussian", hidden=(2,), n_inputs=1, n_outputs=1, seed=8)  # W = 7
    post = laplace(net, w, X, T, 0.5, 3.0, hessian="outer")
    n = 60000
    draws = post.sample(n, seed=5)
    assert draws.shape == (n, net.n_params)
    assert np.array_equal(draws, post.sample(n, seed=5)) and not np.array_equal(draws, post.sample(n, seed=6))
    # Whitened by the precision's Cholesky factor the draws must be standard normal.
    L = np.linalg.cholesky(post.precision)
    Z = (draws - w) @ L
    assert np.all(np.abs(Z.mean(axis=0)) <= 5 / np.sqrt(n))
    assert np.max(np.abs(np.cov(Z.T) - np.eye(net.n_params))) <= 5 * np.sqrt(2 / n)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli", "categorical"])
def test_update_equals_the_posterior_rebuilt_on_all_the_data(likelihood):
    net, w, X, T = make_problem(likelihood, hidden=(4,), n=30, seed=9)
    beta = np.array([2.0, 7.0]) if likelihood == "gaussian" else None
    full = laplace(net, w, X, T, GROUPED, beta, hessian="outer")
    first = laplace(net, w, X[:12], T[:12], GROUPED, beta, hessian="outer")
    updated = first.update(X[12:20], T[12:20]).update(X[20:], T[20:])
    assert updated is not first and first.n_data == 12 and updated.n_data == 30
    assert np.array_equal(updated.mean, w)  # w_MAP does not move
    assert relative_error(updated.precision, full.precision) <= 1e-9
    assert relative_error(updated.covariance(), full.covariance()) <= 1e-9
    assert updated.log_det == pytest.approx(full.log_det, rel=1e-9)
    X_new = np.random.default_rng(5).normal(size=(7, 3))
    for a, b in zip(updated.predict(X_new, full_cov=True), full.predict(X_new, full_cov=True)):
        assert relative_error(a, b) <= 1e-9
    assert relative_error(updated.sample(3, seed=1), full.sample(3, seed=1)) <= 1e-9
    # The posterior updated from is left as it was.
    assert relative_error(first.precision, laplace(net, w, X[:12], T[:12], GROUPED, beta, "outer").precision) == 0


@settings(max_examples=10, deadline=None)
@given(split=st.integers(1, 19), chunk=st.integers(1, 8))
def test_update_at_any_split_and_chunk_size(split, chunk):
    net, w, X, T = make_problem("gaussian", hidden=(3,), n=20, seed=10)
    full = laplace(net, w, X, T, 0.7, 2.0, hessian="outer")
    part = laplace(net, w, X[:split], T[:split], 0.7, 2.0, hessian="outer", chunk_size=chunk)
    updated = part.update(X[split:], T[split:])
    assert relative_error(updated.covariance(), full.covariance()) <= 1e-9
    assert updated.log_det == pytest.approx(full.log_det, rel=1e-9)


@pytest.mark.parametrize("hessian", ["exact", "fd"])
def test_update_refuses_curvature_that_is_not_an_outer_product(hessian):
    net, w, X, T = make_problem("gaussian", hidden=(), seed=11)
    post = laplace(net, w, X, T, 1.0, 1.0, hessian=hessian)
    with pytest.raises(ValueError, match="hessian='outer' or 'diag'.*not a sum of outer products"):
        post.update(X[:3], T[:3])


@pytest.mark.parametrize("structure, reason", [
    ({"hessian": "kron"}, "per-layer Kronecker factors"),
    ({"hessian": "lowrank", "rank": 3}, "only the top eigenpairs of the data Hessian"),
])
def test_update_refuses_a_structured_posterior_for_its_own_reason(structure, reason):
    net, w, X, T = make_problem("gaussian", hidden=(2,), seed=11)
    post = laplace(net, w, X, T, 1.0, 1.0, **structure)
    with pytest.raises(ValueError, match=f"hessian='outer' or 'diag'.*{reason}.*Call laplacenet.laplace on all") as ex:
        post.update(X[:3], T[:3])
    assert "indefinite" not in str(ex.value)


def test_update_validates_the_new_patterns():
    net, w, X, T = make_problem("gaussian", hidden=(2,), seed=12)
    post = laplace(net, w, X, T, 1.0, 1.0, hessian="outer")
    with pytest.raises(ValueError, match="X_new must have 3 columns"):
        post.update(X[:, :2], T)
    with pytest.raises(ValueError, match="T_new must have one row per row of X_new"):
        post.update(X[:3], T[:4])


def _saddle_problem():
    net, w, X, T = make_problem("gaussian", hidden=(4,), seed=13, weight_scale=2.0)
    A = full_hessian(net, w, X, T, 0.01, 1.0, method="exact")
    smallest = np.linalg.eigvalsh(A)[0]
    assert smallest < 0  # the precondition: w is not a minimum
    return net, w, X, T, A, smallest


def test_exact_hessian_not_positive_definite_raises_with_the_smallest_eigenvalue():
    net, w, X, T, A, smallest = _saddle_problem()
    for call in (laplace, log_evidence, reestimate):
        with pytest.raises(NotPositiveDefiniteError) as info:
            call(net, w, X, T, 0.01, 1.0, hessian="exact")
        assert isinstance(info.value, ValueError)
        assert info.value.min_eigenvalue == pytest.approx(smallest, rel=1e-8)
        message = str(info.value)
        assert "not positive definite" in message and "hessian='outer'" in message and "jitter" in message \
            and "train further" in message
    # The outer-product Hessian is positive definite at the same w; an explicit jitter repairs the exact one.
    assert laplace(net, w, X, T, 0.01, 1.0, hessian="outer").log_det > -np.inf
    jitter = 1.0 - smallest
    post = laplace(net, w, X, T, 0.01, 1.0, hessian="exact", jitter=jitter)
    assert relative_error(post.precision, A + jitter * np.eye(net.n_params)) <= 1e-12


def test_the_jitter_advised_is_the_total_to_pass_and_enough():
    # after jitter=j the advice was the eigenvalue's shortfall alone (-smallest - j): passing it failed again
    net, w, X, T, A, smallest = _saddle_problem()
    too_little = -0.5 * smallest
    with pytest.raises(NotPositiveDefiniteError) as info:
        laplace(net, w, X, T, 0.01, 1.0, hessian="exact", jitter=too_little)
    assert info.value.min_eigenvalue == pytest.approx(0.5 * smallest, rel=1e-8)
    advised = float(re.search(r"explicit jitter larger than (\S+) to add", str(info.value)).group(1))
    assert -smallest <= advised <= -smallest * (1 + 1e-2)  # the total, rounded up to three digits
    laplace(net, w, X, T, 0.01, 1.0, hessian="exact", jitter=advised * (1 + 1e-9))  # enough


def test_negative_eigenvalues_enter_gamma_with_their_sign():
    net, w, X, T, A, smallest = _saddle_problem()
    jitter = 0.5 - smallest
    step = reestimate(net, w, X, T, 0.01, 1.0, hessian="exact", jitter=jitter)
    lam = np.linalg.eigvalsh(A - 0.01 * np.eye(net.n_params)) + jitter
    assert step.gamma == pytest.approx(np.sum(lam / (0.01 + lam)), rel=1e-10)


def _problem_args(**changes):
    net, w, X, T = make_problem("gaussian", hidden=(2,), seed=14)
    args = {"net": net, "w_map": w, "X": X, "T": T, "alpha": 0.5, "beta": 2.0}
    args.update(changes)
    return args


@pytest.mark.parametrize("call", [laplace, log_evidence, reestimate])
@pytest.mark.parametrize("changes, match", [
    ({"alpha": np.nan}, "alpha must be positive and finite"),
    ({"alpha": 0.0}, "alpha must be positive and finite"),
    ({"alpha": -1.0}, "alpha must be positive and finite"),
    ({"alpha": [0.1, 0.2, 0.0, 0.3]}, "alpha must be positive and finite"),
    ({"alpha": [0.1, 0.2]}, "alpha must be a scalar or a vector of length 4"),
    ({"beta": np.inf}, "beta must be positive and finite"),
    ({"beta": 0.0}, "beta must be positive and finite"),
    ({"beta": None}, "beta must be a positive finite number"),
    ({"w_map": np.zeros(5)}, "w_map must be a vector of length"),
    ({"w_map": np.full(14, np.nan)}, "w_map must be finite"),
    ({"X": np.zeros((17, 2))}, "X must have 3 columns"),
])
def test_bad_input_names_the_argument(call, changes, match):
    args = _problem_args(**changes)
    with pytest.raises(ValueError, match=match):
        call(*args.values(), hessian="outer")


@pytest.mark.parametrize("call", [laplace, log_evidence, reestimate])
@pytest.mark.parametrize("options, match", [
    ({"hessian": "full"}, "hessian must be one of 'exact', 'outer', 'fd', 'diag'; got 'full'"),
    ({"jitter": -1.0}, "jitter must be a non-negative finite number"),
    ({"jitter": np.nan}, "jitter must be a non-negative finite number"),
    ({"chunk_size": 0}, "chunk_size must be an integer >= 1"),
])
def test_bad_options_are_named(call, options, match):
    with pytest.raises(ValueError, match=match):
        call(*_problem_args().values(), **{"hessian": "outer", **options})


def test_bad_predict_arguments_are_named():
    post = laplace(*_problem_args().values(), hessian="outer")
    with pytest.raises(ValueError, match="X_new must have 3 columns"):
        post.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="method must be one of 'linear', 'bridge', 'linear_mc', 'mc'; got 'probit'"):
        post.predict(np.zeros((2, 3)), method="probit")
    with pytest.raises(ValueError, match="method='bridge' is for classification"):
        post.predict(np.zeros((2, 3)), method="bridge")
    with pytest.raises(ValueError, match="n_samples must be an integer >= 2"):
        post.predict(np.zeros((2, 3)), method="mc", n_samples=1)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        post.sample(0)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seeds_are_named(seed):
    post = laplace(*_problem_args().values(), hessian="outer")
    X_new = np.zeros((2, 3))
    with pytest.raises(ValueError, match="seed must be None or a non-negative integer"):
        post.sample(5, seed=seed)
    for method in ("mc", "linear_mc", "linear"):
        with pytest.raises(ValueError, match="seed must be None or a non-negative integer"):
            post.predict(X_new, method=method, n_samples=4, seed=seed)
    # the seeds that were accepted still are, with the same draws
    assert np.array_equal(post.sample(3, seed=np.int64(4)), post.sample(3, seed=np.random.default_rng(4)))


def test_predict_flags_are_bools():
    # return_noise="no" added the noise variance, full_cov="no" returned the covariance: truthy strings
    post = laplace(*_problem_args().values(), hessian="outer")
    X_new = np.zeros((2, 3))
    for name in ("return_noise", "full_cov"):
        for bad in ("no", "False", [False], None):
            with pytest.raises(ValueError, match=re.escape(f"{name} must be True or False; got {bad!r}")):
                post.predict(X_new, **{name: bad})
    assert np.all(post.predict(X_new, return_noise=np.False_)[1] < post.predict(X_new)[1])  # numpy's bools pass


def test_diagonal_posterior():
    net, w, X, T = make_problem("categorical", hidden=(3,), seed=15)
    w, _ = ln.train(net, X, T, GROUPED, w0=w)
    post = laplace(net, w, X, T, GROUPED, hessian="diag")
    a = full_hessian(net, w, X, T, GROUPED, method="diag")
    assert post.precision.shape == (net.n_params,) and relative_error(post.precision, a) <= 1e-12
    assert relative_error(post.covariance(), 1 / a) <= 1e-12
    assert post.log_det == pytest.approx(np.sum(np.log(a)), rel=1e-12)
    X_new = np.random.default_rng(6).normal(size=(6, 3))
    _, var = post.predict(X_new, full_cov=True)
    assert relative_error(var, _explicit_activation_cov(net, w, X_new, np.diag(a))) <= 1e-10
    n = 40000
    draws = post.sample(n, seed=2)
    assert np.all(np.abs(draws.var(axis=0) * a - 1) <= 5 * np.sqrt(2 / n))


def test_diagonal_update_equals_the_rebuilt_posterior():
    net, w, X, T = make_problem("gaussian", hidden=(4,), n=24, seed=16)
    w, _ = ln.train(net, X, T, 0.9, 2.0, w0=w)
    full = laplace(net, w, X, T, 0.9, 2.0, hessian="diag")
    updated = laplace(net, w, X[:10], T[:10], 0.9, 2.0, hessian="diag").update(X[10:], T[10:])
    assert relative_error(updated.precision, full.precision) <= 1e-12
    assert updated.log_det == pytest.approx(full.log_det, rel=1e-12) and updated.n_data == 24


def test_diagonal_precision_with_a_negative_entry_raises():
    net, w, X, T = make_problem("gaussian", hidden=(4,), seed=13, weight_scale=2.0)
    a = full_hessian(net, w, X, T, 0.01, 1.0, method="diag")
    assert a.min() < 0  # the precondition: the Becker-Le Cun diagonal is not positive here
    with pytest.raises(NotPositiveDefiniteError) as info:
        laplace(net, w, X, T, 0.01, 1.0, hessian="diag")
    assert info.value.min_eigenvalue == pytest.approx(a.min(), rel=1e-12)


@pytest.mark.parametrize("hessian", ["exact", "outer", "diag", "kron"])
def test_posterior_log_evidence_equals_log_evidence(hessian):
    rng = np.random.default_rng(4)
    net = ln.MLP([2, 3, 1])
    X = rng.normal(size=(30, 2))
    T = np.sin(X[:, :1]) + 0.1 * rng.normal(size=(30, 1))
    w, _ = ln.train(net, X, T, 1.0, 50.0, seed=0)
    posterior = ln.laplace(net, w, X, T, 1.0, 50.0, hessian=hessian)
    expected = ln.log_evidence(net, w, X, T, 1.0, 50.0, hessian=hessian, symmetry=True)
    assert posterior.log_evidence(X, T, symmetry=True) == pytest.approx(expected, rel=1e-12)
    assert posterior.log_evidence(X, T, terms=True).total == pytest.approx(posterior.log_evidence(X, T), rel=1e-14)
    with pytest.raises(ValueError, match="X must hold the 30 patterns"):
        posterior.log_evidence(X[:10], T[:10])


@pytest.mark.parametrize("hessian", ["outer", "diag", "kron"])
def test_solve_is_the_inverse_precision_times_b(hessian):
    net, w, X, T = make_problem("gaussian", hidden=(3,), n_outputs=2, n=30, seed=6)
    w, _ = ln.train(net, X, T, 0.7, 2.0, w0=w, gtol=1e-10)
    post = laplace(net, w, X, T, 0.7, 2.0, hessian=hessian)
    A = post.precision.to_dense() if hasattr(post.precision, "to_dense") else np.asarray(post.precision)
    A = np.diag(A) if A.ndim == 1 else A
    B = np.random.default_rng(0).normal(size=(net.n_params, 3))
    assert relative_error(post.solve(B), np.linalg.solve(A, B)) <= 1e-10
    assert relative_error(post.solve(B[:, 0]), np.linalg.solve(A, B[:, 0])) <= 1e-10
    if hessian == "outer":  # the inverse kept by Woodbury updates
        updated = post.update(X[:5], T[:5])
        A_updated = np.asarray(updated.precision)
        assert relative_error(updated.solve(B), np.linalg.solve(A_updated, B)) <= 1e-10
    with pytest.raises(ValueError, match=r"B must have shape \(%d,\)" % net.n_params):
        post.solve(B[:-1])
    with pytest.raises(ValueError, match="B must be finite"):
        post.solve(np.full(net.n_params, np.nan))
    with pytest.raises(ValueError, match="B must be a real"):
        post.solve(["a"] * net.n_params)


@pytest.mark.parametrize("structure", [{"hessian": "outer"}, {"hessian": "diag"}, {"hessian": "kron"},
                                       {"hessian": "lowrank", "rank": 3, "lowrank_diag": True},
                                       {"hessian": "exact", "subset": "last_layer"}, {"hessian": "outer", "update": 4}])
@pytest.mark.parametrize("likelihood", ["gaussian", "categorical"])
def test_from_state_rebuilds_every_form_of_the_posterior_bit_for_bit(structure, likelihood):
    structure = dict(structure)
    update = structure.pop("update", 0)
    net, w, X, T = make_problem(likelihood, hidden=(3,), seed=4, n=17 + update)
    beta = np.array([2.0, 5.0]) if likelihood == "gaussian" else None
    w, _ = ln.train(net, X, T, GROUPED, beta, w0=w)  # a minimum, so that every A is positive definite
    post = laplace(net, w, X[update:], T[update:], GROUPED, beta, jitter=0.5, chunk_size=7, **structure)
    if update:
        post = post.update(X[:update], T[:update])  # A^-1 kept by Woodbury
    state = post.to_state()
    plain = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    assert all(v is None or isinstance(v, (str, int, float)) for v in plain.values())
    assert plain["form"] in ln.bayes.laplace.FORMS and ("beta" in state) == (beta is not None)
    rebuilt = LaplacePosterior.from_state(net, state)
    assert type(rebuilt._form) is type(post._form) and rebuilt.net is net
    assert (rebuilt.hessian, rebuilt.subset, rebuilt.jitter, rebuilt.chunk_size, rebuilt.n_data, rebuilt.log_det) == \
        (post.hessian, post.subset, post.jitter, post.chunk_size, post.n_data, post.log_det)
    assert type(rebuilt.alpha) is type(post.alpha) and np.array_equal(rebuilt.alpha, post.alpha)
    assert (beta is None and rebuilt.beta is None) or np.array_equal(rebuilt.beta, post.beta)
    again = rebuilt.to_state()
    assert list(again) == list(state)
    assert all(np.array_equal(again[k], v) if isinstance(v, np.ndarray) else again[k] == v for k, v in state.items())
    X_new = np.random.default_rng(5).normal(size=(6, 3))
    (mean, variance), (expected_mean, expected_variance) = rebuilt.predict(X_new), post.predict(X_new)
    assert np.array_equal(mean, expected_mean) and np.array_equal(variance, expected_variance)
    assert np.array_equal(rebuilt.variances(), post.variances())
    assert np.array_equal(rebuilt.sample(3, seed=1), post.sample(3, seed=1))


def test_from_state_refuses_an_unknown_form():
    net, w, X, T = make_problem("bernoulli", hidden=(2,), seed=1)
    state = dict(laplace(net, w, X, T, 1.0, hessian="outer").to_state(), form="dense")
    with pytest.raises(ValueError, match="form must be one of 'cholesky', .*; got 'dense'"):
        LaplacePosterior.from_state(net, state)
