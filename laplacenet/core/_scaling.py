"""Standardisation of inputs and regression targets for the estimators, and the way back to the user's units.

The network is fitted to ``x' = (x - x_shift) / x_scale`` and, for regression, ``t' = (t - y_shift) / y_scale``
(per column; a constant column, whose spread is within rounding of its mean, keeps scale 1, while a column
in small units, 1e-13 say, is scaled like any other). The Gaussian model of t' with noise precision beta' is the
model of t with ``beta = beta' / y_scale^2``: predictive means map back as ``y_shift + y_scale * mean'``,
standard deviations as ``y_scale * sd'``, and densities of t carry the Jacobian of the map, so that
``ln p(t) = ln p(t') - N sum_k ln y_scale_k`` - the log evidence of the same model in the user's units,
comparable across models fitted to the same raw data. Without standardisation every shift is 0 and every scale
1, and each map is exact.

Standardised values are rounded to multiples of ``2**-GRID_BITS`` (1.5e-8 standard deviations, finer than float32
resolves). Data that differ only in units or offset (raw against already standardised) then give the network
the same bits, so the same training path and the same local minimum: without the rounding, their last-digit
differences can send a non-convex training to different minima.
"""
from dataclasses import replace
from typing import NamedTuple, Optional

import numpy as np

from ._chunks import DEFAULT_CHUNK_ROWS, data_sum, is_dask_array
from ._validation import check_finite_result
from .exceptions import NonFiniteError

GRID_BITS = 26


class Scaling(NamedTuple):
    """Column shifts and scales of the inputs ``(D,)`` and, for regression, of the targets ``(K,)``."""

    x_shift: np.ndarray
    x_scale: np.ndarray
    y_shift: Optional[np.ndarray] = None
    y_scale: Optional[np.ndarray] = None
    rounded: bool = False

    def inputs(self, X):
        """``(X - x_shift) / x_scale`` (lazy for a dask X), on the grid when ``rounded``; a
        :class:`~laplacenet.NonFiniteError` where finite inputs are beyond float64 on this scale."""
        with np.errstate(over="ignore"):
            Z = (X - self.x_shift) / self.x_scale
        if not is_dask_array(Z):
            check_finite_result(Z, "X on the standardised scale (X - x_mean_) / x_scale_",
                                "X is too far from the training data, in its standard deviations, for float64.")
        return self._on_grid(Z)

    def targets(self, T):
        """Regression targets ``(N, K)`` on the fitted scale, on the grid when ``rounded``."""
        return self._on_grid((T - self.y_shift) / self.y_scale)

    def _on_grid(self, Z):
        if not self.rounded:
            return Z
        step = 2.0 ** GRID_BITS  # scaling by a power of two is exact
        with np.errstate(over="ignore", invalid="ignore"):
            # beyond 2**(52 - GRID_BITS) every float is on the grid already, and Z * step may overflow there
            return np.where(abs(Z) < 2.0 ** (52 - GRID_BITS), np.round(Z * step) / step, Z)

    def means(self, mean):
        """Predictive means ``(N, K)`` back in the user's units."""
        return self.y_shift + self.y_scale * mean

    def variances(self, variance):
        """Predictive variances ``(N, K)`` (or covariances ``(N, K, K)``) back in the user's units."""
        if variance.ndim == 3:
            return variance * self.y_scale[:, None] * self.y_scale[None, :]
        return variance * self.y_scale ** 2

    def beta(self, beta):
        """A noise precision on the fitted scale in the user's units: ``beta' / y_scale^2`` (one per output when
        the outputs' scales differ)."""
        values = np.broadcast_to(beta, self.y_scale.shape) / self.y_scale ** 2
        return float(values[0]) if np.ndim(beta) == 0 and np.all(values == values[0]) else values

    def log_jacobian(self, n_rows):
        """``-N sum_k ln y_scale_k``: added to a log density of N rows of t' it gives that of t."""
        return 0.0 if self.y_scale is None else -n_rows * float(np.sum(np.log(self.y_scale)))

    def cycle(self, cycle, n_rows):
        """An evidence cycle (or result) of a fit to N = ``n_rows`` rows with beta and the log evidence in the
        user's units; its weights and alpha stay on the fitted scale."""
        if self.y_scale is None:
            return cycle
        return replace(cycle, beta=self.beta(cycle.beta), log_evidence=cycle.log_evidence + self.log_jacobian(n_rows))

    def run(self, result, n_rows):
        """An :class:`~laplacenet.EvidenceResult` in the user's units, its history included (:meth:`cycle`)."""
        result = self.cycle(result, n_rows)
        return replace(result, history=[self.cycle(c, n_rows) for c in result.history])


