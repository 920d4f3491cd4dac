import numpy as np
import pytest
from scipy.special import expit
from threadpoolctl import threadpool_limits

import laplacenet as ln
from laplacenet.check import relative_error
from laplacenet.estimators import BayesianMLPClassifier, BayesianMLPRegressor, check_hidden
from laplacenet.bayes.evidence import log_evidence
from laplacenet.bayes.hyper import fit_evidence
from laplacenet.core.exceptions import NotFittedError
from laplacenet.bayes.laplace import laplace

from tests.problems import FAST, on_grid

pytestmark = pytest.mark.usefixtures("quiet_evidence_dips")


def _sinusoid(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 1))
    return x, np.sin(2 * np.pi * x[:, 0]) + 0.1 * rng.normal(size=n)


def test_regressor_is_fit_evidence_on_the_same_problem():
    X, y = _sinusoid(n=25)
    model = BayesianMLPRegressor(hidden=2, seed=0, cycles=5, train_kwargs=FAST, standardize=False)
    assert model.fit(X, y) is model
    with threadpool_limits(limits=1, user_api="blas"):  # as the estimator runs a network this small
        result = fit_evidence(ln.MLP([1, 2, 1]), X, y[:, None], "auto", "auto", "outer", cycles=5, seed=0,
                              train_kwargs=FAST)
    assert relative_error(model.w_, result.w) == 0
    # the loop leaves the symmetry term out; the estimator reports it, as log_evidence does by default
    symmetry = result.posterior.log_evidence(X, y[:, None], terms=True).symmetry
    assert (model.alpha_, model.beta_, model.gamma_, model.log_evidence_) == \
        (result.alpha, result.beta, result.gamma, result.log_evidence + symmetry)
    assert model.history_ == result.history and model.n_features_in_ == 1 and model.n_outputs_ == 1
    mean, std = model.predict(X[:5], return_std=True)
    expected_mean, expected_var = result.posterior.predict(X[:5])
    assert mean.shape == std.shape == (5,)
    assert relative_error(mean, expected_mean[:, 0]) == 0 and relative_error(std ** 2, expected_var[:, 0]) <= 1e-14
    residual = np.sum((y - model.predict(X)) ** 2)
    assert model.score(X, y) == pytest.approx(1 - residual / np.sum((y - y.mean()) ** 2), rel=1e-12)


def test_standardized_regressor_is_fit_evidence_on_standardized_data_reported_in_user_units():
    X, y = _sinusoid(n=25)
    X, y = 40.0 + 300.0 * X, -7.0 + 0.02 * y
    model = BayesianMLPRegressor(hidden=2, seed=0, cycles=5, train_kwargs=FAST).fit(X, y)
    x_mean, x_sd, y_mean, y_sd = X.mean(axis=0), X.std(axis=0), y.mean(), y.std()
    result = fit_evidence(ln.MLP([1, 2, 1]), on_grid((X - x_mean) / x_sd), on_grid((y - y_mean) / y_sd)[:, None],
                          "auto", "auto", "outer", cycles=5, seed=0, train_kwargs=FAST)
    assert relative_error(model.w_, result.w) <= 1e-12 and model.alpha_ == pytest.approx(result.alpha, rel=1e-12)
    assert relative_error(model.x_mean_, x_mean) <= 1e-15 and relative_error(model.x_scale_, x_sd) <= 1e-14
    assert model.beta_ == pytest.approx(result.beta / y_sd ** 2, rel=1e-12)  # the noise precision of y itself
    # ln p(y) = ln p(y') - N ln sd_y: the evidence of the raw targets, with the symmetry term the loop leaves out
    symmetry = result.posterior.log_evidence(*model.posterior_data(X, y), terms=True).symmetry
    assert model.log_evidence_ == pytest.approx(result.log_evidence - len(y) * np.log(y_sd) + symmetry, rel=1e-12)
    assert [c.log_evidence for c in model.history_] == pytest.approx(
        [c.log_evidence - len(y) * np.log(y_sd) for c in result.history], rel=1e-12)
    mean, std = model.predict(X[:5], return_std=True)
    inner_mean, inner_var = result.posterior.predict(on_grid((X[:5] - x_mean) / x_sd))
    assert relative_error(mean, y_mean + y_sd * inner_mean[:, 0]) <= 1e-12
    assert relative_error(std, y_sd * np.sqrt(inner_var[:, 0])) <= 1e-12


