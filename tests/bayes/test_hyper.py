"""The evidence loop (laplacenet.bayes.hyper): the guard, the three methods, starting values, options."""
import warnings

import numpy as np
import pytest

import laplacenet as ln
from laplacenet.datasets import load_penguins
from laplacenet.bayes.reestimation import EvidenceStatistics
from laplacenet.core.exceptions import EvidenceConvergenceWarning, NotPositiveDefiniteError
from laplacenet.bayes._hyper_gradient import _concave
from laplacenet.bayes._hyper_guard import negative_data_curvature as _negative_data_curvature
from laplacenet.bayes._hyper_methods import Coordinates as _Coordinates, fixed_point as _fixed_point
from laplacenet.bayes.hyper import _Problem, fit_evidence, starting_alpha, starting_beta
from laplacenet.bayes.hyper_types import EVIDENCE_METHODS, EvidenceCycle, EvidenceOptions, EvidenceResult


def _sinusoid(n=30, seed=0, noise_sd=0.1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 1))
    return x, np.sin(2 * np.pi * x) + noise_sd * rng.normal(size=x.shape)


# --- the guard ---------------------------------------------------------------------------------------

class _ScriptedProblem:
    """Stands in for the loop's problem: every evaluation returns the next scripted log evidence."""

    def __init__(self, evidences, trained=None):
        self.evidences = list(evidences)
        self.trained = [True] * len(self.evidences) if trained is None else list(trained)
        self.history = []

    def evaluate(self, alpha, beta, w0, maxiter=None, accepted=True):
        evidence = self.evidences[len(self.history)]
        if isinstance(evidence, Exception):  # the training or the posterior failed at this cycle
            raise evidence
        report = ln.TrainReport(self.trained[len(self.history)], 1, 0.0, 0.0, "")
        stats = EvidenceStatistics(np.zeros(1, dtype=int), np.ones(1), np.ones(1), None, None, None)
        state = _State(alpha, beta, np.array([float(len(self.history))]), report, None, evidence, stats,
                       len(self.history))
        self.history.append(EvidenceCycle(0, state.cycle, alpha, beta, 1.0, evidence, 0.0, True, accepted))
        return state

    def reestimated(self, state):
        return state.alpha * 0.5, state.beta


from laplacenet.bayes.hyper import _State  # noqa: E402  (used by the scripted problem above)


def _scripted_fixed_point(evidences, trained=None, **options):
    problem = _ScriptedProblem(evidences, trained)
    options = EvidenceOptions(method="fixed_point", **options)
    coords = _Coordinates(1.0, 1.0, np.zeros(1, dtype=np.int64), options.bound)
    best, converged, message = _fixed_point(problem, 1.0, 1.0, np.zeros(1), options, coords)
    return problem, best, converged, message


def test_a_loop_whose_evidence_falls_returns_the_best_state_and_says_why():
    problem, best, converged, message = _scripted_fixed_point([-10.0, -5.0, -6.0, -7.0, -8.0, -9.0], patience=3)
    assert best.cycle == 1 and best.log_evidence == -5.0 and best.alpha == 0.5
    assert len(problem.history) == 5  # cycles 2, 3, 4 fell below the best: three falls, then stop
    assert not converged and "stayed below its best (cycle 1) for 3 cycles" in message


def test_a_fall_then_a_recovery_keeps_going_and_ends_at_the_best():
    evidences = [-10.0, -5.0, -6.0, -4.0, -3.5, -3.5 + 1e-5]
    problem, best, converged, message = _scripted_fixed_point(evidences, patience=2, tol=1e-3)
    assert converged and "changed by less than tol=0.001" in message
    assert best.cycle == 5 and best.log_evidence == evidences[-1]


def test_a_state_whose_training_did_not_converge_is_never_kept_over_one_that_did():
    problem, best, converged, message = _scripted_fixed_point([-10.0, -5.0, -2.0, -6.0, -7.0, -8.0],
                                                              trained=[True, True, False, True, True, True])
    assert best.cycle == 1 and best.report.converged  # cycle 2 had the higher evidence at unconverged weights


def test_a_training_that_overflows_ends_the_loop_at_the_best_state_and_says_so():
    overflow = ln.NonFiniteError("the gradient of the data error is not finite")
    problem, best, converged, message = _scripted_fixed_point([-10.0, -5.0, overflow])
    assert best.cycle == 1 and not converged
    assert "the training after cycle 1 overflowed (the gradient of the data error is not finite)" in message


