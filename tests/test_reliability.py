"""Issue 13: overflow never becomes a NaN result, the matrix budget bounds every dense matrix, arguments are
checked by kind, remedies fit the call; and a property-based test of the public entry points on bad arrays."""
import contextlib
import dataclasses
import io
import numbers
import os
import re
import tempfile
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import laplacenet as ln
from laplacenet import cli
from laplacenet.core.curvature import exact as exact_module
from laplacenet.arviz import read_netcdf
from laplacenet.check import numerical_hessian, relative_error

from tests.problems import make_problem

PACKAGE_DIR = os.path.dirname(ln.__file__)


@pytest.fixture
def budget():
    """Restore the matrix budget a test changes."""
    previous = ln.get_matrix_budget()
    yield
    ln.set_matrix_budget(previous)


def _overflowing(likelihood="gaussian"):
    """A network whose curvature overflows: identity hidden units pass inputs of 1e160 on, squared to 1e320."""
    net, w, X, T = make_problem(likelihood, "identity", n=7)
    return net, w, X * 1e160, T


# --- item 1: a non-finite curvature is a NonFiniteError, not a NaN posterior ----------------------------------

@pytest.mark.parametrize("options", [
    {"hessian": "exact"}, {"hessian": "outer"}, {"hessian": "fd"}, {"hessian": "diag"}, {"hessian": "kron"},
    {"hessian": "lowrank", "rank": 2}, {"hessian": "exact", "subset": "last_layer"},
], ids=lambda options: "-".join(map(str, options.values())))
def test_every_posterior_form_refuses_an_overflowed_curvature(options):
    net, w, X, T = _overflowing()
    with pytest.raises(ln.NonFiniteError, match="not finite.*Rescale the problem"):
        ln.laplace(net, w, X, T, 0.1, 10.0, **options)


def test_saturated_outputs_are_zero_curvature_not_an_error(monkeypatch):
    # Bernoulli outputs saturated by the same inputs: y (1 - y) = 0, so the outer curvature is 0 (A = the prior;
    # Lanczos cannot start from H = 0). The exact one keeps its second-order term g h'(a) x, of the inputs' size
    # (1e160): finite by the Gram route of one hidden layer, and indefinite, so no posterior; the layer blocks
    # form x x^T on the way and overflow
    net, w, X, T = _overflowing("bernoulli")
    for options in ({"hessian": "outer"}, {"hessian": "lowrank", "rank": 2}):
        assert ln.laplace(net, w, X, T, 0.1, **options).log_det == pytest.approx(net.n_params * np.log(0.1))
    with pytest.raises(ln.NotPositiveDefiniteError, match="not positive definite"):
        ln.laplace(net, w, X, T, 0.1, hessian="exact")
    monkeypatch.setattr(exact_module, "GRAM_EXACT_MARGIN", 0.0)  # the blocks
    with pytest.raises(ln.NonFiniteError, match="exact Hessian"):
        ln.laplace(net, w, X, T, 0.1, hessian="exact")


def test_the_issues_examples_raise_instead_of_returning_nan():
    net, w, X, T = make_problem()
    with pytest.raises(ln.NonFiniteError, match="exact Hessian"):
        ln.laplace(net, w, X * 1e300, T, 0.1, 10.0, hessian="exact")
    with pytest.raises(ln.NonFiniteError, match="Kronecker factor"):
        ln.log_evidence(net, w, X * 1e300, T, 0.1, 10.0, hessian="kron")
    with pytest.raises(ln.NonFiniteError, match="outer Hessian"):
        ln.laplace(net, w, X, T, 0.1, 1e308, hessian="outer")
    with pytest.raises(ln.NonFiniteError):
        ln.reestimate(net, w, X * 1e300, T, 0.1, 10.0, hessian="exact")


def test_a_woodbury_update_refuses_overflowing_patterns():
    net, w, X, T = make_problem("gaussian", "identity", n=7)
    posterior = ln.laplace(net, w, X, T, 1.0, 1.0, hessian="outer")
    with pytest.raises(ln.NonFiniteError, match="overflowed float64"):
        posterior.update(X[:3] * 1e160, T[:3])


def test_prediction_at_overflowing_inputs_is_refused():
    net, w, X, T = make_problem("gaussian", "identity", n=7)
    posterior = ln.laplace(net, w, X, T, 1.0, 1.0, hessian="outer")
    with pytest.raises(ln.NonFiniteError, match="predictive .* at X_new.*Rescale X_new"):
        posterior.predict(X * 1e300)


def test_the_core_refuses_to_return_overflowed_values():
    net, w, X, T = make_problem("categorical", "identity")
    with pytest.raises(ln.NonFiniteError, match=r"error E_D\(w\) is not finite"):
        ln.error(net, w * 1e160, X, T, 0.1)
    with pytest.raises(ln.NonFiniteError, match="gradient"):
        ln.gradient(net, w * 1e160, X, T, 0.1)
    net, w, X, T = _overflowing()
    with pytest.raises(ln.NonFiniteError, match="Hessian-vector product"):
        ln.hvp(net, w, X, T, np.ones(net.n_params), 0.1, 1.0)
    net, w, X, T = make_problem("gaussian")
    with pytest.raises(ln.NonFiniteError, match=r"the error E\(w\) is not finite"):
        ln.error(net, w * 1e5, X, T, 1e300, 1.0)  # a finite data error, an overflowing prior term
    for method in ("newton", "newton-cg", "L-BFGS-B"):
        with pytest.raises(ln.NonFiniteError, match="is not finite"):
            ln.train(net, X, T * 1e300, 0.1, 1.0, method=method, maxiter=5, warn=False)
    with pytest.raises(ln.NonFiniteError, match="prior term"):
        ln.log_evidence(net, w * 1e160, X, T, 0.1, 1.0, hessian="outer")