@pytest.mark.parametrize("estimator", [BayesianMLPRegressor, BayesianMLPClassifier])
def test_raw_and_standardized_data_give_the_same_predictions(estimator):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(60, 3))
    scale, shift = np.array([1e-3, 50.0, 1e4]), np.array([5.0, -3e3, 1e6])
    if estimator is BayesianMLPRegressor:
        y = np.tanh(X @ [1.0, -0.5, 0.3]) + 0.1 * rng.normal(size=60)
        y_raw = 1e3 + 250.0 * y
    else:
        y = y_raw = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=60) > 0).astype(int)
    options = dict(hidden=3, seed=0, train_kwargs={"gtol": 1e-10})
    standard = estimator(**options).fit(X, y)
    raw = estimator(**options).fit(shift + scale * X, y_raw)
    X_new = rng.normal(size=(7, 3))
    if estimator is BayesianMLPRegressor:
        m_std, s_std = standard.predict(X_new, return_std=True)
        m_raw, s_raw = raw.predict(shift + scale * X_new, return_std=True)
        assert relative_error(m_raw, 1e3 + 250.0 * m_std) <= 1e-12 and relative_error(s_raw, 250.0 * s_std) <= 1e-12
        assert raw.log_evidence_ == pytest.approx(standard.log_evidence_ - 60 * np.log(250.0), rel=1e-12)
    else:
        assert relative_error(raw.predict_proba(shift + scale * X_new), standard.predict_proba(X_new)) <= 1e-12
        assert raw.log_evidence_ == pytest.approx(standard.log_evidence_, rel=1e-12)
    # the rounded standardised data are the same bits, so the two trainings are the same
    assert np.array_equal(raw.w_, standard.w_) and raw.alpha_ == standard.alpha_
    by_hand = estimator(**options).fit((X - X.mean(axis=0)) / X.std(axis=0), y)  # as StandardScaler does
    assert np.array_equal(by_hand.w_, standard.w_)
    assert raw.converged_ and standard.converged_


def test_regressor_restarts_keep_the_highest_evidence():
    X, y = _sinusoid(n=25, seed=1)
    model = BayesianMLPRegressor(hidden=(2,), restarts=3, seed=0, cycles=3, train_kwargs=FAST).fit(X, y)
    evidences = [run.log_evidence for run in model.restarts_]
    assert len(evidences) == 3 and model.log_evidence_ == max(evidences) == evidences[model.best_restart_]


def test_regressor_with_fixed_hyperparameters():
    X, y = _sinusoid(n=25, seed=2)
    model = BayesianMLPRegressor(hidden=2, alpha=0.5, beta=50.0, reestimate=False, restarts=2, seed=1,
                                 standardize=False).fit(X, y)
    assert (model.alpha_, model.beta_, model.history_) == (0.5, 50.0, [])
    assert model.log_evidence_ == pytest.approx(log_evidence(model.net_, model.w_, X, y, 0.5, 50.0, "outer"),
                                                rel=1e-12)
    A = laplace(model.net_, model.w_, X, y, 0.5, 50.0, "outer").precision
    assert model.gamma_ == pytest.approx(model.net_.n_params - 0.5 * np.trace(np.linalg.inv(A)), rel=1e-10)


def test_regressor_with_several_outputs_keeps_the_shape_of_y():
    X, y = _sinusoid(n=30, seed=3)
    Y = np.column_stack([y, -2 * y])
    model = BayesianMLPRegressor(hidden=2, beta=[1.0, 1.0], seed=0, cycles=4, train_kwargs=FAST).fit(X, Y)
    mean, std = model.predict(X[:4], return_std=True)
    assert mean.shape == std.shape == (4, 2) and np.shape(model.beta_) == (2,)