def test_converging_to_a_lower_value_returns_the_earlier_peak():
    problem, best, converged, message = _scripted_fixed_point([-10.0, -5.0, -5.5, -5.5 - 1e-6], patience=5, tol=1e-3)
    assert converged and best.cycle == 1


@pytest.mark.parametrize("method", EVIDENCE_METHODS)
def test_every_method_returns_the_highest_evidence_it_accepted(method):
    X, T = _sinusoid(n=25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ln.ConvergenceWarning)
        result = fit_evidence(ln.MLP([1, 3, 1]), X, T, hessian="outer", method=method, seed=0, cycles=15)
    accepted = [c.log_evidence for c in result.history if c.accepted]
    assert result.log_evidence == max(accepted)
    assert result.history[result.best_cycle].log_evidence == result.log_evidence
    assert result.history[result.best_cycle].accepted
    if method == "gradient":  # a rejected step was evaluated and found lower
        assert all(c.log_evidence <= result.log_evidence for c in result.history)
    assert result.log_evidence == pytest.approx(ln.log_evidence(ln.MLP([1, 3, 1]), result.w, X, T, result.alpha,
                                                                result.beta, hessian="outer", symmetry=False),
                                                rel=1e-12)  # the loop's objective: no symmetry term
    assert np.array_equal(result.posterior.mean, result.w) and result.message


def test_the_gradient_method_converges_where_the_fixed_point_drifts():
    """W comparable to N: a weak starting prior lets MacKay's loop drift; the trust region does not."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4))
    T = np.tanh(X[:, :1]) + 0.3 * rng.normal(size=(30, 1))
    net = ln.MLP([4, 8, 1])  # W = 49 > N = 30
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ln.ConvergenceWarning)
        fixed = fit_evidence(net, X, T, 0.01, 1.0, "outer", method="fixed_point", seed=0, cycles=30)
        gradient = fit_evidence(net, X, T, 0.01, 1.0, "outer", method="gradient", seed=0, cycles=30)
    assert gradient.converged and gradient.gamma < 0.9 * X.shape[0]
    assert gradient.log_evidence >= fixed.log_evidence - 1.0


def test_the_gradient_method_stops_at_a_maximum_of_the_evidence_with_w_retrained():
    """Retraining at an alpha a little either side of the returned one gives a lower evidence, and the maximum is
    well above MacKay's fixed point (a hidden layer: the curvature depends on w)."""
    X, T = ln.datasets.load_penguins()[:2]
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    net = ln.MLP([4, 3, 3], likelihood="categorical")
    settings = dict(seed=0, tol=1e-6, train_kwargs={"gtol": 1e-10}, options={"patience": 50}, cycles=80)
    fit = fit_evidence(net, X, T, "auto", None, "outer", method="gradient", **settings)
    fixed = fit_evidence(net, X, T, "auto", None, "outer", method="fixed_point", **settings)
    assert fit.converged and fixed.converged
    assert fit.log_evidence > fixed.log_evidence + 1.0

    def retrained(alpha):
        w, report = ln.train(net, X, T, alpha, w0=fit.w, gtol=1e-10)
        assert report.converged
        return ln.log_evidence(net, w, X, T, alpha, hessian="outer", symmetry=False)

    assert retrained(fit.alpha) == pytest.approx(fit.log_evidence, abs=1e-8)
    for factor in (1.05, 1 / 1.05):
        assert retrained(fit.alpha * factor) < fit.log_evidence


def test_the_gradient_method_with_a_last_layer_posterior_stops_at_the_fixed_point_of_fixed_features():
    """A last-layer ln Z is the evidence of the output layer on fixed features: the loop follows its slope at fixed
    w, to MacKay's fixed point, although with the features retrained that ln Z would keep rising as alpha falls
    (its prior leaves the hidden weights out)."""
    X, T = ln.datasets.load_penguins()[:2]
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    net = ln.MLP([4, 3, 3], likelihood="categorical")
    settings = dict(seed=0, tol=1e-6, train_kwargs={"gtol": 1e-10}, options={"patience": 50}, cycles=80,
                    subset="last_layer")
    fit = fit_evidence(net, X, T, "auto", None, "outer", method="gradient", **settings)
    fixed = fit_evidence(net, X, T, "auto", None, "outer", method="fixed_point", **settings)
    assert fit.converged and fixed.converged
    assert fit.alpha == pytest.approx(fixed.alpha, rel=1e-2)
    at_fixed_w = ln.log_evidence_gradient(net, fit.w, X, T, fit.alpha, hessian="outer", subset="last_layer")
    retrained = ln.log_evidence_gradient(net, fit.w, X, T, fit.alpha, hessian="outer", subset="last_layer",
                                         retrained=True)
    assert abs(at_fixed_w.alpha) < 1e-2 and retrained.alpha < -1.0