def test_the_error_is_a_value_error_exported_with_the_others():
    assert issubclass(ln.NonFiniteError, ValueError)
    assert "NonFiniteError" in ln.__all__ and ln.core.exceptions.NonFiniteError is ln.NonFiniteError


# --- item 2: class labels that are no classes are refused on every route ----------------------------------

_NOT_CLASS_INDICES = {  # labels of three classes (K = 3) with one bad entry, and what the error names
    "nan": (np.nan, "NaN or inf"), "inf": (np.inf, "NaN or inf"), "negative": (-1, r"outside 0\.\.2.*\[-1"),
    "fraction": (0.5, r"non-integer.*\[0\.5\]"), "K": (3, r"outside 0\.\.2.*\[3"),
    "huge": (1e9, r"outside 0\.\.2.*\[1000000000"),
}


def _labels_with(bad, n=12):
    labels = np.arange(n) % 3.0
    labels[4] = bad
    return labels


@pytest.mark.parametrize("case", sorted(_NOT_CLASS_INDICES))
@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_categorical_labels_that_are_not_class_indices_are_named(case, as_dask):
    bad, named = _NOT_CLASS_INDICES[case]
    net, w, X, _ = make_problem("categorical", n=12)
    T = _labels_with(bad)
    if as_dask:
        da = pytest.importorskip("dask.array")
        X, T = da.from_array(X, chunks=4), da.from_array(T, chunks=4)
    for call in (lambda: ln.error(net, w, X, T, 0.1), lambda: ln.laplace(net, w, X, T, 0.1),
                 lambda: ln.fit_evidence(net, X, T, cycles=1)):
        with pytest.raises(ValueError, match=r"T must hold integer class labels in 0\.\.2 .*" + named):
            call()


@pytest.mark.parametrize("T, named", [
    (np.resize(["a", "b", "c"], 12), r"got strings \(dtype <U1\)"),
    (np.resize(np.eye(3).astype(str), (12, 3)), r"got strings \(dtype <U32\)"),
    (np.array([0, 1, pd.NA] * 4, dtype=object), r"not numbers \(dtype object\)"),
    (np.resize(np.array([0, 1, None], dtype=object), 12), r"NaN or inf: \[nan\]"),
], ids=["str", "str-one-hot", "NA", "None"])
def test_categorical_labels_that_are_no_numbers_are_named(T, named):
    net, w, X, _ = make_problem("categorical", n=12)
    with pytest.raises(ValueError, match=r"T must hold integer class labels in 0\.\.2 .*" + named):
        ln.error(net, w, X, T, 0.1)


@pytest.mark.parametrize("case", ["nan", "inf", "negative", "fraction", "huge", "str", "too many classes"])
@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_compare_models_refuses_labels_that_are_not_class_indices(case, as_dask):
    # strings were a numpy UFuncTypeError, a label of 1e9 a MemoryError (a one-hot T of 1e9 columns), NaN "cannot
    # convert float NaN to integer"; the number of classes is the largest label + 1, at most one per row
    X = np.random.default_rng(0).normal(size=(12, 2))
    if case == "str":
        T, named = np.resize(["a", "b", "c"], 12), r"got strings \(dtype <U1\).*np\.unique.*BayesianMLPClassifier"
    elif case == "too many classes":
        T, named = np.where(np.arange(12) == 4, 12, np.arange(12) % 3), r"13 classes.*more than its 12 rows"
    else:
        bad, named = _NOT_CLASS_INDICES[case]
        T, named = _labels_with(bad), named.replace(r"0\.\.2", r"0\.\.K-1")
        if case == "huge":  # a larger label means more classes: at most one per row
            named = r"1000000001 classes.*more than its 12 rows"
    if as_dask:
        da = pytest.importorskip("dask.array")
        X, T = da.from_array(X, chunks=4), da.from_array(T, chunks=4)
    with pytest.raises(ValueError, match=r"T must hold integer class labels .*" + named):
        ln.compare_models(X, T, [1], 1, "categorical", cycles=1)


def test_dask_labels_of_the_classifier_must_be_classes():
    da = pytest.importorskip("dask.array")
    X = da.from_array(np.random.default_rng(0).normal(size=(12, 2)), chunks=4)
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="y must not hold missing or infinite labels"):
            ln.BayesianMLPClassifier(hidden=(2,), cycles=1).fit(X, da.from_array(_labels_with(bad), chunks=4))


# --- the user shell: the standardisation and the estimators' results in the user's units -------------------

def test_standardisation_of_huge_columns_is_finite():
    # the squares of deviations beyond 1e154 overflowed: x_scale_ was inf and the fit ignored the inputs
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 2)), rng.normal(size=20)
    small = ln.BayesianMLPRegressor(hidden=(2,), cycles=2).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        large = ln.BayesianMLPRegressor(hidden=(2,), cycles=2).fit(X * 1e200, y)
    assert np.allclose(large.x_scale_, small.x_scale_ * 1e200, rtol=1e-12)
    assert np.allclose(large.x_mean_, small.x_mean_ * 1e200, rtol=1e-12)
    assert np.allclose(large.predict(X * 1e200), small.predict(X), rtol=1e-8, atol=1e-10)


