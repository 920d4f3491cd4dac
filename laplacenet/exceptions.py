"""Warnings and errors raised by laplacenet."""

__all__ = ["ConvergenceWarning", "EvidenceConvergenceWarning", "NotPositiveDefiniteError", "NotFittedError"]


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


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (a ValueError and an AttributeError, as in scikit-learn)."""
