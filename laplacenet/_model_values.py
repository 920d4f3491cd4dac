"""The values a model file may hold: one set of rules, applied by ``save`` before it writes and by ``load`` as it
reads, so that ``save`` never writes a file ``load`` refuses.

* Every number is finite.
* The precisions alpha and beta (of the posterior, of every restart and every cycle of the evidence loop) and
  the scales of the standardisation are positive, and so is a diagonal posterior precision.
* The dense posterior precision A, its inverse and the Kronecker factors are symmetric, to the relative
  tolerance :class:`~laplacenet.IncrementalInverse` accepts (``SYMMETRY_RTOL`` of their largest entry).
* The numbers of the metadata a fit computed (the posterior's jitter and ln|A|, the fitted gamma and log
  evidence) are numbers, and every number of the metadata (the ``extra`` of the user included) is finite: JSON
  has no NaN or infinity.
* The feature names, when there are any, are strings, one per input of the network.
* The class labels are numbers, booleans, strings, dates or durations that come back exactly as they were
  (:func:`encode_classes`): an object array of one kind of them is stored as the numbers or strings it holds.
* The column statistics of the training data (the ``fingerprint_`` entries) may be infinite or NaN: they are
  what the data gave, overflow included, and only tell data apart.

A value that breaks a rule gives a description of the problem (None when all is well); the caller says
where it is.
"""
import math
import numbers
import reprlib

import numpy as np

from .core._validation import is_finite_number
from .core._validation import SYMMETRY_RTOL

_POSITIVE = frozenset({"posterior_alpha", "posterior_beta", "restart_alpha", "restart_beta", "history_alpha",
                       "history_beta", "x_scale", "y_scale"})
_SYMMETRIC = ("covariance", "kron_output_factor_", "kron_input_factor_")  # names, or prefixes of names
_METADATA_NUMBERS = (("posterior", "jitter"), ("posterior", "log_det"), ("fitted", "gamma"), ("fitted", "log_evidence"))


def entry_problem(name, a):
    """What makes the array ``a``, stored as ``name``, impossible in a fitted model, or None."""
    if a.dtype.kind != "f" or name.startswith("fingerprint_"):
        return None
    if not np.all(np.isfinite(a)):
        return "holds NaN or inf"
    if (name in _POSITIVE or (name == "precision" and a.ndim == 1)) and a.size and not np.all(a > 0):
        return f"must hold positive values; its smallest is {float(np.min(a))!r}"
    if (name.startswith(_SYMMETRIC) or name == "precision") and a.ndim == 2 and a.size:
        asymmetry, scale = float(np.max(np.abs(a - a.T))), float(np.max(np.abs(a)))
        if asymmetry > SYMMETRY_RTOL * scale:
            return (f"must be a symmetric matrix; max|A - A^T| / max|A| = {asymmetry / scale:.3g} exceeds "
                    f"{SYMMETRY_RTOL:g}")
    return None


def metadata_problem(metadata):
    """What makes the metadata dict of a model impossible, or None (absent fields are left to the reader)."""
    for keys in _METADATA_NUMBERS:
        value = metadata
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            continue
        if not is_finite_number(value):
            return f"its metadata field {'.'.join(keys)!r} must be a finite number; got {value!r}"
    found = _non_finite_number(metadata)
    if found:
        return f"its metadata field {found[0]!r} must be a finite number; got {found[1]!r}"
    return _feature_names_problem(metadata)