def test_columns_in_small_units_are_scaled_not_taken_for_constant():
    # a spread below 1e-12 counted as constant whatever the mean: a capacitance in farads (1e-13) or targets
    # times 1e-15 reached the network as zeros, and the fit ignored them without a word
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 2)), rng.normal(size=30)
    options = dict(hidden=(2,), cycles=2, seed=0)
    plain = ln.BayesianMLPRegressor(**options).fit(X, y)
    small = ln.BayesianMLPRegressor(**options).fit(X * [1e-13, 1.0], y * 1e-15)
    assert np.allclose(small.x_scale_, plain.x_scale_ * [1e-13, 1.0], rtol=1e-12)
    assert small.y_scale_ == pytest.approx(plain.y_scale_ * 1e-15, rel=1e-12)
    assert np.array_equal(small.w_, plain.w_)  # the same standardised bits reach the network
    mean, std = small.predict(X * [1e-13, 1.0], return_std=True)
    expected_mean, expected_std = plain.predict(X, return_std=True)
    assert relative_error(mean, 1e-15 * expected_mean) <= 1e-12 and relative_error(std, 1e-15 * expected_std) <= 1e-12
    classifier = ln.BayesianMLPClassifier(**options)
    labels = (X[:, 0] > 0).astype(int)
    assert np.array_equal(classifier.fit(X * [1e-13, 1.0], labels).w_, classifier.fit(X, labels).w_)
    # constant columns, exactly or to rounding, keep scale 1: 0.1 summed and divided is not exactly 0.1
    constant = ln.BayesianMLPRegressor(**options).fit(np.c_[X, np.zeros(30), np.full(30, 0.1)], y)
    assert np.all(constant.x_scale_[2:] == 1.0) and np.all(constant.x_scale_[:2] == plain.x_scale_)


def test_regression_targets_whose_variance_underflows_are_refused():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ln.NonFiniteError, match="variance of the regression targets underflows.*multiply it"):
        ln.BayesianMLPRegressor(hidden=(2,), cycles=2).fit(X, np.sin(X[:, 0]) * 1e-160)


def test_regression_targets_whose_variance_overflows_are_refused():
    # targets of 1e200 gave y_scale_ inf, beta_ 0, log_evidence_ -inf and predictions of -inf with std inf
    X = np.random.default_rng(0).normal(size=(20, 2))
    for fit in (lambda y: ln.BayesianMLPRegressor(hidden=(2,), cycles=2).fit(X, y),
                lambda y: ln.compare_models(X, y, [1], 1, cycles=2)):
        with pytest.raises(ln.NonFiniteError, match="variance of the regression targets is not finite.*Rescale y"):
            fit(np.sin(X[:, 0]) * 1e200)


def test_predictions_in_the_users_units_are_finite_or_refused():
    X = np.random.default_rng(0).normal(size=(20, 2))
    model = ln.BayesianMLPRegressor(hidden=(), cycles=2).fit(X, X[:, 0] * 1e150)
    assert np.all(np.isfinite(model.predict(X, return_std=True)))
    with pytest.raises(ln.NonFiniteError, match="predictive variance in the units of y is not finite"):
        model.predict(X * 1e10, return_std=True)  # finite on the fitted scale, beyond float64 in the user's units


