"""Warnings and errors raised by laplacenet."""

__all__ = ["ConvergenceWarning", "EvidenceConvergenceWarning", "NotPositiveDefiniteError", "NonFiniteError",
           "NotFittedError"]


class ConvergenceWarning(UserWarning):
    """An iterative procedure stopped before meeting its tolerance; the message carries the numbers."""


class EvidenceConvergenceWarning(ConvergenceWarning):
    """The evidence loop (:func:`laplacenet.fit_evidence`) did not converge, or the evidence fell on the way."""


class NotPositiveDefiniteError(ValueError):
    """The posterior precision A is not positive definite, so w is not a minimum of E (PRML 5.166).

    Attributes
    ----------
    min_eigenvalue : float
        The smallest eigenvalue of A (of the precision vector for a diagonal posterior).
    """

    def __init__(self, message, min_eigenvalue):
        super().__init__(message)
        self.min_eigenvalue = min_eigenvalue


class NonFiniteError(ValueError):
    """A quantity computed from valid, finite arguments overflowed float64 to inf or NaN.

    Raised where such a value would otherwise enter a result: the error or its gradient, a Hessian or its
    products, the factors of a posterior precision before they are factorised, the log evidence, a prediction.
    The cause is the scale of the problem - inputs, targets, weights or beta too large - and the remedy is to
    rescale it (standardise X and the targets of a regression, use a smaller beta or smaller weights).
    """


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (a ValueError and an AttributeError, as in scikit-learn)."""