def test_classifier_binary_with_string_labels():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 2))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "yes", "no")
    model = BayesianMLPClassifier(hidden=(), seed=0, cycles=20, standardize=False).fit(X, y)
    assert list(model.classes_) == ["no", "yes"]
    proba = model.predict_proba(X)
    p, _ = model.posterior_.predict(X, method="bridge")  # for two classes, the MAP network's probability
    assert proba.shape == (50, 2) and relative_error(proba[:, 1], p[:, 0]) == 0
    assert relative_error(proba[:, 1], model.net_.forward(model.w_, X)[:, 0]) <= 1e-15
    moderated = model.predict_proba(X, method="linear")
    assert relative_error(moderated[:, 1], model.posterior_.predict(X)[0][:, 0]) == 0
    assert np.all(np.abs(moderated - 0.5) <= np.abs(proba - 0.5) + 1e-15)  # moderation pulls towards 1/2
    assert np.allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    assert np.array_equal(model.predict(X), np.where(p[:, 0] > 0.5, "yes", "no"))
    assert model.score(X, y) == np.mean(model.predict(X) == y) and model.score(X, y) > 0.9
    assert not hasattr(model, "beta_")


@pytest.mark.parametrize("method", ["bridge", "linear", "linear_mc", "mc"])
def test_two_class_probabilities_keep_the_small_one_where_the_other_rounds_to_one(method):
    """Activations of -60, 0 and 60: sigma(60) rounds to 1, so 1 - p was 0 (a log loss of inf); each class's
    probability is now the predictive of its own activation."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 1))
    y = (X[:, 0] > 0).astype(int)
    model = BayesianMLPClassifier(hidden=(), seed=0, cycles=5, standardize=False).fit(X, y)
    (slope, bias), a = model.w_, np.array([-60.0, 0.0, 60.0])  # no hidden layer: a = slope x + bias
    far = ((a - bias) / slope)[:, None]
    proba = model.predict_proba(far, method=method)
    p1, var = model.posterior_.predict(far, method=method, seed=0)
    assert np.array_equal(proba[:, 1], p1[:, 0])
    assert np.all(proba > 0) and np.allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    a = slope * far[:, 0] + bias
    if method == "bridge":  # two classes: the MAP network's probabilities
        assert relative_error(proba[:, 0], expit(-a)) <= 1e-15
    elif method == "linear":  # the moderated output (PRML 4.153-4.155) of -a
        assert relative_error(proba[:, 0], expit(-a / np.sqrt(1 + np.pi * var[:, 0] / 8))) <= 1e-15
    else:  # sample means of sigma(-a_s) and sigma(a_s); the draws spread these far activations wide
        assert relative_error(proba[:, 0], 1 - proba[:, 1]) <= 1e-12


def test_classifier_multiclass():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 2))
    y = np.digitize(X[:, 0], [-0.5, 0.5]) * 10  # labels 0, 10, 20
    model = BayesianMLPClassifier(hidden=2, seed=1, cycles=10).fit(X, y)
    assert list(model.classes_) == [0, 10, 20] and model.net_.likelihood.name == "categorical"
    proba = model.predict_proba(X[:7])
    assert proba.shape == (7, 3) and np.allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    assert set(model.predict(X)) <= {0, 10, 20}


def test_the_callback_sees_every_evidence_cycle_of_every_restart():
    X, y = _sinusoid(n=25, seed=6)
    seen = []
    model = BayesianMLPRegressor(hidden=2, restarts=2, seed=0, cycles=4, train_kwargs=FAST).fit(X, y,
                                                                                                callback=seen.append)
    assert seen == [cycle for run in model.restarts_ for cycle in run.history] and len(seen) >= 4
    assert [c.restart for c in seen] == sorted(c.restart for c in seen) and {c.restart for c in seen} == {0, 1}
    labels = np.where(X[:, 0] > 0.5, "right", "left")
    seen_by_classifier = []
    clf = BayesianMLPClassifier(hidden=1, seed=0, cycles=3, train_kwargs=FAST).fit(
        X, labels, callback=seen_by_classifier.append)
    assert seen_by_classifier == clf.history_ and len(seen_by_classifier) >= 2


def test_the_callback_sees_each_restart_at_fixed_hyperparameters():
    X, y = _sinusoid(n=25, seed=7)
    seen = []
    model = BayesianMLPRegressor(hidden=2, alpha=0.5, beta=50.0, reestimate=False, restarts=3, seed=1,
                                 standardize=False).fit(X, y, callback=seen.append)
    assert [(c.restart, c.cycle, c.alpha, c.beta) for c in seen] == [(r, 0, 0.5, 50.0) for r in range(3)]
    # the cycles carry the loop's evidence, the restarts the reported one: the symmetry term added
    symmetry = [run.posterior.log_evidence(X, y[:, None], terms=True).symmetry for run in model.restarts_]
    assert [c.log_evidence + s for c, s in zip(seen, symmetry)] == [run.log_evidence for run in model.restarts_]
    assert [c.gamma for c in seen] == [run.gamma for run in model.restarts_]
    with pytest.raises(ValueError, match="callback must be callable or None; got 3"):
        BayesianMLPRegressor(hidden=1, reestimate=False).fit(X, y, callback=3)


def test_params_round_trip_and_repr():
    model = BayesianMLPRegressor(hidden=(3, 2), alpha=0.1)
    params = model.get_params()
    assert params["hidden"] == (3, 2) and params["alpha"] == 0.1 and "beta" in params
    clone = BayesianMLPRegressor(**params)
    assert clone.get_params() == params
    assert model.set_params(alpha=0.2) is model and model.alpha == 0.2
    assert repr(model) == "BayesianMLPRegressor(alpha=0.2, hidden=(3, 2))"  # scikit-learn's: the changed ones
    with pytest.raises(ValueError, match="Invalid parameter 'gamma' for estimator BayesianMLPRegressor"):
        model.set_params(gamma=1.0)
    assert "beta" not in BayesianMLPClassifier().get_params()


def test_unfitted_and_mismatched_inputs_are_named():
    X, y = _sinusoid(n=20)
    model = BayesianMLPRegressor(hidden=1, cycles=3)
    with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
        model.predict(X)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    model.fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but BayesianMLPRegressor is expecting 1 features"):
        model.predict(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="y must have one row per row of X"):
        BayesianMLPRegressor(hidden=1).fit(X, y[:5])
    with pytest.raises(ValueError, match="y must hold at least two classes"):
        BayesianMLPClassifier(hidden=1).fit(X, np.zeros(20))
    with pytest.raises(ValueError, match="hidden must be a positive int or a sequence"):
        BayesianMLPClassifier(hidden=(2, 0)).fit(X, np.arange(20) % 2)
    with pytest.raises(ValueError, match="alpha must be positive and finite"):
        BayesianMLPRegressor(hidden=1, alpha=np.nan).fit(X, y)
    # a truthy string passed for True: reestimate='no' ran the evidence loop
    for name in ("reestimate", "standardize"):
        for bad in ("no", None, 0, 1.0):
            with pytest.raises(ValueError, match=f"{name} must be True or False; got {bad!r}"):
                BayesianMLPRegressor(hidden=1, **{name: bad}).fit(X, y)


def test_check_hidden():
    assert check_hidden(0) == () and check_hidden(3) == (3,) and check_hidden([4, 2]) == (4, 2)
    for bad in (-1, (1.5,), True, "3", None):
        with pytest.raises(ValueError, match="hidden must be") as info:
            check_hidden(bad)
        assert str(info.value).endswith(f"got {bad!r}")  # -1 was named as (-1,)


def test_two_class_probabilities_are_for_a_bernoulli_network():
    from laplacenet.bayes.predictive import two_class_probabilities
    X = np.linspace(-1, 1, 12)[:, None]
    net = ln.MLP([1, 3], likelihood="categorical")
    posterior = laplace(net, net.init(0), X, np.eye(3)[np.arange(12) % 3], 1.0)
    with pytest.raises(ValueError, match="Bernoulli likelihood.*'categorical'"):
        two_class_probabilities(posterior, X, "bridge")
