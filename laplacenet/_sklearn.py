"""scikit-learn's estimator protocol for the estimators, with or without scikit-learn installed.

With scikit-learn >= 1.6 (the extra ``laplacenet[sklearn]``; an older release is ignored) the estimators derive
from its ``BaseEstimator`` and ``RegressorMixin`` / ``ClassifierMixin``: tags, ``clone``, ``is_classifier``,
pipelines, searches and ``check_estimator`` see them as scikit-learn's own, and inputs are converted by its
``validate_data``. Without it, small stand-ins keep the same protocol - ``get_params`` / ``set_params``,
``n_features_in_`` and ``feature_names_in_`` - so that scikit-learn stays an optional dependency. Either way
``score`` is :func:`r2_score` or :func:`accuracy_score`: scikit-learn's scores by its conventions, which never
overflow and never raise NumPy's errors on labels that do not compare.
"""
import inspect
import warnings

import numpy as np
from scipy.sparse import issparse

from .core._chunks import is_dask_array
from .core._validation import check_X, refuse_complex
from .core.exceptions import NotFittedError as _NotFittedError

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import DataConversionWarning
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
    from sklearn.utils.validation import validate_data  # scikit-learn >= 1.6, the first with estimator tags
    HAVE_SKLEARN = True

    class NotFittedError(_NotFittedError, _SklearnNotFittedError):
        """laplacenet's :class:`~laplacenet.core.exceptions.NotFittedError`, caught as scikit-learn's too."""
except ImportError:
    HAVE_SKLEARN = False
    NotFittedError = _NotFittedError

    class DataConversionWarning(UserWarning):
        """Data given in one form was converted to another (scikit-learn's warning of the same name)."""

    class BaseEstimator:
        """The parameters protocol of scikit-learn's ``BaseEstimator``: the constructor's arguments, by name."""

        @classmethod
        def _get_param_names(cls):
            return sorted(p for p in inspect.signature(cls.__init__).parameters if p != "self")

        def get_params(self, deep=True):
            """The constructor parameters as a dict."""
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            """Set constructor parameters; returns ``self``."""
            valid = self._get_param_names()
            for name, value in params.items():
                if name not in valid:
                    raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}. Valid "
                                     f"parameters are: {valid!r}.")
                setattr(self, name, value)
            return self

        def __repr__(self):
            defaults = inspect.signature(type(self).__init__).parameters
            changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                       if repr(value) != repr(defaults[name].default)]
            return f"{type(self).__name__}({', '.join(changed)})"

    class RegressorMixin:
        """Nothing: the regressor defines ``score`` itself (:func:`r2_score`), with scikit-learn or without."""

    class ClassifierMixin:
        """Nothing: the classifier defines ``score`` itself (:func:`accuracy_score`), with scikit-learn or
        without."""


def validate_X(estimator, X, reset):
    """``X`` at an estimator's boundary, as a float64 array (a dask array stays one, read later).

    A sparse ``X`` is refused. With ``reset`` (in ``fit``) ``n_features_in_`` and ``feature_names_in_`` (the
    column names of a DataFrame, when they are all strings) are set, otherwise ``X`` is checked against them by
    scikit-learn's rules: a different count or different names are an error, names on one side only a warning.
    With scikit-learn installed its ``validate_data`` does all this, and converts ``X`` as it does for its own
    estimators; without it, :func:`laplacenet.core._validation.check_X` converts it.
    """
    if issparse(X):
        raise TypeError(f"X is a sparse {type(X).__name__}; {type(estimator).__name__} needs dense data: pass "
                        f"X.toarray()")
    if HAVE_SKLEARN:
        if is_dask_array(X):  # read partition by partition later, never gathered here
            return validate_data(estimator, check_X(X), reset=reset, skip_check_array=True)
        try:
            return validate_data(estimator, X, reset=reset, dtype=np.float64)
        except TypeError as ex:  # scikit-learn's estimator checks expect a TypeError for objects that are no numbers
            if _numbers(X):  # a TypeError of scikit-learn's own (column names of mixed types)
                raise
            raise TypeError(f"X must be a 2-D array of numbers; {ex}") from None
        except ValueError as ex:  # text among the values: pandas' or NumPy's message names neither X nor a column
            if _numbers(X):
                raise
            advice = (". Encode text features as numbers first (e.g. scikit-learn's OneHotEncoder or "
                      "OrdinalEncoder)") if "string" in str(ex) else ""
            raise ValueError(f"X must be a 2-D array of numbers; {_text_columns(X)}{str(ex).rstrip('.')}{advice}") \
                from None
    names = _feature_names(X)
    X = check_X(X)
    _check_features(estimator, names, X.shape[1], reset)
    return X


