"""Class labels of the classifier: checked, encoded as indices into the sorted distinct labels, and decoded.
Labels given later (to score, diagnose or export) are encoded as indices into the classes already known.

Labels may be of any one sortable type (numbers, strings, booleans) and numpy or dask; the distinct labels of a
dask ``y`` are computed in one pass, the indices stay lazy.
"""
import functools
import warnings

import numpy as np

from .core._chunks import is_dask_array
from ._sklearn import DataConversionWarning
from .core._validation import refuse_complex


def class_labels(y, n_rows):
    """The sorted distinct class labels ``(C,)`` of ``y`` (N,) and each row's index among them, as
    :func:`_encode_labels` finds them, once the labels are known to be at least two classes of one sortable type,
    none missing (NaN, None, NA, inf) and none a non-integer number (a regression target)."""
    y = y if is_dask_array(y) else np.asarray(y)
    refuse_complex(y, "y")
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected: y.ravel() is used, one label per "
                      "row", DataConversionWarning, stacklevel=3)
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n_rows:
        raise ValueError(f"y must be a vector of {n_rows} class labels (one per row of X); got shape {y.shape}")
    try:
        classes, labels = _encode_labels(y)
    except TypeError:  # values of types that do not compare: str and int, None, NA
        kinds = "" if is_dask_array(y) else f" (got {sorted({type(v).__name__ for v in y.tolist()})})"
        raise ValueError(f"y must hold class labels of one sortable type, all numbers or all strings{kinds}, "
                         f"and no missing value") from None
    import pandas as pd  # a dependency of laplacenet; only its test for every kind of missing value is used
    missing = pd.isna(classes) | (np.isinf(classes) if classes.dtype.kind == "f" else False)
    if np.any(missing):
        raise ValueError(f"y must not hold missing or infinite labels; got {classes[missing].tolist()}")
    if classes.dtype.kind == "f" and np.any(classes != np.round(classes)):
        raise ValueError(f"Unknown label type: continuous. y holds non-integer numbers "
                         f"({classes[classes != np.round(classes)][:3].tolist()} ...): a classifier needs discrete "
                         f"class labels; for a regression target use BayesianMLPRegressor")
    if classes.size < 2:
        raise ValueError(f"y must hold at least two classes; got one class, {classes.tolist()}")
    return classes, labels


def label_indices(labels, classes, name="y", known="the classes"):
    """The index ``(N,)`` of each label of ``labels`` (N,) among ``classes`` (C,) (distinct, in any order); a label
    that is not one of them, or of a type that does not compare with them, is a ValueError naming ``name`` and
    listing ``known`` ``classes``."""
    values = np.asarray(labels)
    values = values[:, 0] if values.ndim == 2 and values.shape[1] == 1 else values
    if values.ndim != 1:
        raise ValueError(f"{name} must be a vector of class labels; got shape {values.shape}")
    order = np.argsort(classes)
    try:
        index = order[np.clip(np.searchsorted(classes, values, sorter=order), 0, classes.size - 1)]
    except TypeError:  # labels that do not compare with the classes: None, NA, str among numbers
        kinds = sorted({type(v).__name__ for v in values.tolist()})
        raise ValueError(f"{name} must hold only {known} {classes.tolist()}; got labels of the types {kinds}") \
            from None
    unknown = classes[index] != values
    if np.any(unknown):
        raise ValueError(f"{name} must hold only {known} {classes.tolist()}; got "
                         f"{np.unique(values[unknown])[:5].tolist()}")
    return index


def class_targets(index, n_classes):
    """The network's targets from class indices ``(N,)``: 0/1 floats for two classes (one logistic output), the
    indices themselves for more (a softmax's)."""
    return index.astype(float) if n_classes == 2 else index


def take_labels(values, index):
    """``values[index]`` for an integer array ``index``; lazily, per partition, for a dask ``index``."""
    if is_dask_array(index):
        return index.map_blocks(functools.partial(np.take, values), dtype=values.dtype)
    return values[index]


def _encode_labels(y):
    """The sorted distinct labels ``(C,)`` of ``y`` (N,) and the index of each row's label among them ``(N,)``.

    For a dask ``y`` the labels are computed now, in one pass (``dask.array.unique``: they fix the network's
    outputs), and the indices stay a lazy dask array, found per partition.
    """
    if not is_dask_array(y):
        return np.unique(y, return_inverse=True)
    import dask.array as da
    classes = da.unique(y).compute()
    return classes, y.map_blocks(functools.partial(np.searchsorted, classes), dtype=np.intp)