def test_the_online_schedule_stops_when_the_hyperparameters_settle():
    """At unconverged weights the evidence keeps moving by more than any tol; the hyperparameters settle."""
    X, T = _sinusoid(40, seed=2)
    fit = fit_evidence(ln.MLP([1, 4, 1]), X, T, "auto", "auto", "outer", method="online", seed=0, tol=1e-300,
                       cycles=50)
    online = [c for c in fit.history if not c.accepted]  # the online steps; the final training is the last cycle
    assert len(fit.history) < 50 and fit.converged
    last, before = online[-1], online[-2]
    moves = [abs(np.log(last.alpha / before.alpha)), abs(np.log(last.beta / before.beta))]
    assert max(moves) < 0.01


def test_the_warning_names_the_reason_and_carries_the_trace():
    X, T = _sinusoid(n=20)
    with pytest.warns(EvidenceConvergenceWarning, match=r"did not converge \(cycles=2 reached\)") as info:
        result = fit_evidence(ln.MLP([1, 2, 1]), X, T, 0.1, 10.0, hessian="outer", cycles=2, tol=1e-12,
                              method="fixed_point")
    message = str(info[0].message)
    assert "Trace:" in message and "cycle 0: log evidence" in message and "cycle 1: log evidence" in message
    assert "training converged" in message
    assert not result.converged and len(result.history) == 2


def test_a_hyperparameter_pushed_to_the_bound_is_reported():
    X, T = _sinusoid(n=25)
    reached = r"alpha, beta reached the bound \(a factor 1.5 from the start\): the evidence pushes them"
    with pytest.warns(EvidenceConvergenceWarning, match=reached):
        result = fit_evidence(ln.MLP([1, 3, 1]), X, T, 1e3, 1.0, "outer", method="fixed_point",
                              options={"bound": 1.5, "cycles": 4}, seed=0)
    assert "alpha" in result.at_bound
    assert result.alpha == pytest.approx(1e3 / 1.5, rel=1e-12)


