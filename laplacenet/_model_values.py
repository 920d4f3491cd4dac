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

A value that breaks a rule gives a description of the problem (None when all is well); the caller says
where it is.
"""
import math
import numbers
import reprlib

import numpy as np

from .curvature.woodbury import SYMMETRY_RTOL

__all__ = ["entry_problem", "metadata_problem"]

_POSITIVE = frozenset({"posterior_alpha", "posterior_beta", "restart_alpha", "restart_beta", "history_alpha",
                       "history_beta", "x_scale", "y_scale"})
_SYMMETRIC = ("covariance", "kron_output_factor_", "kron_input_factor_")  # names, or prefixes of names
_METADATA_NUMBERS = (("posterior", "jitter"), ("posterior", "log_det"), ("fitted", "gamma"), ("fitted", "log_evidence"))


def entry_problem(name, a):
    """What makes the array ``a``, stored as ``name``, impossible in a fitted model, or None."""
    if a.dtype.kind != "f":
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
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
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
