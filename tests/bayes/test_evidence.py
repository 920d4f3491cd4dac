import math
import pathlib
import runpy
import warnings

import numpy as np
import pytest

import laplacenet as ln
from laplacenet.check import relative_error
from laplacenet.core.routes import hessian as full_hessian
from laplacenet.bayes.evidence import EvidenceTerms, log_evidence, log_evidence_gradient, reestimate
from laplacenet.bayes.reestimation import effective_parameters
from laplacenet.bayes.hyper import EvidenceCycle, EvidenceOptions, EvidenceResult, _warn_if_unsettled, fit_evidence
from laplacenet.core.exceptions import ConvergenceWarning, EvidenceConvergenceWarning
from laplacenet.bayes.laplace import laplace

from tests.problems import make_problem, symmetry_of, wald_counts

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "sinusoid_evidence.py"


def _sinusoid(n=30, seed=0, noise_sd=0.1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 1))
    return x, np.sin(2 * np.pi * x) + noise_sd * rng.normal(size=x.shape)


def test_terms_add_up_and_match_an_independent_computation():
    net, w, X, T = make_problem("gaussian", hidden=(3, 2), n_outputs=2, n=60, seed=1, weight_scale=4.0)
    alpha = np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2])
    beta = np.array([20.0, 5.0])
    terms = log_evidence(net, w, X, T, alpha, beta, hessian="outer", symmetry=True, terms=True)
    assert isinstance(terms, EvidenceTerms)
    N, K = X.shape[0], 2
    alpha_w = np.repeat(alpha, net.group_sizes)
    A = full_hessian(net, w, X, T, alpha, beta, method="outer")
    # the symmetry term counts the units whose weights the posterior tells from zero: here some, not all
    counts = wald_counts(net.sizes, w, np.diag(np.linalg.inv(A)))
    assert terms.n_distinguishable == counts == (1, 2)
    expected = {
        "data_fit": -ln.error(net, w, X, T, 0.0, beta),
        "prior": -0.5 * np.sum(alpha_w * w * w),
        "log_det": -0.5 * np.linalg.slogdet(A)[1],
        "log_alpha": 0.5 * np.sum(np.log(alpha_w)),
        "log_beta": N / 2 * np.sum(np.log(beta)),
        "log_2pi": -N * K / 2 * np.log(2 * np.pi),
        "symmetry": math.lgamma(2) + 1 * math.log(2) + math.lgamma(3) + 2 * math.log(2),
    }
    for name, value in expected.items():
        assert getattr(terms, name) == pytest.approx(value, rel=1e-12), name
    assert terms.total == pytest.approx(sum(expected.values()), rel=1e-12)
    total = log_evidence(net, w, X, T, alpha, beta, hessian="outer")  # symmetry=True is the default
    assert isinstance(total, float) and total == terms.total
    plain = log_evidence(net, w, X, T, alpha, beta, hessian="outer", symmetry=False, terms=True)
    assert plain.symmetry == 0.0 and plain.n_distinguishable is None
    assert total - plain.total == pytest.approx(expected["symmetry"], rel=1e-12)


@pytest.mark.parametrize("likelihood", ["bernoulli", "categorical"])
def test_classification_evidence_has_no_noise_terms(likelihood):
    net, w, X, T = make_problem(likelihood, hidden=(3,), seed=2)
    terms = log_evidence(net, w, X, T, 0.7, beta=123.0, hessian="outer", terms=True)
    assert terms.log_beta == 0.0 and terms.log_2pi == 0.0
    assert terms.symmetry == pytest.approx(symmetry_of(terms.n_distinguishable), rel=1e-12)
    assert terms.data_fit == pytest.approx(-ln.error(net, w, X, T, 0.0), rel=1e-12)
    assert terms.total == log_evidence(net, w, X, T, 0.7, hessian="outer")  # PRML (5.183): beta plays no part


