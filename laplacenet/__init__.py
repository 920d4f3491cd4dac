"""laplacenet: Bayesian multilayer perceptrons by the Laplace approximation (PRML 5.4 and 5.7)."""
from . import check, datasets, plotting
from ._config import get_matrix_budget, set_matrix_budget
from ._version import __version__
from .activations import ACTIVATIONS
from .arviz import to_inference_data
from .comparison import ComparisonCycle, ComparisonRow, ModelComparison, compare_models
from .curvature.diagonal import hessian_diagonal
from .curvature.hessian import hessian
from .curvature.kron import KronFactors, kron_factors
from .curvature.rop import hessian_operator, hvp
from .curvature.woodbury import IncrementalInverse, inverse_outer_hessian
from .estimators import BayesianMLPClassifier, BayesianMLPRegressor
from .evidence import EvidenceGradient, EvidenceTerms, Reestimate, log_evidence, log_evidence_gradient, reestimate
from .hyper import EvidenceCycle, EvidenceOptions, EvidenceResult, fit_evidence
from .diagnostics import LaplaceDiagnostic, diagnose
from .exceptions import (ConvergenceWarning, EvidenceConvergenceWarning, NonFiniteError, NotFittedError,
                         NotPositiveDefiniteError)
from .io import load, save
from .laplace import LaplacePosterior, laplace
from .posteriors import KroneckerPrecision, LowRankPrecision
from .likelihoods import LIKELIHOODS
from .network import MLP
from .objective import error, gradient
from .training import TrainReport, train

__all__ = [
    "__version__", "MLP", "ACTIVATIONS", "LIKELIHOODS",
    # the functional core
    "error", "gradient", "train", "TrainReport", "check", "datasets", "plotting",
    "hessian", "hessian_diagonal", "hvp", "hessian_operator", "inverse_outer_hessian", "IncrementalInverse",
    "kron_factors", "KronFactors", "get_matrix_budget", "set_matrix_budget",
    # the Bayesian layer
    "laplace", "LaplacePosterior", "KroneckerPrecision", "LowRankPrecision", "log_evidence", "log_evidence_gradient",
    "reestimate", "fit_evidence", "EvidenceOptions", "EvidenceTerms", "EvidenceGradient", "Reestimate",
    "EvidenceCycle", "EvidenceResult", "compare_models", "ModelComparison", "ComparisonRow", "ComparisonCycle",
    # estimators, persistence, ArviZ
    "BayesianMLPRegressor", "BayesianMLPClassifier", "save", "load", "to_inference_data", "diagnose",
    "LaplaceDiagnostic",
    # warnings and errors
    "ConvergenceWarning", "EvidenceConvergenceWarning", "NotPositiveDefiniteError", "NonFiniteError",
    "NotFittedError",
]