def _numbers(X):
    """Whether ``X`` converts to a float array (a TypeError of NumPy's for None or pd.NA among numbers)."""
    try:
        np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        return False
    return True


def _text_columns(X):
    """``"the columns 'b', 'c' do not convert: "`` for a DataFrame ``X``, naming the columns that do not convert
    to float; ``""`` for anything else."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return ""
    bad = [name for name in columns if not _numbers(X[name])]
    if not bad:
        return ""
    return f"the column{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))} do{'' if len(bad) > 1 else 'es'} " \
           f"not convert to numbers: "


def _feature_names(X):
    """The column names of a DataFrame ``X`` as an object array when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    kinds = sorted({type(name).__name__ for name in names})
    if len(kinds) > 1 and "str" in kinds:
        raise TypeError(f"Feature names are only supported if all input features have string names; got column "
                        f"names of the types {kinds}: convert them all to str (X.columns = X.columns.astype(str))")
    return names if kinds == ["str"] else None


def _check_features(estimator, names, n_features, reset):
    """Set (``reset``) or check ``n_features_in_`` and ``feature_names_in_`` by scikit-learn's rules."""
    cls = type(estimator).__name__
    if reset:
        estimator.n_features_in_ = n_features
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None and names is None:
        warnings.warn(f"X does not have valid feature names, but {cls} was fitted with feature names", UserWarning)
    elif fitted is None and names is not None:
        warnings.warn(f"X has feature names, but {cls} was fitted without feature names", UserWarning)
    elif fitted is not None and (len(fitted) != len(names) or np.any(fitted != names)):
        raise ValueError(f"The feature names should match those that were passed during fit: {cls} was fitted "
                         f"with {fitted.tolist()}; got {names.tolist()}")
    if n_features != estimator.n_features_in_:
        raise ValueError(f"X has {n_features} features, but {cls} is expecting {estimator.n_features_in_} "
                         f"features as input.")


def _one_per_row(y, n_rows, name):
    """``y`` as an array of ``n_rows`` rows, a column vector as a vector."""
    y = np.asarray(y)
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim == 0 or y.shape[0] != n_rows:
        raise ValueError(f"{name} must have one row per prediction ({n_rows}); got shape {y.shape}")
    return y


def _weights(sample_weight, n_rows):
    return None if sample_weight is None else _one_per_row(sample_weight, n_rows, "sample_weight").astype(float)


def accuracy_score(y, predicted, sample_weight=None):
    """The (weighted) fraction of the labels ``y`` (N,) equal to ``predicted`` (N,), as scikit-learn's
    ``accuracy_score``; a label of any type, missing or of no class seen in fit, is a wrong prediction."""
    predicted = np.asarray(predicted)
    y = _one_per_row(y, predicted.shape[0], "y")
    if object in (predicted.dtype, y.dtype):  # label by label: pd.NA == label is NA, which is no bool
        matches = np.array([_same_label(a, b) for a, b in zip(predicted.tolist(), y.tolist())], dtype=bool)
    else:
        matches = predicted == y
    return float(np.average(matches, weights=_weights(sample_weight, y.shape[0])))


def _same_label(a, b):
    """``a == b`` for two labels, False when the comparison is not a truth value (a missing label)."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def r2_score(y, predicted, sample_weight=None):
    """R^2 of ``predicted`` (N,) or (N, K) for ``y``, averaged over the outputs, with scikit-learn's convention for
    a constant output: 1 when predicted exactly, else 0 (not -inf or NaN). Finite for any finite ``y``: R^2 does not
    depend on the units of y, and values beyond 2^500 are measured in units of a power of two (exactly), so that
    no square overflows."""
    predicted = np.asarray(predicted, dtype=float)
    predicted = predicted.reshape(predicted.shape[0], -1)
    refuse_complex(y, "y")
    try:
        y = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("y must hold numbers (regression targets); it could not be converted to float") from None
    y = y.reshape(y.shape[0], -1) if y.ndim else y
    if y.shape != predicted.shape:
        raise ValueError(f"y must have the shape of the predictions {predicted.shape}; got {np.shape(y)}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y must be finite; it contains NaN or inf")
    largest = max(float(np.max(np.abs(y), initial=0.0)), float(np.max(np.abs(predicted), initial=0.0)))
    if largest > 2.0 ** 500:
        unit = 2.0 ** np.frexp(largest)[1]
        y, predicted = y / unit, predicted / unit
    weights = _weights(sample_weight, y.shape[0])
    weights = np.ones(y.shape[0]) if weights is None else weights
    residual = weights @ (y - predicted) ** 2
    total = weights @ (y - np.average(y, axis=0, weights=weights)) ** 2
    scores = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(scores))