def test_grouped_and_scalar_routes_to_gamma_agree():
    """gamma = sum lambda/(alpha + lambda) (5.179) = W - alpha tr(A^-1) = sum_g gamma_g for equal alphas."""
    net, w, X, T = make_problem("gaussian", hidden=(4,), seed=3)
    scalar = reestimate(net, w, X, T, 0.6, 2.0, hessian="outer")
    grouped = reestimate(net, w, X, T, np.full(4, 0.6), 2.0, hessian="outer")
    assert grouped.gamma == pytest.approx(scalar.gamma, rel=1e-10)
    assert grouped.gamma_groups.sum() == pytest.approx(scalar.gamma, rel=1e-10)
    assert np.all(grouped.gamma_groups > 0) and np.all(grouped.gamma_groups < net.group_sizes)
    assert grouped.beta == pytest.approx(scalar.beta, rel=1e-10)
    norms = np.bincount(net.group_index, weights=w * w)
    assert relative_error(grouped.alpha, grouped.gamma_groups / norms) <= 1e-12
    assert scalar.alpha == pytest.approx(scalar.gamma / (w @ w), rel=1e-12)


@pytest.mark.parametrize("options", [{"hessian": "outer"}, {"hessian": "diag", "jitter": 20.0}, {"hessian": "kron"},
                                     {"hessian": "lowrank", "rank": 6}, {"hessian": "outer", "subset": "last_layer"}])
@pytest.mark.parametrize("grouped", [False, True])
def test_effective_parameters_is_the_gamma_of_reestimation(options, grouped):
    """One gamma (5.179) for a posterior, the re-estimation's, on every structure and subset."""
    net, w, X, T = make_problem("gaussian", hidden=(4,), seed=3)
    alpha = np.array([0.4, 0.6, 0.8, 1.0]) if grouped else 0.6
    posterior = laplace(net, w, X, T, alpha, 2.0, **options)
    step = reestimate(net, w, X, T, alpha, 2.0, **options)
    assert effective_parameters(posterior) == pytest.approx(step.gamma, rel=1e-12)
    # W - sum_i alpha_i (A^-1)_ii over the weights the posterior covers, as the estimators once summed it
    covered = posterior.subset_slice
    variances = posterior.variances()[covered]
    prior = np.broadcast_to(alpha, net.n_groups)[net.group_index][covered]
    assert effective_parameters(posterior) == pytest.approx(variances.size - prior @ variances, rel=1e-10)


def test_vector_beta_reduces_to_5_180_when_tied():
    net, w, X, T = make_problem("gaussian", hidden=(3,), n_outputs=3, seed=4)
    N, K = X.shape[0], 3
    tied = reestimate(net, w, X, T, 0.5, 4.0, hessian="outer")
    per_output = reestimate(net, w, X, T, 0.5, np.full(K, 4.0), hessian="outer")
    assert per_output.gamma_outputs.sum() == pytest.approx(tied.gamma, rel=1e-10)
    assert per_output.alpha == pytest.approx(tied.alpha, rel=1e-10)
    # sum_k (N - gamma_k) / beta_k = sum_n ||y_n - t_n||^2 = (N K - gamma) / beta (5.180).
    assert np.sum((N - per_output.gamma_outputs) / per_output.beta) == \
        pytest.approx((N * K - tied.gamma) / tied.beta, rel=1e-10)
    residuals = np.sum((net.forward(w, X) - T) ** 2, axis=0)
    assert relative_error(per_output.beta, (N - per_output.gamma_outputs) / residuals) <= 1e-12


def test_one_output_vector_beta_equals_scalar_beta():
    net, w, X, T = make_problem("gaussian", hidden=(3,), n_outputs=1, seed=5)
    scalar = reestimate(net, w, X, T, 0.5, 4.0, hessian="outer")
    vector = reestimate(net, w, X, T, 0.5, [4.0], hessian="outer")
    assert vector.beta == pytest.approx(scalar.beta, rel=1e-10)
    assert log_evidence(net, w, X, T, 0.5, [4.0], hessian="outer") == \
        pytest.approx(log_evidence(net, w, X, T, 0.5, 4.0, hessian="outer"), rel=1e-12)


def test_reestimate_refuses_zero_weights():
    net, w, X, T = make_problem("gaussian", hidden=(3,), seed=6)
    with pytest.raises(ValueError, match=r"w\^T w must be positive"):
        reestimate(net, np.zeros_like(w), X, T, 0.5, 4.0, hessian="outer")
    w_grouped = w.copy()
    w_grouped[net.group_index == 1] = 0.0
    with pytest.raises(ValueError, match=r"\|\|w_g\|\|\^2 of prior group must be positive; got b1: 0"):
        reestimate(net, w_grouped, X, T, np.ones(4), 4.0, hessian="outer")