def test_a_pattern_fitted_exactly_does_not_end_the_gradient_method_in_a_singular_model():
    # one pattern: its residual is 0 once fitted, and a secant update left the model Hessian [[-a, a], [a, -a]],
    # so that numpy.linalg.solve raised LinAlgError from inside the loop (and check_fit2d_1sample failed)
    X = np.random.RandomState(0).uniform(size=(1, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvidenceConvergenceWarning)  # beta rises towards its bound: no noise
        model = ln.BayesianMLPRegressor(hidden=(2,), seed=0).fit(X, X[:, 0])
    assert np.isfinite(model.log_evidence_) and len(model.history_) > 3
    assert model.predict(X) == pytest.approx(X[:, 0], rel=1e-12)
    singular = np.array([[-1.0, 1.0], [1.0, -1.0]])
    assert not _concave(singular) and not _concave(-np.eye(2)[::-1]) and _concave(-np.diag([1.0, 1e-6]))


def _penguins(n=120):
    X, y = ln.datasets.load_penguins()[:2]
    order = np.random.default_rng(0).permutation(len(y))[:n]
    return X[order], y[order]


def test_a_start_the_loop_cannot_leave_for_negative_gamma_is_reported_not_converged():
    # 20 tanh units under the strong starting prior sit next to a symmetric configuration: the exact data
    # Hessian has eigenvalues just above -alpha there, gamma < 0, and every step is refused (issue 10)
    X, y = _penguins()
    with pytest.warns(EvidenceConvergenceWarning, match="ill-determined") as info:
        exact = ln.BayesianMLPClassifier(hidden=(20,), hessian="exact", seed=0).fit(X, y)
    message = str(info[0].message)
    assert "gamma_g < 0" in message and "hessian='outer'" in message
    assert exact.gamma_ < 0 and not exact.converged_
    assert exact.alpha_ == exact.history_[0].alpha  # it never left its start
    with warnings.catch_warnings():
        warnings.simplefilter("error", EvidenceConvergenceWarning)
        outer = ln.BayesianMLPClassifier(hidden=(20,), hessian="outer", seed=0).fit(X, y)
    assert outer.converged_ and outer.gamma_ > 0


def test_a_state_with_gamma_at_or_below_zero_is_never_returned_as_converged():
    from laplacenet.bayes.hyper import _Problem
    X, T = _sinusoid(n=10)
    problem = _Problem(ln.MLP([1, 2, 1]), X, T, None, {}, None, 0)
    report = ln.TrainReport(True, 1, 0.0, 0.0, "")
    for gammas, fine in (([0.5, -0.1], False), ([0.0], False), ([0.5, 0.2], True)):
        stats = EvidenceStatistics(np.arange(len(gammas)), np.array(gammas), np.ones(len(gammas)), None, None, None)
        posterior = type("Posterior", (), {"hessian": "exact", "subset": None, "net": problem.net, "jitter": 0.0,
                                           "precision": 2.0 * np.eye(problem.net.n_params)})()
        state = _State(1.0, None, np.zeros(1), report, posterior, -3.0, stats, 0)
        result = problem.result(state, True, "the loop's own reason", [])
        assert result.converged is fine
        assert result.message.startswith("the loop's own reason")
        assert ("ill-determined" in result.message) is not fine
        assert fine or ("gamma_g < 0" in result.message) is (min(gammas) < 0)  # names which of the two it is


def test_a_positive_gamma_from_cancelling_negative_curvature_is_not_returned_as_converged():
    # eigenvalues of the exact data Hessian in (-alpha, 0) add negative terms to gamma; where they cancel the
    # positive ones gamma stays positive: a 6-unit fit returned gamma 5e-5 of 19, beta 57.5 (107 by the outer
    # product), converged and without a warning
    net, report = ln.MLP([1, 1, 1]), ln.TrainReport(True, 1, 0.0, 0.0, "")
    stats = EvidenceStatistics(np.arange(1), np.array([1.5]), np.ones(1), None, None, None)
    for hessian, curvature, flagged in (("exact", [2.0, 1.0, 0.5, -0.3], False), ("exact", [2.0, 1.0, 0.5, -0.4], True),
                                        ("outer", [2.0, 1.0, 0.5, -0.4], False)):
        posterior = type("Posterior", (), {"hessian": hessian, "subset": None, "net": net, "jitter": 0.0,
                                           "precision": np.diag(1.0 + np.array(curvature))})()
        state = _State(1.0, None, np.zeros(4), report, posterior, -3.0, stats, 0)  # alpha = 1: the line at -1/3
        found = _negative_data_curvature(state)
        assert (found is not None) is flagged and (not flagged or "eigenvalue of -0.4, below -alpha/3" in found)
    X, T = ln.datasets.make_sinusoid(100, noise=0.1, seed=0)
    with pytest.warns(EvidenceConvergenceWarning, match="the returned state is ill-determined"):
        model = ln.BayesianMLPRegressor(hidden=6, seed=0, hessian="exact").fit(X, T[:, 0])
    assert not model.converged_


# --- starting values ---------------------------------------------------------------------------------

def test_starting_values_from_the_initialisation_scale_and_the_targets():
    net = ln.MLP([3, 5, 4, 2])
    init = np.stack([net.init(seed) for seed in range(4000)])
    mean_square = np.mean(np.sum(init ** 2, axis=1))
    assert starting_alpha(net, "auto") == pytest.approx(net.n_params / mean_square, rel=0.02)
    assert starting_alpha(net, "auto") == net.n_params / (5 + 4 + 2)
    assert np.array_equal(starting_alpha(net, "layers"), [3.0, 1.0, 5.0, 1.0, 4.0, 1.0])
    T = np.column_stack([np.arange(10.0), 3 * np.arange(10.0)])
    assert starting_beta(net, T, "auto") == pytest.approx(1 / np.mean(T.var(axis=0)), rel=1e-14)
    assert starting_beta(net, T, 2.5) == 2.5
    assert starting_beta(ln.MLP([3, 1], likelihood="bernoulli"), T[:, :1], "auto") is None


@pytest.mark.parametrize("alpha, beta, match", [
    ("big", "auto", "alpha must be a positive number, one per prior group, 'auto' or 'layers'; got 'big'"),
    ("auto", "small", "beta must be a positive number, one per output, or 'auto'; got 'small'"),
])
def test_bad_starting_names_are_named(alpha, beta, match):
    X, T = _sinusoid(n=10)
    with pytest.raises(ValueError, match=match):
        fit_evidence(ln.MLP([1, 2, 1]), X, T, alpha, beta)


# --- options -----------------------------------------------------------------------------------------

def test_options_fold_keywords_and_dicts_into_one_object():
    X, T = _sinusoid(n=15)
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ln.ConvergenceWarning)
        fit_evidence(ln.MLP([1, 2, 1]), X, T, hessian="outer", options={"method": "fixed_point", "cycles": 7},
                     cycles=3, tol=1e-12,
                     callback=seen.append, seed=0)
    assert len(seen) == 3  # the keyword wins over the dict
    with pytest.raises(ValueError, match=r"options has unknown keys \['cycle'\]"):
        fit_evidence(ln.MLP([1, 2, 1]), X, T, options={"cycle": 3})
    with pytest.raises(TypeError, match="options must be an EvidenceOptions"):
        fit_evidence(ln.MLP([1, 2, 1]), X, T, options=3)