def test_inputs_far_from_the_training_data_are_predicted_or_refused_as_beyond_float64():
    # the grid rounding multiplied by 2**26 and overflowed: NumPy's overflow warning, then "X_new must be
    # finite; it contains NaN or inf" about inputs that were finite
    X = np.random.default_rng(0).normal(size=(20, 2))
    regressor = ln.BayesianMLPRegressor(hidden=(2,), cycles=2).fit(0.1 * X, np.tanh(X[:, 0]))  # x_scale_ < 1
    classifier = ln.BayesianMLPClassifier(hidden=(2,), cycles=2).fit(X, X[:, 0] > 0)
    far = np.array([[1e300, 0.0], [-1e300, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        mean, std = regressor.predict(far, return_std=True)
        probabilities = classifier.predict_proba(far)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(np.isfinite(probabilities))
    # the saturated tanh units: the predictions there are those a little beyond the data
    assert mean == pytest.approx(regressor.predict(far * 1e-290), rel=1e-12)
    with pytest.raises(ln.NonFiniteError, match=r"X on the standardised scale .* is not finite .* too far from the "
                                                r"training data"):
        regressor.predict(np.array([[1e308, 0.0]]))  # finite, but 1e309 standard deviations from the mean


# --- item 3: the budget bounds every dense matrix, and the peaks are measured ---------------------------------

def test_numerical_hessian_and_from_prior_honour_the_budget(budget):
    net, w, X, T = make_problem()  # W = 26
    # the sizes in units that show them: both were "0.00 GiB"
    with pytest.raises(ValueError, match=r"finite-difference Hessian .* needs 5.28 KiB, above the budget of 5.28 "
                                         r"KiB;"):
        numerical_hessian(net, w, X, T, 0.1, 1.0, max_bytes=8 * 26 * 26 - 1)
    with pytest.raises(ValueError, match=r"needs 5.28 KiB, above the budget of 100 bytes;"):
        numerical_hessian(net, w, X, T, 0.1, 1.0, max_bytes=100)
    ln.set_matrix_budget(8 * 20 * 20)
    with pytest.raises(ValueError, match="finite-difference Hessian .* above the budget"):
        numerical_hessian(net, w, X, T, 0.1, 1.0, method="error")
    with pytest.raises(ValueError, match="inverse prior precision .* above the budget"):
        ln.IncrementalInverse.from_prior(0.1, 21)
    with pytest.raises(ValueError, match="above the budget"):
        ln.IncrementalInverse.from_matrix(np.eye(21))
    assert ln.IncrementalInverse.from_prior(0.1, 20).n_params == 20


def _peak_matrices(fn, n):
    """Peak memory traced while ``fn()`` runs, in (n, n) float64 matrices."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / (8 * n * n)


def test_peak_memory_is_a_small_multiple_of_one_matrix():
    # W = 1 302; the multiples of docs/howto/reliability.rst, measured at W = 1 042, with some slack (the blocks of
    # rows in which a W x W matrix is symmetrised, mirrored or scanned take a fixed 0.5-1.5 MiB, 0.04-0.1 here)
    net = ln.MLP([10, 100, 2])
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(60, 10)), rng.normal(size=(60, 2))
    w, W = 0.5 * net.init(0), net.n_params
    posterior = ln.laplace(net, w, X, T, 1.0, 10.0, hessian="outer")
    assert _peak_matrices(lambda: ln.laplace(net, w, X, T, 1.0, 10.0, hessian="outer"), W) < 2.2
    assert _peak_matrices(lambda: posterior.update(X[:10], T[:10]), W) < 2.4
    assert _peak_matrices(lambda: ln.IncrementalInverse.from_prior(0.1, W), W) < 1.1
    assert _peak_matrices(lambda: ln.inverse_outer_hessian(net, w, X, T, 1.0, 10.0), W) < 2.3
    assert _peak_matrices(lambda: numerical_hessian(net, w, X[:3], T[:3], 1.0, 10.0), W) < 1.3


def test_the_budget_says_what_it_bounds():
    doc = ln.set_matrix_budget.__doc__
    assert "every single dense matrix" in doc and "not a bound on the peak memory" in doc


# --- item 6: arguments checked by kind, with one checker per kind ---------------------------------------------

def _core_calls(net, w, X, T):
    v = np.ones(net.n_params)
    return {
        "error": lambda **k: ln.error(net, w, X, T, 0.1, 1.0, **k),
        "gradient": lambda **k: ln.gradient(net, w, X, T, 0.1, 1.0, **k),
        "hessian-exact": lambda **k: ln.hessian(net, w, X, T, 0.1, 1.0, "exact", **k),
        "hessian-outer": lambda **k: ln.hessian(net, w, X, T, 0.1, 1.0, "outer", **k),
        "hessian-diag": lambda **k: ln.hessian(net, w, X, T, 0.1, 1.0, "diag", **k),
        "hessian-fd": lambda **k: ln.hessian(net, w, X, T, 0.1, 1.0, "fd", **k),
        "hessian_diagonal": lambda **k: ln.hessian_diagonal(net, w, X, T, 0.1, 1.0, **k),
        "hvp": lambda **k: ln.hvp(net, w, X, T, v, 0.1, 1.0, **k),
        "kron_factors": lambda **k: ln.kron_factors(net, w, X, T, 1.0, **k),
        "train": lambda **k: ln.train(net, X, T, 0.1, 1.0, w0=w, maxiter=2, warn=False, **k),
        "laplace": lambda **k: ln.laplace(net, w, X, T, 0.1, 1.0, "outer", **k),
        "log_evidence": lambda **k: ln.log_evidence(net, w, X, T, 0.1, 1.0, "outer", **k),
        "inverse_outer_hessian": lambda **k: ln.inverse_outer_hessian(net, w, X, T, 0.1, 1.0, **k),
    }


@pytest.mark.parametrize("chunk_size", [0, -1, 2.5, "10", True])
def test_every_chunk_size_is_checked_alike(chunk_size):
    net, w, X, T = make_problem()
    for name, call in _core_calls(net, w, X, T).items():
        with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
            call(chunk_size=chunk_size)


def test_chunk_size_none_is_the_default_everywhere():
    net, w, X, T = make_problem()
    for name, call in _core_calls(net, w, X, T).items():
        call(chunk_size=None)
    assert ln.error(net, w, X, T, 0.1, 1.0, chunk_size=None) == ln.error(net, w, X, T, 0.1, 1.0)


def test_gtol_none_is_the_default():
    net, w, X, T = make_problem()
    w_none, report = ln.train(net, X, T, 0.1, 1.0, w0=w, gtol=None)
    w_default, _ = ln.train(net, X, T, 0.1, 1.0, w0=w)
    assert report.converged and np.array_equal(w_none, w_default)


@pytest.mark.parametrize("seed", ["a", -1, 1.5, True])
def test_seeds_are_checked(seed):
    net, w, X, T = make_problem()
    with pytest.raises(ValueError, match="seed must be None or a non-negative integer"):
        ln.train(net, X, T, 0.1, 1.0, seed=seed)
    with pytest.raises(ValueError, match="seed must be None or a non-negative integer"):
        ln.fit_evidence(net, X, T, seed=seed, cycles=1)


@pytest.mark.parametrize("max_bytes", ["x", -1, 0, float("inf"), float("nan")])
def test_max_bytes_is_checked(max_bytes):
    net, w, X, T = make_problem()
    for call in (lambda: ln.hessian(net, w, X, T, 0.1, 1.0, max_bytes=max_bytes),
                 lambda: ln.hessian(net, w, X, T, 0.1, 1.0, "diag", max_bytes=max_bytes),
                 lambda: ln.inverse_outer_hessian(net, w, X, T, 0.1, 1.0, max_bytes=max_bytes),
                 lambda: numerical_hessian(net, w, X, T, 0.1, 1.0, max_bytes=max_bytes),
                 lambda: ln.IncrementalInverse.from_prior(0.1, 5, max_bytes=max_bytes)):
        with pytest.raises(ValueError, match="max_bytes must be None .* or a positive finite number of bytes"):
            call()


@pytest.mark.parametrize("n_bytes", [float("inf"), float("nan"), 0.5, 0, -8, "x", None, True])
def test_set_matrix_budget_refuses_what_is_not_a_budget(budget, n_bytes):
    before = ln.get_matrix_budget()
    with pytest.raises(ValueError, match="n_bytes must be a finite number of bytes >= 8"):
        ln.set_matrix_budget(n_bytes)
    assert ln.get_matrix_budget() == before


def test_set_matrix_budget_rounds_a_float_down(budget):
    ln.set_matrix_budget(1e6 + 0.5)
    assert ln.get_matrix_budget() == 1_000_000


@pytest.mark.parametrize("train_kwargs, match", [
    ({"bogus": 1}, r"not options of laplacenet.train: \['bogus'\]"),
    ({"gtol": 1e-4, "maxiterations": 3}, r"\['maxiterations'\]"),
    ({"seed": 1}, r"must not set \['seed'\]: fit_evidence controls them"),
    ("gtol=1e-4", "train_kwargs must be a dict"),
])
def test_unknown_train_kwargs_are_named(train_kwargs, match):
    net, w, X, T = make_problem()
    with pytest.raises(ValueError, match=match):
        ln.fit_evidence(net, X, T, cycles=1, train_kwargs=train_kwargs)


@pytest.mark.parametrize("name", ["X", "T", "w", "alpha", "beta"])
@pytest.mark.parametrize("fn", [ln.error, ln.gradient, ln.hessian])
def test_complex_arguments_are_refused_not_truncated(fn, name):
    net, w, X, T = make_problem()
    args = {"net": net, "w": w, "X": X, "T": T, "alpha": 0.1, "beta": 1.0}
    args[name] = np.asarray(args[name]) + 1e-3j
    with pytest.raises(ValueError, match=f"{name} must be real numbers; got complex values"):
        fn(**args)


def test_complex_arguments_are_refused_by_the_bayesian_layer_and_the_inverse():
    net, w, X, T = make_problem()
    with pytest.raises(ValueError, match="w_map must be real"):
        ln.laplace(net, w + 0j, X, T, 0.1, 1.0)
    with pytest.raises(ValueError, match="T must be real"):
        ln.laplace(net, w, X, list(T + 1j), 0.1, 1.0)
    posterior = ln.laplace(net, w, X, T, 0.1, 1.0, "outer")
    with pytest.raises(ValueError, match="X_new must be real"):
        posterior.predict(X + 1j)
    state = ln.IncrementalInverse.from_prior(1.0, 3)
    with pytest.raises(ValueError, match="B must be real"):
        state.update(np.ones(3) * 1j)
    with pytest.raises(ValueError, match="alpha must be real"):
        ln.IncrementalInverse.from_prior(1.0 + 1j, 3)


# --- item 8: remedies fit the call ----------------------------------------------------------------------------

def test_rounding_in_a_semidefinite_precision_is_not_told_to_use_outer():
    net, w, X, T = make_problem(hidden=(6,), n=5)
    with pytest.raises(ln.NotPositiveDefiniteError) as info:
        ln.laplace(net, w, X, T, 1e-16, 10.0, hessian="outer")
    message = str(info.value)
    assert -1e-10 < info.value.min_eigenvalue < 0
    assert "hessian='outer' (positive" not in message and "train further" not in message
    assert "rounding error" in message and "larger alpha" in message and "jitter" in message
    with pytest.raises(ln.NotPositiveDefiniteError, match="rounding error") as info:
        ln.laplace(net, w, X, T, 1e-16, 10.0, hessian="exact", subset="last_layer")
    assert "train further" not in str(info.value)


def test_an_indefinite_exact_hessian_is_told_to_use_outer():
    net, w, X, T = make_problem(hidden=(6,), n=5)
    with pytest.raises(ln.NotPositiveDefiniteError, match="not a minimum.*use hessian='outer'"):
        ln.laplace(net, w, X, T, 1e-16, 10.0, hessian="exact")


def test_the_bayesian_budget_error_names_the_structures(budget):
    net, w, X, T = make_problem()
    ln.set_matrix_budget(8 * (net.n_params - 1) ** 2)
    for call in (lambda: ln.laplace(net, w, X, T, 0.1, 1.0, "outer"),
                 lambda: ln.log_evidence(net, w, X, T, 0.1, 1.0, "exact")):
        with pytest.raises(ValueError, match="above the budget") as info:
            call()
        message = str(info.value)
        assert all(s in message for s in ("hessian='kron'", "hessian='lowrank'", "subset='last_layer'"))
    assert np.isfinite(ln.laplace(net, w, X, T, 0.1, 1.0, "kron").log_det)


# --- every entry point on bad arrays: a finite result or laplacenet's own ValueError / TypeError ---------------

def _bad(kind, value, rng):
    value = np.asarray(value, dtype=float)
    if kind == "nan":
        return np.where(rng.random(value.shape) < 0.5, np.nan, value) if value.size else value
    if kind == "inf":
        return np.full(value.shape, -np.inf if rng.random() < 0.5 else np.inf)
    if kind == "huge":  # everything, or one entry, at a scale whose square or whose cube overflows
        scale = 1e300 if rng.random() < 0.5 else 1e110
        if value.ndim == 0 or rng.random() < 0.5:
            return value * scale + scale
        value = value.copy()
        value.flat[rng.integers(value.size)] = scale
        return value
    if kind == "complex":
        return value + 1j
    if kind == "shape":
        return np.zeros(value.shape + (2,)) if rng.random() < 0.5 else np.zeros(value.size + 1)
    return np.zeros((0,) + value.shape[1:])  # empty


def _entry_points(net, w, X, T):
    posterior = ln.laplace(net, w, X, T, 0.5, 2.0, "outer")
    hessians = [{"hessian": h} for h in ("exact", "outer", "diag", "fd", "kron")]
    hessians += [{"hessian": "lowrank", "rank": 2}, {"hessian": "outer", "subset": "last_layer"}]
    calls = {
        "error": lambda a: ln.error(net, a["w"], a["X"], a["T"], a["alpha"], a["beta"]),
        "gradient": lambda a: ln.gradient(net, a["w"], a["X"], a["T"], a["alpha"], a["beta"]),
        "hvp": lambda a: ln.hvp(net, a["w"], a["X"], a["T"], a["v"], a["alpha"], a["beta"]),
        "train": lambda a: ln.train(net, a["X"], a["T"], a["alpha"], a["beta"], w0=a["w"], maxiter=3, warn=False),
        "log_evidence-outer": lambda a: ln.log_evidence(net, a["w"], a["X"], a["T"], a["alpha"], a["beta"], "outer"),
        "log_evidence-kron": lambda a: ln.log_evidence(net, a["w"], a["X"], a["T"], a["alpha"], a["beta"], "kron"),
        "predict": lambda a: posterior.predict(a["X"]),
    }
    for method in ("exact", "outer", "diag", "fd"):
        calls[f"hessian-{method}"] = (lambda m: lambda a: ln.hessian(net, a["w"], a["X"], a["T"], a["alpha"],
                                                                     a["beta"], m))(method)
    for options in hessians:
        calls["laplace-" + "-".join(map(str, options.values()))] = (
            lambda o: lambda a: ln.laplace(net, a["w"], a["X"], a["T"], a["alpha"], a["beta"], **o))(options)
    return calls


_PROBLEMS = {lik: make_problem(lik, act, hidden=(3,), n=6, seed=2)
             for lik, act in (("gaussian", "identity"), ("bernoulli", "relu"), ("categorical", "tanh"))}
_CALLS = {lik: _entry_points(*problem) for lik, problem in _PROBLEMS.items()}
_NAMES = sorted(_CALLS["gaussian"])


def _is_finite(result):
    if isinstance(result, tuple):
        return all(_is_finite(part) for part in result)
    if isinstance(result, ln.LaplacePosterior):
        return np.isfinite(result.log_det) and _is_finite(result.variances())
    if isinstance(result, ln.TrainReport):
        return np.isfinite(result.error)
    return bool(np.all(np.isfinite(np.asarray(result, dtype=float))))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(likelihood=st.sampled_from(sorted(_PROBLEMS)), entry=st.sampled_from(_NAMES),
       argument=st.sampled_from(["X", "T", "w", "alpha", "beta", "v"]),
       kind=st.sampled_from(["nan", "inf", "huge", "complex", "shape", "empty"]), seed=st.integers(0, 2**16))
def test_bad_arrays_give_a_finite_result_or_a_named_error(likelihood, entry, argument, kind, seed):
    net, w, X, T = _PROBLEMS[likelihood]
    args = {"w": w, "X": X, "T": T, "alpha": 0.5, "beta": 2.0, "v": np.ones(net.n_params)}
    args[argument] = _bad(kind, args[argument], np.random.default_rng(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = _CALLS[likelihood][entry](args)
        except (ValueError, TypeError) as ex:
            frame = ex.__traceback__
            while frame.tb_next is not None:
                frame = frame.tb_next
            raised_in = frame.tb_frame.f_code.co_filename
            assert raised_in.startswith(PACKAGE_DIR), f"{type(ex).__name__} raised in {raised_in}: {ex}"
            return
    assert _is_finite(result), f"{entry} returned a non-finite result for {kind} {argument}"


# --- the Bayesian layer and the user shell on bad arrays ------------------------------------------------------

try:
    import sklearn
    SKLEARN_DIR = os.path.dirname(sklearn.__file__)
except ImportError:  # the estimators validate X themselves
    SKLEARN_DIR = PACKAGE_DIR


def _raised_in(ex):
    """The file of the innermost frame of ``ex``'s traceback: where it was raised."""
    frame = ex.__traceback__
    while frame.tb_next is not None:
        frame = frame.tb_next
    return frame.tb_frame.f_code.co_filename


def _assert_named_error(ex):
    """A ValueError of laplacenet's (or of scikit-learn's validation of X, which the estimators use), or a TypeError
    laplacenet raised for an argument of the wrong type, naming it; nothing from NumPy, pandas, xarray, ..."""
    raised_in = _raised_in(ex)
    ours = raised_in.startswith(PACKAGE_DIR)
    assert ours or (isinstance(ex, ValueError) and raised_in.startswith(SKLEARN_DIR)), \
        f"{type(ex).__name__} raised in {raised_in}: {ex}"
    assert not isinstance(ex, TypeError) or any(name in str(ex) for name in ("X", "y", "T", "extra")), ex


def _finite(value):
    """Whether every number in ``value`` is finite: arrays and numbers, sequences, dicts, the results of laplacenet
    (dataclasses, posteriors, comparisons, fitted estimators) and ArviZ containers. A k-hat of -inf (the draws are
    exactly the posterior's) or +inf is a value of k-hat, not an overflow; NaN never is."""
    if value is None or isinstance(value, (str, bool, np.bool_, ln.MLP)):
        return True
    if isinstance(value, (numbers.Number, np.ndarray)):
        a = np.asarray(value)
        return a.dtype.kind not in "fc" or bool(np.all(np.isfinite(a)))
    if isinstance(value, (tuple, list)):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, ln.LaplacePosterior):
        return _finite((value.mean, value.log_det, value.variances(), value.alpha, value.beta))
    if isinstance(value, ln.LaplaceDiagnostic):
        return not np.isnan(value.khat) and all(_finite(getattr(value, field.name)) for field in
                                                dataclasses.fields(value) if field.name != "khat")
    if dataclasses.is_dataclass(value):
        return all(_finite(getattr(value, field.name)) for field in dataclasses.fields(value))
    if isinstance(value, ln.ModelComparison):
        return _finite(value.rows)
    if isinstance(value, (ln.BayesianMLPRegressor, ln.BayesianMLPClassifier)):
        return _finite({name: v for name, v in vars(value).items() if name.endswith("_")})
    if hasattr(value, "groups"):  # ArviZ's InferenceData
        return all(_finite(variable.values) for group in value.groups() for variable in value[group].data_vars.values())
    raise AssertionError(f"no rule for a {type(value).__name__}")


def _shell_problem(likelihood):
    net, w, X, T = make_problem(likelihood, "tanh", hidden=(2,), n_inputs=2, n=8, seed=3)
    estimator = ln.BayesianMLPRegressor if likelihood == "gaussian" else ln.BayesianMLPClassifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = estimator(hidden=(2,), cycles=2).fit(X, T)
    return net, w, X, T, model


_SHELL = {likelihood: _shell_problem(likelihood) for likelihood in ("gaussian", "bernoulli", "categorical")}


def _shell_entry_points(likelihood, net, w, X, T, model):
    regression = likelihood == "gaussian"
    estimator = type(model)

    def fitted(a):
        hyper = {"alpha": a["alpha"], **({"beta": a["beta"]} if regression else {})}
        return estimator(hidden=(2,), cycles=2, **hyper).fit(a["X"], a["T"])

    calls = {
        "fit_evidence": lambda a: ln.fit_evidence(net, a["X"], a["T"], a["alpha"], a["beta"], "outer", cycles=2),
        "reestimate": lambda a: ln.reestimate(net, a["w"], a["X"], a["T"], a["alpha"], a["beta"], "outer"),
        "compare_models": lambda a: ln.compare_models(a["X"], a["T"], [1], 1, likelihood, alpha=a["alpha"],
                                                      beta=a["beta"], cycles=2),
        "fit": fitted,
        "predict": (lambda a: model.predict(a["X"], return_std=True)) if regression else
                   (lambda a: model.predict(a["X"])),
        "predict_proba": (lambda a: model.predict_proba(a["X"])) if not regression else  # a regressor has none:
                         (lambda a: model.predict(a["X"])),                            # predict, without std
        "score": lambda a: model.score(a["X"], a["T"]),
        "diagnose": lambda a: ln.diagnose(model, a["X"], a["T"], draws=25, seed=0),
        "to_inference_data": lambda a: ln.to_inference_data(model, a["X"], a["T"], draws=13, chains=2, seed=0),
    }
    return calls


_SHELL_CALLS = {likelihood: _shell_entry_points(likelihood, *problem) for likelihood, problem in _SHELL.items()}


def _bad_objects(value, rng):
    """``value`` as an object array with missing values and strings among its numbers."""
    value = np.array(value, dtype=object)
    value.flat[rng.choice(value.size, size=min(value.size, 3), replace=False)] = [None, "n/a", pd.NA][:value.size]
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(likelihood=st.sampled_from(sorted(_SHELL)), entry=st.sampled_from(sorted(_SHELL_CALLS["gaussian"])),
       argument=st.sampled_from(["X", "T", "w", "alpha", "beta"]),
       kind=st.sampled_from(["nan", "inf", "huge", "complex", "shape", "empty", "objects"]), seed=st.integers(0, 2**16))
def test_the_bayesian_layer_and_the_estimators_give_a_finite_result_or_a_named_error(likelihood, entry, argument,
                                                                                     kind, seed):
    net, w, X, T, _ = _SHELL[likelihood]
    args = {"w": w, "X": X, "T": T, "alpha": 0.5, "beta": 2.0}
    rng = np.random.default_rng(seed)
    args[argument] = _bad_objects(args[argument], rng) if kind == "objects" else _bad(kind, args[argument], rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = _SHELL_CALLS[likelihood][entry](args)
        except (ValueError, TypeError) as ex:
            _assert_named_error(ex)
            return
    assert _finite(result), f"{entry} returned a non-finite result for {kind} {argument}"


_EXTRA_LEAVES = st.sampled_from([
    None, True, 3, np.int64(7), -2**70, 2**64, 1.5, np.float32(0.5), float("nan"), float("inf"), np.float64(-np.inf),
    "text", "\ud800", "a\x00b", b"bytes", 1 + 2j, frozenset({1}), np.array([1.0, np.nan]), np.array([[1, 2]]),
    np.array(["a"]), np.array([None]), np.array([1j]), np.datetime64("2020-01-01"), pd.NA, print])
_EXTRAS = st.recursive(_EXTRA_LEAVES, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) |
                       st.dictionaries(st.sampled_from(["a", "b", "__tuple__", "__ndarray__", 1, None]), inner,
                                       max_size=3), max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extra=_EXTRAS | st.dictionaries(st.text(max_size=3), _EXTRAS, max_size=3))
def test_save_with_any_extra_writes_a_file_load_reads_or_names_the_problem(extra):
    _, _, X, _, model = _SHELL["gaussian"]
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.npz")
        try:
            ln.save(model, path, extra=extra)
        except ValueError as ex:
            assert _raised_in(ex).startswith(PACKAGE_DIR) and "extra" in str(ex), ex
            assert os.listdir(directory) == []
            return
        loaded = ln.load(path)
        assert ("extra" in ln.io.read_metadata(path)) == (extra is not None)
    assert np.array_equal(loaded.predict(X, return_std=True), model.predict(X, return_std=True))


# --- the command line on bad data files: exit status 2 and one line, or finite files ----------------------------

def _good_frame(task, n=12):
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, size=(n, 2))
    y = {"regression": np.sin(2 * x[:, 0]), "binary": np.arange(n) % 2, "multiclass": np.arange(n) % 3}[task]
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "y": y})


