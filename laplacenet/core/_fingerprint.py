"""What a fit remembers of its data: enough to tell whether data passed later are the same, cheaply.

The ArviZ export uses it to warn when its pointwise log likelihood - what PSIS-LOO reads - is computed on data
the posterior was not built on, and ``diagnose`` to refuse such data. The fingerprint is the number of rows and
the column means and standard deviations of the inputs and the targets: one pass over arrays in memory, nothing
for dask arrays.
"""
from typing import NamedTuple, Optional

import numpy as np

from ._chunks import is_dask_array

#: column means that differ by less than this many (standard deviation + |mean|) are taken as equal (rounding
#: of the same data summed in another order)
MEAN_TOLERANCE = 1e-8


class Fingerprint(NamedTuple):
    """``n_rows``, and the column means and standard deviations of ``X (D,)`` and ``T (K,)`` (None: unknown)."""

    n_rows: int
    x_mean: Optional[np.ndarray] = None
    x_scale: Optional[np.ndarray] = None
    t_mean: Optional[np.ndarray] = None
    t_scale: Optional[np.ndarray] = None


def fingerprint(X, T):
    """The :class:`Fingerprint` of validated ``X (N, D)`` and targets ``T (N, K)``; the rows alone for dask arrays
    (no extra pass over data out of memory)."""
    if is_dask_array(X) or is_dask_array(T):
        return Fingerprint(int(X.shape[0]))
    with np.errstate(over="ignore", invalid="ignore"):  # an inf deviation of columns beyond 1e154 tells less apart
        return Fingerprint(X.shape[0], X.mean(axis=0), X.std(axis=0), T.mean(axis=0), T.std(axis=0))


def differences(seen, X, T):
    """What tells validated ``X (N, D)``, ``T (N, K)`` apart from the data of the fingerprint ``seen``: a list of
    phrases, empty when nothing does."""
    if X.shape[0] != seen.n_rows:
        return [f"{X.shape[0]} rows, not {seen.n_rows}"]
    found = []
    for what, values, mean, scale in (("inputs", X, seen.x_mean, seen.x_scale),
                                      ("targets", T, seen.t_mean, seen.t_scale)):
        if mean is not None and not is_dask_array(values) and np.any(
                np.abs(values.mean(axis=0) - mean) > MEAN_TOLERANCE * (scale + np.abs(mean))):
            found.append(f"other column means of the {what}")
    return found


def training_fingerprint(posterior, fitted=None):
    """What is known of the data ``posterior`` was built on: the fingerprint a fit (``fitted``, an estimator) left,
    else its row count and, from a standardising estimator, the means and scales of its inputs (and regression
    targets)."""
    stored = getattr(fitted, "_data_fingerprint", None)
    if isinstance(stored, Fingerprint):
        return stored
    if fitted is None or not fitted.standardize:
        return Fingerprint(int(posterior.n_data))
    scaling = fitted.scaling_
    return Fingerprint(int(posterior.n_data), scaling.x_shift, scaling.x_scale, scaling.y_shift, scaling.y_scale)
