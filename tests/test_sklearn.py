"""The estimators as scikit-learn estimators: its conformance checks, its tools end to end, its conventions for
inputs, labels, scores and unfitted use; and the same protocol without scikit-learn installed."""
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import make_circles
from sklearn.exceptions import DataConversionWarning
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import check_estimator
from sklearn.utils.validation import check_is_fitted, has_fit_parameter

import laplacenet as ln
from laplacenet import BayesianMLPClassifier, BayesianMLPRegressor
from laplacenet.core.exceptions import NotFittedError

from tests.problems import FAST

pytestmark = pytest.mark.usefixtures("quiet_evidence_dips")

#: The checks of check_estimator each estimator is expected to fail, with the reason (docs/howto/sklearn.rst):
#: none. A check that starts failing is a regression, or a new check to meet or to list here with its reason.
EXPECTED_FAILED_CHECKS = {}


def _sinusoid(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, np.sin(3 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.normal(size=n)


def _circles(n=150):
    """Two concentric rings: no linear boundary, so a hidden layer wins by a wide margin."""
    return make_circles(n_samples=n, noise=0.1, factor=0.4, random_state=0)


@pytest.mark.parametrize("estimator", [BayesianMLPRegressor(hidden=(2,), cycles=3, train_kwargs=FAST),
                                       BayesianMLPClassifier(hidden=(2,), cycles=3, train_kwargs=FAST),
                                       BayesianMLPRegressor(hidden=(5,))],  # one pattern once made the loop fail
                         ids=["regressor", "classifier", "regressor-5-units"])
def test_check_estimator_passes(estimator):
    outcomes = {}

    def record(estimator, check_name, exception, status, expected_to_fail, expected_to_fail_reason):
        outcomes.setdefault(status, []).append(f"{check_name}: {exception!r}" if status == "failed" else check_name)

    check_estimator(estimator, expected_failed_checks=EXPECTED_FAILED_CHECKS, on_skip=None, on_fail=None,
                    callback=record)
    assert outcomes.get("failed", []) == [] and len(outcomes["passed"]) > 40
    # the one skip: the array API check needs SCIPY_ARRAY_API=1 in the environment (it passes with it)
    assert set(outcomes.get("skipped", [])) <= {"check_array_api_input"}


def test_what_scikit_learn_sees():
    regressor, classifier = BayesianMLPRegressor(), BayesianMLPClassifier()
    assert is_regressor(regressor) and is_classifier(classifier)
    assert get_tags(regressor).target_tags.multi_output and not get_tags(classifier).target_tags.multi_output
    assert not get_tags(regressor).input_tags.sparse and not get_tags(regressor).input_tags.allow_nan
    assert not has_fit_parameter(regressor, "sample_weight") and not has_fit_parameter(classifier, "sample_weight")


def test_unfitted_use_raises_an_error_both_libraries_catch():
    X, y = _sinusoid(n=20)
    model = BayesianMLPRegressor(hidden=1, cycles=3)
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(model)
    for method in (model.predict, lambda X: model.score(X, y)):
        with pytest.raises(NotFittedError, match="not fitted yet") as raised:
            method(X)
        assert isinstance(raised.value, SklearnNotFittedError)
    with pytest.raises(SklearnNotFittedError):
        BayesianMLPClassifier().predict(X)  # not an AttributeError on classes_
    check_is_fitted(model.fit(X, y))


def test_pipeline_cross_validation_and_a_grid_search_over_hidden():
    X, y = _circles()
    pipe = make_pipeline(StandardScaler(), BayesianMLPClassifier(cycles=10, seed=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert np.all(np.isfinite(scores)) and np.all(scores > 0.9)
    search = GridSearchCV(pipe, {"bayesianmlpclassifier__hidden": [(), (4,)]}, cv=3).fit(X, y)
    linear, hidden = search.cv_results_["mean_test_score"]
    assert np.isfinite(linear) and np.isfinite(hidden) and hidden > linear + 0.3  # no linear boundary
    # the best candidate by its score, not the first one
    assert search.best_params_ == {"bayesianmlpclassifier__hidden": (4,)} and search.best_score_ == hidden
    assert search.best_estimator_[-1].hidden_ == (4,) and search.score(X, y) > 0.9
    assert pipe.get_params()["bayesianmlpclassifier__hidden"] == (10,)  # the search fitted clones


def test_regression_pipeline_and_transformed_target():
    X, y = _sinusoid()
    model = BayesianMLPRegressor(hidden=(4,), cycles=10, seed=0)
    scores = cross_val_score(make_pipeline(StandardScaler(), model), X, y, cv=3)
    assert np.all(np.isfinite(scores)) and np.all(scores > 0.8)
    shifted = np.exp(y)  # positive targets, fitted on the log scale
    wrapped = TransformedTargetRegressor(model, func=np.log, inverse_func=np.exp).fit(X, shifted)
    assert wrapped.regressor_.n_features_in_ == 2 and wrapped.score(X, shifted) > 0.8
    assert np.allclose(wrapped.predict(X), np.exp(wrapped.regressor_.predict(X)), rtol=1e-12, atol=0)


def test_calibrated_classifier():
    X, y = _circles()
    calibrated = CalibratedClassifierCV(BayesianMLPClassifier(hidden=(4,), cycles=10, seed=0), cv=3).fit(X, y)
    proba = calibrated.predict_proba(X)
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert calibrated.score(X, y) > 0.9 and len(calibrated.calibrated_classifiers_) == 3


def test_clone_keeps_the_parameters_and_drops_the_fit():
    X, y = _sinusoid(n=30)
    model = BayesianMLPRegressor(hidden="auto", cycles=3, train_kwargs={"gtol": 1e-4}, seed=2).fit(X, y)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy.hidden == "auto"  # fit never changes a parameter
    assert copy.train_kwargs is not model.train_kwargs and not hasattr(copy, "n_features_in_")
    assert model.hidden_ in [(), (1,), (2,), (4,), (8,), (16,)]


def test_feature_names_from_a_dataframe():
    X, y = _sinusoid(n=30)
    frame = pd.DataFrame(X, columns=["dose", "age"])
    model = BayesianMLPRegressor(hidden=(2,), cycles=3).fit(frame, pd.Series(y, name="response"))
    assert model.feature_names_in_.tolist() == ["dose", "age"] and model.feature_names_in_.dtype == object
    with pytest.raises(ValueError, match="The feature names should match those that were passed during fit"):
        model.predict(frame[["age", "dose"]])
    # the functions that take a fitted estimator and its data check as predict does: plots and diagnose took
    # reversed columns without a word (a calibration plot's ECE 0.565 against 0.041, k-hat 20.9 against 0.51)
    for use in (lambda Xs: model.posterior_data(Xs, y), lambda Xs: ln.diagnose(model, Xs, y, draws=50, seed=0),
                lambda Xs: ln.plotting.plot_coverage(model, Xs, y), lambda Xs: ln.to_inference_data(model, Xs, y),
                lambda Xs: ln.diagnose(model, frame, y, draws=50, seed=0, X_new=Xs)):
        with pytest.raises(ValueError, match="Feature names must be in the same order as they were in fit"):
            use(frame[["age", "dose"]])
    with pytest.warns(UserWarning, match="X does not have valid feature names, but BayesianMLPRegressor was "
                                         "fitted with feature names"):
        assert np.array_equal(model.predict(X), model.predict(frame))
    with pytest.warns(UserWarning, match="valid feature names"), \
            pytest.raises(ValueError, match="X has 1 features, but BayesianMLPRegressor is expecting 2 features"):
        model.predict(X[:, :1])
    model.fit(X, y)  # refitted on an array: the names go
    assert not hasattr(model, "feature_names_in_") and model.n_features_in_ == 2


def test_sample_weight_is_refused_with_the_reason():
    X, y = _circles(n=30)
    with pytest.raises(TypeError, match=r"got the unsupported keyword argument\(s\) \['sample_weight'\]\. There "
                                        r"is no weighted likelihood.*repeat each row"):
        BayesianMLPClassifier(hidden=(2,)).fit(X, y, sample_weight=np.ones(30))
    with pytest.raises(TypeError, match=r"\['sample_weight'\]"):
        make_pipeline(StandardScaler(), BayesianMLPClassifier(hidden=(2,))).fit(
            X, y, bayesianmlpclassifier__sample_weight=np.ones(30))
    with pytest.raises(TypeError, match=r"unsupported keyword argument\(s\) \['calback'\]\.$"):
        BayesianMLPRegressor(hidden=(2,)).fit(X, y.astype(float), calback=print)


def test_scores_follow_scikit_learn():
    from sklearn.metrics import accuracy_score, r2_score
    X, y = _sinusoid(n=30)
    regressor = BayesianMLPRegressor(hidden=(2,), cycles=3).fit(X, y)
    assert regressor.score(X, y) == pytest.approx(r2_score(y, regressor.predict(X)), rel=1e-14)
    assert regressor.score(X, np.full(30, 1.5)) == 0.0  # constant y, missed: 0, not -inf
    with pytest.raises(ValueError, match="NaN"):
        regressor.score(X, np.where(np.arange(30) == 3, np.nan, y))
    # targets beyond 1e154: scikit-learn's squares overflow to NaN; R^2 does not depend on the units of y
    huge = y * 2.0 ** 1000
    assert regressor.score(X, huge) == pytest.approx(r2_score(huge / 2.0 ** 1000, regressor.predict(X) / 2.0 ** 1000),
                                                     rel=1e-14)
    labels = np.where(y > np.median(y), "high", "low")
    classifier = BayesianMLPClassifier(hidden=(2,), cycles=3).fit(X, labels)
    assert classifier.score(X, labels) == accuracy_score(labels, classifier.predict(X))
    with pytest.raises(ValueError, match=r"y must have one row per prediction \(30\); got shape \(1,\)"):
        classifier.score(X, labels[:1])  # never broadcast
    # labels that do not compare with the classes (scikit-learn: a TypeError of NumPy's) are wrong predictions
    mixed = labels.astype(object)
    mixed[:3] = None
    assert classifier.score(X, mixed) == np.mean(classifier.predict(X)[3:] == labels[3:]) * 27 / 30


@pytest.mark.parametrize("labels", [np.array(["b", "a", "c"]), np.array([2.0, -1.0, 7.0]),
                                    np.array([True, False, True]), np.array([3, 1, 3], dtype=object)],
                         ids=["str", "float", "bool", "object"])
def test_classes_from_labels_of_any_type(labels):
    X = np.linspace(-1, 1, 30)[:, None]
    y = np.resize(labels, 30)
    model = BayesianMLPClassifier(hidden=(), cycles=3).fit(X, y)
    assert np.array_equal(model.classes_, np.unique(labels))
    assert model.predict(X).dtype == model.classes_.dtype and set(model.predict(X)) <= set(labels)


def test_labels_that_are_no_classes_are_refused():
    X = np.linspace(-1, 1, 6)[:, None]
    model = BayesianMLPClassifier(hidden=())
    cases = [([0.0, 1.0, np.nan, 0.0, 1.0, 0.0], "y must not hold missing or infinite labels; got \\[nan\\]"),
             ([0.0, 1.0, np.inf, 0.0, 1.0, 0.0], "missing or infinite"),
             (np.array(["a", "b", None, "a", "b", "a"], dtype=object), "one sortable type.*no missing value"),
             (np.array(["a", 1, "a", 1, "a", 1], dtype=object), r"one sortable type.*\['int', 'str'\]"),
             (np.array([1, pd.NA, 1, 2, 2, 1], dtype=object), "one sortable type"),
             (np.linspace(0, 1, 6), "Unknown label type: continuous"),
             (np.ones(6), "at least two classes; got one class"),
             ([[0, 1]] * 6, r"vector of 6 class labels.*got shape \(6, 2\)")]
    for y, message in cases:
        with pytest.raises(ValueError, match=message):
            model.fit(X, y)
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed when a 1d array was expected"):
        model.set_params(cycles=3).fit(X, np.array([[0], [1], [0], [1], [0], [1]]))
    assert model.classes_.tolist() == [0, 1]


def test_other_inputs_are_refused_clearly():
    X, y = _sinusoid(n=20)
    model = BayesianMLPRegressor(hidden=(2,))
    with pytest.raises(ValueError, match="requires y to be passed, but the target y is None"):
        model.fit(X, None)
    with pytest.raises(TypeError, match="sparse.*X.toarray()"):
        model.fit(pytest.importorskip("scipy.sparse").csr_matrix(X), y)
    with pytest.raises(ValueError, match="Complex data not supported"):
        model.fit(X + 1j, y)
    with pytest.raises(ValueError, match="Reshape your data"):
        model.fit(X[:, 0], y)
    # text among the features: pandas' own message named neither X nor the column
    frame = pd.DataFrame({"size": X[:, 0], "colour": np.where(y > 0, "red", "blue")})
    with pytest.raises(ValueError, match="X must be a 2-D array of numbers; the column 'colour' does not convert "
                                         "to numbers: .* Encode text features as numbers first"):
        model.fit(frame, y)
    with pytest.raises(ValueError, match="y must be finite"):
        model.fit(X, np.where(np.arange(20) == 3, np.inf, y))
    fitted = BayesianMLPRegressor(hidden=(2,), cycles=3).fit(X.astype(np.float32), y.astype(np.float32))
    assert fitted.predict(X).dtype == np.float64


def test_the_protocol_without_scikit_learn():
    """With scikit-learn unimportable, the stand-ins give the same parameters, scores, names and errors."""
    code = textwrap.dedent("""
        import sys, warnings
        sys.modules["sklearn"] = None  # import sklearn raises ImportError
        import numpy as np, pandas as pd
        import laplacenet as ln
        from laplacenet import _sklearn
        assert not _sklearn.HAVE_SKLEARN
        warnings.simplefilter("ignore", ln.ConvergenceWarning)
        rng = np.random.default_rng(0)
        X = rng.normal(size=(30, 2))
        y = X[:, 0] - X[:, 1] ** 2
        model = ln.BayesianMLPRegressor(hidden=(2,), cycles=3)
        assert repr(model) == "BayesianMLPRegressor(cycles=3, hidden=(2,))"
        assert model.set_params(seed=1) is model and model.get_params()["seed"] == 1
        try:
            model.set_params(gamma=1)
        except ValueError as error:
            assert "Invalid parameter 'gamma'" in str(error)
        try:
            model.predict(X)
        except ln.NotFittedError as error:
            assert isinstance(error, (ValueError, AttributeError))
        frame = pd.DataFrame(X, columns=["u", "v"])
        model.fit(frame, y)
        assert model.feature_names_in_.tolist() == ["u", "v"] and model.n_features_in_ == 2
        assert 0.5 < model.score(frame, y) <= 1.0 and model.score(frame, np.full(30, 2.0)) == 0.0
        for bad, message in ((frame[["v", "u"]], "feature names should match"), (X[:, :1], "expecting 2 features")):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    model.predict(bad)
                raise AssertionError("no error")
            except ValueError as error:
                assert message in str(error), error
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.predict(X)
        assert "X does not have valid feature names" in str(caught[0].message)
        labels = np.where(y > 0, "in", "out")
        classifier = ln.BayesianMLPClassifier(hidden=(2,), cycles=3).fit(X, labels)
        assert classifier.score(X, labels) == np.mean(classifier.predict(X) == labels)
        try:
            classifier.score(X, labels[:1])
            raise AssertionError("no error")
        except ValueError:
            pass
        try:
            classifier.fit(X, labels, sample_weight=np.ones(30))
        except TypeError as error:
            assert "no weighted likelihood" in str(error)
        assert not any(name.startswith("sklearn.") for name in sys.modules)
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_fitted_estimators_pickle():
    """As joblib's process workers need: every activation and likelihood pickles (check_estimator tries tanh
    and the Gaussian likelihood)."""
    X, y = _sinusoid(n=20)
    model = BayesianMLPRegressor(hidden=(2,), activation="identity", cycles=3).fit(X, y)
    assert np.array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))
    classifier = BayesianMLPClassifier(hidden=(2,), cycles=3).fit(X, np.arange(20) % 3)
    assert np.array_equal(pickle.loads(pickle.dumps(classifier)).predict_proba(X), classifier.predict_proba(X))