def test_negative_exact_eigenvalues_that_make_gamma_negative_raise():
    """A hidden unit pruned to zero gives the exact data Hessian an eigenvalue pair +-c; with alpha just above
    c, w is a minimum of E (A is positive definite) but gamma is far below zero."""
    net = ln.MLP([1, 1, 1])
    X, T = _sinusoid(n=20, seed=7)
    T = T - T.mean()
    w = np.zeros(net.n_params)  # centred targets and a dead unit: the gradient of E vanishes for any alpha
    H = full_hessian(net, w, X, T, 0.0, 1.0, method="exact")
    lam = np.linalg.eigvalsh(H)
    alpha = -1.05 * lam[0]
    assert np.linalg.norm(ln.gradient(net, w, X, T, alpha, 1.0)) < 1e-12
    assert lam[0] < 0 and np.all(lam + alpha > 0) and np.sum(lam / (alpha + lam)) < 0  # the precondition
    with pytest.raises(ValueError, match="gamma must be positive.*negative eigenvalues.*hessian='outer'"):
        reestimate(net, w, X, T, alpha, 1.0, hessian="exact")
    assert laplace(net, w, X, T, alpha, 1.0, hessian="exact").log_det > -np.inf  # A is positive definite


def test_fit_evidence_fixed_point_of_a_network():
    """At the fixed point of (5.178), (5.180) alpha w^T w = gamma and beta sum ||y - t||^2 = N - gamma,
    so E(w_MAP) = N / 2 for one output: MacKay's loop ends there (and returns the best state it saw)."""
    X, T = _sinusoid()
    net = ln.MLP([1, 3, 1])
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvidenceConvergenceWarning)  # small evidence dips are expected here
        result = fit_evidence(net, X, T, 0.1, 10.0, hessian="outer", method="fixed_point", cycles=60, tol=1e-9,
                              seed=0, callback=seen.append, train_kwargs={"gtol": 1e-9},
                              options={"patience": 60})
    assert isinstance(result, EvidenceResult) and result.converged
    assert seen == result.history and all(isinstance(c, EvidenceCycle) for c in seen)
    assert [c.cycle for c in seen] == list(range(len(seen)))
    assert seen[-1].train_error == pytest.approx(X.shape[0] / 2, rel=1e-6)
    best = result.history[result.best_cycle]
    assert (best.alpha, best.beta, best.log_evidence) == (result.alpha, result.beta, result.log_evidence)
    assert result.log_evidence == max(c.log_evidence for c in seen)
    # the loop's objective is the log evidence without the symmetry term
    assert result.log_evidence == pytest.approx(log_evidence(net, result.w, X, T, result.alpha, result.beta,
                                                             hessian="outer", symmetry=False), rel=1e-12)
    assert np.array_equal(result.posterior.mean, result.w)