@pytest.mark.parametrize("fields, match", [
    ({"method": "newton"}, "method must be one of 'fixed_point', 'gradient', 'online'; got 'newton'"),
    ({"cycles": 0}, "cycles must be an integer >= 1"),
    ({"patience": 0}, "patience must be an integer >= 1"),
    ({"steps": 1.5}, "steps must be an integer >= 1"),
    ({"tol": 0.0}, "tol must be a positive finite number"),
    ({"radius": -1.0}, "radius must be a positive finite number"),
    ({"bound": 1.0}, "bound must be a factor larger than 1"),
    ({"fall_tol": np.nan}, "fall_tol must be a non-negative finite number"),
])
def test_bad_options_are_named(fields, match):
    with pytest.raises(ValueError, match=match):
        EvidenceOptions(**fields)


def test_results_and_cycles_are_the_public_types():
    X, T = _sinusoid(n=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ln.ConvergenceWarning)
        result = ln.fit_evidence(ln.MLP([1, 2, 1]), X, T, cycles=3, seed=0)
    assert isinstance(result, EvidenceResult) and result is not result.restarts[0]
    assert all(isinstance(c, ln.EvidenceCycle) for c in result.history)
    with pytest.warns(DeprecationWarning, match=r"laplacenet\.evidence\.\w+ is now laplacenet\.bayes\.hyper\."):
        from laplacenet.evidence import EvidenceCycle, fit_evidence as old_path  # the loop's old home, until 0.2
    assert old_path is ln.fit_evidence and EvidenceCycle is ln.EvidenceCycle


def test_the_gradient_method_never_retries_at_or_beyond_a_refused_point(monkeypatch):
    """Training that has no minimum below alpha_c (a basin that ends there, simulated by refusing those trials):
    after a refusal, every later trial stays strictly above the refused alpha, and the loop converges just above
    alpha_c. Without the rule the doubled radius led back to a refused alpha and past it."""
    X, y = load_penguins()[:2]
    idx = np.random.default_rng(0).permutation(len(X))[:120]
    X, T = (X[idx] - X[idx].mean(0)) / X[idx].std(0), np.eye(3)[y[idx]]
    net = ln.MLP([4, 8, 3], likelihood="categorical")
    free = ln.fit_evidence(net, X, T, hessian="outer", seed=0)
    alpha_c = 1.5 * float(free.alpha)  # the free maximum lies beyond the boundary: the loop presses against it
    evaluate, trials = _Problem.evaluate, []

    def bounded(self, alpha, beta, w0, maxiter=None, accepted=True):
        trials.append(float(alpha))
        if alpha < alpha_c:
            raise NotPositiveDefiniteError("no minimum of E below alpha_c (test)", -1.0)
        return evaluate(self, alpha, beta, w0, maxiter, accepted)
    monkeypatch.setattr(_Problem, "evaluate", bounded)
    fit = ln.fit_evidence(net, X, T, hessian="outer", seed=0)
    refused = [a for a in trials if a < alpha_c]
    assert len(refused) >= 2 and fit.converged
    for i, a in enumerate(trials):
        assert all(a > r for r in trials[:i] if r < alpha_c), (i, trials)
    assert alpha_c < fit.alpha < alpha_c * np.exp(0.01)
