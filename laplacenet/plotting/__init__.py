"""Figures of the Bayesian layer (PRML 5.7), drawn with matplotlib.

Every function returns the matplotlib ``Figure`` it drew on. Without ``ax`` (or ``axes``) it makes a new
figure through ``matplotlib.pyplot``, so that ``plt.show()`` and sphinx-gallery find it; pyplot chooses the
non-interactive Agg backend by itself on a machine without a display. matplotlib is imported inside the
functions: ``import laplacenet`` does not import it.

A ``model`` argument may be a :class:`~laplacenet.LaplacePosterior`, an
:class:`~laplacenet.EvidenceResult` (its ``posterior``) or a fitted
:class:`~laplacenet.BayesianMLPRegressor` / :class:`~laplacenet.BayesianMLPClassifier` (its
``posterior_``; a classifier's targets are then its own class labels).

The functions live in modules by topic - :mod:`~laplacenet.plotting.regression`,
:mod:`~laplacenet.plotting.classification`, :mod:`~laplacenet.plotting.evidence` - and are used from here.
"""
from ..bayes.calibration import Calibration, calibration_curve
from .classification import plot_calibration, plot_decision_2d
from .evidence import plot_evidence, plot_history, plot_spectrum
from .regression import plot_coverage, plot_predictive

__all__ = ["plot_predictive", "plot_coverage", "plot_decision_2d", "plot_calibration", "plot_evidence",
           "plot_spectrum", "plot_history", "calibration_curve", "Calibration"]
