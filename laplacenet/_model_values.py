"""The values a model file may hold: one set of rules, applied by ``save`` before it writes and by ``load`` as it
reads, so that ``save`` never writes a file ``load`` refuses.

* Every number is finite.
* The precisions alpha and beta (of the posterior, of every restart and every cycle of the evidence loop) and
  the scales of the standardisation are positive, and so is a diagonal posterior precision.
* The dense posterior precision A, its inverse and the Kronecker factors are symmetric, to the relative
  tolerance :class:`~laplacenet.IncrementalInverse` accepts (``SYMMETRY_RTOL`` of their largest entry).
* The numbers of the metadata a fit computed (the posterior's jitter and ln|A|, the fitted gamma and log
  evidence) are finite.

A value that breaks a rule gives a description of the problem (None when all is well); the caller says
where it is.
"""
import math
import numbers

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
    return None