@pytest.fixture(scope="module")
def cli_models(tmp_path_factory):
    """A model per task, fitted on good data by the command line, for ``predict`` and ``export``."""
    directory = tmp_path_factory.mktemp("cli")
    for task in ("regression", "binary", "multiclass"):
        _good_frame(task).to_csv(directory / f"{task}.csv", index=False)
        assert cli.main(["fit", str(directory / f"{task}.csv"), "--target", "y", "--task", task, "--hidden", "2",
                         "--cycles", "2", "--quiet", "--out", str(directory / f"{task}.npz")]) == 0
    return directory


def _spoiled(frame, column, kind, rng):
    """``frame`` with ``column`` made bad: a value of ``kind`` in one row, or every row."""
    if kind == "empty":
        return frame
    frame = frame.astype({column: object if kind in ("text", "complex") else float})
    rows = slice(None) if rng.random() < 0.3 else [int(rng.integers(len(frame)))]
    value = {"nan": np.nan, "inf": -np.inf if rng.random() < 0.5 else np.inf, "huge": 1e300 * rng.choice([-1, 1]),
             "text": "n/a", "complex": 1 + 2j, "constant": 1.0}[kind]
    frame.loc[frame.index[rows], column] = value
    return frame


def _write_data(path, frame, form, kind):
    """The data file: CSV, NPZ of arrays X and y, or NPZ of columns; ``empty`` keeps the header (or no row)."""
    if kind == "empty":
        frame = frame.iloc[:0]
    if form == "csv":
        frame.to_csv(path, index=False)
    elif form == "npz-arrays":
        np.savez(path, X=frame[["x1", "x2"]].to_numpy(), y=frame["y"].to_numpy())
    else:
        np.savez(path, **{name: frame[name].to_numpy() for name in frame.columns})