def _non_finite_number(metadata):
    """``(path, value)`` of a number of the metadata that is NaN or infinite (``'extra.scores[2]'``), or None."""
    stack = [("", metadata)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return path, value
        if isinstance(value, dict):
            stack.extend((f"{path}.{key}" if path else str(key), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def _feature_names_problem(metadata):
    """What is wrong with the feature names of the metadata, or None (none stored, or one string per input)."""
    fitted, network = metadata.get("fitted"), metadata.get("network")
    names = fitted.get("feature_names_in") if isinstance(fitted, dict) else None
    sizes = network.get("sizes") if isinstance(network, dict) else None
    if names is None or not (isinstance(sizes, list) and sizes):
        return None
    if isinstance(names, list) and len(names) == sizes[0] and all(isinstance(name, str) for name in names):
        return None
    return (f"its metadata field 'fitted.feature_names_in' must be a list of {sizes[0]!r} strings (one per input "
            f"of the network); got {reprlib.repr(names)}")


# the dtype kinds of class labels stored as they are: booleans, integers, floats, strings, bytes, dates, durations
_LABEL_KINDS = "biufUSMm"
# the dtype each kind of Python label of an object array is stored as
_OBJECT_LABELS = {"b": np.bool_, "i": np.int64, "f": np.float64, "U": np.str_}


def encode_classes(classes):
    """Class labels ``(C,)`` as an array that loads without pickling, and the tag :func:`decode_classes` takes to
    give them back; a ValueError when they cannot come back exactly as they are."""
    classes = np.asarray(classes)
    kind = classes.dtype.kind
    if kind in _LABEL_KINDS:
        return classes, classes.dtype.str
    if kind == "T":  # numpy's StringDType
        stored, tag = np.array(classes.tolist(), dtype=np.str_), "StringDType"
    elif kind == "O":
        stored, tag = _object_labels(classes.tolist()), "object"
    else:
        raise ValueError(f"classes_ of dtype {classes.dtype} cannot be saved without pickling; numbers, booleans, "
                         f"strings, dates and durations can")
    back = decode_classes(stored, tag)
    if isinstance(back, str) or not all(a == b for a, b in zip(back.tolist(), classes.tolist())):
        changed = [b for a, b in zip(np.asarray(back).tolist(), classes.tolist()) if a != b]
        raise ValueError(f"classes_ {reprlib.repr(changed)} would not load as they are (a string ending in NUL "
                         f"characters is stored without them); give the labels without trailing NULs")
    return stored, tag


def _object_labels(labels):
    """The labels of an object array as an array of the one kind they all are (ints, floats, booleans, strings)."""
    kinds = {_label_kind(label) for label in labels}
    if len(kinds) != 1 or None in kinds:
        types = sorted({type(label).__name__ for label in labels})
        raise ValueError(f"classes_ of object dtype must be all integers, all floats, all booleans or all strings "
                         f"to be saved without pickling; got objects of type {types}")
    kind = kinds.pop()
    if kind == "i" and not all(-2**63 <= label < 2**63 for label in labels):
        raise ValueError(f"classes_ must be integers of at most 64 bits to be saved; got "
                         f"{reprlib.repr([label for label in labels if not -2**63 <= label < 2**63])}")
    return np.array(labels, dtype=_OBJECT_LABELS[kind])


def _label_kind(label):
    if isinstance(label, (bool, np.bool_)):
        return "b"
    if isinstance(label, numbers.Integral):
        return "i"
    if isinstance(label, (float, np.floating)):
        return "f"
    return "U" if isinstance(label, str) else None


def decode_classes(stored, tag):
    """The class labels :func:`encode_classes` stored as ``stored`` with ``tag``; a description of the problem
    (a str) when ``tag`` does not fit ``stored``."""
    kind = stored.dtype.kind
    if tag == "object" and kind in _OBJECT_LABELS:
        return stored.astype(object)
    if tag == "StringDType" and kind == "U":
        string_dtype = getattr(getattr(np, "dtypes", None), "StringDType", None)
        if string_dtype is None:
            return "its labels are of numpy's StringDType, which needs numpy 2 or later"
        return stored.astype(string_dtype())
    if kind in _LABEL_KINDS and tag == stored.dtype.str:
        return stored
    return f"its classes_dtype {reprlib.repr(tag)} does not describe labels stored as {stored.dtype}"