def test_falling_evidence_is_warned_about():
    history = [EvidenceCycle(0, c, 0.1, 1.0, 2.0, L, 5.0, True) for c, L in enumerate([1.0, 3.0, 2.5, 2.5])]
    run = EvidenceResult(np.zeros(2), 0.1, 1.0, 2.0, 3.0, history, True, None, best_cycle=1)
    with pytest.warns(EvidenceConvergenceWarning, match=r"fell by more than fall_tol=0.1 1 times .* the best "
                                                        r"state, cycle 1, is returned"):
        _warn_if_unsettled(run, EvidenceOptions(method="fixed_point", fall_tol=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_unsettled(run, EvidenceOptions(method="fixed_point", fall_tol=1.0))  # a small dip is quiet
        _warn_if_unsettled(run, EvidenceOptions(method="gradient", fall_tol=0.1))  # never accepts a fall


def test_fit_evidence_restarts_keep_the_highest_evidence():
    X, T = _sinusoid(n=20, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = fit_evidence(ln.MLP([1, 2, 1], likelihood="gaussian"), X, T, 0.1, 10.0, hessian="outer",
                              cycles=5, restarts=3, seed=2)
    assert len(result.restarts) == 3
    evidences = [run.log_evidence for run in result.restarts]
    assert result.log_evidence == max(evidences) == evidences[result.best_restart]
    assert [run.history[0].restart for run in result.restarts] == [0, 1, 2]


def test_fit_evidence_classification_reestimates_alpha_only():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(40, 2))
    T = (X[:, 0] * X[:, 1] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = fit_evidence(ln.MLP([2, 3, 1], likelihood="bernoulli"), X, T, 0.5, hessian="outer", cycles=10)
    assert result.beta is None and all(c.beta is None for c in result.history)
    assert result.alpha > 0 and 0 < result.gamma < 13


@pytest.mark.parametrize("kwargs, match", [
    ({"cycles": 0}, "cycles must be an integer >= 1"),
    ({"restarts": 0}, "restarts must be an integer >= 1"),
    ({"tol": 0.0}, "tol must be a positive finite number"),
    ({"tol": np.nan}, "tol must be a positive finite number"),
    ({"fall_tol": -1.0}, "fall_tol must be a non-negative finite number"),
    ({"callback": 3}, "callback must be callable"),
    ({"train_kwargs": {"seed": 1}}, r"train_kwargs must not set \['seed'\]"),
    ({"w0": np.zeros(3)}, "w0 must be a vector of length 7"),
    ({"alpha": 0.0}, "alpha must be positive and finite"),
    ({"beta": -1.0}, "beta must be positive and finite"),
    ({"hessian": "full"}, "hessian must be one of"),
])
def test_fit_evidence_bad_input_is_named(kwargs, match):
    X, T = _sinusoid(n=10)
    args = {"alpha": 0.1, "beta": 10.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        fit_evidence(ln.MLP([1, 2, 1]), X, T, **args)


def test_sinusoid_example_recovers_the_noise_and_widens_the_error_bars(capsys):
    out = runpy.run_path(str(EXAMPLE))["main"]()
    printed = capsys.readouterr().out
    assert "log evidence" in printed and "std" in printed
    result = out["result"]
    assert result.converged
    assert abs(result.beta / out["true_beta"] - 1) <= 0.25
    x, std = out["x"], out["std"]
    inside, outside = std[(x >= 0) & (x <= 1)], std[(x < -0.2) | (x > 1.2)]
    assert outside.min() > 3 * inside.max()
    # The error bars grow monotonically as x leaves the data on either side.
    assert np.all(np.diff(std[x <= 0]) < 0) and np.all(np.diff(std[x >= 1]) > 0)


def _five_point(f, x, h=1e-3):
    """Central difference of order 4: error O(h^4) + rounding O(eps |f| / h)."""
    return (f(x - 2 * h) - 8 * f(x - h) + 8 * f(x + h) - f(x + 2 * h)) / (12 * h)


@pytest.mark.parametrize("likelihood, alpha, beta, structure", [
    ("gaussian", 0.7, 2.5, {"hessian": "outer"}),
    ("gaussian", np.array([0.5, 2.0, 1.5, 3.0]), 2.5, {"hessian": "exact"}),
    ("gaussian", 0.7, np.array([2.5, 0.5]), {"hessian": "outer"}),
    ("gaussian", np.array([0.5, 2.0, 1.5, 3.0]), 2.5, {"hessian": "diag"}),
    ("gaussian", 0.7, 2.5, {"hessian": "kron"}),
    ("gaussian", np.array([0.5, 2.0, 1.5, 3.0]), 2.5, {"hessian": "outer", "subset": "last_layer"}),
    ("bernoulli", 1.3, None, {"hessian": "exact"}),
    ("categorical", np.array([0.5, 2.0, 1.5, 3.0]), None, {"hessian": "outer"}),
])
def test_gradient_of_the_log_evidence_matches_finite_differences(likelihood, alpha, beta, structure):
    K = {"gaussian": np.size(beta), "bernoulli": 1, "categorical": 3}[likelihood]
    net, _, X, T = make_problem(likelihood, hidden=(4,), n_outputs=K, n=40, seed=4)
    w, _ = ln.train(net, X, T, alpha, beta, seed=0, gtol=1e-9)
    grad = log_evidence_gradient(net, w, X, T, alpha, beta, **structure)
    evidence = lambda a, b: log_evidence(net, w, X, T, a, b, symmetry=False, **structure)  # the smooth part
    for g in range(np.size(alpha)):
        expected = _five_point(lambda u, g=g: evidence(_scaled(alpha, g, u), beta), 0.0)
        assert np.ravel(grad.alpha)[g] == pytest.approx(expected, rel=1e-7, abs=1e-9)
    if beta is None:
        assert grad.beta is None
        return
    for k in range(np.size(beta)):
        expected = _five_point(lambda u, k=k: evidence(alpha, _scaled(beta, k, u)), 0.0)
        assert np.ravel(grad.beta)[k] == pytest.approx(expected, rel=1e-7, abs=1e-9)


def _scaled(value, index, u):
    """``value`` (a number or a vector) with element ``index`` multiplied by e^u."""
    if np.ndim(value) == 0:
        return value * np.exp(u)
    value = np.array(value, dtype=float)
    value[index] *= np.exp(u)
    return value


def test_the_gradient_vanishes_at_the_fixed_point_of_re_estimation():
    """d ln Z / d ln alpha = (gamma - alpha w^T w) / 2 = 0 exactly when alpha = gamma / w^T w (5.178)."""
    net, _, X, T = make_problem("gaussian", hidden=(3,), n_outputs=1, n=30, seed=2)
    w, _ = ln.train(net, X, T, 0.4, 3.0, seed=0, gtol=1e-10)
    step = reestimate(net, w, X, T, 0.4, 3.0, hessian="outer")
    grad = log_evidence_gradient(net, w, X, T, 0.4, 3.0, hessian="outer")
    assert grad.alpha == pytest.approx(0.5 * (step.gamma - 0.4 * w @ w), rel=1e-12)
    residual = np.sum((net.forward(w, X) - T) ** 2)
    assert grad.beta == pytest.approx(0.5 * (X.shape[0] - step.gamma - 3.0 * residual), rel=1e-12)


@pytest.mark.parametrize("alpha, hessian", [(0.7, "outer"), (np.array([0.5, 2.0, 1.5, 3.0]), "outer"),
                                            (np.array([0.5, 2.0, 1.5, 3.0]), "diag")])
def test_the_hessian_of_the_log_evidence_in_log_hyperparameters_matches_finite_differences(alpha, hessian):
    from laplacenet.bayes.evidence import evidence_hessian, evidence_slope
    from laplacenet.bayes.reestimation import data_curvature, evidence_statistics
    from laplacenet.bayes.laplace import build_posterior
    net, _, X, T = make_problem("gaussian", hidden=(4,), n_outputs=1, n=40, seed=5)
    w, _ = ln.train(net, X, T, alpha, 2.0, seed=0, gtol=1e-9)
    X, T = ln.core._validation.check_data(net, X, T)

    def model(theta):
        a = np.exp(theta[:-1]) if np.ndim(alpha) else float(np.exp(theta[0]))
        b = float(np.exp(theta[-1]))
        H, pieces = data_curvature(net, w, X, T, b, hessian)
        posterior = build_posterior(net, w, X, T, a, b, hessian, H=H)
        stats = evidence_statistics(net, w, X, T, a, b, pieces, posterior)
        return evidence_slope(X, a, b, stats, 1), evidence_hessian(net, a, b, stats, posterior)

    theta = np.log(np.append(np.atleast_1d(alpha), 2.0))
    slope, hess = model(theta)
    columns = [_five_point(lambda u, e=e: model(theta + u * e)[0], 0.0) for e in np.eye(theta.size)]
    assert np.allclose(hess, np.column_stack(columns), rtol=1e-6, atol=1e-8)
    assert np.array_equal(hess, hess.T) and np.all(np.linalg.eigvalsh(hess) < 0)  # concave at fixed w


def _retrained_evidence(net, w, X, T, alpha, beta, **structure):
    """ln Z without the symmetry term at w_MAP(alpha, beta), trained from ``w`` to a converged minimum."""
    w_ab, report = ln.train(net, X, T, alpha, beta, w0=w, gtol=1e-12)
    assert report.converged
    return log_evidence(net, w_ab, X, T, alpha, beta, symmetry=False, **structure)


@pytest.mark.parametrize("likelihood, alpha, beta, hessian", [
    ("gaussian", 0.7, 2.5, "exact"),
    ("gaussian", np.array([0.5, 2.0, 1.5, 3.0]), np.array([2.5, 0.5]), "exact"),
    ("bernoulli", 1.3, None, "exact"),
    ("categorical", np.array([0.5, 2.0, 1.5, 3.0]), None, "exact"),
    ("gaussian", 0.7, 2.5, "outer"),
    ("categorical", np.array([0.5, 2.0, 1.5, 3.0]), None, "outer"),
    ("bernoulli", 1.3, None, "diag"),
    ("gaussian", 0.7, 2.5, "kron"),
])
def test_the_gradient_with_w_retrained_matches_finite_differences_of_the_retrained_evidence(likelihood, alpha, beta,
                                                                                             hessian):
    """d ln Z(alpha, beta, w_MAP(alpha, beta)) / d theta for dense, diagonal and Kronecker posteriors; dw/dtheta by
    the implicit function theorem on the exact Hessian of E (by CG where the posterior's A is another)."""
    K = {"gaussian": np.size(beta), "bernoulli": 1, "categorical": 3}[likelihood]
    net, _, X, T = make_problem(likelihood, hidden=(4,), n_outputs=K, n=40, seed=4)
    w, _ = ln.train(net, X, T, alpha, beta, seed=0, gtol=1e-12)
    grad = log_evidence_gradient(net, w, X, T, alpha, beta, hessian=hessian, retrained=True)
    at_fixed_w = log_evidence_gradient(net, w, X, T, alpha, beta, hessian=hessian)

    def retrained(a, b):
        return _retrained_evidence(net, w, X, T, a, b, hessian=hessian)

    pairs = [(np.ravel(grad.alpha)[g], np.ravel(at_fixed_w.alpha)[g],
              _five_point(lambda u, g=g: retrained(_scaled(alpha, g, u), beta), 0.0)) for g in range(np.size(alpha))]
    pairs += [(np.ravel(grad.beta)[k], np.ravel(at_fixed_w.beta)[k],
               _five_point(lambda u, k=k: retrained(alpha, _scaled(beta, k, u)), 0.0)) for k in range(np.size(beta))
              if beta is not None]
    scale = max(abs(expected) for _, _, expected in pairs)
    for total, fixed, expected in pairs:  # the change of ln|A| along dw/dtheta: a central difference
        assert total == pytest.approx(expected, rel=1e-6, abs=1e-6 * scale)
    assert max(abs(fixed - expected) for _, fixed, expected in pairs) > 1e-3  # w moving matters here


def test_the_gradient_with_w_retrained_of_a_last_layer_posterior_with_grouped_alpha():
    """Softmax, one alpha per layer's weights and biases: the output layer's two groups are the hyperparameters; all
    weights move with them, and the hidden layer's prior (outside ln Z) takes part through dw/dtheta."""
    net, _, X, T = make_problem("categorical", hidden=(4,), n_outputs=3, n=40, seed=4)
    alpha = np.array([0.5, 2.0, 1.5, 3.0])
    w, _ = ln.train(net, X, T, alpha, seed=0, gtol=1e-12)
    structure = {"hessian": "outer", "subset": "last_layer"}
    total = log_evidence_gradient(net, w, X, T, alpha, retrained=True, **structure).alpha
    fixed = log_evidence_gradient(net, w, X, T, alpha, **structure).alpha
    assert total[0] == total[1] == 0.0  # the hidden layer's groups are not the posterior's
    for g in (2, 3):
        expected = _five_point(lambda u: _retrained_evidence(net, w, X, T, _scaled(alpha, g, u), None, **structure),
                               0.0)
        assert total[g] == pytest.approx(expected, rel=1e-6)
        assert abs(fixed[g] - expected) > 1e-3


@pytest.mark.parametrize("structure", [{"hessian": "lowrank", "rank": 5}, {"hessian": "outer", "subset": "last_layer"},
                                       {"hessian": "exact", "subset": "last_layer"}])
def test_the_gradient_with_w_retrained_of_the_low_rank_and_subset_posteriors(structure):
    """Low rank: a difference of ln|A| along dw/dtheta, against the retrained evidence. A subset posterior: every
    weight is retrained (dw/dtheta by CG over all of them), and the subset's A changes along it."""
    net, _, X, T = make_problem("gaussian", hidden=(4,), n_outputs=1, n=40, seed=4)
    w, _ = ln.train(net, X, T, 0.7, 2.5, seed=0, gtol=1e-12)
    total = log_evidence_gradient(net, w, X, T, 0.7, 2.5, retrained=True, **structure)
    fixed = log_evidence_gradient(net, w, X, T, 0.7, 2.5, **structure)

    def retrained(a, b):
        return _retrained_evidence(net, w, X, T, a, b, **structure)

    assert total.alpha == pytest.approx(_five_point(lambda u: retrained(0.7 * np.exp(u), 2.5), 0.0), rel=1e-6)
    assert total.beta == pytest.approx(_five_point(lambda u: retrained(0.7, 2.5 * np.exp(u)), 0.0), rel=1e-6)
    assert abs(total.alpha - fixed.alpha) > 0.1


@pytest.mark.parametrize("likelihood, beta", [("gaussian", 2.5), ("categorical", None)])
def test_dw_dtheta_by_the_factored_hessian_and_by_conjugate_gradients_agree(monkeypatch, likelihood, beta):
    """Where forming and factoring the exact Hessian costs less than the CG products, dw/dtheta = -H^-1 P comes
    from its Cholesky factor; conjugate gradients (forced here) reach the same to their tolerance."""
    from laplacenet.bayes import evidence as evidence_module
    net, _, X, T = make_problem(likelihood, hidden=(4,), n=40, seed=4)
    w, _ = ln.train(net, X, T, 0.7, beta, seed=0, gtol=1e-12)
    w_, X_, T_, alpha_, beta_ = ln.core.objective.validate_problem(net, w, X, T, 0.7, beta)
    posterior = laplace(net, w, X, T, 0.7, beta, hessian="outer")
    P = np.column_stack([0.7 * w_, np.linspace(-1.0, 1.0, w_.size)])
    formed = []
    monkeypatch.setattr(evidence_module, "data_hessian", lambda *a: formed.append(1) or full_hessian(*a[:4], 0.0,
                                                                                                     *a[4:6]))
    dense = evidence_module._weight_moves(net, w_, X_, T_, alpha_, beta_, P, posterior, None, maxiter=40)
    assert formed == [1]
    H = full_hessian(net, w_, X_, T_, alpha_, beta_, "exact")
    assert relative_error(H @ dense, -P) <= 1e-10  # the implicit function theorem's -H^-1 P, to rounding
    monkeypatch.setattr(evidence_module, "dense_iteration_cost", lambda *a: np.inf)
    by_cg = evidence_module._weight_moves(net, w_, X_, T_, alpha_, beta_, P, posterior, None, maxiter=400)
    assert formed == [1]  # not formed again
    assert relative_error(by_cg, dense) <= 1e-7
    monkeypatch.undo()
    monkeypatch.setattr(evidence_module, "data_hessian", lambda *a: formed.append(1) or full_hessian(*a[:4], 0.0,
                                                                                                     *a[4:6]))
    previous = ln.set_matrix_budget(8 * w_.size ** 2 - 1)  # one byte short of H: conjugate gradients again
    try:
        over_budget = evidence_module._weight_moves(net, w_, X_, T_, alpha_, beta_, P, posterior, None, maxiter=400)
    finally:
        ln.set_matrix_budget(previous)
    assert formed == [1] and relative_error(over_budget, dense) <= 1e-7


def test_the_gradient_with_w_retrained_is_the_one_at_fixed_w_for_a_linear_gaussian_model():
    """No hidden layer: A = beta Phi^T Phi + alpha I does not depend on w, and MacKay's fixed point is the maximum."""
    net, _, X, T = make_problem("gaussian", hidden=(), n_outputs=1, n=30, seed=3)
    w, _ = ln.train(net, X, T, 0.4, 3.0, gtol=1e-12)
    for hessian in ("exact", "outer", "diag", "kron"):  # a difference of curvatures, or of ln|A| (kron)
        total = log_evidence_gradient(net, w, X, T, 0.4, 3.0, hessian=hessian, retrained=True)
        fixed = log_evidence_gradient(net, w, X, T, 0.4, 3.0, hessian=hessian)
        assert (total.alpha, total.beta) == (fixed.alpha, fixed.beta)
    with pytest.raises(TypeError, match="retrained"):
        log_evidence_gradient(net, w, X, T, 0.4, 3.0, retrained="yes")