def _finite_outputs(command, task, out):
    """Whether what a command wrote holds finite numbers only."""
    if command == "fit":
        return _finite(ln.load(out))
    if command == "compare":  # the columns left empty: test_error without --test data, beta of a classifier
        empty = ["test_error"] + ([] if task == "regression" else ["beta"])
        return _finite(pd.read_csv(out / "evidence.csv").drop(columns=empty).select_dtypes("number").to_numpy())
    if command == "predict":
        return _finite(pd.read_csv(out).select_dtypes("number").to_numpy())
    return _finite(read_netcdf(out))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(["fit", "compare", "predict", "export"]),
       task=st.sampled_from(["regression", "binary", "multiclass"]), column=st.sampled_from(["x1", "y"]),
       kind=st.sampled_from(["nan", "inf", "huge", "text", "complex", "constant", "empty"]),
       form=st.sampled_from(["csv", "npz-arrays", "npz-columns"]), seed=st.integers(0, 2**16))
def test_the_command_line_on_bad_data_exits_2_with_one_line_or_writes_finite_numbers(cli_models, command, task,
                                                                                      column, kind, form, seed):
    data = cli_models / ("data.csv" if form == "csv" else "data.npz")
    _write_data(data, _spoiled(_good_frame(task), column, kind, np.random.default_rng(seed)), form, kind)
    out = cli_models / {"fit": "out.npz", "compare": "compared", "predict": "out.csv", "export": "out.nc"}[command]
    argv = {"fit": ["fit", str(data), "--target", "y", "--task", task, "--hidden", "2", "--cycles", "2"],
            "compare": ["compare", str(data), "--target", "y", "--task", task, "--hidden", "1", "--cycles", "2"],
            "predict": ["predict", str(cli_models / f"{task}.npz"), str(data)],
            "export": ["export", str(cli_models / f"{task}.npz"), str(data), "--draws", "13", "--chains", "2"]}[command]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = cli.main(argv + ["--quiet", "--out", str(out)])
    lines = stderr.getvalue().splitlines()
    assert "Traceback" not in stderr.getvalue() and all(line.startswith("laplacenet: ") for line in lines), lines
    if status == 0:
        assert not any(line.startswith("laplacenet: error: ") for line in lines), lines
        assert _finite_outputs(command, task, out), f"{command} wrote non-finite numbers for {kind} {column} ({form})"
    else:
        assert status == 2 and lines and lines[-1].startswith("laplacenet: error: "), (status, lines)
        assert sum(line.startswith("laplacenet: error: ") for line in lines) == 1, lines
        # a ValueError or OSError says what is wrong; any other exception is shown with its type: it escaped
        assert not re.match(r"laplacenet: error: \w+(Error|Exception): ", lines[-1]), lines[-1]
