"""Calibration of predicted probabilities: the numbers behind a reliability diagram and the expected
calibration error (ECE). No matplotlib here; :func:`laplacenet.plotting.plot_calibration` draws them."""
from typing import NamedTuple

import numpy as np

from ..core._validation import check_positive_int

__all__ = ["Calibration", "calibration_curve"]


class Calibration(NamedTuple):
    """A reliability diagram's numbers, from :func:`calibration_curve`.

    Attributes
    ----------
    confidence : (n_bins,) array
        Mean predicted probability in each bin (NaN where the bin is empty).
    frequency : (n_bins,) array
        Observed frequency of class 1 (binary) or accuracy (top label) in each bin (NaN where empty).
    counts : (n_bins,) int array
    ece : float
        Expected calibration error ``sum_b (n_b / N) |frequency_b - confidence_b|``.
    """

    confidence: np.ndarray
    frequency: np.ndarray
    counts: np.ndarray
    ece: float


def calibration_curve(probabilities, labels, n_bins=10):
    """Bin predicted probabilities into ``n_bins`` equal-width bins of [0, 1] and compare with the outcomes.

    Parameters
    ----------
    probabilities : (N,), (N, 1) or (N, C) array
        ``(N,)`` or ``(N, 1)`` (what a Bernoulli network's ``predict`` returns): probabilities of class 1, with
        ``labels`` 0/1. ``(N, C)``, C >= 2: class probabilities, with
        ``labels`` class indices in 0..C-1; each row is then scored by its top label (the confidence is the
        largest probability, the outcome whether that class is the label).
    labels : (N,) array
    n_bins : int

    Returns
    -------
    Calibration
    """
    n_bins = check_positive_int(n_bins, "n_bins")
    P = np.asarray(probabilities, dtype=float)
    if P.ndim == 2 and P.shape[1] == 1:  # a Bernoulli network's column was read as one class of C = 1
        P = P[:, 0]
    y = np.asarray(labels)
    if P.ndim not in (1, 2) or P.shape[0] == 0:
        raise ValueError(f"probabilities must have shape (N,) or (N, C) with N >= 1; got shape {P.shape}")
    if not (np.all(np.isfinite(P)) and np.all((P >= 0) & (P <= 1))):
        raise ValueError("probabilities must be finite and in [0, 1]")
    if y.shape != (P.shape[0],):
        raise ValueError(f"labels must have shape ({P.shape[0]},), one per row of probabilities; got {y.shape}")
    n_classes = 2 if P.ndim == 1 else P.shape[1]
    if not np.all(np.isin(y, np.arange(n_classes))):
        raise ValueError(f"labels must be class indices in 0..{n_classes - 1}")
    if P.ndim == 1:
        confidence, outcome = P, y.astype(float)
    else:
        confidence, outcome = P.max(axis=1), (P.argmax(axis=1) == y).astype(float)
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    sum_confidence = np.bincount(bins, weights=confidence, minlength=n_bins)
    sum_outcome = np.bincount(bins, weights=outcome, minlength=n_bins)
    ece = float(np.sum(np.abs(sum_outcome - sum_confidence)) / P.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return Calibration(sum_confidence / counts, sum_outcome / counts, counts, ece)