def identity_scaling(n_inputs, n_outputs=None):
    """The scaling that changes nothing (``standardize=False``)."""
    y = None if n_outputs is None else np.zeros(n_outputs)
    return Scaling(np.zeros(n_inputs), np.ones(n_inputs), y, None if y is None else np.ones(n_outputs))


def fit_scaling(X, T=None, chunk_size=DEFAULT_CHUNK_ROWS):
    """Means and standard deviations of the columns of validated ``X (N, D)`` (and ``T (N, K)``): one pass,
    chunked, over numpy or dask arrays.

    Raises :class:`~laplacenet.NonFiniteError` when a standard deviation, or that of the targets squared (their
    variance, whose inverse is beta), is beyond float64.
    """
    x_shift, x_scale = _moments(X, chunk_size)
    if T is None:
        return Scaling(x_shift, x_scale, rounded=True)
    y_shift, y_scale = _moments(T, chunk_size)
    with np.errstate(over="ignore", under="ignore"):
        variance = np.square(y_scale)
    check_finite_result(variance, "the variance of the regression targets",
                        "Rescale y (divide it by a power of ten): beta and the predictive variances are in "
                        "its units squared.")
    if np.any(variance < np.finfo(float).tiny):
        raise NonFiniteError(f"the variance of the regression targets underflows float64 (standard deviation "
                             f"{float(np.min(y_scale)):.3g}): rescale y (multiply it by a power of ten), since beta "
                             f"and the predictive variances are in its units squared.")
    return Scaling(x_shift, x_scale, y_shift, y_scale, rounded=True)


def _moments(A, chunk_size):
    """Column means and standard deviations ``(C,)``, in two passes (no cancellation for large means); the
    deviation of a constant column becomes 1. A column is constant when its deviation is within rounding of its
    mean (at most 1e-12 |mean|, 0 for a mean of 0): relative, so that data in small units (a capacitance of 1e-13
    farad) are not taken for constant. Where a square overflowed, the columns are measured again in units of
    their mean absolute deviation."""
    N = A.shape[0]
    if is_dask_array(A):
        A = A.rechunk({1: -1})
    mean = _column_sum(A, chunk_size, lambda Ac: Ac) / N
    scale = np.sqrt(_column_sum(A, chunk_size, lambda Ac: np.square(Ac - mean)) / N)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
        mean, scale = _rescaled_moments(A, chunk_size)
    check_finite_result(scale, "the standard deviation of a column of the data")
    return mean, np.where(scale <= 1e-12 * np.abs(mean), 1.0, scale)


def _rescaled_moments(A, chunk_size):
    """The moments of :func:`_moments` for columns beyond 1e154, where squares overflow: the mean as a sum of
    ``A / N``, the deviations ``d`` measured in units of their mean absolute value m, so that ``(d / m)^2 <= N^2``:
    the standard deviation is ``m sqrt(mean((d / m)^2))``. Three passes."""
    N = A.shape[0]
    mean = _column_sum(A, chunk_size, lambda Ac: Ac / N)
    spread = _column_sum(A, chunk_size, lambda Ac: np.abs(Ac - mean) / N)
    unit = np.where(spread > 0, spread, 1.0)
    return mean, spread * np.sqrt(_column_sum(A, chunk_size, lambda Ac: np.square((Ac - mean) / unit)) / N)


def _column_sum(A, chunk_size, term):
    """``term(A).sum(axis=0)``, chunk by chunk; an overflow gives inf, silently (the caller measures again)."""
    def chunk_sum(Ac, _):
        with np.errstate(over="ignore", invalid="ignore"):
            return term(Ac).sum(axis=0)
    return data_sum(chunk_sum, A, A, chunk_size)
