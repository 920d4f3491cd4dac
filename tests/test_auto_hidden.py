"""``hidden='auto'``: the estimators choose their architecture by the evidence (MacKay 1992, PRML 5.7)."""
import warnings

import numpy as np
import pytest

import laplacenet as ln
from laplacenet.bayes.comparison import ComparisonCycle, compare_estimators
from laplacenet.estimators import AUTO_HIDDEN, BayesianMLPClassifier, BayesianMLPRegressor, check_hidden
from laplacenet.core.exceptions import ConvergenceWarning

pytestmark = pytest.mark.usefixtures("quiet_evidence_dips")


def _linear_teacher(n=100, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=n)


def _sinusoid(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 1))
    return x, np.sin(2 * np.pi * x[:, 0]) + 0.1 * rng.normal(size=n)


def _two_moons_like(n=80, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, np.where(X[:, 0] + X[:, 1] ** 2 > 1, "in", "out")


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


@pytest.fixture(scope="module")
def sinusoid_auto():
    X, y = _sinusoid()
    return _fit(BayesianMLPRegressor(hidden="auto", seed=0, cycles=20), X, y)


def _assert_table_is_the_choice(model):
    table = model.hidden_table_
    assert [row.hidden for row in table.rows] == list(AUTO_HIDDEN)
    best = table.best()
    assert best.hidden == model.hidden_ == tuple(model.net_.sizes[1:-1])
    assert (best.log_evidence, best.gamma, best.n_params) == (model.log_evidence_, model.gamma_,
                                                              model.net_.n_params)
    assert all(row.log_evidence <= model.log_evidence_ for row in table.rows)


def test_linear_teacher_chooses_no_hidden_layer():
    X, y = _linear_teacher()
    model = _fit(BayesianMLPRegressor(hidden="auto", seed=0, cycles=20), X, y)
    assert model.hidden_ == () and model.net_.sizes == (3, 1)
    _assert_table_is_the_choice(model)
    assert model.get_params()["hidden"] == "auto"


def test_sinusoid_chooses_a_hidden_layer(sinusoid_auto):
    model = sinusoid_auto
    assert len(model.hidden_) == 1 and model.hidden_[0] >= 2
    _assert_table_is_the_choice(model)
    # the linear model cannot follow a full period of the sine: its training error is far above the chosen one's
    rows = {row.hidden: row for row in model.hidden_table_.rows}
    assert rows[()].train_error > 5 * rows[model.hidden_].train_error


def test_auto_fit_is_the_fit_of_the_chosen_architecture(sinusoid_auto):
    X, y = _sinusoid()
    direct = _fit(BayesianMLPRegressor(hidden=sinusoid_auto.hidden_, seed=0, cycles=20), X, y)
    X_new = np.linspace(-0.2, 1.2, 31)[:, None]
    for got, expected in zip(sinusoid_auto.predict(X_new, return_std=True), direct.predict(X_new, return_std=True)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    assert np.array_equal(sinusoid_auto.w_, direct.w_)
    assert (sinusoid_auto.alpha_, sinusoid_auto.beta_, sinusoid_auto.log_evidence_) == \
        (direct.alpha_, direct.beta_, direct.log_evidence_)
    assert direct.hidden_ == sinusoid_auto.hidden_ and direct.hidden_table_ is None


def test_auto_with_a_low_rank_posterior_takes_each_candidates_whole_spectrum_below_the_rank():
    # the first candidate, no hidden layer, has W = (D + 1) K = 3 weights: rank=5 was refused for it ("rank must be
    # at most the number of weights W = 3"), so hidden='auto' could not take hessian='lowrank' at a useful rank
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(60, 2))
    y = np.sin(3 * X[:, 0]) + 0.1 * rng.normal(size=60)
    model = BayesianMLPRegressor(hidden="auto", hessian="lowrank", rank=5, seed=0, cycles=4).fit(X, y)
    assert [row.hidden for row in model.hidden_table_.rows] == [check_hidden(h) for h in AUTO_HIDDEN]
    linear, _ = compare_estimators(BayesianMLPRegressor(hessian="lowrank", rank=5, seed=0, cycles=4), X, y, [0],
                                   cap_rank=True)
    assert linear[0].posterior_.precision.rank == 3 and model.hidden_table_.rows[0].log_evidence == \
        linear[0].log_evidence_
    with pytest.raises(ValueError, match="rank must be at most the number of weights W = 3"):
        BayesianMLPRegressor(hidden=0, hessian="lowrank", rank=5, cycles=4).fit(X, y)  # asked for by name: refused


def test_classifier_accepts_auto():
    X, labels = _two_moons_like()
    model = _fit(BayesianMLPClassifier(hidden="auto", seed=0, cycles=10), X, labels)
    _assert_table_is_the_choice(model)
    assert model.hidden_ != ()  # the boundary is a parabola
    assert all(row.beta is None and 0 <= row.train_error <= 1 for row in model.hidden_table_.rows)
    direct = _fit(BayesianMLPClassifier(hidden=model.hidden_, seed=0, cycles=10), X, labels)
    np.testing.assert_allclose(model.predict_proba(X), direct.predict_proba(X), rtol=1e-12, atol=0)
    assert list(model.classes_) == ["in", "out"] and model.get_params()["hidden"] == "auto"


@pytest.mark.parametrize("bad", ["autox", "AUTO", ["auto"], ("auto",), " auto"])
def test_bad_hidden_values_are_named(bad):
    X, y = _sinusoid(n=10)
    for model, target in ((BayesianMLPRegressor(hidden=bad), y), (BayesianMLPClassifier(hidden=bad), y > 0)):
        with pytest.raises(ValueError, match=r"hidden must be a positive int or a sequence of them \(hidden-layer "
                                             r"widths\), or 'auto'; got"):
            model.fit(X, target)


def test_only_the_estimators_take_auto():
    assert check_hidden("auto", auto=True) == "auto"
    with pytest.raises(ValueError, match=r"hidden must be a positive int or a sequence of them \(hidden-layer "
                                         r"widths\); got 'auto'"):
        check_hidden("auto")
    with pytest.raises(ValueError, match="hidden must be"):
        ln.compare_models(*_sinusoid(n=10), hidden_sizes=["auto"])


def test_params_round_trip_keeps_auto(sinusoid_auto):
    params = sinusoid_auto.get_params()
    assert params["hidden"] == "auto"
    assert BayesianMLPRegressor(**params).get_params() == params
    import sklearn.base as sklearn_base  # in the test extra
    clone = sklearn_base.clone(sinusoid_auto)
    assert clone.get_params() == params and not hasattr(clone, "hidden_")
    # refitted with widths, the table goes
    X, y = _sinusoid(n=20)
    refit = _fit(clone.set_params(hidden=(2,), cycles=3), X, y)
    assert refit.hidden_ == (2,) and refit.hidden_table_ is None


def test_saved_auto_fit_loads_and_predicts_the_same(sinusoid_auto, tmp_path):
    path = tmp_path / "auto.npz"
    sinusoid_auto.save(path)
    loaded = ln.load(path)
    assert loaded.get_params()["hidden"] == "auto" and loaded.hidden_ == sinusoid_auto.hidden_
    assert loaded.hidden_table_.to_dicts() == sinusoid_auto.hidden_table_.to_dicts()
    X_new = np.linspace(0, 1, 11)[:, None]
    for got, expected in zip(loaded.predict(X_new, return_std=True), sinusoid_auto.predict(X_new, return_std=True)):
        assert np.array_equal(got, expected)
    # a fit of given widths stores no table
    X, y = _sinusoid(n=20)
    _fit(BayesianMLPRegressor(hidden=2, cycles=3, seed=0), X, y).save(path)
    loaded = ln.load(path)
    assert loaded.hidden_ == (2,) and loaded.hidden_table_ is None


def test_callback_sees_every_candidate_tagged_with_its_widths():
    X, y = _sinusoid(n=20)
    seen = []
    BayesianMLPRegressor(hidden="auto", seed=0, cycles=2).fit(X, y, callback=seen.append)
    assert all(isinstance(cycle, ComparisonCycle) for cycle in seen)
    # every candidate in turn, in the order of AUTO_HIDDEN
    hidden = [cycle.hidden for cycle in seen]
    assert sorted(set(hidden), key=AUTO_HIDDEN.index) == list(AUTO_HIDDEN)
    assert hidden == sorted(hidden, key=AUTO_HIDDEN.index)
    with pytest.raises(ValueError, match="callback must be callable or None; got 3"):
        BayesianMLPRegressor(hidden="auto").fit(X, y, callback=3)


def test_compare_estimators_is_compare_models_for_the_estimators_settings():
    X, y = _linear_teacher(n=40)
    estimator = BayesianMLPRegressor(seed=0, cycles=10)
    fits, table = compare_estimators(estimator, X, y, [0, 2])
    library = ln.compare_models(X, y, [0, 2], restarts=1, seed=0, cycles=10)
    assert [fit.hidden_ for fit in fits] == [row.hidden for row in table.rows] == [(), (2,)]
    for row, expected in zip(table.rows, library.rows):
        assert row.log_evidence == pytest.approx(expected.log_evidence, rel=1e-10)
        assert row.train_error == pytest.approx(expected.train_error, rel=1e-10)
        assert (row.n_params, row.n_distinguishable) == (expected.n_params, expected.n_distinguishable)
    assert not hasattr(estimator, "hidden_")  # its parameters were used; it was not fitted
